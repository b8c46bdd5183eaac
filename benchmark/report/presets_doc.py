"""docs/presets.md generated: what each tiny preset changes and why (from the configs), and what the tiny
presets measured (from the record file docs/presets.csv), so that no number in it is typed by hand.

``python -m benchmark.report.presets_doc --write`` re-renders every generated block of docs/presets.md;
``--check`` exits 1 naming the stale blocks (tests/test_docs_records.py runs it). ``report --export-presets
docs/presets.csv`` writes the record file and re-renders the measured block of the ``presets.md`` beside it.

Blocks (between ``<!-- BEGIN GENERATED <name> -->`` and ``<!-- END GENERATED <name> -->``):

- ``measured``: one row per (dataset, protocol, method, preset, variant) of the record file: seeds, the mean
  mIoU with the 95% Student t interval over seeds (the mean alone for one seed), the oracle's mIoU and the
  share of it, the image metric, texture, iterations, train seconds, GFLOPs per iteration, hardware, dates
  and commits. An empty file renders the command that fills it;
- ``data``: the keys in which the tiny preset of the embedded dataset departs from the paper preset;
- ``departures:<method>``: every key of the method's resolved config (the method's sections and its
  schedule: iterations, batch, stages, learning-rate schedule) whose tiny value differs from the paper
  value, with the reason. Both presets are resolved on the embedded ``synthetic`` dataset, so the difference
  is the preset's alone. A reason is a comment line ``# <key>[, <key> ...]: <reason>`` in one of the tiny
  preset's own files (the method's tiny file, the tiny schedule, the dataset file), continued on the comment
  lines below it; a departing key without one is listed by :func:`missing_reasons` (a test fails on it).
"""

from __future__ import annotations

import argparse
import math
import re
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from benchmark.config import CONFIG_ROOT, PRESETS, config_search_path, config_sources, load_config
from benchmark.report.presets_export import read_records
from benchmark.report.stats import t_half_width
from benchmark.report.tables import cited_name, dataset_name
from benchmark.resources import source_checkout

DOCS = (source_checkout() or Path.cwd()) / "docs"
DOC = DOCS / "presets.md"
RECORDS = DOCS / "presets.csv"
DATASET = "synthetic"
#: sections that are the method's (the rest is data, evaluation, provenance and run bookkeeping)
NOT_METHOD = ("data", "eval", "run", "train", "budget", "seed", "method", "dataset", "preset", "_meta_")
#: the training keys that define a schedule (logging and checkpoint cadences are left out)
SCHEDULE = ("iters", "batch_size", "epochs", "stages", "lr_schedule", "ema")
#: the data keys that define what a tiny run sees
DATA_KEYS = ("render_size", "load_size", "crop_size", "num_train", "num_val")
BLOCK = re.compile(r"(<!-- BEGIN GENERATED (?P<name>[\w:-]+) -->\n)(?P<body>.*?)(<!-- END GENERATED (?P=name) -->)",
                   re.S)
REASON = re.compile(r"^#\s*(?P<keys>[A-Za-z_][\w.]*(?:\s*,\s*[A-Za-z_][\w.]*)*):\s+(?P<why>\S.*)$")
FILL_COMMAND = ("python -m benchmark run --methods crn,pix2pix,pix2pixhd,spade,adanorm,slnp --dataset synthetic "
                "--seeds 0,1,2")
EXPORT_COMMAND = "python -m benchmark report --export-presets docs/presets.csv"


def builtin_methods(root: Path = CONFIG_ROOT) -> list[str]:
    """Methods with a config directory holding both presets."""
    return sorted(d.name for d in root.iterdir()
                  if d.is_dir() and not d.name.startswith("_")
                  and all((d / f"{d.name}_{p}.py").is_file() for p in PRESETS))


def flatten(d: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """``{"a": {"b": 1}}`` -> ``{"a.b": 1}``."""
    out: dict[str, Any] = {}
    for key, value in d.items():
        if isinstance(value, Mapping) and value:
            out.update(flatten(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


_MISSING = object()


def _cell(value: Any) -> str:
    if value is _MISSING:
        return "-"
    text = repr(value) if isinstance(value, str) else str(value)
    return text.replace("|", "\\|")


def reasons(files: Sequence[Path]) -> dict[str, str]:
    """``{key: reason}`` from the ``# key[, key]: reason`` comment lines of ``files`` (continued on the
    comment lines that follow, up to a blank, code or another reason line)."""
    found: dict[str, str] = {}
    for path in files:
        keys: list[str] = []
        for line in Path(path).read_text().splitlines():
            text = line.strip()
            match = REASON.match(text)
            if match:
                keys = [k.strip() for k in match["keys"].split(",")]
                for k in keys:
                    found[k] = match["why"].strip()
            elif text.startswith("#") and keys:
                for k in keys:
                    found[k] += " " + text.lstrip("#").strip()
            else:
                keys = []
    return found


def _tiny_files(method: str) -> list[Path]:
    """The tiny preset's own files (not the method's base, which both presets share)."""
    return [s.layer.root / s.rel for s in config_sources(method, DATASET, "tiny", config_search_path())]


def _resolved(method: str, preset: str) -> dict[str, Any]:
    return load_config(method, DATASET, preset).to_dict()


def departures(method: str) -> list[tuple[str, Any, Any]]:
    """``(key, tiny value, paper value)`` of every method or schedule key in which tiny differs."""
    cfgs = {p: _resolved(method, p) for p in PRESETS}
    flat = {p: {**flatten({k: v for k, v in c.items() if k not in NOT_METHOD}),
                **flatten({k: c["train"][k] for k in SCHEDULE if k in c["train"]}, "train.")}
            for p, c in cfgs.items()}
    keys = sorted(set(flat["tiny"]) | set(flat["paper"]))
    return [(k, flat["tiny"].get(k, _MISSING), flat["paper"].get(k, _MISSING)) for k in keys
            if flat["tiny"].get(k, _MISSING) != flat["paper"].get(k, _MISSING)]


def _reason_for(key: str, found: Mapping[str, str]) -> str | None:
    """The reason of ``key`` or of the section above it (``train.stages`` covers ``train.stages.x.iters``)."""
    parts = key.split(".")
    for n in range(len(parts), 0, -1):
        if ".".join(parts[:n]) in found:
            return found[".".join(parts[:n])]
    return None


def missing_reasons(method: str) -> list[str]:
    """The departing keys of ``method`` whose tiny files give no reason."""
    found = reasons(_tiny_files(method))
    return [k for k, _, _ in departures(method) if _reason_for(k, found) is None]


def render_departures(method: str) -> str:
    found = reasons(_tiny_files(method))
    files = ", ".join(f"`configs/{s.rel}`" for s in config_sources(method, DATASET, "tiny", config_search_path())
                      if s.role != "dataset")
    lines = [f"{cited_name(method)} (`{method}`): the keys in which tiny departs from paper, both resolved on "
             f"`{DATASET}`; the reasons are the comments of {files}.", "",
             "| key | tiny | paper | why |", "|---|---|---|---|"]
    for key, tiny, paper in departures(method):
        why = _reason_for(key, found) or "no reason given"
        lines.append(f"| `{key}` | {_cell(tiny)} | {_cell(paper)} | {why.replace('|', '/')} |")
    return "\n".join(lines) + "\n"


def render_data() -> str:
    cfgs = {p: load_config("spade", DATASET, p).to_dict()["data"] for p in PRESETS}
    dataset_file = CONFIG_ROOT / "_base_" / "datasets" / f"{DATASET}.py"
    found = reasons([dataset_file])
    lines = [f"The embedded `{DATASET}` dataset at each preset (`configs/_base_/datasets/{DATASET}.py`):", "",
             "| key | tiny | paper | why |", "|---|---|---|---|"]
    for key in DATA_KEYS:
        tiny, paper = cfgs["tiny"].get(key, _MISSING), cfgs["paper"].get(key, _MISSING)
        if tiny != paper:
            why = found.get(f"data.{key}") or found.get(key) or "no reason given"
            lines.append(f"| `data.{key}` | {_cell(tiny)} | {_cell(paper)} | {why.replace('|', '/')} |")
    return "\n".join(lines) + "\n"


def _num(value: float, decimals: int = 1) -> str:
    return "" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:.{decimals}f}"


def _mean(values: Sequence[float]) -> float:
    x = [float(v) for v in values if pd.notna(v)]
    return sum(x) / len(x) if x else math.nan


def _with_interval(values: Sequence[float], decimals: int = 1) -> str:
    mean = _mean(values)
    if math.isnan(mean):
        return ""
    half = t_half_width([float(v) for v in values if pd.notna(v)])
    return _num(mean, decimals) + ("" if math.isnan(half) else f" ± {_num(half, decimals)}")


def render_measured(records: pd.DataFrame) -> str:
    """The measured block from the record file's rows."""
    if records.empty:
        return (f"No recorded runs yet: run `{FILL_COMMAND}`, then `{EXPORT_COMMAND}` (it writes the record file "
                f"and this table).\n")
    lines = ["Generated from [presets.csv](presets.csv) (`report --export-presets`), one row per method, preset, "
             "variant and protocol: mIoU is the mean over the seeds ± the half-width of the 95% Student t "
             "interval (the mean alone for one seed); `of oracle` is mIoU over the real images' mIoU under the "
             "same protocol; train s and GFLOP/it are the runs' own measurements on the hardware named.", "",
             "| dataset | protocol | method | preset | variant | seeds | mIoU | oracle mIoU | of oracle | "
             "image metric | texture | texture max | checkerboard | iterations | train s | GFLOP/it | hardware "
             "| date | commit |",
             "|" + "---|" * 19]
    frame = records.assign(variant=records["variant"].fillna(""))
    groups = frame.groupby(["dataset", "protocol_id", "method", "preset", "variant"], sort=True, dropna=False)
    for (dataset, protocol, method, preset, variant), part in groups:
        seeds = ", ".join(str(int(s)) for s in sorted(part["seed"].dropna()))
        metric = " / ".join(sorted(set(part["image_metric"].dropna())))
        dates = sorted(set(part["finished"].dropna()) - {""})
        cells = [dataset_name(str(dataset)), f"`{protocol}`", cited_name(str(method)), str(preset),
                 str(variant) or "as shipped", seeds, _with_interval(part["mIoU"]),
                 _num(_mean(part["oracle_mIoU"])), _num(100 * _mean(part["mIoU_of_oracle"]), 0) + "%"
                 if pd.notna(_mean(part["mIoU_of_oracle"])) else "",
                 f"{metric} {_with_interval(part['image_metric_value'], 2)}".strip(),
                 _num(_mean(part["texture"]), 2), _num(_mean(part["texture_max"]), 2),
                 _num(_mean(part["checkerboard"]), 2), _num(_mean(part["iterations"]), 0),
                 _num(_mean(part["train_s"]), 0), _num(_mean(part["gflops_per_iter"]), 1),
                 "; ".join(sorted(set(part["hardware"].dropna()) - {""})),
                 dates[0] if len(dates) == 1 else f"{dates[0]} to {dates[-1]}" if dates else "",
                 " ".join(sorted(set(part["commit"].dropna()) - {""}))]
        lines.append("| " + " | ".join(c.replace("|", "/") for c in cells) + " |")
    return "\n".join(lines) + "\n"


def render(name: str, records: pd.DataFrame | None = None) -> str:
    """The body of the generated block ``name``."""
    if name == "measured":
        return render_measured(read_records(RECORDS) if records is None else records)
    if name == "data":
        return render_data()
    kind, _, method = name.partition(":")
    if kind == "departures" and method:
        return render_departures(method)
    raise ValueError(f"unknown generated block {name!r} (measured, data, departures:<method>)")


def update(text: str, records: pd.DataFrame | None = None, only: Sequence[str] | None = None) -> tuple[str, list[str]]:
    """``text`` with its generated blocks re-rendered (``only``: those names), and the names that changed."""
    changed: list[str] = []

    def sub(match: re.Match) -> str:
        if only is not None and match["name"] not in only:
            return match.group(0)
        body = render(match["name"], records)
        if body != match["body"]:
            changed.append(match["name"])
        return match.group(1) + body + match.group(4)

    return BLOCK.sub(sub, text), changed


def missing_blocks(text: str) -> list[str]:
    present = {m["name"] for m in BLOCK.finditer(text)}
    wanted = ["measured", "data", *(f"departures:{m}" for m in builtin_methods())]
    return [n for n in wanted if n not in present]


def write_measured(doc: Path, records: pd.DataFrame) -> bool:
    """Re-render the measured block of ``doc`` from ``records``; False when ``doc`` has no such block."""
    from benchmark.io import atomic_write_text

    doc = Path(doc)
    if not doc.is_file():
        return False
    text = doc.read_text()
    if "<!-- BEGIN GENERATED measured -->" not in text:
        return False
    new, _ = update(text, records, only=["measured"])
    if new != text:
        atomic_write_text(doc, new)
    return True


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    mode = parser.add_mutually_exclusive_group(required=True)
    mode.add_argument("--write", action="store_true", help=f"rewrite the generated blocks of {DOC}")
    mode.add_argument("--check", action="store_true", help="exit 1 if a block is stale or missing")
    args = parser.parse_args(argv)
    text = DOC.read_text()
    new, changed = update(text)
    missing = missing_blocks(text)
    if args.write:
        if new != text:
            from benchmark.io import atomic_write_text

            atomic_write_text(DOC, new)
        print(f"rewrote the blocks {', '.join(changed) or 'none'} of {DOC}")
    elif changed:
        print(f"{DOC}: the generated blocks {', '.join(changed)} differ from the configs and {RECORDS.name}; run "
              f"`python -m benchmark.report.presets_doc --write`", file=sys.stderr)
    if missing:
        print(f"{DOC} lacks the generated blocks {', '.join(missing)}; add '<!-- BEGIN GENERATED <name> -->' and "
              f"'<!-- END GENERATED <name> -->' lines and run `python -m benchmark.report.presets_doc --write`",
              file=sys.stderr)
    return 1 if missing or (args.check and changed) else 0


if __name__ == "__main__":
    sys.exit(main())
