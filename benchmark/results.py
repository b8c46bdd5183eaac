"""Run records gathered into tables: every ``metrics.json`` and every run directory under ``<out>/runs``.

Layout read here (written by :mod:`benchmark.runs` and the evaluation step):

- ``<out>/runs/<dataset>/<method>/<run_id>/``: ``config.json``, ``manifest.json``, ``train_log.csv``,
  ``images/``, ``metrics.json`` (``kind`` ``"method"``);
- ``<out>/runs/<dataset>/_oracle/<protocol_id>/metrics.json``: the oracle row (``kind`` ``"oracle"``),
  the real evaluation images measured under the same protocol.

A file that cannot be read never stops a report: it becomes a line in ``frame.attrs["problems"]``.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import pandas as pd

ORACLE_DIR = "_oracle"
ORACLE = "oracle"
#: metric keys every results frame carries as columns (null where a run did not measure them);
#: the metric plugins' keys (metrics.segmentation.KEY_MIOU, ..., metrics.fid.KEY_FD_SEG)
METRIC_KEYS = ("mIoU", "accu", "FID", "FD-seg", "KID")
RUN_COLUMNS = ("kind", "dataset", "method", "run_id", "preset", "protocol_id", "protocol_version",
               *METRIC_KEYS, "fallback", "status", "optimizer", "overrides", "finished", "run_dir")
TRAIN_RUN_COLUMNS = ("dataset", "method", "run_id", "preset", "status", "optimizer", "overrides", "finished",
                     "run_dir")


def _read_json(path: Path, problems: list[str]) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        problems.append(f"{path}: unreadable ({exc})")
        return None
    if not isinstance(data, dict):
        problems.append(f"{path}: not a JSON object")
        return None
    return data


def _number(value: Any) -> float:
    """A metric value as float; NaN for null or anything that is not a finite number."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return math.nan
    return float(value) if math.isfinite(value) else math.nan


def _overrides_text(overrides: Any) -> str:
    """``[[key, old, new], ...]`` from the manifest as ``key=new; ...`` (empty: the preset as shipped)."""
    if not isinstance(overrides, list):
        return ""
    parts = [f"{o[0]}={json.dumps(o[2])}" for o in overrides if isinstance(o, list | tuple) and len(o) == 3]
    return "; ".join(parts)


def _run_fields(run_dir: Path, problems: list[str]) -> dict[str, Any]:
    """What the manifest and config of a method run say about it (empty for an oracle directory)."""
    manifest = _read_json(run_dir / "manifest.json", problems) if (run_dir / "manifest.json").is_file() else {}
    config = _read_json(run_dir / "config.json", problems) if (run_dir / "config.json").is_file() else {}
    manifest, config = manifest or {}, config or {}
    optimizer = config.get("optimizer")
    return {"preset": manifest.get("preset") or config.get("preset"),
            "status": manifest.get("status"),
            "optimizer": optimizer.get("type") if isinstance(optimizer, Mapping) else None,
            "overrides": _overrides_text(manifest.get("overrides")),
            "finished": manifest.get("finished")}


def _metrics_row(path: Path, record: Mapping[str, Any], problems: list[str]) -> dict[str, Any]:
    run_dir = path.parent
    dataset_dir, method_dir = run_dir.parent.parent.name, run_dir.parent.name
    oracle = method_dir == ORACLE_DIR or record.get("kind") == ORACLE
    provenance = record.get("provenance") if isinstance(record.get("provenance"), Mapping) else {}
    protocol = record.get("protocol") if isinstance(record.get("protocol"), Mapping) else {}
    metrics = record.get("metrics") if isinstance(record.get("metrics"), Mapping) else {}
    row: dict[str, Any] = {
        "kind": ORACLE if oracle else record.get("kind", "method"),
        "dataset": record.get("dataset") or dataset_dir,
        "method": ORACLE if oracle else (record.get("method") or method_dir),
        "run_id": record.get("run_id") or run_dir.name,
        "protocol_id": protocol.get("id") or provenance.get("protocol_id") or (run_dir.name if oracle else None),
        "protocol_version": protocol.get("version") or provenance.get("protocol_version"),
        "fallback": provenance.get("fallback"),
        "run_dir": run_dir,
    }
    row.update({key: _number(metrics.get(key)) for key in METRIC_KEYS})
    row.update({k: v for k, v in metrics.items() if k not in row and isinstance(v, int | float)
                and not isinstance(v, bool)})
    fields = {"preset": None, "status": None, "optimizer": None, "overrides": "", "finished": None} if oracle \
        else _run_fields(run_dir, problems)
    if record.get("preset"):
        fields["preset"] = record["preset"]
    row.update(fields)
    if row["protocol_id"] is None:
        problems.append(f"{path}: names no protocol; its numbers are left out of every table")
    return row


def collect_runs(out: Path) -> pd.DataFrame:
    """One row per ``metrics.json`` under ``<out>/runs`` (method runs and oracle rows), with its ``run_dir``.

    Columns: :data:`RUN_COLUMNS` (metrics in percent / as the metric plugins report them, NaN where not
    measured) plus any further numeric metric a run reported. Rows without a protocol id are dropped and
    reported in ``attrs["problems"]``, as are unreadable files.
    """
    problems: list[str] = []
    rows = []
    for path in sorted(Path(out, "runs").glob("*/*/*/metrics.json")):
        record = _read_json(path, problems)
        if record is None:
            continue
        row = _metrics_row(path, record, problems)
        if row["protocol_id"] is not None:
            rows.append(row)
    frame = pd.DataFrame(rows)
    for column in RUN_COLUMNS:
        if column not in frame:
            frame[column] = pd.Series(dtype=float if column in METRIC_KEYS else object)
    extra = [c for c in frame.columns if c not in RUN_COLUMNS]
    frame = frame[[*RUN_COLUMNS, *extra]]
    frame.attrs["problems"] = problems
    return frame


def collect_training_runs(out: Path) -> pd.DataFrame:
    """One row per method run directory (one holding ``config.json``), evaluated or not: the figures'
    input (loss curves, optimizer pairs, sample grids). Columns: :data:`TRAIN_RUN_COLUMNS`."""
    problems: list[str] = []
    rows = []
    for config in sorted(Path(out, "runs").glob("*/*/*/config.json")):
        run_dir = config.parent
        if run_dir.parent.name == ORACLE_DIR:
            continue
        rows.append({"dataset": run_dir.parent.parent.name, "method": run_dir.parent.name,
                     "run_id": run_dir.name, **_run_fields(run_dir, problems), "run_dir": run_dir})
    frame = pd.DataFrame(rows, columns=list(TRAIN_RUN_COLUMNS))
    frame.attrs["problems"] = problems
    return frame


def preferred_first(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` ordered so that, per method, the run a paper table should quote comes first: finished
    before unfinished, the ``paper`` preset before smaller ones, the preset as shipped (no ``--set``
    overrides) before variants, then the most recently finished."""
    if frame.empty:
        return frame
    keys = pd.DataFrame({
        "unfinished": frame["status"].fillna("") != "finished",
        "not_paper": frame["preset"].fillna("") != "paper",
        "has_overrides": frame["overrides"].fillna("") != "",
        "finished": frame["finished"].fillna(""),
    }, index=frame.index)
    order = keys.sort_values(["unfinished", "not_paper", "has_overrides", "finished"],
                             ascending=[True, True, True, False], kind="stable").index
    return frame.loc[order]


def filter_methods(frame: pd.DataFrame, methods: Iterable[str] | None) -> pd.DataFrame:
    """Rows of the given registry methods (oracle rows always stay); ``None`` keeps everything."""
    if methods is None or frame.empty:
        return frame
    keep = set(methods) | {ORACLE}
    return frame[frame["method"].isin(keep)]
