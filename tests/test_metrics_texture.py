"""The texture metric: its formulas against a direct loop, numpy's FFT and scipy's erosion, what moves it (a
checkerboard up, blur down), the oracle's 1, its bootstrap interval, and a re-score when a protocol gains it."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch
from PIL import Image
from scipy.ndimage import binary_erosion, uniform_filter

from benchmark.datasets import build_dataset
from metrics.bootstrap import bootstrap_ci95
from metrics.evaluate import evaluate, evaluate_real
from metrics.fid import to_uint8
from metrics.texture import (
    KEY_CHECKERBOARD,
    KEY_TEXTURE,
    KEY_TEXTURE_MAX,
    MIN_PIXELS,
    TextureCounts,
    checkerboard_from_totals,
    checkerboard_power,
    interior,
    laplacian_energy,
    texture_from_totals,
    texture_max_from_totals,
)
from tests.test_metrics_evaluate import random_segmenter

NUM_VAL = 6


@pytest.fixture(scope="module")
def data_cfg(tmp_path_factory):
    return dict(type="synthetic", root=str(tmp_path_factory.mktemp("synthetic")), num_train=2, num_val=NUM_VAL)


def test_laplacian_energy_is_the_four_neighbour_formula():
    g = np.random.default_rng(0)
    images = torch.from_numpy(g.integers(0, 256, size=(2, 3, 7, 9), dtype=np.uint8))
    x = images.numpy().astype(np.float64) / 255
    expected = np.zeros((2, 7, 9))
    for b in range(2):
        for i in range(1, 6):
            for j in range(1, 8):
                for c in range(3):
                    expected[b, i, j] += abs(4 * x[b, c, i, j] - x[b, c, i - 1, j] - x[b, c, i + 1, j]
                                             - x[b, c, i, j - 1] - x[b, c, i, j + 1])
    # float64 on both sides, the same five terms: equal to rounding
    np.testing.assert_allclose(laplacian_energy(images).numpy(), expected, rtol=0, atol=1e-12)


def test_checkerboard_power_is_the_dfts_power_at_the_highest_frequency():
    g = np.random.default_rng(2)
    images = torch.from_numpy(g.integers(0, 256, size=(3, 3, 8, 10), dtype=np.uint8))
    x = images.numpy().astype(np.float64) / 255
    expected = (np.abs(np.fft.fft2(x)[..., 4, 5]) ** 2).sum(-1) / 80  # frequency (H/2, W/2), per channel
    np.testing.assert_allclose(checkerboard_power(images).numpy(), expected, rtol=1e-12, atol=0)
    ones = torch.full((1, 3, 8, 10), 200, dtype=torch.uint8)
    assert float(checkerboard_power(ones)[0]) == 0.0  # a flat image holds none
    totals = torch.tensor([[6.0, 2.0], [1.0, 0.0]], dtype=torch.float64)
    assert float(checkerboard_from_totals(totals[0])) == 3.0
    assert math.isnan(float(checkerboard_from_totals(totals[1])))


def test_interior_is_scipys_square_erosion_of_each_region():
    g = np.random.default_rng(1)
    labels = np.repeat(np.repeat(g.integers(0, 4, size=(2, 4, 5)), 6, axis=1), 5, axis=2)  # 24 x 25 blocks
    labels[0, 3:9, 2:14] = 255  # an ignored patch
    got = interior(torch.from_numpy(labels)).numpy()
    for b in range(2):
        expected = np.zeros(labels.shape[1:], dtype=bool)
        for c in np.unique(labels[b]):
            expected |= binary_erosion(labels[b] == c, structure=np.ones((5, 5)), border_value=0)
        np.testing.assert_array_equal(got[b], expected)


def _scene(seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Two-class label maps (sky over ground) and smooth real images with a little grain."""
    g = np.random.default_rng(seed)
    labels = np.zeros((4, 32, 32), dtype=np.int64)
    labels[:, 16:] = 1
    base = np.where(labels[:, None] == 0, 180.0, 90.0) + np.arange(32)[None, None, :, None] * 0.5
    real = np.clip(base + g.normal(0, 3, size=(4, 3, 32, 32)), 0, 255).round().astype(np.uint8)
    return torch.from_numpy(real), torch.from_numpy(labels)


def _texture(generated: torch.Tensor, real: torch.Tensor, labels: torch.Tensor) -> float:
    counts = TextureCounts(2)
    counts.update(generated, real, labels)
    return float(texture_from_totals(counts.counts().sum(0)))


def _checker(generated: torch.Tensor, real: torch.Tensor, labels: torch.Tensor) -> float:
    counts = TextureCounts(2)
    counts.update(generated, real, labels)
    return float(checkerboard_from_totals(counts.checkerboard().sum(0)))


def test_real_images_score_one_a_checkerboard_more_and_blur_less():
    real, labels = _scene(0)
    assert _texture(real, real, labels) == 1.0
    checker = ((torch.arange(32)[:, None] + torch.arange(32)[None, :]) % 2 * 2 - 1) * 6  # +-6 grey levels
    gridded = (real.int() + checker).clamp(0, 255).to(torch.uint8)
    blurred = torch.from_numpy(uniform_filter(real.numpy().astype(np.float64), size=(1, 1, 3, 3)).round()
                               .astype(np.uint8))
    assert _texture(gridded, real, labels) > 2.0
    assert _texture(blurred, real, labels) < 0.6
    assert _checker(real, real, labels) == 1.0
    assert _checker(gridded, real, labels) > 10.0  # +-6 levels: far above the grain's share of that frequency
    assert _checker(blurred, real, labels) < 0.2


def test_the_ratio_is_the_geometric_mean_over_classes_with_enough_pixels():
    # class 0: gen 2x real; class 1: gen 0.5x real; class 2: too few pixels; class 3: no real energy
    totals = torch.tensor([[20.0, 5.0, 7.0, 4.0], [10.0, 10.0, 1.0, 0.0],
                           [MIN_PIXELS, 500.0, MIN_PIXELS - 1, 500.0]], dtype=torch.float64)
    assert float(texture_from_totals(totals)) == pytest.approx(math.sqrt(2.0 * 0.5), abs=1e-12)
    # the largest ratio of the qualifying classes: class 2's 7x has too few pixels to count
    assert float(texture_max_from_totals(totals)) == pytest.approx(2.0, abs=1e-12)
    totals[0, 1] = 30.0  # class 1 now 3x
    assert float(texture_from_totals(totals)) == pytest.approx(math.sqrt(6.0), abs=1e-12)
    assert float(texture_max_from_totals(totals)) == pytest.approx(3.0, abs=1e-12)
    for reduce in (texture_from_totals, texture_max_from_totals):
        assert math.isnan(float(reduce(torch.zeros(3, 4, dtype=torch.float64))))


def test_bootstrap_interval_of_the_ratio_brackets_it_and_is_seeded():
    g = torch.Generator().manual_seed(0)
    per_image = torch.rand(40, 3, 2, generator=g, dtype=torch.float64) * 100 + 100
    value = float(texture_from_totals(per_image.sum(0)))
    runs = [bootstrap_ci95(num_images=40, counts=None, averaging="present_gt_or_pred", fd_features={},
                           metrics={KEY_TEXTURE: value}, distance=lambda a, b: 0.0, resamples=200, seed=5,
                           per_image_totals={KEY_TEXTURE: (per_image, texture_from_totals)}) for _ in range(2)]
    lo, hi = runs[0]["ci95_interval"][KEY_TEXTURE]
    assert lo < value < hi and runs[0]["ci95"][KEY_TEXTURE] > 0
    assert runs[0] == runs[1]
    assert "texture (per-image sums, re-weighted)" in runs[0]["ci95_method"]


def _write(data_cfg, directory, checker: int = 0):
    directory.mkdir(parents=True, exist_ok=True)
    dataset = build_dataset(data_cfg, "val", train=False)
    for i in range(len(dataset)):
        sample = dataset[i]
        image = to_uint8(sample["image"]).int()
        h, w = image.shape[-2:]
        image = image + ((torch.arange(h)[:, None] + torch.arange(w)[None, :]) % 2 * 2 - 1) * checker
        stem = sample["path"].rsplit("/", 1)[-1].rsplit(".", 1)[0]
        Image.fromarray(image.clamp(0, 255).to(torch.uint8).permute(1, 2, 0).numpy()).save(directory / f"{stem}.png")
    return directory


@pytest.mark.slow
def test_the_harness_reports_texture_with_its_interval_and_per_class_ratios(data_cfg, tmp_path, offline):
    seg = random_segmenter()
    real = evaluate_real("synthetic-v1", data_cfg=data_cfg, cache_dir=tmp_path / "cache", segmenter=seg,
                         resamples=50)
    assert real["metrics"][KEY_TEXTURE] == 1.0 and real["metrics"][KEY_TEXTURE_MAX] == 1.0
    assert real["metrics"][KEY_CHECKERBOARD] == 1.0
    copies = evaluate("synthetic-v1", generated=_write(data_cfg, tmp_path / "copies"), data_cfg=data_cfg,
                      cache_dir=tmp_path / "cache", segmenter=seg, resamples=50)
    assert copies["metrics"][KEY_TEXTURE] == 1.0
    gridded = evaluate("synthetic-v1", generated=_write(data_cfg, tmp_path / "grid", checker=8), data_cfg=data_cfg,
                       cache_dir=tmp_path / "cache", segmenter=seg, resamples=50)
    value = gridded["metrics"][KEY_TEXTURE]
    assert value > 1.5 and gridded["metrics"][KEY_TEXTURE_MAX] >= value and gridded["metrics"][KEY_CHECKERBOARD] > 5
    for key in (KEY_TEXTURE, KEY_TEXTURE_MAX, KEY_CHECKERBOARD):
        lo, hi = gridded["ci95_interval"][key]
        assert lo <= gridded["metrics"][key] <= hi
    ratios = gridded["provenance"]["texture_per_class"]
    assert ratios and all(r > 1.0 for r in ratios.values())
    assert max(ratios.values()) == pytest.approx(gridded["metrics"][KEY_TEXTURE_MAX], rel=1e-3)  # rounded
    assert "texture" in gridded["provenance"]["metrics_computed"]


def test_a_record_without_a_metric_its_protocol_now_lists_is_not_current(tmp_path):
    from benchmark.evaluation import record_is_current
    from metrics.protocols import get_protocol

    listed = list(get_protocol("synthetic-v1").metrics)
    path = tmp_path / "metrics.json"
    path.write_text(json.dumps({"protocol": {"id": "synthetic-v1", "metrics": listed}}))
    assert record_is_current(path, "synthetic-v1")
    path.write_text(json.dumps({"protocol": {"id": "synthetic-v1", "metrics": [m for m in listed if m != "texture"]}}))
    assert not record_is_current(path, "synthetic-v1")
    path.write_text("{not json")
    assert not record_is_current(path, "synthetic-v1")
