"""FID, KID, precision/recall (Inception-v3 features through torch-fidelity) and FD-seg.

Small pure functions: features -> :func:`feature_statistics` -> :func:`frechet_distance`. FID uses
torch-fidelity's ``inception-v3-compat`` extractor with its weights file
``weights-inception-2015-12-05-6726825d.pth`` (the one name SISBench uses for it: messages, ``--help``,
docs), which reproduces the TF-ported Inception that pytorch-fid (and so SPADE) used: 2048-d pool
features, uint8 input resized to 299x299 with TensorFlow-1.x-compatible bilinear interpolation. FD-seg is
the same Frechet distance on the protocol's segmenter's pooled features; it is never called FID.

Other Inception weights (``--inception-weights`` with a file whose sha256 does not start with
``6726825d``) are not refused -- a user may have good reasons, e.g. a converted copy -- but their numbers
are not FID: every Inception-based key of such a record carries :data:`UNOFFICIAL_SUFFIX`
(``"FID (unofficial weights)"``), so no table can put them in an FID column.

FID = ||mu_r - mu_g||^2 + Tr(S_r + S_g - 2 (S_r S_g)^(1/2))  (PROTOCOLS.md; the seeds drop the square).

Reference-set features are cached on disk by :class:`FeatureCache`, keyed by protocol id, dataset, split,
extractor, resize settings and a hash of the reference files.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch
from torch import Tensor, nn

from benchmark.io import atomic_path
from benchmark.registry import METRICS
from metrics.base import INCEPTION, SEGMENTER, EvalState, Metric, WeightsUnavailable, resolve_weights

KEY_FID = "FID"
KEY_KID = "KID"
KEY_KID_STD = "KID_std"
KEY_PRECISION = "precision"
KEY_RECALL = "recall"
KEY_FD_SEG = "FD-seg"

INCEPTION_EXTRACTOR = "inception-v3-compat"
#: how the Inception extractor resizes its input (recorded with every FID)
INCEPTION_RESIZE = "uint8 -> 299x299, TF1.x-compatible bilinear (torch-fidelity inception-v3-compat)"
#: sha256 prefix of torch-fidelity's weights-inception-2015-12-05-6726825d.pth
INCEPTION_SHA256 = "6726825d"
#: appended to every Inception-based metric key computed with weights other than that file
UNOFFICIAL_SUFFIX = " (unofficial weights)"
INCEPTION_WEIGHTS_FILE = "weights-inception-2015-12-05-6726825d.pth"
INCEPTION_WEIGHTS_FIX = ("pass --inception-weights PATH (config key protocol.inception_weights) pointing to "
                         "torch-fidelity's weights-inception-2015-12-05-6726825d.pth")


def feature_statistics(features: Tensor | np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean and covariance (float64, unbiased as numpy's ``np.cov``) of features ``[N, D]``."""
    f = features.detach().cpu().double().numpy() if isinstance(features, Tensor) else np.asarray(features, np.float64)
    if f.ndim != 2 or f.shape[0] < 2:
        raise ValueError(f"feature statistics need a [N, D] array with N >= 2, got shape {f.shape}")
    return f.mean(axis=0), np.cov(f, rowvar=False)


def frechet_distance(mu1: np.ndarray, sigma1: np.ndarray, mu2: np.ndarray, sigma2: np.ndarray) -> float:
    """Frechet distance between Gaussians N(mu1, sigma1) and N(mu2, sigma2).

    ``Tr((S1 S2)^(1/2))`` is computed as the sum of square roots of the eigenvalues of the symmetric
    positive semi-definite ``S1^(1/2) S2 S1^(1/2)`` (same spectrum as ``S1 S2``): unlike ``sqrtm`` of the
    non-symmetric product it needs no complex arithmetic and no ad-hoc epsilon for singular covariances,
    which small evaluation sets always have (N < D).
    """
    mu1, mu2 = np.atleast_1d(mu1).astype(np.float64), np.atleast_1d(mu2).astype(np.float64)
    sigma1, sigma2 = np.atleast_2d(sigma1).astype(np.float64), np.atleast_2d(sigma2).astype(np.float64)
    if mu1.shape != mu2.shape or sigma1.shape != sigma2.shape or sigma1.shape != (mu1.size, mu1.size):
        raise ValueError(f"statistics do not match: mu {mu1.shape} vs {mu2.shape}, "
                         f"sigma {sigma1.shape} vs {sigma2.shape}")
    w, v = np.linalg.eigh((sigma1 + sigma1.T) / 2)
    s1_half = (v * np.sqrt(np.clip(w, 0, None))) @ v.T
    inner = s1_half @ sigma2 @ s1_half
    tr_covmean = np.sqrt(np.clip(np.linalg.eigvalsh((inner + inner.T) / 2), 0, None)).sum()
    diff = mu1 - mu2
    # A distance: values below 0 are float round-off (a set against itself gives about -1e-11).
    return max(0.0, float(diff @ diff + np.trace(sigma1) + np.trace(sigma2) - 2 * tr_covmean))


def kernel_inception_distance(generated: Tensor, reference: Tensor, *, subsets: int, subset_size: int,
                              seed: int) -> dict[str, Any]:
    """KID (torch-fidelity's unbiased polynomial-kernel MMD over random subsets), seeded.

    The subset size is capped at the smaller set (recorded as ``KID_subset_size``).
    """
    from torch_fidelity.metric_kid import KEY_METRIC_KID_MEAN, KEY_METRIC_KID_STD, kid_features_to_metric

    size = min(subset_size, len(generated), len(reference))
    if size < 2:
        raise ValueError(f"KID needs at least 2 images per set, got {len(generated)} and {len(reference)}")
    out = kid_features_to_metric(generated.double().cpu(), reference.double().cpu(), kid_subsets=subsets,
                                 kid_subset_size=size, rng_seed=seed, verbose=False)
    return {KEY_KID: out[KEY_METRIC_KID_MEAN], KEY_KID_STD: out[KEY_METRIC_KID_STD], "KID_subset_size": size}


def precision_recall(generated: Tensor, reference: Tensor, *, neighborhood: int) -> dict[str, float]:
    """Improved precision and recall (Kynkaanniemi et al. 2019) via torch-fidelity, k = ``neighborhood``."""
    from torch_fidelity.metric_prc import KEY_METRIC_PRECISION, KEY_METRIC_RECALL, prc_features_to_metric

    if min(len(generated), len(reference)) <= neighborhood:
        raise ValueError(f"precision/recall with k={neighborhood} needs more than {neighborhood} images per set")
    out = prc_features_to_metric(generated.float().cpu(), reference.float().cpu(), prc_neighborhood=neighborhood,
                                 prc_batch_size=10000, save_cpu_ram=False, verbose=False)
    return {KEY_PRECISION: out[KEY_METRIC_PRECISION], KEY_RECALL: out[KEY_METRIC_RECALL]}


def to_uint8(images: Tensor) -> Tensor:
    """Images in ``[-1, 1]`` -> uint8 ``[0, 255]``, rounded as saving a PNG rounds."""
    return ((images.float().clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)


def load_inception(weights: str | os.PathLike | None = None, *, device: torch.device | str = "cpu",
                   cache_dir: str | os.PathLike | None = None) -> tuple[nn.Module, dict[str, Any]]:
    """torch-fidelity's ``inception-v3-compat`` extractor (2048-d pool features) and its provenance record.

    ``weights``: a local file; None downloads torch-fidelity's release file once (where the network
    allows). Offline without weights raises :class:`WeightsUnavailable` naming ``--inception-weights``.
    """
    from torch_fidelity.feature_extractor_inceptionv3 import URL_INCEPTION_V3, FeatureExtractorInceptionV3

    # A download is checked against the release's hash; a local file is taken as given and its hash
    # recorded with ``official_weights`` saying whether it is torch-fidelity's file.
    path, digest = resolve_weights(weights, url=URL_INCEPTION_V3, sha256=None if weights else INCEPTION_SHA256,
                                   cache_dir=cache_dir, what="Inception-v3 weights for FID", fix=INCEPTION_WEIGHTS_FIX)
    # torch-fidelity unpickles with weights_only=False; refuse any file that is more than tensors first.
    try:
        torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise WeightsUnavailable(f"Inception-v3 weights {path} are not a plain state dict ({exc}); "
                                 f"{INCEPTION_WEIGHTS_FIX}") from None
    model = FeatureExtractorInceptionV3(INCEPTION_EXTRACTOR, ["2048"], feature_extractor_weights_path=str(path))
    model.eval().requires_grad_(False).to(device)
    record = {"extractor": INCEPTION_EXTRACTOR, "feature": "2048", "weights_sha256": digest,
              "official_weights": digest.startswith(INCEPTION_SHA256), "resize": INCEPTION_RESIZE}
    return model, record


@torch.no_grad()
def inception_features(model: nn.Module, images_uint8: Tensor) -> Tensor:
    """2048-d features (float32, CPU) of uint8 images ``[B, 3, H, W]``."""
    (features,) = model(images_uint8.to(next(model.parameters()).device))
    return features.float().cpu()


class FeatureCache:
    """Reference-set features on disk: ``<root>/features/<protocol>/<dataset>-<split>-<extractor>-<key>.pt``.

    ``key`` is a hash of everything the features depend on (the ``key`` mapping passed in: file hash,
    resolution, resize filter, extractor weights). Files are written atomically and loaded with
    ``weights_only=True``.
    """

    def __init__(self, root: str | os.PathLike):
        self.root = Path(root)

    def path(self, key: Mapping[str, Any]) -> Path:
        digest = hashlib.sha256(json.dumps(dict(key), sort_keys=True, default=str).encode()).hexdigest()[:16]
        name = f"{key['dataset']}-{key['split']}-{key['extractor']}-{digest}.pt"
        return self.root / "features" / str(key["protocol"]) / name

    def get_or_compute(self, key: Mapping[str, Any], compute: Callable[[], Tensor]) -> tuple[Tensor, bool]:
        """The cached features for ``key`` (``hit=True``) or ``compute()``'s, stored; returns ``(features, hit)``."""
        for required in ("protocol", "dataset", "split", "extractor"):
            if required not in key:
                raise ValueError(f"feature cache key lacks {required!r}")
        path = self.path(key)
        if path.is_file():
            stored = torch.load(path, map_location="cpu", weights_only=True)
            if stored.get("key") == json.loads(json.dumps(dict(key), sort_keys=True, default=str)):
                return stored["features"], True
        features = compute()
        with atomic_path(path) as tmp:
            torch.save({"features": features.cpu(), "key": json.loads(json.dumps(dict(key), default=str))}, tmp)
        return features, False


def _pair(state: EvalState, extractor: str) -> tuple[Tensor, Tensor]:
    if extractor not in state.features or extractor not in state.reference:
        raise ValueError(f"no {extractor} features in the evaluation state")
    return state.features[extractor], state.reference[extractor]


@METRICS.register("fid")
class FID(Metric):
    """Frechet Inception Distance (torch-fidelity inception-v3-compat, 2048-d pool features)."""

    name: ClassVar[str] = "fid"
    requires: ClassVar[tuple[str, ...]] = (INCEPTION,)
    keys: ClassVar[tuple[str, ...]] = (KEY_FID,)

    def compute(self, state: EvalState) -> dict[str, Any]:
        gen, ref = _pair(state, INCEPTION)
        return {KEY_FID: frechet_distance(*feature_statistics(ref), *feature_statistics(gen))}


@METRICS.register("kid")
class KID(Metric):
    """Kernel Inception Distance (torch-fidelity, cubic polynomial kernel, seeded subsets)."""

    name: ClassVar[str] = "kid"
    requires: ClassVar[tuple[str, ...]] = (INCEPTION,)
    keys: ClassVar[tuple[str, ...]] = (KEY_KID, KEY_KID_STD)

    def compute(self, state: EvalState) -> dict[str, Any]:
        gen, ref = _pair(state, INCEPTION)
        p = state.protocol
        return kernel_inception_distance(gen, ref, subsets=p.kid_subsets, subset_size=p.kid_subset_size,
                                         seed=state.seed)


@METRICS.register("precision_recall")
class PrecisionRecall(Metric):
    """Improved precision and recall on Inception features (torch-fidelity, k nearest neighbours)."""

    name: ClassVar[str] = "precision_recall"
    requires: ClassVar[tuple[str, ...]] = (INCEPTION,)
    keys: ClassVar[tuple[str, ...]] = (KEY_PRECISION, KEY_RECALL)

    def compute(self, state: EvalState) -> dict[str, Any]:
        gen, ref = _pair(state, INCEPTION)
        return precision_recall(gen, ref, neighborhood=state.protocol.prc_neighborhood)


@METRICS.register("fd_seg")
class FDSeg(Metric):
    """Frechet distance on the protocol segmenter's pooled features (FD-seg; not FID)."""

    name: ClassVar[str] = "fd_seg"
    requires: ClassVar[tuple[str, ...]] = (SEGMENTER,)
    keys: ClassVar[tuple[str, ...]] = (KEY_FD_SEG,)

    def compute(self, state: EvalState) -> dict[str, Any]:
        gen, ref = _pair(state, SEGMENTER)
        return {KEY_FD_SEG: frechet_distance(*feature_statistics(ref), *feature_statistics(gen))}
