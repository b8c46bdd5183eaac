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

One module per figure family: :mod:`.common` (colours, saving, image panels, run lookups),
:mod:`.training` (loss curves), :mod:`.optimizers` (Adam vs AMM), :mod:`.images` (sample and multimodal
grids), :mod:`.attention`, :mod:`.scores` (metric bars); :func:`make_figures` draws all of them.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pandas as pd
from matplotlib.figure import Figure

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
from benchmark.report.figures.images import (
    MIN_RELATIVE_SPREAD,
    MULTIMODAL_SAMPLES,
    STYLE_IMAGES,
    multimodal_grid,
    sample_grid,
    style_samples,
    z_samples,
)
from benchmark.report.figures.optimizers import (
    OptimizerPair,
    comparable_config,
    discriminator_terms,
    optimizer_comparison,
    optimizer_pairs,
)
from benchmark.report.figures.scores import metric_bars
from benchmark.report.figures.training import loss_curves, read_train_log
from benchmark.report.tables import dataset_name

__all__ = ["FigureRecord", "FigureSkipped", "OptimizerPair", "attention_figure", "collate_samples",
           "comparable_config", "discriminator_terms", "evaluation_split", "loss_curves", "make_figures",
           "method_color", "metric_bars", "multimodal_grid", "optimizer_comparison", "optimizer_pairs",
           "read_train_log", "sample_grid", "save_figure", "style_samples", "z_samples"]


def make_figures(out: Path, runs: pd.DataFrame, results: pd.DataFrame, *,
                 device: str | None = None) -> tuple[list[FigureRecord], list[tuple[str, str]]]:
    """Every figure the runs allow, under ``<out>/figures/``; returns the figures and, for each figure
    left out, ``(what, why)``."""
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
        attempt(f"samples_{dataset}", f"Samples, {name} (SPADE Fig. 5)",
                "Label map, real image and each method's generated image of the same evaluation samples.",
                dataset, lambda d=dataset: sample_grid(runs, d))
        attempt(f"multimodal_{dataset}", f"Multimodal synthesis, {name} (SPADE Fig. 9, seed 000 Fig. 5)",
                f"One label map, {MULTIMODAL_SAMPLES} z draws per multimodal method and, for style-guided "
                f"methods, outputs under {STYLE_IMAGES} style images; a row is drawn when its images differ "
                f"by at least {MIN_RELATIVE_SPREAD:g} x what different label maps do (both printed under "
                f"the row, mean |Δ| in 8-bit levels).", dataset,
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
