"""The records of submitted cluster jobs: ``<out>/jobs/<job id>.json``, one file per submission.

A submission (one SLURM job array) names, per task, the run it executes (run id, run directory, label), the
task's job id and the paths of its stdout / stderr logs and of submitit's result file. A later ``run`` with
the same arguments, or ``report``, reads them back: :func:`task_state` says whether a task is still queued
or running (``squeue``), finished (its result file) or failed, and :func:`pending_report` lists, one line
each with its log, every run whose latest job has not finished.
"""

from __future__ import annotations

import json
import pickle
import shutil
import subprocess
import time
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from benchmark.io import atomic_write_json, safe_component

JOBS_DIR = "jobs"
#: squeue states of a job that has not ended yet
ACTIVE_STATES = {"PENDING", "RUNNING", "CONFIGURING", "COMPLETING", "REQUEUED", "REQUEUE_HOLD", "REQUEUE_FED",
                 "RESIZING", "SUSPENDED", "STOPPED", "SIGNALING", "STAGE_OUT", "RESV_DEL_HOLD"}


@dataclass
class TaskRecord:
    """One task of a submission: the planned run it executes and where its job writes."""

    run_id: str
    run_dir: str
    label: str
    job_id: str          # "<array job id>_<task index>"
    stdout: str
    stderr: str
    result: str          # submitit's result pickle: ("success", RunResult) or ("error", traceback)


@dataclass
class Submission:
    job_id: str          # the array's job id
    executor: dict[str, Any]
    tasks: list[TaskRecord]
    submitted: float = field(default_factory=time.time)
    argv: list[str] | None = None

    @property
    def path(self) -> str:
        return f"{self.job_id}.json"


@dataclass
class TaskState:
    """Where one task stands: ``pending`` / ``running`` (in the queue), ``done``, ``failed`` or ``unknown``."""

    task: TaskRecord
    state: str
    detail: str = ""
    result: Any = None   # the RunResult of a finished task

    @property
    def finished(self) -> bool:
        return self.state in ("done", "failed")


def jobs_dir(out: Path) -> Path:
    return Path(out) / JOBS_DIR


def record_submission(out: Path, submission: Submission) -> Path:
    """Write ``<out>/jobs/<job id>.json`` (atomically)."""
    path = jobs_dir(out) / safe_component(submission.path, "job id")
    data = asdict(submission)
    atomic_write_json(path, data)
    return path


def read_submissions(out: Path) -> list[Submission]:
    """Every submission recorded under ``out``, oldest first (unreadable records are skipped)."""
    subs = []
    for path in sorted(jobs_dir(out).glob("*.json")):
        try:
            data = json.loads(path.read_text())
            tasks = [TaskRecord(**t) for t in data.pop("tasks")]
            subs.append(Submission(tasks=tasks, **data))
        except (OSError, ValueError, TypeError, KeyError):
            continue
    return sorted(subs, key=lambda s: s.submitted)


def latest_tasks(out: Path) -> dict[str, TaskRecord]:
    """The task of the latest submission of each run id (a run submitted again supersedes its old job)."""
    latest: dict[str, TaskRecord] = {}
    for sub in read_submissions(out):
        for task in sub.tasks:
            latest[task.run_id] = task
    return latest


def queue_states(job_ids: Iterable[str]) -> dict[str, str] | None:
    """``{"<array id>_<index>": state}`` of the given jobs still known to ``squeue``; None where ``squeue``
    cannot be asked (not on PATH, or the controller does not answer)."""
    arrays = sorted({j.split("_")[0] for j in job_ids})
    if not arrays:
        return {}
    if shutil.which("squeue") is None:
        return None
    try:
        proc = subprocess.run(["squeue", "-h", "-r", "-o", "%i|%T", "-j", ",".join(arrays)], capture_output=True,
                              text=True, timeout=60)
    except (OSError, subprocess.SubprocessError):
        return None
    if proc.returncode != 0:
        if "Invalid job id" in proc.stderr:  # every one of them has left the queue
            return {}
        return None
    states = {}
    for line in proc.stdout.splitlines():
        job, _, state = line.strip().partition("|")
        if job:
            states[job] = state.strip()
    return states


def read_result(path: Path) -> tuple[str, Any] | None:
    """submitit's result file of a task: ``("success", RunResult)`` or ``("error", traceback text)``."""
    try:
        with open(path, "rb") as fh:
            outcome, value = pickle.load(fh)
    except FileNotFoundError:
        return None
    except Exception as exc:  # a result we cannot read is a failure, reported with its log
        return "error", f"its result file {path} cannot be read ({type(exc).__name__}: {exc})"
    return outcome, value


def _last_line(text: str) -> str:
    lines = [line.strip() for line in str(text).strip().splitlines() if line.strip()]
    return lines[-1] if lines else ""


def task_state(task: TaskRecord, queue: dict[str, str] | None) -> TaskState:
    """Where ``task`` stands, given ``queue`` from :func:`queue_states` (asked *before* the result files are
    read, so a task that ends in between is found by its result, never taken for a lost one)."""
    in_queue = queue.get(task.job_id) if queue is not None else None
    result = read_result(Path(task.result))
    if result is not None:
        outcome, value = result
        if outcome == "success":
            status = getattr(value, "status", "done")
            if status == "done":
                return TaskState(task, "done", result=value)
            return TaskState(task, "failed", getattr(value, "message", "") or status, result=value)
        return TaskState(task, "failed", _last_line(value))
    if in_queue is not None and in_queue in ACTIVE_STATES:
        return TaskState(task, "running" if in_queue in ("RUNNING", "COMPLETING") else "pending", in_queue)
    if queue is None:
        return TaskState(task, "unknown", "squeue cannot be asked here")
    if in_queue is not None:
        return TaskState(task, "failed", f"the job ended {in_queue} without a result")
    return TaskState(task, "failed", "the job left the queue without a result (cancelled, killed or out of time)")


def task_states(tasks: Iterable[TaskRecord]) -> list[TaskState]:
    tasks = list(tasks)
    queue = queue_states(t.job_id for t in tasks)
    return [task_state(t, queue) for t in tasks]


def describe(state: TaskState) -> str:
    """One line: the run, its job, where it stands, and the log to read."""
    t = state.task
    if state.state == "failed":
        log = t.stderr if Path(t.stderr).is_file() else t.stdout
        why = f": {state.detail}" if state.detail else ""
        return f"[{t.label}] failed (job {t.job_id}){why}; log: {log}"
    if state.state == "done":
        return f"[{t.label}] done (job {t.job_id}) -> {t.run_dir}"
    detail = f", {state.detail}" if state.detail and state.detail.lower() != state.state else ""
    return f"[{t.label}] {state.state} (job {t.job_id}{detail}); log: {t.stdout}"


def pending_report(out: Path) -> list[str]:
    """One line per run whose latest job under ``out`` is still queued, running or failed (with its log);
    empty when every submitted job finished (or nothing was submitted)."""
    latest = latest_tasks(out)
    if not latest:
        return []
    return [describe(s) for s in task_states(latest.values()) if s.state != "done"]
