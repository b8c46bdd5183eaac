"""Learning curves: each experiment's scores along training, from the runs' ``curve.csv``
(written by ``run --eval-every K``: ``stage, iteration, images_seen, tflops, <metric>..., protocol_id``).

Panels: one row per metric (mIoU, FD-seg, and FID where measured), against training images seen (left)
and measured training TFLOPs (right; logarithmic when the runs' compute spans more than 20x, as the
methods' GFLOPs per iteration do), so a ranking that flips along training, or one that holds per image
but not per FLOP, is visible. One line per experiment (method + swept values, + budget when the
runs declare different ones): the mean over its seeds at each evaluation point, and where several seeds
reached that point a band of the 95% Student t interval over them (as the tables' intervals). Curves of
different protocols are never drawn together: one figure per protocol.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from benchmark.report.dataset_tables import row_label
from benchmark.report.figures.common import FigureSkipped, method_color
from benchmark.report.stats import DIRECTIONS, t_half_width
from benchmark.report.tables import CITATIONS, dataset_name

CURVE_FILE = "curve.csv"
CURVE_METRICS = ("mIoU", "FD-seg", "FID")
X_AXES = {"images_seen": "training images seen", "tflops": "training TFLOPs (measured)"}
#: the TFLOPs axis is logarithmic when its largest value exceeds its smallest by more than this
LOG_X_RATIO = 20


def read_curve(run_dir: Path) -> pd.DataFrame | None:
    """A run's ``curve.csv`` (None when it has none or it holds no rows)."""
    path = Path(run_dir) / CURVE_FILE
    if not path.is_file():
        return None
    try:
        curve = pd.read_csv(path)
    except (OSError, ValueError, pd.errors.EmptyDataError):
        return None
    return None if curve.empty or "images_seen" not in curve else curve


def curve_points(runs: pd.DataFrame, dataset: str) -> pd.DataFrame:
    """Every evaluation point of every run on ``dataset`` with the run's method, sweep, budget, group and
    seed (long form, one row per run x point)."""
    frames = []
    for run in runs[runs["dataset"] == dataset].itertuples(index=False):
        curve = read_curve(Path(run.run_dir))
        if curve is None:
            continue
        frames.append(curve.assign(method=run.method, sweep=run.sweep or "", budget=run.budget or "",
                                   group=run.group, seed=run.seed, run_dir=str(run.run_dir)))
    if not frames:
        return pd.DataFrame()
    points = pd.concat(frames, ignore_index=True)
    if "protocol_id" not in points:
        points["protocol_id"] = ""
    points["protocol_id"] = points["protocol_id"].fillna("")
    return points


def curve_protocols(runs: pd.DataFrame, dataset: str) -> list[str]:
    """The protocols of the curves on ``dataset`` (one figure each)."""
    points = curve_points(runs, dataset)
    return [] if points.empty else sorted(set(points["protocol_id"]))


def _mean_band(part: pd.DataFrame, x: str, metric: str) -> pd.DataFrame:
    """Per evaluation point (images seen): mean x, mean metric over the seeds, t half-width, seeds."""
    rows = []
    for _, at in part.dropna(subset=[metric]).groupby("images_seen", sort=True):
        values = at[metric].to_list()
        rows.append({"x": float(at[x].mean()), "mean": float(np.mean(values)), "half": t_half_width(values),
                     "n": len(values)})
    return pd.DataFrame(rows, columns=["x", "mean", "half", "n"])


def learning_curves(runs: pd.DataFrame, dataset: str, protocol_id: str) -> tuple[Figure, list[Path]]:
    """The learning-curve figure of ``dataset`` under ``protocol_id`` (see the module docstring)."""
    points = curve_points(runs, dataset)
    if points.empty:
        raise FigureSkipped(f"no run on {dataset} has a {CURVE_FILE} (train with `run --eval-every K`)")
    points = points[points["protocol_id"] == protocol_id]
    metrics = [m for m in CURVE_METRICS if m in points and points[m].notna().any()]
    if not metrics:
        raise FigureSkipped(f"the {CURVE_FILE} files on {dataset} hold no {', '.join(CURVE_METRICS)} "
                            f"under {protocol_id}")
    axes_x = [x for x in X_AXES if x in points and points[x].notna().any()]
    several_budgets = points["budget"].nunique() > 1
    fig = Figure(figsize=(5.2 * len(axes_x), 3.0 * len(metrics) + 0.5), layout="constrained")
    axes = fig.subplots(len(metrics), len(axes_x), squeeze=False)
    groups = list(points.groupby(["method", "sweep", "budget", "group"], sort=True))
    styles = ("-", "--", ":", "-.")
    for r, metric in enumerate(metrics):
        for c, x in enumerate(axes_x):
            ax = axes[r, c]
            per_method: dict[str, int] = {}
            for (method, sweep, budget, _), part in groups:
                series = _mean_band(part, x, metric)
                if series.empty:
                    continue
                style = styles[per_method.get(method, 0) % len(styles)]
                per_method[method] = per_method.get(method, 0) + 1
                seeds = part["seed"].nunique()
                label = (f"{CITATIONS[method]}, " if method in CITATIONS else "") + row_label(method, sweep)
                label += (f" [{budget or 'preset schedule'}]" if several_budgets else "")
                label += f" ({seeds} seed{'s' if seeds != 1 else ''})"
                color = method_color(method)
                ax.plot(series["x"], series["mean"], style, marker="o", ms=3, color=color, label=label)
                band = series[series["n"] >= 2]
                if len(band):
                    ax.fill_between(band["x"], band["mean"] - band["half"], band["mean"] + band["half"],
                                    color=color, alpha=0.18, lw=0)
            direction = DIRECTIONS.get(metric)
            better = "" if direction is None else f" ({'higher' if direction > 0 else 'lower'} is better)"
            ax.set_ylabel(f"{metric}{better}", fontsize=8)
            values = points[x].dropna()
            if x == "tflops" and (values > 0).all() and values.max() > LOG_X_RATIO * values.min():
                ax.set_xscale("log")  # methods' compute differs by orders of magnitude (pix2pix vs SPADE: ~130x)
                ax.set_xlabel(f"{X_AXES[x]}, log scale", fontsize=8)
            else:
                ax.set_xlabel(X_AXES[x], fontsize=8)
                ax.ticklabel_format(axis="x", style="sci", scilimits=(-3, 4))
            ax.grid(alpha=0.3)
            if r == 0 and c == 0:
                ax.legend(fontsize=7)
    fig.suptitle(f"Learning curves, {dataset_name(dataset)}, protocol {protocol_id or 'unnamed'}", fontsize=10)
    return fig, sorted({Path(p) for p in points["run_dir"]})
