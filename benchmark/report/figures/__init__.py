"""The papers' figures from the runs at hand (matplotlib, PNG + PDF, one fixed colour per method).

- training loss curves per dataset, one panel per run (``train_log.csv``);
- D_real / D_fake under Adam and AMM (Zhang et al. 2020, SLNP-GAN, Figs. 13-14) from slnp runs that differ only in
  ``optimizer.type`` (``--sweep optimizer.type=Adam,AMM``), every seed drawn;
- label | real | each method on the evaluation split (Park et al. 2019, SPADE, Fig. 5) from the runs' ``images/``;
- one label map, several z (and style images) per multimodal method (Park et al. 2019, SPADE, Fig. 9;
  Xu & Tan 2022, adaptive normalization, Fig. 5);
- metric bar charts per dataset and table block (protocol key and budget) with the tables' 95% intervals
  as error bars, every seed as a dot, the oracle as a dashed line;
- learning curves per dataset and protocol from the runs' ``curve.csv`` (mean over seeds, t band);
- SLNP-GAN's attention over instances (Zhang et al. 2020, SLNP-GAN, Fig. 12).

A figure the runs cannot support raises :class:`FigureSkipped` with the reason; the report lists it.
Figures are drawn on :class:`matplotlib.figure.Figure` objects, never through pyplot, so no global
backend or figure registry is touched (safe inside a CLI or a test run).

One module per figure family: :mod:`.common` (colours, saving, image panels, run lookups),
:mod:`.training` (loss curves), :mod:`.optimizers` (Adam vs AMM), :mod:`.images` (sample and multimodal
grids), :mod:`.attention`, :mod:`.scores` (metric bars), :mod:`.curves` (learning curves);
:func:`make_figures` draws all of them.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path

import pandas as pd
from matplotlib.figure import Figure

from benchmark.report.dataset_tables import DatasetTable, dataset_table
from benchmark.report.figures.attention import attention_figure
from benchmark.report.figures.common import (
    FigureRecord,
    FigureSkipped,
    collate_samples,
    evaluation_split,
    method_color,
    save_figure,
    slug,
)
from benchmark.report.figures.curves import curve_protocols, learning_curves
from benchmark.report.figures.images import (
    MIN_RELATIVE_SPREAD,
    MULTIMODAL_SAMPLES,
    STYLE_IMAGES,
    STYLE_SEARCH,
    multimodal_grid,
    pick_style_images,
    sample_grid,
    style_samples,
    z_samples,
)
from benchmark.report.figures.optimizers import (
    ADAM_CAPTION,
    OptimizerPair,
    comparable_config,
    discriminator_terms,
    optimizer_comparison,
    optimizer_pairs,
)
from benchmark.report.figures.scores import metric_bars
from benchmark.report.figures.training import loss_curves, read_train_log
from benchmark.report.tables import dataset_name

#: the papers whose figures the multimodal figure redraws
MULTIMODAL_SOURCES = "Park et al. 2019, SPADE, Fig. 9; Xu & Tan 2022, adaptive normalization, Fig. 5"

__all__ = ["FigureRecord", "FigureSkipped", "OptimizerPair", "attention_figure", "collate_samples",
           "comparable_config", "discriminator_terms", "evaluation_split", "learning_curves", "loss_curves",
           "make_figures", "method_color", "metric_bars", "multimodal_grid", "optimizer_comparison",
           "optimizer_pairs", "pick_style_images", "read_train_log", "sample_grid", "save_figure", "style_samples",
           "z_samples"]


def make_figures(out: Path, runs: pd.DataFrame, results: pd.DataFrame, *, device: str | None = None,
                 tables: Mapping[str, DatasetTable] | None = None
                 ) -> tuple[list[FigureRecord], list[tuple[str, str]]]:
    """Every figure the runs allow, under ``<out>/figures/``; returns the figures and, for each figure
    left out, ``(what, why)``. ``tables``: the dataset tables (:func:`dataset_table`) the metric bars
    draw, built from ``results`` where not given."""
    directory = Path(out) / "figures"
    figures: list[FigureRecord] = []
    skipped: list[tuple[str, str]] = []
    datasets = sorted(set(runs["dataset"]) | set(results["dataset"]))

    def attempt(key: str, title: str, caption: str, dataset: str | None,
                draw: Callable[[], Figure | tuple[Figure, list[Path]] | tuple[Figure, list[Path], str]]) -> None:
        try:
            drawn = draw()
        except FigureSkipped as exc:
            skipped.append((title, str(exc)))
            return
        fig, used, *note = drawn if isinstance(drawn, tuple) else (drawn, [])
        text = " ".join([caption, *(n for n in note if n)])  # a figure's own note: what it left out and why
        figures.append(FigureRecord(key, title, text, save_figure(fig, directory / slug(key)), dataset, used))

    for dataset in datasets:
        name = dataset_name(dataset)
        attempt(f"losses_{dataset}", f"Training losses, {name}",
                "Summed loss terms per network and training stage, moving average.", dataset,
                lambda d=dataset: (loss_curves(runs, d), [Path(p) for p in runs[runs["dataset"] == d]["run_dir"]]))
        attempt(f"samples_{dataset}", f"Samples, {name} (Park et al. 2019, SPADE, Fig. 5)",
                "Label map, real image and each method's generated image of the same evaluation samples.",
                dataset, lambda d=dataset: sample_grid(runs, d))
        attempt(f"multimodal_{dataset}", f"Multimodal synthesis, {name} ({MULTIMODAL_SOURCES})",
                f"One label map, {MULTIMODAL_SAMPLES} z draws per multimodal method and, for style-guided "
                f"methods, outputs under {STYLE_IMAGES} style images (the most different mean colours among "
                f"evaluation images 1-{STYLE_SEARCH}); a row is drawn when its images differ "
                f"by at least {MIN_RELATIVE_SPREAD:g} x what different label maps do (both printed under "
                f"the row, mean |Δ| in 8-bit levels).", dataset,
                lambda d=dataset: multimodal_grid(runs, d, device))
        if ((runs["dataset"] == dataset) & (runs["method"] == "slnp")).any():
            attempt(f"attention_{dataset}", f"SLNP-GAN attention, {name} (Zhang et al. 2020, SLNP-GAN, Fig. 12)",
                    "Weight each attention region gives the instance outlined in cyan.", dataset,
                    lambda d=dataset: attention_figure(runs, d, device))
        table = (tables or {}).get(dataset)
        if table is None and (results["dataset"] == dataset).any():
            table = dataset_table(results, dataset, out)
        blocks = [] if table is None else table.blocks
        for block in blocks:
            pid, budget = block.rows["protocol_id"].iloc[0], block.rows["budget"].iloc[0] or ""
            same = [b for b in blocks if b.rows["protocol_id"].iloc[0] == pid]
            # blocks of one protocol id differ in budget (named) or in the rest of the protocol key (numbered)
            same_budget = [b for b in same if (b.rows["budget"].iloc[0] or "") == budget]
            suffix = (f"_{budget}" if budget else "") + \
                (f"_{same_budget.index(block) + 1}" if len(same_budget) > 1 else "")
            shown = f"{pid}, budget {budget}" if budget else pid
            shown += f" #{same_budget.index(block) + 1}" if len(same_budget) > 1 else ""
            attempt(f"metrics_{dataset}_{pid}{suffix}", f"Metrics, {name}, {shown}",
                    f"{block.title}. Bars: mean over seeds; error bars: 95% interval (black: t over seeds, grey "
                    f"dashed: bootstrap over the evaluation images of a single seed); dots: seeds; the dashed "
                    f"line is the oracle.", dataset, lambda t=table, b=block: metric_bars(t, b))
        protocols = curve_protocols(runs, dataset)
        for pid in protocols:
            key = f"learning_curves_{dataset}" + ("" if len(protocols) == 1 else f"_{pid}")
            attempt(key, f"Learning curves, {name}, {pid}",
                    "Each experiment's scores against training images seen and measured training TFLOPs (from "
                    "curve.csv, `run --eval-every K`): mean over seeds, band: 95% t interval over seeds.",
                    dataset, lambda d=dataset, p=pid: learning_curves(runs, d, p))
        if not protocols:
            skipped.append((f"Learning curves, {name}",
                            "no run has a curve.csv (train with `run --eval-every K`)"))
    if not (runs["method"] == "slnp").any():
        skipped.append(("SLNP-GAN attention (Zhang et al. 2020, SLNP-GAN, Fig. 12)", "no slnp run"))
    pairs = optimizer_pairs(runs)
    if not pairs:
        skipped.append(("Adam vs AMM (Zhang et al. 2020, SLNP-GAN, Figs. 13-14)",
                        "needs slnp runs on one dataset whose configs differ only in optimizer.type "
                        "(Adam and AMM): `run --methods slnp --sweep optimizer.type=Adam,AMM`"))
    for i, pair in enumerate(pairs):
        same = [p for p in pairs[:i] if p.dataset == pair.dataset]
        suffix = f"_{len(same) + 1}" if same else ""
        attempt(f"adam_vs_amm_{pair.dataset}{suffix}",
                f"Adam vs AMM, {dataset_name(pair.dataset)}{suffix.replace('_', ' #')} "
                f"(Zhang et al. 2020, SLNP-GAN, Figs. 13-14)",
                ADAM_CAPTION, pair.dataset, lambda p=pair: (optimizer_comparison(p), p.run_dirs))
    _remove_stale(directory, figures)
    return figures, skipped


#: the file-name stems of the figures make_figures writes (a figure of an earlier report starts with one)
FIGURE_PREFIXES = ("losses_", "samples_", "multimodal_", "attention_", "metrics_", "learning_curves_",
                   "adam_vs_amm_")


def _remove_stale(directory: Path, figures: list[FigureRecord]) -> None:
    """Delete the PNG/PDF of figures an earlier report wrote and this one did not (a run deleted, a
    protocol key gone): a reader of ``<out>/figures/`` must not take them for current. Files that are not
    report figures are left alone."""
    if not directory.is_dir():
        return
    current = {p.resolve() for record in figures for p in record.paths}
    for path in directory.iterdir():
        if path.suffix in (".png", ".pdf") and path.name.startswith(FIGURE_PREFIXES) \
                and path.resolve() not in current:
            path.unlink(missing_ok=True)
