"""Checkpoints: network weights as safetensors, training state loadable with ``weights_only=True``.

A checkpoint is a pair in ``<run>/checkpoints/``:

- ``<stage>_<iteration>.safetensors``: ``method.state_dict()`` (every sub-network and buffer);
- ``<stage>_<iteration>.state.pt``: iteration, stage, optimizers, schedulers, loss scalers, RNG states and
  EMA weights -- only tensors and plain containers, so ``torch.load(..., weights_only=True)`` reads it.

``latest.json`` names the newest complete pair and is written last, atomically: a crash mid-save leaves the
previous checkpoint as the latest, never a half-written one.
"""

from __future__ import annotations

import json
import random
import re
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors import safe_open
from safetensors.torch import load_file, save_file
from torch import nn

from benchmark.io import atomic_path, atomic_write_json
from benchmark.user_error import UserError

LATEST = "latest.json"
_NAME = re.compile(r"^(?P<stage>[A-Za-z0-9_]+)_(?P<it>\d{8})\.safetensors$")


class CheckpointError(UserError, ValueError):
    """A checkpoint is missing, unreadable or does not fit the method."""


@dataclass(frozen=True)
class CheckpointRef:
    weights: Path
    state: Path
    stage: str
    iteration: int  # iterations completed in ``stage``


def save_weights(module: nn.Module, path: Path) -> None:
    tensors = {k: v.detach().cpu().contiguous().clone() for k, v in module.state_dict().items()}
    with atomic_path(path) as tmp:
        save_file(tensors, str(tmp))


def load_weights(module: nn.Module, path: str | Path, strict: bool = True) -> None:
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint {path} does not exist; pass a run directory, its checkpoints/ "
                              f"folder or a .safetensors file")
    try:
        tensors = load_file(str(path))
    except Exception as exc:
        raise CheckpointError(f"checkpoint {path} is not a readable safetensors file ({exc})") from exc
    missing, unexpected = _compare_keys(module.state_dict(), tensors)
    if strict and (missing or unexpected):
        raise CheckpointError(
            f"checkpoint {path} does not fit this method's networks: {len(missing)} missing keys "
            f"(e.g. {missing[:3]}), {len(unexpected)} unexpected (e.g. {unexpected[:3]}); was it trained "
            f"with another method or config?")
    module.load_state_dict(tensors, strict=strict)


def _compare_keys(expected: Mapping[str, Any], got: Mapping[str, Any]) -> tuple[list[str], list[str]]:
    return sorted(set(expected) - set(got)), sorted(set(got) - set(expected))


def read_official(path: str | Path) -> dict[str, torch.Tensor]:
    """A plain ``torch.save``-d state dict (an official ``latest_net_G.pth``), read with safe loading."""
    path = Path(path).expanduser()
    if not path.is_file():
        raise CheckpointError(f"official checkpoint {path} does not exist; pass the latest_net_G.pth file")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch's own text suggests weights_only=False, which would run the file's code
        found = re.search(r"Unsupported global: GLOBAL ([\w.]+)", str(exc))
        why = f"it holds a Python object ({found[1]}) besides tensors, which SISBench does not unpickle" if found \
            else f"it is not a torch-saved file ({type(exc).__name__})"
        raise CheckpointError(f"official checkpoint {path} cannot be loaded safely as a state dict: {why}; pass "
                              f"the official repository's latest_net_G.pth (a plain state dict of tensors)") from exc
    if not isinstance(state, Mapping):
        raise CheckpointError(f"official checkpoint {path} holds a {type(state).__name__}, not a state dict")
    return dict(state)


def load_state_strict(module: nn.Module, state: Mapping[str, torch.Tensor], source: str | Path,
                      hint: str = "") -> None:
    """``module.load_state_dict(state, strict=True)``, failing with one sentence that counts and names the
    missing, unexpected and mis-shaped keys instead of torch's page-long listing."""
    own = module.state_dict()
    missing, unexpected = _compare_keys(own, state)
    shapes = [f"{k} {tuple(state[k].shape)} vs {tuple(v.shape)}" for k, v in own.items()
              if k in state and tuple(state[k].shape) != tuple(v.shape)]
    if missing or unexpected or shapes:
        raise CheckpointError(
            f"checkpoint {source} does not fit the network: {len(missing)} missing keys (e.g. {missing[:2]}), "
            f"{len(unexpected)} unexpected (e.g. {unexpected[:2]}), {len(shapes)} of another shape "
            f"(e.g. {shapes[:2]}){'; ' + hint if hint else ''}")
    module.load_state_dict(state, strict=True)


def rng_state() -> dict[str, Any]:
    np_state = np.random.get_state()
    state: dict[str, Any] = {
        "torch": torch.get_rng_state(),
        "numpy": {"kind": np_state[0], "keys": torch.from_numpy(np_state[1].astype(np.int64)),
                  "pos": int(np_state[2]), "has_gauss": int(np_state[3]), "cached": float(np_state[4])},
        "python": random.getstate(),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: Mapping[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    n = state["numpy"]
    np.random.set_state((n["kind"], n["keys"].numpy().astype(np.uint32), n["pos"], n["has_gauss"], n["cached"]))
    py = state["python"]
    random.setstate((py[0], tuple(py[1]), py[2]))
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def save_checkpoint(ckpt_dir: Path, method: nn.Module, stage: str, iteration: int,
                    training_state: Mapping[str, Any], keep: int | None = None) -> CheckpointRef:
    """Write a weights + state pair, then point ``latest.json`` at it; prune to the last ``keep``."""
    ckpt_dir.mkdir(parents=True, exist_ok=True)
    stem = f"{stage}_{iteration:08d}"
    ref = CheckpointRef(ckpt_dir / f"{stem}.safetensors", ckpt_dir / f"{stem}.state.pt", stage, iteration)
    save_weights(method, ref.weights)
    state = dict(training_state, stage=stage, iteration=iteration)
    with atomic_path(ref.state) as tmp:
        torch.save(state, tmp)
    meta = {"weights": ref.weights.name, "state": ref.state.name, "stage": stage, "iteration": iteration}
    if isinstance(state.get("train_s"), int | float):
        meta["train_s"] = float(state["train_s"])
    atomic_write_json(ckpt_dir / LATEST, meta)
    if keep:
        prune(ckpt_dir, keep, protect=ref)
    return ref


def list_checkpoints(ckpt_dir: Path) -> list[CheckpointRef]:
    refs = []
    for path in sorted(ckpt_dir.glob("*.safetensors")):
        m = _NAME.match(path.name)
        state = path.with_name(path.name.replace(".safetensors", ".state.pt"))
        if m and state.is_file():
            refs.append(CheckpointRef(path, state, m["stage"], int(m["it"])))
    return refs


def prune(ckpt_dir: Path, keep: int, protect: CheckpointRef) -> None:
    """Keep the newest ``keep`` checkpoints of each stage (a finished stage keeps its last one)."""
    by_stage: dict[str, list[CheckpointRef]] = {}
    for ref in list_checkpoints(ckpt_dir):
        by_stage.setdefault(ref.stage, []).append(ref)
    for refs in by_stage.values():
        refs.sort(key=lambda r: r.iteration)
        for ref in refs[:-keep]:
            if ref != protect:
                ref.weights.unlink(missing_ok=True)
                ref.state.unlink(missing_ok=True)


def readable(ref: CheckpointRef) -> bool:
    """Whether both files of ``ref`` can be opened: the safetensors header fits the file, the training
    state loads with ``weights_only``."""
    try:
        with safe_open(str(ref.weights), framework="pt") as fh:
            fh.keys()
        torch.load(ref.state, map_location="cpu", weights_only=True)
    except Exception:
        return False
    return True


def newest_readable(ckpt_dir: Path, exclude: CheckpointRef | None = None) -> CheckpointRef | None:
    """The most recently written checkpoint in ``ckpt_dir`` whose files load (by the state file's
    modification time, then iteration), other than ``exclude``; None if there is none."""
    refs = [r for r in list_checkpoints(ckpt_dir) if r != exclude]
    refs.sort(key=lambda r: (_mtime(r.state), r.iteration), reverse=True)
    return next((r for r in refs if readable(r)), None)


def _mtime(path: Path) -> int:
    try:
        return path.stat().st_mtime_ns
    except OSError:
        return -1


def has_checkpoint(ckpt_dir: Path) -> bool:
    """Whether ``ckpt_dir`` holds anything to resume from: ``latest.json`` or a complete checkpoint pair."""
    return (ckpt_dir / LATEST).is_file() or bool(list_checkpoints(ckpt_dir))


def latest_checkpoint(ckpt_dir: Path) -> CheckpointRef | None:
    """The checkpoint ``latest.json`` names; where that file is missing, corrupt or names missing files, the
    newest readable checkpoint in ``ckpt_dir`` (with a warning that says so); None if there is none."""
    ckpt_dir = Path(ckpt_dir)
    pointer = ckpt_dir / LATEST
    problem = None
    if pointer.is_file():
        try:
            meta = json.loads(pointer.read_text())
            names = (meta["weights"], meta["state"])
            if not all(isinstance(n, str) and n and Path(n).name == n for n in names):
                raise ValueError(f"the file names {list(names)} are not names in {ckpt_dir}")
            ref = CheckpointRef(ckpt_dir / names[0], ckpt_dir / names[1], meta["stage"], int(meta["iteration"]))
        except (OSError, ValueError, KeyError, TypeError) as exc:
            problem = f"{pointer} is corrupt ({type(exc).__name__}: {exc})"
        else:
            if ref.weights.is_file() and ref.state.is_file():
                return ref
            problem = f"{pointer} names {ref.weights.name}, which is missing"
    fallback = newest_readable(ckpt_dir)
    if fallback is None:
        if problem is None and not list_checkpoints(ckpt_dir):
            return None
        what = problem or f"{ckpt_dir} holds no {LATEST}"
        raise CheckpointError(f"{what} and no checkpoint in {ckpt_dir} can be read; delete the run directory "
                              f"{ckpt_dir.parent} to start the run afresh")
    warnings.warn(f"{problem or f'{ckpt_dir} holds no {LATEST}'}; using {fallback.weights.name}, the newest "
                  f"readable checkpoint", stacklevel=2)
    return fallback


def saved_train_s(ref: CheckpointRef) -> float | None:
    """The run's training seconds up to checkpoint ``ref`` (the ``train_s`` its state records; read from
    ``latest.json`` where that names ``ref``), None for a checkpoint written before this was recorded."""
    try:
        meta = json.loads((ref.weights.parent / LATEST).read_text())
        if meta.get("weights") == ref.weights.name and isinstance(meta.get("train_s"), int | float):
            return float(meta["train_s"])
    except (OSError, ValueError, AttributeError):
        pass
    value = load_training_state(ref).get("train_s")
    return float(value) if isinstance(value, int | float) else None


def load_training_state(ref: CheckpointRef) -> dict[str, Any]:
    try:
        return torch.load(ref.state, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise CheckpointError(f"training state {ref.state} cannot be read ({exc})") from exc


def resolve_weights(path: str | Path) -> Path:
    """A run directory, its ``checkpoints/`` folder or a ``.safetensors`` file -> the weights file."""
    path = Path(path)
    if path.is_file():
        return path
    for ckpt_dir in (path / "checkpoints", path):
        if has_checkpoint(ckpt_dir):
            ref = latest_checkpoint(ckpt_dir)
            assert ref is not None
            return ref.weights
    raise CheckpointError(f"no checkpoint at {path}: expected a .safetensors file, a run directory or its "
                          f"checkpoints/ folder holding {LATEST}")
