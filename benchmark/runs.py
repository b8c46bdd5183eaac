"""Run directories: where a method's training on a dataset lives, and how it is reused.

``<out>/runs/<dataset>/<method>/<run_id>/`` holds ``config.py`` (resolved, non-defaults marked),
``manifest.json`` (versions, seed, weight sources, git commit, status, timings, and the sections below),
``train_log.csv``, ``curve.csv`` (with ``run --eval-every``), ``checkpoints/``, ``samples/``, ``images/``
(the generated evaluation split) and ``metrics.json``.
``run_id`` is ``<preset>-<config hash>``: a finished run with the same resolved config is reused. The seed
and the ``budget`` section are part of the config, so each seed and each budget is a run of its own; the
``run`` section (``run.sweep``: the values a ``--sweep`` set) is left out of the hash, so a swept run and
the same config given with ``--set`` are one run.

Manifest sections other helpers read (the team contract): ``compute`` (:func:`benchmark.compute.
compute_record`), ``budget`` (null without ``--budget``), ``sweep`` ({} outside a sweep), ``hardware``
(:func:`hardware`) and ``curve`` (null without ``--eval-every``). A run is finished when its manifest says
so, a checkpoint exists and it trained at least one iteration: a run that trained nothing (the old
``--iters -5``) is never reused.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import platform
import subprocess
import sys
from collections.abc import Mapping
from importlib import metadata
from pathlib import Path
from typing import Any

import torch
from mmengine.config import Config

from benchmark import checkpoint as ckpt
from benchmark.config import config_hash, dump_config, to_plain
from benchmark.io import atomic_write_json
from benchmark.user_error import UserError

MANIFEST = "manifest.json"
PACKAGES = ("torch", "torchvision", "timm", "torch-fidelity", "mmengine", "numpy", "pandas", "pillow",
            "safetensors", "mmsegmentation", "mmcv")


class RunError(UserError, RuntimeError):
    """A run cannot start, continue or be reused as asked; the message names the cause and the fix."""


#: the CPU threads every run recorded before the thread count entered a run's identity trained with (the
#: 2-core machines the tiny presets were measured on): at this value ``threads`` stays out of the hash
PAST_THREADS = 2


def set_threads(cfg: Config, threads: int | None, device: Any) -> None:
    """Record the CPU thread count a run trains with as its config's ``threads``: float32 sums on the CPU depend
    on how the work is split between threads, so 1 and 2 threads give different weights and are different
    runs. On a GPU the key is left out (the arithmetic is the GPU's). ``threads`` None: this process's count.
    Kept out of the run id at :data:`PAST_THREADS` (``run_id_defaults``), so earlier runs keep their ids."""
    from benchmark.config import RUN_ID_DEFAULTS

    if str(device).split(":")[0] != "cpu":
        if "threads" in cfg:
            del cfg["threads"]
        return
    cfg["threads"] = int(threads if threads is not None else torch.get_num_threads())
    defaults = dict(cfg.get(RUN_ID_DEFAULTS) or {})
    defaults.setdefault("threads", PAST_THREADS)
    cfg[RUN_ID_DEFAULTS] = defaults


def apply_threads(cfg: Mapping[str, Any]) -> None:
    """Train with the CPU thread count the run's identity records (``threads``), whatever this process had."""
    threads = cfg.get("threads")
    if threads is not None and torch.get_num_threads() != int(threads):
        torch.set_num_threads(int(threads))


def run_id(cfg: Config) -> str:
    return f"{cfg['preset']}-{config_hash(cfg)[:10]}"


def run_dir_for(out: Path, cfg: Config) -> Path:
    from benchmark.datasets import dataset_name  # a custom dataset's own name, else the registered one

    return Path(out) / "runs" / dataset_name(cfg["data"]) / cfg["method"] / run_id(cfg)


def library_versions() -> dict[str, str]:
    versions = {"python": platform.python_version()}
    for pkg in PACKAGES:
        try:
            versions[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            continue
    try:
        from benchmark import __version__

        versions["sisbench"] = __version__
    except ImportError:
        pass
    return versions


def git_commit() -> dict[str, Any]:
    from benchmark.resources import source_checkout

    # An installed wheel has no commit of its own; asking git from site-packages would report whatever
    # repository the environment happens to sit in (e.g. a .venv inside some checkout).
    root = source_checkout()
    if root is None:
        return {"commit": None, "dirty": None}
    try:
        sha = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True,
                             timeout=10).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=root,
                               capture_output=True, text=True, timeout=10).stdout.strip() != ""
    except (OSError, subprocess.SubprocessError):
        return {"commit": None, "dirty": None}
    return {"commit": sha or None, "dirty": dirty if sha else None}


def read_manifest(run_dir: Path) -> dict[str, Any]:
    path = Path(run_dir) / MANIFEST
    if not path.is_file():
        return {}
    try:
        return json.loads(path.read_text())
    except ValueError:
        return {}


def update_manifest(run_dir: Path, **fields: Any) -> dict[str, Any]:
    manifest = read_manifest(run_dir)
    manifest.update(fields)
    atomic_write_json(Path(run_dir) / MANIFEST, manifest)
    return manifest


def hardware(device: str | torch.device) -> dict[str, Any]:
    """The manifest's ``hardware`` record: the evaluation harness's (same keys in manifests and metrics
    records: cpu, gpu, threads, device, platform), plus the CPU count."""
    from metrics.evaluate import hardware as harness_hardware

    return {**harness_hardware(device), "cpu_count": os.cpu_count()}


def start_run(run_dir: Path, cfg: Config, *, argv: list[str] | None = None, device: str = "cpu",
              world_size: int = 1, **fields: Any) -> dict[str, Any]:
    """Create the run directory, dump the config and write the manifest (status ``running``); ``fields``
    (``budget``, ``sweep``, ``curve``) go into the manifest as given."""
    run_dir.mkdir(parents=True, exist_ok=True)
    dump_config(cfg, run_dir / "config.py")
    atomic_write_json(run_dir / "config.json", to_plain(cfg))
    previous = read_manifest(run_dir)
    return update_manifest(
        run_dir,
        method=cfg["method"], dataset=cfg["dataset"], preset=cfg["preset"], run_id=run_dir.name,
        config_hash=config_hash(cfg), seed=int(cfg.get("seed", 0)),
        overrides=cfg.get("_meta_", {}).get("overrides", []),
        versions=library_versions(), git=git_commit(), device=device, world_size=world_size,
        amp=cfg["train"].get("amp", "off"), command=" ".join(argv or sys.argv),
        started=previous.get("started") or _now(), status="running", hardware=hardware(device),
        **{"budget": None, "sweep": {}, "curve": None, **fields},
    )


def finish_run(run_dir: Path, **fields: Any) -> dict[str, Any]:
    return update_manifest(run_dir, status="finished", finished=_now(), **fields)


def is_finished(run_dir: Path) -> bool:
    """Finished, checkpointed, and trained at least one iteration (a zero-iteration run is never reused)."""
    manifest = read_manifest(run_dir)
    if manifest.get("status") != "finished":
        return False
    latest = ckpt.latest_checkpoint(Path(run_dir) / "checkpoints")
    if latest is None:
        return False
    iterations = manifest.get("iterations")
    if isinstance(iterations, dict) and iterations:
        counts = [v for v in iterations.values() if isinstance(v, int)]
        return len(counts) == len(iterations) and min(counts) >= 0 and sum(counts) > 0
    return latest.iteration > 0


def load_run_config(run_dir: Path) -> Config:
    path = Path(run_dir) / "config.json"
    if not path.is_file():
        raise FileNotFoundError(f"{run_dir} is not a SISBench run directory (no config.json)")
    return Config(json.loads(path.read_text()))


def _now() -> str:
    return _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds")


def as_dict(cfg: Config | Mapping[str, Any]) -> dict[str, Any]:
    return cfg.to_dict() if isinstance(cfg, Config) else dict(cfg)
