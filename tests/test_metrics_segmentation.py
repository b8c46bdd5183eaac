"""Segmentation scores: the streaming confusion matrix against an independent NumPy implementation and
hand-computed cases; label mappings; nearest label resizing."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from metrics.segmentation import (
    IGNORE_INDEX,
    LABEL_MAPPINGS,
    ConfusionMatrix,
    get_label_mapping,
    resize_labels,
)


def numpy_scores(preds: list[np.ndarray], targets: list[np.ndarray], n: int, ignore: int):
    """Reference: per-pixel loops over classes, written from the formulas in PROTOCOLS.md."""
    p = np.concatenate([a.ravel() for a in preds])
    t = np.concatenate([a.ravel() for a in targets])
    keep = t != ignore
    p, t = p[keep], t[keep]
    ious = []
    for c in range(n):
        inter = np.sum((p == c) & (t == c))
        union = np.sum((p == c) | (t == c))
        ious.append(inter / union if union else None)
    present = [v for v in ious if v is not None]
    return float(np.mean(present)), float(np.mean(p == t)), ious


def test_matches_numpy_reference_over_batches():
    rng = np.random.default_rng(0)
    n = 7
    cm = ConfusionMatrix(n, ignore_index=IGNORE_INDEX)
    preds, targets = [], []
    for _ in range(4):
        t = rng.integers(0, n - 1, size=(2, 9, 11))  # class n-1 never in the ground truth
        t[rng.random(t.shape) < 0.2] = IGNORE_INDEX
        p = rng.integers(0, n - 2, size=t.shape)    # classes n-2, n-1 never predicted
        cm.update(torch.from_numpy(p), torch.from_numpy(t))
        preds.append(p)
        targets.append(t)
    miou, accu, ious = numpy_scores(preds, targets, n, IGNORE_INDEX)
    out = cm.compute()
    assert out["mIoU"] == pytest.approx(miou, abs=1e-12)
    assert out["accu"] == pytest.approx(accu, abs=1e-12)
    assert ious[n - 1] is None and out["per_class_iou"][n - 1] is None  # absent from both: left out
    assert out["per_class_iou"][n - 2] == 0.0  # in the ground truth only: IoU 0, counted in the mean
    for got, want in zip(out["per_class_iou"], ious, strict=True):
        assert (got is None and want is None) or got == pytest.approx(want, abs=1e-12)


def test_hand_computed_case():
    # target 0 0 1 1 / 255 2 2 2 ; pred 0 1 1 1 / 0 2 2 0
    target = torch.tensor([[0, 0, 1, 1], [IGNORE_INDEX, 2, 2, 2]])
    pred = torch.tensor([[0, 1, 1, 1], [0, 2, 2, 0]])
    cm = ConfusionMatrix(4)
    cm.update(pred, target)
    out = cm.compute()
    # class 0: tp 1, gt 2, pred 2 -> 1/3; class 1: tp 2, gt 2, pred 3 -> 2/3; class 2: tp 2, gt 3, pred 2 -> 2/3
    # class 3: absent from both -> left out. 7 counted pixels, 5 right.
    assert out["per_class_iou"] == pytest.approx([1 / 3, 2 / 3, 2 / 3, None])
    assert out["mIoU"] == pytest.approx((1 / 3 + 2 / 3 + 2 / 3) / 3)
    assert out["accu"] == pytest.approx(5 / 7)
    assert cm.matrix.sum() == 7


def test_one_class_image_is_perfect_and_others_are_left_out():
    cm = ConfusionMatrix(10)
    labels = torch.full((1, 8, 8), 3)
    cm.update(labels, labels)
    out = cm.compute()
    assert out["mIoU"] == 1.0 and out["accu"] == 1.0
    assert sum(v is not None for v in out["per_class_iou"]) == 1


def test_all_ignored_gives_nan_not_a_crash():
    cm = ConfusionMatrix(3)
    cm.update(torch.zeros(4, 4, dtype=torch.long), torch.full((4, 4), IGNORE_INDEX))
    out = cm.compute()
    assert math.isnan(out["mIoU"]) and math.isnan(out["accu"])


def test_out_of_range_ids_are_refused():
    cm = ConfusionMatrix(3)
    with pytest.raises(ValueError, match="class id 5"):
        cm.update(torch.zeros(2, 2, dtype=torch.long), torch.full((2, 2), 5))
    with pytest.raises(ValueError, match="prediction"):
        cm.update(torch.full((2, 2), 3), torch.zeros(2, 2, dtype=torch.long))
    with pytest.raises(ValueError, match="shape"):
        cm.update(torch.zeros(2, 2, dtype=torch.long), torch.zeros(2, 3, dtype=torch.long))


def test_merge_equals_single_stream():
    rng = np.random.default_rng(1)
    a, b = (torch.from_numpy(rng.integers(0, 5, size=(3, 6, 6))) for _ in range(2))
    whole, part1, part2 = ConfusionMatrix(5), ConfusionMatrix(5), ConfusionMatrix(5)
    whole.update(a, b)
    whole.update(b, a)
    part1.update(a, b)
    part2.update(b, a)
    part1.merge(part2)
    assert torch.equal(whole.matrix, part1.matrix)


def test_coco_stuff_mapping_drops_the_eleven_unused_ids():
    m = get_label_mapping("coco_stuff_182_to_171")
    assert m.num_classes == 171
    labels = torch.tensor([0, 10, 11, 12, 181, 90, 91, 255])
    out = m.apply(labels, ignore_index=255)
    assert out.tolist() == [0, 10, IGNORE_INDEX, 11, 170, IGNORE_INDEX, 80, IGNORE_INDEX]


def test_cityscapes_mapping_to_train_ids():
    m = get_label_mapping("cityscapes_35_to_19")
    out = m.apply(torch.tensor([0, 7, 8, 26, 33, 34]), ignore_index=None)
    assert out.tolist() == [IGNORE_INDEX, 0, 1, 13, 18, IGNORE_INDEX]
    with pytest.raises(ValueError, match="35 label ids"):
        m.check(19)


def test_identity_mapping_turns_the_dataset_ignore_index_into_ours():
    m = LABEL_MAPPINGS["identity"]
    out = m.apply(torch.tensor([0, 4, 99]), ignore_index=99)
    assert out.tolist() == [0, 4, IGNORE_INDEX]


def test_resize_labels_is_nearest_and_keeps_ids():
    labels = torch.arange(16).reshape(1, 4, 4)
    small = resize_labels(labels, (2, 2))
    assert small.tolist() == [[[5, 7], [13, 15]]]  # PIL samples pixel centres: rows/cols 1 and 3
    big = resize_labels(labels[0], (8, 8))
    assert set(big.unique().tolist()) == set(range(16)) and big.dtype == labels.dtype


def test_mappings_agree_with_the_dataset_plugins():
    from benchmark.datasets import cityscapes, coco_stuff

    table = get_label_mapping("cityscapes_35_to_19").table
    assert table == tuple(-1 if train_id == 255 else train_id for _, train_id, _ in cityscapes.LABELS)
    dropped = [i for i, t in enumerate(get_label_mapping("coco_stuff_182_to_171").table) if t < 0]
    # the 11 COCO thing classes that were never annotated
    assert [coco_stuff.CLASS_NAMES[i] for i in dropped] == [
        "street sign", "hat", "shoe", "eye glasses", "plate", "mirror", "window", "desk", "door", "blender",
        "hair brush"]


# --- averaging rules of the evaluation scripts --------------------------------------------------------------

def _rule_matrix() -> torch.Tensor:
    # classes 0 and 1 in the ground truth (IoU 0.6 and 0.48), class 2 only predicted, class 3 absent
    return torch.tensor([[60, 0, 40, 0], [0, 48, 52, 0], [0, 0, 0, 0], [0, 0, 0, 0]])


def _script_means(hist: np.ndarray) -> dict[str, float]:
    """Each script's mean, written from its formula in its own code (not from ours)."""
    hist = hist.astype(np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        iu = np.diag(hist) / (hist.sum(1) + hist.sum(0) - np.diag(hist))
    inter, union = np.diag(hist), hist.sum(1) + hist.sum(0) - np.diag(hist)
    return {
        # kazuto1011/deeplab-pytorch libs/utils/metric.py: valid = hist.sum(axis=1) > 0; nanmean(iu[valid])
        "present_gt": float(np.nanmean(iu[hist.sum(1) > 0])),
        # CSAILVision eval.py: iou = intersection / (union + 1e-10); iou.mean() over every class
        "all_classes": float((inter / (union + 1e-10)).mean()),
        # fyu/drn segment.py: np.nanmean(per_class_iu(hist))
        "present_gt_or_pred": float(np.nanmean(iu)),
    }


def test_averaging_rules_give_each_scripts_number():
    from metrics.segmentation import scores_from_confusion

    m = _rule_matrix()
    got = {rule: scores_from_confusion(m, rule)["mIoU"] for rule in ("present_gt", "all_classes",
                                                                     "present_gt_or_pred")}
    assert got["present_gt"] == pytest.approx(0.54, abs=1e-12)
    assert got["all_classes"] == pytest.approx(0.27, abs=1e-12)
    assert got["present_gt_or_pred"] == pytest.approx(0.36, abs=1e-12)
    ref = _script_means(m.numpy())
    # CSAIL's 1e-10 in the denominator moves its mean by ~1e-12 at these counts
    assert got == pytest.approx(ref, abs=1e-11)
    # the rules never change accuracy or the per-class list
    outs = [scores_from_confusion(m, r) for r in got]
    assert all(o["accu"] == outs[0]["accu"] and o["per_class_iou"] == outs[0]["per_class_iou"] for o in outs)


def test_averaging_rules_agree_with_the_scripts_on_random_matrices():
    from metrics.segmentation import scores_from_confusion

    rng = np.random.default_rng(3)
    for _ in range(20):
        m = rng.integers(0, 50, size=(12, 12)) * (rng.random((12, 12)) < 0.3)
        m[rng.integers(0, 12, 3)] = 0  # some classes absent from the ground truth
        ref = _script_means(m)
        for rule, want in ref.items():
            assert scores_from_confusion(torch.from_numpy(m), rule)["mIoU"] == pytest.approx(want, abs=1e-9)


def test_unknown_averaging_rule_is_refused():
    from metrics.segmentation import scores_from_confusion

    with pytest.raises(ValueError, match="present_gt_or_pred"):
        scores_from_confusion(_rule_matrix(), "mean")


def test_each_protocol_records_its_scripts_averaging_rule():
    from metrics.protocols import get_protocol
    from metrics.segmenters.legacy import legacy_protocols

    rules = {p.id: (p.averaging, p.version) for p in legacy_protocols()}
    assert rules == {"coco_stuff-spade-legacy": ("present_gt", 2), "ade20k-spade-legacy": ("all_classes", 2),
                     "ade20k_outdoor-spade-legacy": ("all_classes", 2),
                     "cityscapes-spade-legacy": ("present_gt_or_pred", 1)}
    for pid in ("synthetic-v1", "coco_stuff-mmseg-deeplabv3", "cityscapes-trained-deeplabv3"):
        assert get_protocol(pid).averaging == "present_gt_or_pred"
        assert get_protocol(pid).to_dict()["averaging"] == "present_gt_or_pred"


def test_resize_labels_follows_pil_nearest_exactly():
    from PIL import Image

    rng = np.random.default_rng(2)
    # 256x512 -> 100x200 is where torch's "nearest-exact" misses PIL (column 12); "nearest" misses everywhere
    sizes = [((256, 512), (100, 200)), ((4, 4), (2, 2)), ((64, 64), (256, 256)), ((37, 53), (16, 24))]
    sizes += [(tuple(rng.integers(1, 300, 2)), tuple(rng.integers(1, 300, 2))) for _ in range(60)]
    for (h, w), (oh, ow) in sizes:
        lab = np.arange(h * w, dtype=np.int32).reshape(h, w)
        want = np.asarray(Image.fromarray(lab, mode="I").resize((int(ow), int(oh)), Image.Resampling.NEAREST))
        got = resize_labels(torch.from_numpy(lab), (oh, ow))
        assert np.array_equal(got.numpy(), want), ((h, w), (oh, ow))
