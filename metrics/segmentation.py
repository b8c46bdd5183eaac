"""The segmentation-score metric plugin: mIoU and pixel accuracy of generated images under a protocol's segmenter.

The confusion matrix, the averaging rules and the formulas are in :mod:`metrics.confusion`; the label mappings
and the label-map resize in :mod:`metrics.label_mapping`. Both are re-exported here, where callers have always
imported them.
"""

from __future__ import annotations

from typing import Any, ClassVar

from benchmark.registry import METRICS
from metrics.base import EvalState, Metric
from metrics.confusion import (
    AVERAGING_RULES,
    DEFAULT_AVERAGING,
    IGNORE_INDEX,
    KEY_ACCU,
    KEY_MIOU,
    KEY_PER_CLASS_IOU,
    ConfusionMatrix,
    averaged_iou,
    per_class_iou,
    scores_from_confusion,
)
from metrics.label_mapping import LABEL_MAPPINGS, LabelMapping, get_label_mapping, pil_nearest_indices, resize_labels

__all__ = ["AVERAGING_RULES", "DEFAULT_AVERAGING", "IGNORE_INDEX", "KEY_ACCU", "KEY_MIOU", "KEY_PER_CLASS_IOU",
           "LABEL_MAPPINGS", "ConfusionMatrix", "LabelMapping", "SegmentationScores", "averaged_iou",
           "get_label_mapping", "per_class_iou", "pil_nearest_indices", "resize_labels", "scores_from_confusion"]


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
