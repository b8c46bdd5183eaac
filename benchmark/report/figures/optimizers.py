"""SLNP-GAN's Adam vs AMM (seed 002 Figs. 13-14): D_real and D_fake of two runs that differ only in
``optimizer.type``."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
from matplotlib.figure import Figure

from benchmark.report.figures.common import FigureSkipped, smooth
from benchmark.report.figures.training import read_train_log
from benchmark.report.tables import dataset_name, paper_name
from benchmark.results import preferred_first


@dataclass(frozen=True)
class OptimizerPair:
    """Runs of one method on one dataset whose resolved configs differ only in ``optimizer.type``."""

    method: str
    dataset: str
    runs: Mapping[str, Path]    # optimizer type -> run directory


def comparable_config(run_dir: Path) -> str:
    """The resolved config minus ``optimizer.type`` and the ``run`` section (output paths, which the
    config hash leaves out too), as canonical JSON."""
    config = json.loads((Path(run_dir) / "config.json").read_text())
    config.pop("run", None)
    if isinstance(config.get("optimizer"), dict):
        config["optimizer"].pop("type", None)
    return json.dumps(config, sort_keys=True)


def optimizer_pairs(runs: pd.DataFrame, method: str = "slnp",
                    optimizers: tuple[str, str] = ("Adam", "AMM")) -> list[OptimizerPair]:
    """Every group of ``method`` runs that are the same experiment except for the optimizer, holding a run
    for each of ``optimizers``; one pair per group, in dataset order."""
    groups: dict[tuple[str, str], dict[str, Path]] = {}
    for run in preferred_first(runs[runs["method"] == method]).itertuples(index=False):
        if run.optimizer not in optimizers:
            continue
        try:
            key = (run.dataset, comparable_config(run.run_dir))
        except (OSError, ValueError):
            continue
        groups.setdefault(key, {}).setdefault(run.optimizer, Path(run.run_dir))
    return [OptimizerPair(method, dataset, {o: found[o] for o in optimizers})
            for (dataset, _), found in sorted(groups.items(), key=lambda kv: kv[0][0])
            if all(o in found for o in optimizers)]


def discriminator_terms(log: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """``D_real`` and ``D_fake`` per logged iteration, averaged over the discriminator scales (slnp logs
    ``D_real0``, ``D_real1``) so the curves read on a single discriminator's scale, as the paper plots."""
    terms = {}
    for name in ("D_real", "D_fake"):
        columns = [c for c in log.columns if re.fullmatch(rf"{name}\d*", c)]
        if not columns:
            raise FigureSkipped(f"the training log has no {name} column")
        part = log[["stage", "iteration", *columns]].dropna(subset=columns, how="all")
        terms[name] = pd.DataFrame({"iteration": part["iteration"], "stage": part["stage"],
                                    "loss": part[columns].mean(axis=1)})
    return terms


def optimizer_comparison(pair: OptimizerPair) -> Figure:
    """Seed 002 Figs. 13-14: (a) Adam, (b) AMM; D_real and D_fake over iterations, shared y axis."""
    fig = Figure(figsize=(9, 3.2), layout="constrained")
    axes = fig.subplots(1, len(pair.runs), sharey=True, squeeze=False).ravel()
    for ax, letter, (optimizer, run_dir) in zip(axes, "abcd", pair.runs.items(), strict=False):
        terms = discriminator_terms(read_train_log(run_dir))
        for (name, frame), color in zip(terms.items(), ("#1f77b4", "#d62728"), strict=True):
            ax.plot(frame["iteration"], smooth(frame["loss"]), color=color, label=name)
        ax.set_title(f"({letter}) {optimizer}", fontsize=10)
        ax.set_xlabel("iteration")
        ax.legend(fontsize=8)
    axes[0].set_ylabel("discriminator loss (moving average)")
    fig.suptitle(f"{paper_name(pair.method)} on {dataset_name(pair.dataset)}: "
                 f"{' vs '.join(pair.runs)} (seed 002 Figs. 13-14)")
    return fig


