"""``--executor slurm``: the plan as one SLURM job array through submitit, one planned run per task.

Each task calls :func:`benchmark.experiment.execute.execute_run` on a compute node (the results directory
must be on a file system the nodes share). A run on several GPUs is one DDP job: one task per GPU
(submitit's tasks per node); :func:`benchmark.trainer.init_distributed` takes the rank and world size from
the job environment. A task told to stop -- SLURM's time-limit signal (USR2, ``signal_delay_s`` before the
limit), a preemption, ``scontrol requeue`` or ``scancel`` (SIGTERM) -- asks the training loop to stop
(:func:`benchmark.trainer.request_stop`), which checkpoints after the iteration it is in and raises
:class:`benchmark.trainer.TrainingPreempted`; on USR2 the task is requeued through submitit's
``Checkpointable`` (the same call again) and resumes from that checkpoint, exactly where it stopped; after
SIGTERM it waits for SLURM (which requeues or ends it).

Every submission is recorded under ``<out>/jobs/`` (:mod:`benchmark.experiment.jobs`). ``--no-wait``
submits, prints the job ids and returns; a later ``run`` with the same arguments attaches to the runs still
queued (it does not submit them twice) and collects the finished ones, and ``report`` lists what is still
pending or failed, each with its log.

Without ``slurmdbd`` (``sacct`` fails) the executor asks ``squeue`` instead, and submitit's "Bypassing sacct
error" warning is filtered.
"""

from __future__ import annotations

import logging
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from benchmark.experiment import jobs
from benchmark.experiment.execute import DONE, FAILED, PENDING, RunResult
from benchmark.experiment.executors.base import Executor, ExecutorError
from benchmark.experiment.plan import PlannedRun, RunOptions

#: how often the waiting ``run`` looks at the queue and the result files (seconds)
POLL_S = 2.0
#: how many times a task may reach its time limit and be requeued (preemptions do not count)
MAX_TIMEOUTS = 100
#: sbatch parameters submitit sets itself: ``--sbatch`` may not change them
MANAGED = {"array", "output", "error", "open-mode", "signal", "wrap", "parsable", "ntasks-per-node", "nodes",
           "ntasks", "partition", "gpus-per-node", "cpus-per-task", "mem", "time", "job-name"}
#: the options that replace a managed sbatch parameter
MANAGED_BY = {"partition": "--partition", "gpus-per-node": "--gpus-per-run", "cpus-per-task": "--cpus-per-run",
              "mem": "--mem-per-run", "time": "--time-limit", "ntasks-per-node": "--gpus-per-run",
              "ntasks": "--gpus-per-run"}


class _NoSacctWarning(logging.Filter):
    """Drop submitit's "Bypassing sacct error" (no accounting database): this executor asks squeue."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "Bypassing sacct error" not in record.getMessage()


def _quiet_submitit() -> None:
    log = logging.getLogger("submitit")
    if not any(isinstance(f, _NoSacctWarning) for f in log.filters):
        log.addFilter(_NoSacctWarning())
    for handler in log.handlers:
        if not any(isinstance(f, _NoSacctWarning) for f in handler.filters):
            handler.addFilter(_NoSacctWarning())


def parse_sbatch(items: Sequence[str] | None) -> dict[str, Any]:
    """``--sbatch KEY=VALUE`` (repeatable; ``KEY`` alone for a flag such as ``exclusive``) as submitit's
    ``slurm_additional_parameters``; one sentence for a malformed item or a key another option sets."""
    params: dict[str, Any] = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        key = key.strip().lstrip("-").replace("_", "-")
        if not key or (sep and not value.strip()):
            raise ExecutorError(f"--sbatch {item!r} is not of the form KEY=VALUE (e.g. --sbatch account=vision, "
                                f"--sbatch qos=high, or --sbatch exclusive for a flag)")
        if key in MANAGED:
            how = f"use {MANAGED_BY[key]}" if key in MANAGED_BY else "SISBench sets it for every task"
            raise ExecutorError(f"--sbatch {key}: this sbatch parameter is not passed through ({how})")
        if key in params:
            raise ExecutorError(f"--sbatch {key} is given twice; give it once")
        params[key] = value.strip() if sep else True
    return params


@dataclass(frozen=True)
class SlurmSettings:
    """The ``--executor slurm`` options. ``tasks_per_run``: processes per run (DDP); default one per GPU."""

    partition: str | None = None
    gpus_per_run: int = 0
    cpus_per_run: int = 1
    mem_per_run: float | None = None       # GB
    time_limit: int = 60                   # minutes
    array_parallelism: int | None = None
    sbatch: dict[str, Any] = field(default_factory=dict)
    tasks_per_run: int | None = None

    @property
    def tasks(self) -> int:
        return self.tasks_per_run or max(1, self.gpus_per_run)

    @property
    def cpus_per_task(self) -> int:
        return max(1, self.cpus_per_run // self.tasks)

    def check(self) -> None:
        """One sentence for a count out of range."""
        for flag, value, least in (("--gpus-per-run", self.gpus_per_run, 0), ("--cpus-per-run", self.cpus_per_run, 1),
                                   ("--time-limit", self.time_limit, 1),
                                   ("--array-parallelism", self.array_parallelism, 1),
                                   ("--tasks-per-run", self.tasks_per_run, 1)):
            if value is not None and (not isinstance(value, int) or value < least):
                what = "a whole number >= 0" if least == 0 else "a positive whole number"
                raise ExecutorError(f"{flag} must be {what}, got {value}")
        if self.mem_per_run is not None and not self.mem_per_run > 0:
            raise ExecutorError(f"--mem-per-run must be a positive number of GB, got {self.mem_per_run}")
        if self.cpus_per_run < self.tasks:
            raise ExecutorError(f"--cpus-per-run {self.cpus_per_run} is fewer than the {self.tasks} processes of a "
                                f"run; give at least {self.tasks}")

    def describe(self) -> dict[str, Any]:
        return {"partition": self.partition, "gpus_per_run": self.gpus_per_run, "cpus_per_run": self.cpus_per_run,
                "mem_per_run_gb": self.mem_per_run, "time_limit_min": self.time_limit,
                "tasks_per_run": self.tasks, "sbatch": dict(self.sbatch)}


def cluster_partitions() -> list[str]:
    """The partitions ``sinfo`` lists (the default one without its ``*``); one sentence where sinfo fails."""
    if shutil.which("sinfo") is None:
        raise ExecutorError("--executor slurm needs SLURM's sinfo on PATH (not found); run on a SLURM login node")
    try:
        proc = subprocess.run(["sinfo", "-h", "-o", "%P"], capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.SubprocessError) as exc:
        raise ExecutorError(f"--executor slurm: sinfo failed ({exc}); check that the SLURM controller is "
                            f"reachable (sinfo)") from exc
    if proc.returncode != 0:
        why = (proc.stderr.strip().splitlines() or ["no message"])[-1]
        raise ExecutorError(f"--executor slurm: sinfo failed ({why}); check that the SLURM controller is reachable "
                            f"(sinfo)")
    names = []
    for line in proc.stdout.split():
        name = line.strip().rstrip("*")
        if name and name not in names:
            names.append(name)
    return names


def _gpu_model() -> str | None:
    try:
        import torch

        if torch.cuda.is_available():
            return torch.cuda.get_device_name(0)
    except Exception:  # the manifest's record, never a reason to fail a run
        return None
    return None


# -- inside the job ---------------------------------------------------------------------------------------

#: the signal handling of the task running in this process (never pickled with the task)
_SIGNALS: dict[str, Any] = {}


def _wait_to_be_ended(seconds: float = 300.0) -> None:
    """After SIGTERM: the checkpoint is written; SLURM requeues or ends the job (KillWait later). A USR2 that
    arrives meanwhile still requeues it."""
    deadline = time.time() + seconds
    while time.time() < deadline:
        if _SIGNALS.get("reason") == "requeue":
            return
        time.sleep(0.5)
    raise SystemExit(1)


class SlurmTask:
    """What each array task runs: one planned run through ``execute_run``, with its job recorded in the run's
    manifest. Checkpointable: ``checkpoint`` is submitit's hook on the time-limit / preemption signal and
    returns the same call, which resumes the run from its last checkpoint."""

    def __init__(self, options: RunOptions):
        self.options = options

    def checkpoint(self, run: PlannedRun) -> Any:
        from submitit.helpers import DelayedSubmission

        return DelayedSubmission(self, run)

    def __call__(self, run: PlannedRun) -> RunResult:
        import submitit

        from benchmark.experiment.execute import execute_run

        env = submitit.JobEnvironment()
        record = {**(self.options.executor or {}), "kind": "slurm", "job_id": env.job_id,
                  "array_job_id": env.array_job_id, "array_task_id": env.array_task_id,
                  "node": env.hostname, "nodes": list(env.hostnames), "num_tasks": env.num_tasks,
                  "gpu": _gpu_model(), "restarts": int(os.environ.get("SLURM_RESTART_COUNT", 0) or 0)}
        options = replace(self.options, executor=record, progress=False)
        self._handle_signals()
        if env.num_tasks > 1:
            self._train_ddp(run, options, env)
            if env.global_rank != 0:
                return RunResult(run.run_id, run.run_dir, run.label, DONE, message=f"DDP rank {env.global_rank}")
        try:
            return execute_run(run, options, catch=True, log=Path(str(env.paths.stderr)))
        except BaseException as exc:
            from benchmark.trainer import TrainingPreempted

            if not isinstance(exc, TrainingPreempted):
                raise
            self._stopped(exc)
            raise SystemExit(1) from None

    def _train_ddp(self, run: PlannedRun, options: RunOptions, env: Any) -> None:
        """Every rank trains (one DDP job); rank 0 then generates and scores through ``execute_run``, which
        finds the training finished."""
        import torch.distributed as dist

        from benchmark import pipeline
        from benchmark.experiment.execute import apply_threads
        from benchmark.trainer import TrainingPreempted

        cfg = run.cfg()
        apply_threads(cfg)
        try:
            pipeline.train_run(cfg, options.out, resume=None, device=options.device, argv=options.argv,
                               progress=False, curve=options.curve_spec(run.seed), gflops=run.gflops,
                               budget=run.budget, sweep=run.sweep)
        except TrainingPreempted as exc:
            if env.global_rank == 0:
                self._stopped(exc)
            _wait_to_be_ended()
            raise SystemExit(1) from None
        if dist.is_initialized():
            dist.barrier()
            dist.destroy_process_group()

    def _handle_signals(self) -> None:
        """USR2 (time limit, preemption): checkpoint, then requeue; SIGTERM (``scontrol requeue``, ``scancel``):
        checkpoint, then let SLURM requeue or end the job. Outside training there is nothing to checkpoint:
        USR2 requeues at once (submitit's own handler), SIGTERM ends the process."""
        import submitit

        from benchmark.trainer import request_stop

        usr = submitit.JobEnvironment._usr_sig()
        _SIGNALS.clear()
        _SIGNALS["submitit"] = signal.getsignal(usr)
        _SIGNALS["usr"] = usr

        def on_usr(signum: int, frame: Any) -> None:
            _SIGNALS["reason"] = "requeue"
            print(f"[slurm] caught {signal.Signals(signum).name}: checkpointing, then requeueing", flush=True)
            if not request_stop():
                self._requeue(frame)

        def on_term(signum: int, frame: Any) -> None:
            _SIGNALS.setdefault("reason", "stop")
            print(f"[slurm] caught {signal.Signals(signum).name}: checkpointing", flush=True)
            if not request_stop():
                raise SystemExit(1)

        signal.signal(signal.SIGTERM, on_term)
        signal.signal(usr, on_usr)

    def _requeue(self, frame: Any = None) -> None:
        handler = _SIGNALS.get("submitit")
        if callable(handler):  # submitit's: checkpoint() -> the same call, scontrol requeue, exit
            handler(_SIGNALS["usr"], frame)
        raise SystemExit(1)

    def _stopped(self, exc: BaseException) -> None:
        print(f"[slurm] {exc}", flush=True)
        if _SIGNALS.get("reason") != "requeue":
            _wait_to_be_ended()
        if _SIGNALS.get("reason") == "requeue":
            self._requeue()


# -- the executor ---------------------------------------------------------------------------------------

class SlurmExecutor(Executor):
    """Submits the plan as one job array (the runs not already queued or finished), then waits for it and
    collects each task's result -- or, with ``--no-wait``, returns at once with the runs pending."""

    name = "slurm"

    def __init__(self, partition: str | None = None, gpus_per_run: int | None = 0, cpus_per_run: int | None = 1,
                 mem_per_run: float | None = None, time_limit: int | None = 60,
                 array_parallelism: int | None = None, sbatch: Sequence[str] | Mapping[str, Any] | None = None,
                 tasks_per_run: int | None = None, **_: Any):
        extra = dict(sbatch) if isinstance(sbatch, Mapping) else parse_sbatch(sbatch)
        self.settings = SlurmSettings(partition=partition, gpus_per_run=0 if gpus_per_run is None else gpus_per_run,
                                      cpus_per_run=1 if cpus_per_run is None else cpus_per_run,
                                      mem_per_run=mem_per_run, time_limit=60 if time_limit is None else time_limit,
                                      array_parallelism=array_parallelism, sbatch=extra, tasks_per_run=tasks_per_run)
        self.settings.check()

    def threads_per_run(self) -> int | None:
        return self.settings.cpus_per_task

    def describe(self) -> dict:
        return {"kind": self.name, **self.settings.describe()}

    # -- checks -------------------------------------------------------------------------------------------

    def check(self, plan: list[PlannedRun], options: RunOptions) -> None:
        self.settings.check()
        if shutil.which("sbatch") is None:
            raise ExecutorError("--executor slurm needs SLURM's sbatch on PATH (not found); run on a SLURM login "
                                "node, or use --executor local or inline")
        if shutil.which("srun") is None:
            raise ExecutorError("--executor slurm needs SLURM's srun on PATH (not found); run on a SLURM login node")
        partitions = cluster_partitions()
        if not partitions:
            raise ExecutorError("--executor slurm: sinfo lists no partition on this cluster; check the SLURM "
                                "configuration (sinfo)")
        part = self.settings.partition
        if part is not None and part not in partitions:
            raise ExecutorError(f"unknown SLURM partition {part!r}; this cluster has: {', '.join(partitions)} "
                                f"(sinfo -h -o %P)")
        try:
            import submitit  # noqa: F401
        except ImportError as exc:
            raise ExecutorError("--executor slurm needs the submitit package; install it (pip install "
                                "'submitit>=1.5,<2')") from exc

    # -- submission ---------------------------------------------------------------------------------------

    def folder(self, out: Path) -> Path:
        return Path(out).resolve() / "slurm"

    def _executor(self, out: Path, count: int) -> Any:
        import submitit

        s = self.settings
        ex = submitit.AutoExecutor(folder=str(self.folder(out) / "%j"), cluster="slurm",
                                   slurm_max_num_timeout=MAX_TIMEOUTS)
        params: dict[str, Any] = {"name": "sisbench", "timeout_min": s.time_limit, "nodes": 1,
                                  "tasks_per_node": s.tasks, "cpus_per_task": s.cpus_per_task,
                                  "slurm_array_parallelism": s.array_parallelism or count}
        if s.partition:
            params["slurm_partition"] = s.partition
        if s.gpus_per_run:
            params["gpus_per_node"] = s.gpus_per_run
        if s.mem_per_run is not None:
            params["mem_gb"] = s.mem_per_run
        if s.sbatch:
            params["slurm_additional_parameters"] = dict(s.sbatch)
        ex.update_parameters(**params)
        return ex

    def submit(self, runs: list[PlannedRun], options: RunOptions) -> jobs.Submission:
        """Submit ``runs`` as one job array and record it under ``<out>/jobs/``."""
        _quiet_submitit()
        ex = self._executor(options.out, len(runs))
        # the environment the tasks run in: this process's, with threads fixed per task
        task = SlurmTask(replace(options, executor=self.describe()))
        try:
            submitted = ex.map_array(task, runs)
        except Exception as exc:  # sbatch refused the job: its own words, one sentence
            text = str(exc).strip().splitlines()
            why = next((line for line in reversed(text) if "sbatch: error" in line), text[-1] if text else "")
            raise ExecutorError(f"sbatch refused the job array ({why.strip()}); check the --partition, "
                                f"--gpus-per-run, --cpus-per-run, --mem-per-run, --time-limit and --sbatch "
                                f"options against this cluster") from exc
        array_id = submitted[0].job_id.split("_")[0]
        tasks = [jobs.TaskRecord(run_id=r.run_id, run_dir=str(r.run_dir), label=r.label, job_id=j.job_id,
                                 stdout=str(j.paths.stdout), stderr=str(j.paths.stderr),
                                 result=str(j.paths.result_pickle))
                 for r, j in zip(runs, submitted, strict=True)]
        submission = jobs.Submission(job_id=array_id, executor=self.describe(), tasks=tasks, argv=options.argv)
        jobs.record_submission(options.out, submission)
        return submission

    def run(self, plan: list[PlannedRun], options: RunOptions) -> list[RunResult]:
        self.check(plan, options)
        latest = jobs.latest_tasks(options.out)
        known = jobs.task_states(latest[r.run_id] for r in plan if r.run_id in latest)
        state_of = {s.task.run_id: s for s in known}
        tasks: dict[str, jobs.TaskRecord] = {}
        results: dict[str, RunResult] = {}
        to_submit = []
        for run in plan:
            st = state_of.get(run.run_id)
            if st is not None and st.state in ("pending", "running"):
                print(f"[{run.label}] already submitted: job {st.task.job_id} is {st.state}; not submitting it again")
                tasks[run.run_id] = st.task
            elif st is not None and st.state == "done" and _collectable(st, run, options):
                print(f"[{run.label}] finished in job {st.task.job_id}")
                results[run.run_id] = _result(st)
            else:
                to_submit.append(run)
        if to_submit:
            sub = self.submit(to_submit, options)
            print(f"[slurm] submitted {len(to_submit)} run(s) as job array {sub.job_id}: "
                  + "; ".join(f"{t.label} = job {t.job_id}" for t in sub.tasks))
            print(f"[slurm] logs: {self.folder(options.out)}/<job id>/")
            tasks.update({t.run_id: t for t in sub.tasks})
        if not options.wait:
            for run in plan:
                if run.run_id in tasks:
                    t = tasks[run.run_id]
                    results[run.run_id] = RunResult(run.run_id, run.run_dir, run.label, PENDING,
                                                    message=f"SLURM job {t.job_id}", log=Path(t.stdout))
            if tasks:
                print(f"[slurm] not waiting (--no-wait): {len(tasks)} run(s) queued; collect them with the same "
                      f"`run` command or with `report --out {options.out}`")
            return [results[r.run_id] for r in plan]
        results.update(self.wait(list(tasks.values())))
        return [results[r.run_id] for r in plan]

    def wait(self, tasks: list[jobs.TaskRecord]) -> dict[str, RunResult]:
        """Wait until every task has finished; one line per task as it starts and as it ends."""
        done: dict[str, RunResult] = {}
        shown: dict[str, str] = {}
        while len(done) < len(tasks):
            for st in jobs.task_states(t for t in tasks if t.run_id not in done):
                if st.state == "unknown":
                    continue
                if st.state != shown.get(st.task.run_id):
                    shown[st.task.run_id] = st.state
                    print(jobs.describe(st), flush=True)
                if st.finished:
                    done[st.task.run_id] = _result(st)
            if len(done) < len(tasks):
                time.sleep(POLL_S)
        return done


def _collectable(state: jobs.TaskState, run: PlannedRun, options: RunOptions) -> bool:
    """A finished task's result stands for this planned run when the run is still finished and its record is
    the one this command scores (same protocol)."""
    from benchmark import evaluation, runs
    from benchmark.experiment.plan import scored_count

    result = state.result
    if not runs.is_finished(run.run_dir) or result is None or getattr(result, "record", None) is None:
        return False
    target = evaluation.metrics_path(run.run_dir, run.dataset, options.protocol)
    expected = scored_count(run.cfg(), options.protocol, options.num_images)
    return Path(result.record) == target and target.is_file() and \
        evaluation.record_is_current(target, options.protocol, num_images=expected)


def _result(state: jobs.TaskState) -> RunResult:
    t = state.task
    if state.state == "done" and isinstance(state.result, RunResult):
        return state.result
    if isinstance(state.result, RunResult):
        r = state.result
        return replace(r, status=FAILED if r.status != DONE else r.status, log=r.log or Path(t.stderr))
    return RunResult(t.run_id, Path(t.run_dir), t.label, FAILED,
                     message=f"SLURM job {t.job_id}: {state.detail}", log=Path(t.stderr))

