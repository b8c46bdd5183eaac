"""The papers' tables regenerated: each measured number beside the published one, each under its protocol.

A paper table is first built as *cells* (one row per method x source x dataset x metric, long form, with
the protocol id and run directory behind every measured value), then laid out as the paper prints it:
methods down, datasets x metrics across. Each method has a ``published`` row and one ``measured (<family>)``
row per protocol family, so a column never mixes protocols: in the COCO-Stuff column the row
``measured (spade-legacy)`` holds protocol ``coco_stuff-spade-legacy`` and nothing else.

Measured cells are experiments, not single runs: the seeds of one config group under one protocol key
(:mod:`benchmark.report.stats`), shown as the mean and, where there is one, the 95% interval
(``33.3 ± 1.2``: t over seeds; ``33.3 ± 0.8 †``: one seed, bootstrap over the evaluation images). The
experiment a cell quotes is the preferred one (:func:`benchmark.results.preferred_first`: finished, paper
preset, no overrides, no declared budget, most seeds).

A protocol id is not enough to make two numbers comparable: records that differ in the protocol version,
the number of evaluation images (``--num-images``), the segmenter checkpoint's sha256 or the IoU
averaging get a row of their own, ``measured (<family>; <what differs>)``, beside the row of the
protocol's current key (its latest version, the full evaluation set, the most preferred segmenter).

Rows name their preset. The ``measured (<family>)`` rows hold runs of the ``paper`` preset only (the
published architecture and schedule); a run of any other preset (``tiny``, the CPU-sized one) gets a row of
its own, ``measured (<family>), SISBench tiny preset, not the paper's schedule``, so a tiny number never
stands directly under a published one unmarked. The written tables (csv, md, tex, HTML) carry a ``preset``
column: ``the paper's`` for published rows, the preset of a measured row, ``-`` for the oracle.

Cell texts: a number; ``not run`` (no run of that method on that dataset under that protocol);
``not measured`` (the run's metrics.json holds null; with ``FD-seg: x`` where the FID fell back to the
segmenter's features, tagged because FD-seg is not FID); ``n/a`` (the paper prints no number).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from benchmark.io import atomic_write_text
from benchmark.registry import METHODS
from benchmark.report.stats import BOOTSTRAP, aggregate
from benchmark.resources import published_dir
from benchmark.results import CI_SUFFIX, ORACLE, filter_methods, preferred_first

PUBLISHED_DIR = published_dir()  # results/published/ of the checkout or of an installed wheel
PUBLISHED_COLUMNS = ("paper", "table", "dataset", "method", "metric", "value", "protocol")

#: registry name -> the row name the papers print
PAPER_NAMES = {"crn": "CRN", "pix2pix": "pix2pix", "pix2pixhd": "pix2pixHD", "spade": "SPADE",
               "adanorm": "adaptive normalization", "slnp": "SLNP-GAN", ORACLE: "oracle (real images)"}
REGISTRY_NAMES = {paper: name for name, paper in PAPER_NAMES.items()}
#: the order rows of measured methods take when a table has no paper order for them
METHOD_ORDER = ("crn", "pix2pix", "pix2pixhd", "spade", "adanorm", "slnp")
DATASET_NAMES = {"coco_stuff": "COCO-Stuff", "ade20k": "ADE20K", "ade20k_outdoor": "ADE20K-outdoor",
                 "cityscapes": "Cityscapes", "celebamask_hq": "CelebAMask-HQ", "synthetic": "synthetic"}

PUBLISHED = "published"
#: the preset whose schedule a paper table's published numbers come from; every other preset's row is marked
PAPER_PRESET = "paper"
#: what a paper table calls a row measured at another preset (``{preset}``: its name)
NON_PAPER_ROW = "SISBench {preset} preset, not the paper's schedule"
#: the preset column of published rows and of the oracle (the real images: no preset)
PUBLISHED_PRESET = "the paper's"
NO_PRESET = "-"
#: the papers by which titles, captions and figures name each method (authors and year, then the method)
CITATIONS = {"crn": "Chen & Koltun 2017", "pix2pix": "Isola et al. 2017", "pix2pixhd": "Wang et al. 2018",
             "spade": "Park et al. 2019", "adanorm": "Xu & Tan 2022", "slnp": "Zhang et al. 2020"}
NOT_RUN = "not run"
NOT_MEASURED = "not measured"
NOT_APPLICABLE = "n/a"


@dataclass(frozen=True)
class PaperTable:
    """One published table: which CSV rows it quotes and how the paper lays it out."""

    key: str                           # output file stem
    title: str
    published_file: str                # stem of the CSV under results/published/
    table: str                         # the CSV's ``table`` value
    datasets: tuple[str, ...]
    metrics: tuple[str, ...]           # SISBench metric keys in the paper's column order
    rows: tuple[str, ...]              # the paper's row names, in its order
    published_only: tuple[str, ...] = ()   # rows SISBench cannot run (not semantic-map methods)
    families: tuple[str, ...] = ("spade-legacy", "mmseg-deeplabv3")  # measured rows always shown
    metric_labels: Mapping[str, str] = field(default_factory=dict)
    decimals: int = 1

    def metric_label(self, metric: str) -> str:
        return self.metric_labels.get(metric, metric)


SPADE_TABLE1 = PaperTable(
    key="spade_table1", title="Park et al. 2019, SPADE: Table 1, segmentation scores and FID on four datasets",
    published_file="spade_table1", table="Table 1",
    datasets=("coco_stuff", "ade20k", "ade20k_outdoor", "cityscapes"), metrics=("mIoU", "accu", "FID"),
    rows=("CRN", "SIMS", "pix2pixHD", "SPADE"), published_only=("SIMS",))
SEED000_TABLE1 = PaperTable(
    key="seed000_table1", title="Xu & Tan 2022, adaptive normalization: Table 1, CelebAMask-HQ",
    published_file="seed000_table1", table="Table 1", datasets=("celebamask_hq",),
    metrics=("FID", "mIoU", "accu"), rows=("pix2pixHD", "SPADE", "adaptive normalization"),
    families=("trained-deeplabv3",), decimals=2)
SEED002_TABLE2 = PaperTable(
    key="seed002_table2", title="Zhang et al. 2020, SLNP-GAN: Table 2, COCO-Stuff", published_file="seed002_tables2_3",
    table="Table 2", datasets=("coco_stuff",), metrics=("mIoU", "accu", "FID"),
    rows=("sg2im", "text2img", "SLNP-GAN"), published_only=("sg2im", "text2img"),
    families=("mmseg-deeplabv3", "spade-legacy"), metric_labels={"accu": "PA"})
SEED002_TABLE3 = PaperTable(
    key="seed002_table3", title="Zhang et al. 2020, SLNP-GAN: Table 3, ADE20K", published_file="seed002_tables2_3",
    table="Table 3", datasets=("ade20k",), metrics=("mIoU", "accu", "FID"),
    rows=("sg2im", "text2img", "SLNP-GAN"), published_only=("sg2im", "text2img"),
    families=("mmseg-deeplabv3", "spade-legacy"), metric_labels={"accu": "PA"})
PAPER_TABLES = (SPADE_TABLE1, SEED000_TABLE1, SEED002_TABLE2, SEED002_TABLE3)


def paper_name(method: str) -> str:
    """The papers' row name of a registry method; a plugin's ``display_name`` where it sets one, else its
    registry name."""
    if method in PAPER_NAMES:
        return PAPER_NAMES[method]
    cls = METHODS.get(method) if method in METHODS else None
    return str(getattr(cls, "display_name", "") or method)


def cited_name(method: str) -> str:
    """``Xu & Tan 2022, adaptive normalization``: the paper (authors and year) and the method's row name,
    as titles, captions and figures name a method; a method without a known paper (a plugin that sets
    ``citation``, else its row name alone)."""
    cls = METHODS.get(method) if method not in CITATIONS and method in METHODS else None
    cite = CITATIONS.get(method) or str(getattr(cls, "citation", "") or "")
    return f"{cite}, {paper_name(method)}" if cite else paper_name(method)


def figure_name(method: str, sep: str = " ") -> str:
    """``SPADE (Park et al. 2019)``: a method as figures label it, the paper after the name (``sep``: what
    goes between them, a line break in narrow panel titles)."""
    cite = cited_name(method)
    name = paper_name(method)
    return f"{name}{sep}({cite[: -len(name) - 2]})" if cite != name else name


def preset_tag(method: str, preset: object) -> str:
    """The part of a measured source that names a preset other than the paper's: empty for the paper preset
    and for the oracle (the real images), else the preset's name (``unrecorded`` where a record names
    none)."""
    if method == ORACLE or preset == PAPER_PRESET:
        return ""
    return str(preset) if isinstance(preset, str) and preset else "unrecorded"


def split_source(source: str) -> tuple[str, str, str]:
    """``(family, qualifier, preset tag)`` of a measured source ``family[; qualifier][ @preset]``."""
    rest, _, tag = source.partition(" @")
    family, _, qualifier = rest.partition("; ")
    return family, qualifier, tag


def join_source(family: str, qualifier: str = "", tag: str = "") -> str:
    """The inverse of :func:`split_source`."""
    return family + (f"; {qualifier}" if qualifier else "") + (f" @{tag}" if tag else "")


def dataset_name(dataset: str) -> str:
    """The papers' spelling of a registry dataset name."""
    return DATASET_NAMES.get(dataset, dataset)


def source_label(source: str) -> str:
    """The row label of a source: ``published``, ``measured (<protocol family>)`` for the paper preset, or
    ``measured (<family>), SISBench tiny preset, not the paper's schedule`` for another preset."""
    if source == PUBLISHED:
        return "published"
    family, qualifier, tag = split_source(source)
    label = f"measured ({join_source(family, qualifier)})"
    return f"{label}, {NON_PAPER_ROW.format(preset=tag)}" if tag else label


def source_preset(source: str, method: str) -> str:
    """The preset column of a paper-table row: the paper's (published), ``-`` (the oracle) or the preset
    its measured numbers ran at."""
    if source == PUBLISHED:
        return PUBLISHED_PRESET
    if method == ORACLE:
        return NO_PRESET
    return split_source(source)[2] or PAPER_PRESET


def load_published(directory: Path = PUBLISHED_DIR) -> pd.DataFrame:
    """Every ``results/published/*.csv`` row with a ``file`` column (the CSV's stem).

    Any CSV with the :data:`PUBLISHED_COLUMNS` is read (further columns are kept), so a plugin's table
    (e.g. ``oasis*.csv``) needs no code here, only a :class:`PaperTable` naming its file and table. A file
    without those columns or with a value that is not a number is refused, naming the file and row."""
    frames = []
    for path in sorted(Path(directory).glob("*.csv")):
        frame = pd.read_csv(path, dtype={"value": str}, keep_default_na=False)
        missing = set(PUBLISHED_COLUMNS) - set(frame.columns)
        if missing:
            raise ValueError(f"{path} lacks the columns {sorted(missing)}; expected {', '.join(PUBLISHED_COLUMNS)}")
        values = pd.to_numeric(frame["value"], errors="coerce")
        bad = frame.index[values.isna()]
        if len(bad):
            row = frame.loc[bad[0]]
            raise ValueError(f"{path}, row {bad[0] + 2}: value {row['value']!r} of {row['method']} {row['metric']} "
                             f"is not a number; leave a number the paper does not print out of the file")
        frames.append(frame.assign(value=values.astype(float), file=path.stem))
    if not frames:
        raise FileNotFoundError(f"no published numbers under {directory} (expected results/published/*.csv)")
    return pd.concat(frames, ignore_index=True)


def _fmt(value: float, decimals: int) -> str:
    return f"{value:.{decimals}f}"


def _family(protocol_id: str, dataset: str) -> str | None:
    prefix = f"{dataset}-"
    return protocol_id[len(prefix):] if protocol_id.startswith(prefix) else None


def _measured_cell(entry: pd.Series | None, metric: str, decimals: int) -> tuple[float, str, str]:
    """``(value, text, status)`` of one measured cell (``entry``: an experiment from
    :func:`benchmark.report.stats.aggregate`)."""
    if entry is None:
        return math.nan, NOT_RUN, NOT_RUN
    value = entry.get(metric, math.nan)
    if pd.notna(value):
        ci = entry.get(f"{metric}{CI_SUFFIX}", math.nan)
        text = _fmt(float(value), decimals)
        if pd.notna(ci):
            text += f" ± {_fmt(float(ci), decimals)}"
            if entry["n_seeds"] == 1 and BOOTSTRAP in str(entry["ci95_method"]):
                text += " †"
        return float(value), text, "measured"
    if metric == "FID":  # what stands in for a missing FID, tagged: neither is the paper's FID
        for stand_in in ("FID (unofficial weights)", "FD-seg"):
            other = entry.get(stand_in, math.nan)
            if pd.notna(other):
                return math.nan, f"{NOT_MEASURED} ({stand_in}: {_fmt(float(other), decimals)})", NOT_MEASURED
    return math.nan, NOT_MEASURED, NOT_MEASURED


def _same(a: object, b: object) -> bool:
    return (pd.isna(a) and pd.isna(b)) if (pd.isna(a) or pd.isna(b)) else a == b


def key_qualifier(entry: pd.Series, current: pd.Series) -> str:
    """What sets ``entry``'s protocol key apart from ``current`` (the protocol's current key), in words;
    empty when the keys are equal."""
    parts = []
    if not _same(entry["protocol_version"], current["protocol_version"]):
        parts.append(f"v{entry['protocol_version']}")
    if not (_same(entry["num_images"], current["num_images"])
            and _same(entry["num_images_overridden"], current["num_images_overridden"])):
        n = "?" if pd.isna(entry["num_images"]) else f"{int(entry['num_images']):,}"
        parts.append(f"{n} images" + (" (--num-images)" if entry["num_images_overridden"] else ""))
    if not _same(entry["segmenter_sha256"], current["segmenter_sha256"]):
        sha = entry["segmenter_sha256"]
        parts.append(f"segmenter {sha[:8]}" if isinstance(sha, str) else "segmenter unhashed")
    if not _same(entry["averaging"], current["averaging"]):
        parts.append(f"averaging {entry['averaging']}")
    if not _same(entry["inception_official"], current["inception_official"]):
        parts.append("official Inception" if entry["inception_official"] else "unofficial Inception")
    return ", ".join(parts)


def _with_qualifiers(entries: pd.DataFrame) -> pd.DataFrame:
    """``entries`` with a ``qualifier`` column: empty for the current key of each protocol id (latest
    version, not overridden, then the preferred experiment's), else what differs from it."""
    qualifiers = pd.Series("", index=entries.index, dtype=object)
    for _, part in entries.groupby("protocol_id", sort=False):
        order = preferred_first(part)
        order = order.assign(_v=order["protocol_version"].fillna(-1),
                             _o=order["num_images_overridden"].astype(bool)).sort_values(
            ["_v", "_o"], ascending=[False, True], kind="stable")
        current = order.iloc[0]
        for i in part.index:
            qualifiers[i] = key_qualifier(part.loc[i], current)
    return entries.assign(qualifier=qualifiers)


def table_cells(spec: PaperTable, published: pd.DataFrame, results: pd.DataFrame,
                methods_filter: Iterable[str] | None = None) -> pd.DataFrame:
    """The long form of ``spec``: one row per (row, source, dataset, metric) with its value, display text,
    status, protocol, seeds and the run directory of the experiment's first seed. ``methods_filter``
    (registry names) keeps only those methods' rows; published-only rows and the oracle stay."""
    pub = published[(published["file"] == spec.published_file) & (published["table"] == spec.table)]
    measured = filter_methods(results[results["dataset"].isin(spec.datasets)], methods_filter)
    metrics = list(dict.fromkeys([*spec.metrics, "FID (unofficial weights)", "FD-seg"]))
    metrics = [m for m in metrics if m in measured]
    entries = aggregate(measured, metrics)
    entries = _with_qualifiers(entries) if len(entries) else entries.assign(qualifier=pd.Series(dtype=object))
    entries["family"] = [_family(str(p), d) for p, d in zip(entries["protocol_id"], entries["dataset"], strict=True)]
    entries = entries[entries["family"].notna()]
    entries = entries.assign(tag=[preset_tag(m, p) for m, p in
                                  zip(entries["method"], entries["preset"], strict=True)])
    entries = entries.assign(source=[join_source(f, q, t) for f, q, t in
                                     zip(entries["family"], entries["qualifier"], entries["tag"], strict=True)])
    found = sorted({f for f in entries["family"] if f not in spec.families})
    # every method shows its paper-preset row of each family; a qualified key or another preset only where run
    always = [*spec.families, *found]
    extra_sources = sorted(set(entries["source"]) - set(always))
    keep = None if methods_filter is None else set(methods_filter)
    rows = [r for r in spec.rows if r in spec.published_only or keep is None or REGISTRY_NAMES.get(r) in keep]
    extra = [m for m in (*METHOD_ORDER, *sorted(set(measured["method"]) - set(METHOD_ORDER)))
             if m in set(measured["method"]) and m != ORACLE and paper_name(m) not in rows]
    rows += [paper_name(m) for m in extra]
    row_method = {**REGISTRY_NAMES, **{paper_name(m): m for m in extra}}
    if (measured["method"] == ORACLE).any():
        rows.append(paper_name(ORACLE))

    records = []
    for row in rows:
        method = row_method.get(row, row)
        sources = [PUBLISHED] if row in spec.rows else []
        if row not in spec.published_only:
            mine = set(entries.loc[entries["method"] == method, "source"])
            sources += [*always, *(f for f in extra_sources if f in mine)]
        for source in sources:
            family, qualifier, tag = split_source(source)
            for dataset in spec.datasets:
                protocol_id = spec.published_file if source == PUBLISHED else f"{dataset}-{family}"
                found_entries = preferred_first(entries[(entries["method"] == method)
                                                        & (entries["dataset"] == dataset)
                                                        & (entries["protocol_id"] == protocol_id)
                                                        & (entries["qualifier"] == qualifier)
                                                        & (entries["tag"] == tag)])
                entry = None if source == PUBLISHED or found_entries.empty else found_entries.iloc[0]
                for metric in spec.metrics:
                    if source == PUBLISHED:
                        hit = pub[(pub["method"] == row) & (pub["dataset"] == dataset) & (pub["metric"] == metric)]
                        value = float(hit["value"].iloc[0]) if len(hit) else math.nan
                        text = _fmt(value, spec.decimals) if len(hit) else NOT_APPLICABLE
                        status = PUBLISHED if len(hit) else NOT_APPLICABLE
                        protocol = hit["protocol"].iloc[0] if len(hit) else None
                    else:
                        value, text, status = _measured_cell(entry, metric, spec.decimals)
                        protocol = protocol_id
                    records.append({"row": row, "method": method, "source": source,
                                    "preset": source_preset(source, method), "dataset": dataset,
                                    "metric": metric, "value": value, "text": text, "status": status,
                                    "protocol": protocol,
                                    "n_seeds": None if entry is None or pd.isna(entry["n_seeds"])
                                    else int(entry["n_seeds"]),
                                    "ci95": None if entry is None else entry.get(f"{metric}{CI_SUFFIX}"),
                                    "run_id": None if entry is None else " ".join(entry["run_ids"]),
                                    "run_dir": None if entry is None else entry["run_dirs"][0]})
    return pd.DataFrame(records, columns=["row", "method", "source", "preset", "dataset", "metric", "value", "text",
                                          "status", "protocol", "n_seeds", "ci95", "run_id", "run_dir"])


def layout(spec: PaperTable, cells: pd.DataFrame) -> pd.DataFrame:
    """The cells' display texts as the paper lays them out: rows (method, source), columns (dataset, metric)."""
    index = pd.MultiIndex.from_tuples(list(dict.fromkeys(zip(cells["row"], cells["source"].map(source_label),
                                                             strict=True))), names=["method", "source"])
    columns = pd.MultiIndex.from_tuples([(dataset_name(d), spec.metric_label(m)) for d in spec.datasets
                                         for m in spec.metrics], names=["dataset", "metric"])
    frame = pd.DataFrame(index=index, columns=columns, dtype=object)
    for cell in cells.itertuples(index=False):
        frame.loc[(cell.row, source_label(cell.source)),
                  (dataset_name(cell.dataset), spec.metric_label(cell.metric))] = cell.text
    return frame


def with_preset(frame: pd.DataFrame, cells: pd.DataFrame) -> pd.DataFrame:
    """``frame`` (from :func:`layout`) with the preset of every row as a third index level, as the written
    tables show it: ``the paper's`` for published rows, the preset a measured row ran at, ``-`` for the
    oracle."""
    presets = dict(zip(zip(cells["row"], cells["source"].map(source_label), strict=True), cells["preset"],
                       strict=True))
    index = pd.MultiIndex.from_tuples([(m, s, presets.get((m, s), NO_PRESET)) for m, s in frame.index],
                                      names=[*frame.index.names, "preset"])
    return frame.set_axis(index, axis=0)


def protocol_legend(spec: PaperTable, cells: pd.DataFrame) -> list[str]:
    """One line per source: what protocol its numbers come from."""
    lines = []
    for source in dict.fromkeys(cells["source"]):
        if source == PUBLISHED:
            for dataset in spec.datasets:
                described = cells[(cells["source"] == PUBLISHED) & (cells["dataset"] == dataset)]["protocol"].dropna()
                if len(described):
                    lines.append(f"published, {dataset_name(dataset)}: {described.iloc[0]}")
        else:
            family, qualifier, tag = split_source(source)
            ids = ", ".join(f"{d}-{family}" for d in spec.datasets)
            lines.append(f"{source_label(source)}: SISBench protocol {ids}"
                         + (f", records that differ from the protocol's current key in: {qualifier}"
                            if qualifier else "")
                         + (f"; runs of SISBench's {tag} preset (its widths, resolution, loss weights and "
                            f"schedule, docs/presets.md), not comparable with the published numbers"
                            if tag else ""))
    if (cells["text"].str.endswith(" †")).any():
        lines.append("± after a number: 95% interval (t over seeds); with † a bootstrap over the evaluation "
                     "images of a single seed")
    elif cells["text"].str.contains(" ± ").any():
        lines.append("± after a number: 95% Student t interval over seeds")
    return lines


# -- renderers -------------------------------------------------------------------------------------------

def _flat_columns(frame: pd.DataFrame) -> list[str]:
    return [" ".join(str(p) for p in c) if isinstance(c, tuple) else str(c) for c in frame.columns]


def to_markdown(frame: pd.DataFrame, title: str, notes: Sequence[str] = ()) -> str:
    """A GitHub-flavoured Markdown table (index levels as the first columns) with a title and notes."""
    head = [*frame.index.names, *_flat_columns(frame)]
    lines = [f"### {title}", "", "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for key, values in zip(frame.index, frame.itertuples(index=False), strict=True):
        keys = key if isinstance(key, tuple) else (key,)
        cells = [*(str(k) for k in keys), *("" if v is None or v is pd.NA else str(v) for v in values)]
        lines.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
    lines += ["", *(f"- {n}" for n in notes)]
    return "\n".join(lines).rstrip() + "\n"


_LATEX_SPECIAL = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_",
                  "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}",
                  # OT1 fonts print < > | as other glyphs; the interval and bootstrap marks as math symbols
                  "<": r"\textless{}", ">": r"\textgreater{}", "|": r"\textbar{}", "±": r"$\pm$",
                  "†": r"$^\dagger$"}


def latex_escape(text: str) -> str:
    """``text`` with LaTeX's special characters escaped."""
    return "".join(_LATEX_SPECIAL.get(ch, ch) for ch in str(text))


def to_latex(frame: pd.DataFrame, title: str, label: str) -> str:
    """A booktabs table; two-level columns get a spanning header per group with a ``\\cmidrule``."""
    n_index = frame.index.nlevels
    columns = list(frame.columns)
    lines = [r"\begin{table}[t]", r"\centering", r"\small",
             r"\begin{tabular}{" + "l" * n_index + "r" * len(columns) + "}", r"\toprule"]
    if isinstance(frame.columns, pd.MultiIndex):
        groups: list[tuple[str, int]] = []
        for top, _ in columns:
            if groups and groups[-1][0] == top:
                groups[-1] = (top, groups[-1][1] + 1)
            else:
                groups.append((top, 1))
        header, rules, start = [""] * n_index, [], n_index + 1
        for top, span in groups:
            header.append(rf"\multicolumn{{{span}}}{{c}}{{{latex_escape(top)}}}")
            rules.append(rf"\cmidrule(lr){{{start}-{start + span - 1}}}")
            start += span
        lines += [" & ".join(header) + r" \\", " ".join(rules)]
        sub = [latex_escape(c[1]) for c in columns]
    else:
        sub = [latex_escape(c) for c in columns]
    lines.append(" & ".join([*(latex_escape(n or "") for n in frame.index.names), *sub]) + r" \\")
    lines.append(r"\midrule")
    previous = None
    for key, values in zip(frame.index, frame.itertuples(index=False), strict=True):
        keys = list(key) if isinstance(key, tuple) else [key]
        if n_index > 1 and previous is not None and keys[0] != previous:
            lines.append(r"\midrule")
        shown = ["" if n_index > 1 and keys[0] == previous and i == 0 else latex_escape(k)
                 for i, k in enumerate(keys)]
        previous = keys[0]
        lines.append(" & ".join([*shown, *("" if v is None else latex_escape(v) for v in values)]) + r" \\")
    lines += [r"\bottomrule", r"\end{tabular}", rf"\caption{{{latex_escape(title)}}}",
              rf"\label{{tab:{label}}}", r"\end{table}"]
    return "\n".join(lines) + "\n"


def _relative(path: object, out: Path) -> str:
    if path is None or (isinstance(path, float) and math.isnan(path)):
        return ""
    try:
        return Path(path).resolve().relative_to(Path(out).resolve()).as_posix()
    except ValueError:
        return str(path)


def write_paper_table(out: Path, spec: PaperTable, cells: pd.DataFrame) -> list[Path]:
    """``<out>/tables/<key>.{csv,md,tex}`` in the paper's layout and ``<key>_cells.csv`` (long form, with
    the protocol and run directory behind every cell); ``cells`` from :func:`table_cells`."""
    frame = with_preset(layout(spec, cells), cells)
    notes = protocol_legend(spec, cells)
    base = Path(out) / "tables" / spec.key
    flat = frame.copy()
    flat.columns = _flat_columns(frame)
    long = cells.assign(run_dir=[_relative(p, out) for p in cells["run_dir"]])
    paths = [base.with_suffix(".csv"), base.with_name(f"{spec.key}_cells.csv"), base.with_suffix(".md"),
             base.with_suffix(".tex")]
    atomic_write_text(paths[0], flat.reset_index().to_csv(index=False))
    atomic_write_text(paths[1], long.to_csv(index=False))
    atomic_write_text(paths[2], to_markdown(frame, spec.title, notes))
    atomic_write_text(paths[3], to_latex(frame, spec.title, spec.key))
    return paths
