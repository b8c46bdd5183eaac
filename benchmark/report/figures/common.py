"""What every figure shares: colours, the record of a written figure, saving, image panels, run lookups."""

from __future__ import annotations

import json
import math
import re
import zlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from matplotlib import colormaps
from matplotlib.figure import Figure

from benchmark.datasets.base import DataInfo, SISDataset
from benchmark.io import atomic_path
from benchmark.results import ORACLE, preferred_first
from benchmark.visualize import colorize, to_uint8

METHOD_COLORS = {"crn": "#1f77b4", "pix2pix": "#ff7f0e", "pix2pixhd": "#2ca02c", "spade": "#d62728",
                 "adanorm": "#9467bd", "slnp": "#8c564b", ORACLE: "#4d4d4d"}
#: colours for methods outside METHOD_COLORS (plugins): tab10's and tab20b's, less the built-ins' own
PLUGIN_COLORS = tuple(c for c in dict.fromkeys(
    "#{:02x}{:02x}{:02x}".format(*(round(v * 255) for v in colormaps[name](i)[:3]))
    for name, n in (("tab10", 10), ("tab20b", 20)) for i in range(n)) if c not in METHOD_COLORS.values())


class FigureSkipped(Exception):
    """The runs do not allow a figure; the message says why."""


@dataclass
class FigureRecord:
    """A written figure: its files, what it shows and the run directories it was drawn from."""

    key: str
    title: str
    caption: str
    paths: list[Path]           # PNG first, then PDF
    dataset: str | None = None
    runs: list[Path] = field(default_factory=list)

    @property
    def png(self) -> Path:
        return self.paths[0]


def method_color(method: str) -> str:
    """The colour of ``method`` in every figure (stable across reports, also for unknown plugins)."""
    if method in METHOD_COLORS:
        return METHOD_COLORS[method]
    return PLUGIN_COLORS[zlib.crc32(method.encode()) % len(PLUGIN_COLORS)]


def save_figure(fig: Figure, base: Path) -> list[Path]:
    """Write ``base.png`` and ``base.pdf`` atomically."""
    paths = []
    for suffix, kwargs in ((".png", {"dpi": 110}), (".pdf", {})):
        path = base.with_suffix(suffix)
        with atomic_path(path) as tmp:
            fig.savefig(tmp, format=suffix[1:], bbox_inches="tight", **kwargs)
        paths.append(path)
    return paths


def smooth(values: pd.Series) -> pd.Series:
    """Moving average over a 25th of the logged points: GAN losses are too noisy to read raw."""
    return values.rolling(max(1, len(values) // 25), min_periods=1).mean()


def grid_shape(n: int, cols: int = 3) -> tuple[int, int]:
    cols = min(cols, n)
    return math.ceil(n / cols), cols


def run_config(run_dir: Path) -> dict[str, Any]:
    return json.loads((Path(run_dir) / "config.json").read_text())


def evaluation_split(run_dir: Path) -> SISDataset:
    """The evaluation split of a run's dataset (``data.eval_split``), without augmentation."""
    from benchmark.datasets import build_dataset

    data_cfg = run_config(run_dir)["data"]
    try:
        return build_dataset(data_cfg, data_cfg.get("eval_split", "val"), train=False)
    except (OSError, ValueError) as exc:
        raise FigureSkipped(f"the evaluation split of {data_cfg.get('type')} cannot be read ({exc})") from exc


def label_image(label: torch.Tensor, info: DataInfo) -> np.ndarray:
    return to_uint8(colorize(label[None], info)[0])


def load_png(path: Path) -> np.ndarray:
    from PIL import Image

    with Image.open(path) as img:
        return np.asarray(img.convert("RGB"))


def show_image(ax, image: np.ndarray, title: str | None = None, color: str = "black") -> None:
    ax.imshow(image, interpolation="nearest")
    ax.set_xticks([])
    ax.set_yticks([])
    if title:
        ax.set_title(title, fontsize=8, color=color)


def preferred_per_method(runs: pd.DataFrame, keep: Callable[[Path], bool]) -> list[Any]:
    chosen = {}
    for run in preferred_first(runs).itertuples(index=False):
        if run.method not in chosen and keep(Path(run.run_dir)):
            chosen[run.method] = run
    return sorted(chosen.values(), key=lambda r: r.method)



def collate_samples(samples: Sequence[Mapping[str, Any]], device: torch.device) -> dict[str, Any]:
    """Dataset samples as one batch on ``device`` (as a DataLoader would collate them)."""
    from torch.utils.data import default_collate

    batch = default_collate(list(samples))
    return {k: v.to(device) if isinstance(v, torch.Tensor) else v for k, v in batch.items()}


def load_run_method(run_dir: Path, device: str | None) -> tuple[Any, Any, DataInfo]:
    """:func:`benchmark.pipeline.load_trained`, a run this code cannot load (a checkpoint of an older
    architecture, a config key since renamed) raising :class:`FigureSkipped` with the reason: one old
    run must never stop a report."""
    from benchmark.pipeline import load_trained

    try:
        return load_trained(Path(run_dir), device)
    except (OSError, ValueError, KeyError, RuntimeError) as exc:
        raise FigureSkipped(f"{Path(run_dir).name} cannot be loaded by this code ({exc})") from exc


def has_checkpoint(run_dir: Path) -> bool:
    return (run_dir / "checkpoints" / "latest.json").is_file()



def slug(text: str) -> str:
    """``text`` as a file-name stem."""
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", text).strip("-")
