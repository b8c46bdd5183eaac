"""The steps the CLI chains: check data, train (or reuse), load a trained run, generate a split.

:func:`train_run` also measures what the run costs (:mod:`benchmark.compute`: FLOPs per iteration before
training, wall time, peak memory, generator parameters) into the manifest's ``compute`` section, and drives
the learning curve of ``--eval-every`` (:mod:`benchmark.curve`). ``train_s`` is the wall time of the
training calls (checkpoints and sample grids included; the FLOP measurement and the curve's evaluations
left out), summed over the calls of a stopped-and-resumed run; peak memory is the largest of those calls.

Loading a trained run and generating images live in :mod:`benchmark.generation` (below the learning curve,
which generates too), re-exported here.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mmengine.config import Config
from torch.utils.data import DataLoader

from benchmark import checkpoint as ckpt
from benchmark import compute, runs
from benchmark.curve import CurveSpec, LearningCurve, check_curve
from benchmark.datasets import build_dataset
from benchmark.datasets.base import SISDataset
from benchmark.generation import (
    IMAGES_MARKER,
    check_out_dir,
    checked_dataset,
    eval_split,
    generate_split,
    generated_images,
    image_seed,
    is_image_folder,
    load_method_from_weights,
    load_trained,
    sample_stem,
)
from benchmark.runs import RunError
from benchmark.trainer import DistInfo, Trainer, init_distributed, pick_device
from benchmark.validate import check_config

__all__ = ["IMAGES_MARKER", "RunError", "TrainOutcome", "check_out_dir", "check_run", "checked_dataset", "eval_split",
           "fixed_batch", "generate_split", "generated_images", "image_seed", "is_image_folder",
           "load_method_from_weights", "load_trained", "sample_stem", "train_run"]


@dataclass
class TrainOutcome:
    run_dir: Path
    reused: bool
    seconds: float | None = None
    completed: bool = True


def fixed_batch(dataset: SISDataset, n: int) -> dict[str, Any]:
    """The first ``n`` samples, collated: the sample grids show the same labels at every iteration."""
    loader = DataLoader(dataset, batch_size=min(n, len(dataset)), shuffle=False)
    return next(iter(loader))


def check_run(out: Path, cfg: Config, curve: CurveSpec | None) -> None:
    """What :func:`train_run` would refuse about an existing run directory, checked before anything trains."""
    run_dir = runs.run_dir_for(out, cfg)
    if runs.is_finished(run_dir) or ckpt.has_checkpoint(run_dir / "checkpoints"):
        check_curve(run_dir, curve)


def train_run(cfg: Config, out: Path, *, resume: bool | None = None, device: str | None = None,
              argv: list[str] | None = None, progress: bool = True, stop_after: int | None = None,
              curve: CurveSpec | None = None, gflops: Mapping[str, float] | None = None,
              budget: Mapping[str, Any] | None = None, sweep: Mapping[str, Any] | None = None) -> TrainOutcome:
    """Train ``cfg`` into its run directory, or reuse a finished run with the same config hash.

    ``resume``: True continues an unfinished run, False refuses to touch one, None (``run``) continues it.
    ``stop_after``: train at most this many iterations now; the run stays unfinished (resumable).
    ``curve``: evaluate while training (``--eval-every``). ``gflops``: the per-stage GFLOPs already measured
    for this config (a TFLOPs budget measures before the run exists); measured here otherwise.
    ``budget`` / ``sweep``: the manifest's records of them.
    """
    if "threads" not in cfg:  # `train`: this process's CPU threads (`run` plans them); part of a CPU run's id
        runs.set_threads(cfg, None, pick_device(device, DistInfo()))
    runs.apply_threads(cfg)
    run_dir = runs.run_dir_for(out, cfg)
    if runs.is_finished(run_dir):
        check_curve(run_dir, curve)
        if sweep:
            runs.update_manifest(run_dir, sweep=dict(sweep))
        return TrainOutcome(run_dir, reused=True)
    iterations = compute.stage_iterations(cfg)  # refuses a schedule that trains nothing
    has_ckpt = ckpt.has_checkpoint(run_dir / "checkpoints")
    if has_ckpt and resume is False:
        raise RunError(f"{run_dir} holds an unfinished run; pass --resume to continue it, or delete the "
                       f"directory to start over")
    if resume is True and not has_ckpt:  # --resume continues the run the command names, or says there is none
        _refuse_resume(run_dir)
    resuming = has_ckpt and resume is not False
    if resuming:
        check_curve(run_dir, curve)
    check_config(cfg, device=device)  # every value, before the datasets are built and anything is written
    dist_info: DistInfo = init_distributed(device)
    train_set = checked_dataset(cfg["data"], "train", train=True)
    val_set = checked_dataset(cfg["data"], eval_split(cfg), train=False)
    info = train_set.info
    check_config(cfg, device=device, split_sizes={"train": len(train_set)})  # the batch against the split
    dev = pick_device(device, dist_info)
    previous = (runs.read_manifest(run_dir).get("compute") or {}) if resuming else {}
    if dist_info.is_main:
        runs.start_run(run_dir, cfg, argv=argv, device=str(dev), world_size=dist_info.world_size,
                       budget=dict(budget) if budget else None, sweep=dict(sweep or {}),
                       curve=curve.to_dict() if curve else None)
    trainer = Trainer(cfg, run_dir, train_set=train_set, info=info, sample_batch=fixed_batch(val_set, 8),
                      device=device, dist_info=dist_info, progress=progress,
                      finalize_set=build_dataset(cfg["data"], "train", train=False))
    gflops = dict(gflops or previous.get("gflops_per_stage_per_process") or
                  compute.measure_gflops(trainer.method, cfg, trainer.first_batch(), trainer.device,
                                         compute.steps_per_epoch(train_set, cfg, dist_info.world_size)))
    if curve is not None:
        ref = ckpt.latest_checkpoint(run_dir / "checkpoints") if resuming else None
        trainer.evaluator = LearningCurve(curve, cfg, run_dir, iterations=iterations, gflops=gflops,
                                          world_size=dist_info.world_size,
                                          resume_at=(ref.stage, ref.iteration) if ref else None)
    memory = compute.PeakMemory(trainer.device)
    memory.start()
    # the training seconds before this call: what the checkpoint resumed from recorded (a killed call's time
    # up to its last checkpoint included), else the manifest's
    before_s = float(previous.get("train_s", 0.0))
    if resuming:
        ref = ckpt.latest_checkpoint(run_dir / "checkpoints")
        saved = ckpt.saved_train_s(ref) if ref is not None else None
        before_s = before_s if saved is None else saved
    t_start = time.time()
    trainer.clock = lambda: before_s + time.time() - t_start - (
        trainer.evaluator.seconds if trainer.evaluator is not None else 0.0)
    result = trainer.train(resume=resuming, stop_after=stop_after)
    eval_s = trainer.evaluator.seconds if trainer.evaluator is not None else 0.0
    peak = memory.read()
    if previous.get("peak_mem_mb") is not None and previous.get("peak_mem_kind") == peak["peak_mem_kind"]:
        peak["peak_mem_mb"] = max(peak["peak_mem_mb"], previous["peak_mem_mb"])
    train_s = before_s + result.seconds - eval_s
    record = compute.compute_record(cfg, trainer.method, result.iterations, gflops, train_s=train_s,
                                    memory=peak, world_size=dist_info.world_size)
    record["gflops_per_stage_per_process"] = gflops
    if dist_info.is_main and curve is not None:
        eval_total = float((runs.read_manifest(run_dir).get("curve") or {}).get("eval_s", 0.0)) + eval_s
        runs.update_manifest(run_dir, curve={**curve.to_dict(), "eval_s": round(eval_total, 2)})
    if dist_info.is_main and not result.completed:
        runs.update_manifest(run_dir, status="stopped", iterations=result.iterations, compute=record)
    elif dist_info.is_main:
        runs.finish_run(run_dir, train_seconds=round(train_s, 2), iterations=result.iterations,
                        weights=trainer.method.extra_info(), data=info.to_dict(), compute=record)
    return TrainOutcome(run_dir, reused=False, seconds=result.seconds, completed=result.completed)


def _refuse_resume(run_dir: Path) -> None:
    """``--resume`` named a run that has no checkpoint: say so, and which runs of the method exist."""
    from benchmark.validate import run_states

    method, dataset, out = run_dir.parent.name, run_dir.parent.parent.name, run_dir.parents[3]
    existing = run_states(run_dir.parent)
    others = f"runs of {method} on {dataset} under {out}: {', '.join(existing)}" if existing else \
        f"there are no runs of {method} on {dataset} under {out}"
    raise RunError(f"--resume: this command's config is run {run_dir.name}, which has no checkpoint to continue "
                   f"({others}); give the options of the run to continue (its --set, --iters, --seed), or drop "
                   f"--resume to start {run_dir.name}")
