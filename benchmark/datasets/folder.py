"""``folder``: your own paired data in a plain directory layout.

Layout::

    <root>/
      dataset.json                 optional: {"num_classes": 12, "ignore_index": 255,
                                              "class_names": [...], "palette": [[r, g, b], ...]}
      <split>/images/*.png|jpg|jpeg
      <split>/labels/*.png         one label map per image, same file stem; 8-bit grey or palette PNG
                                   whose pixel values are class ids
      <split>/instances/*.png      optional instance-id maps (8/16/32-bit), same stems

``<split>`` is a name from ``data.splits`` (``train``, ``val``, ...). The data config overrides
``dataset.json``: ``num_classes``, ``ignore_index``, ``class_names``, ``palette``; ``num_classes`` must
come from one of them. Instance maps are used when ``<root>/<first split>/instances`` exists and
``data.use_instance`` is True. The embedded ``synthetic`` dataset is written in this layout.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar

from benchmark.datasets.base import DataInfo
from benchmark.datasets.check import DataCheckError, make_problem
from benchmark.datasets.paired import (
    IMAGE_EXTENSIONS,
    PairedDataset,
    Scan,
    keyed,
    list_files,
    missing_dirs,
    pair_files,
)
from benchmark.registry import DATASETS

METADATA_FILE = "dataset.json"
_METADATA_KEYS = ("num_classes", "ignore_index", "class_names", "palette")


def read_metadata(root: Path) -> dict[str, Any]:
    """``<root>/dataset.json`` as a dict ({} when absent); a malformed file raises naming it."""
    path = root / METADATA_FILE
    if not path.is_file():
        return {}
    try:
        meta = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        what, fix = f"the dataset description is not valid JSON ({exc})", "fix or delete the file"
    else:
        if isinstance(meta, dict) and not set(meta) - set(_METADATA_KEYS):
            return meta
        what = "the dataset description is not an object with only the known keys"
        fix = f"use only {', '.join(_METADATA_KEYS)}"
    raise DataCheckError([make_problem("bad_metadata", None, [str(path)], what, fix)], "folder")


def default_palette(n: int) -> tuple[tuple[int, int, int], ...]:
    """The PASCAL VOC colour map (bit-interleaved), the usual default for label visualisation."""
    colours = []
    for i in range(n):
        r = g = b = 0
        c = i
        for j in range(8):
            r |= ((c >> 0) & 1) << (7 - j)
            g |= ((c >> 1) & 1) << (7 - j)
            b |= ((c >> 2) & 1) << (7 - j)
            c >>= 3
        colours.append((r, g, b))
    return tuple(colours)


@DATASETS.register()
class FolderDataset(PairedDataset):
    """Custom paired data: <root>/<split>/{images,labels[,instances]}."""

    name = "folder"
    description = "custom data: <root>/<split>/{images,labels[,instances]} (+ dataset.json)"
    options: ClassVar[Mapping[str, Any]] = dict(num_classes=None, ignore_index=None, class_names=None,
                                                palette=None)

    @classmethod
    def data_info(cls, cfg: Mapping[str, Any]) -> DataInfo:
        root = cls.locate_root(cfg)
        meta = read_metadata(root)
        merged = {k: cfg[k] if cfg.get(k) is not None else meta.get(k) for k in _METADATA_KEYS}
        if merged["num_classes"] is None:
            raise DataCheckError([make_problem(
                "missing_num_classes", None, [str(root / METADATA_FILE)],
                f"the number of classes of the folder dataset at {root} is unknown",
                "set data.num_classes or write num_classes to this file")], cls.name)
        nc = int(merged["num_classes"])
        names = tuple(merged["class_names"] or (f"class_{i}" for i in range(nc)))
        palette = tuple(tuple(int(v) for v in c) for c in merged["palette"] or default_palette(nc))
        if len(names) != nc or len(palette) != nc:
            raise ValueError(f"folder dataset at {root}: {len(names)} class names and {len(palette)} palette "
                             f"colours for num_classes={nc}; give one of each per class")
        ignore = merged["ignore_index"]
        first_split = cfg["splits"][0] if cfg["splits"] else "train"
        return DataInfo(
            name=cls.name, num_classes=nc, ignore_index=None if ignore is None else int(ignore),
            class_names=names, palette=palette,
            has_instance=bool(cfg["use_instance"]) and (root / first_split / "instances").is_dir(),
            image_size=cls.output_size(cfg), contain_dontcare_label=ignore is not None,
            extra={"root": str(root)})

    def scan(self, root: Path, split: str) -> Scan:
        split_dir = root / split
        images_dir, labels_dir, inst_dir = split_dir / "images", split_dir / "labels", split_dir / "instances"
        if problems := missing_dirs(split, (images_dir, labels_dir)):
            return Scan(problems=problems)
        instances = keyed(list_files(inst_dir, (".png",))) if self.use_instance else None
        return pair_files(split, keyed(list_files(images_dir, IMAGE_EXTENSIONS)),
                          keyed(list_files(labels_dir, (".png",))), instances)
