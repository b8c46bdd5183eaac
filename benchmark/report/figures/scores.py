"""Scores: metric bar charts per dataset and table block, with the tables' 95% intervals as error bars.

Each bar is an experiment of the dataset table (:mod:`benchmark.report.dataset_tables`): its mean over
seeds, a black error bar for the t interval over seeds (grey and dashed for a one-seed bootstrap interval
over the evaluation images), every seed's value as a dot, the rank in the tick label; the oracle (real
images, same protocol key) as a dashed line.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from benchmark.report.dataset_tables import DatasetTable, TableBlock, is_bootstrap
from benchmark.report.figures.common import FigureSkipped, method_color
from benchmark.report.stats import DIRECTIONS
from benchmark.results import CI_SUFFIX, ORACLE
from metrics.texture import Texture


def metric_bars(table: DatasetTable, block: TableBlock) -> tuple[Figure, list[Path]]:
    """One panel per metric of ``block``: a bar per experiment with its interval and seeds, the oracle
    as a dashed line."""
    rows = block.rows
    methods = rows[rows["registry_name"] != ORACLE]
    oracle = rows[rows["registry_name"] == ORACLE]
    metrics = [m for m in table.metrics if methods[m].notna().any()]
    if methods.empty or not metrics:
        raise FigureSkipped(f"no method run on {table.dataset} has numbers under {block.title}")
    seeds = table.seeds[table.seeds["block"] == block.block]
    fig = Figure(figsize=(max(3.2, 0.8 * len(methods) + 1.6) * len(metrics), 3.8), layout="constrained")
    axes = fig.subplots(1, len(metrics), squeeze=False).ravel()
    for ax, metric in zip(axes, metrics, strict=True):
        labels = []
        for x, (_, row) in enumerate(methods.iterrows()):
            value, ci = float(row[metric]), float(row[f"{metric}{CI_SUFFIX}"])
            ax.bar(x, 0.0 if np.isnan(value) else value, color=method_color(row["registry_name"]), alpha=0.85)
            if np.isnan(value):
                ax.annotate("not measured", (x, 0), ha="center", va="bottom", fontsize=7, rotation=90)
            else:
                boot = is_bootstrap(row)
                if not np.isnan(ci):
                    bars = ax.errorbar(x, value, yerr=ci, fmt="none", capsize=5, lw=1.4,
                                       ecolor="#777777" if boot else "black")
                    if boot:
                        bars[2][0].set_linestyle("--")
                mine = seeds[(seeds["group"] == row["group"]) & (seeds["registry_name"] == row["registry_name"])]
                points = mine[metric].to_numpy(dtype=float)
                if len(points) > 1:
                    offsets = np.linspace(-0.18, 0.18, len(points))
                    ax.plot(x + offsets, points, "o", ms=3.5, color="black", mfc="white", mew=0.8, zorder=3)
                top = value + (0.0 if np.isnan(ci) else ci)
                ax.annotate(f"{value:.3g}", (x, top), xytext=(0, 2), textcoords="offset points", ha="center",
                            va="bottom", fontsize=7)
            rank = row[f"{metric}_rank"]
            n = "" if pd.isna(row["n_seeds"]) else f"n={int(row['n_seeds'])}"
            labels.append(f"{row['method']}\n{n}" + ("" if pd.isna(rank) else f", rank {int(rank)}"))
        if not oracle.empty and oracle[metric].notna().any():
            ax.axhline(float(oracle[metric].dropna().iloc[0]), color=method_color(ORACLE), ls="--", lw=1,
                       label="oracle (real images)")
            ax.legend(fontsize=7)
        direction = DIRECTIONS.get(metric)
        better = "" if direction is None else f" ({'higher' if direction > 0 else 'lower'} is better)"
        if metric in Texture.keys:  # ratios to the real images, no better direction
            better = " (1 = the real images')"
        ax.set_title(f"{metric}{better}", fontsize=9)
        ax.set_xticks(range(len(methods)), labels, fontsize=7, rotation=30, ha="right")
    fig.suptitle(block.title, fontsize=9)
    return fig, [Path(p) for p in seeds["run_dir"]]  # relative to <out> where the table was given one
