"""Configuration: mmengine Config files with ``_base_`` inheritance, presets, and ``--set`` overrides.

A run's config is merged from these files, later ones winning (each may use ``_base_``):

1. ``configs/_base_/schedules/<preset>.py``          -- iterations, batch size, cadences, AMP, EMA
2. ``configs/_base_/datasets/<dataset>.py``          -- the ``data`` section
3. ``configs/<method>/<method>_<preset>.py``         -- ``model``, ``optimizer``, ``loss``, ...
4. ``configs/<method>/<method>_<dataset>.py``        -- optional dataset-specific settings of a method

Any file may hold ``presets = dict(tiny=dict(...), paper=dict(...))``: the chosen preset's entry is merged
over that file's own content (a dataset's image size differs between the CPU and GPU presets, say).
``--set key=value`` then changes one existing key; a key the config does not have is an error, so a typo
never passes silently. The resolved config is dumped with every run, the non-default keys marked.
"""

from __future__ import annotations

import ast
import copy
import hashlib
import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from mmengine.config import Config

from benchmark.schedule import apply_epochs

PRESETS = ("tiny", "paper")
CONFIG_ROOT = Path(__file__).resolve().parent.parent / "configs"


class ConfigError(ValueError):
    """A config could not be resolved (unknown preset, missing file, bad override)."""


def _load_file(path: Path, preset: str) -> dict[str, Any]:
    cfg = Config.fromfile(str(path)).to_dict()
    presets = cfg.pop("presets", None) or {}
    if preset in presets:
        cfg = merge(cfg, presets[preset])
    return cfg


def merge(base: Mapping[str, Any], other: Mapping[str, Any]) -> dict[str, Any]:
    """Recursive dict merge; ``other`` wins; a dict holding ``_delete_=True`` replaces instead."""
    out = copy.deepcopy(dict(base))
    for key, value in other.items():
        if isinstance(value, Mapping) and value.get("_delete_"):
            out[key] = {k: copy.deepcopy(v) for k, v in value.items() if k != "_delete_"}
        elif isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            out[key] = merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def config_files(method: str, dataset: str, preset: str, root: Path = CONFIG_ROOT) -> list[Path]:
    if preset not in PRESETS:
        raise ConfigError(f"unknown preset {preset!r}; valid presets: {', '.join(PRESETS)}")
    required = [
        root / "_base_" / "schedules" / f"{preset}.py",
        root / "_base_" / "datasets" / f"{dataset}.py",
        root / method / f"{method}_{preset}.py",
    ]
    for path in required:
        if not path.is_file():
            raise ConfigError(f"config file {path} is missing; a method needs configs/{method}/{method}_{preset}.py "
                              f"and a dataset configs/_base_/datasets/{dataset}.py")
    optional = root / method / f"{method}_{dataset}.py"
    return required + ([optional] if optional.is_file() else [])


def parse_override(item: str) -> tuple[str, Any]:
    """``"model.ngf=32"`` -> ``("model.ngf", 32)``; values are Python literals, else strings."""
    if "=" not in item:
        raise ConfigError(f"--set {item!r} is not of the form key=value (e.g. --set model.ngf=32)")
    key, raw = item.split("=", 1)
    key = key.strip()
    try:
        value = ast.literal_eval(raw.strip())
    except (ValueError, SyntaxError):
        value = raw.strip()
    return key, value


def apply_overrides(cfg: dict[str, Any], overrides: Sequence[str]) -> list[tuple[str, Any, Any]]:
    """Apply ``--set`` overrides in place; return ``(key, old, new)`` for each."""
    changed = []
    for item in overrides:
        key, value = parse_override(item)
        node = cfg
        parts = key.split(".")
        for i, part in enumerate(parts[:-1]):
            if not isinstance(node, dict) or part not in node:
                raise ConfigError(f"--set {key}: the config has no key {'.'.join(parts[:i + 1])!r}; "
                                  f"see the run's config.py or `python -m benchmark config` for valid keys")
            node = node[part]
        if not isinstance(node, dict) or parts[-1] not in node:
            near = sorted(node) if isinstance(node, dict) else []
            hint = f" (keys there: {', '.join(near)})" if near else ""
            raise ConfigError(f"--set {key}: the config has no key {key!r}{hint}")
        old = node[parts[-1]]
        if isinstance(old, tuple) and isinstance(value, list):
            value = tuple(value)
        node[parts[-1]] = value
        changed.append((key, old, value))
    return changed


def load_config(method: str, dataset: str, preset: str = "tiny", overrides: Sequence[str] = (),
                root: Path = CONFIG_ROOT, extra_files: Sequence[str | Path] = ()) -> Config:
    """Resolve the config of ``method`` on ``dataset`` at ``preset``, then ``extra_files`` (``--config``,
    e.g. a variant such as configs/pix2pixhd/variants/pix2pixhd_cityscapes_1024p.py), then ``--set``."""
    cfg: dict[str, Any] = {}
    files = config_files(method, dataset, preset, root)
    for extra in extra_files:
        path = Path(extra)
        if not path.is_file():
            raise ConfigError(f"--config {extra}: no such file")
        files.append(path.resolve())
    for path in files:
        cfg = merge(cfg, _load_file(path, preset))
    cfg["method"] = method
    cfg["dataset"] = dataset
    cfg["preset"] = preset
    changed = apply_overrides(cfg, overrides)
    apply_epochs(cfg, {key for key, _, _ in changed})   # paper schedules in epochs -> train.iters
    resolved = Config(cfg)
    resolved["_meta_"] = {"files": [_display(p, root.parent) for p in files],
                          "overrides": [[k, _plain(o), _plain(n)] for k, o, n in changed]}
    return resolved


def load_data_config(dataset: str, preset: str = "tiny", overrides: Sequence[str] = (),
                     root: Path = CONFIG_ROOT) -> dict[str, Any]:
    """The ``data`` section of a dataset at a preset, with ``--set data.<key>=...`` overrides."""
    path = root / "_base_" / "datasets" / f"{dataset}.py"
    if not path.is_file():
        raise ConfigError(f"config file {path} is missing; a dataset needs configs/_base_/datasets/{dataset}.py")
    cfg = _load_file(path, preset)
    apply_overrides(cfg, overrides)
    return cfg["data"]


def _display(path: Path, base: Path) -> str:
    try:
        return str(path.relative_to(base))
    except ValueError:
        return str(path)


def _plain(value: Any) -> Any:
    return json.loads(json.dumps(value, default=str))


def to_plain(cfg: Config | Mapping[str, Any]) -> dict[str, Any]:
    """A JSON-able plain dict of the config without its ``_meta_`` record."""
    d = cfg.to_dict() if isinstance(cfg, Config) else dict(cfg)
    d.pop("_meta_", None)
    return _plain(d)


def config_hash(cfg: Config | Mapping[str, Any], exclude: Sequence[str] = ("run",)) -> str:
    """A stable hash of what determines a run's result (the ``run`` section, e.g. output paths, excluded)."""
    d = to_plain(cfg)
    for key in exclude:
        d.pop(key, None)
    return hashlib.sha256(json.dumps(d, sort_keys=True).encode()).hexdigest()


def dump_config(cfg: Config, path: Path) -> None:
    """Write the resolved config as a Python config file, the non-default keys marked at the top."""
    from benchmark.io import atomic_write_text

    meta = cfg.get("_meta_", {})
    lines = ["# Resolved SISBench config.", f"# Built from: {', '.join(meta.get('files', []))}"]
    overrides = meta.get("overrides", [])
    if overrides:
        lines.append("# Non-default keys (changed with --set):")
        lines += [f"#   {k} = {n!r}   (default: {o!r})" for k, o, n in overrides]
    else:
        lines.append("# Non-default keys: none (every value is the preset's default).")
    body = Config(to_plain(cfg)).pretty_text
    atomic_write_text(path, "\n".join(lines) + "\n\n" + body + "\n")
