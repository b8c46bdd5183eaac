"""FID and friends: the Frechet distance against scipy's sqrtm and torch-fidelity's own functions, KID and
precision/recall through torch-fidelity, the reference-feature cache, and the offline message."""

from __future__ import annotations

import urllib.error

import numpy as np
import pytest
import scipy.linalg
import torch
from torch_fidelity.metric_fid import KEY_METRIC_FID, fid_features_to_statistics, fid_statistics_to_metric

from metrics.base import WeightsUnavailable
from metrics.fid import (
    KEY_KID,
    KEY_PRECISION,
    KEY_RECALL,
    FeatureCache,
    feature_statistics,
    frechet_distance,
    kernel_inception_distance,
    load_inception,
    precision_recall,
)


def scipy_fid(mu1, s1, mu2, s2) -> float:
    """The textbook formula (pytorch-fid's), with scipy's matrix square root."""
    covmean = scipy.linalg.sqrtm(s1 @ s2).real
    return float(np.sum((mu1 - mu2) ** 2) + np.trace(s1) + np.trace(s2) - 2 * np.trace(covmean))


def random_features(seed: int, n: int = 400, d: int = 16, shift: float = 0.0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    mix = torch.randn(d, d, generator=g) / d ** 0.5
    return torch.randn(n, d, generator=g, dtype=torch.float64) @ mix.double() + shift


def test_frechet_distance_matches_scipy_sqrtm():
    a, b = random_features(0), random_features(1, shift=0.3)
    stats = (*feature_statistics(a), *feature_statistics(b))
    ours, ref = frechet_distance(*stats), scipy_fid(*stats)
    assert ref > 0.5
    # float64 throughout; measured agreement 1.4e-15 (relative). The margin covers LAPACK's eigen/Schur
    # routines taking other code paths on other CPUs (AVX2 vs AVX-512, 1 or 2 threads): ~1e-14 each.
    assert ours == pytest.approx(ref, rel=1e-12)


def test_frechet_distance_matches_torch_fidelity():
    a, b = random_features(2, d=32), random_features(3, d=32, shift=-0.2)  # float64 features
    s1, s2 = fid_features_to_statistics(a), fid_features_to_statistics(b)
    theirs = fid_statistics_to_metric(s1, s2, verbose=False)[KEY_METRIC_FID]
    ours = frechet_distance(*feature_statistics(a), *feature_statistics(b))
    # measured 4e-13 relative: torch-fidelity takes scipy's sqrtm of the non-symmetric S1 S2 (a Schur
    # iteration, ~1e-13 accurate), we the eigenvalues of a symmetric matrix; 1e-10 leaves room for LAPACK
    # variation across CPUs and thread counts
    assert ours == pytest.approx(theirs, rel=1e-10)


def test_frechet_distance_of_a_set_with_itself_is_zero_even_when_singular():
    a = random_features(4, n=20, d=64)  # N < D: a singular covariance, as small evaluation sets have
    mu, sigma = feature_statistics(a)
    # round-off only: the square roots of ~1e-16 eigenvalues leave ~1e-7 of the total variance
    assert abs(frechet_distance(mu, sigma, mu, sigma)) < 1e-6 * np.trace(sigma)


def test_frechet_distance_of_shifted_gaussians_is_the_squared_shift():
    d = 5
    mu = np.zeros(d)
    sigma = np.eye(d)
    assert frechet_distance(mu, sigma, mu + 2.0, sigma) == pytest.approx(4.0 * d)
    with pytest.raises(ValueError, match="do not match"):
        frechet_distance(mu, sigma, np.zeros(d + 1), np.eye(d + 1))


def test_kid_is_seeded_and_separates_distributions():
    a, b, c = random_features(5, n=120), random_features(6, n=120), random_features(7, n=120, shift=1.0)
    same = kernel_inception_distance(a, b, subsets=20, subset_size=50, seed=0)
    far = kernel_inception_distance(a, c, subsets=20, subset_size=50, seed=0)
    assert far[KEY_KID] > 10 * abs(same[KEY_KID])
    assert kernel_inception_distance(a, c, subsets=20, subset_size=50, seed=0) == far
    assert kernel_inception_distance(a[:30], c, subsets=5, subset_size=50, seed=0)["KID_subset_size"] == 30


def test_precision_recall_through_torch_fidelity():
    a = random_features(8, n=100)
    out = precision_recall(a, a.clone(), neighborhood=3)
    assert out[KEY_PRECISION] == 1.0 and out[KEY_RECALL] == 1.0
    far = precision_recall(a + 100.0, a, neighborhood=3)
    assert far[KEY_PRECISION] == 0.0 and far[KEY_RECALL] == 0.0


def test_feature_cache_round_trip_and_key_sensitivity(tmp_path):
    cache = FeatureCache(tmp_path)
    key = {"protocol": "p-v1", "dataset": "synthetic", "split": "val", "extractor": "inception", "files": "abc"}
    calls = []

    def compute():
        calls.append(1)
        return torch.arange(6.0).reshape(3, 2)

    first, hit1 = cache.get_or_compute(key, compute)
    second, hit2 = cache.get_or_compute(key, compute)
    assert (hit1, hit2) == (False, True) and len(calls) == 1
    assert torch.equal(first, second)
    assert cache.path(key).parent.name == "p-v1" and cache.path(key).name.startswith("synthetic-val-inception-")
    _, hit3 = cache.get_or_compute({**key, "files": "abd"}, compute)
    assert not hit3 and len(calls) == 2
    assert not list(cache.path(key).parent.glob("*.tmp"))


def test_offline_inception_fails_with_one_sentence_naming_the_flag(tmp_path, monkeypatch):
    def offline(*args, **kwargs):
        raise urllib.error.URLError("no network")

    monkeypatch.setattr(torch.hub, "download_url_to_file", offline)
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path))
    with pytest.raises(WeightsUnavailable) as err:
        load_inception(None)
    message = str(err.value)
    assert "--inception-weights" in message and "protocol.inception_weights" in message
    assert "\n" not in message
    with pytest.raises(WeightsUnavailable, match="no file at"):
        load_inception(tmp_path / "missing.pth")
