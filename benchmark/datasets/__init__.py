"""Dataset plugins. Importing this package registers the built-in datasets.

The harness uses three functions: :func:`build_dataset` (one split, ready for a DataLoader),
:func:`dataset_info` (the :class:`DataInfo` methods configure themselves from; no file scan) and
:func:`benchmark.datasets.check.check_dataset` (every problem with the files, before training).
Batches collate with torch's ``default_collate`` (``path`` becomes a list of strings).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from benchmark.datasets import ade20k, celebamask_hq, cityscapes, coco_stuff, folder, synthetic  # noqa: F401
from benchmark.datasets.base import DataInfo, SISDataset
from benchmark.datasets.check import DataReport, check_dataset, dataset_class
from benchmark.datasets.common import DataCheckError, Layout

__all__ = ["DataCheckError", "DataInfo", "DataReport", "Layout", "SISDataset", "build_dataset",
           "check_dataset", "dataset_class", "dataset_info", "dataset_name"]

#: what a dataset's own name may be: a plain name that is also one path component
DATASET_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._+-]*")


def build_dataset(data_cfg: Mapping[str, Any], split: str, *, train: bool | None = None) -> SISDataset:
    """The ``split`` of the dataset ``data_cfg`` describes; ``train`` (default: ``split == "train"``)
    turns on random crop and flip. Raises DataCheckError when the split cannot be read at all."""
    return dataset_class(data_cfg)(data_cfg, split, train=train)


def dataset_info(data_cfg: Mapping[str, Any]) -> DataInfo:
    """The dataset's DataInfo without scanning its files."""
    cls = dataset_class(data_cfg)
    return cls.data_info(cls.resolve_cfg(data_cfg))


def dataset_name(data_cfg: Mapping[str, Any]) -> str:
    """The name runs, tables and figures file the dataset under: a custom dataset's own (``data.name`` or the
    ``name`` of its dataset.json), else the registered name (``data.type``), so existing run paths stay."""
    from benchmark.datasets.common import make_problem

    cls = dataset_class(data_cfg)
    name = None
    if hasattr(cls, "custom_name"):
        try:
            name = cls.custom_name(cls.resolve_cfg(data_cfg))
        except DataCheckError:  # a tree that cannot be read: the data check says why, with its own sentence
            name = data_cfg.get("name") or None
    if name is None:
        return str(data_cfg["type"])
    if not DATASET_NAME.fullmatch(str(name)) or str(name).startswith("_"):
        raise DataCheckError([make_problem(
            "bad_name", None, [], f"the dataset name {name!r} (data.name or the name in dataset.json) cannot name "
            f"a results folder", "use letters, digits and . _ + - (starting with a letter or digit)")], cls.name)
    return str(name)
