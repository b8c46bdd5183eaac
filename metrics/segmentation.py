"""Segmentation scores of generated images: a streaming confusion matrix, label mappings, the plugin.

A segmentation network trained on real images labels each generated image; its prediction is compared
with the label map the image was generated from. Formulas (PROTOCOLS.md, seeds 000 and 002), with ``P``
the confusion matrix over the classes (rows: ground truth, columns: prediction; ignored pixels excluded):

- ``IoU_c = P_cc / (sum_j P_cj + sum_j P_jc - P_cc)``;
- ``mIoU`` = the mean of ``IoU_c`` over a set of classes that the protocol's ``averaging`` rule fixes,
  because the evaluation scripts behind published numbers differ here (each checked in its own code):

  - ``"present_gt_or_pred"`` (SISBench's default; mmsegmentation's ``IoUMetric``; fyu/drn
    ``segment.py``: ``np.nanmean`` over ``per_class_iu(fast_hist)``): the classes present in the ground
    truth *or* the prediction. A class absent from both has no IoU (0/0) and is left out;
  - ``"present_gt"`` (kazuto1011/deeplab-pytorch ``libs/utils/metric.py``: ``nanmean(iu[hist.sum(1) > 0])``):
    the classes present in the ground truth; a class only predicted (IoU 0) is left out too;
  - ``"all_classes"`` (CSAILVision/semantic-segmentation-pytorch ``eval.py``: ``I / (U + 1e-10)``
    averaged over all ``num_class``): every class, those absent from both counting 0.

  On one matrix these differ a lot (``tests/test_metrics_segmentation.py``: 0.54 / 0.27 / 0.36); the
  per-class list reports ``None`` for a class absent from both whatever the rule;
- pixel accuracy ``accu = sum_c P_cc / sum_cj P_cj`` (the three scripts agree).

mIoU and accuracy are fractions in ``[0, 1]``; tables that print percentages scale them.

Ground-truth labels are nearest-resized to the generated image's size (never the image to the labels),
after the protocol's label mapping has taken the dataset's ids to the segmenter's classes, with PIL's
``NEAREST`` rule, the one the datasets resize their label maps with (:func:`resize_labels`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import torch
from torch import Tensor

from benchmark.registry import METRICS
from metrics.base import EvalState, Metric, ProtocolError

KEY_MIOU = "mIoU"
KEY_ACCU = "accu"
KEY_PER_CLASS_IOU = "per_class_iou"

#: The ignore index labels carry once a protocol's mapping has been applied.
IGNORE_INDEX = 255

#: averaging rule -> the script whose mIoU it reproduces (see the module docstring)
AVERAGING_RULES = {
    "present_gt_or_pred": "classes present in the ground truth or the prediction (mmsegmentation, fyu/drn)",
    "present_gt": "classes present in the ground truth (kazuto1011/deeplab-pytorch)",
    "all_classes": "all classes, absent ones counting 0 (CSAILVision/semantic-segmentation-pytorch)",
}
DEFAULT_AVERAGING = "present_gt_or_pred"


class ConfusionMatrix:
    """A streaming confusion matrix on any device: ``update(pred, target)`` batch by batch, then ``compute()``.

    ``target`` pixels equal to ``ignore_index`` are excluded; any other target id outside
    ``[0, num_classes)`` is an error (a wrong label mapping must not pass silently), and so is a
    prediction outside that range.
    """

    def __init__(self, num_classes: int, ignore_index: int | None = IGNORE_INDEX,
                 device: torch.device | str | None = None):
        if num_classes < 1:
            raise ValueError(f"num_classes must be positive, got {num_classes}")
        self.num_classes = num_classes
        self.ignore_index = ignore_index
        self.matrix = torch.zeros(num_classes, num_classes, dtype=torch.int64, device=device)

    def reset(self) -> None:
        self.matrix.zero_()

    @torch.no_grad()
    def update(self, pred: Tensor, target: Tensor) -> None:
        """Add a batch: ``pred`` and ``target`` integer tensors of the same shape (e.g. ``[B, H, W]``)."""
        if pred.shape != target.shape:
            raise ValueError(f"prediction {tuple(pred.shape)} and target {tuple(target.shape)} differ in shape; "
                             "resize the labels to the image size first (resize_labels)")
        n = self.num_classes
        pred = pred.to(self.matrix.device, torch.int64).reshape(-1)
        target = target.to(self.matrix.device, torch.int64).reshape(-1)
        if self.ignore_index is not None:
            keep = target != self.ignore_index
            pred, target = pred[keep], target[keep]
        if target.numel() == 0:
            return
        for name, t in (("target", target), ("prediction", pred)):
            lo, hi = int(t.min()), int(t.max())
            if lo < 0 or hi >= n:
                raise ValueError(f"{name} holds class id {lo if lo < 0 else hi}, outside [0, {n}) "
                                 f"(ignore index {self.ignore_index}); check the protocol's label mapping")
        self.matrix += torch.bincount(target * n + pred, minlength=n * n).reshape(n, n)

    def merge(self, other: ConfusionMatrix) -> None:
        """Add another matrix (e.g. from another process) into this one."""
        self.matrix += other.matrix.to(self.matrix.device)

    def compute(self, averaging: str = DEFAULT_AVERAGING) -> dict[str, Any]:
        """``{"mIoU": float, "accu": float, "per_class_iou": [float | None, ...]}`` (nan when no pixel counted)."""
        return scores_from_confusion(self.matrix, averaging)


def per_class_iou(matrix: Tensor) -> Tensor:
    """IoU of every class (float64); ``nan`` for a class absent from both ground truth and prediction."""
    m = matrix.double()
    tp = m.diagonal()
    union = m.sum(0) + m.sum(1) - tp
    return torch.where(union > 0, tp / union.clamp_min(1), torch.full_like(tp, float("nan")))


def averaged_iou(tp: Tensor, gt: Tensor, pred: Tensor, averaging: str) -> Tensor:
    """mIoU (float64) from per-class true positives, ground-truth and predicted pixel counts ``[..., C]``.

    Batched over leading dimensions (the bootstrap's resamples); ``nan`` where no class qualifies.
    """
    tp, gt, pred = tp.double(), gt.double(), pred.double()
    union = gt + pred - tp
    iou = tp / union.clamp_min(1)  # 0 where the union is empty; such classes are masked below
    if averaging == "present_gt_or_pred":
        counted = union > 0
    elif averaging == "present_gt":
        counted = gt > 0
    elif averaging == "all_classes":
        counted = torch.ones_like(union, dtype=torch.bool)
    else:
        raise ValueError(f"unknown averaging rule {averaging!r}; valid: {', '.join(AVERAGING_RULES)}")
    n = counted.sum(-1)
    total = torch.where(counted, iou, torch.zeros_like(iou)).sum(-1)
    return torch.where(n > 0, total / n.clamp_min(1), torch.full_like(total, float("nan")))


def scores_from_confusion(matrix: Tensor, averaging: str = DEFAULT_AVERAGING) -> dict[str, Any]:
    """mIoU (under the ``averaging`` rule), pixel accuracy and per-class IoU of a confusion matrix
    (rows: ground truth)."""
    iou = per_class_iou(matrix)
    tp = matrix.diagonal()
    total = matrix.sum()
    miou = float(averaged_iou(tp, matrix.sum(1), matrix.sum(0), averaging))
    accu = float(tp.sum().double() / total) if int(total) > 0 else float("nan")
    return {KEY_MIOU: miou, KEY_ACCU: accu,
            KEY_PER_CLASS_IOU: [None if bool(torch.isnan(v)) else float(v) for v in iou]}


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


@METRICS.register("segmentation")
class SegmentationScores(Metric):
    """mIoU and pixel accuracy of the protocol's segmenter on generated images against their label maps."""

    name: ClassVar[str] = "segmentation"
    requires: ClassVar[tuple[str, ...]] = ("segmenter",)
    keys: ClassVar[tuple[str, ...]] = (KEY_MIOU, KEY_ACCU, KEY_PER_CLASS_IOU)

    def compute(self, state: EvalState) -> dict[str, Any]:
        if state.confusion is None:
            raise ValueError("segmentation scores need the segmenter's predictions (EvalState.confusion)")
        return state.confusion.compute(state.protocol.averaging)
