"""The data check: find every problem with a dataset's files before any training starts.

:func:`check_dataset` returns a :class:`DataReport` (problems, sample counts and class histograms per split);
``SISDataset.check()`` raises :class:`DataCheckError` instead. Each :class:`Problem` names the offending
files and says in one sentence how to fix them. What is checked:

- the data root exists and holds one of the layouts the dataset reads (which one is reported), and each
  split's directories exist (the message names the path and ``data.root`` / ``--data-root``); no split is
  empty;
- every image has a label map and every label map an image (and an instance map where they are used);
- every file opens and is complete: PNGs are verified chunk by chunk (CRC), JPEGs must end with the
  end-of-image marker, label and instance maps are decoded in full;
- image, label and instance map sizes agree;
- every label id lies in ``[0, num_classes)`` or equals the ignore index.

Headers are read where that is enough; label maps are read in full (the ids need it), on a thread pool
since PIL decodes without holding the GIL.

This module imports the shared records from :mod:`benchmark.datasets.common` and finds dataset classes in
the registry; it imports no dataset module (``paired`` imports it), so there is no import circle.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np
from PIL import Image

from benchmark.datasets.base import DataInfo
from benchmark.datasets.common import (  # noqa: F401  (re-exported: the names the CLI and the plugins use)
    MAX_LISTED,
    DataCheckError,
    Layout,
    Problem,
    SampleFiles,
    as_index_image,
    config_error,
    listing,
    make_problem,
    read_map,
    split_names,
    unique_problems,
)
from benchmark.registry import DATASETS


class Inspectable(Protocol):
    """What the check reads of a built split (``PairedDataset`` provides it)."""

    split: str
    samples: list[SampleFiles]
    scan_problems: list[Problem]
    use_instance: bool

    @property
    def info(self) -> DataInfo: ...

    def sizes_agree(self, image_size: tuple[int, int], map_size: tuple[int, int]) -> bool: ...

    def decode_label(self, raw: np.ndarray) -> np.ndarray: ...


@dataclass
class DataReport:
    """Result of :func:`check_dataset`."""

    dataset: str
    root: str | None
    problems: list[Problem] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)
    class_histogram: dict[str, list[int]] = field(default_factory=dict)
    class_names: tuple[str, ...] = ()
    #: what the dataset recognised under its root (:meth:`Layout.lines`)
    layout: list[str] = field(default_factory=list)
    #: split -> whether it holds photos (False: label maps only, an evaluation split without its photos)
    photos: dict[str, bool] = field(default_factory=dict)
    #: the split methods are evaluated on (``data.eval_split``)
    eval_split: str | None = None

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def fatal(self) -> list[Problem]:
        """The problems that mean the tree cannot be read as asked (no root, no layout, a split missing)."""
        return [p for p in self.problems if p.fatal]

    def format(self) -> str:
        """A human-readable report: verdict, layout, counts, the most frequent classes, then each problem."""
        verdict = "OK" if self.ok else f"{len(self.problems)} problem(s)"
        where = f" at {self.root}" if self.root is not None else ""
        lines = [f"dataset {self.dataset}{where}: {verdict}"]
        lines += [f"  {line}" for line in self.layout]
        lines += [f"  {line}" for line in self.allows()]
        for split, count in self.counts.items():
            line = f"  {split}: {count} samples"
            hist = self.class_histogram.get(split)
            if hist and sum(hist):
                total = sum(hist)
                present = sum(1 for h in hist if h)
                top = [c for c in sorted(range(len(hist)), key=lambda c: -hist[c]) if hist[c]][:5]
                names = [self.class_names[c] if c < len(self.class_names) else str(c) for c in top]
                shares = ", ".join(f"{n} {100 * hist[c] / total:.0f}%"
                                   for n, c in zip(names, top, strict=True))
                line += f"; {present}/{len(hist)} classes present; most frequent: {shares}"
            lines.append(line)
        lines += [f"  - {p.message}" for p in self.problems]
        return "\n".join(lines)

    def allows(self) -> list[str]:
        """Each split's state and which commands and metrics it allows (empty before any split was read)."""
        if not self.counts:
            return []
        state = {s: ("photos + label maps" if self.photos.get(s, True) else "label maps only, no photos")
                 if self.counts.get(s) else "missing or empty" for s in self.counts}
        lines = ["splits: " + "; ".join(f"{s} {what}" for s, what in state.items())]
        train_ok = bool(self.counts.get("train")) and self.photos.get("train", True)
        lines.append("train, run, segmenter train: " + ("allowed (split 'train' has photos and label maps)" if train_ok
                                                          else "need split 'train' with photos and label maps"))
        ev = self.eval_split
        if ev is not None and self.counts.get(ev):
            if self.photos.get(ev, True):
                lines.append(f"evaluate: every metric on split '{ev}' (mIoU, accu, FID/KID/PR, FD-seg, texture, "
                             f"the oracle)")
            else:
                lines.append(f"evaluate: mIoU and accu on split '{ev}'; FID/KID/PR, FD-seg, texture, the oracle and "
                             f"segmenter train's oracle score need its photos")
        elif ev is not None:
            lines.append(f"evaluate: needs the label maps of split '{ev}'")
        return lines


def dataset_class(data_cfg: Mapping[str, Any]) -> Any:
    """The registered dataset class named by ``data_cfg["type"]``."""
    if "type" not in data_cfg or not data_cfg["type"]:
        raise config_error("dataset", "the data config has no 'type'",
                           f"set data.type to one of {', '.join(DATASETS.names())}")
    return DATASETS.get(str(data_cfg["type"]))


def check_dataset(data_cfg: Mapping[str, Any], splits: Sequence[str] | None = None) -> DataReport:
    """Check the dataset ``data_cfg`` describes on ``splits`` (default: ``data.splits``); never raises
    for a data problem: every one is in the report (:attr:`DataReport.fatal` says whether any means the
    tree could not be read at all)."""
    cls = dataset_class(data_cfg)
    try:
        cfg = cls.resolve_cfg(data_cfg)
    except DataCheckError as exc:
        return DataReport(dataset=cls.name, root=None, problems=exc.problems)
    report = DataReport(dataset=cls.name, root=str(cfg["root"]) if cfg["root"] is not None else None,
                        eval_split=cfg.get("eval_split"))
    for split in (split_names(cfg["splits"]) if splits is None else splits):
        try:
            ds = cls(cfg, split, train=False)
        except DataCheckError as exc:
            report.problems = unique_problems(report.problems + exc.problems)
            report.counts[split] = 0
            continue
        layout = getattr(ds, "layout", None)
        if layout is not None:
            report.layout = layout.lines()
        report.root = str(ds.root) if ds.root is not None else None
        report.class_names = ds.info.class_names
        report.photos[split] = bool(getattr(ds, "has_photos", True))
        problems, hist = inspect_dataset(ds)
        report.problems += problems
        report.counts[split] = len(ds)
        report.class_histogram[split] = hist.tolist()
    return report


def inspect_dataset(ds: Inspectable) -> tuple[list[Problem], np.ndarray]:
    """Every problem of one built split (pairing found at scan time plus file contents) and its
    per-class pixel histogram (ignored pixels not counted)."""
    nc = ds.info.num_classes
    workers = min(8, os.cpu_count() or 1)
    with ThreadPoolExecutor(max_workers=workers) as pool:
        results = list(pool.map(lambda s: _inspect_sample(ds, s), ds.samples))
    hist = np.zeros(nc, dtype=np.int64)
    found: dict[str, list[str]] = {}
    for issues, sample_hist in results:
        hist += sample_hist
        for kind, entry in issues:
            found.setdefault(kind, []).append(entry)
    problems = list(ds.scan_problems)
    split = ds.split
    ignore = ds.info.ignore_index
    texts = {
        "unreadable": (f"{{n}} file(s) of split '{split}' cannot be read or are truncated",
                       "re-download or re-export them"),
        "size_mismatch": (f"{{n}} sample(s) of split '{split}' have label or instance maps whose size "
                          f"does not match the image",
                          "re-export the maps at the image's resolution (labels resized nearest)"),
        "bad_ids": (f"{{n}} label map(s) of split '{split}' hold ids outside [0, {nc})"
                    + (f" other than the ignore index {ignore}" if ignore is not None else ""),
                    "fix the maps, or set data.num_classes / data.ignore_index to match them"),
    }
    for kind, (what, fix) in texts.items():
        if kind in found:
            entries = found[kind]
            problems.append(make_problem(kind, split, entries, what.format(n=len(entries)), fix))
    return problems, hist


def _inspect_sample(ds: Inspectable, sample: SampleFiles) -> tuple[list[tuple[str, str]], np.ndarray]:
    issues: list[tuple[str, str]] = []
    hist = np.zeros(ds.info.num_classes, dtype=np.int64)
    image_size = None if sample.image is None else _checked_image_size(sample.image, issues)
    try:
        raw = read_map(sample.label)
    except (OSError, ValueError, SyntaxError) as exc:
        issues.append(("unreadable", f"{sample.label} ({_reason(exc)})"))
        return issues, hist
    maps = [("label", sample.label, raw.shape[::-1])]
    if sample.instance is not None and ds.use_instance:
        try:
            maps.append(("instance", sample.instance, read_map(sample.instance).shape[::-1]))
        except (OSError, ValueError, SyntaxError) as exc:
            issues.append(("unreadable", f"{sample.instance} ({_reason(exc)})"))
    if image_size is not None:
        for what, path, size in maps:
            if not ds.sizes_agree(image_size, size):
                issues.append(("size_mismatch", f"{path} ({what} {size[0]}x{size[1]}, "
                                                f"image {image_size[0]}x{image_size[1]})"))
    ids = ds.decode_label(raw)
    nc, ignore = ds.info.num_classes, ds.info.ignore_index
    valid = (ids >= 0) & (ids < nc)
    bad = ~valid if ignore is None else ~valid & (ids != ignore)
    if bad.any():
        values = np.unique(ids[bad])
        shown = ", ".join(str(v) for v in values[:5]) + (" ..." if len(values) > 5 else "")
        issues.append(("bad_ids", f"{sample.label} (ids {shown})"))
    hist += np.bincount(ids[valid].ravel(), minlength=nc)[:nc]
    return issues, hist


def _checked_image_size(path: Path, issues: list[tuple[str, str]]) -> tuple[int, int] | None:
    """(W, H) from the header; PNG chunks are CRC-verified and a JPEG must end with its EOI marker."""
    try:
        with Image.open(path) as img:
            size = img.size
            fmt = img.format
            if fmt == "PNG":
                img.verify()
        if fmt == "JPEG" and not _jpeg_complete(path):
            raise OSError("no JPEG end-of-image marker: the file is truncated")
    except (OSError, ValueError, SyntaxError) as exc:
        issues.append(("unreadable", f"{path} ({_reason(exc)})"))
        return None
    return size


def _jpeg_complete(path: Path) -> bool:
    # Inside entropy-coded JPEG data 0xFF is always stuffed, so 0xFFD9 near the end can only be the EOI
    # marker; a few bytes of slack allow the padding some encoders append.
    with open(path, "rb") as fh:
        fh.seek(max(0, os.path.getsize(path) - 32))
        return b"\xff\xd9" in fh.read()


def _reason(exc: BaseException) -> str:
    return str(exc).splitlines()[0] if str(exc) else type(exc).__name__
