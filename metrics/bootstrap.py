"""95% confidence intervals of a protocol's numbers: a bootstrap over the evaluation images.

A table row from one seed still needs an uncertainty: how much would the number move with another draw of
evaluation images of the same kind? :func:`bootstrap_ci95` resamples the N evaluation images with
replacement ``resamples`` times (seeded) and takes the 2.5 and 97.5 percentiles of each metric.

Decisions:

- **Segmentation scores** come from per-image class counts, not per-image confusion matrices: mIoU under
  every averaging rule and pixel accuracy need only, per class, the true positives and the ground-truth
  and predicted pixel counts. :class:`PerImageCounts` keeps three ``[N, C]`` int64 arrays (COCO-Stuff:
  5,000 x 182 x 3 x 8 bytes = 22 MB), and a resample's totals are one weights-matrix product
  ``W @ counts`` with ``W[b, i]`` the number of times image ``i`` is drawn in resample ``b`` (blocks of
  resamples keep ``W`` small).
- **Frechet distances** (FD-seg, FID) are bootstrapped by recomputing the distance on resampled feature
  rows. When the reference set is the evaluation images themselves (same split, same count), each
  resample takes the same rows on both sides (the pair of real and generated image of one label map);
  otherwise only the generated side is resampled. One distance on D-dimensional features costs two
  D x D eigendecompositions, so features wider than :data:`MAX_FD_DIM` are not bootstrapped (Inception's
  2,048-d: ~1 s per resample on a CPU, ~20 min for 1,000); ``ci95_method`` says which metrics were.
- The half-width reported under ``ci95`` is half the percentile interval (``ci95_interval`` keeps both
  ends, since the interval need not be symmetric). KID keeps its own ``KID_std`` over subsets; precision
  and recall are not bootstrapped.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import torch
from torch import Tensor

from metrics.segmentation import IGNORE_INDEX, averaged_iou

DEFAULT_RESAMPLES = 1000
#: feature width up to which a Frechet distance is bootstrapped (two eigendecompositions per resample)
MAX_FD_DIM = 512
_BLOCK = 100  # resamples per weights-matrix block


class PerImageCounts:
    """Per image and class: true positives, ground-truth pixels and predicted pixels (ignored pixels out)."""

    def __init__(self, num_classes: int, ignore_index: int | None = IGNORE_INDEX):
        self.num_classes = num_classes
        self.ignore_index = ignore_index
        self._parts: list[Tensor] = []  # [B, 3, C] int64 per batch

    @torch.no_grad()
    def update(self, pred: Tensor, target: Tensor) -> None:
        """Add a batch of images: ``pred`` and ``target`` int ``[B, H, W]`` (ids already checked)."""
        n, b = self.num_classes, pred.shape[0]
        pred = pred.reshape(b, -1).long().cpu()
        target = target.reshape(b, -1).long().cpu()
        keep = target != self.ignore_index if self.ignore_index is not None else torch.ones_like(target, dtype=bool)
        image = torch.arange(b).unsqueeze(1).expand_as(target)
        offsets = image[keep] * n

        def count(ids: Tensor) -> Tensor:
            return torch.bincount(offsets + ids, minlength=b * n).reshape(b, n)

        t, p = target[keep], pred[keep]
        correct = t == p
        tp = torch.bincount((offsets + t)[correct], minlength=b * n).reshape(b, n)
        self._parts.append(torch.stack([tp, count(t), count(p)], dim=1))

    def counts(self) -> Tensor:
        """``[N, 3, C]`` int64: true positives, ground truth, prediction per image and class."""
        if not self._parts:
            return torch.zeros(0, 3, self.num_classes, dtype=torch.int64)
        return torch.cat(self._parts)


def resample_weights(n: int, resamples: int, seed: int) -> np.ndarray:
    """``[resamples, n]``: how often each image is drawn in each resample (each row sums to ``n``)."""
    rng = np.random.default_rng(seed)
    draws = rng.integers(0, n, size=(resamples, n))
    out = np.zeros((resamples, n), dtype=np.float64)
    np.add.at(out, (np.repeat(np.arange(resamples), n), draws.ravel()), 1.0)
    return out


def segmentation_resamples(counts: Tensor, averaging: str, *, resamples: int, seed: int) -> dict[str, np.ndarray]:
    """mIoU and accuracy of every resample (fractions), from :meth:`PerImageCounts.counts`."""
    n = counts.shape[0]
    flat = counts.double().reshape(n, -1)  # [N, 3C]
    c = counts.shape[2]
    miou, accu = [], []
    for lo in range(0, resamples, _BLOCK):
        w = torch.from_numpy(resample_weights(n, min(_BLOCK, resamples - lo), seed + lo))
        totals = (w @ flat).reshape(-1, 3, c)  # integer-valued float64: exact below 2**53 pixels
        tp, gt, pred = totals[:, 0], totals[:, 1], totals[:, 2]
        miou.append(averaged_iou(tp, gt, pred, averaging).numpy())
        pixels = gt.sum(-1)
        accu.append((tp.sum(-1) / pixels.clamp_min(1)).numpy())
    return {"mIoU": np.concatenate(miou), "accu": np.concatenate(accu)}


def fd_resamples(generated: Tensor, reference: Tensor, *, paired: bool, resamples: int, seed: int,
                 distance: Callable[[Tensor, Tensor], float]) -> np.ndarray:
    """A Frechet distance on resampled rows of the generated (and, ``paired``, the reference) features."""
    n = generated.shape[0]
    rng = np.random.default_rng(seed)
    out = np.empty(resamples)
    for b in range(resamples):
        idx = torch.from_numpy(rng.integers(0, n, size=n))
        out[b] = distance(generated[idx], reference[idx] if paired else reference)
    return out


def interval(values: np.ndarray) -> tuple[float, float]:
    """The 2.5 and 97.5 percentiles of the finite values (nan when none)."""
    finite = values[np.isfinite(values)]
    if finite.size == 0:
        return float("nan"), float("nan")
    lo, hi = np.percentile(finite, [2.5, 97.5])
    return float(lo), float(hi)


def bootstrap_ci95(*, num_images: int, counts: Tensor | None, averaging: str,
                   fd_features: Mapping[str, tuple[Tensor, Tensor, bool]], metrics: Mapping[str, Any],
                   distance: Callable[[Tensor, Tensor], float], resamples: int = DEFAULT_RESAMPLES,
                   seed: int = 0, per_item: Mapping[str, Tensor] | None = None,
                   per_image_totals: Mapping[str, tuple[Tensor, Callable[[Tensor], Tensor]]] | None = None,
                   ) -> dict[str, Any]:
    """``{"ci95": {metric: half-width}, "ci95_interval": {metric: [lo, hi]}, "ci95_method": str}``.

    ``counts``: per-image counts (None: no segmentation scores); ``fd_features``: metric key ->
    (generated features, reference features, paired) of each Frechet distance computed; ``metrics``: the
    values computed (only those present are bootstrapped); ``per_item``: metric key -> per-item values
    whose mean is the metric (LPIPS: one value per label map), resampled over the items;
    ``per_image_totals``: metric key -> (per-image values ``[N, ...]``, the metric of their sum: ``[B, ...]``
    -> ``[B]``), the values' weighted totals recomputed per resample (texture: a ratio of summed energies).
    """
    half: dict[str, float] = {}
    ends: dict[str, list[float]] = {}
    done, skipped = [], []
    if counts is not None and metrics.get("mIoU") is not None:
        for key, values in segmentation_resamples(counts, averaging, resamples=resamples, seed=seed).items():
            lo, hi = interval(values)
            half[key], ends[key] = (hi - lo) / 2, [lo, hi]
        done.append("mIoU and accu (per-image class counts, re-weighted)")
    for key, (gen, ref, paired) in fd_features.items():
        if metrics.get(key) is None:
            continue
        if gen.shape[1] > MAX_FD_DIM:
            skipped.append(f"{key} ({gen.shape[1]}-d features: two {gen.shape[1]}x{gen.shape[1]} "
                           f"eigendecompositions per resample)")
            continue
        lo, hi = interval(fd_resamples(gen, ref, paired=paired, resamples=resamples, seed=seed,
                                       distance=distance))
        half[key], ends[key] = (hi - lo) / 2, [lo, hi]
        side = "generated and reference rows drawn together" if paired else "generated rows only"
        done.append(f"{key} ({side})")
    for key, values in (per_item or {}).items():
        if metrics.get(key) is None:
            continue
        v = values.double()
        w = torch.from_numpy(resample_weights(v.numel(), resamples, seed))
        lo, hi = interval((w @ v / v.numel()).numpy())
        half[key], ends[key] = (hi - lo) / 2, [lo, hi]
        done.append(f"{key} (over its {v.numel()} per-map values)")
    for key, (values, of_totals) in (per_image_totals or {}).items():
        if metrics.get(key) is None:
            continue
        flat = values.double().reshape(values.shape[0], -1)
        out = []
        for lo in range(0, resamples, _BLOCK):
            w = torch.from_numpy(resample_weights(flat.shape[0], min(_BLOCK, resamples - lo), seed + lo))
            out.append(of_totals((w @ flat).reshape(-1, *values.shape[1:])).numpy())
        lo_, hi_ = interval(np.concatenate(out))
        half[key], ends[key] = (hi_ - lo_) / 2, [lo_, hi_]
        done.append(f"{key} (per-image sums, re-weighted)")
    for key in ("KID", "precision", "recall"):
        if metrics.get(key) is not None:
            skipped.append(key + (" (see KID_std, over subsets)" if key == "KID" else ""))
    method = (f"percentile bootstrap over the {num_images} evaluation images, {resamples} resamples, seed "
              f"{seed}: " + ("; ".join(done) if done else "nothing bootstrapped"))
    if skipped:
        method += "; not bootstrapped: " + ", ".join(skipped)
    return {"ci95": half, "ci95_interval": ends, "ci95_method": method}
