"""``<out>/index.html``: the tables and figures on one static page, every measured number a link to its run.

All links are relative to ``<out>``, so the directory can be moved, zipped or served as it is. A short
script marks each figure that failed to load (``data-loaded="no"``) and counts them in ``#image-check``,
so a reader sees a broken figure at once and a headless browser can check the page.
"""

from __future__ import annotations

import datetime as _dt
import math
from collections.abc import Mapping, Sequence
from html import escape
from pathlib import Path

import pandas as pd

from benchmark.report.dataset_tables import (
    COMPUTE_LABELS,
    DatasetTable,
    TableBlock,
    format_compute,
    format_value,
    is_bootstrap,
)
from benchmark.report.figures import FigureRecord
from benchmark.report.stats import DIRECTIONS
from benchmark.report.tables import (
    NOT_APPLICABLE,
    NOT_MEASURED,
    NOT_RUN,
    PUBLISHED,
    PaperTable,
    dataset_name,
    protocol_legend,
    source_label,
)
from benchmark.results import CI_SUFFIX, COMPUTE_KEYS, ORACLE

RUN_FILES = ("config.py", "config.json", "manifest.json", "train_log.csv", "metrics.json", "images/", "samples/")

STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em; max-width: 1500px; color: #222; }
table { border-collapse: collapse; margin: 0.5em 0 0.3em; font-size: 13px; }
th, td { border-bottom: 1px solid #ccc; padding: 3px 8px; text-align: right; white-space: nowrap; }
th { background: #f2f2f2; text-align: center; }
td.row, td.source { text-align: left; }
td.published { font-weight: 600; }
td.not-run, td.not-measured, td.na { color: #999; font-style: italic; }
tr.group-start td { border-top: 2px solid #888; }
ul.legend { font-size: 12px; color: #555; margin-top: 0; }
ul.verdict { font-size: 13px; margin-top: 0.2em; }
h4.block-title { margin: 1.2em 0 0.2em; font-weight: 600; }
td.rank { color: #555; font-size: 12px; }
td.cost { color: #444; }
figure { margin: 1.5em 0; }
figure img { max-width: 100%; border: 1px solid #ddd; }
img.broken { outline: 3px solid red; min-width: 40px; min-height: 40px; }
figcaption { font-size: 13px; color: #444; }
#image-check { font-size: 12px; color: #666; }
"""

IMAGE_CHECK = """
window.addEventListener("load", function () {
  var images = Array.prototype.slice.call(document.images);
  var broken = 0;
  images.forEach(function (img) {
    var ok = img.complete && img.naturalWidth > 0;
    img.setAttribute("data-loaded", ok ? "yes" : "no");
    if (!ok) { broken += 1; img.classList.add("broken"); }
  });
  var status = document.getElementById("image-check");
  status.setAttribute("data-total", String(images.length));
  status.setAttribute("data-broken", String(broken));
  status.textContent = broken ? broken + " of " + images.length + " figures failed to load"
                              : "all " + images.length + " figures loaded";
});
"""

_STATUS_CLASS = {PUBLISHED: "published", NOT_RUN: "not-run", NOT_MEASURED: "not-measured", NOT_APPLICABLE: "na",
                 "measured": "measured"}


def relative(path: object, out: Path) -> str | None:
    """``path`` relative to ``out`` as a URL path (directories end in ``/``); None for no path."""
    if path is None or (isinstance(path, float) and math.isnan(path)) or path == "":
        return None
    path = Path(path)
    try:
        rel = (path.resolve() if path.is_absolute() else (Path(out) / path).resolve()).relative_to(
            Path(out).resolve())
    except ValueError:
        return path.as_uri() if path.is_absolute() else path.as_posix()
    text = rel.as_posix()
    return text + "/" if (Path(out) / rel).is_dir() else text


def _link(text: str, href: str | None, title: str | None = None) -> str:
    if href is None:
        return escape(text)
    tip = f' title="{escape(title)}"' if title else ""
    return f'<a href="{escape(href)}"{tip}>{escape(text)}</a>'


def paper_table_html(spec: PaperTable, cells: pd.DataFrame, out: Path) -> str:
    """A paper table: the method cell spans its sources; measured numbers link to their run directory."""
    head1 = ['<th rowspan="2">method</th><th rowspan="2">source</th><th rowspan="2">preset</th>']
    head1 += [f'<th colspan="{len(spec.metrics)}">{escape(dataset_name(d))}</th>' for d in spec.datasets]
    head2 = [f"<th>{escape(spec.metric_label(m))}</th>" for _ in spec.datasets for m in spec.metrics]
    body = []
    for row, row_cells in cells.groupby("row", sort=False):
        sources = list(dict.fromkeys(row_cells["source"]))
        for i, source in enumerate(sources):
            part = row_cells[row_cells["source"] == source]
            tds = []
            if i == 0:
                tds.append(f'<td class="row" rowspan="{len(sources)}">{escape(row)}</td>')
            tds.append(f'<td class="source">{escape(source_label(source))}</td>')
            tds.append(f'<td class="source preset">{escape(str(part["preset"].iloc[0]))}</td>')
            for dataset in spec.datasets:
                for metric in spec.metrics:
                    cell = part[(part["dataset"] == dataset) & (part["metric"] == metric)].iloc[0]
                    title = (f"protocol {cell['protocol']}; run {cell['run_id']}" if cell["run_id"] is not None
                             else f"protocol {cell['protocol']}" if cell["protocol"] is not None else None)
                    href = relative(cell["run_dir"], out)  # also for "not measured": the run says why
                    tds.append(f'<td class="{_STATUS_CLASS.get(cell["status"], "")}">'
                               f'{_link(cell["text"], href, title)}</td>')
            group = ' class="group-start"' if i == 0 else ""
            body.append(f"<tr{group}>{''.join(tds)}</tr>")
    legend = "".join(f"<li>{escape(line)}</li>" for line in protocol_legend(spec, cells))
    return (f'<table class="paper" id="table-{escape(spec.key)}"><thead><tr>{"".join(head1)}</tr>'
            f'<tr>{"".join(head2)}</tr></thead><tbody>{"".join(body)}</tbody></table>'
            f'<ul class="legend">{legend}</ul>')


def _block_html(dataset: str, index: int, block: TableBlock, metrics: list[str], out: Path) -> str:
    rows = block.rows
    compute = [k for k in COMPUTE_KEYS if rows[k].notna().any()]
    variant = (rows["variant"] != "").any()
    head = ["method", "preset", *(["variant"] if variant else []), "n", "runs"]
    head += [h for m in metrics for h in ((m, "rank") if m in DIRECTIONS else (m,))]
    head += [COMPUTE_LABELS[k] for k in compute]
    body = []
    for _, row in rows.iterrows():
        dirs = [d for d in str(row["run_dirs"]).split(";") if d]
        links = " ".join(_link(Path(d).name, relative(d, out)) for d in dirs) if row["registry_name"] != ORACLE \
            else _link("oracle", relative(dirs[0], out) if dirs else None)
        tds = [f'<td class="row">{escape(row["method"])}</td>',
               f'<td class="source preset">{escape(str(row["preset"]))}</td>']
        if variant:
            tds.append(f'<td class="source">{escape(row["variant"])}</td>')
        tds.append(f'<td>{"" if pd.isna(row["n_seeds"]) else int(row["n_seeds"])}</td>')
        tds.append(f'<td class="source runs">{links}</td>')
        for m in metrics:
            text = format_value(row[m], row[f"{m}{CI_SUFFIX}"], is_bootstrap(row))
            if pd.isna(row[m]):
                tds.append(f'<td class="not-measured">{escape(text)}</td>')
            else:
                tip = f"protocol {row['protocol_id']}; {row['ci95_method'] or 'no interval'}; seeds {row['seeds']}"
                tds.append(f'<td class="value">{_link(text, relative(dirs[0], out) if dirs else None, tip)}</td>')
            if m in DIRECTIONS:
                rank = row[f"{m}_rank"]
                tds.append(f'<td class="rank">{"" if pd.isna(rank) else int(rank)}</td>')
        tds += [f'<td class="cost">{escape(format_compute(k, row[k]))}</td>' for k in compute]
        body.append(f"<tr>{''.join(tds)}</tr>")
    header = "".join(f"<th>{escape(h)}</th>" for h in head)
    verdicts = "".join(f"<li>{escape(v)}</li>" for v in block.verdicts)
    return (f'<h4 class="block-title">{escape(block.title)}</h4>'
            f'<table class="dataset" id="dataset-{escape(dataset)}-{index}"><thead><tr>{header}</tr></thead>'
            f"<tbody>{''.join(body)}</tbody></table>"
            + (f'<ul class="verdict">{verdicts}</ul>' if verdicts else ""))


def dataset_table_html(dataset: str, table: DatasetTable, out: Path) -> str:
    """A per-dataset table (:func:`benchmark.report.dataset_tables.dataset_table`): one HTML table per
    block with its title, the means with their intervals and ranks, the cost columns, every seed's run
    linked, the verdict lines and the notes."""
    if not table.blocks:
        return "<p>no evaluated runs yet</p>"
    blocks = "".join(_block_html(dataset, i, b, table.metrics, out) for i, b in enumerate(table.blocks, start=1))
    notes = "".join(f"<li>{escape(n)}</li>" for n in table.notes)
    return f'<div class="dataset" id="dataset-{escape(dataset)}">{blocks}<ul class="legend">{notes}</ul></div>'


def figure_html(record: FigureRecord, out: Path) -> str:
    """A figure: the PNG, its title and caption, a link to the PDF and to the runs it shows."""
    runs = ", ".join(_link(Path(r).name, relative(r, out)) for r in record.runs)
    pdf = next((p for p in record.paths if p.suffix == ".pdf"), None)
    return (f'<figure id="figure-{escape(record.key)}"><img src="{escape(relative(record.png, out))}" '
            f'alt="{escape(record.title)}"><figcaption><b>{escape(record.title)}.</b> {escape(record.caption)} '
            f'{_link("PDF", relative(pdf, out))}{" &middot; runs: " + runs if runs else ""}</figcaption></figure>')


def runs_html(runs: pd.DataFrame, results: pd.DataFrame, out: Path) -> str:
    """Every run directory (and oracle directory) with links to what it holds."""
    dirs = list(dict.fromkeys([*map(Path, runs["run_dir"]), *map(Path, results["run_dir"])]))
    items = []
    for run_dir in sorted(dirs):
        files = [_link(name, relative(run_dir / name, out)) for name in RUN_FILES if (run_dir / name).exists()]
        items.append(f"<li>{_link(relative(run_dir, out) or str(run_dir), relative(run_dir, out))}: "
                     f"{' &middot; '.join(files)}</li>")
    return f"<ul>{''.join(items)}</ul>" if items else "<p>no runs yet</p>"


def render_index(out: Path, *, paper_tables: Sequence[tuple[PaperTable, pd.DataFrame]],
                 dataset_tables: Mapping[str, DatasetTable], figures: Sequence[FigureRecord],
                 skipped: Sequence[tuple[str, str]], problems: Sequence[str], runs: pd.DataFrame,
                 results: pd.DataFrame) -> str:
    """The page as a string: the per-dataset tables (the verdicts) first, then the paper tables, figures,
    what was left out and why, problems met reading the runs, and every run directory."""
    when = _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds")
    parts = [f"<h1>SISBench report</h1><p>{len(runs)} run directories, {len(results)} evaluated rows; "
             f"generated {escape(when)}. mIoU and accu in percent. Published numbers are quoted under the "
             f"papers' own protocols; measured numbers name theirs.</p>",
             '<p id="image-check">figures not checked (scripts disabled)</p>',
             "<h2>Per dataset: means over seeds, 95% intervals, ranks, verdicts and cost</h2>"]
    if not dataset_tables:
        parts.append("<p>no evaluated runs yet</p>")
    for dataset, table in dataset_tables.items():
        links = " ".join(_link(name, f"{dataset}/{name}")
                         for name in ("table.csv", "table.md", "table.tex", "table_seeds.csv"))
        parts.append(f"<h3>{escape(dataset_name(dataset))}</h3>{dataset_table_html(dataset, table, out)}"
                     f"<p>{links}</p>")
    parts.append("<h2>The papers' tables</h2>")
    for spec, cells in paper_tables:
        parts.append(f"<h3>{escape(spec.title)}</h3>{paper_table_html(spec, cells, out)}")
    parts.append("<h2>Figures</h2>")
    parts += [figure_html(record, out) for record in figures] or ["<p>no figures</p>"]
    if skipped:
        parts.append("<h3>Figures left out</h3><ul>" + "".join(
            f"<li><b>{escape(what)}</b>: {escape(why)}</li>" for what, why in skipped) + "</ul>")
    if problems:
        parts.append("<h2>Problems</h2><ul>" + "".join(f"<li>{escape(p)}</li>" for p in problems) + "</ul>")
    parts.append(f"<h2>Runs</h2>{runs_html(runs, results, out)}")
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>SISBench report</title>"
            f"<style>{STYLE}</style><script>{IMAGE_CHECK}</script></head><body>\n"
            + "\n".join(parts) + "\n</body></html>\n")

