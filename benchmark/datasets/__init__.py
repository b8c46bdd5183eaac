"""Dataset plugins. Importing this package registers the built-in datasets.

The harness uses three functions: :func:`build_dataset` (one split, ready for a DataLoader),
:func:`dataset_info` (the :class:`DataInfo` methods configure themselves from; no file scan) and
:func:`benchmark.datasets.check.check_dataset` (every problem with the files, before training).
Batches collate with torch's ``default_collate`` (``path`` becomes a list of strings).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from benchmark.datasets import ade20k, celebamask_hq, cityscapes, coco_stuff, folder, synthetic  # noqa: F401
from benchmark.datasets.base import DataInfo, SISDataset
from benchmark.datasets.check import DataReport, check_dataset, dataset_class
from benchmark.datasets.common import DataCheckError, Layout

__all__ = ["DataCheckError", "DataInfo", "DataReport", "Layout", "SISDataset", "build_dataset",
           "check_dataset", "dataset_class", "dataset_info"]


def build_dataset(data_cfg: Mapping[str, Any], split: str, *, train: bool | None = None) -> SISDataset:
    """The ``split`` of the dataset ``data_cfg`` describes; ``train`` (default: ``split == "train"``)
    turns on random crop and flip. Raises DataCheckError when the split cannot be read at all."""
    return dataset_class(data_cfg)(data_cfg, split, train=train)


def dataset_info(data_cfg: Mapping[str, Any]) -> DataInfo:
    """The dataset's DataInfo without scanning its files."""
    cls = dataset_class(data_cfg)
    return cls.data_info(cls.resolve_cfg(data_cfg))
