"""``celebamask_hq``: CelebAMask-HQ faces with 19-class parsing maps combined from the per-part masks.

Layout (the unzipped ``CelebAMask-HQ.zip`` plus CelebA's partition file)::

    CelebAMask-HQ/CelebA-HQ-img/<idx>.jpg                               1024x1024, idx 0..29999
    CelebAMask-HQ/CelebAMask-HQ-mask-anno/<idx // 2000>/<idx:05d>_<part>.png   512x512 binary part masks
    CelebAMask-HQ/CelebA-HQ-to-CelebA-mapping.txt                 "idx orig_idx orig_file" per line
    CelebAMask-HQ/list_eval_partition.txt           CelebA's "000001.jpg 0" (0 train, 1 val, 2 test)

``data.root`` may name ``CelebAMask-HQ/`` (whatever it is called) or the directory the archive was unpacked
in. ``list_eval_partition.txt`` comes with CelebA, not with the archive: it is looked for in the dataset
folder, then in the data root given (so it can sit next to ``CelebAMask-HQ/``), unless
``data.partition_file`` names it; ``data check`` prints which file (or rule) gave the splits.

**Label maps.** The part masks are combined as the dataset's own ``face_parsing/Data_preprocessing/
g_mask.py`` does: background 0, then the parts in the order of :data:`PARTS` painted over each other
(later parts win where masks overlap), part ``k`` getting id ``k + 1``. The combined maps are written once
to ``data.label_cache`` (default ``$SISBENCH_CACHE`` or ``~/.cache/sisbench``, ``celebamask_hq/<hash of
the root>``), through a temporary directory renamed into place, so an interrupted run leaves nothing
half-written. An image with no part mask at all has no label (reported by the data check). Maps are 512
px and images 1024 px: the transforms resize both, and the check only requires equal aspect ratios.

**Splits.** An image belongs to the split of its original CelebA image (``orig_file`` in the mapping,
looked up in ``list_eval_partition.txt``): train, val or test; evaluation uses ``test``. Without
``list_eval_partition.txt`` the thresholds of the dataset's ``g_partition.py`` on ``orig_idx`` are used
(val from 162771, test from 182638), which can differ from CelebA's own partition by one boundary image.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
from PIL import Image

from benchmark.datasets.base import DataInfo
from benchmark.datasets.common import DataCheckError, Layout, config_error, make_problem
from benchmark.datasets.paired import LayoutSpec, PairedDataset, Scan, cache_root, missing_dirs, pair_files
from benchmark.registry import DATASETS

#: part mask names in the order g_mask.py paints them; part k gets label id k + 1
PARTS = ("skin", "nose", "eye_g", "l_eye", "r_eye", "l_brow", "r_brow", "l_ear", "r_ear", "mouth", "u_lip",
         "l_lip", "hair", "hat", "ear_r", "neck_l", "neck", "cloth")
CLASS_NAMES = ("background", *PARTS)
#: colours of the dataset's own visualisation (face_parsing/Data_preprocessing/g_color.py order)
PALETTE = ((0, 0, 0), (204, 0, 0), (76, 153, 0), (204, 204, 0), (51, 51, 255), (204, 0, 204), (0, 255, 255),
           (255, 204, 204), (102, 51, 0), (255, 0, 0), (102, 204, 0), (255, 255, 0), (0, 0, 153),
           (0, 0, 204), (255, 51, 153), (0, 204, 204), (0, 51, 0), (255, 153, 51), (0, 204, 0))
IMAGE_DIR = "CelebA-HQ-img"
MASK_DIR = "CelebAMask-HQ-mask-anno"
MAPPING_FILE = "CelebA-HQ-to-CelebA-mapping.txt"
PARTITION_FILE = "list_eval_partition.txt"
SPLIT_CODES = {"train": 0, "val": 1, "test": 2}
#: bump when the combination rule changes (part of the label cache key)
COMBINE_VERSION = 1
ARCHIVE = LayoutSpec("archive", "CelebA-HQ-img/ + CelebAMask-HQ-mask-anno/ + CelebA-HQ-to-CelebA-mapping.txt "
                                "(the unzipped CelebAMask-HQ.zip)", (IMAGE_DIR, MASK_DIR, MAPPING_FILE))


def combine_parts(parts: Mapping[str, Path]) -> np.ndarray:
    """The uint8 label map of one face from its ``{part name: mask file}``."""
    label: np.ndarray | None = None
    for k, part in enumerate(PARTS):
        if part not in parts:
            continue
        with Image.open(parts[part]) as img:
            mask = np.asarray(img.convert("L")) > 0
        if label is None:
            label = np.zeros(mask.shape, dtype=np.uint8)
        label[mask] = k + 1
    if label is None:
        raise ValueError("no part masks")
    return label


def index_part_masks(root: Path) -> dict[int, dict[str, Path]]:
    """``{image idx: {part: path}}`` from ``CelebAMask-HQ-mask-anno/*/<idx:05d>_<part>.png``."""
    index: dict[int, dict[str, Path]] = {}
    for path in (root / MASK_DIR).glob("*/*.png"):
        stem, _, part = path.stem.partition("_")
        if stem.isdigit() and part in PARTS:
            index.setdefault(int(stem), {})[part] = path
    return index


def ensure_labels(root: Path, cache: Path) -> Path:
    """Combine every face's part masks into ``cache/<idx>.png`` once; return ``cache``.

    An unreadable mask stops the combination with a DataCheckError listing every such mask; nothing is
    left in the cache then."""
    if cache.is_dir():
        return cache
    index = index_part_masks(root)
    cache.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{cache.name}.", dir=cache.parent))

    def write(item: tuple[int, dict[str, Path]]) -> list[str]:
        idx, parts = item
        try:
            Image.fromarray(combine_parts(parts)).save(tmp / f"{idx}.png")
        except (OSError, ValueError, SyntaxError) as exc:
            return [f"{p} ({exc})" for p in parts.values() if not _readable(p)] or [f"image {idx} ({exc})"]
        return []

    try:
        with ThreadPoolExecutor(max_workers=min(8, os.cpu_count() or 1)) as pool:
            bad = [entry for entries in pool.map(write, sorted(index.items())) for entry in entries]
        if bad:
            raise DataCheckError([make_problem(
                "unreadable", None, bad, f"{len(bad)} part mask(s) of CelebAMask-HQ cannot be read",
                "re-extract them from CelebAMask-HQ.zip")], "celebamask_hq")
        try:
            os.rename(tmp, cache)
        except OSError:
            if not cache.is_dir():  # anything but a concurrent run that finished first
                raise
            shutil.rmtree(tmp)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return cache


def _readable(path: Path) -> bool:
    try:
        with Image.open(path) as img:
            img.load()
    except (OSError, ValueError, SyntaxError):
        return False
    return True


def read_partition(root: Path, partition_file: Path | None) -> dict[int, int]:
    """``{CelebA-HQ idx: split code}`` (0 train, 1 val, 2 test)."""
    mapping = root / MAPPING_FILE
    if not mapping.is_file():
        raise DataCheckError([make_problem("missing_file", None, [str(mapping)], "the CelebA-HQ to CelebA "
                                           "mapping is missing", "copy it from the CelebAMask-HQ zip")],
                             "celebamask_hq")
    rows = [line.split() for line in mapping.read_text().splitlines()[1:] if line.strip()]
    if partition_file is not None and partition_file.is_file():
        codes = {}
        for line in partition_file.read_text().splitlines():
            parts = line.split()
            if len(parts) == 2:
                codes[parts[0]] = int(parts[1])
        return {int(idx): codes.get(orig_file, -1) for idx, _, orig_file in rows}
    return {int(idx): 2 if int(orig) >= 182638 else 1 if int(orig) >= 162771 else 0 for idx, orig, _ in rows}


@DATASETS.register()
class CelebAMaskHQDataset(PairedDataset):
    """CelebAMask-HQ: 19 face-part classes combined from the per-part masks; CelebA's train/val/test."""

    name = "celebamask_hq"
    description = "CelebAMask-HQ faces, 19 parsing classes (combined part masks), CelebA's splits"
    require_equal_size = False
    options: ClassVar[Mapping[str, Any]] = dict(splits=("train", "val", "test"), eval_split="test",
                                                load_size=256, crop_size=256, partition_file=None,
                                                label_cache=None)

    layouts = (ARCHIVE,)

    @classmethod
    def data_info(cls, cfg: Mapping[str, Any]) -> DataInfo:
        return cls.with_layout(DataInfo(name=cls.name, num_classes=len(CLASS_NAMES), ignore_index=None,
                                        class_names=CLASS_NAMES, palette=PALETTE, has_instance=False,
                                        image_size=cls.output_size(cfg)), cfg)

    @classmethod
    def partition_path(cls, cfg: Mapping[str, Any], directory: Path) -> Path | None:
        """CelebA's partition file: ``data.partition_file``, else in the dataset folder, else in the data
        root given (its parent, when the root holds ``CelebAMask-HQ/``); None when there is none."""
        if cfg["partition_file"]:
            return Path(cfg["partition_file"]).expanduser()
        for base in (directory, Path(cfg["root"]).expanduser()):
            if (base / PARTITION_FILE).is_file():
                return base / PARTITION_FILE
        return None

    @classmethod
    def make_layout(cls, spec: LayoutSpec, directory: Path, cfg: Mapping[str, Any]) -> Layout:
        part = cls.partition_path(cfg, directory)
        if cfg["partition_file"] and not part.is_file():
            raise DataCheckError([make_problem(
                "missing_file", None, [str(part)], "the CelebA partition file data.partition_file names does "
                "not exist", "fix the path or set data.partition_file=None")], cls.name)
        note = (f"splits: CelebA's partition in {part}" if part is not None and part.is_file() else
                f"splits: no {PARTITION_FILE} (looked in {directory} and the data root): g_partition.py's "
                f"thresholds on the CelebA index are used instead")
        return Layout(spec.name, directory, spec.looks_for, notes=(note,))

    def _label_cache(self, root: Path) -> Path:
        if self.cfg["label_cache"]:
            return Path(self.cfg["label_cache"]).expanduser()
        key = hashlib.sha256(f"{root.resolve()}|{COMBINE_VERSION}".encode()).hexdigest()[:12]
        return cache_root() / "celebamask_hq" / key

    def scan(self, root: Path, split: str) -> Scan:
        if split not in SPLIT_CODES:
            raise config_error(self.name, f"celebamask_hq has no split {split!r}",
                               f"use {', '.join(SPLIT_CODES)} in data.splits and data.eval_split")
        if problems := missing_dirs(split, (root / IMAGE_DIR, root / MASK_DIR)):
            return Scan(problems=problems)
        members = [idx for idx, code in read_partition(root, self.partition_path(self.cfg, root)).items()
                   if code == SPLIT_CODES[split]]
        labels_dir = ensure_labels(root, self._label_cache(root))
        images = {str(i): root / IMAGE_DIR / f"{i}.jpg" for i in members}
        labels = {str(i): labels_dir / f"{i}.png" for i in members}
        images = {k: p for k, p in images.items() if p.is_file()}
        labels = {k: p for k, p in labels.items() if p.is_file()}
        return pair_files(split, images, labels)
