"""The steps the CLI chains: check data, train (or reuse), load a trained run, generate a split.

:func:`train_run` also measures what the run costs (:mod:`benchmark.compute`: FLOPs per iteration before
training, wall time, peak memory, generator parameters) into the manifest's ``compute`` section, and drives
the learning curve of ``--eval-every`` (:mod:`benchmark.curve`). ``train_s`` is the wall time of the
training calls (checkpoints and sample grids included; the FLOP measurement and the curve's evaluations
left out), summed over the calls of a stopped-and-resumed run; peak memory is the largest of those calls.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sys
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from mmengine.config import Config
from torch.utils.data import DataLoader
from tqdm import tqdm

from benchmark import checkpoint as ckpt
from benchmark import compute, runs
from benchmark.curve import CurveSpec, LearningCurve, check_curve
from benchmark.datasets import build_dataset, dataset_info
from benchmark.datasets.base import DataInfo, SISDataset
from benchmark.io import atomic_write_json, clean_stale_dirs, owned_dir
from benchmark.runs import RunError
from benchmark.trainer import DistInfo, Trainer, build_method, init_distributed, pick_device, to_device
from benchmark.validate import check_config
from benchmark.visualize import save_image, to_uint8
from methods.base import Method


@dataclass
class TrainOutcome:
    run_dir: Path
    reused: bool
    seconds: float | None = None
    completed: bool = True


def eval_split(cfg: Mapping[str, Any]) -> str:
    return cfg["data"].get("eval_split", "val")


_CHECKED: set[str] = set()


def checked_dataset(data_cfg: Mapping[str, Any], split: str, train: bool) -> SISDataset:
    """Build a split and run the data check before anything is trained or written (once per process for
    a given data config and split: the check reads every label map)."""
    dataset = build_dataset(data_cfg, split, train=train)
    key = json.dumps([dict(data_cfg), split], sort_keys=True, default=str)
    if key not in _CHECKED:
        dataset.check()
        _CHECKED.add(key)
    return dataset


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


def load_trained(run_dir: Path, device: str | None = None) -> tuple[Method, Config, DataInfo]:
    """The method of a finished (or checkpointed) run, with EMA weights applied where it kept them."""
    cfg = runs.load_run_config(run_dir)
    info = dataset_info(cfg["data"])
    dev = pick_device(device, DistInfo())
    method = build_method(cfg, info)
    ref = ckpt.latest_checkpoint(Path(run_dir) / "checkpoints")
    if ref is None:
        raise RunError(f"{run_dir} has no checkpoint yet; train it first")
    ckpt.load_weights(method, ref.weights)
    ema = ckpt.load_training_state(ref).get("ema") or {}
    for name, sd in ema.items():
        getattr(method, name).load_state_dict(sd)
    return method.to(dev).eval(), cfg, info


def load_method_from_weights(cfg: Config, weights: Path, device: str | None = None) -> tuple[Method, DataInfo]:
    info = dataset_info(cfg["data"])
    method = build_method(cfg, info)
    ckpt.load_weights(method, ckpt.resolve_weights(weights))
    return method.to(pick_device(device, DistInfo())).eval(), info


def sample_stem(path: str) -> str:
    return Path(path).stem


#: the file that marks a folder of generated images as SISBench's own (so a later call may replace it)
IMAGES_MARKER = ".sisbench-images.json"


def image_seed(seed: int, stem: str) -> int:
    """The RNG seed of the label map ``stem`` under the evaluation seed ``seed``: what one image draws
    depends on nothing else (not the number of images, the batch it falls in, or the ones before it)."""
    digest = hashlib.sha256(f"sisbench-image/{seed}/{stem}".encode()).digest()
    return int.from_bytes(digest[:8], "little") & ((1 << 63) - 1)


def _one_sample(batch: Any, i: int) -> Any:
    """Sample ``i`` of a collated batch, as a batch of one."""
    if torch.is_tensor(batch):
        return batch[i:i + 1]
    if isinstance(batch, Mapping):
        return {k: _one_sample(v, i) for k, v in batch.items()}
    if isinstance(batch, list | tuple):
        return [batch[i]]
    return batch


@torch.no_grad()
def generated_images(method: Method, cfg: Mapping[str, Any], *, split: str | None = None,
                     num_images: int | None = None, num_samples: int = 1, batch_size: int | None = None,
                     seed: int | None = None, style: torch.Tensor | None = None,
                     progress: bool = True) -> Iterator[tuple[str, torch.Tensor]]:
    """``(name, image)`` for the first ``num_images`` label maps of ``split`` (default: the evaluation split):
    ``name`` is the label map's file stem (``<stem>_<k>`` for k samples), ``image`` the uint8 ``[3, H, W]``
    that :func:`generate_split` writes as PNG.

    Each label map is generated on its own, its RNG seeded by :func:`image_seed` (``eval.seed``, its stem):
    an image is the same bit for bit whatever ``num_images`` and ``batch_size`` (``eval.batch_size``, now only
    how many label maps are loaded at once) are, and the caller's RNG state is left as it was."""
    split = split or eval_split(cfg)
    dataset = checked_dataset(cfg["data"], split, train=False)
    ecfg = cfg.get("eval", {})
    n = len(dataset) if num_images is None else min(num_images, len(dataset))
    bs = batch_size or int(ecfg.get("batch_size", 16))
    seed = int(ecfg.get("seed", 0) if seed is None else seed)
    device = next(method.parameters()).device
    if num_samples > 1 and not method.multimodal:
        raise RunError(f"method {method.name!r} produces one image per label map; --num-samples must be 1")
    limit = method.max_samples
    if limit is not None and num_samples > limit:
        raise RunError(f"method {method.name!r} produces at most {limit} images per label map with this config; "
                       f"--num-samples must be between 1 and {limit}, got {num_samples}")
    # its own generator: iterating a DataLoader draws a seed from the global RNG otherwise
    loader = DataLoader(torch.utils.data.Subset(dataset, range(n)), batch_size=bs, shuffle=False,
                        generator=torch.Generator().manual_seed(seed))
    method.eval()
    forked = [device] if device.type == "cuda" else []
    s = None if style is None else style.to(device).expand(1, -1, -1, -1)
    for batch in tqdm(loader, desc=f"generate {method.name}", unit="batch", disable=not progress,
                      file=sys.stderr):
        batch = to_device(batch, device)
        stems = [sample_stem(p) for p in batch["path"]]
        for i, stem in enumerate(stems):
            sample = _one_sample(batch, i)
            with torch.random.fork_rng(devices=forked):
                torch.manual_seed(image_seed(seed, stem))
                if hasattr(method, "generate_samples") and num_samples > 1:
                    per_label = method.generate_samples(sample, num_samples)[0]  # [K, 3, H, W]
                else:
                    per_label = [method.generate(sample, style=s)[0] for _ in range(num_samples)]
            for k, img in enumerate(per_label):
                name = stem if num_samples == 1 else f"{stem}_{k}"
                yield name, torch.from_numpy(to_uint8(img)).permute(2, 0, 1)


def is_image_folder(path: Path) -> bool:
    """Whether ``path`` is a folder of generated images SISBench wrote (and may replace): it holds
    :data:`IMAGES_MARKER`, or -- written before the marker existed -- it lies in a run directory (beside a
    ``manifest.json``) and holds nothing but PNGs and the diversity samples' ``samples.json``."""
    path = Path(path)
    marker = path / IMAGES_MARKER
    if marker.is_file():
        try:
            return json.loads(marker.read_text()).get("written_by") == "sisbench"
        except (OSError, ValueError, AttributeError):
            return False
    if not (path.parent / runs.MANIFEST).is_file():
        return False
    return all(p.is_file() and not p.is_symlink() and (p.suffix == ".png" or p.name == "samples.json")
               for p in path.iterdir())


def check_out_dir(out_dir: Path) -> None:
    """Refuse, before anything is generated, an ``out_dir`` that generating into would lose files: the
    working directory or one of its parents, a file, a symbolic link, or a non-empty folder that is not
    one of SISBench's image folders (:func:`is_image_folder`)."""
    out_dir = Path(out_dir)
    fix = "choose a new or empty --out directory"
    resolved, cwd = out_dir.resolve(), Path.cwd().resolve()
    if resolved == cwd or resolved in cwd.parents:
        raise RunError(f"{out_dir} is the working directory or one of its parents, which generating would "
                       f"replace; {fix}")
    if out_dir.is_symlink():
        raise RunError(f"{out_dir} is a symbolic link; {fix}")
    if out_dir.exists() and not out_dir.is_dir():
        raise RunError(f"{out_dir} is a file, not a directory; {fix}")
    if out_dir.is_dir() and any(out_dir.iterdir()) and not is_image_folder(out_dir):
        shown = ", ".join(sorted(p.name for p in out_dir.iterdir())[:3])
        raise RunError(f"{out_dir} already holds files SISBench did not write ({shown}, ...) and would lose "
                       f"them; {fix}")


def _replace_dir(new: Path, out_dir: Path) -> None:
    """Put the finished folder ``new`` at ``out_dir``: renamed onto a missing or empty ``out_dir``; an image
    folder already there is renamed aside first and removed only once the new one is in place."""
    try:
        os.rename(new, out_dir)  # atomic; succeeds where out_dir is missing or an empty directory
        return
    except OSError:
        if not out_dir.is_dir():
            raise
    aside = owned_dir(out_dir.parent, out_dir.name, "old")
    os.rename(out_dir, aside)
    try:
        os.rename(new, out_dir)
    except BaseException:
        os.rename(aside, out_dir)
        raise
    shutil.rmtree(aside, ignore_errors=True)


def generate_split(method: Method, cfg: Mapping[str, Any], out_dir: Path, *, split: str | None = None,
                   num_images: int | None = None, num_samples: int = 1, batch_size: int | None = None,
                   seed: int | None = None, style: torch.Tensor | None = None,
                   progress: bool = True) -> int:
    """Generate the evaluation split into ``out_dir`` as ``<stem>.png`` (``<stem>_<k>.png`` for k samples).

    ``out_dir`` must be new, empty or an image folder SISBench wrote (:func:`check_out_dir` refuses anything
    else before generating). The folder appears whole or not at all: images go to a folder of this process's
    own first (``<out_dir>.partial-<host>-<pid>-<random>``; those of killed processes are removed), which
    then replaces ``out_dir``; it carries :data:`IMAGES_MARKER` (what wrote it).
    """
    out_dir = Path(out_dir)
    check_out_dir(out_dir)
    images = generated_images(method, cfg, split=split, num_images=num_images, num_samples=num_samples,
                              batch_size=batch_size, seed=seed, style=style, progress=progress)
    partial = owned_dir(out_dir.parent, out_dir.name, "partial")
    clean_stale_dirs(out_dir.parent, out_dir.name, "old")  # a replaced folder a killed process left aside
    written = 0
    try:
        for name, image in images:
            save_image(image.float() / 127.5 - 1, partial / f"{name}.png")
            written += 1
        atomic_write_json(partial / IMAGES_MARKER, {
            "written_by": "sisbench", "method": method.name, "preset": cfg.get("preset"),
            "split": split or eval_split(cfg), "images": written, "num_samples": num_samples,
            "seed": int(cfg.get("eval", {}).get("seed", 0) if seed is None else seed)})
        check_out_dir(out_dir)  # nothing else took the place meanwhile
        _replace_dir(partial, out_dir)
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise
    return written
