"""``<out>/<dataset>/table.{csv,md,tex}`` and ``table_seeds.csv``: every experiment on a dataset, its
mean over seeds with a 95% interval, its rank per metric, what it cost, and one verdict line per metric.

Decisions (the statistics are :mod:`benchmark.report.stats`'s):

- one row per experiment (a method, or a method with swept / overridden config values) and protocol key;
  the runs of the row are its seeds (``n_seeds``, ``seeds``); ``table_seeds.csv`` keeps every run;
- rows are grouped into *blocks* of one protocol key (id, version, number of evaluation images and
  whether ``--num-images`` set it, segmenter sha256, IoU averaging) and one declared budget; each block
  has a title naming all of it and the budget, its own ranks and verdicts. Rows of different blocks are
  never merged or compared;
- the title says the budget (``budget: 20,000 training images per method``) or, without one, that each
  method ran its preset schedule and whether the iterations differ;
- Markdown cells read ``38.7 ± 2.1``, rounded to two significant digits of the interval; a ``†`` marks
  a bootstrap interval over the evaluation images (one seed) as opposed to a t interval over seeds;
- cost columns are the manifests' measured figures, averaged over the seeds (``train_s`` and peak
  memory vary between seeds and machines; iterations, images and FLOPs do not);
- the oracle row (the real images under the block's protocol key) closes a block, unranked;
- every row names its preset (``tiny``, ``paper``, a plugin's; ``-`` for the oracle) in a ``preset``
  column of table.csv, table_seeds.csv, the Markdown, LaTeX and HTML tables: a tiny preset changes widths,
  resolution, loss weights and schedule (docs/presets.md), so a row never hides which one it ran.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from benchmark.io import atomic_write_text, inside
from benchmark.report.stats import (
    BOOTSTRAP,
    DIRECTIONS,
    T_OVER_SEEDS,
    aggregate,
    block_id,
    metric_columns,
    ranks,
    verdict,
)
from benchmark.report.tables import (
    METHOD_ORDER,
    NO_PRESET,
    NOT_MEASURED,
    dataset_name,
    latex_escape,
    paper_name,
    to_latex,
    to_markdown,
)
from benchmark.results import (
    CI_SUFFIX,
    COMPUTE_KEYS,
    OPTIONAL_METRIC_KEYS,
    ORACLE,
    PROTOCOL_KEY,
    collect_runs,
    filter_methods,
    sweep_text,
)

#: the metrics a dataset table may show, in column order
TABLE_METRICS = ("mIoU", "accu", "FID", "FID (unofficial weights)", "FD-seg", "KID", *OPTIONAL_METRIC_KEYS)
#: cost columns as the Markdown / HTML tables head them
COMPUTE_LABELS = {"iterations": "iterations", "images_seen": "images seen", "train_s": "train s",
                  "gflops_per_iter": "GFLOP/it", "tflops_total": "TFLOP", "params_G_M": "params G (M)",
                  "peak_mem_mb": "peak MB"}
BOOTSTRAP_MARK = "†"
RANK_RULE = ("rank: 1 + the number of rows significantly better (Welch's t-test over seeds, two-sided, "
             "p < 0.05, no multiple-comparison correction); equal ranks are not distinguishable; no rank: "
             "fewer than two seeds")
T_NOTE = "± is the 95% Student t interval over seeds, t(0.975, n-1) * s / sqrt(n)"
BOOT_NOTE = (f"± marked {BOOTSTRAP_MARK} is a bootstrap 95% interval over the evaluation images (one seed): it "
             f"covers the evaluation sample, not training noise")
UNITS_NOTE = ("mIoU and accu in percent; FD-seg is the Frechet distance of segmenter features, not FID; texture "
              "is the fine-texture energy inside label regions over the real images' (1 = real, >1 grids or "
              "noise, <1 blur), texture_max that of the most over-textured class, checkerboard the power of a "
              "one-pixel checkerboard over the real images' (1 = real); none of the three is ranked")
BETTER_NOTE = "'>' reads 'better than': higher mIoU / accu / LPIPS, lower FID / FD-seg / KID"


@dataclass
class TableBlock:
    """The rows of one protocol key and budget: their title, table rows and verdict lines."""

    block: str
    title: str
    rows: pd.DataFrame
    verdicts: list[str] = field(default_factory=list)


@dataclass
class DatasetTable:
    """Everything ``<out>/<dataset>/table.*`` shows."""

    dataset: str
    metrics: list[str]
    table: pd.DataFrame          # one row per experiment and protocol key (table.csv)
    seeds: pd.DataFrame          # one row per run and protocol key (table_seeds.csv)
    blocks: list[TableBlock]

    @property
    def notes(self) -> list[str]:
        """What the ± and the ranks mean, as far as this table uses them."""
        methods = " ".join(self.table["ci95_method"].fillna("")) if len(self.table) else ""
        notes = [T_NOTE] if T_OVER_SEEDS in methods else []
        notes += [BOOT_NOTE] if BOOTSTRAP in methods else []
        notes += [RANK_RULE, BETTER_NOTE, UNITS_NOTE,
                  "each block is one protocol key and budget; numbers of different blocks are not comparable"]
        hardware = sorted({h for hs in self.table["hardware"].fillna("") for h in hs.split("; ") if h})
        if hardware:
            notes.append("measured on: " + " | ".join(hardware))
        return notes


def _method_order(method: str) -> int:
    if method == ORACLE:
        return len(METHOD_ORDER) + 1
    return METHOD_ORDER.index(method) if method in METHOD_ORDER else len(METHOD_ORDER)


def row_preset(method: str, preset: object) -> str:
    """The preset column of a row: the preset its runs ran at (``-`` for the oracle, the real images;
    ``unrecorded`` where a record names none)."""
    if method == ORACLE:
        return NO_PRESET
    return str(preset) if isinstance(preset, str) and preset else "unrecorded"


def row_label(method: str, sweep: str) -> str:
    """``SLNP-GAN (optimizer.type=AMM)``: the paper's name with the swept values."""
    return f"{paper_name(method)} ({sweep})" if sweep else paper_name(method)


def _distinct_labels(entries: pd.DataFrame) -> pd.DataFrame:
    """Labels unique within each block: two experiments of one method and sweep (``--set`` variants) get
    the keys that set them apart, ``SLNP-GAN (optimizer.type=Adam)`` beside ``SLNP-GAN
    (optimizer.type=AMM)`` (the preset's value for the one that kept it); configs that differ in nothing a
    manifest names keep their config group id."""
    # experiments that differ in their preset are told apart by the preset column
    dup = entries.duplicated(["block", "method_label", "preset"], keep=False) & (entries["method"] != ORACLE)
    for _, part in entries[dup].groupby(["block", "method_label", "preset"], sort=False, dropna=False):
        pairs = {i: json.loads(entries.at[i, "override_pairs"] or "{}") for i in part.index}
        preset = {k: v[0] for p in pairs.values() for k, v in p.items()}
        value = {i: {k: (p[k][1] if k in p else preset[k]) for k in preset} for i, p in pairs.items()}
        differ = [k for k in sorted(preset) if len({json.dumps(v[k], default=str) for v in value.values()}) > 1]
        for i in part.index:
            shown = sweep_text({k: value[i][k] for k in differ})
            label = entries.at[i, "method_label"]
            entries.at[i, "method_label"] = f"{label[:-1]}, {shown})" if shown and label.endswith(")") \
                else f"{label} ({shown})" if shown else label
    dup = entries.duplicated(["block", "method_label", "preset"], keep=False) & (entries["method"] != ORACLE)
    entries.loc[dup, "method_label"] += [f" [config {g}]" for g in entries.loc[dup, "group"]]
    return entries


def _relative(path: object, out: Path | None) -> str:
    if out is None:
        return str(path)
    try:
        return Path(path).resolve().relative_to(Path(out).resolve()).as_posix()
    except ValueError:
        return str(path)


def _thousands(value: float) -> str:
    return f"{value:,.0f}" if value.is_integer() else f"{value:,.3g}"


def budget_phrase(budget: str, rows: pd.DataFrame) -> str:
    """The title's budget clause for a block's method rows."""
    if budget:
        kind, _, value = budget.partition("=")
        number = float(value)
        if kind == "images":
            return f"budget: {_thousands(number)} training images per method"
        return f"budget: {number:g} TFLOPs of measured training compute per method"
    methods = rows[rows["method"] != ORACLE]
    its = {label: v for label, v in zip(methods["method_label"], methods["iterations"], strict=True)
           if not math.isnan(v)}
    # --iters / --set train.iters replace the preset's schedule: the title must not claim the preset's
    schedule = "its own schedule (--iters)" if methods["overrides"].fillna("").str.contains(
        r"(?:^|; )train\.iters=", regex=True).any() else "its preset schedule"
    if len(set(its.values())) > 1:
        listed = ", ".join(f"{label} {_thousands(v)}" for label, v in its.items())
        return f"each method at {schedule} (iterations differ: {listed})"
    if its:
        return f"each method at {schedule} ({_thousands(next(iter(its.values())))} iterations each; " \
               f"no budget declared)"
    return f"each method at {schedule} (no budget declared)"


def protocol_phrase(row: pd.Series) -> str:
    """``protocol synthetic-v1 v1, 100 images, segmenter 3f2a...``: the block's protocol key in words."""
    parts = [f"protocol {row['protocol_id']}" + (f" v{int(row['protocol_version'])}"
                                                 if pd.notna(row["protocol_version"]) else "")]
    if pd.notna(row["num_images"]):
        parts.append(f"{int(row['num_images']):,} images" + (" (set by --num-images)"
                                                            if row["num_images_overridden"] else ""))
    sha = row["segmenter_sha256"]
    parts.append(f"segmenter {sha[:12]}" if isinstance(sha, str) else "segmenter unhashed")
    if isinstance(row["averaging"], str):
        parts.append(f"IoU averaging {row['averaging']}")
    if row["inception_official"] is False:
        parts.append("unofficial Inception weights")
    return ", ".join(parts)


def dataset_table(results: pd.DataFrame, dataset: str, out: Path | None = None) -> DatasetTable:
    """The table of ``dataset`` from a :func:`benchmark.results.collect_runs` frame (run directories made
    relative to ``out`` when given)."""
    rows = results[results["dataset"] == dataset]
    metrics = metric_columns(rows, TABLE_METRICS)
    entries = aggregate(rows, metrics)
    entries["method_label"] = [row_label(m, s) for m, s in zip(entries["method"], entries["sweep"], strict=True)]
    entries = _distinct_labels(entries)
    entries = entries.assign(
        _order=[_method_order(m) for m in entries["method"]],
        _pid=entries["protocol_id"].astype(str), _budget=entries["budget"].fillna(""),
    ).sort_values(["_pid", "_budget", "block", "_order", "method_label"], kind="stable")
    entries = entries.drop(columns=["_order", "_pid", "_budget"]).reset_index(drop=True)

    for m in metrics:
        entries[f"{m}_rank"] = pd.Series(pd.NA, index=entries.index, dtype="Int64")
    blocks = []
    for key, part in entries.groupby("block", sort=False):
        for m in metrics:
            entries.loc[part.index, f"{m}_rank"] = ranks(part, m)
        first = part.iloc[0]
        title = (f"{dataset_name(dataset)}: {protocol_phrase(first)}; "
                 f"{budget_phrase(first['budget'] or '', part)}")
        lines = [verdict(part, m, part["method_label"]) for m in metrics] \
            if (part["method"] != ORACLE).any() else []
        blocks.append(TableBlock(key, title, part, lines))
    for block in blocks:
        block.rows = entries.loc[block.rows.index]

    table = pd.DataFrame({
        "method": entries["method_label"],
        "registry_name": entries["method"],
        "sweep": entries["sweep"],
        "variant": entries["overrides"].fillna(""),
        "budget": entries["budget"].fillna(""),
        "preset": [row_preset(m, p) for m, p in zip(entries["method"], entries["preset"], strict=True)],
        **{k: entries[k] for k in PROTOCOL_KEY},
        "n_seeds": entries["n_seeds"].astype("Int64"),
        "seeds": entries["seeds"],
        **{c: entries[c] for m in metrics for c in (m, f"{m}{CI_SUFFIX}", f"{m}_rank")},
        "ci95_method": entries["ci95_method"],
        **{k: entries[k] for k in COMPUTE_KEYS},
        "peak_mem_kind": entries["peak_mem_kind"],
        "hardware": entries["hardware"],
        "group": entries["group"],
        "runs": [" ".join(r) for r in entries["run_ids"]],
        "run_dirs": [";".join(_relative(p, out) for p in ds) for ds in entries["run_dirs"]],
        "block": entries["block"],
    })
    for block in blocks:
        block.rows = table.loc[block.rows.index]
    seeds = _seeds_frame(rows, metrics, out)
    return DatasetTable(dataset, metrics, table, seeds, blocks)


def _seeds_frame(rows: pd.DataFrame, metrics: Sequence[str], out: Path | None) -> pd.DataFrame:
    rows = rows.assign(_order=[_method_order(m) for m in rows["method"]]).sort_values(
        ["protocol_id", "budget", "_order", "sweep", "group", "seed", "run_id"], kind="stable", na_position="last")
    return pd.DataFrame({
        "method": [row_label(m, s) for m, s in zip(rows["method"], rows["sweep"].fillna(""), strict=True)],
        "registry_name": rows["method"],
        "sweep": rows["sweep"].fillna(""),
        "variant": rows["overrides"].fillna(""),
        "budget": rows["budget"].fillna(""),
        "preset": [row_preset(m, p) for m, p in zip(rows["method"], rows["preset"], strict=True)],
        "group": rows["group"],
        "seed": rows["seed"].astype("Int64"),
        "run_id": ["" if m == ORACLE else r for m, r in zip(rows["method"], rows["run_id"], strict=True)],
        **{k: rows[k] for k in PROTOCOL_KEY},
        **{c: rows[c] for m in metrics for c in (m, f"{m}{CI_SUFFIX}")},
        "ci95_method": rows["ci95_method"],
        **{k: rows[k] for k in COMPUTE_KEYS},
        "peak_mem_kind": rows["peak_mem_kind"],
        "hardware": rows["hardware"],
        "metrics_file": rows["metrics_file"],
        "run_dir": [_relative(p, out) for p in rows["run_dir"]],
        "block": [block_id(r) for _, r in rows.iterrows()],
    }).reset_index(drop=True)


# -- rendering -------------------------------------------------------------------------------------------

def interval_decimals(ci: float) -> int:
    """Decimals that give the interval two significant digits (0 to 4; 2 without an interval)."""
    if ci is None or math.isnan(ci) or ci <= 0:
        return 2
    return max(0, min(4, 1 - math.floor(math.log10(ci))))


def format_value(mean: float, ci: float, bootstrap: bool) -> str:
    """``38.7 ± 2.1`` (``†`` after a bootstrap interval), ``38.70`` without one, ``not measured`` for NaN."""
    if mean is None or math.isnan(mean):
        return NOT_MEASURED
    d = interval_decimals(ci)
    if ci is None or math.isnan(ci):
        return f"{mean:.{d}f}"
    return f"{mean:.{d}f} ± {ci:.{d}f}" + (f" {BOOTSTRAP_MARK}" if bootstrap else "")


def format_compute(key: str, value: float) -> str:
    if value is None or math.isnan(value):
        return ""
    if key in ("iterations", "images_seen"):
        return f"{value:,.0f}"
    if key in ("train_s", "peak_mem_mb"):
        return f"{value:,.0f}" if value >= 100 else f"{value:.3g}"
    return f"{value:.3g}"


def is_bootstrap(row: pd.Series) -> bool:
    n = row["n_seeds"]
    return not pd.isna(n) and n < 2 and BOOTSTRAP in str(row["ci95_method"] or "")


def shown_frame(block: TableBlock, metrics: Sequence[str]) -> pd.DataFrame:
    """A block as its Markdown / LaTeX table shows it: texts, indexed by the row label."""
    rows = block.rows
    compute = [k for k in COMPUTE_KEYS if rows[k].notna().any()]
    data: dict[str, list[str]] = {"preset": list(rows["preset"])}
    if (rows["variant"] != "").any():
        data["variant"] = list(rows["variant"])
    data["n"] = ["" if pd.isna(n) else str(int(n)) for n in rows["n_seeds"]]
    for m in metrics:
        data[m] = [format_value(r[m], r[f"{m}{CI_SUFFIX}"], is_bootstrap(r)) for _, r in rows.iterrows()]
        if m in DIRECTIONS:  # a metric with no better direction (texture) is never ranked: no rank column
            data[f"rank {m}"] = ["" if pd.isna(v) else str(int(v)) for v in rows[f"{m}_rank"]]
    for k in compute:
        label = COMPUTE_LABELS[k]
        if k == "peak_mem_mb":
            kinds = {x for x in rows["peak_mem_kind"] if isinstance(x, str)}
            label += f" ({', '.join(sorted(kinds))})" if kinds else ""
        data[label] = [format_compute(k, v) for v in rows[k]]
    frame = pd.DataFrame(data, index=pd.Index([paper_name(ORACLE) if m == ORACLE else label for m, label in
                                               zip(rows["registry_name"], rows["method"], strict=True)],
                                              name="method"))
    return frame


def to_markdown_text(table: DatasetTable) -> str:
    """Every block as a Markdown table with its title and verdict lines, then the notes."""
    title = f"{dataset_name(table.dataset)}: measured under SISBench protocols"
    if not table.blocks:
        return f"### {title}\n\nno evaluated runs yet\n"
    parts = [f"## {title}\n"]
    for block in table.blocks:
        parts.append(to_markdown(shown_frame(block, table.metrics), block.title, block.verdicts))
    parts.append("Notes:\n\n" + "\n".join(f"- {n}" for n in table.notes) + "\n")
    return "\n".join(parts)


def to_latex_text(table: DatasetTable) -> str:
    """One booktabs table per block, the verdicts as a footnote-size paragraph under each."""
    if not table.blocks:
        return f"% {latex_escape(dataset_name(table.dataset))}: no evaluated runs yet\n"
    parts = []
    for i, block in enumerate(table.blocks, start=1):
        tex = to_latex(shown_frame(block, table.metrics), block.title, f"{table.dataset}-measured-{i}")
        if block.verdicts:
            lines = " \\\\\n".join(latex_escape(v) for v in block.verdicts)
            tex = tex.replace(r"\end{tabular}", r"\end{tabular}" + "\n" + r"\par\footnotesize " + lines, 1)
        parts.append(tex)
    return "\n".join(parts)


def write_dataset_table(out: Path, dataset: str, *, results: pd.DataFrame | None = None,
                        methods_filter: Iterable[str] | None = None) -> list[Path]:
    """``<out>/<dataset>/table.{csv,md,tex}`` and ``table_seeds.csv``; ``results`` defaults to
    :func:`benchmark.results.collect_runs` of ``out``."""
    out = Path(out).resolve()
    results = collect_runs(out) if results is None else results
    return write_table_files(out, dataset_table(filter_methods(results, methods_filter), dataset, out))


def write_table_files(out: Path, table: DatasetTable) -> list[Path]:
    """Write a built :class:`DatasetTable` under ``<out>/<dataset>/``; returns the paths."""
    base = inside(out, table.dataset, what="dataset") / "table"  # a record's dataset name never leaves out
    paths = [base.with_suffix(".csv"), base.with_name("table_seeds.csv"), base.with_suffix(".md"),
             base.with_suffix(".tex")]
    # the block id (a JSON list of the protocol key and budget) stays in memory: the CSVs spell those out
    atomic_write_text(paths[0], table.table.drop(columns="block").to_csv(index=False))
    atomic_write_text(paths[1], table.seeds.drop(columns="block").to_csv(index=False))
    atomic_write_text(paths[2], to_markdown_text(table))
    atomic_write_text(paths[3], to_latex_text(table))
    return paths

