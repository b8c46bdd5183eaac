"""SLNP-GAN's refiner attention over instances (Zhang et al. 2020, SLNP-GAN, Fig. 12)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import torch
from matplotlib.figure import Figure

from benchmark.datasets.base import DataInfo
from benchmark.report.figures.common import (
    FigureSkipped,
    collate_samples,
    evaluation_split,
    has_checkpoint,
    label_image,
    load_run_method,
    show_image,
)
from benchmark.report.tables import dataset_name
from benchmark.results import preferred_first
from benchmark.visualize import to_uint8

ATTENTION_SAMPLES = 2
ATTENTION_INSTANCES = 3


def attention_figure(runs: pd.DataFrame, dataset: str, device: str | None = None) -> tuple[Figure, list[Path]]:
    """Zhang et al. 2020 (SLNP-GAN) Fig. 12: SLNP-GAN's refiner attention. Per sample: label, generated
    image, and for the largest instances the weight each attention region gives that instance (the instance outlined).
    The preferred slnp run this code can load is drawn."""
    slnp = preferred_first(runs[(runs["dataset"] == dataset) & (runs["method"] == "slnp")])
    chosen = [run for run in slnp.itertuples(index=False) if has_checkpoint(Path(run.run_dir))]
    if not chosen:
        raise FigureSkipped(f"no slnp run with a checkpoint on {dataset}")
    reasons = []
    for run in chosen:
        try:
            method, _, info = load_run_method(Path(run.run_dir), device)
            break
        except FigureSkipped as exc:
            reasons.append(str(exc))
    else:
        more = f" ({len(reasons) - 1} more slnp runs: the same)" if len(reasons) > 1 else ""
        raise FigureSkipped(reasons[0] + more)
    split = evaluation_split(run.run_dir)
    n = min(ATTENTION_SAMPLES, len(split))
    batch = collate_samples([split[i] for i in range(n)], next(method.parameters()).device)
    torch.manual_seed(0)
    with torch.no_grad():
        images, attention = method.generate(batch, return_attention=True)
    weights = attention["weights"].float().cpu().numpy()            # [B, gh, gw, T]
    index = attention["instance_index"].cpu().numpy()                # [B, H, W]
    classes = attention["instance_class"].cpu().numpy()              # [B, T]
    region = int(attention["region_size"])
    cols = 2 + ATTENTION_INSTANCES
    fig = Figure(figsize=(1.9 * cols, 2.0 * n + 0.4), layout="constrained")
    axes = fig.subplots(n, cols, squeeze=False)
    for b in range(n):
        generated = to_uint8(images[b])
        show_image(axes[b, 0], label_image(batch["label"][b].cpu(), info), "label")
        show_image(axes[b, 1], generated, "generated")
        areas = np.bincount(index[b][index[b] >= 0].ravel(), minlength=weights.shape[-1])
        top = [t for t in np.argsort(-areas) if areas[t] > 0][:ATTENTION_INSTANCES]
        for col in range(2, cols):
            axes[b, col].set_axis_off()
        for col, t in enumerate(top, start=2):
            heat = np.kron(weights[b, :, :, t], np.ones((region, region)))[:generated.shape[0], :generated.shape[1]]
            ax = axes[b, col]
            ax.set_axis_on()
            show_image(ax, generated, f"instance {t}: {_class_name(info, int(classes[b, t]))}")
            ax.imshow(heat, cmap="magma", alpha=0.6, vmin=0.0, vmax=max(float(heat.max()), 1e-6))
            ax.contour(index[b] == t, levels=[0.5], colors="cyan", linewidths=0.8)
    fig.suptitle(f"SLNP-GAN attention on {dataset_name(dataset)} (Zhang et al. 2020, SLNP-GAN, Fig. 12; {run.run_id})")
    return fig, [Path(run.run_dir)]


def _class_name(info: DataInfo, channel: int) -> str:
    names = info.class_names
    return names[channel] if 0 <= channel < len(names) else f"class {channel}"


