"""A streaming confusion matrix and the segmentation scores read from it (the plugin: :mod:`metrics.segmentation`).

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
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

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
