"""Checks of a resolved config that must pass before a run directory exists: every value a user can get
wrong is refused here, in one sentence naming the key, the value, what is expected and the fix, instead of
as a traceback (or a sentence) after ``config.json`` and a ``"running"`` manifest were written.

:func:`check_config` needs nothing but the resolved config (``benchmark.config.load_config``'s result; its
``_meta_["overrides"]`` holds the ``(key, value before, value after)`` of every ``--set``), the device the
command asked for and, optionally, the split sizes the data check found. The CLI calls it for ``config``,
``train``, ``generate``, ``evaluate`` (and every command resolving a config through ``cli._config``), the
experiment planner while planning, and :func:`benchmark.pipeline.train_run` before ``runs.start_run``.

What is checked:

- the type of each ``--set`` value against the value it replaced: a whole number where one was, True/False
  where a bool was, a string where a string was, a list where a list was, a dict where a dict was; a whole
  number is accepted where a decimal was (``optimizer.lr=1``), and None or anything else where the preset
  had None (an optional setting, e.g. ``train.grad_clip``);
- ``train.amp`` (off | bf16 | fp16; fp16 only on a CUDA device) and ``train.lr_schedule`` (the types and
  fields :func:`benchmark.trainer.lr_lambda` reads);
- the device: a name torch knows, ``cuda`` only with a visible GPU, ``cuda:N`` only with N below the number
  of GPUs;
- ``train.batch_size`` (times the number of processes) against the training split's size, when known.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from benchmark.config import ConfigError

AMP_MODES = ("off", "bf16", "fp16")
#: ``train.lr_schedule.type`` values :func:`benchmark.trainer.lr_lambda` implements
LR_SCHEDULE_TYPES = ("constant", "linear_decay")


def check_config(cfg: Mapping[str, Any], *, device: str | None, split_sizes: Mapping[str, int] | None = None) -> None:
    """Raise :class:`~benchmark.config.ConfigError` (one sentence) for the first value of ``cfg`` that training
    would refuse or crash on; ``device``: what ``--device`` asked for (None: CUDA if available, else CPU);
    ``split_sizes``: split name -> number of images (``{"train": 16}``), when the data check has counted them."""
    check_override_types(cfg)
    train = cfg.get("train") or {}
    check_amp(train.get("amp", "off"), device)
    check_lr_schedule(train.get("lr_schedule") or {})
    check_device(device)
    if split_sizes and "train" in split_sizes:
        world = int(os.environ.get("WORLD_SIZE", "1") or 1)
        check_batch_size(train.get("batch_size"), int(split_sizes["train"]), world)


# -- --set types -----------------------------------------------------------------------------------------

def _kind(value: Any) -> str:
    if isinstance(value, bool):
        return "True or False"
    if isinstance(value, int):
        return "a whole number"
    if isinstance(value, float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, (list, tuple)):
        return "a list"
    if isinstance(value, Mapping):
        return "a dict"
    if value is None:
        return "None"
    return f"a {type(value).__name__}"


def _fits(old: Any, new: Any) -> bool:
    if old is None:
        return True  # an optional setting: the preset does not fix its type
    if isinstance(old, bool) or isinstance(new, bool):
        return isinstance(old, bool) and isinstance(new, bool)
    if isinstance(old, float):
        return isinstance(new, (int, float))
    if isinstance(old, int):
        return isinstance(new, int)
    if isinstance(old, str):
        return isinstance(new, str)
    if isinstance(old, (list, tuple)):
        return isinstance(new, (list, tuple))
    if isinstance(old, Mapping):
        return isinstance(new, Mapping)
    return True


def check_override_types(cfg: Mapping[str, Any]) -> None:
    """Each ``--set key=value`` of ``cfg`` (``_meta_["overrides"]``) has the type of the value it replaced."""
    meta = cfg.get("_meta_") or {}
    before: dict[str, Any] = {}  # a key set twice is typed by the config's value, not by the first --set
    for entry in meta.get("overrides") or []:
        key, old, new = entry
        old = before.setdefault(key, old)
        if _fits(old, new):
            continue
        shown = repr(new) if not isinstance(new, str) else f"'{new}'"
        example = old if not isinstance(old, str) else f"'{old}'"
        got = "a decimal number" if isinstance(new, float) else _kind(new)
        raise ConfigError(f"--set {key}={shown}: {key} takes {_kind(old)} (the config's value is {example}), "
                          f"not {got}; give e.g. --set {key}={example}.")


# -- values the trainer reads ------------------------------------------------------------------------

def check_amp(amp: Any, device: str | None) -> None:
    if amp not in AMP_MODES:
        raise ConfigError(f"train.amp={amp!r} is not a mixed-precision mode; give --amp (or --set train.amp=) "
                          f"one of {', '.join(AMP_MODES)}")
    if amp == "fp16" and resolved_device_type(device) != "cuda":
        raise ConfigError("--amp fp16 needs a CUDA device; use --amp bf16 on CPU or --amp off")


def check_lr_schedule(schedule: Any) -> None:
    """What :func:`benchmark.trainer.lr_lambda` reads: ``type`` (constant | linear_decay) and, for
    linear_decay, ``decay_fraction`` in [0, 1]."""
    if not isinstance(schedule, Mapping):
        raise ConfigError(f"train.lr_schedule={schedule!r} is not a dict; give e.g. --set "
                          f"train.lr_schedule.type=linear_decay")
    kind = schedule.get("type", "constant")
    if kind not in LR_SCHEDULE_TYPES:
        raise ConfigError(f"unknown train.lr_schedule.type {kind!r}; valid types: {', '.join(LR_SCHEDULE_TYPES)} "
                          f"(e.g. --set train.lr_schedule.type=constant)")
    if kind == "linear_decay":
        fraction = schedule.get("decay_fraction", 0.5)
        if isinstance(fraction, bool) or not isinstance(fraction, (int, float)) or not 0 <= fraction <= 1:
            raise ConfigError(f"train.lr_schedule.decay_fraction={fraction!r} must be a number between 0 and 1 "
                              f"(the share of the iterations over which the learning rate decays to 0)")


def check_batch_size(batch_size: Any, train_images: int, world_size: int = 1) -> None:
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ConfigError(f"train.batch_size={batch_size!r} must be a whole number >= 1; give e.g. "
                          f"--set train.batch_size=4")
    if batch_size * world_size > train_images:
        procs = f" x {world_size} processes" if world_size > 1 else ""
        most = max(1, train_images // max(1, world_size))
        raise ConfigError(f"train.batch_size={batch_size}{procs} is larger than the training split "
                          f"({train_images} images); give --set train.batch_size={most} or less, or more "
                          f"training images")


# -- devices -------------------------------------------------------------------------------------------

def resolved_device_type(device: str | None) -> str:
    """The device type a command would train on (``benchmark.trainer.pick_device``'s rule)."""
    import torch

    if device and device != "auto":
        try:
            return torch.device(device).type
        except (RuntimeError, ValueError):
            return "unknown"
    return "cuda" if torch.cuda.is_available() else "cpu"


def check_device(device: str | None) -> None:
    """``--device`` names a device this machine has: refuses a name torch does not parse, ``cuda`` without a
    visible GPU and ``cuda:N`` with N out of range (torch would fail later with a RuntimeError)."""
    if not device or device == "auto":
        return
    import torch

    try:
        dev = torch.device(device)
    except (RuntimeError, ValueError):
        raise ConfigError(f"--device {device!r} is not a device name; give cpu, cuda or cuda:N (N counting "
                          f"from 0), or leave --device out to use a GPU when there is one") from None
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise ConfigError(f"--device {device}: this machine has no CUDA GPU that torch can use "
                              f"(torch.cuda.is_available() is False); give --device cpu or leave --device out")
        count = torch.cuda.device_count()
        if dev.index is not None and dev.index >= count:
            raise ConfigError(f"--device {device}: this machine has {count} CUDA GPU{'s' if count != 1 else ''} "
                              f"(cuda:0{f' to cuda:{count - 1}' if count > 1 else ''}); give one of those")
    elif dev.type == "mps":
        if not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
            raise ConfigError(f"--device {device}: MPS is not available on this machine; give --device cpu")
    elif dev.type != "cpu":
        raise ConfigError(f"--device {device}: SISBench trains on cpu, cuda or cuda:N, not {dev.type}")


# -- checkpoints named on the command line -------------------------------------------------------------

def official_loaders() -> list[str]:
    """The registered methods that can load an official checkpoint (override ``Method.from_official``)."""
    from benchmark.registry import METHODS
    from methods.base import Method

    base = Method.__dict__["from_official"].__func__
    out = []
    for name in METHODS.names():
        impl = getattr(METHODS.get(name), "from_official", None)
        if getattr(impl, "__func__", None) is not base:
            out.append(name)
    return out


def check_official_loader(method: str) -> None:
    """``--official-checkpoint`` with a method that has no loader for the official repository's files."""
    loaders = official_loaders()
    if method not in loaders:
        raise ConfigError(f"--official-checkpoint: method {method!r} has no official checkpoint loader; methods "
                          f"with one: {', '.join(loaders) or 'none'} (for {method}, train a run and pass "
                          f"--checkpoint RUN_DIR)")


def check_checkpoint_path(path: Path, *, official: bool) -> None:
    """A checkpoint named on the command line exists and is of the kind expected; directories get their own
    sentence (a run directory holds config.json; else a weights file is expected)."""
    path = Path(path)
    flag = "--official-checkpoint" if official else "--checkpoint"
    if path.is_dir():
        if official:
            found = sorted(p.name for p in path.glob("*.pth"))[:3]
            hint = f" (it holds {', '.join(found)})" if found else ""
            raise ConfigError(f"{flag} {path} is a directory{hint}; pass the official weights file itself, e.g. "
                              f"{path / 'latest_net_G.pth'}")
        if (path / "config.json").is_file():
            return
        from benchmark.checkpoint import LATEST

        if (path / "checkpoints" / LATEST).is_file() or (path / LATEST).is_file():
            return
        raise ConfigError(f"{flag} {path} is a directory but not a SISBench run directory (no config.json) and "
                          f"holds no checkpoints/{LATEST}; pass a run directory (results/runs/<dataset>/<method>/"
                          f"<run id>) or a .safetensors weights file")
    if not path.exists():
        what = "the official latest_net_G.pth" if official else "a run directory or a .safetensors weights file"
        raise ConfigError(f"{flag} {path}: no checkpoint at that path (no such file or directory); pass {what}")


# -- which runs exist ----------------------------------------------------------------------------------

def run_states(method_dir: Path) -> list[str]:
    """``"<run id> (<state>)"`` for each run directory under ``<out>/runs/<dataset>/<method>``, newest first:
    finished, stopped / running at ``<stage> <iteration>`` (the last checkpoint), or without a checkpoint."""
    from benchmark import runs
    from benchmark.checkpoint import CheckpointError, latest_checkpoint

    method_dir = Path(method_dir)
    if not method_dir.is_dir():
        return []
    dirs = [d for d in method_dir.iterdir() if d.is_dir() and (d / "config.json").is_file()]
    dirs.sort(key=lambda d: d.stat().st_mtime, reverse=True)
    out = []
    for run_dir in dirs:
        status = runs.read_manifest(run_dir).get("status") or "unknown"
        try:
            ref = latest_checkpoint(run_dir / "checkpoints")
        except CheckpointError:
            ref = None
        if status == "finished":
            state = "finished"
        elif ref is not None:
            state = f"{status}, checkpoint at {ref.stage} iteration {ref.iteration}"
        else:
            state = f"{status}, no checkpoint"
        out.append(f"{run_dir.name} ({state})")
    return out
