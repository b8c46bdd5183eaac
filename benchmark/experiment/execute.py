"""One planned run end to end, with no CLI state: lock it, train / resume / reuse it, generate its evaluation
split (again when ``images/`` holds fewer images than asked for), score it under the protocol (LPIPS where
multimodal) and write its records. A module-level function of picklable arguments, so an executor can call
it in another process or on another machine."""

from __future__ import annotations

import time
import traceback
from dataclasses import dataclass
from pathlib import Path

from benchmark.experiment.lock import LockBusy, RunLock, describe
from benchmark.experiment.plan import PlannedRun, RunOptions, generated_count, scored_count
from benchmark.runs import apply_threads

DONE, FAILED, PENDING = "done", "failed", "pending"


@dataclass
class RunResult:
    """What became of a planned run: ``status`` is ``done``, ``failed`` (``message`` says why, ``log`` where
    its output went) or ``pending`` (another process holds it and the executor was told not to wait)."""

    run_id: str
    run_dir: Path
    label: str
    status: str
    message: str = ""
    log: Path | None = None
    record: Path | None = None


def images_complete(images: Path, expected: int) -> bool:
    """Whether ``images/`` holds at least the ``expected`` images a run's scores need."""
    return images.is_dir() and sum(1 for _ in images.glob("*.png")) >= expected


def execute_run(run: PlannedRun, options: RunOptions, *, catch: bool = False, log: Path | None = None,
                wait: bool | None = None) -> RunResult:
    """Train (or resume, or reuse), generate and score ``run``; return what became of it.

    ``catch``: report an exception as a ``failed`` result (its message, and ``log``) instead of raising it
    (executors running many runs). ``wait``: override ``options.wait`` (whether to wait for a run another
    process holds)."""
    try:
        return _execute(run, options, log=log, wait=options.wait if wait is None else wait)
    except Exception as exc:
        if not catch:
            raise
        from benchmark.errors import USER_ERRORS

        message = str(exc) if isinstance(exc, USER_ERRORS) else f"{type(exc).__name__}: {exc}"
        if not isinstance(exc, USER_ERRORS):
            traceback.print_exc()  # into the run's log: a bug, not a user error, needs its traceback
        return RunResult(run.run_id, run.run_dir, run.label, FAILED, message=message, log=log)


def _execute(run: PlannedRun, options: RunOptions, *, log: Path | None, wait: bool) -> RunResult:
    from benchmark import evaluation, pipeline, runs

    name, t0 = run.label, time.time()
    cfg = run.cfg()
    apply_threads(cfg)
    lock = RunLock(run.run_dir, wait=wait,
                   on_wait=lambda holder: print(f"[{name}] waiting for {run.run_dir}: {describe(holder)} holds it"))
    try:
        lock.acquire()
    except LockBusy as exc:
        return RunResult(run.run_id, run.run_dir, name, PENDING, message=f"{exc}", log=log)
    try:
        if lock.took_over is not None:
            print(f"[{name}] took over the lock of {describe(lock.took_over)}, a process that is gone")
        outcome = pipeline.train_run(cfg, options.out, resume=None, device=options.device, argv=options.argv,
                                     progress=options.progress, curve=options.curve_spec(run.seed),
                                     gflops=run.gflops, budget=run.budget, sweep=run.sweep)
        if outcome.reused:
            print(f"[{name}] reusing the finished run {outcome.run_dir}")
        else:
            manifest = runs.read_manifest(outcome.run_dir)
            cost, curve = manifest.get("compute") or {}, manifest.get("curve") or {}
            scored = f" + {curve['eval_s']:.1f} s scoring the learning curve" if curve.get("eval_s") else ""
            print(f"[{name}] trained in {cost.get('train_s', outcome.seconds):.1f} s{scored} "
                  f"({cost.get('iterations')} iterations, {cost.get('images_seen')} images, "
                  f"{cost.get('gflops_per_iter', 0):.3g} GFLOPs/iteration) -> {outcome.run_dir}")
        if options.executor:
            runs.update_manifest(outcome.run_dir, executor=dict(options.executor))
        images = outcome.run_dir / "images"
        regenerated = False
        if not images_complete(images, generated_count(cfg, options.num_images)):
            if images.is_dir():
                have = sum(1 for _ in images.glob("*.png"))
                print(f"[{name}] {images} holds {have} images, fewer than this run scores: generating it again")
            method, cfg_run, _ = pipeline.load_trained(outcome.run_dir, options.device)
            n = pipeline.generate_split(method, cfg_run, images, num_images=options.num_images,
                                        progress=options.progress)
            runs.update_manifest(outcome.run_dir, generated_images=n)
            print(f"[{name}] generated {n} images -> {images}")
            regenerated = True
        pid = options.protocol
        target = evaluation.metrics_path(outcome.run_dir, run.dataset, pid)
        expected = scored_count(cfg, pid, options.num_images)
        if target.is_file() and outcome.reused and not regenerated and \
                evaluation.record_is_current(target, pid, num_images=expected):
            print(f"[{name}] reusing {target}")
        else:
            eval_options = {**options.eval_options(run.seed), "progress": options.progress}
            record = evaluation.evaluate_run(outcome.run_dir, protocol=pid, **eval_options)
            print(f"[{name}] {evaluation.format_record(record)}")
        print(f"[{name}] done in {time.time() - t0:.1f} s")
        return RunResult(run.run_id, outcome.run_dir, name, DONE, log=log, record=target)
    finally:
        lock.release()
