"""Run records gathered into tables: every metrics record and every run directory under ``<out>/runs``.

Layout read here (written by :mod:`benchmark.runs` and :mod:`benchmark.evaluation`):

- ``<out>/runs/<dataset>/<method>/<run_id>/``: ``config.json``, ``manifest.json``, ``train_log.csv``,
  ``curve.csv``, ``images/``, ``metrics.json`` (the dataset's default protocol) and
  ``metrics.<protocol id>.json`` (every other protocol the run was scored under);
- ``<out>/runs/<dataset>/_oracle/<protocol_id>/metrics.json``: the oracle row (``kind`` ``"oracle"``),
  the real evaluation images measured under the same protocol.

Decisions:

- one row per metrics record (run x protocol), so a run scored under two protocols gives two rows;
- a row's *protocol key* is everything that makes two numbers comparable: protocol id, version, the
  number of evaluation images and whether ``--num-images`` overrode it, the segmenter checkpoint's
  sha256, the protocol's IoU averaging rule and whether the Inception weights were the official ones.
  Tables never merge rows whose keys differ (:data:`PROTOCOL_KEY`);
- a row's *group* is the run's resolved config minus ``seed`` and the ``run`` section (output paths,
  which the config hash leaves out too): runs of one group are the seeds of one experiment;
- the cost columns come from the manifest's ``compute`` record (iterations over all stages, images seen,
  wall seconds, measured GFLOPs per iteration, generator parameters, peak memory); older manifests give
  ``iterations`` and ``train_seconds`` only.

A file that cannot be read never stops a report: it becomes a line in ``frame.attrs["problems"]``.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from benchmark.config import run_identity
from benchmark.io import UnsafePathError, safe_component

ORACLE_DIR = "_oracle"
ORACLE = "oracle"
#: metric keys every results frame carries as columns (null where a run did not measure them);
#: the metric plugins' keys (metrics.segmentation.KEY_MIOU, ..., metrics.fid.KEY_FD_SEG)
METRIC_KEYS = ("mIoU", "accu", "FID", "FD-seg", "KID")
#: optional metrics a table shows when some run measured them (the LPIPS diversity of multimodal methods,
#: the texture ratio of metrics.texture)
OPTIONAL_METRIC_KEYS = ("LPIPS", "texture", "texture_max", "checkerboard")
#: the columns that must be equal for two rows' numbers to be compared or averaged
PROTOCOL_KEY = ("protocol_id", "protocol_version", "num_images", "num_images_overridden", "segmenter_sha256",
                "averaging", "inception_official")
#: the manifest's ``compute`` record as columns (``params_G_M``: generator parameters in millions)
COMPUTE_KEYS = ("iterations", "images_seen", "train_s", "gflops_per_iter", "tflops_total", "params_G_M",
                "peak_mem_mb")
CI_SUFFIX = "_ci95"
RUN_COLUMNS = ("kind", "dataset", "method", "run_id", "preset", "seed", "group", "sweep", "budget",
               *PROTOCOL_KEY, *METRIC_KEYS, *(f"{m}{CI_SUFFIX}" for m in METRIC_KEYS), "ci95_method",
               *COMPUTE_KEYS, "peak_mem_kind", "hardware", "fallback", "status", "optimizer", "overrides",
               "modified", "override_pairs", "finished", "metrics_file", "run_dir")
TRAIN_RUN_COLUMNS = ("dataset", "method", "run_id", "preset", "seed", "group", "sweep", "budget", "status",
                     "optimizer", "overrides", "modified", "finished", "run_dir")


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


def _overrides_text(overrides: Any, leave_out: Iterable[str] = ()) -> str:
    """``[[key, old, new], ...]`` from the manifest as ``key=new; ...`` (empty: the preset as shipped),
    without the keys in ``leave_out`` (the seed and the swept keys, shown in columns of their own)."""
    if not isinstance(overrides, list):
        return ""
    skip = set(leave_out)
    parts = [f"{o[0]}={json.dumps(o[2])}" for o in overrides
             if isinstance(o, list | tuple) and len(o) == 3 and o[0] not in skip]
    return "; ".join(parts)


def _override_pairs(overrides: Any, leave_out: Iterable[str] = ()) -> str:
    """``{key: [preset value, new value]}`` of the manifest's overrides as canonical JSON (labels name
    what sets two variants of a method apart, with the preset's value for the one that kept it)."""
    if not isinstance(overrides, list):
        return "{}"
    skip = set(leave_out)
    pairs = {o[0]: [o[1], o[2]] for o in overrides if isinstance(o, list | tuple) and len(o) == 3 and o[0] not in skip}
    return json.dumps(pairs, sort_keys=True, default=str)


def _modified(overrides: Any) -> bool:
    """Whether any ``--set`` / swept value (other than the seed) differs from the preset's."""
    if not isinstance(overrides, list):
        return False
    return any(isinstance(o, list | tuple) and len(o) == 3 and o[0] != "seed" and o[1] != o[2] for o in overrides)


def sweep_text(sweep: Any) -> str:
    """The manifest's ``sweep`` dict as ``key=value, ...`` in key order (empty when not part of a sweep)."""
    if not isinstance(sweep, Mapping) or not sweep:
        return ""
    return ", ".join(f"{k}={v if isinstance(v, str) else json.dumps(v)}" for k, v in sorted(sweep.items()))


def budget_text(budget: Any) -> str:
    """``images=20000`` / ``tflops=1.5`` for a declared budget; empty for none (the preset's schedule)."""
    if not isinstance(budget, Mapping) or budget.get("kind") not in ("images", "tflops"):
        return ""
    value = _number(budget.get("value"))
    if math.isnan(value):
        return ""
    return f"{budget['kind']}={int(value) if value.is_integer() else value:g}"


def config_group(config: Mapping[str, Any]) -> str:
    """A short id of the experiment a run belongs to: its resolved config without ``seed`` and ``run``
    (runs with equal ids are seeds of one experiment)."""
    rest = run_identity(config, exclude=("seed", "run"))
    return hashlib.sha256(json.dumps(rest, sort_keys=True, default=str).encode()).hexdigest()[:10]


def hardware_text(hardware: Any) -> str:
    """``cpu / gpu, N threads, device`` from a ``hardware`` record (empty when absent)."""
    if not isinstance(hardware, Mapping):
        return ""
    parts = [str(hardware[k]) for k in ("cpu", "gpu") if hardware.get(k)]
    if isinstance(hardware.get("threads"), int):
        parts.append(f"{hardware['threads']} thread{'s' if hardware['threads'] != 1 else ''}")
    if hardware.get("device"):
        parts.append(str(hardware["device"]))
    return ", ".join(parts)


def _compute_fields(manifest: Mapping[str, Any]) -> dict[str, Any]:
    compute = manifest.get("compute") if isinstance(manifest.get("compute"), Mapping) else {}
    fields: dict[str, Any] = {key: _number(compute.get(key)) for key in COMPUTE_KEYS}
    fields["peak_mem_kind"] = compute.get("peak_mem_kind")
    if math.isnan(fields["iterations"]):  # manifests before the compute record: per-stage iterations
        its = manifest.get("iterations")
        total = sum(its.values()) if isinstance(its, Mapping) and all(isinstance(v, int) for v in its.values()) \
            else its
        fields["iterations"] = _number(total)
    if math.isnan(fields["train_s"]):
        fields["train_s"] = _number(manifest.get("train_seconds"))
    return fields


def _run_fields(run_dir: Path, problems: list[str]) -> dict[str, Any]:
    """What the manifest and config of a method run say about it (empty for an oracle directory)."""
    manifest = _read_json(run_dir / "manifest.json", problems) if (run_dir / "manifest.json").is_file() else {}
    config = _read_json(run_dir / "config.json", problems) if (run_dir / "config.json").is_file() else {}
    manifest, config = manifest or {}, config or {}
    optimizer = config.get("optimizer")
    sweep = manifest.get("sweep") if isinstance(manifest.get("sweep"), Mapping) else {}
    seed = manifest.get("seed", config.get("seed"))
    budget = manifest.get("budget") if "budget" in manifest else config.get("budget")
    return {"preset": manifest.get("preset") or config.get("preset"),
            "seed": seed if isinstance(seed, int) and not isinstance(seed, bool) else None,
            # an external folder of images (no config): its manifest's group, shared by the folders of one name
            "group": config_group(config) if config else manifest.get("group") or run_dir.name,
            "sweep": sweep_text(sweep),
            "budget": budget_text(budget),
            "status": manifest.get("status"),
            "optimizer": optimizer.get("type") if isinstance(optimizer, Mapping) else None,
            "overrides": _overrides_text(manifest.get("overrides"), ("seed", *sweep)),
            "modified": _modified(manifest.get("overrides")),
            "override_pairs": _override_pairs(manifest.get("overrides"), ("seed", *sweep)),
            "finished": manifest.get("finished"),
            "manifest_hardware": hardware_text(manifest.get("hardware")),
            **_compute_fields(manifest)}


def segmenter_sha256(provenance: Mapping[str, Any]) -> str | None:
    """The sha256 of the segmenter checkpoint behind a record (None: random weights or no segmenter)."""
    if isinstance(provenance.get("segmenter_sha256"), str):
        return provenance["segmenter_sha256"]
    segmenter = provenance.get("segmenter")
    if isinstance(segmenter, Mapping) and isinstance(segmenter.get("checkpoint_sha256"), str):
        return segmenter["checkpoint_sha256"]
    return None


def _int_or_none(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _metrics_row(path: Path, record: Mapping[str, Any], problems: list[str]) -> dict[str, Any]:
    run_dir = path.parent
    dataset_dir, method_dir = run_dir.parent.parent.name, run_dir.parent.name
    oracle = method_dir == ORACLE_DIR or record.get("kind") == ORACLE
    provenance = record.get("provenance") if isinstance(record.get("provenance"), Mapping) else {}
    protocol = record.get("protocol") if isinstance(record.get("protocol"), Mapping) else {}
    metrics = record.get("metrics") if isinstance(record.get("metrics"), Mapping) else {}
    ci95 = record.get("ci95") if isinstance(record.get("ci95"), Mapping) else {}
    averaging = protocol.get("averaging")
    row: dict[str, Any] = {
        "kind": ORACLE if oracle else record.get("kind", "method"),
        "dataset": record.get("dataset") or dataset_dir,
        "method": ORACLE if oracle else (record.get("method") or method_dir),
        "run_id": record.get("run_id") or run_dir.name,
        "protocol_id": protocol.get("id") or provenance.get("protocol_id") or (run_dir.name if oracle else None),
        "protocol_version": _int_or_none(protocol.get("version", provenance.get("protocol_version"))),
        "num_images": _int_or_none(provenance.get("num_images")),
        "num_images_overridden": bool(provenance.get("num_images_overridden", False)),
        "segmenter_sha256": segmenter_sha256(provenance),
        "averaging": averaging if isinstance(averaging, str) else None if averaging is None else
        json.dumps(averaging, sort_keys=True),
        "inception_official": provenance.get("inception_official")
        if isinstance(provenance.get("inception_official"), bool) else None,
        "fallback": provenance.get("fallback"),
        "ci95_method": record.get("ci95_method") if ci95 else None,
        "metrics_file": path.name,
        "run_dir": run_dir,
    }
    row.update({key: _number(metrics.get(key)) for key in METRIC_KEYS})
    row.update({f"{key}{CI_SUFFIX}": _number(ci95.get(key)) for key in METRIC_KEYS})
    row.update({k: v for k, v in metrics.items() if k not in row and isinstance(v, int | float)
                and not isinstance(v, bool)})
    row.update({f"{k}{CI_SUFFIX}": _number(v) for k, v in ci95.items() if k not in METRIC_KEYS})
    if oracle:
        fields: dict[str, Any] = {"preset": None, "seed": None, "group": ORACLE, "sweep": "", "budget": "",
                                  "status": None, "optimizer": None, "overrides": "", "modified": False,
                                  "override_pairs": "{}", "finished": None,
                                  "manifest_hardware": "", **dict.fromkeys(COMPUTE_KEYS, math.nan),
                                  "peak_mem_kind": None}
    else:
        fields = _run_fields(run_dir, problems)
    if record.get("preset"):
        fields["preset"] = record["preset"]
    row["hardware"] = hardware_text(record.get("hardware")) or fields.pop("manifest_hardware")
    fields.pop("manifest_hardware", None)
    row.update(fields)
    if row["protocol_id"] is None:
        problems.append(f"{path}: names no protocol; its numbers are left out of every table")
    return row


def metrics_files(run_dir: Path) -> list[Path]:
    """Every metrics record of a run directory: ``metrics.json`` (the dataset's default protocol) and
    ``metrics.<protocol id>.json`` (any other), as :func:`benchmark.evaluation.metrics_path` names them."""
    return sorted(p for p in Path(run_dir).glob("metrics*.json")
                  if p.name == "metrics.json" or (p.name.startswith("metrics.") and p.name.count(".") >= 2))


def collect_runs(out: Path) -> pd.DataFrame:
    """One row per metrics record under ``<out>/runs`` (method runs and oracle rows; every protocol's
    record, see :func:`metrics_files`), with its ``run_dir``.

    Columns: :data:`RUN_COLUMNS` (metrics in percent / as the metric plugins report them, NaN where not
    measured; ``<metric>_ci95`` the record's own interval, a bootstrap over the evaluation images) plus any
    further numeric metric a run reported. Rows without a protocol id are dropped and reported in
    ``attrs["problems"]``, as are unreadable files.
    """
    problems: list[str] = []
    rows = []
    run_dirs = sorted(p for p in Path(out, "runs").glob("*/*/*") if p.is_dir())
    for path in [f for d in run_dirs for f in metrics_files(d)]:
        record = _read_json(path, problems)
        if record is None:
            continue
        row = _metrics_row(path, record, problems)
        try:  # the names that become paths of the report (<out>/<dataset>/table.*) stay plain names
            for key in ("dataset", "method", "run_id", "protocol_id"):
                if row[key] is not None:
                    safe_component(row[key], key, path)
        except UnsafePathError as exc:
            problems.append(f"{exc}; it is left out of the report")
            continue
        if row["protocol_id"] is not None:
            rows.append(row)
    frame = pd.DataFrame(rows)
    numeric = {*METRIC_KEYS, *(f"{m}{CI_SUFFIX}" for m in METRIC_KEYS), *COMPUTE_KEYS}
    for column in RUN_COLUMNS:
        if column not in frame:
            frame[column] = pd.Series(dtype=float if column in numeric else object)
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
        fields = _run_fields(run_dir, problems)
        rows.append({"dataset": run_dir.parent.parent.name, "method": run_dir.parent.name,
                     "run_id": run_dir.name, **{k: fields[k] for k in TRAIN_RUN_COLUMNS if k in fields},
                     "run_dir": run_dir})
    frame = pd.DataFrame(rows, columns=list(TRAIN_RUN_COLUMNS))
    frame.attrs["problems"] = problems
    return frame


def preferred_first(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` ordered so that, per method, the run (or experiment) a paper table should quote comes
    first: finished before unfinished, the ``paper`` preset before smaller ones, the preset as shipped (no
    ``--set`` or swept value that differs from the preset's) before variants, the preset's schedule before
    a declared budget, more seeds before fewer, then the most recently finished."""
    if frame.empty:
        return frame
    keys = pd.DataFrame({
        "unfinished": frame["status"].fillna("") != "finished",
        "not_paper": frame["preset"].fillna("") != "paper",
        "has_overrides": frame["modified"].fillna(False).astype(bool) if "modified" in frame
        else frame["overrides"].fillna("") != "",
        "has_budget": frame["budget"].fillna("") != "" if "budget" in frame else False,
        "seeds": -frame["n_seeds"].fillna(0) if "n_seeds" in frame else 0,
        "finished": frame["finished"].fillna(""),
    }, index=frame.index)
    order = keys.sort_values(["unfinished", "not_paper", "has_overrides", "has_budget", "seeds", "finished"],
                             ascending=[True, True, True, True, True, False], kind="stable").index
    return frame.loc[order]


def filter_methods(frame: pd.DataFrame, methods: Iterable[str] | None) -> pd.DataFrame:
    """Rows of the given registry methods (oracle rows always stay); ``None`` keeps everything."""
    if methods is None or frame.empty:
        return frame
    keep = set(methods) | {ORACLE}
    return frame[frame["method"].isin(keep)]
