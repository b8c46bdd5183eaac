"""The measured figures of finished runs as one record file: ``report --export-presets docs/presets.csv``.

The docs never type a measured number: every figure they quote about a preset (mIoU and the oracle's, FD-seg
or FID, texture, train seconds, GFLOPs per iteration, the hardware, the date and the commit) is a row of
this file, written from the run directories by :func:`export_presets`, and the tables of docs/presets.md are
rendered from the file by :mod:`benchmark.report.presets_doc` (a test fails when they disagree).

Decisions:

- one row per metrics record of a finished run at one of the exported presets (``tiny`` by default: the
  presets the docs describe as measured on a CPU), so a run scored under two protocols gives two rows; an
  unfinished run is left out. ``variant`` says what a run changed from its preset (``--set`` / ``--iters``
  values, swept values, a declared budget; empty for the preset as shipped), so a variant is recorded as
  one and never passes for the preset: the docs tables group rows by method, preset and variant;
- the oracle's mIoU is the oracle record under the same protocol key (protocol id, version, image count,
  segmenter hash, averaging, Inception weights); without one the oracle columns stay empty, never guessed;
- the image metric is the record's FID where it measured one, else FD-seg (``image_metric`` names which);
- rows are merged into an existing file by (dataset, method, run id, protocol id): a run exported again
  replaces its row, rows of runs that are not under ``--out`` (another machine, a deleted results folder)
  stay, so exporting never loses a record already written. The file is written atomically, sorted.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from benchmark.io import atomic_write_text
from benchmark.results import ORACLE, PROTOCOL_KEY, collect_runs
from benchmark.user_error import UserError

#: the file's columns, in order
COLUMNS = ("method", "dataset", "preset", "variant", "seed", "run_id", "protocol_id", "protocol_version", "num_images",
           "mIoU", "oracle_mIoU", "mIoU_of_oracle", "image_metric", "image_metric_value", "texture", "texture_max",
           "checkerboard", "iterations", "train_s", "gflops_per_iter", "hardware", "finished", "commit")
TEXT_COLUMNS = ("method", "dataset", "preset", "variant", "run_id", "protocol_id", "image_metric", "hardware",
                "finished", "commit")
INT_COLUMNS = ("seed", "protocol_version", "num_images")
#: the key that identifies a row (a run under one protocol)
ROW_KEY = ("dataset", "method", "run_id", "protocol_id")
DEFAULT_PRESETS = ("tiny",)


class ExportError(UserError, ValueError):
    """A record file that cannot be merged into (one sentence naming the file and the fix)."""


def _commit(run_dir: Path) -> str:
    try:
        manifest = json.loads((Path(run_dir) / "manifest.json").read_text())
    except (OSError, ValueError):
        return ""
    git = manifest.get("git") if isinstance(manifest, Mapping) else None
    sha = git.get("commit") if isinstance(git, Mapping) else None
    if not isinstance(sha, str) or not sha:
        return ""
    return sha[:10] + ("+dirty" if git.get("dirty") else "")


def _date(finished: Any) -> str:
    return finished[:10] if isinstance(finished, str) else ""


def _value(row: pd.Series, key: str) -> float:
    value = row.get(key, math.nan)
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else math.nan


def _oracle_miou(oracles: pd.DataFrame, row: pd.Series) -> float:
    same = oracles[(oracles["dataset"] == row["dataset"])]
    for key in PROTOCOL_KEY:
        same = same[same[key].isna()] if pd.isna(row[key]) else same[same[key] == row[key]]
    return float(same["mIoU"].iloc[0]) if len(same) and pd.notna(same["mIoU"].iloc[0]) else math.nan


def variant(row: pd.Series) -> str:
    """What a run changed from its preset, in words (empty: the preset as shipped)."""
    parts = [str(row.get(k) or "") for k in ("overrides", "sweep")]
    if row.get("budget"):
        parts.append(f"budget {row['budget']}")
    return "; ".join(p for p in parts if p)


def measured_rows(out: Path, presets: Iterable[str] = DEFAULT_PRESETS) -> pd.DataFrame:
    """The rows :data:`COLUMNS` of every finished run at ``presets`` under ``<out>/runs`` (see the module
    docstring for which runs count)."""
    results = collect_runs(Path(out))
    wanted = set(presets)
    oracles = results[results["method"] == ORACLE]
    runs = results[(results["method"] != ORACLE) & (results["status"] == "finished")
                   & results["preset"].isin(wanted)]
    rows = []
    for _, row in runs.iterrows():
        miou, oracle = _value(row, "mIoU"), _oracle_miou(oracles, row)
        fid = _value(row, "FID")
        metric = "FID" if not math.isnan(fid) else "FD-seg"
        rows.append({
            "method": row["method"], "dataset": row["dataset"], "preset": row["preset"], "variant": variant(row),
            "seed": None if pd.isna(row["seed"]) else int(row["seed"]), "run_id": row["run_id"],
            "protocol_id": row["protocol_id"],
            "protocol_version": None if pd.isna(row["protocol_version"]) else int(row["protocol_version"]),
            "num_images": None if pd.isna(row["num_images"]) else int(row["num_images"]),
            "mIoU": miou, "oracle_mIoU": oracle,
            "mIoU_of_oracle": miou / oracle if oracle and not math.isnan(oracle) else math.nan,
            "image_metric": metric, "image_metric_value": _value(row, metric),
            **{k: _value(row, k) for k in ("texture", "texture_max", "checkerboard", "iterations", "train_s",
                                           "gflops_per_iter")},
            "hardware": row["hardware"] or "", "finished": _date(row["finished"]), "commit": _commit(row["run_dir"]),
        })
    return pd.DataFrame(rows, columns=list(COLUMNS))


def read_records(path: Path) -> pd.DataFrame:
    """The record file at ``path`` (an empty frame with :data:`COLUMNS` when it does not exist); a file
    whose header is not :data:`COLUMNS` raises :class:`ExportError`."""
    path = Path(path)
    if path.is_dir():
        raise ExportError(f"{path} is a directory; give --export-presets a file name such as docs/presets.csv")
    if not path.is_file():
        return _typed(pd.DataFrame(columns=list(COLUMNS)))
    try:
        frame = pd.read_csv(path, dtype={c: str for c in TEXT_COLUMNS})
    except (OSError, ValueError) as exc:
        raise ExportError(f"{path} is not a readable CSV ({exc}); move it away and export again") from exc
    if tuple(frame.columns) != COLUMNS:
        raise ExportError(f"{path} has the columns {', '.join(map(str, frame.columns)) or 'none'}, not the preset "
                          f"record's ({', '.join(COLUMNS)}); give --export-presets another file or move it away")
    return _typed(frame)


def _typed(frame: pd.DataFrame) -> pd.DataFrame:
    """Text columns as text (empty, not NaN), integer columns as nullable integers: a file read back and
    written again is the same text."""
    frame = frame.copy()
    for c in TEXT_COLUMNS:
        frame[c] = frame[c].fillna("").astype(str)
    for c in INT_COLUMNS:
        frame[c] = pd.to_numeric(frame[c], errors="coerce").astype("Int64")
    for c in set(COLUMNS) - set(TEXT_COLUMNS) - set(INT_COLUMNS):
        frame[c] = pd.to_numeric(frame[c], errors="coerce").astype(float)
    return frame


def _sorted(frame: pd.DataFrame) -> pd.DataFrame:
    frame = _typed(frame)
    return frame.sort_values(["dataset", "method", "preset", "variant", "protocol_id", "seed", "run_id"],
                             kind="stable", na_position="last").reset_index(drop=True)


def to_csv(frame: pd.DataFrame) -> str:
    """The file's text: :data:`COLUMNS`, numbers with the precision the records hold."""
    text = frame.to_csv(index=False, float_format="%.6g")
    return text


def export_presets(out: Path, path: Path, presets: Iterable[str] = DEFAULT_PRESETS) -> pd.DataFrame:
    """Merge the measured rows of ``out`` into the record file ``path`` (atomically) and return the file's
    rows as read back. Raises :class:`ExportError` before writing anything when ``path`` is not a record file."""
    path = Path(path)
    old = read_records(path)
    new = _typed(measured_rows(out, presets))
    key = list(ROW_KEY)
    if len(old) and len(new):
        replaced = old.set_index(key).index.isin(new.set_index(key).index)
        old = old[~replaced]
    merged = new if old.empty else old if new.empty else pd.concat([old, new], ignore_index=True)
    merged = _sorted(merged[list(COLUMNS)])
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(path, to_csv(merged))
    return read_records(path)  # what the file holds, at the precision it holds it


def describe(frame: pd.DataFrame, path: Path, added: int) -> str:
    """One line for the command line."""
    methods = ", ".join(sorted(set(frame["method"]))) or "none"
    return f"wrote {path}: {len(frame)} recorded runs ({added} from this results folder; methods: {methods})"


__all__ = ["COLUMNS", "DEFAULT_PRESETS", "ExportError", "describe", "export_presets",
           "measured_rows", "read_records", "to_csv"]
