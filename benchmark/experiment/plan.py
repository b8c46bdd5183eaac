"""The experiment as data: what a ``run`` command asks for, resolved into a list of :class:`PlannedRun`.

:func:`make_plan` does every check that must hold before anything trains -- each config resolves (and passes
:func:`benchmark.validate.check_config` where that module exists), every dataset split is readable, a
budget can be spent, a finished run can give the asked-for learning curve, the protocol can score the
dataset and the number of evaluation images is enough for its metrics -- and nothing it does writes a run
directory. Each planned run carries its resolved config as plain data, its run id and directory, and its
state (``finished``, ``partial`` with its last checkpoint, or ``new``), so it can be executed in another
process or on another machine (:func:`benchmark.experiment.execute.execute_run`).
"""

from __future__ import annotations

import copy
import json
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from itertools import product
from pathlib import Path
from typing import Any, NamedTuple

from mmengine.config import Config

from benchmark.runs import PAST_THREADS, RunError, set_threads  # noqa: F401 - re-exported

FINISHED, PARTIAL, NEW = "finished", "partial", "new"


class PlanError(RunError):
    """A ``run`` command that cannot be planned; the message names the cause and the fix."""


@dataclass(frozen=True)
class PlannedRun:
    """One run of a plan: a method at one seed and one combination of swept values. Picklable, no CLI objects.

    ``config`` is the resolved config as plain data (:func:`benchmark.config.to_plain`, plus its ``_meta_``
    provenance record so the run's ``config.py`` names the non-default keys); :meth:`cfg` rebuilds it."""

    method: str
    dataset: str
    preset: str
    seed: int
    sweep: dict[str, Any]
    budget: dict[str, Any] | None
    gflops: dict[str, float] | None
    config: dict[str, Any]
    run_id: str
    run_dir: Path
    state: str
    checkpoint: str | None
    label: str

    def cfg(self) -> Config:
        """The resolved config as an mmengine ``Config`` (a copy: the planned run stays unchanged)."""
        return Config(copy.deepcopy(self.config))

    @property
    def iterations(self) -> dict[str, int]:
        from benchmark.compute import stage_iterations

        return stage_iterations(self.cfg())


@dataclass(frozen=True)
class RunOptions:
    """What :func:`~benchmark.experiment.execute.execute_run` needs beyond the run; picklable.

    ``protocol``: the protocol id (resolved). ``threads``: the CPU threads a run trains with (recorded in its
    config as ``threads`` when it trains on the CPU). ``curve``: ``{"every": K}`` for ``--eval-every K``.
    ``executor``: how the run is executed, recorded in its manifest. ``seed``: the seed the oracle is scored
    with (``--seed`` / the first of ``--seeds``). ``wait``: wait for a run another process holds (else it is
    reported as pending)."""

    out: Path
    protocol: str
    device: str | None = None
    num_images: int | None = None
    inception_weights: str | None = None
    segmenter_checkpoint: str | None = None
    lpips_weights: str | None = None
    progress: bool = True
    threads: int | None = None
    curve: dict | None = None
    argv: list[str] | None = None
    executor: dict[str, Any] | None = None
    seed: int | None = None
    wait: bool = True

    def eval_options(self, seed: int | None) -> dict[str, Any]:
        """The evaluation harness's options for a run of ``seed`` (the CLI's ``_eval_options`` as it was)."""
        return {"device": self.device, "inception_weights": self.inception_weights,
                "segmenter_checkpoint": self.segmenter_checkpoint, "num_images": self.num_images,
                "seed": self.seed if seed is None else seed, "lpips_weights": self.lpips_weights}

    def curve_spec(self, seed: int | None) -> Any:
        from benchmark.curve import CurveSpec

        if not self.curve:
            return None
        return CurveSpec(int(self.curve["every"]), self.protocol, self.eval_options(seed))


@dataclass(frozen=True)
class PlanRequest:
    """What the command line asks for. ``resolve(method, seed, extra_overrides)`` is the CLI's config
    resolution (presets, ``--set``, ``--iters`` ...); ``sweeps``: ``[(key, [value text, ...])]``;
    ``budget``: a :class:`benchmark.compute.Budget` or None; ``show_seed``: labels name the seed."""

    methods: Sequence[str]
    dataset: str
    resolve: Callable[[str, int | None, Sequence[str]], Config]
    seeds: Sequence[int] | None = None
    sweeps: Sequence[tuple[str, Sequence[str]]] = ()
    budget: Any = None
    show_seed: bool = False
    announce: Callable[[str], None] = print
    device: str | None = None
    check: bool = True  # call benchmark.validate.check_config (False where ``resolve`` already does)


# -- evaluation image counts ------------------------------------------------------------------------------

def _split_length(cfg: Mapping[str, Any], split: str) -> int:
    from benchmark.pipeline import checked_dataset

    return len(checked_dataset(cfg["data"], split, train=False))


def generated_count(cfg: Mapping[str, Any], num_images: int | None) -> int:
    """How many images ``images/`` must hold: the first ``num_images`` of the evaluation split (all of it
    without ``--num-images``)."""
    from benchmark.pipeline import eval_split

    n = _split_length(cfg, eval_split(cfg))
    return n if num_images is None else min(num_images, n)


def scored_count(cfg: Mapping[str, Any], protocol: str, num_images: int | None) -> int:
    """How many images a record of ``protocol`` scores (``--num-images``, else the protocol's count, capped
    by its split): part of a record's identity."""
    from metrics.protocols import get_protocol

    p = get_protocol(protocol)
    n = _split_length(cfg, p.split)
    limit = num_images if num_images is not None else p.num_images
    return n if limit is None else min(limit, n)


def minimum_images(protocol: str, active: Sequence[str]) -> tuple[int, str | None]:
    """The fewest evaluation images the protocol's active metrics can be computed from, and the metric
    that needs them."""
    from metrics.protocols import get_protocol

    p = get_protocol(protocol)
    need, why = 1, None
    for name in active:
        if name in ("fd_seg", "fid", "kid") and need < 2:
            need, why = 2, name  # a covariance (or a pairwise kernel) of at least two images
        if name == "precision_recall" and need < p.prc_neighborhood + 1:
            need, why = p.prc_neighborhood + 1, name
    return need, why


# -- the plan ----------------------------------------------------------------------------------------------

def _has_key(cfg: Any, key: str) -> bool:
    node = cfg
    for part in key.split("."):
        if not isinstance(node, dict) or part not in node:
            return False
        node = node[part]
    return True


def _label(method: str, sweep: Mapping[str, Any], seed: int, show_seed: bool) -> str:
    parts = [method, *(f"{k}={v}" for k, v in sweep.items())]
    if show_seed:
        parts.append(f"seed {seed}")
    return " ".join(parts)


def _check_config() -> Callable[..., None] | None:
    try:
        from benchmark.validate import check_config
    except ImportError:
        return None
    return check_config


def run_state(run_dir: Path) -> tuple[str, str | None]:
    """``(state, checkpoint)``: finished / partial with ``"<stage>@<iteration>"`` / new."""
    from benchmark import checkpoint as ckpt
    from benchmark import runs

    if runs.is_finished(run_dir):
        return FINISHED, None
    if (Path(run_dir) / "checkpoints" / ckpt.LATEST).is_file():
        try:
            ref = ckpt.latest_checkpoint(Path(run_dir) / "checkpoints")
        except ckpt.CheckpointError:
            return PARTIAL, "unreadable"
        return PARTIAL, None if ref is None else f"{ref.stage}@{ref.iteration}"
    return NEW, None


def _plain_config(cfg: Config) -> dict[str, Any]:
    from benchmark.config import to_plain

    plain = to_plain(cfg)
    meta = cfg.get("_meta_")
    if meta is not None:
        plain["_meta_"] = json.loads(json.dumps(meta.to_dict() if hasattr(meta, "to_dict") else meta,
                                                default=str))
    return plain


class PlannedConfig(NamedTuple):
    method: str
    cfg: Config
    sweep: dict[str, Any]


def plan_configs(request: PlanRequest) -> list[PlannedConfig]:
    """Every (method, sweep values, seed) config of ``request``, resolved (and checked by the CLI's resolution,
    :func:`benchmark.validate.check_config` included), in plan order: methods, then sweep values, then seeds."""
    from benchmark.compute import stage_iterations
    from benchmark.config import parse_override

    check_config = _check_config()
    out = []
    for name in request.methods:
        base = request.resolve(name, None, ())
        for key, _ in request.sweeps:
            if not _has_key(base.to_dict(), key):
                raise PlanError(f"--sweep {key}: the {name} config has no key {key!r}; see `python -m benchmark "
                                f"config --method {name}` for its keys")
        for combo in product(*[values for _, values in request.sweeps]):
            extra = [f"{key}={value}" for (key, _), value in zip(request.sweeps, combo, strict=True)]
            sweep = dict(parse_override(e) for e in extra)
            for seed in request.seeds or [None]:
                cfg = request.resolve(name, seed, extra)
                if check_config is not None and request.check:
                    check_config(cfg, device=request.device)
                cfg["run"] = {"sweep": sweep}  # the ``run`` section stays out of the config hash
                stage_iterations(cfg)  # a schedule that trains nothing is refused now, not after other runs
                out.append(PlannedConfig(name, cfg, sweep))
    return out


def make_plan(request: PlanRequest, options: RunOptions) -> list[PlannedRun]:
    """Every (method, sweep values, seed) run of ``request``, each checked before anything trains.

    Prints what ``run`` always printed while preparing (the budget lines, a protocol's FID fallback)."""
    from benchmark import evaluation, pipeline, runs
    from benchmark.trainer import DistInfo, pick_device

    device = pick_device(options.device, DistInfo())
    configs = [(c.method, c.cfg, c.sweep) for c in plan_configs(request)]
    for _, cfg, _ in configs:
        set_threads(cfg, options.threads, device)
    for _, cfg, _ in configs:  # every dataset split is readable before anything trains
        pipeline.checked_dataset(cfg["data"], "train", train=True)
    budgets: list[tuple[dict[str, Any] | None, dict[str, float] | None]] = [(None, None)] * len(configs)
    if request.budget is not None:
        budgets = _apply_budget(configs, request.budget, device, request)
    for _, cfg, _ in configs:  # a finished run that cannot give the asked-for curve is named now
        pipeline.check_run(options.out, cfg, options.curve_spec(int(cfg.get("seed", 0))))
    first = configs[0][1]
    eval_seed = request.seeds[0] if request.seeds else None
    # ... and the protocol can score it (a segmenter the protocol trains itself is trained now)
    ready = evaluation.preflight(first["data"], request.dataset, protocol=options.protocol,
                                 **options.eval_options(eval_seed))
    if ready["fallback"]:
        request.announce(f"[{ready['protocol']}] no FID: {ready['fallback']['reason']} -> reporting FD-seg instead")
    need, why = minimum_images(options.protocol, ready["metrics"])
    have = scored_count(first, options.protocol, options.num_images)
    if have < need:
        given = f"--num-images {options.num_images}" if options.num_images is not None else \
            f"the {have} evaluation images of the split"
        raise PlanError(f"{given} is too few for protocol {options.protocol}: its {why} needs at least {need} "
                        f"images; give --num-images {need} or more (or leave it out to score the whole split)")
    plan = []
    for (name, cfg, sweep), (budget, gflops) in zip(configs, budgets, strict=True):
        run_dir = runs.run_dir_for(options.out, cfg)
        state, at = run_state(run_dir)
        seed = int(cfg.get("seed", 0))
        plan.append(PlannedRun(method=name, dataset=cfg["dataset"], preset=cfg["preset"], seed=seed,
                               sweep=sweep, budget=budget, gflops=gflops, config=_plain_config(cfg),
                               run_id=run_dir.name, run_dir=run_dir, state=state, checkpoint=at,
                               label=_label(name, sweep, seed, request.show_seed)))
    return plan


def _apply_budget(configs: list[tuple[str, Config, dict[str, Any]]], budget: Any, device: Any,
                  request: PlanRequest) -> list[tuple[dict[str, Any], dict[str, float] | None]]:
    """Give every planned run the same budget (TFLOPs budgets measure each config's GFLOPs first)."""
    from benchmark import pipeline
    from benchmark.compute import apply_budget, measure_config

    world = int(os.environ.get("WORLD_SIZE", "1"))
    shown, out = set(), []
    for name, cfg, sweep in configs:
        gflops = None
        if budget.kind == "tflops":
            gflops = measure_config(cfg, pipeline.checked_dataset(cfg["data"], "train", train=True), device)
        spent_budget = apply_budget(cfg, budget, gflops=gflops, world_size=world)
        line = " + ".join(f"{s} {n}" for s, n in spent_budget["iterations"].items())
        spent = f"{spent_budget['images']} images" + (f", {spent_budget['tflops']:.4g} TFLOPs" if gflops else "")
        text = f"[budget {budget}] {_label(name, sweep, 0, False)}: {line} iterations ({spent})"
        if text not in shown:
            shown.add(text)
            request.announce(text)
        out.append((spent_budget, gflops))
    return out


def format_plan(plan: Sequence[PlannedRun]) -> str:
    """The plan as a table: method, seed, sweep, preset, run id, state, iterations (``run --dry-run``)."""
    header = ("method", "seed", "sweep", "preset", "run id", "state", "iterations")
    rows = []
    for run in plan:
        sweep = ", ".join(f"{k}={v}" for k, v in run.sweep.items()) or "-"
        state = run.state if run.checkpoint is None else f"{run.state} ({run.checkpoint})"
        iters = " + ".join(f"{s} {n}" for s, n in run.iterations.items())
        rows.append((run.method, str(run.seed), sweep, run.preset, run.run_id, state, iters))
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in [header, *rows]]
    lines.insert(1, "  ".join("-" * w for w in widths))
    counts = {s: sum(r.state == s for r in plan) for s in (FINISHED, PARTIAL, NEW)}
    lines.append(f"{len(plan)} run{'s' * (len(plan) != 1)}: " + ", ".join(f"{n} {s}" for s, n in counts.items()))
    return "\n".join(lines)
