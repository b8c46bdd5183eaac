"""Reports: the papers' tables and figures regenerated from the runs under ``<out>/runs``.

:func:`build_report` writes

- ``<out>/tables/<paper table>.{csv,md,tex}`` and ``<paper table>_cells.csv`` (Park et al. 2019, SPADE,
  Table 1; Xu & Tan 2022, adaptive normalization, Table 1; Zhang et al. 2020, SLNP-GAN, Tables 2 and 3:
  measured beside published, every row naming its preset, see :mod:`benchmark.report.tables`);
- ``<out>/<dataset>/table.{csv,md,tex}`` and ``table_seeds.csv`` for every dataset with evaluated runs
  (means over seeds, 95% intervals, ranks, verdicts and cost: :mod:`benchmark.report.dataset_tables`);
- ``<out>/figures/*.{png,pdf}`` (see :mod:`benchmark.report.figures`);
- ``<out>/index.html`` linking all of it, every measured number to its run directory.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from benchmark.io import atomic_write_text
from benchmark.report.dataset_tables import dataset_table, write_dataset_table, write_table_files
from benchmark.report.figures import FigureRecord, make_figures
from benchmark.report.html import render_index
from benchmark.report.tables import PAPER_TABLES, load_published, table_cells, write_paper_table
from benchmark.results import collect_runs, collect_training_runs, filter_methods

__all__ = ["ReportSummary", "build_report", "write_dataset_table"]


@dataclass
class ReportSummary:
    """What a report wrote and what it could not."""

    index: Path
    tables: list[Path] = field(default_factory=list)
    figures: list[FigureRecord] = field(default_factory=list)
    #: ``(figure, reason)`` for every figure the runs did not allow
    skipped: list[tuple[str, str]] = field(default_factory=list)
    #: files under ``<out>/runs`` that could not be read
    problems: list[str] = field(default_factory=list)
    runs: int = 0
    evaluated: int = 0

    def lines(self) -> list[str]:
        """A short account for the command line."""
        lines = [f"report: {self.index} ({self.runs} runs, {self.evaluated} evaluated rows, "
                 f"{len(self.tables)} table files, {len(self.figures)} figures)"]
        lines += [f"  skipped {what}: {why}" for what, why in self.skipped]
        lines += [f"  problem: {p}" for p in self.problems]
        return lines


def build_report(out: Path, *, methods_filter: Iterable[str] | None = None,
                 device: str | None = None) -> ReportSummary:
    """Collect every run under ``<out>/runs`` and write the tables, figures and ``<out>/index.html``.

    ``methods_filter``: registry names to report (oracle rows and the papers' published-only rows stay);
    None reports every method. ``device``: where the multimodal and attention figures run their
    generators (None: the trainer's default pick); they generate a handful of images.
    """
    out = Path(out).resolve()  # every link is made relative to the page; relative inputs would be read twice
    methods = None if methods_filter is None else list(methods_filter)
    all_results, all_runs = collect_runs(out), collect_training_runs(out)
    problems = list(dict.fromkeys([*all_results.attrs["problems"], *all_runs.attrs["problems"]]))
    results, runs = filter_methods(all_results, methods), filter_methods(all_runs, methods)
    published = load_published()
    summary = ReportSummary(index=out / "index.html", runs=len(runs), evaluated=len(results), problems=problems)

    paper_tables = []
    for spec in PAPER_TABLES:
        cells = table_cells(spec, published, results, methods)
        summary.tables += write_paper_table(out, spec, cells)
        paper_tables.append((spec, cells))
    dataset_tables = {}
    for dataset in sorted(set(results["dataset"])):
        dataset_tables[dataset] = dataset_table(results, dataset, out)
        summary.tables += write_table_files(out, dataset_tables[dataset])

    summary.figures, summary.skipped = make_figures(out, runs, results, device=device, tables=dataset_tables)
    atomic_write_text(summary.index, render_index(
        out, paper_tables=paper_tables, dataset_tables=dataset_tables, figures=summary.figures,
        skipped=summary.skipped, problems=summary.problems, runs=runs, results=results))
    return summary
