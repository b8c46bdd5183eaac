"""Training loss curves per dataset, one panel per run and stage (``train_log.csv``)."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pandas as pd
from matplotlib.figure import Figure

from benchmark.report.dataset_tables import row_label
from benchmark.report.figures.common import FigureSkipped, grid_shape, method_color, smooth
from benchmark.report.tables import dataset_name

#: line styles of the loss groups in a loss-curve panel (G, D, VAE, ...: the prefix of the loss name),
#: fixed per network so that a dashed line is D in every panel
GROUP_STYLES = {"G": "-", "D": "--", "VAE": ":"}
OTHER_STYLE = "-."


def group_style(group: str) -> str:
    """The line style of a loss group (a network)."""
    return GROUP_STYLES.get(group, OTHER_STYLE)
LOG_META_COLUMNS = ("stage", "iteration", "it_per_s", "elapsed_s")


def read_train_log(run_dir: Path) -> pd.DataFrame:
    """``train_log.csv`` of a run (a ``stage`` column added for logs that lack one)."""
    path = Path(run_dir) / "train_log.csv"
    if not path.is_file():
        raise FigureSkipped(f"{run_dir} has no train_log.csv")
    log = pd.read_csv(path)
    if log.empty or "iteration" not in log:
        raise FigureSkipped(f"{path} holds no logged iterations")
    if "stage" not in log:
        log["stage"] = "main"
    return log


def loss_groups(log: pd.DataFrame) -> dict[str, list[str]]:
    """Loss columns grouped by network (the name's prefix: ``G_GAN`` -> ``G``)."""
    groups: dict[str, list[str]] = {}
    for column in log.columns:
        if column in LOG_META_COLUMNS or column.startswith("lr_"):
            continue
        if pd.api.types.is_numeric_dtype(log[column]):
            groups.setdefault(column.split("_")[0], []).append(column)
    return groups


def loss_curves(runs: pd.DataFrame, dataset: str) -> Figure:
    """One panel per run and training stage on ``dataset`` (stages apart: SLNP-GAN's VAE losses are
    hundreds of times its GAN losses): each network's summed loss terms (solid G, dashed D, dotted VAE,
    in every panel); titles name the swept values, the seed and any further ``--set`` values."""
    panels = []
    for run in runs[runs["dataset"] == dataset].itertuples(index=False):
        try:
            log = read_train_log(run.run_dir)
        except FigureSkipped:
            continue
        stages = list(dict.fromkeys(log["stage"]))
        panels += [(run, stage if len(stages) > 1 else None, part) for stage, part in log.groupby("stage", sort=False)]
    if not panels:
        raise FigureSkipped(f"no run on {dataset} has a train_log.csv")
    rows, cols = grid_shape(len(panels))
    fig = Figure(figsize=(4.2 * cols, 3.0 * rows), layout="constrained")
    axes = fig.subplots(rows, cols, squeeze=False).ravel()
    for ax, (run, stage, log) in zip(axes, panels, strict=False):
        for group, columns in loss_groups(log).items():
            style = group_style(group)
            part = log[["iteration", *columns]].dropna(subset=columns, how="all")
            if part.empty:
                continue
            ax.plot(part["iteration"], smooth(part[columns].sum(axis=1, min_count=1)), style,
                    color=method_color(run.method), label=f"{group}: {' + '.join(columns)}")
        variant = "\n" + textwrap.fill(run.overrides, 70) if isinstance(run.overrides, str) and run.overrides else ""
        seed = f", seed {run.seed}" if isinstance(run.seed, int) else ""
        ax.set_title(f"{row_label(run.method, run.sweep or '')} ({run.run_id}{seed}){', ' + stage if stage else ''}"
                     f"{variant}", fontsize=8, color=method_color(run.method))
        ax.set_xlabel("iteration")
        ax.set_ylabel("loss (moving average)")
        ax.legend(fontsize=6)
    for ax in axes[len(panels):]:
        ax.set_visible(False)
    fig.suptitle(f"Training losses on {dataset_name(dataset)}")
    return fig


