"""A method's training stages and how many iterations each runs (``train.stages.<stage>.iters``, else
``train.iters``).

Below both the trainer (which runs the stages) and :mod:`benchmark.compute` (which measures and budgets
them); ``benchmark.compute`` re-exports these names.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from benchmark.registry import METHODS
from benchmark.user_error import ConfigError


def method_stages(cfg: Mapping[str, Any]) -> tuple[str, ...]:
    """The stages of the config's method, in training order."""
    return tuple(METHODS.get(cfg["method"]).stages)


def stage_iterations(cfg: Mapping[str, Any]) -> dict[str, int]:
    """Configured iterations of each stage (``train.stages.<stage>.iters``, else ``train.iters``).

    Refuses a negative stage length and a schedule that trains nothing at all: such a run would score
    an untrained generator."""
    tcfg = cfg["train"]
    per_stage = tcfg.get("stages") or {}
    iters = {}
    for stage in method_stages(cfg):
        value = (per_stage.get(stage) or {}).get("iters", tcfg["iters"])
        if not isinstance(value, int) or isinstance(value, bool) or value < 0:
            key = f"train.stages.{stage}.iters" if "iters" in (per_stage.get(stage) or {}) else "train.iters"
            raise ConfigError(f"{key} of {cfg['method']} is {value!r}; iterations must be a whole number >= 0 "
                              f"(and at least one stage must train)")
        iters[stage] = value
    if sum(iters.values()) < 1:
        raise ConfigError(f"{cfg['method']} would train 0 iterations ({fmt_stages(iters)}); give a positive "
                          f"--iters (or train.iters)")
    return iters


def set_stage_iterations(cfg: Mapping[str, Any], iters: Mapping[str, int]) -> None:
    """Write per-stage iterations into ``cfg`` where :func:`stage_iterations` reads them (in place)."""
    tcfg = cfg["train"]
    per_stage = tcfg.get("stages") or {}
    for stage, n in iters.items():
        entry = per_stage.get(stage)
        if isinstance(entry, Mapping) and "iters" in entry:
            entry["iters"] = int(n)
        else:
            tcfg["iters"] = int(n)


def fmt_stages(iters: Mapping[str, Any]) -> str:
    return ", ".join(f"{s} {n}" for s, n in iters.items())
