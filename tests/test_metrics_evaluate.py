"""The evaluation harness end to end on a tiny embedded dataset: determinism, the oracle row, the FD-seg
fallback and its record, the Inception path (random weights), missing images, throughput."""

from __future__ import annotations

import dataclasses

import pytest
import torch
from PIL import Image

from benchmark.datasets import build_dataset
from benchmark.registry import METRICS
from metrics.base import WeightsUnavailable
from metrics.evaluate import evaluate, evaluate_real, metric_throughput
from metrics.fid import KEY_FD_SEG, KEY_FID, KEY_KID, KEY_PRECISION, KEY_RECALL, to_uint8
from metrics.protocols import get_protocol
from metrics.segmentation import KEY_ACCU, KEY_MIOU
from metrics.segmenters.deeplabv3 import DeepLabV3Config, DeepLabV3Segmenter

NUM_VAL = 6


@pytest.fixture(scope="module")
def data_cfg(tmp_path_factory):
    return dict(type="synthetic", root=str(tmp_path_factory.mktemp("synthetic")), num_train=2, num_val=NUM_VAL)


def random_segmenter(seed: int = 0) -> DeepLabV3Segmenter:
    torch.manual_seed(seed)
    cfg = DeepLabV3Config(num_classes=10, depth=18, stem_channels=8, base_channels=8, head_channels=16,
                          aux_head=False, aspp_dilations=(1, 2, 3))
    return DeepLabV3Segmenter(cfg).eval()


def write_generated(data_cfg, directory, noise: float = 0.0):
    """PNGs named like the val samples: the real images, optionally with noise."""
    directory.mkdir(parents=True, exist_ok=True)
    dataset = build_dataset(data_cfg, "val", train=False)
    g = torch.Generator().manual_seed(0)
    for i in range(len(dataset)):
        sample = dataset[i]
        image = (sample["image"] + noise * torch.randn(sample["image"].shape, generator=g)).clamp(-1, 1)
        stem = sample["path"].rsplit("/", 1)[-1].rsplit(".", 1)[0]
        Image.fromarray(to_uint8(image).permute(1, 2, 0).numpy()).save(directory / f"{stem}.png")
    return directory


def test_same_seed_gives_identical_numbers_and_the_fallback_is_recorded(data_cfg, tmp_path, offline):
    generated = write_generated(data_cfg, tmp_path / "gen", noise=0.3)
    runs = [evaluate("synthetic-v1", generated=generated, data_cfg=data_cfg, cache_dir=tmp_path / "cache", seed=3,
                     segmenter=random_segmenter()) for _ in range(2)]
    assert runs[0]["metrics"] == runs[1]["metrics"]
    metrics, prov = runs[0]["metrics"], runs[0]["provenance"]
    assert set(metrics) >= {KEY_MIOU, KEY_ACCU, KEY_FD_SEG, "per_class_iou"}
    assert KEY_FID not in metrics  # never silently: FD-seg stands in, and the record says so
    assert prov["fallback"]["reported_as"] == "FD-seg" and "--inception-weights" in prov["fallback"]["reason"]
    assert set(prov["metrics_unavailable"]) == {"fid", "kid", "precision_recall"}
    assert prov["protocol_id"] == "synthetic-v1" and prov["protocol_version"] == 1
    assert prov["num_images"] == NUM_VAL and prov["seed"] == 3 and prov["resolution"] == [64, 64]
    assert prov["versions"]["torch"] == torch.__version__ and prov["versions"]["torch-fidelity"] == "0.4.0"
    assert prov["segmenter"]["kind"] == "given" and prov["label_mapping"] == "identity"


def test_oracle_row_equals_evaluating_copies_of_the_real_images(data_cfg, tmp_path, offline):
    copies = write_generated(data_cfg, tmp_path / "copies")
    seg = random_segmenter(1)
    real = evaluate_real("synthetic-v1", data_cfg=data_cfg, cache_dir=tmp_path / "cache", segmenter=seg)
    fake = evaluate("synthetic-v1", generated=copies, data_cfg=data_cfg, cache_dir=tmp_path / "cache",
                    segmenter=seg)
    assert real["provenance"]["oracle"] and not fake["provenance"]["oracle"]
    # the real images are 8-bit PNGs already, so the copies are bit-identical inputs
    assert real["metrics"][KEY_MIOU] == fake["metrics"][KEY_MIOU]
    assert abs(real["metrics"][KEY_FD_SEG]) < 1e-6 and abs(fake["metrics"][KEY_FD_SEG]) < 1e-6
    noisy = evaluate("synthetic-v1", generated=write_generated(data_cfg, tmp_path / "noisy", noise=0.5),
                     data_cfg=data_cfg, cache_dir=tmp_path / "cache", segmenter=seg)
    assert noisy["metrics"][KEY_FD_SEG] > 1e-3


def test_missing_generated_images_are_listed(data_cfg, tmp_path, offline):
    generated = write_generated(data_cfg, tmp_path / "gen")
    victim = sorted(generated.iterdir())[0]
    victim.unlink()
    with pytest.raises(FileNotFoundError, match=f"1 of {NUM_VAL}.*{victim.stem}"):
        evaluate("synthetic-v1", generated=generated, data_cfg=data_cfg, cache_dir=tmp_path / "cache",
                 segmenter=random_segmenter())


def test_protocol_without_fallback_fails_offline_naming_the_flag(data_cfg, tmp_path, offline):
    strict = dataclasses.replace(get_protocol("synthetic-v1"), id="synthetic-strict", fallback_extractor=None)
    with pytest.raises(WeightsUnavailable, match="--inception-weights"):
        evaluate(strict, generated=[], data_cfg=data_cfg, cache_dir=tmp_path, segmenter=random_segmenter())


@pytest.fixture(scope="module")
def random_inception(tmp_path_factory):
    """torch-fidelity's Inception with random weights, saved as a plain state dict."""
    from torch_fidelity import feature_extractor_inceptionv3 as tfi

    path = tmp_path_factory.mktemp("inception") / "random-inception.pth"
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(tfi, "load_state_dict_from_url", lambda *a, **k: None)
        mp.setattr(tfi.FeatureExtractorInceptionV3, "load_state_dict", lambda self, sd: None)
        torch.manual_seed(0)
        model = tfi.FeatureExtractorInceptionV3("inception-v3-compat", ["2048"])
    torch.save(model.state_dict(), path)
    return path


def test_inception_metrics_with_local_weights_and_cached_reference(data_cfg, tmp_path, random_inception):
    generated = [(s, im) for s, im in _iter_val(data_cfg, noise=0.2)]
    kwargs = dict(data_cfg=data_cfg, cache_dir=tmp_path / "cache", inception_weights=random_inception,
                  segmenter=random_segmenter())
    first = evaluate("synthetic-v1", generated=generated, **kwargs)
    second = evaluate("synthetic-v1", generated=generated, **kwargs)
    m, prov = first["metrics"], first["provenance"]
    assert {KEY_FID, KEY_KID, KEY_PRECISION, KEY_RECALL, KEY_FD_SEG, KEY_MIOU} <= set(m)
    assert m[KEY_FID] > 0 and prov["fallback"] is None and prov["metrics_unavailable"] == {}
    assert prov["inception"]["weights_sha256"] and "299x299" in prov["inception"]["resize"]
    assert prov["inception"]["official_weights"] is False  # random weights: recorded, never passed off
    assert not prov["reference"]["inception"]["cache_hit"]
    assert second["provenance"]["reference"]["inception"]["cache_hit"]
    assert second["metrics"] == m


def _iter_val(data_cfg, noise: float):
    dataset = build_dataset(data_cfg, "val", train=False)
    g = torch.Generator().manual_seed(1)
    for i in range(len(dataset)):
        sample = dataset[i]
        stem = sample["path"].rsplit("/", 1)[-1].rsplit(".", 1)[0]
        yield stem, (sample["image"] + noise * torch.randn(sample["image"].shape, generator=g)).clamp(-1, 1)


def test_throughput_reports_images_per_second(data_cfg, tmp_path, offline):
    out = metric_throughput("synthetic-v1", data_cfg=data_cfg, cache_dir=tmp_path, batch_size=2, num_batches=1,
                            segmenter=random_segmenter())
    assert set(out["images_per_second"]) == {"segmentation", "fd_seg"}
    assert all(v > 0 for v in out["images_per_second"].values())
    assert "fid" in out["unavailable"]


def test_every_metric_plugin_is_registered_with_a_description():
    for name in ("segmentation", "fid", "kid", "precision_recall", "fd_seg"):
        assert name in METRICS
    for entry in METRICS.entries():
        assert entry.description and "\n" not in entry.description
        assert entry.obj.keys and set(entry.obj.requires) <= {"inception", "segmenter"}
