"""Evaluation glue: a run (or a folder of images) + a protocol -> ``metrics.json`` with full provenance.

Where results go:

- a run's scores under its dataset's default protocol: ``<run_dir>/metrics.json``; under any other
  protocol: ``<run_dir>/metrics.<protocol id>.json``;
- the oracle row (the real evaluation images, same protocol): ``<out>/runs/<dataset>/_oracle/<protocol>/``;
- an official checkpoint becomes a run directory of its own, ``<out>/runs/<dataset>/<method>/official-<sha>``,
  so its scores sit in the tables beside the trained runs.

The records keep mIoU and pixel accuracy in percent, as the papers print them (the harness's fractions are
kept under ``raw``), and so are their 95% intervals. Every record carries:

- ``hardware``: ``{"cpu", "gpu", "threads", "device", "platform"}`` (the run manifest's shape);
- ``ci95`` (metric -> half-width of the 95% interval), ``ci95_interval`` (metric -> [lo, hi]) and
  ``ci95_method`` (the bootstrap over the evaluation images, and what it left out);
- ``protocol`` with the averaging rule (``protocol.averaging``) and version;
- in ``provenance``: ``segmenter_sha256``, ``segmenter_pinned_sha256``, ``segmenter_checkpoint`` (a file
  named by ``--segmenter-checkpoint``), ``segmenter_override`` (that file is not the protocol's pinned
  one), ``inception_official`` and ``num_images_overridden`` -- rows that differ in any of them must not
  be merged;
- ``not_measured``: metric key -> one sentence, for a metric of the protocol that could not be computed
  (e.g. ``LPIPS`` without its weights offline); such a key is absent from ``metrics``.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

from benchmark import runs
from benchmark.io import atomic_write_json
from benchmark.resources import cache_root
from benchmark.results import OPTIONAL_METRIC_KEYS
from benchmark.user_error import UserError

PERCENT_KEYS = ("mIoU", "accu")
ORACLE_DIR = "_oracle"


def _name(data_cfg: Mapping[str, Any], registered: str) -> str:
    """The dataset's name in run paths and records (:func:`benchmark.datasets.dataset_name`)."""
    from benchmark.datasets import dataset_name

    return dataset_name(data_cfg) if data_cfg.get("type") else registered


def protocol_id(dataset: str, protocol: str | None) -> str:
    from metrics.protocols import default_protocol, get_protocol

    return get_protocol(protocol).id if protocol else default_protocol(dataset)


def metrics_path(run_dir: Path, dataset: str, protocol: str) -> Path:
    from metrics.protocols import default_protocol

    name = "metrics.json" if protocol == default_protocol(dataset) else f"metrics.{protocol}.json"
    return Path(run_dir) / name


def record_is_current(path: Path, protocol: str, num_images: int | None = None) -> bool:
    """Whether the record at ``path`` answers every metric ``protocol`` lists now (a protocol that gained a
    metric, ``texture``, scores a reused run again instead of leaving its row without the column) and, given
    ``num_images`` (the count this command scores), scored that many images: the count is part of a record's
    identity, so a record of ``--num-images 10`` is not reused by a run of the whole split."""
    from metrics.protocols import get_protocol

    try:
        record = json.loads(Path(path).read_text())
    except (OSError, ValueError):
        return False
    listed = (record.get("protocol") or {}).get("metrics")
    if listed is None or not set(listed) >= set(get_protocol(protocol).metrics):
        return False
    return num_images is None or (record.get("provenance") or {}).get("num_images") == num_images


def to_record(result: Mapping[str, Any], *, kind: str, method: str, dataset: str, preset: str | None,
              run_id: str | None) -> dict[str, Any]:
    """The harness's result as the record the tables read."""
    raw = dict(result["metrics"])
    metrics = {k: v for k, v in raw.items() if not isinstance(v, (list, dict))}
    for key in PERCENT_KEYS:
        if metrics.get(key) is not None:
            metrics[key] = 100.0 * float(metrics[key])
    prov = result["provenance"]
    scale = {k: 100.0 for k in PERCENT_KEYS}
    ci95 = {k: None if v is None else scale.get(k, 1.0) * float(v) for k, v in result.get("ci95", {}).items()}
    ends = {k: [scale.get(k, 1.0) * float(x) for x in v] for k, v in result.get("ci95_interval", {}).items()}
    return {
        "kind": kind, "method": method, "dataset": dataset, "preset": preset, "run_id": run_id,
        "protocol": {"id": prov["protocol_id"], "version": prov["protocol_version"], **prov.get("protocol", {})},
        "metrics": metrics, "units": {k: "percent" for k in PERCENT_KEYS},
        "ci95": ci95, "ci95_interval": ends, "ci95_method": result.get("ci95_method", "not bootstrapped"),
        "not_measured": dict(result.get("not_measured", {})), "hardware": result.get("hardware"),
        "per_class_iou": raw.get("per_class_iou"), "raw": raw, "provenance": prov,
    }


def _harness_kwargs(options: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "device": options.get("device") or ("cuda" if torch.cuda.is_available() else "cpu"),
        "cache_dir": options.get("cache_dir") or cache_root(),
        "seed": int(options.get("seed") or 0),
        "inception_weights": options.get("inception_weights"),
        "segmenter_checkpoint": options.get("segmenter_checkpoint"),
        "num_images": options.get("num_images"),
    }


def scoring_protocol(data_cfg: Mapping[str, Any], pid: str) -> tuple[Any, str | None]:
    """The protocol to score ``data_cfg`` under, and why it is cut down (else None): an evaluation split of
    label maps without photos keeps the metrics that need only the label maps (mIoU, accuracy); the rest
    (FID/KID/PR, FD-seg, texture) compare against the photos and are recorded as not measured."""
    import dataclasses

    from benchmark.datasets import build_dataset
    from benchmark.datasets.paired import label_only_note
    from metrics.protocols import get_protocol

    protocol = get_protocol(pid)
    if getattr(build_dataset(data_cfg, protocol.split, train=False), "has_photos", True):
        return protocol, None
    kept = tuple(m for m in protocol.metrics if m == "segmentation")
    return dataclasses.replace(protocol, metrics=kept, fid_extractor=None, fallback_extractor=None), \
        label_only_note(protocol.split)


def _cut_down(result: dict[str, Any], pid: str, reason: str | None) -> dict[str, Any]:
    """``result`` of a cut-down protocol: every left-out metric of ``pid`` under ``not_measured``."""
    if reason is None:
        return result
    from benchmark.registry import METRICS
    from metrics.protocols import get_protocol

    left_out = [m for m in get_protocol(pid).metrics if m != "segmentation" and m in METRICS]
    keys = [k for m in left_out for k in METRICS.get(m).keys]
    result["not_measured"] = {**{k: reason for k in keys}, **result.get("not_measured", {})}
    for part in ("ci95", "ci95_interval"):
        result[part] = {k: v for k, v in result.get(part, {}).items() if k in result["metrics"]}
    return result


DIVERSITY_DIR = "diversity"


def diversity_samples(run_dir: Path, protocol: Any, *, method: Any = None, **options: Any) -> Any:
    """K samples per label map for the protocol's LPIPS diversity, generated into ``<run_dir>/diversity/``
    (reused when they match the protocol's K, maps and seed); or the sentence why there are none.

    ``method``: the generator (default: the run's last checkpoint). A method that produces one image per
    label map gets ``"n/a: ..."``. Returns None when the protocol has no diversity metric.
    """
    import json

    from benchmark import generation
    from metrics.diversity import DiversitySamples

    if "lpips_diversity" not in protocol.metrics:
        return None
    run_dir = Path(run_dir)
    kw = _harness_kwargs(options)
    cfg = runs.load_run_config(run_dir)
    if method is None:
        try:
            method, cfg, _ = generation.load_trained(run_dir, kw["device"])
        except Exception as exc:  # an official-checkpoint row, a run without weights: say so, never fail
            return f"no generator to draw samples from in {run_dir} ({exc})"
    if not getattr(method, "multimodal", False):
        return f"n/a: {cfg['method']} produces one image per label map"
    from metrics.base import WeightsUnavailable
    from metrics.diversity import load_lpips

    try:  # before generating anything: offline without the backbone there is nothing to score
        load_lpips(protocol.lpips_backbone, options.get("lpips_weights"))
    except WeightsUnavailable as exc:
        return str(exc)
    k = protocol.lpips_samples
    maps = protocol.lpips_maps or kw["num_images"] or protocol.num_images
    directory = run_dir / DIVERSITY_DIR
    spec = {"samples": k, "maps": maps, "seed": kw["seed"], "split": protocol.split}
    stamp = directory / "samples.json"
    if not (stamp.is_file() and json.loads(stamp.read_text()) == spec):
        generation.generate_split(method, cfg, directory, split=protocol.split, num_images=maps, num_samples=k,
                                seed=kw["seed"], progress=options.get("progress", True))
        atomic_write_json(stamp, spec)
    stems = tuple(sorted(p.name[:-len("_0.png")] for p in directory.glob("*_0.png")))
    return DiversitySamples(directory, k, stems)


def preflight(data_cfg: Mapping[str, Any], dataset: str, *, protocol: str | None = None,
              **options: Any) -> dict[str, Any]:
    """Fail before training if the protocol cannot score this dataset (weights offline, wrong dataset)."""
    from metrics.evaluate import preflight as harness_preflight

    kw = _harness_kwargs(options)
    scoring, cut = scoring_protocol(data_cfg, protocol_id(dataset, protocol))
    if cut is not None:
        print(f"[{scoring.id}] {cut}")
        SAID.add(cut)
    ready = harness_preflight(scoring, data_cfg=data_cfg, device=kw["device"],
                              cache_dir=kw["cache_dir"], inception_weights=kw["inception_weights"],
                              segmenter_checkpoint=kw["segmenter_checkpoint"])
    if ready.get("fallback"):  # the caller prints the reason once; the rows refer back to it
        SAID.add(ready["fallback"]["reason"])
    return ready


def evaluate_run(run_dir: Path, *, protocol: str | None = None, method: Any = None,
                 **options: Any) -> dict[str, Any]:
    """Score a run's generated ``images/`` (and, for a protocol with LPIPS diversity, K samples per map of a
    multimodal ``method``, default the run's own) and write its metrics record; return the record."""
    from metrics.evaluate import evaluate
    from metrics.protocols import get_protocol

    cfg = runs.load_run_config(run_dir)
    images = Path(run_dir) / "images"
    if not images.is_dir():
        raise FileNotFoundError(f"{images} does not exist; generate the evaluation split first "
                                f"(python -m benchmark run ... or generate --checkpoint {run_dir})")
    pid = protocol_id(cfg["dataset"], protocol)
    scoring, cut = scoring_protocol(cfg["data"], pid)
    diversity = diversity_samples(run_dir, get_protocol(pid), method=method, **options) if cut is None else None
    result = _cut_down(evaluate(scoring, generated=images, data_cfg=cfg["data"], diversity=diversity,
                                lpips_weights=options.get("lpips_weights"), **_harness_kwargs(options)), pid, cut)
    manifest = runs.read_manifest(run_dir)
    record = to_record(result, kind=manifest.get("kind", "method"), method=cfg["method"],
                       dataset=_name(cfg["data"], cfg["dataset"]),
                       preset=cfg.get("preset"), run_id=Path(run_dir).name)
    atomic_write_json(metrics_path(run_dir, cfg["dataset"], pid), record)
    return record


def evaluate_oracle(out: Path, data_cfg: Mapping[str, Any], dataset: str, *, protocol: str | None = None,
                    **options: Any) -> dict[str, Any]:
    """The oracle row: the real evaluation images scored exactly as generated ones."""
    from metrics.evaluate import evaluate_real

    pid = protocol_id(dataset, protocol)
    _, cut = scoring_protocol(data_cfg, pid)
    if cut is not None:  # no photos to score: nothing is written, the row says why

        return {"method": "oracle", "kind": "oracle", "protocol": {"id": pid}, "metrics": {},
                "not_measured": {"oracle row": cut}}
    result = evaluate_real(pid, data_cfg=data_cfg, **_harness_kwargs(options))
    dataset = _name(data_cfg, dataset)
    record = to_record(result, kind="oracle", method="oracle", dataset=dataset, preset=None, run_id=None)
    atomic_write_json(Path(out) / "runs" / dataset / ORACLE_DIR / pid / "metrics.json", record)
    return record


def evaluate_folder(images: Path, data_cfg: Mapping[str, Any], dataset: str, *, protocol: str | None = None,
                    destination: Path | None = None, **options: Any) -> tuple[dict[str, Any], Path]:
    """Score a folder of ``<stem>.png`` images; the record goes to ``destination`` (default: beside the
    folder, ``<folder>.metrics.<protocol>.json``: a record no table reads; :func:`evaluate_external` files
    the folder as a run of its own instead)."""
    from metrics.evaluate import evaluate

    images = Path(images)
    if not images.is_dir():
        raise FileNotFoundError(f"--images {images}: no such directory; pass the folder of generated <stem>.png")
    pid = protocol_id(dataset, protocol)
    check_external_images(images, data_cfg, pid, num_images=options.get("num_images"))
    scoring, cut = scoring_protocol(data_cfg, pid)
    result = _cut_down(evaluate(scoring, generated=images, data_cfg=data_cfg, **_harness_kwargs(options)), pid, cut)
    record = to_record(result, kind="images", method=images.name, dataset=dataset, preset=None, run_id=None)
    destination = destination or images.with_name(f"{images.name}.metrics.{pid}.json")
    atomic_write_json(destination, record)
    return record, destination


# -- external images as rows --------------------------------------------------------------------------------

class ExternalImagesError(UserError, ValueError):
    """A folder of external images (or its --name) that cannot be scored as asked: one sentence."""


EXTERNAL_KIND = "external"
#: what ``--name`` may be: a plain name that is also a path component
EXTERNAL_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._+-]*")
EXTERNAL_PREFIX = "ext-"


def evaluation_stems(data_cfg: Mapping[str, Any], pid: str, num_images: int | None = None) -> list[str]:
    """The file stems of the protocol's evaluation samples, in order (the names generated images must have)."""
    from benchmark.datasets import build_dataset
    from metrics.protocols import get_protocol

    protocol = get_protocol(pid)
    ds = build_dataset(data_cfg, protocol.split, train=False)
    n = len(ds)
    for limit in (protocol.num_images, num_images):
        n = n if limit is None else min(n, int(limit))
    samples = getattr(ds, "samples", None)
    if samples is not None:
        return [Path(s.image if getattr(s, "image", None) else s.label).stem for s in samples[:n]]
    return [Path(ds[i].get("path") or f"{i:06d}").stem for i in range(n)]


def _listed(paths: list[str], limit: int = 5) -> str:
    return ", ".join(paths[:limit]) + (f" and {len(paths) - limit} more" if len(paths) > limit else "")


def check_external_images(images: Path, data_cfg: Mapping[str, Any], pid: str, *,
                          num_images: int | None = None) -> list[Path]:
    """The image files of a folder to score under ``pid``, one per evaluation sample, or one sentence naming
    the files that are missing, left over or named twice (the harness, :func:`metrics.evaluate.evaluate`,
    names those of a size it cannot score and those it cannot read). Returns the files in evaluation order."""
    from metrics.evaluate import IMAGE_EXTENSIONS
    from metrics.protocols import get_protocol

    images = Path(images)
    files: dict[str, list[Path]] = {}
    for path in sorted(images.iterdir()):
        if path.is_file() and path.suffix.lower() in IMAGE_EXTENSIONS:
            files.setdefault(path.stem, []).append(path)
    stems = evaluation_stems(data_cfg, pid, num_images)
    where = f"--images {images}"
    if not files:
        raise FileNotFoundError(f"{where} holds no .png/.jpg images; put one image per evaluation label map "
                                f"there, named as the label map (e.g. {stems[0] if stems else 'name'}.png)")
    twice = [f"{', '.join(p.name for p in paths)}" for paths in files.values() if len(paths) > 1]
    if twice:
        raise ExternalImagesError(f"{where} holds two images of one name ({_listed(twice)}); keep one of each")
    missing = [s for s in stems if s not in files]
    extra = sorted(set(files) - set(stems))
    if missing or (extra and num_images is None):
        what = []
        if missing:
            what.append(f"no image for {len(missing)} of the {len(stems)} evaluation label maps "
                        f"({_listed([m + '.png' for m in missing])})")
        if extra and num_images is None:
            what.append(f"{len(extra)} image(s) that match no label map of split "
                        f"'{get_protocol(pid).split}' ({_listed([files[e][0].name for e in extra])})")
        raise ExternalImagesError(f"{where} has {' and '.join(what)}; name each image as its label map's file "
                                  f"(stem), one per map of the split")
    # sizes and unreadable files: metrics.evaluate refuses them (EvaluationInputError) before writing anything
    return [files[s][0] for s in stems]


def files_digest(paths: list[Path]) -> str:
    """sha256 over the names and contents of ``paths`` (the identity of an external folder's images)."""
    h = hashlib.sha256()
    for path in sorted(paths, key=lambda p: p.name):
        h.update(path.name.encode() + b"\0" + hashlib.sha256(path.read_bytes()).digest())
    return h.hexdigest()


def external_run_dir(out: Path, dataset: str, name: str, digest: str) -> Path:
    """``<out>/runs/<dataset>/<name>/ext-<sha of the file list>``: one run per folder of images."""
    return Path(out) / "runs" / dataset / name / f"{EXTERNAL_PREFIX}{digest[:10]}"


def check_external_name(name: str) -> str:
    """``--name``: a plain name of its own (not a registered method's, not the oracle's)."""
    from benchmark.registry import METHODS, load_builtins

    load_builtins()
    if not EXTERNAL_NAME.fullmatch(name or ""):
        raise ExternalImagesError(f"--name {name!r} cannot name a run directory; use letters, digits and . _ + - "
                                  f"(starting with a letter or digit), e.g. --name pix2pixhd-official")
    if name.startswith("_") or name in METHODS:
        raise ExternalImagesError(f"--name {name!r} is {'a registered method' if name in METHODS else 'reserved'}; "
                         f"external images need a name of their own (e.g. {name.strip('_')}-official)")
    return name


def evaluate_external(images: Path, data_cfg: Mapping[str, Any], dataset: str, name: str, out: Path, *,
                      protocol: str | None = None, preset: str | None = None,
                      **options: Any) -> tuple[dict[str, Any], Path]:
    """Score a folder of images made elsewhere and file it as a run of its own, so that the tables, the
    verdict and the report show it beside trained methods: ``<out>/runs/<dataset>/<name>/ext-<sha>/`` with
    ``manifest.json`` (kind ``external``, the source folder, the sha256 of its file list, its seed) and the
    metrics record. Several folders under one ``name`` are its seeds (``seed`` given, else numbered in the
    order they were filed); the same folder again is the same run, scored again."""
    from metrics.evaluate import evaluate

    name = check_external_name(name)
    images = Path(images)
    if not images.is_dir():
        raise FileNotFoundError(f"--images {images}: no such directory; pass the folder of generated <stem>.png")
    pid = protocol_id(dataset, protocol)
    files = check_external_images(images, data_cfg, pid, num_images=options.get("num_images"))
    digest = files_digest(files)
    registered, dataset = dataset, _name(data_cfg, dataset)
    run_dir = external_run_dir(out, dataset, name, digest)
    seed = options.get("seed")
    if seed is None:
        seed = runs.read_manifest(run_dir).get("seed") if (run_dir / "manifest.json").is_file() else None
    if seed is None:
        taken = [runs.read_manifest(d).get("seed") for d in run_dir.parent.glob(f"{EXTERNAL_PREFIX}*")
                 if (d / "manifest.json").is_file()]
        seed = max((s for s in taken if isinstance(s, int)), default=-1) + 1
    scoring, cut = scoring_protocol(data_cfg, pid)
    result = _cut_down(evaluate(scoring, generated=images, data_cfg=data_cfg,
                                **{**_harness_kwargs(options), "seed": int(seed)}), pid, cut)
    run_dir.mkdir(parents=True, exist_ok=True)
    group = hashlib.sha256(json.dumps({"external": name, "dataset": dataset, "data": dict(data_cfg)},
                                      sort_keys=True, default=str).encode()).hexdigest()[:10]
    runs.update_manifest(run_dir, kind=EXTERNAL_KIND, method=name, dataset=dataset, preset=preset,
                         source=str(images.resolve()), files_sha256=digest, num_files=len(files), seed=int(seed),
                         group=group, status="finished", finished=runs._now(),
                         versions=runs.library_versions())
    record = to_record(result, kind=EXTERNAL_KIND, method=name, dataset=dataset, preset=preset,
                       run_id=run_dir.name)
    record["source"] = {"kind": EXTERNAL_KIND, "path": str(images.resolve()), "files_sha256": digest}
    path = metrics_path(run_dir, registered, pid)
    atomic_write_json(path, record)
    return record, path


def official_run_dir(out: Path, dataset: str, method: str, checkpoint: Path) -> Path:
    digest = hashlib.sha256(Path(checkpoint).read_bytes()).hexdigest()
    return Path(out) / "runs" / dataset / method / f"official-{digest[:10]}"


#: the reasons :func:`format_record` has printed in full during this command (later rows refer back to
#: them: the offline notice about Inception weights is said once per command, not once per row);
#: ``benchmark.cli.main`` empties it at the start of each command
SAID: set[str] = set()


def format_record(record: Mapping[str, Any]) -> str:
    m, ci = record["metrics"], record.get("ci95", {})
    parts = []
    for key in ("mIoU", "accu", "FID", "FID (unofficial weights)", "FD-seg", "KID", *OPTIONAL_METRIC_KEYS):
        if m.get(key) is not None:
            value = f"{m[key]:.2f}" if key in PERCENT_KEYS else f"{m[key]:.4g}"
            if ci.get(key) is not None:
                value += f" ± {ci[key]:.2f}" if key in PERCENT_KEYS else f" ± {ci[key]:.2g}"
            parts.append(f"{key} {value}")
    by_reason: dict[str, list[str]] = {}  # one sentence per cause, however many keys it takes out
    for key, reason in record.get("not_measured", {}).items():
        by_reason.setdefault(reason, []).append(key)
    for reason, keys in by_reason.items():
        parts.append(f"{', '.join(keys)} not measured ({'as said above' if reason in SAID else reason})")
        SAID.add(reason)
    return f"{record['method']} [{record['protocol']['id']}]: " + ", ".join(parts)
