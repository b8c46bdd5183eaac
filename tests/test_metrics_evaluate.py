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
from metrics.fid import KEY_FD_SEG, KEY_FID, KEY_KID, KEY_PRECISION, KEY_RECALL, UNOFFICIAL_SUFFIX, to_uint8
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


@pytest.mark.slow
def test_same_seed_gives_identical_numbers_and_the_fallback_is_recorded(data_cfg, tmp_path, offline):
    generated = write_generated(data_cfg, tmp_path / "gen", noise=0.3)
    runs = [evaluate("synthetic-v1", generated=generated, data_cfg=data_cfg, cache_dir=tmp_path / "cache", seed=3,
                     segmenter=random_segmenter()) for _ in range(2)]
    assert runs[0]["metrics"] == runs[1]["metrics"]
    metrics, prov = runs[0]["metrics"], runs[0]["provenance"]
    assert set(metrics) >= {KEY_MIOU, KEY_ACCU, KEY_FD_SEG, "per_class_iou"}
    assert KEY_FID not in metrics  # never silently: FD-seg stands in, and the record says so
    assert prov["fallback"]["reported_as"] == "FD-seg" and "--inception-weights" in prov["fallback"]["reason"]
    # lpips_diversity: no samples per map were given (a folder of one image per map)
    assert set(prov["metrics_unavailable"]) == {"fid", "kid", "precision_recall", "lpips_diversity"}
    assert set(runs[0]["not_measured"]) == {"FID", "KID", "KID_std", "precision", "recall", "LPIPS"}
    assert prov["protocol_id"] == "synthetic-v1" and prov["protocol_version"] == 2
    assert prov["num_images"] == NUM_VAL and prov["seed"] == 3 and prov["resolution"] == [64, 64]
    assert prov["versions"]["torch"] == torch.__version__ and prov["versions"]["torch-fidelity"] == "0.4.0"
    assert prov["segmenter"]["kind"] == "given" and prov["label_mapping"] == "identity"


@pytest.mark.slow
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


@pytest.mark.slow
def test_inception_metrics_with_local_weights_and_cached_reference(data_cfg, tmp_path, random_inception):
    generated = [(s, im) for s, im in _iter_val(data_cfg, noise=0.2)]
    kwargs = dict(data_cfg=data_cfg, cache_dir=tmp_path / "cache", inception_weights=random_inception,
                  segmenter=random_segmenter())
    first = evaluate("synthetic-v1", generated=generated, **kwargs)
    second = evaluate("synthetic-v1", generated=generated, **kwargs)
    m, prov = first["metrics"], first["provenance"]
    # random weights: not torch-fidelity's file, so no key of theirs may read as FID (or KID, ...)
    unofficial = {k + UNOFFICIAL_SUFFIX for k in (KEY_FID, KEY_KID, KEY_PRECISION, KEY_RECALL)}
    assert unofficial | {KEY_FD_SEG, KEY_MIOU} <= set(m) and not {KEY_FID, KEY_KID} & set(m)
    assert m["FID (unofficial weights)"] > 0 and prov["fallback"] is None
    assert set(prov["metrics_unavailable"]) == {"lpips_diversity"}
    assert prov["inception"]["weights_sha256"] and "299x299" in prov["inception"]["resize"]
    assert prov["inception"]["official_weights"] is False and prov["inception_official"] is False
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
    for name in ("segmentation", "fid", "kid", "precision_recall", "fd_seg", "lpips_diversity"):
        assert name in METRICS
    for entry in METRICS.entries():
        assert entry.description and "\n" not in entry.description
        assert entry.obj.keys and set(entry.obj.requires) <= {"inception", "segmenter", "diversity", "texture"}


@pytest.mark.slow
def test_official_inception_weights_report_plain_fid(data_cfg, tmp_path, random_inception, monkeypatch):
    """The same file accepted as torch-fidelity's (its hash prefix made the official one) reports "FID"."""
    from metrics import fid
    from metrics.base import sha256_file

    monkeypatch.setattr(fid, "INCEPTION_SHA256", sha256_file(random_inception)[:8])
    out = evaluate("synthetic-v1", generated=list(_iter_val(data_cfg, noise=0.2)), data_cfg=data_cfg,
                   cache_dir=tmp_path / "cache", inception_weights=random_inception, segmenter=random_segmenter(),
                   resamples=0)
    assert KEY_FID in out["metrics"] and out["provenance"]["inception_official"] is True
    assert not any(k.endswith(UNOFFICIAL_SUFFIX) for k in out["metrics"])


@pytest.mark.slow
def test_records_carry_hardware_and_bootstrap_intervals(data_cfg, tmp_path, offline):
    import numpy as np

    from benchmark.evaluation import to_record
    from metrics.bootstrap import PerImageCounts, segmentation_resamples

    generated = write_generated(data_cfg, tmp_path / "gen", noise=0.4)
    out = evaluate("synthetic-v1", generated=generated, data_cfg=data_cfg, cache_dir=tmp_path / "cache",
                   segmenter=random_segmenter(), seed=5, resamples=200)
    assert set(out["hardware"]) == {"cpu", "gpu", "threads", "device", "platform"}
    assert out["hardware"]["device"] == "cpu" and out["hardware"]["threads"] >= 1
    assert set(out["ci95"]) == {KEY_MIOU, KEY_ACCU, KEY_FD_SEG, "texture", "texture_max", "checkerboard"}
    for key, (lo, hi) in out["ci95_interval"].items():
        assert lo <= hi and out["ci95"][key] == pytest.approx((hi - lo) / 2)
    assert out["ci95"][KEY_MIOU] > 0 and "200 resamples" in out["ci95_method"]
    assert f"over the {NUM_VAL} evaluation images" in out["ci95_method"]
    # the intervals hold the full-sample values (a bootstrap centred on them, 200 draws, 6 images)
    lo, hi = out["ci95_interval"][KEY_ACCU]
    assert lo <= out["metrics"][KEY_ACCU] <= hi
    again = evaluate("synthetic-v1", generated=generated, data_cfg=data_cfg, cache_dir=tmp_path / "cache",
                     segmenter=random_segmenter(), seed=5, resamples=200)
    assert again["ci95"] == out["ci95"]  # seeded
    record = to_record(out, kind="images", method="m", dataset="synthetic", preset=None, run_id=None)
    assert record["ci95"][KEY_MIOU] == pytest.approx(100 * out["ci95"][KEY_MIOU])  # percent, as the value
    assert record["ci95"][KEY_FD_SEG] == out["ci95"][KEY_FD_SEG]
    assert record["hardware"] == out["hardware"] and record["ci95_method"] == out["ci95_method"]
    prov = record["provenance"]
    assert prov["num_images_overridden"] is False and "segmenter_sha256" in prov
    assert record["protocol"]["averaging"] == "present_gt_or_pred"

    # per-image counts: resampling every image exactly once gives the full-sample scores
    counts = PerImageCounts(10)
    rng = np.random.default_rng(0)
    preds = torch.from_numpy(rng.integers(0, 10, size=(4, 8, 8)))
    target = torch.from_numpy(rng.integers(0, 10, size=(4, 8, 8)))
    target[0, :2] = 255
    counts.update(preds, target)
    c = counts.counts()
    assert c.shape == (4, 3, 10) and int(c[:, 1].sum()) == int((target != 255).sum())
    from metrics.segmentation import ConfusionMatrix

    cm = ConfusionMatrix(10)
    cm.update(preds, target)
    assert torch.equal(c[:, 0].sum(0), cm.matrix.diagonal()) and torch.equal(c[:, 2].sum(0), cm.matrix.sum(0))
    for rule in ("present_gt", "all_classes", "present_gt_or_pred"):
        full = cm.compute(rule)
        res = segmentation_resamples(c, rule, resamples=300, seed=0)
        assert res["mIoU"].shape == (300,) and res["mIoU"].min() <= full["mIoU"] <= res["mIoU"].max()


def test_bootstrap_memory_stays_small_for_coco_sized_sets():
    """5,000 images x 182 classes: per-image counts are 22 MB and one block of resamples is a few MB."""
    from metrics.bootstrap import segmentation_resamples

    g = torch.Generator().manual_seed(0)
    counts = torch.randint(0, 50, (5000, 3, 182), generator=g)
    counts[:, 1] += counts[:, 0]
    counts[:, 2] += counts[:, 0]
    assert counts.element_size() * counts.numel() < 25e6
    out = segmentation_resamples(counts, "present_gt", resamples=100, seed=0)
    assert out["mIoU"].shape == (100,) and float(out["mIoU"].std()) < 0.01


def test_bootstrap_of_frechet_distances_and_what_it_leaves_out():
    from metrics.bootstrap import bootstrap_ci95
    from metrics.evaluate import _fd

    g = torch.Generator().manual_seed(0)
    real = torch.randn(40, 8, generator=g, dtype=torch.float64)
    fake = real + 0.5 * torch.randn(40, 8, generator=g, dtype=torch.float64)
    wide = torch.randn(40, 600, generator=g, dtype=torch.float64)
    metrics = {"FD-seg": _fd(fake, real), "FID": 1.0, "KID": 0.1}
    out = bootstrap_ci95(num_images=40, counts=None, averaging="present_gt_or_pred",
                         fd_features={"FD-seg": (fake, real, True), "FID": (wide, wide, True)}, metrics=metrics,
                         distance=_fd, resamples=100, seed=0)
    lo, hi = out["ci95_interval"]["FD-seg"]
    assert 0 < lo < hi and out["ci95"]["FD-seg"] > 0
    assert "FID" not in out["ci95"] and "not bootstrapped: FID (600-d features" in out["ci95_method"]
    assert "KID (see KID_std" in out["ci95_method"]
    # the oracle: generated = reference, resampled together -> every resample is 0
    oracle = bootstrap_ci95(num_images=40, counts=None, averaging="present_gt_or_pred",
                            fd_features={"FD-seg": (real, real, True)}, metrics={"FD-seg": 0.0}, distance=_fd,
                            resamples=50, seed=0)
    # (0 up to the eigendecomposition's round-off, ~1e-14 of the features' variance of ~1)
    assert oracle["ci95_interval"]["FD-seg"][0] == 0.0 and oracle["ci95_interval"]["FD-seg"][1] < 1e-10


@pytest.mark.slow
def test_evaluation_shows_a_progress_bar_when_asked(data_cfg, tmp_path, offline, capsys):
    evaluate("synthetic-v1", generated=write_generated(data_cfg, tmp_path / "g"), data_cfg=data_cfg,
             cache_dir=tmp_path / "cache", segmenter=random_segmenter(), resamples=0, progress=True)
    err = capsys.readouterr().err
    assert "evaluate synthetic-v1" in err and f"{NUM_VAL}/{NUM_VAL}" in err
