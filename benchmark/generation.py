"""Images from a trained method: load a run's method, generate a split (in memory or into a folder).

The evaluation split and the data check a split passes before use (:func:`checked_dataset`) live here too.
Below :mod:`benchmark.pipeline` (training), :mod:`benchmark.curve` and :mod:`benchmark.evaluation`, which
all generate; ``benchmark.pipeline`` re-exports these names.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import torch
from mmengine.config import Config
from torch.utils.data import DataLoader
from tqdm import tqdm

from benchmark import checkpoint as ckpt
from benchmark import runs
from benchmark.datasets import build_dataset, dataset_info
from benchmark.datasets.base import DataInfo, SISDataset
from benchmark.io import atomic_write_json, clean_stale_dirs, owned_dir
from benchmark.runs import RunError
from benchmark.trainer import DistInfo, build_method, pick_device, to_device
from benchmark.visualize import save_image, to_uint8
from methods.base import Method


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
