"""The records the file-based datasets and the data check share, and reading of id maps.

Decisions:

- This module imports no other module of ``benchmark.datasets``: :mod:`~benchmark.datasets.paired` (the
  dataset machinery) and :mod:`~benchmark.datasets.check` (the data check) both import it, and ``paired``
  imports ``check``, never the reverse, so the two no longer import each other.
- A :class:`Problem` is one kind of problem in one split with every file it concerns and a message of one
  sentence ending in the fix. Problems whose kind is in :data:`FATAL_KINDS` mean the tree cannot be read
  as asked at all (no root, no recognised layout, a split or its directories missing, a bad dataset
  description or config): ``data check`` and training stop on them with one sentence (exit code 2)
  instead of printing a report of counts that would all be zero.
- A :class:`Layout` records which of a dataset's accepted trees was recognised, where, and how split names
  map onto it (pix2pixHD ships ``train``/``test``: its ``test`` is read as ``val``); ``data check`` prints
  it and a run's data record (``manifest.json`` ``data.extra.layout``) keeps it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from benchmark.user_error import UserError

#: how many file names a message lists before "... and N more"
MAX_LISTED = 5

#: problem kinds after which nothing of the split can be inspected: a user error, not a report
FATAL_KINDS = frozenset({
    "missing_root", "unknown_layout", "ambiguous_root", "missing_split", "missing_dir", "bad_metadata",
    "missing_num_classes", "missing_file", "bad_config",
})


@dataclass(frozen=True)
class Problem:
    """One kind of problem in one split, with every file it concerns and a one-sentence fix."""

    kind: str
    split: str | None
    files: tuple[str, ...]
    message: str

    @property
    def fatal(self) -> bool:
        return self.kind in FATAL_KINDS


def listing(items: Sequence[str], limit: int = MAX_LISTED) -> str:
    """``a, b, c ... and 7 more``."""
    shown = ", ".join(items[:limit])
    return shown + (f" ... and {len(items) - limit} more" if len(items) > limit else "")


def make_problem(kind: str, split: str | None, files: Sequence[str], what: str, fix: str) -> Problem:
    """A problem whose message reads ``<what>: <files>; <fix>.``"""
    files = tuple(files)
    text = f"{what}: {listing(files)}; {fix}" if files else f"{what}; {fix}"
    return Problem(kind, split, files, text.rstrip(".") + ".")


class DataCheckError(UserError, ValueError):
    """A dataset failed its check; ``problems`` holds every problem found, the message summarises them
    in one sentence."""

    def __init__(self, problems: Sequence[Problem], dataset: str = "dataset"):
        self.problems = list(problems)
        self.dataset = dataset
        messages = [p.message.rstrip(".") for p in self.problems]
        text = "; ".join(messages[:MAX_LISTED])
        if len(messages) > MAX_LISTED:
            text += f" ... and {len(messages) - MAX_LISTED} more problems"
        super().__init__(f"{dataset} data check failed: {text}.")


def config_error(dataset: str, what: str, fix: str) -> DataCheckError:
    """A DataCheckError for a data config that cannot work (``bad_config``), naming the key and the fix."""
    return DataCheckError([make_problem("bad_config", None, [], what, fix)], dataset)


def unique_problems(problems: Iterable[Problem]) -> list[Problem]:
    """Problems in order with duplicates (same split reported twice) removed."""
    out: list[Problem] = []
    for p in problems:
        if p not in out:
            out.append(p)
    return out


@dataclass(frozen=True)
class SampleFiles:
    """The files of one sample (``image`` None: a label map of a split without photos)."""

    image: Path | None
    label: Path
    instance: Path | None = None


@dataclass
class Scan:
    """What a dataset's ``scan`` found in one split: matched samples and every problem met on the way."""

    samples: list[SampleFiles] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)


@dataclass(frozen=True)
class Layout:
    """The tree a dataset recognised under its data root.

    ``name`` is a short id (``official``, ``pix2pixhd``, ``spade``, ``folder``, ``explicit``, ...),
    ``root`` the directory the files are under (the data root, or the dataset folder found directly inside
    it), ``description`` what that layout consists of. ``split_dirs`` maps a split name to the name the tree
    uses for it where they differ; ``dirs`` lists the directories of each split where they were given one
    by one (``folder``); ``notes`` are sentences ``data check`` prints (which split stands in for which).
    """

    name: str
    root: Path | None
    description: str
    split_dirs: Mapping[str, str] = field(default_factory=dict)
    dirs: Mapping[str, Mapping[str, str | None]] = field(default_factory=dict)
    notes: tuple[str, ...] = ()

    def split_dir(self, split: str) -> str:
        """The tree's name for ``split``."""
        return self.split_dirs.get(split, split)

    def lines(self) -> list[str]:
        """What ``data check`` prints about the layout, one line each (without indentation; the report's
        first line names the root)."""
        out = [f"layout: {self.name} -- {self.description}"]
        for split, roles in self.dirs.items():
            out.append(f"directories of {split}: " + ", ".join(f"{role} {path}" for role, path in roles.items()
                                                               if path is not None))
        out += list(self.notes)
        return out

    def record(self) -> dict[str, Any]:
        """A JSON-able record for the run's data record (``DataInfo.extra["layout"]``)."""
        rec: dict[str, Any] = {"name": self.name, "root": None if self.root is None else str(self.root)}
        if self.split_dirs:
            rec["split_dirs"] = dict(self.split_dirs)
        if self.dirs:
            rec["dirs"] = {split: dict(roles) for split, roles in self.dirs.items()}
        if self.notes:
            rec["notes"] = list(self.notes)
        return rec


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


def split_names(splits: Sequence[str] | Mapping[str, Any] | str) -> list[str]:
    """The split names of ``data.splits``: a sequence of names, or (``folder``) a mapping from each name to
    its directories."""
    if isinstance(splits, str):
        return [splits]
    return [str(s) for s in (splits.keys() if isinstance(splits, Mapping) else splits)]
