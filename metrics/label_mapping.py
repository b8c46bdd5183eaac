"""Label mappings from a dataset's ids to a segmenter's classes, and the label-map resize.

Ground-truth labels are nearest-resized to the generated image's size (never the image to the labels),
after the protocol's label mapping has taken the dataset's ids to the segmenter's classes, with PIL's
``NEAREST`` rule, the one the datasets resize their label maps with (:func:`resize_labels`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from metrics.confusion import IGNORE_INDEX
from metrics.errors import ProtocolError


def pil_nearest_indices(n_in: int, n_out: int) -> Tensor:
    """Source index of every output pixel under PIL's ``NEAREST`` resize along one axis.

    PIL (``ImagingScaleAffine``) samples at pixel centres: the source coordinate starts at ``scale / 2`` and
    grows by ``scale = n_in / n_out`` per output pixel, *accumulated* in double precision, and is floored.
    Computing ``(i + 0.5) * scale`` instead (torch's ``nearest-exact``) differs where the accumulated sum
    lands just below an integer (256 -> 100 px: column 12 of 100); torch's ``nearest`` is
    ``floor(i * scale)``, OpenCV's ``INTER_NEAREST`` rule, which picks other pixels altogether.
    """
    scale = n_in / n_out
    steps = np.full(n_out, scale)
    steps[0] = scale * 0.5
    index = np.floor(np.add.accumulate(steps)).astype(np.int64)  # sequential sums, as PIL's loop
    return torch.from_numpy(np.minimum(index, n_in - 1))


def resize_labels(labels: Tensor, size: Sequence[int]) -> Tensor:
    """Nearest-neighbour resize of int label maps ``[B, H, W]`` (or ``[H, W]``) to ``size = (H, W)``.

    PIL's ``NEAREST`` rule exactly (:func:`pil_nearest_indices`): the datasets resize their label maps with
    PIL, and so do the SPADE-line data loaders (``Image.NEAREST``), so a label map the harness resizes
    matches one the dataset would have produced at that size.
    """
    size = (int(size[0]), int(size[1]))
    if tuple(labels.shape[-2:]) == size:
        return labels
    rows = pil_nearest_indices(labels.shape[-2], size[0]).to(labels.device)
    cols = pil_nearest_indices(labels.shape[-1], size[1]).to(labels.device)
    return labels.index_select(-2, rows).index_select(-1, cols)


@dataclass(frozen=True)
class LabelMapping:
    """Maps a dataset's label ids to a segmenter's classes.

    ``table[i]`` is the segmenter class of dataset id ``i`` (``-1``: ignored). ``source_classes`` is the
    number of dataset ids the table expects; a dataset with another count is refused.
    """

    name: str
    source_classes: int | None
    table: tuple[int, ...] | None = None
    description: str = ""

    @property
    def num_classes(self) -> int | None:
        """Number of segmenter classes the mapping produces (None: the dataset's own)."""
        return self.source_classes if self.table is None else max(self.table) + 1

    def check(self, dataset_classes: int) -> None:
        if self.source_classes is not None and dataset_classes != self.source_classes:
            raise ProtocolError(f"label mapping {self.name!r} expects a dataset with {self.source_classes} label ids, "
                                f"this one has {dataset_classes}; choose the protocol that matches the dataset")

    def apply(self, labels: Tensor, ignore_index: int | None) -> Tensor:
        """Map int labels; the dataset's ignore index and unmapped ids become :data:`IGNORE_INDEX`."""
        labels = labels.long()
        ignored = labels == ignore_index if ignore_index is not None else torch.zeros_like(labels, dtype=torch.bool)
        if self.table is None:
            return torch.where(ignored, torch.full_like(labels, IGNORE_INDEX), labels)
        lut = torch.tensor(self.table, dtype=torch.int64, device=labels.device)
        lut = torch.where(lut < 0, torch.full_like(lut, IGNORE_INDEX), lut)
        safe = torch.where(ignored, torch.zeros_like(labels), labels)
        if safe.numel() and (int(safe.max()) >= len(self.table) or int(safe.min()) < 0):
            raise ValueError(f"labels hold ids outside the {len(self.table)} ids label mapping {self.name!r} knows")
        return torch.where(ignored, torch.full_like(labels, IGNORE_INDEX), lut[safe])


# COCO-Stuff: the 182 ids of the label PNGs (0-based) include 11 thing ids COCO never used; mmseg's
# COCO-Stuff-164k models predict the remaining 171 in order.
_COCO_UNUSED = (11, 25, 28, 29, 44, 65, 67, 68, 70, 82, 90)
_COCO_TABLE = tuple(-1 if i in _COCO_UNUSED else i - sum(u < i for u in _COCO_UNUSED) for i in range(182))

# Cityscapes labelIds 0..33 (+ license plate -1 folded to ignore) -> the 19 train ids.
_CITYSCAPES_TRAIN_IDS = {7: 0, 8: 1, 11: 2, 12: 3, 13: 4, 17: 5, 19: 6, 20: 7, 21: 8, 22: 9, 23: 10, 24: 11,
                         25: 12, 26: 13, 27: 14, 28: 15, 31: 16, 32: 17, 33: 18}
_CITYSCAPES_TABLE = tuple(_CITYSCAPES_TRAIN_IDS.get(i, -1) for i in range(35))

LABEL_MAPPINGS: dict[str, LabelMapping] = {
    m.name: m for m in (
        LabelMapping("identity", None, None, "the dataset's own ids (a segmenter trained on this dataset)"),
        LabelMapping("coco_stuff_182_to_171", 182, _COCO_TABLE,
                     "COCO-Stuff 182 ids -> mmseg's 171 classes (drops 11, 25, 28, 29, 44, 65, 67, 68, 70, 82, 90)"),
        LabelMapping("cityscapes_35_to_19", 35, _CITYSCAPES_TABLE, "Cityscapes 35 label ids -> 19 train ids"),
        LabelMapping("ade20k_150", 150, None,
                     "ADE20K's 150 classes as the dataset yields them: raw id 0 ('other') already the ignore "
                     "index, 1..150 shifted to 0..149 (mmseg's reduce_zero_label)"),
    )
}


def get_label_mapping(name: str) -> LabelMapping:
    try:
        return LABEL_MAPPINGS[name]
    except KeyError:
        raise ValueError(f"unknown label mapping {name!r}; valid: {', '.join(sorted(LABEL_MAPPINGS))}") from None
