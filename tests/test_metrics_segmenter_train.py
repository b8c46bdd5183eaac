"""SISBench's own segmenter: training improves mIoU, the checkpoint is pinned by sha256 with a record,
and a finished segmenter is reused."""

from __future__ import annotations

import dataclasses
import json

import pytest
import torch
from torch.utils.data import Dataset

from metrics.base import WeightsUnavailable, sha256_file
from metrics.protocols import get_protocol
from metrics.segmenters import SegmenterSpec, build_segmenter
from metrics.segmenters import train as train_module
from metrics.segmenters.train import (
    RECORD_FILE,
    SegmenterTraining,
    evaluate_segmenter,
    fit_segmenter,
    load_trained_segmenter,
    train_for_protocol,
    train_segmenter,
)

TINY = dict(depth=18, stem_channels=16, base_channels=16, head_channels=32, aux_channels=8,
            aspp_dilations=(1, 2, 3), batch_size=16)


class Shapes(Dataset):
    """Squares (class 1) and discs (class 2) on a background (class 0), each class its own colour."""

    colours = torch.tensor([[-0.6, -0.6, 0.6], [0.8, -0.4, -0.4], [-0.3, 0.8, -0.2]])

    def __init__(self, n: int, seed: int, size: int = 32):
        g = torch.Generator().manual_seed(seed)
        yy, xx = torch.meshgrid(torch.arange(size), torch.arange(size), indexing="ij")
        self.samples = []
        for _ in range(n):
            label = torch.zeros(size, size, dtype=torch.long)
            x0, y0 = torch.randint(0, size // 2, (2,), generator=g).tolist()
            label[y0:y0 + size // 3, x0:x0 + size // 3] = 1
            cx, cy = torch.randint(size // 4, 3 * size // 4, (2,), generator=g).tolist()
            label[(yy - cy) ** 2 + (xx - cx) ** 2 < (size // 6) ** 2] = 2
            image = self.colours[label].permute(2, 0, 1) + 0.1 * torch.randn(3, size, size, generator=g)
            self.samples.append({"image": image.clamp(-1, 1), "label": label})

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, i: int) -> dict:
        return self.samples[i]


@pytest.mark.slow
def test_training_improves_miou():
    before_threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        val = Shapes(8, seed=1)
        untrained = fit_segmenter(Shapes(16, seed=0), 3, None, SegmenterTraining(iters=0, **TINY))
        trained = fit_segmenter(Shapes(16, seed=0), 3, None, SegmenterTraining(iters=80, lr=3e-3, **TINY))
    finally:
        torch.set_num_threads(before_threads)  # the tests after this one keep the session's thread count
    before = evaluate_segmenter(untrained, val, ignore_index=None)["mIoU"]
    after = evaluate_segmenter(trained, val, ignore_index=None)["mIoU"]
    assert after > before + 0.3 and after > 0.6, (before, after)


@pytest.fixture(scope="module")
def tiny_synthetic(tmp_path_factory):
    return dict(type="synthetic", root=str(tmp_path_factory.mktemp("synthetic")), num_train=16, num_val=4)


@pytest.mark.slow
def test_train_segmenter_pins_and_reuses_the_checkpoint(tiny_synthetic, tmp_path, monkeypatch):
    weights = train_segmenter(tiny_synthetic, tmp_path, iters=2, **TINY)
    record = json.loads((weights.parent / RECORD_FILE).read_text())
    assert record["sha256"] == sha256_file(weights)
    assert record["dataset"] == "synthetic" and record["training"]["iters"] == 2
    assert 0.0 <= record["val_mIoU"] <= 1.0 and len(record["val_per_class_iou"]) == 10
    assert not list(weights.parent.glob("*.tmp"))

    def no_training(*args, **kwargs):
        raise AssertionError("a finished segmenter must be reused")

    monkeypatch.setattr(train_module, "fit_segmenter", no_training)
    assert train_segmenter(tiny_synthetic, tmp_path, iters=2, **TINY) == weights
    segmenter = load_trained_segmenter(weights)
    assert segmenter.checkpoint_hash == record["sha256"] and segmenter.num_classes == 10
    with pytest.raises(WeightsUnavailable, match="pins"):
        load_trained_segmenter(weights, sha256="0" * 64)
    spec = SegmenterSpec(kind="trained", options=tuple({"iters": 2, **TINY}.items()))
    built = build_segmenter(spec, num_classes=10, data_cfg=tiny_synthetic, checkpoint=weights)
    assert built.checkpoint_hash == record["sha256"]


def test_missing_trained_segmenter_names_the_command(tiny_synthetic, tmp_path):
    spec = SegmenterSpec(kind="trained", options=(("auto_train", False), ("iters", 3)))
    with pytest.raises(WeightsUnavailable) as err:
        build_segmenter(spec, num_classes=10, data_cfg=tiny_synthetic, cache_dir=tmp_path)
    assert "segmenter train --dataset synthetic" in str(err.value)
    assert "--segmenter-checkpoint" in str(err.value)


@pytest.mark.slow
def test_train_for_protocol_puts_the_segmenter_where_evaluation_finds_it(tiny_synthetic, tmp_path):
    options = tuple(sorted({"iters": 2, **TINY}.items()))
    protocol = dataclasses.replace(get_protocol("synthetic-v1"), id="synthetic-tiny",
                                   segmenter=SegmenterSpec(kind="trained", options=options))
    weights = train_for_protocol(protocol, tiny_synthetic, cache_dir=tmp_path)
    # auto_train is off in this spec: building succeeds only because the checkpoint is where it looks
    found = build_segmenter(protocol.segmenter, num_classes=10, data_cfg=tiny_synthetic, cache_dir=tmp_path)
    assert found.checkpoint_hash == sha256_file(weights)
    with pytest.raises(ValueError, match="unknown trained-segmenter options"):
        build_segmenter(SegmenterSpec(kind="trained", options=(("itres", 2),)), num_classes=10,
                        data_cfg=tiny_synthetic, cache_dir=tmp_path)


# --- pins, the shipped network and how close a retrained copy is ---------------------------------------------

@pytest.mark.slow
def test_protocol_pin_refuses_another_file_unless_it_is_named(tiny_synthetic, tmp_path):
    weights = train_segmenter(tiny_synthetic, tmp_path / "a", iters=2, **TINY)
    digest = sha256_file(weights)
    other = train_segmenter(tiny_synthetic, tmp_path / "b", iters=2, seed=1, **TINY)
    assert sha256_file(other) != digest
    options = tuple({"iters": 2, **TINY}.items())
    pinned = SegmenterSpec(kind="trained", checkpoint=str(weights), sha256=digest[:16], options=options)
    ok = build_segmenter(pinned, num_classes=10, data_cfg=tiny_synthetic)
    assert ok.pin == {"sha256": digest[:16], "source": "protocol", "matches": True, "checkpoint": None,
                      "override": False}
    wrong = dataclasses.replace(pinned, checkpoint=str(other))  # the protocol's own file is not the pinned one
    with pytest.raises(WeightsUnavailable, match="pins .*--segmenter-checkpoint"):
        build_segmenter(wrong, num_classes=10, data_cfg=tiny_synthetic)
    named = build_segmenter(pinned, num_classes=10, data_cfg=tiny_synthetic, checkpoint=other)
    assert named.checkpoint_hash == sha256_file(other)
    assert named.pin["override"] is True and named.pin["checkpoint"] == str(other)


@pytest.mark.slow
def test_trained_protocol_is_pinned_on_first_use(tiny_synthetic, tmp_path):
    options = tuple(sorted({"iters": 2, **TINY}.items()))
    spec = SegmenterSpec(kind="trained", options=options)
    protocol = dataclasses.replace(get_protocol("synthetic-v1"), id="synthetic-tiny", segmenter=spec)
    weights = train_for_protocol(protocol, tiny_synthetic, cache_dir=tmp_path)
    first = build_segmenter(spec, num_classes=10, data_cfg=tiny_synthetic, cache_dir=tmp_path)
    assert first.pin["source"] == "first use" and first.pin["sha256"] == sha256_file(weights)
    pins = json.loads((tmp_path / "segmenters" / "pins.json").read_text())
    assert [v["sha256"] for v in pins.values()] == [sha256_file(weights)]
    # a retraining (another file at the same place) is refused ...
    retrained = train_segmenter(tiny_synthetic, tmp_path / "elsewhere", iters=2, seed=3, **TINY)
    weights.write_bytes(retrained.read_bytes())
    with pytest.raises(WeightsUnavailable, match="pinned to .* on first use"):
        build_segmenter(spec, num_classes=10, data_cfg=tiny_synthetic, cache_dir=tmp_path)
    # ... unless --segmenter-checkpoint names it, and then the pin says so
    named = build_segmenter(spec, num_classes=10, data_cfg=tiny_synthetic, cache_dir=tmp_path, checkpoint=weights)
    assert named.pin["override"] is True and named.pin["matches"] is False


@pytest.mark.slow
def test_export_is_half_the_size_and_compare_reports_identity_or_agreement(tiny_synthetic, tmp_path):
    from metrics.segmenters.train import compare_with_shipped, export_segmenter, format_comparison

    weights = train_segmenter(tiny_synthetic, tmp_path / "a", iters=2, **TINY)
    shipped = export_segmenter(weights, tmp_path / "shipped")
    record = json.loads((shipped.parent / RECORD_FILE).read_text())
    assert record["stored_dtype"] == "float16" and record["model"]["aux_head"] is False
    assert record["source_sha256"] == sha256_file(weights) and record["sha256"] == sha256_file(shipped)
    assert shipped.stat().st_size < 0.55 * weights.stat().st_size
    full, half = load_trained_segmenter(weights), load_trained_segmenter(shipped)
    assert all(p.dtype == torch.float32 for p in half.parameters())
    images = torch.rand(2, 3, 32, 32, generator=torch.Generator().manual_seed(0)) * 2 - 1
    # float16 storage rounds each weight by <= 2**-11 relative: the logits move a little, classes rarely
    assert (full.predict(images) == half.predict(images)).float().mean() > 0.95
    # the same network exports to the same bytes
    assert sha256_file(export_segmenter(weights, tmp_path / "again")) == sha256_file(shipped)
    same = compare_with_shipped(weights, shipped, tiny_synthetic, scratch=tmp_path / "s1")
    assert same["identical"] and "identical" in format_comparison(same)
    other = train_segmenter(tiny_synthetic, tmp_path / "b", iters=2, seed=1, **TINY)
    diff = compare_with_shipped(other, shipped, tiny_synthetic, scratch=tmp_path / "s2")
    assert not diff["identical"] and 0 <= diff["pixel_agreement"] <= 1
    assert {"copy_val_mIoU", "shipped_val_mIoU", "copy_val_accu", "shipped_val_accu"} <= set(diff)
    line = format_comparison(diff)
    assert "val mIoU" in line and "agree on" in line and "--segmenter-checkpoint" in line


@pytest.mark.slow
def test_synthetic_v1_uses_the_shipped_network_and_never_trains(tmp_path, monkeypatch):
    """The protocol's segmenter loads from the package, matches its pin, and scores the real val images
    of this machine's (bit-identical) dataset as its record says."""
    from benchmark.config import load_data_config
    from benchmark.datasets import build_dataset
    from metrics.segmenters.train import shipped_checkpoint

    def no_training(*args, **kwargs):
        raise AssertionError("synthetic-v1 must never train at first use")

    monkeypatch.setattr(train_module, "fit_segmenter", no_training)
    protocol = get_protocol("synthetic-v1")
    data_cfg = load_data_config("synthetic", "tiny", [])
    seg = build_segmenter(protocol.segmenter, num_classes=10, data_cfg=data_cfg, cache_dir=tmp_path)
    shipped = shipped_checkpoint(protocol)
    assert seg.checkpoint_hash == protocol.segmenter.sha256 == sha256_file(shipped)
    assert seg.pin == {"sha256": protocol.segmenter.sha256, "source": "protocol", "matches": True,
                       "checkpoint": None, "override": False}
    assert shipped.stat().st_size < 2.5e6  # float16 storage, no auxiliary head
    record = json.loads(shipped.with_name(RECORD_FILE).read_text())
    scores = evaluate_segmenter(seg, build_dataset(data_cfg, "val", train=False), ignore_index=None)
    # float32 convolutions on another CPU may flip a handful of boundary pixels: 0.1 point of mIoU
    assert scores["mIoU"] == pytest.approx(record["val_mIoU"], abs=1e-3)
    assert scores["accu"] == pytest.approx(record["val_accu"], abs=1e-3)
    # a corrupt or replaced shipped file is refused; a named other file is used and recorded
    fake = dataclasses.replace(protocol.segmenter, sha256="0" * 64)
    with pytest.raises(WeightsUnavailable, match="protocol pins 000000000000"):
        build_segmenter(fake, num_classes=10, data_cfg=data_cfg, cache_dir=tmp_path)
    named = build_segmenter(fake, num_classes=10, data_cfg=data_cfg, cache_dir=tmp_path, checkpoint=shipped)
    assert named.pin["override"] is True


@pytest.mark.slow
def test_segmenter_training_shows_a_progress_bar_with_eta(capsys):
    fit_segmenter(Shapes(4, seed=0, size=16), 3, None, SegmenterTraining(iters=2, **{**TINY, "batch_size": 2}),
                  progress=True)
    err = capsys.readouterr().err
    assert "train segmenter" in err and "2/2" in err and "<" in err  # tqdm's elapsed<remaining
