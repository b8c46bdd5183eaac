"""LPIPS diversity: torchmetrics' LPIPS with a local backbone file (random weights, never downloaded), the
per-pair arithmetic against the library's own call, the protocol's pairs, and the n/a and not-measured
paths through the harness."""

from __future__ import annotations

import dataclasses
import math
import os

import pytest
import torch
import torchvision
from PIL import Image

from metrics.base import WeightsUnavailable
from metrics.diversity import (
    KEY_LPIPS,
    DiversitySamples,
    load_lpips,
    lpips_features,
    pair_distances,
    per_map_lpips,
)
from metrics.evaluate import evaluate
from metrics.fid import to_uint8
from metrics.protocols import get_protocol


@pytest.fixture(scope="module")
def alexnet_file(tmp_path_factory):
    """torchvision's AlexNet layout with seeded random weights, written locally (no download in tests)."""
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("lpips") / "alexnet-random.pth"
    torch.save(torchvision.models.alexnet(weights=None).state_dict(), path)
    return path


def images(seed: int, n: int = 3, size: int = 48) -> torch.Tensor:
    return torch.rand(n, 3, size, size, generator=torch.Generator().manual_seed(seed)) * 2 - 1


@pytest.mark.slow
def test_lpips_of_an_image_with_itself_is_zero_and_positive_otherwise(alexnet_file):
    model, record = load_lpips("alex", alexnet_file)
    assert record["official_backbone"] is False and record["backbone"] == "alex"
    x = images(1)
    feats = lpips_features(model, torch.cat([x, x]))
    same = pair_distances(model, feats, [(0, 3), (1, 4), (2, 5)])
    diff = pair_distances(model, feats, [(0, 1), (1, 2)])
    assert torch.equal(same, torch.zeros(3))  # identical features: exactly 0
    assert bool((diff > 0).all())


@pytest.mark.slow
def test_pair_distances_agree_with_the_librarys_call(alexnet_file, tmp_path, monkeypatch):
    """Our per-image features + pair arithmetic equal torchmetrics' forward (float64: to 1e-12) and its
    public function, which loads the backbone through torchvision from torch hub's cache (float32)."""
    from torchmetrics.functional.image.lpips import learned_perceptual_image_patch_similarity

    model, _ = load_lpips("alex", alexnet_file)
    a, b = images(2), images(3)
    ours = pair_distances(model, lpips_features(model, torch.cat([a, b])), [(0, 3), (1, 4), (2, 5)])
    double = model.double()
    ours64 = pair_distances(double, lpips_features(double, torch.cat([a, b]).double()), [(0, 3), (1, 4), (2, 5)])
    theirs64 = double(a.double(), b.double()).flatten()
    assert torch.allclose(ours64, theirs64, rtol=0, atol=1e-12)
    # the library's own entry point with the same backbone file in an isolated torch hub cache
    hub = tmp_path / "hub"
    (hub / "checkpoints").mkdir(parents=True)
    url = torchvision.models.AlexNet_Weights.IMAGENET1K_V1.url
    os.link(alexnet_file, hub / "checkpoints" / url.rsplit("/", 1)[-1])
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(hub))
    theirs = learned_perceptual_image_patch_similarity(a, b, net_type="alex", reduction="none")
    # float32 convolutions over different batch compositions: agreement to float32 round-off (~1e-7
    # relative per layer, summed over 5 layers of up to 384 channels)
    assert torch.allclose(ours, theirs.flatten(), rtol=1e-5, atol=1e-7)


def test_offline_without_backbone_names_the_option(offline):
    with pytest.raises(WeightsUnavailable, match="--lpips-weights"):
        load_lpips("alex", None)
    with pytest.raises(WeightsUnavailable, match="no file at"):
        load_lpips("alex", "/no/such/alexnet.pth")


@pytest.mark.slow
def test_per_map_mean_over_all_pairs(alexnet_file, tmp_path):
    model, _ = load_lpips("alex", alexnet_file)
    k = 4
    stems = ("a", "b")
    for s, stem in enumerate(stems):
        for i, im in enumerate(images(10 + s, n=k)):
            Image.fromarray(to_uint8(im).permute(1, 2, 0).numpy()).save(tmp_path / f"{stem}_{i}.png")
    per_map = per_map_lpips(model, DiversitySamples(tmp_path, k, stems))
    from metrics.diversity import load_samples

    loaded = load_samples(DiversitySamples(tmp_path, k, ("a",)).paths("a"))
    want = torch.stack([pair_distances(model, lpips_features(model, loaded[[i, j]]), [(0, 1)])[0]
                        for i in range(k) for j in range(i + 1, k)]).double().mean()  # the 6 pairs
    assert per_map.shape == (2,) and per_map[0] == pytest.approx(float(want), rel=1e-6)


# --- through the harness --------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def data_cfg(tmp_path_factory):
    return dict(type="synthetic", root=str(tmp_path_factory.mktemp("synthetic")), num_train=2, num_val=4)


def _real_images(data_cfg):
    from benchmark.datasets import build_dataset

    dataset = build_dataset(data_cfg, "val", train=False)
    for i in range(len(dataset)):
        sample = dataset[i]
        yield sample["path"].rsplit("/", 1)[-1].rsplit(".", 1)[0], sample["image"]


def _segmenter():
    from metrics.segmenters.deeplabv3 import DeepLabV3Config, DeepLabV3Segmenter

    torch.manual_seed(0)
    return DeepLabV3Segmenter(DeepLabV3Config(num_classes=10, depth=18, stem_channels=8, base_channels=8,
                                              head_channels=16, aux_head=False, aspp_dilations=(1, 2))).eval()


@pytest.mark.slow
def test_harness_records_lpips_na_and_not_measured(data_cfg, tmp_path, alexnet_file, offline):
    protocol = get_protocol("synthetic-v1")
    assert "lpips_diversity" in protocol.metrics and protocol.lpips_backbone == "alex"
    generated = list(_real_images(data_cfg))
    kw = dict(data_cfg=data_cfg, cache_dir=tmp_path / "c", segmenter=_segmenter(), resamples=50)
    na = evaluate(protocol, generated=generated, diversity="n/a: pix2pix produces one image per label map", **kw)
    assert KEY_LPIPS not in na["metrics"] and na["not_measured"][KEY_LPIPS].startswith("n/a: pix2pix")
    # multimodal samples, but the backbone is neither local nor downloadable: not measured, one sentence
    stems = tuple(s for s, _ in generated)
    for stem, im in generated:
        for k in range(protocol.lpips_samples):
            noisy = (im + 0.3 * torch.randn(im.shape, generator=torch.Generator().manual_seed(k))).clamp(-1, 1)
            Image.fromarray(to_uint8(noisy).permute(1, 2, 0).numpy()).save(tmp_path / f"{stem}_{k}.png")
    samples = DiversitySamples(tmp_path, protocol.lpips_samples, stems)
    offline_out = evaluate(protocol, generated=generated, diversity=samples, **kw)
    reason = offline_out["not_measured"][KEY_LPIPS]
    assert "--lpips-weights" in reason and "\n" not in reason and KEY_LPIPS not in offline_out["metrics"]
    # with a local backbone file: measured, with its interval over the maps and its provenance
    out = evaluate(protocol, generated=generated, diversity=samples, lpips_weights=alexnet_file, **kw)
    assert out["metrics"][KEY_LPIPS] > 0 and KEY_LPIPS not in out["not_measured"]
    assert KEY_LPIPS in out["ci95"] and not math.isnan(out["ci95"][KEY_LPIPS])
    div = out["provenance"]["diversity"]
    assert div["samples_per_map"] == protocol.lpips_samples and div["maps"] == len(stems)
    assert div["official_backbone"] is False
    # the protocol's K: fewer than 2 samples per map is no diversity
    with pytest.raises(ValueError, match="lpips_samples >= 2"):
        dataclasses.replace(protocol, lpips_samples=1)
