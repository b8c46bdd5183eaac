"""SLNP-GAN's Adam vs AMM (Zhang et al. 2020, SLNP-GAN, Figs. 13-14): D_real and D_fake of runs that differ only in
``optimizer.type``, as ``run --methods slnp --sweep optimizer.type=Adam,AMM`` trains them.

Decisions:

- two runs pair when their resolved configs are equal once ``optimizer.type``, ``seed`` and the ``run``
  section (output paths) are left out; the seeds of each optimizer are drawn together (each seed a thin
  line, their mean a thick one), so ``--seeds`` shows how much of a difference is seed noise;
- "Adam" is the SISBench contract's: AMM's recurrence with alpha = 0 (the paper's Adam), not
  ``torch.optim.Adam`` (which puts eps outside the square root); the caption says so;
- D_real and D_fake are averaged over the discriminator scales (D0, D1), as the paper plots one curve
  each, and smoothed by a moving average over a 25th of the logged points.
"""

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
from benchmark.report.tables import dataset_name, figure_name
from benchmark.results import preferred_first


@dataclass(frozen=True)
class OptimizerPair:
    """Runs of one method on one dataset whose resolved configs differ only in ``optimizer.type``."""

    method: str
    dataset: str
    runs: Mapping[str, tuple[Path, ...]]    # optimizer type -> its run directories (one per seed)

    @property
    def run_dirs(self) -> list[Path]:
        return [d for dirs in self.runs.values() for d in dirs]


#: the caption every Adam-vs-AMM figure carries
ADAM_CAPTION = ("D_real and D_fake over iterations of runs that differ only in optimizer.type (averaged over "
                "the discriminator scales, moving average; thin lines: seeds, thick: their mean). 'Adam' is "
                "AMM's recurrence with alpha = 0 (the paper's Adam), not torch.optim.Adam.")


def comparable_config(run_dir: Path) -> str:
    """The resolved config minus ``optimizer.type``, ``seed`` and the ``run`` section (output paths, which
    the config hash leaves out too), as canonical JSON."""
    config = json.loads((Path(run_dir) / "config.json").read_text())
    config.pop("run", None)
    config.pop("seed", None)
    if isinstance(config.get("optimizer"), dict):
        config["optimizer"].pop("type", None)
    return json.dumps(config, sort_keys=True)


def optimizer_pairs(runs: pd.DataFrame, method: str = "slnp",
                    optimizers: tuple[str, str] = ("Adam", "AMM")) -> list[OptimizerPair]:
    """Every group of ``method`` runs that are the same experiment except for the optimizer (and seed),
    holding runs for each of ``optimizers``; one pair per group, in dataset order, each optimizer's runs
    in seed order."""
    groups: dict[tuple[str, str], dict[str, list[tuple[int, Path]]]] = {}
    for run in preferred_first(runs[runs["method"] == method]).itertuples(index=False):
        if run.optimizer not in optimizers or run.status != "finished":  # a run still training is no curve yet
            continue
        try:
            key = (run.dataset, comparable_config(run.run_dir))
        except (OSError, ValueError):
            continue
        seed = run.seed if isinstance(run.seed, int) else -1
        groups.setdefault(key, {}).setdefault(run.optimizer, []).append((seed, Path(run.run_dir)))
    return [OptimizerPair(method, dataset, {o: tuple(d for _, d in sorted(found[o], key=lambda s: s[0]))
                                            for o in optimizers})
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
    """Zhang et al. 2020 (SLNP-GAN) Figs. 13-14: (a) Adam, (b) AMM; D_real and D_fake over iterations,
    shared y axis; every seed thin, the mean over seeds thick."""
    fig = Figure(figsize=(9, 3.4), layout="constrained")
    axes = fig.subplots(1, len(pair.runs), sharey=True, squeeze=False).ravel()
    for ax, letter, (optimizer, run_dirs) in zip(axes, "abcd", pair.runs.items(), strict=False):
        curves: dict[str, list[pd.Series]] = {"D_real": [], "D_fake": []}
        for run_dir in run_dirs:
            for name, frame in discriminator_terms(read_train_log(run_dir)).items():
                curves[name].append(pd.Series(smooth(frame["loss"]).to_numpy(), index=frame["iteration"].to_numpy()))
        for (name, series), color in zip(curves.items(), ("#1f77b4", "#d62728"), strict=True):
            if len(series) > 1:
                for one in series:
                    ax.plot(one.index, one.to_numpy(), color=color, lw=0.6, alpha=0.35)
            mean = pd.concat(series, axis=1).mean(axis=1)
            ax.plot(mean.index, mean.to_numpy(), color=color, lw=1.6, label=name)
        seeds = f"{len(run_dirs)} seed{'s' if len(run_dirs) != 1 else ''}"
        shown = "Adam (AMM, alpha = 0)" if optimizer == "Adam" else optimizer
        ax.set_title(f"({letter}) {shown}, {seeds}", fontsize=10)
        ax.set_xlabel("iteration")
        ax.legend(fontsize=8)
    axes[0].set_ylabel("discriminator loss (moving average)")
    fig.suptitle(f"{figure_name(pair.method)} on {dataset_name(pair.dataset)}: "
                 f"{' vs '.join(pair.runs)} (Zhang et al. 2020, SLNP-GAN, Figs. 13-14)")
    return fig


