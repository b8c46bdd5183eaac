"""Scores: metric bar charts per dataset and protocol, the oracle as a dashed line."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from benchmark.report.figures.common import FigureSkipped, method_color
from benchmark.report.tables import dataset_name, paper_name
from benchmark.results import ORACLE


def metric_bars(results: pd.DataFrame, dataset: str, protocol_id: str) -> tuple[Figure, list[Path]]:
    """One panel per metric measured under ``protocol_id`` on ``dataset``: a bar per method run, the
    oracle (real images) as a dashed line."""
    rows = results[(results["dataset"] == dataset) & (results["protocol_id"] == protocol_id)]
    methods = rows[rows["method"] != ORACLE]
    oracle = rows[rows["method"] == ORACLE]
    metrics = [m for m in ("mIoU", "accu", "FID", "FD-seg") if methods[m].notna().any()]
    if methods.empty or not metrics:
        raise FigureSkipped(f"no method run on {dataset} has numbers under {protocol_id}")
    several = methods["method"].duplicated(keep=False)
    labels = [f"{paper_name(m)}\n{r}" if dup else paper_name(m)
              for m, r, dup in zip(methods["method"], methods["run_id"], several, strict=True)]
    fig = Figure(figsize=(max(3.2, 0.7 * len(methods) + 1.6) * len(metrics), 3.4), layout="constrained")
    axes = fig.subplots(1, len(metrics), squeeze=False).ravel()
    for ax, metric in zip(axes, metrics, strict=True):
        values = methods[metric].to_numpy(dtype=float)
        ax.bar(range(len(values)), np.nan_to_num(values), color=[method_color(m) for m in methods["method"]])
        for x, v in enumerate(values):
            ax.annotate("not measured" if np.isnan(v) else f"{v:.1f}", (x, 0 if np.isnan(v) else v),
                        ha="center", va="bottom", fontsize=7, rotation=90 if np.isnan(v) else 0)
        if not oracle.empty and oracle[metric].notna().any():
            ax.axhline(float(oracle[metric].dropna().iloc[0]), color=method_color(ORACLE), ls="--", lw=1,
                       label="oracle (real images)")
            ax.legend(fontsize=7)
        better = "lower is better" if metric in ("FID", "FD-seg", "KID") else "higher is better"
        ax.set_title(f"{metric} ({better})", fontsize=9)
        ax.set_xticks(range(len(values)), labels, fontsize=7, rotation=30, ha="right")
    fig.suptitle(f"{dataset_name(dataset)} under {protocol_id}")
    return fig, [Path(p) for p in rows["run_dir"]]


