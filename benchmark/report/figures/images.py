"""Generated images: label | real | each method (Park et al. 2019, SPADE, Fig. 5) and one label map under
several z / style images (Park et al. 2019, SPADE, Fig. 9; Xu & Tan 2022, adaptive normalization, Fig. 5).

The multimodal grid draws a method's row only where its images really differ. A method can be
multimodal by construction (``method.multimodal``: it takes z) and still give four identical-looking
images: SLNP-GAN's tiny preset trained on synthetic (``run --methods spade,slnp --dataset synthetic``,
seed 0, 200 + 1,000 iterations) moves its output by 1.7 of 255 levels on average between z draws, while
different label maps (z fixed) move it by 28.2: the four draws of the report issue. Its Z_np draws do
differ (Enc(Dec(z)) of two z differ by about 1.4x their norm); the trained G0/G1 ignore them, as
conditional GANs without a diversity term tend to ("the generator simply learned to ignore the noise",
pix2pix, Isola et al. 2017, Sec. 2.1). So the grid measures each row's spread (mean absolute difference
between every two of its images, in 8-bit levels) against the spread between label maps, prints both
under the row, and leaves a row out when its spread is below
:data:`MIN_RELATIVE_SPREAD` of the label maps' (the note says which and why). The yardstick is relative
because an untrained or barely trained generator moves little with anything. Methods that take no z at
all in the run's config (SPADE with ``model.use_vae=False``) are named as such.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
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
    load_run_method,
    method_color,
    preferred_per_method,
    show_image,
)
from benchmark.report.tables import dataset_name, figure_name
from benchmark.visualize import to_uint8
from methods.base import Method

GRID_SAMPLES = 4        # label maps in the sample grid
MULTIMODAL_SAMPLES = 4  # z draws per method in the multimodal grid
STYLE_IMAGES = 3        # style images per style-guided method
#: evaluation images searched for style images that differ (image 0 is the figure's label map's own)
STYLE_SEARCH = 32
#: how many evaluation samples the grids search for stems every method generated
STEM_SEARCH_LIMIT = 64
#: a row of z draws (or style-guided outputs) is drawn when its spread is at least this fraction of the
#: spread between label maps: below it the output depends on the label map ten times as much as on z and
#: the draws look identical side by side, so the row would claim a diversity the method does not have
MIN_RELATIVE_SPREAD = 0.1


def sample_grid(runs: pd.DataFrame, dataset: str) -> tuple[Figure, list[Path]]:
    """Park et al. 2019 (SPADE) Fig. 5: label | real | each method's generated image, for the first
    evaluation samples every method generated. Returns the figure and the runs it shows."""
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
                       figure_name(run.method, "\n") if row == 0 else None, method_color(run.method))
    fig.suptitle(f"{dataset_name(dataset)}: label, real image and each method (Park et al. 2019, SPADE, Fig. 5)")
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


def spread(images: list[np.ndarray]) -> float:
    """Mean absolute difference between every two of ``images`` (uint8 arrays), in 8-bit levels."""
    stack = np.stack(images).astype(np.float64)
    pairs = [np.abs(stack[i] - stack[j]).mean() for i in range(len(stack)) for j in range(i + 1, len(stack))]
    return float(np.mean(pairs)) if pairs else 0.0


def label_spread(method: Method, split: Any, first: np.ndarray, device: torch.device, n: int = 3) -> float:
    """Mean absolute difference (8-bit levels) between the image of label map 0 and those of the next
    ``n`` label maps, z fixed (seed 0): the scale a z spread is read against."""
    diffs = []
    for i in range(1, min(n + 1, len(split))):
        torch.manual_seed(0)
        other = to_uint8(method.generate(collate_samples([split[i]], device))[0]).astype(np.float64)
        diffs.append(np.abs(other - first.astype(np.float64)).mean())
    return float(np.mean(diffs)) if diffs else math.nan


@dataclass
class SpreadRow:
    """A row of the multimodal grid with its measured spread and the verdict on drawing it."""

    kind: str                  # "z" or "style"
    images: list[np.ndarray]
    levels: float              # mean |difference| between the row's images, 8-bit levels
    label_levels: float        # the same between label maps (z fixed)

    @property
    def visible(self) -> bool:
        return not self.levels < MIN_RELATIVE_SPREAD * self.label_levels

    def measured(self) -> str:
        what = "z draws" if self.kind == "z" else "style-guided outputs"
        return f"{what} differ by {self.levels:.1f} of 255 levels on average, label maps by {self.label_levels:.1f}"


def spread_rows(method: Method, split: Any, device: torch.device,
                styles: torch.Tensor | None) -> list[SpreadRow]:
    """The z row (and style row, for style-guided methods) of ``method`` on label map 0 of ``split``."""
    batch = collate_samples([split[0]], device)
    draws = [to_uint8(x) for x in z_samples(method, batch)]
    ref = label_spread(method, split, draws[0], device)
    rows = [SpreadRow("z", draws, spread(draws), ref)]
    styled = style_samples(method, batch, styles.to(device)) if styles is not None and len(styles) else None
    if styled is not None:
        images = [to_uint8(x) for x in styled]
        rows.append(SpreadRow("style", images, spread(images), ref))
    return rows


def pick_style_images(split: Any, n: int = STYLE_IMAGES, search: int = STYLE_SEARCH) -> list[int]:
    """Indices of ``n`` evaluation images whose styles differ, to show what a style image does (the paper's
    Fig. 5 uses distinct styles; neighbouring images of a split often share one): farthest-point sampling on
    the mean colour of images ``1 .. search`` (image 0 is the label map's own), from image 1; deterministic."""
    candidates = list(range(1, min(len(split), search + 1)))
    if len(candidates) <= n:
        return candidates
    means = torch.stack([split[i]["image"].float().mean((1, 2)) for i in candidates])
    chosen = [0]
    while len(chosen) < n:
        nearest = torch.cdist(means, means[chosen]).min(1).values
        chosen.append(int(nearest.argmax()))
    return [candidates[c] for c in chosen]


def style_samples(method: Method, batch: Mapping[str, Any], styles: torch.Tensor) -> list[torch.Tensor] | None:
    """One image per style image, or None when the method takes no style input (it raises ValueError)."""
    images = []
    for style in styles:
        try:
            images.append(method.generate(batch, style=style[None])[0])
        except (ValueError, NotImplementedError):
            return None
    return images


def _not_multimodal(method: str, cfg: Mapping[str, Any]) -> str:
    model = cfg.get("model") if isinstance(cfg.get("model"), Mapping) else {}
    return f"{method} (one image per label map" + (", model.use_vae=False)" if model.get("use_vae") is False else ")")


def multimodal_grid(runs: pd.DataFrame, dataset: str,
                    device: str | None = None) -> tuple[Figure, list[Path], str]:
    """Park et al. 2019 (SPADE) Fig. 9 / Xu & Tan 2022 (adaptive normalization) Fig. 5: one label map; per
    multimodal method a row of z draws (left out when they do not differ visibly, see
    :data:`MIN_RELATIVE_SPREAD`) and, for style-guided methods, a row of outputs under the style images shown on
    top. Returns the figure, the runs drawn and a note naming every method left out and why (also a run the code
    cannot load)."""
    candidates = preferred_per_method(runs[runs["dataset"] == dataset], has_checkpoint)
    if not candidates:
        raise FigureSkipped(f"no run on {dataset} has a checkpoint to generate from")
    rows: list[tuple[str, SpreadRow]] = []
    used: list[Path] = []
    left_out: list[str] = []
    split, style_images = None, None
    with torch.no_grad():
        for run in candidates:
            try:
                method, cfg, _ = load_run_method(Path(run.run_dir), device)
            except FigureSkipped as exc:
                left_out.append(f"{run.method} ({exc})")
                continue
            if not method.multimodal:
                left_out.append(_not_multimodal(run.method, cfg))
                continue
            if split is None:
                split = evaluation_split(run.run_dir)
                style_images = torch.stack([split[i]["image"] for i in pick_style_images(split)])
            mine = spread_rows(method, split, next(method.parameters()).device, style_images)
            rows += [(run.method, r) for r in mine if r.visible]
            left_out += [f"{run.method} {r.kind} row ({r.measured()}: the generator barely uses "
                         f"{'z' if r.kind == 'z' else 'the style image'})" for r in mine if not r.visible]
            if any(r.visible for r in mine):
                used.append(Path(run.run_dir))
    note = ("Left out: " + "; ".join(left_out) + ".") if left_out else ""
    if not rows:
        raise FigureSkipped(f"no run on {dataset} gives visibly different images of one label map: "
                            f"{'; '.join(left_out)}")
    has_style = any(r.kind == "style" for _, r in rows)
    cols = 1 + max(len(r.images) for _, r in rows)
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
    for row, (method, spread_row) in enumerate(rows, start=offset):
        show_image(axes[row, 0], label_image(sample["label"], split.info), "label" if row == offset else None)
        axes[row, 0].set_axis_on()
        kind = "z draws" if spread_row.kind == "z" else "style-guided"
        name, _, cite = figure_name(method, "\n").partition("\n")  # the paper on the last line
        axes[row, 0].set_ylabel(f"{name}\n{kind}\nmean |Δ| {spread_row.levels:.1f}/255\n"
                                f"(label maps {spread_row.label_levels:.1f})" + (f"\n{cite}" if cite else ""),
                                fontsize=7, color=method_color(method))
        for col, image in enumerate(spread_row.images, start=1):
            show_image(axes[row, col], image)
            axes[row, col].set_axis_on()
    fig.suptitle(f"{dataset_name(dataset)}: one label map, several z / style images (Park et al. 2019, SPADE, Fig. 9)")
    return fig, used, note
