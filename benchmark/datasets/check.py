"""The data check: find every problem with a dataset's files before any training starts.

:func:`check_dataset` returns a :class:`DataReport` (problems, sample counts and class histograms per split);
``SISDataset.check()`` raises :class:`DataCheckError` instead. Each :class:`Problem` names the offending
files and says in one sentence how to fix them. What is checked:

- the data root and each split's directories exist (the message names the path and ``data.root`` /
  ``--data-root``), and no split is empty;
- every image has a label map and every label map an image (and an instance map where they are used);
- every file opens and is complete: PNGs are verified chunk by chunk (CRC), JPEGs must end with the
  end-of-image marker, label and instance maps are decoded in full;
- image, label and instance map sizes agree;
- every label id lies in ``[0, num_classes)`` or equals the ignore index.

Headers are read where that is enough; label maps are read in full (the ids need it), on a thread pool
since PIL decodes without holding the GIL.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from PIL import Image

if TYPE_CHECKING:
    from benchmark.datasets.paired import PairedDataset, SampleFiles

#: how many file names a message lists before "... and N more"
MAX_LISTED = 5


@dataclass(frozen=True)
class Problem:
    """One kind of problem in one split, with every file it concerns and a one-sentence fix."""

    kind: str
    split: str | None
    files: tuple[str, ...]
    message: str


def listing(items: Sequence[str], limit: int = MAX_LISTED) -> str:
    """``a, b, c ... and 7 more``."""
    shown = ", ".join(items[:limit])
    return shown + (f" ... and {len(items) - limit} more" if len(items) > limit else "")


def make_problem(kind: str, split: str | None, files: Sequence[str], what: str, fix: str) -> Problem:
    """A problem whose message reads ``<what>: <files>; <fix>.``"""
    files = tuple(files)
    text = f"{what}: {listing(files)}; {fix}" if files else f"{what}; {fix}"
    return Problem(kind, split, files, text.rstrip(".") + ".")


class DataCheckError(ValueError):
    """A dataset failed its check; ``problems`` holds every problem found, the message summarises them."""

    def __init__(self, problems: Sequence[Problem], dataset: str = "dataset"):
        self.problems = list(problems)
        self.dataset = dataset
        messages = [p.message.rstrip(".") for p in self.problems]
        text = "; ".join(messages[:MAX_LISTED])
        if len(messages) > MAX_LISTED:
            text += f" ... and {len(messages) - MAX_LISTED} more problems"
        super().__init__(f"{dataset} data check failed: {text}.")


@dataclass
class DataReport:
    """Result of :func:`check_dataset`."""

    dataset: str
    root: str | None
    problems: list[Problem] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)
    class_histogram: dict[str, list[int]] = field(default_factory=dict)
    class_names: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        return not self.problems

    def format(self) -> str:
        """A human-readable report: verdict, counts, the most frequent classes, then each problem."""
        verdict = "OK" if self.ok else f"{len(self.problems)} problem(s)"
        lines = [f"dataset {self.dataset} at {self.root}: {verdict}"]
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


def check_dataset(data_cfg: Mapping[str, Any], splits: Sequence[str] | None = None) -> DataReport:
    """Check the dataset ``data_cfg`` describes on ``splits`` (default: ``data.splits``); never raises
    for a data problem: every one is in the report."""
    from benchmark.datasets import build_dataset, dataset_class

    cls = dataset_class(data_cfg)
    cfg = cls.resolve_cfg(data_cfg)
    report = DataReport(dataset=cls.name, root=str(cfg["root"]) if cfg["root"] is not None else None)
    for split in (cfg["splits"] if splits is None else splits):
        try:
            ds = build_dataset(cfg, split, train=False)
        except DataCheckError as exc:
            report.problems = unique_problems(report.problems + exc.problems)
            report.counts[split] = 0
            continue
        report.root = str(ds.root)
        report.class_names = ds.info.class_names
        problems, hist = inspect_dataset(ds)
        report.problems += problems
        report.counts[split] = len(ds)
        report.class_histogram[split] = hist.tolist()
    return report


def inspect_dataset(ds: PairedDataset) -> tuple[list[Problem], np.ndarray]:
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


def _inspect_sample(ds: PairedDataset, sample: SampleFiles) -> tuple[list[tuple[str, str]], np.ndarray]:
    issues: list[tuple[str, str]] = []
    hist = np.zeros(ds.info.num_classes, dtype=np.int64)
    image_size = _checked_image_size(sample.image, issues)
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


def read_map(path: Path) -> np.ndarray:
    """A label or instance map as an integer array, decoded in full (a truncated file raises)."""
    with Image.open(path) as img:
        img.load()
        return np.asarray(as_index_image(img))


def as_index_image(img: Image.Image) -> Image.Image:
    """Label/instance PIL image in a mode that holds raw ids: palette indices and grey levels as they
    are, 16-bit maps widened to 32-bit (PIL's resize does not take every 16-bit mode)."""
    if img.mode in ("L", "P", "I"):
        return img
    if img.mode.startswith("I;16"):
        return img.convert("I")
    raise ValueError(f"mode {img.mode} is not a single-channel id map; save labels as 8-bit grey or "
                     f"palette PNGs")


def unique_problems(problems: Iterable[Problem]) -> list[Problem]:
    """Problems in order with duplicates (same split reported twice) removed."""
    out: list[Problem] = []
    for p in problems:
        if p not in out:
            out.append(p)
    return out
