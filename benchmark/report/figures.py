"""The papers' figures from the runs at hand (matplotlib, PNG + PDF, one fixed colour per method).

- training loss curves per dataset, one panel per run (``train_log.csv``);
- D_real / D_fake under Adam and AMM (seed 002 Figs. 13-14) from two slnp runs that differ only in
  ``optimizer.type``;
- label | real | each method on the evaluation split (SPADE Fig. 5) from the runs' ``images/``;
- one label map, several z (and style images) per multimodal method (SPADE Fig. 9, seed 000 Fig. 5);
- metric bar charts per dataset and protocol, the oracle as a dashed line;
- SLNP-GAN's attention over instances (seed 002 Fig. 12).

A figure the runs cannot support raises :class:`FigureSkipped` with the reason; the report lists it.
Figures are drawn on :class:`matplotlib.figure.Figure` objects, never through pyplot, so no global
backend or figure registry is touched (safe inside a CLI or a test run).
"""

from __future__ import annotations

import json
import math
import re
import textwrap
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
from benchmark.report.tables import dataset_name, paper_name
from benchmark.results import ORACLE, preferred_first
from benchmark.visualize import colorize, to_uint8
from methods.base import Method

METHOD_COLORS = {"crn": "#1f77b4", "pix2pix": "#ff7f0e", "pix2pixhd": "#2ca02c", "spade": "#d62728",
                 "adanorm": "#9467bd", "slnp": "#8c564b", ORACLE: "#4d4d4d"}
#: line styles of the loss groups in a loss-curve panel (G, D, VAE, ...: the prefix of the loss name)
GROUP_STYLES = ("-", "--", ":", "-.")
LOG_META_COLUMNS = ("stage", "iteration", "it_per_s", "elapsed_s")
GRID_SAMPLES = 4        # label maps in the sample grid
MULTIMODAL_SAMPLES = 4  # z draws per method in the multimodal grid
STYLE_IMAGES = 3        # style images per style-guided method
ATTENTION_SAMPLES = 2
ATTENTION_INSTANCES = 3
#: how many evaluation samples the grids search for stems every method generated
STEM_SEARCH_LIMIT = 64


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
    r, g, b, _ = colormaps["tab20"](zlib.crc32(method.encode()) % 20)
    return f"#{int(r * 255):02x}{int(g * 255):02x}{int(b * 255):02x}"


def save_figure(fig: Figure, base: Path) -> list[Path]:
    """Write ``base.png`` and ``base.pdf`` atomically."""
    paths = []
    for suffix, kwargs in ((".png", {"dpi": 110}), (".pdf", {})):
        path = base.with_suffix(suffix)
        with atomic_path(path) as tmp:
            fig.savefig(tmp, format=suffix[1:], bbox_inches="tight", **kwargs)
        paths.append(path)
    return paths


# -- training logs ---------------------------------------------------------------------------------------

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


def smooth(values: pd.Series) -> pd.Series:
    """Moving average over a 25th of the logged points: GAN losses are too noisy to read raw."""
    return values.rolling(max(1, len(values) // 25), min_periods=1).mean()


def _grid(n: int, cols: int = 3) -> tuple[int, int]:
    cols = min(cols, n)
    return math.ceil(n / cols), cols


def loss_curves(runs: pd.DataFrame, dataset: str) -> Figure:
    """One panel per run and training stage on ``dataset`` (stages apart: SLNP-GAN's VAE losses are
    hundreds of times its GAN losses): each network's summed loss terms (solid G, dashed D, ...)."""
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
    rows, cols = _grid(len(panels))
    fig = Figure(figsize=(4.2 * cols, 3.0 * rows), layout="constrained")
    axes = fig.subplots(rows, cols, squeeze=False).ravel()
    for ax, (run, stage, log) in zip(axes, panels, strict=False):
        for style, (group, columns) in zip(GROUP_STYLES * 4, loss_groups(log).items(), strict=False):
            part = log[["iteration", *columns]].dropna(subset=columns, how="all")
            if part.empty:
                continue
            ax.plot(part["iteration"], smooth(part[columns].sum(axis=1, min_count=1)), style,
                    color=method_color(run.method), label=f"{group}: {' + '.join(columns)}")
        variant = "\n" + textwrap.fill(run.overrides, 70) if isinstance(run.overrides, str) and run.overrides else ""
        ax.set_title(f"{paper_name(run.method)} ({run.run_id}){', ' + stage if stage else ''}{variant}", fontsize=8,
                     color=method_color(run.method))
        ax.set_xlabel("iteration")
        ax.set_ylabel("loss (moving average)")
        ax.legend(fontsize=6)
    for ax in axes[len(panels):]:
        ax.set_visible(False)
    fig.suptitle(f"Training losses on {dataset_name(dataset)}")
    return fig


# -- Adam vs AMM (seed 002 Figs. 13-14) -------------------------------------------------------------------

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


# -- image grids -----------------------------------------------------------------------------------------

def _run_config(run_dir: Path) -> dict[str, Any]:
    return json.loads((Path(run_dir) / "config.json").read_text())


def evaluation_split(run_dir: Path) -> SISDataset:
    """The evaluation split of a run's dataset (``data.eval_split``), without augmentation."""
    from benchmark.datasets import build_dataset

    data_cfg = _run_config(run_dir)["data"]
    try:
        return build_dataset(data_cfg, data_cfg.get("eval_split", "val"), train=False)
    except (OSError, ValueError) as exc:
        raise FigureSkipped(f"the evaluation split of {data_cfg.get('type')} cannot be read ({exc})") from exc


def _label_image(label: torch.Tensor, info: DataInfo) -> np.ndarray:
    return to_uint8(colorize(label[None], info)[0])


def _load_png(path: Path) -> np.ndarray:
    from PIL import Image

    with Image.open(path) as img:
        return np.asarray(img.convert("RGB"))


def _show(ax, image: np.ndarray, title: str | None = None, color: str = "black") -> None:
    ax.imshow(image, interpolation="nearest")
    ax.set_xticks([])
    ax.set_yticks([])
    if title:
        ax.set_title(title, fontsize=8, color=color)


def _preferred_per_method(runs: pd.DataFrame, keep: Callable[[Path], bool]) -> list[Any]:
    chosen = {}
    for run in preferred_first(runs).itertuples(index=False):
        if run.method not in chosen and keep(Path(run.run_dir)):
            chosen[run.method] = run
    return sorted(chosen.values(), key=lambda r: r.method)


def sample_grid(runs: pd.DataFrame, dataset: str) -> tuple[Figure, list[Path]]:
    """SPADE Fig. 5: label | real | each method's generated image, for the first evaluation samples every
    method generated. Returns the figure and the runs it shows."""
    chosen = _preferred_per_method(runs[runs["dataset"] == dataset], lambda d: (d / "images").is_dir())
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
        _show(axes[row, 0], _label_image(sample["label"], split.info), "label" if row == 0 else None)
        _show(axes[row, 1], to_uint8(sample["image"]), "real" if row == 0 else None)
        axes[row, 0].set_ylabel(stem, fontsize=7)
        for col, run in enumerate(chosen, start=2):
            _show(axes[row, col], _load_png(Path(run.run_dir) / "images" / f"{stem}.png"),
                  paper_name(run.method) if row == 0 else None, method_color(run.method))
    fig.suptitle(f"{dataset_name(dataset)}: label, real image and each method (SPADE Fig. 5)")
    return fig, [Path(r.run_dir) for r in chosen]


def collate_samples(samples: Sequence[Mapping[str, Any]], device: torch.device) -> dict[str, Any]:
    """Dataset samples as one batch on ``device`` (as a DataLoader would collate them)."""
    from torch.utils.data import default_collate

    batch = default_collate(list(samples))
    return {k: v.to(device) if isinstance(v, torch.Tensor) else v for k, v in batch.items()}


def _has_checkpoint(run_dir: Path) -> bool:
    return (run_dir / "checkpoints" / "latest.json").is_file()


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

    candidates = _preferred_per_method(runs[runs["dataset"] == dataset], _has_checkpoint)
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
        _show(axes[0, 0], to_uint8(sample["image"]), "real")
        axes[0, 0].set_axis_on()
        for col, style in enumerate(style_images, start=1):
            _show(axes[0, col], to_uint8(style), f"style image {col}")
            axes[0, col].set_axis_on()
        offset = 1
    for row, (method, kind, images) in enumerate(rows, start=offset):
        _show(axes[row, 0], _label_image(sample["label"], split.info), "label" if row == offset else None)
        axes[row, 0].set_axis_on()
        axes[row, 0].set_ylabel(f"{paper_name(method)}\n{'z draws' if kind == 'z' else 'style-guided'}",
                                fontsize=8, color=method_color(method))
        for col, image in enumerate(images, start=1):
            _show(axes[row, col], image)
            axes[row, col].set_axis_on()
    fig.suptitle(f"{dataset_name(dataset)}: one label map, several z / style images (SPADE Fig. 9)")
    return fig, used


def attention_figure(runs: pd.DataFrame, dataset: str, device: str | None = None) -> tuple[Figure, list[Path]]:
    """Seed 002 Fig. 12: SLNP-GAN's refiner attention. Per sample: label, generated image, and for the
    largest instances the weight each attention region gives that instance (the instance outlined)."""
    from benchmark.pipeline import load_trained

    chosen = _preferred_per_method(runs[(runs["dataset"] == dataset) & (runs["method"] == "slnp")],
                                   _has_checkpoint)
    if not chosen:
        raise FigureSkipped(f"no slnp run with a checkpoint on {dataset}")
    run = chosen[0]
    method, _, info = load_trained(Path(run.run_dir), device)
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
        _show(axes[b, 0], _label_image(batch["label"][b].cpu(), info), "label")
        _show(axes[b, 1], generated, "generated")
        areas = np.bincount(index[b][index[b] >= 0].ravel(), minlength=weights.shape[-1])
        top = [t for t in np.argsort(-areas) if areas[t] > 0][:ATTENTION_INSTANCES]
        for col in range(2, cols):
            axes[b, col].set_axis_off()
        for col, t in enumerate(top, start=2):
            heat = np.kron(weights[b, :, :, t], np.ones((region, region)))[:generated.shape[0], :generated.shape[1]]
            ax = axes[b, col]
            ax.set_axis_on()
            _show(ax, generated, f"instance {t}: {_class_name(info, int(classes[b, t]))}")
            ax.imshow(heat, cmap="magma", alpha=0.6, vmin=0.0, vmax=max(float(heat.max()), 1e-6))
            ax.contour(index[b] == t, levels=[0.5], colors="cyan", linewidths=0.8)
    fig.suptitle(f"SLNP-GAN attention on {dataset_name(dataset)} (seed 002 Fig. 12; {run.run_id})")
    return fig, [Path(run.run_dir)]


def _class_name(info: DataInfo, channel: int) -> str:
    names = info.class_names
    return names[channel] if 0 <= channel < len(names) else f"class {channel}"


# -- metric bars -----------------------------------------------------------------------------------------

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


# -- all figures -----------------------------------------------------------------------------------------

def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", text).strip("-")


def make_figures(out: Path, runs: pd.DataFrame, results: pd.DataFrame, *,
                 device: str | None = None) -> tuple[list[FigureRecord], list[tuple[str, str]]]:
    """Every figure the runs allow, under ``<out>/figures/``; returns the figures and, for each figure
    left out, ``(what, why)``."""
    directory = Path(out) / "figures"
    figures: list[FigureRecord] = []
    skipped: list[tuple[str, str]] = []
    datasets = sorted(set(runs["dataset"]) | set(results["dataset"]))

    def attempt(key: str, title: str, caption: str, dataset: str | None,
                draw: Callable[[], Figure | tuple[Figure, list[Path]]]) -> None:
        try:
            drawn = draw()
        except FigureSkipped as exc:
            skipped.append((title, str(exc)))
            return
        fig, used = drawn if isinstance(drawn, tuple) else (drawn, [])
        figures.append(FigureRecord(key, title, caption, save_figure(fig, directory / _slug(key)), dataset,
                                    used))

    for dataset in datasets:
        name = dataset_name(dataset)
        attempt(f"losses_{dataset}", f"Training losses, {name}",
                "Summed loss terms per network and training stage, moving average.", dataset,
                lambda d=dataset: (loss_curves(runs, d), [Path(p) for p in runs[runs["dataset"] == d]["run_dir"]]))
        attempt(f"samples_{dataset}", f"Samples, {name} (SPADE Fig. 5)",
                "Label map, real image and each method's generated image of the same evaluation samples.",
                dataset, lambda d=dataset: sample_grid(runs, d))
        attempt(f"multimodal_{dataset}", f"Multimodal synthesis, {name} (SPADE Fig. 9, seed 000 Fig. 5)",
                f"One label map, {MULTIMODAL_SAMPLES} z draws per multimodal method; style-guided methods "
                f"also under {STYLE_IMAGES} style images.", dataset,
                lambda d=dataset: multimodal_grid(runs, d, device))
        if ((runs["dataset"] == dataset) & (runs["method"] == "slnp")).any():
            attempt(f"attention_{dataset}", f"SLNP-GAN attention, {name} (seed 002 Fig. 12)",
                    "Weight each attention region gives the instance outlined in cyan.", dataset,
                    lambda d=dataset: attention_figure(runs, d, device))
        for protocol_id in sorted(set(results[results["dataset"] == dataset]["protocol_id"])):
            attempt(f"metrics_{dataset}_{protocol_id}", f"Metrics, {name}, {protocol_id}",
                    f"Every method run under protocol {protocol_id}; the dashed line is the oracle.", dataset,
                    lambda d=dataset, p=protocol_id: metric_bars(results, d, p))
    if not (runs["method"] == "slnp").any():
        skipped.append(("SLNP-GAN attention (seed 002 Fig. 12)", "no slnp run"))
    pairs = optimizer_pairs(runs)
    if not pairs:
        skipped.append(("Adam vs AMM (seed 002 Figs. 13-14)",
                        "needs two slnp runs on one dataset whose configs differ only in optimizer.type "
                        "(Adam and AMM); run e.g. `--set optimizer.type=Adam` beside the default"))
    for pair in pairs:
        attempt(f"adam_vs_amm_{pair.dataset}", f"Adam vs AMM, {dataset_name(pair.dataset)} (seed 002 Figs. 13-14)",
                "D_real and D_fake over iterations (averaged over the discriminator scales, moving average).",
                pair.dataset, lambda p=pair: (optimizer_comparison(p), list(p.runs.values())))
    return figures, skipped
