"""``--executor local --jobs N``: N planned runs at once, each in its own process on this machine.

Each run is a child ``python -m benchmark.experiment.worker`` with ``max(1, cpus // N)`` CPU threads (set
through ``torch.set_num_threads`` and ``OMP_NUM_THREADS``; the thread count is part of a CPU run's identity,
so the runs of ``--jobs 2`` on two cores are the one-thread runs). Its output goes to
``<out>/logs/<dataset>-<method>-<run id>.log``; this process prints one line when a run starts and one when
it ends. A failed run is reported with its run id and log while the others go on.
"""

from __future__ import annotations

import contextlib
import json
import os
import pickle
import subprocess
import sys
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import IO, Any

from benchmark.experiment.execute import DONE, FAILED, RunResult
from benchmark.experiment.executors.base import Executor, ExecutorError
from benchmark.experiment.plan import PlannedRun, RunOptions
from benchmark.io import atomic_write

LOGS = "logs"


def cpu_count() -> int:
    """CPUs this process may use (its affinity mask where the OS has one)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


def log_path(out: Path, run: PlannedRun) -> Path:
    return Path(out) / LOGS / f"{run.dataset}-{run.method}-{run.run_id}.log"


@dataclass
class _Child:
    index: int
    run: PlannedRun
    proc: subprocess.Popen
    log: Path
    log_file: IO[bytes]
    task: Path
    result: Path
    started: float


class LocalExecutor(Executor):
    name = "local"

    def __init__(self, jobs: int | None = None, **_: Any):
        if jobs is None:
            jobs = 1
        if not isinstance(jobs, int) or isinstance(jobs, bool) or jobs < 1:
            raise ExecutorError(f"--jobs must be a whole number >= 1 (runs at once), got {jobs}")
        self.jobs = jobs
        self.threads = max(1, cpu_count() // jobs)

    def threads_per_run(self) -> int | None:
        return self.threads

    def describe(self) -> dict:
        return {"kind": self.name, "jobs": self.jobs, "threads": self.threads}

    def run(self, plan: list[PlannedRun], options: RunOptions) -> list[RunResult]:
        options = replace(options, progress=False, threads=self.threads)  # bars would only fill the logs
        env = {**os.environ, "OMP_NUM_THREADS": str(self.threads), "MKL_NUM_THREADS": str(self.threads),
               "SISBENCH_THREADS": str(self.threads)}
        waiting = list(enumerate(plan))
        active: list[_Child] = []
        results: dict[int, RunResult] = {}
        try:
            while waiting or active:
                while waiting and len(active) < self.jobs:
                    index, run = waiting.pop(0)
                    active.append(self._start(index, run, options, env))
                time.sleep(0.2)
                for child in list(active):
                    if child.proc.poll() is None:
                        continue
                    active.remove(child)
                    results[child.index] = self._finish(child)
        finally:
            for child in active:  # interrupted: the children stop too (their checkpoints stay)
                with contextlib.suppress(OSError):
                    child.proc.terminate()
            for child in active:
                with contextlib.suppress(subprocess.TimeoutExpired):
                    child.proc.wait(timeout=30)
                child.log_file.close()
        return [results[i] for i in range(len(plan))]

    def _start(self, index: int, run: PlannedRun, options: RunOptions, env: dict[str, str]) -> _Child:
        log = log_path(options.out, run)
        log.parent.mkdir(parents=True, exist_ok=True)
        task = log.with_name(f".{log.stem}.{os.getpid()}.task.pkl")
        result = log.with_name(f".{log.stem}.{os.getpid()}.result.pkl")
        result.unlink(missing_ok=True)
        atomic_write(task, lambda fh: pickle.dump((run, options, log), fh))
        log_file = open(log, "ab")  # noqa: SIM115 - closed when the child ends
        log_file.write(f"--- {time.strftime('%Y-%m-%d %H:%M:%S')} {run.label} ({run.run_id})\n".encode())
        log_file.flush()
        proc = subprocess.Popen([sys.executable, "-m", "benchmark.experiment.worker", str(task), str(result)],
                                stdout=log_file, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env)
        print(f"[{run.label}] started ({run.run_id}, {run.state}; pid {proc.pid}, {self.threads} thread"
              f"{'s' * (self.threads != 1)}; log {log})", flush=True)
        return _Child(index, run, proc, log, log_file, task, result, time.time())

    def _finish(self, child: _Child) -> RunResult:
        from benchmark import evaluation

        child.log_file.close()
        run, seconds = child.run, time.time() - child.started
        outcome: RunResult | None = None
        with contextlib.suppress(OSError, pickle.UnpicklingError, EOFError):
            outcome = pickle.loads(child.result.read_bytes())
        child.task.unlink(missing_ok=True)
        child.result.unlink(missing_ok=True)
        if outcome is None:
            why = f"its process ended with exit status {child.proc.returncode} before reporting"
            outcome = RunResult(run.run_id, run.run_dir, run.label, FAILED, message=why, log=child.log)
        outcome.log = child.log
        if outcome.status == DONE:
            summary = ""
            with contextlib.suppress(OSError, ValueError, KeyError, TypeError):
                summary = ": " + evaluation.format_record(json.loads(Path(outcome.record).read_text()))
            print(f"[{run.label}] done in {seconds:.1f} s{summary}", flush=True)
        elif outcome.status == FAILED:
            print(f"[{run.label}] failed ({run.run_id}): {outcome.message} (log: {child.log})", flush=True)
        else:
            print(f"[{run.label}] pending: {outcome.message}", flush=True)
        return outcome
