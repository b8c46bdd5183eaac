"""Generated images: label | real | each method (SPADE Fig. 5) and one label map under several z / style
images (SPADE Fig. 9, seed 000 Fig. 5)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from matplotlib.figure import Figure

from benchmark.report.figures.common import (
    FigureSkipped,
    collate_samples,
    evaluation_split,
    has_checkpoint,
    label_image,
    load_png,
    method_color,
    preferred_per_method,
    show_image,
)
from benchmark.report.tables import dataset_name, paper_name
from benchmark.visualize import to_uint8
from methods.base import Method

GRID_SAMPLES = 4        # label maps in the sample grid
MULTIMODAL_SAMPLES = 4  # z draws per method in the multimodal grid
STYLE_IMAGES = 3        # style images per style-guided method
#: how many evaluation samples the grids search for stems every method generated
STEM_SEARCH_LIMIT = 64


def sample_grid(runs: pd.DataFrame, dataset: str) -> tuple[Figure, list[Path]]:
    """SPADE Fig. 5: label | real | each method's generated image, for the first evaluation samples every
    method generated. Returns the figure and the runs it shows."""
    chosen = preferred_per_method(runs[runs["dataset"] == dataset], lambda d: (d / "images").is_dir())
    if not chosen:
        raise FigureSkipped(f"no run on {dataset} has generated images (images/)")
    split = evaluation_split(chosen[0].run_dir)
    samples = []
    for i in range(min(len(split), STEM_SEARCH_LIMIT)):
        sample = split[i]
        stem = Path(sample["path"]).stem
        if all((Path(r.run_dir) / "images" / f"{stem}.png").is_file() for r in chosen):
            samples.append((stem, sample))
        if len(samples) == GRID_SAMPLES:
            break
    if not samples:
        raise FigureSkipped(f"the runs on {dataset} share no generated image of the first "
                            f"{STEM_SEARCH_LIMIT} evaluation samples")
    cols = 2 + len(chosen)
    fig = Figure(figsize=(1.8 * cols, 1.8 * len(samples) + 0.4), layout="constrained")
    axes = fig.subplots(len(samples), cols, squeeze=False)
    for row, (stem, sample) in enumerate(samples):
        show_image(axes[row, 0], label_image(sample["label"], split.info), "label" if row == 0 else None)
        show_image(axes[row, 1], to_uint8(sample["image"]), "real" if row == 0 else None)
        axes[row, 0].set_ylabel(stem, fontsize=7)
        for col, run in enumerate(chosen, start=2):
            show_image(axes[row, col], load_png(Path(run.run_dir) / "images" / f"{stem}.png"),
                  paper_name(run.method) if row == 0 else None, method_color(run.method))
    fig.suptitle(f"{dataset_name(dataset)}: label, real image and each method (SPADE Fig. 5)")
    return fig, [Path(r.run_dir) for r in chosen]


def z_samples(method: Method, batch: Mapping[str, Any]) -> list[torch.Tensor]:
    """Several images of one label map: the method's own k outputs where it has them (CRN), else one
    generate() per seed (z, or a sampled style code, drawn inside)."""
    if hasattr(method, "generate_samples"):
        k = min(MULTIMODAL_SAMPLES, int(getattr(method, "num_outputs", MULTIMODAL_SAMPLES)))
        return list(method.generate_samples(batch, k)[0])
    images = []
    for seed in range(MULTIMODAL_SAMPLES):
        torch.manual_seed(seed)
        images.append(method.generate(batch)[0])
    return images


def style_samples(method: Method, batch: Mapping[str, Any], styles: torch.Tensor) -> list[torch.Tensor] | None:
    """One image per style image, or None when the method takes no style input (it raises ValueError)."""
    images = []
    for style in styles:
        try:
            images.append(method.generate(batch, style=style[None])[0])
        except (ValueError, NotImplementedError):
            return None
    return images


def multimodal_grid(runs: pd.DataFrame, dataset: str, device: str | None = None) -> tuple[Figure, list[Path]]:
    """SPADE Fig. 9 / seed 000 Fig. 5: one label map; per multimodal method a row of z draws and, for
    style-guided methods, a row of outputs under the style images shown on top."""
    from benchmark.pipeline import load_trained

    candidates = preferred_per_method(runs[runs["dataset"] == dataset], has_checkpoint)
    if not candidates:
        raise FigureSkipped(f"no run on {dataset} has a checkpoint to generate from")
    rows: list[tuple[str, str, list[np.ndarray]]] = []
    used: list[Path] = []
    split, style_images = None, None
    with torch.no_grad():
        for run in candidates:
            method, _, _ = load_trained(Path(run.run_dir), device)
            if not method.multimodal:
                continue
            if split is None:
                split = evaluation_split(run.run_dir)
                n_styles = min(STYLE_IMAGES, len(split) - 1)
                style_images = torch.stack([split[1 + i]["image"] for i in range(n_styles)])
            device_ = next(method.parameters()).device
            batch = collate_samples([split[0]], device_)
            rows.append((run.method, "z", [to_uint8(x) for x in z_samples(method, batch)]))
            styled = style_samples(method, batch, style_images.to(device_)) if len(style_images) else None
            if styled is not None:
                rows.append((run.method, "style", [to_uint8(x) for x in styled]))
            used.append(Path(run.run_dir))
    if not rows:
        raise FigureSkipped(f"no run on {dataset} is of a multimodal method "
                            f"(methods run: {', '.join(r.method for r in candidates)})")
    has_style = any(kind == "style" for _, kind, _ in rows)
    cols = 1 + max(len(images) for _, _, images in rows)
    n_rows = len(rows) + (1 if has_style else 0)
    fig = Figure(figsize=(1.8 * cols, 1.9 * n_rows + 0.4), layout="constrained")
    axes = fig.subplots(n_rows, cols, squeeze=False)
    for ax in axes.ravel():
        ax.set_axis_off()
    sample = split[0]
    offset = 0
    if has_style:
        show_image(axes[0, 0], to_uint8(sample["image"]), "real")
        axes[0, 0].set_axis_on()
        for col, style in enumerate(style_images, start=1):
            show_image(axes[0, col], to_uint8(style), f"style image {col}")
            axes[0, col].set_axis_on()
        offset = 1
    for row, (method, kind, images) in enumerate(rows, start=offset):
        show_image(axes[row, 0], label_image(sample["label"], split.info), "label" if row == offset else None)
        axes[row, 0].set_axis_on()
        axes[row, 0].set_ylabel(f"{paper_name(method)}\n{'z draws' if kind == 'z' else 'style-guided'}",
                                fontsize=8, color=method_color(method))
        for col, image in enumerate(images, start=1):
            show_image(axes[row, col], image)
            axes[row, col].set_axis_on()
    fig.suptitle(f"{dataset_name(dataset)}: one label map, several z / style images (SPADE Fig. 9)")
    return fig, used


