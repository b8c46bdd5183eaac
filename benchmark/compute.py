"""What a run cost, and training budgets: FLOPs per iteration, images seen, wall time, parameters, memory.

Decisions:

- **FLOPs** are counted, not estimated: :func:`measure_gflops` runs one whole ``train_step`` of every stage
  (G and D updates, forward and backward) under ``torch.utils.flop_counter.FlopCounterMode``, once per run,
  before training. What it counts is what that counter counts: convolutions, matrix products and attention
  kernels, forward and backward (2 FLOPs per multiply-add); elementwise operations, normalisation and the
  optimizer update are not counted (they are a few percent of a convolutional GAN's arithmetic).
- **No side effects**: the step runs on a deep copy of the method with optimizers built for the copy, on
  the batch the stage's first iteration will see, with every RNG state (torch, CUDA, NumPy, Python) saved
  before and restored after, so a run's weights are bit-identical with and without the measurement
  (tests/test_cli_verdict.py checks it). A stage is measured at its first iteration (pix2pixHD with
  ``niter_fix_global`` measures the fixed-global step).
- **Per iteration** means one optimisation step of the whole job: ``batch_size x world_size`` images and
  the per-process FLOPs times the world size.
- **Budgets** (``run --budget images=N`` / ``tflops=X``) share one scale factor across a method's stages:
  every stage's configured iterations are multiplied by the same ``f`` (rounded to whole iterations per
  stage) so that the total training images, or the total measured training TFLOPs, equal the budget. The
  stages keep their proportions (a noise prior of 1 : 10 of the main stage stays 1 : 10); the images and
  compute of every stage count, the noise prior's included. Rounding leaves each stage within half an
  iteration of its share; the manifest records the iterations and the budget actually spent. A budget
  too small to give every stage one iteration is refused, naming the smallest that would. Only iteration
  counts scale: options counted in epochs (pix2pixHD's ``niter_fix_global``) keep their epochs, and the
  learning-rate schedule keeps its shape over the new length.
- **Peak memory**: on CUDA ``torch.cuda.max_memory_allocated`` (tensors only), reset at the start of the
  run. On CPU the peak resident set size (``VmHWM``) of the whole process, which Linux lets a process reset
  (``/proc/self/clear_refs``), so several runs in one ``run`` command each get their own peak; it includes
  the interpreter, torch and the dataset in memory, so ``peak_mem_baseline_mb`` (the RSS when the run
  started) is recorded beside it. Where the reset is not possible the figure is the process's peak so far
  and ``peak_mem_scope`` says ``process`` instead of ``run``.
"""

from __future__ import annotations

import copy
import math
import re
import resource
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch.utils.flop_counter import FlopCounterMode

from benchmark import checkpoint as ckpt
from benchmark.config import ConfigError
from benchmark.stages import set_stage_iterations, stage_iterations
from benchmark.step import step_each_stage
from benchmark.trainer import build_method, first_batch
from methods.base import Method, generator_parameters

BUDGET_KINDS = ("images", "tflops")


def images_per_iteration(cfg: Mapping[str, Any], world_size: int = 1) -> int:
    return int(cfg["train"]["batch_size"]) * int(world_size)


def steps_per_epoch(train_set: Any, cfg: Mapping[str, Any], world_size: int = 1) -> int:
    """Iterations per pass over the training split (the trainer's sampler drops the last partial batch)."""
    return len(train_set) // images_per_iteration(cfg, world_size)


# -- FLOPs ---------------------------------------------------------------------------------------------

def measure_gflops(method: Method, cfg: Mapping[str, Any], batch: Mapping[str, Any],
                   device: torch.device, steps_per_epoch: int | None = None) -> dict[str, float]:
    """GFLOPs of one training step of each stage (per process), counted on a deep copy of ``method``.

    ``batch``: the first training batch, on ``device``; ``steps_per_epoch``: what the trainer tells the
    step context (methods counting epochs need it). RNG states are restored afterwards."""
    rng = ckpt.rng_state()
    try:
        probe = copy.deepcopy(method)
        gflops: dict[str, float] = {}

        @contextmanager
        def counted(stage: str, optimizers: Mapping[str, Any]) -> Iterator[None]:
            counter = FlopCounterMode(display=False)
            with counter:
                yield
            gflops[stage] = counter.get_total_flops() / 1e9

        step_each_stage(probe, batch, device=device, amp=cfg["train"].get("amp", "off"),
                        grad_clip=cfg["train"].get("grad_clip"), steps_per_epoch=steps_per_epoch,
                        around_step=counted)
        del probe
    finally:
        ckpt.set_rng_state(rng)
    return gflops


def measure_config(cfg: Mapping[str, Any], train_set: Any, device: torch.device) -> dict[str, float]:
    """:func:`measure_gflops` for a config before its run exists (``--budget tflops=``): the method is built
    as the trainer builds it (seeded), and every RNG state is restored afterwards."""
    rng = ckpt.rng_state()
    try:
        torch.manual_seed(int(cfg.get("seed", 0)))
        method = build_method(cfg, train_set.info).to(device)
        batch = first_batch(train_set, cfg, device)
        return measure_gflops(method, cfg, batch, device, steps_per_epoch(train_set, cfg))
    finally:
        ckpt.set_rng_state(rng)


# -- budgets -------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Budget:
    """``--budget images=N`` (training images) or ``--budget tflops=X`` (measured training TFLOPs)."""

    kind: str
    value: float

    @classmethod
    def parse(cls, text: str) -> Budget:
        kind, _, raw = text.partition("=")
        kind = kind.strip().lower()
        try:
            value = float(raw)
        except ValueError:
            value = math.nan
        if kind not in BUDGET_KINDS or not math.isfinite(value) or value <= 0:
            raise ConfigError(f"--budget {text!r} is not a positive budget; give images=N (training images, "
                              f"e.g. images=9600) or tflops=X (measured training TFLOPs, e.g. tflops=5)")
        if kind == "images" and value != int(value):
            raise ConfigError(f"--budget {text!r}: images must be a whole number")
        return cls(kind, int(value) if kind == "images" else value)

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "value": self.value}

    def __str__(self) -> str:
        return f"{self.kind}={self.value:g}"


def apply_budget(cfg: Mapping[str, Any], budget: Budget, *, gflops: Mapping[str, float] | None = None,
                 world_size: int = 1) -> dict[str, Any]:
    """Scale ``cfg``'s stage iterations (in place) so the run spends ``budget``; set ``cfg["budget"]``.

    Returns the manifest's budget record: kind, value, the configured and the resulting iterations per
    stage, the scale factor, and the images and TFLOPs actually spent. ``gflops`` (per stage, per
    process; :func:`measure_gflops`) is needed for a TFLOPs budget."""
    preset = stage_iterations(cfg)
    per_image = images_per_iteration(cfg, world_size)
    if budget.kind == "images":
        cost = {s: float(per_image) for s in preset}
        unit = "images"
    else:
        if gflops is None:
            raise ValueError("a TFLOPs budget needs the measured GFLOPs per iteration of each stage")
        cost = {s: gflops[s] * world_size / 1e3 for s in preset}
        unit = "TFLOPs"
        if sum(cost[s] * n for s, n in preset.items()) <= 0:
            raise ConfigError(f"{cfg['method']}: no FLOPs were counted in a training step; a TFLOPs budget "
                              f"cannot be applied")
    total = sum(cost[s] * n for s, n in preset.items())
    scale = budget.value / total
    iters = {s: int(math.floor(scale * n + 0.5)) for s, n in preset.items()}
    short = [s for s, n in iters.items() if preset[s] > 0 and n < 1]
    if short:
        smallest = min(preset[s] for s in preset if preset[s] > 0)
        need = 0.5 / smallest * total
        need_text = f"images={math.ceil(need)}" if budget.kind == "images" else f"tflops={need:.3g}"
        raise ConfigError(f"--budget {budget} gives {cfg['method']}'s stage {short[0]!r} no iteration "
                          f"(one iteration costs {cost[short[0]]:.4g} {unit}); the smallest budget that "
                          f"trains every stage is {need_text}")
    set_stage_iterations(cfg, iters)
    cfg["budget"] = budget.to_dict()
    derivation = cfg["train"].get("epochs_derivation")
    if isinstance(derivation, Mapping):  # a paper schedule in epochs: the budget's iterations win, say so
        derivation["iters_overridden"] = int(cfg["train"]["iters"])
        derivation["overridden_by"] = f"--budget {budget}"
    spent_images = sum(iters.values()) * per_image
    record: dict[str, Any] = {**budget.to_dict(), "preset_iterations": preset, "iterations": iters,
                              "scale": scale, "images": spent_images, "world_size": world_size}
    if gflops is not None:
        record["gflops_per_iter_by_stage"] = {s: gflops[s] * world_size for s in iters}
        record["tflops"] = sum(gflops[s] * world_size * n for s, n in iters.items()) / 1e3
    return record


# -- the compute record --------------------------------------------------------------------------------

def compute_record(cfg: Mapping[str, Any], method: Method, iterations: Mapping[str, int],
                   gflops: Mapping[str, float], *, train_s: float, memory: Mapping[str, Any],
                   world_size: int = 1) -> dict[str, Any]:
    """The manifest's ``compute`` section (keys of the team contract, plus a few)."""
    total_iters = int(sum(iterations.values()))
    per_iter = {s: float(gflops.get(s, 0.0)) * world_size for s in iterations}
    total_gflops = sum(per_iter[s] * n for s, n in iterations.items())
    return {
        "iterations": total_iters,
        "iterations_by_stage": {s: int(n) for s, n in iterations.items()},
        "images_seen": total_iters * images_per_iteration(cfg, world_size),
        "batch_size": int(cfg["train"]["batch_size"]),
        "world_size": world_size,
        "train_s": round(float(train_s), 3),
        "gflops_per_iter": total_gflops / total_iters if total_iters else 0.0,
        "gflops_per_iter_by_stage": per_iter,
        "tflops_total": total_gflops / 1e3,
        "flop_counter": "torch.utils.flop_counter.FlopCounterMode, one train_step per stage (fwd + bwd)",
        "params_G_M": generator_parameters(method) / 1e6,
        "generator_networks": list(method.generator_networks),
        **memory,
    }


def cumulative(iterations: Mapping[str, int], gflops: Mapping[str, float], stage: str, done: int, *,
               images_per_iter: int, world_size: int = 1) -> tuple[int, float]:
    """``(images seen, TFLOPs spent)`` after ``done`` iterations of ``stage``, every earlier stage complete."""
    its, flops = 0, 0.0
    for s, n in iterations.items():
        k = done if s == stage else n
        its += k
        flops += k * gflops.get(s, 0.0) * world_size
        if s == stage:
            break
    return its * images_per_iter, flops / 1e3


# -- peak memory ---------------------------------------------------------------------------------------

_STATUS = Path("/proc/self/status")


def _status_mb(field: str) -> float | None:
    try:
        match = re.search(rf"^{field}:\s+(\d+)\s+kB", _STATUS.read_text(), re.MULTILINE)
    except OSError:
        return None
    return int(match.group(1)) / 1024 if match else None


class PeakMemory:
    """The peak memory of one run (see the module docstring for what the CPU figure means)."""

    def __init__(self, device: torch.device):
        self.device = torch.device(device)
        self.scope = "run"
        self.baseline: float | None = None

    def start(self) -> None:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
            torch.cuda.reset_peak_memory_stats(self.device)
            return
        try:
            Path("/proc/self/clear_refs").write_text("5")  # 5: reset the peak RSS (VmHWM) to the current RSS
        except OSError:
            self.scope = "process"
        self.baseline = _status_mb("VmRSS")

    def read(self) -> dict[str, Any]:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
            return {"peak_mem_mb": torch.cuda.max_memory_allocated(self.device) / 2**20,
                    "peak_mem_kind": "cuda_allocated", "peak_mem_scope": "run"}
        peak = _status_mb("VmHWM")
        if peak is None:  # not Linux: the process's peak so far (ru_maxrss is bytes on macOS, KiB elsewhere)
            raw = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
            peak, self.scope = raw / (2**20 if sys.platform == "darwin" else 1024), "process"
        return {"peak_mem_mb": peak, "peak_mem_kind": "cpu_rss", "peak_mem_scope": self.scope,
                "peak_mem_baseline_mb": self.baseline}
