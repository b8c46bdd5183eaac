"""The built-in DeepLabV3: mmseg checkpoint key layout, mmseg's test-time resizing, whole vs sliding
inference, checkpoint hashing and offline messages; parity with mmseg itself where the `seg` extra is
installed (tests marked ``seg``)."""

from __future__ import annotations

import importlib.util
import urllib.error
from pathlib import Path

import pytest
import torch

from metrics.base import WeightsUnavailable, sha256_file
from metrics.segmenters import SegmenterSpec, build_segmenter
from metrics.segmenters.deeplabv3 import (
    MMSEG_ZOO,
    DeepLabV3,
    DeepLabV3Config,
    DeepLabV3Segmenter,
    load_mmseg_state_dict,
    mmseg_rescale_size,
    read_checkpoint,
)


def _conv_bn(prefix: str, cout: int, cin: int, k: int, bn: str = "bn") -> dict[str, tuple[int, ...]]:
    """An mmcv ConvModule's keys (``<prefix>.conv.weight``, ``<prefix>.bn.*``) or a bare conv + BN pair."""
    conv = f"{prefix}.conv.weight" if bn == "bn" else f"{prefix}.weight"
    out = {conv: (cout, cin, k, k)}
    norm = f"{prefix}.bn" if bn == "bn" else bn
    out.update({f"{norm}.{n}": (cout,) for n in ("weight", "bias", "running_mean", "running_var")})
    out[f"{norm}.num_batches_tracked"] = ()
    return out


def mmseg_deeplabv3_r101_keys(num_classes: int) -> dict[str, tuple[int, ...]]:
    """Key -> shape of mmseg's DeepLabV3 R101-D8 (``configs/_base_/models/deeplabv3_r50-d8.py``, depth 101),
    written from mmseg's module names: ResNetV1c ``stem`` Sequential (convs at 0/3/6, BNs at 1/4/7),
    Bottleneck ``conv1..3``/``bn1..3``/``downsample.{0,1}``, ASPPHead ``image_pool.1``, ``aspp_modules.i``,
    ``bottleneck``, ``conv_seg``, FCNHead ``convs.0``, ``conv_seg``."""
    keys: dict[str, tuple[int, ...]] = {}
    for idx, (cin, cout) in zip((0, 3, 6), ((3, 32), (32, 32), (32, 64)), strict=True):
        keys.update(_conv_bn(f"backbone.stem.{idx}", cout, cin, 3, bn=f"backbone.stem.{idx + 1}"))
    inplanes = 64
    for i, blocks in enumerate((3, 4, 23, 3)):
        planes = 64 * 2 ** i
        for j in range(blocks):
            p = f"backbone.layer{i + 1}.{j}"
            cin = inplanes if j == 0 else planes * 4
            keys.update(_conv_bn(f"{p}.conv1", planes, cin, 1, bn=f"{p}.bn1"))
            keys.update(_conv_bn(f"{p}.conv2", planes, planes, 3, bn=f"{p}.bn2"))
            keys.update(_conv_bn(f"{p}.conv3", planes * 4, planes, 1, bn=f"{p}.bn3"))
            if j == 0:
                keys.update(_conv_bn(f"{p}.downsample.0", planes * 4, cin, 1, bn=f"{p}.downsample.1"))
        inplanes = planes * 4
    keys.update(_conv_bn("decode_head.image_pool.1", 512, 2048, 1))
    for i in range(4):
        keys.update(_conv_bn(f"decode_head.aspp_modules.{i}", 512, 2048, 1 if i == 0 else 3))
    keys.update(_conv_bn("decode_head.bottleneck", 512, 5 * 512, 3))
    keys.update({"decode_head.conv_seg.weight": (num_classes, 512, 1, 1), "decode_head.conv_seg.bias": (num_classes,)})
    keys.update(_conv_bn("auxiliary_head.convs.0", 256, 1024, 3))
    keys.update({"auxiliary_head.conv_seg.weight": (num_classes, 256, 1, 1),
                 "auxiliary_head.conv_seg.bias": (num_classes,)})
    return keys


def _random_state(layout: dict[str, tuple[int, ...]], seed: int = 0) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    out = {}
    for k, shape in layout.items():
        if k.endswith("num_batches_tracked"):
            out[k] = torch.tensor(7)
        elif k.endswith("running_var"):
            out[k] = torch.rand(shape, generator=g) + 0.5
        else:
            out[k] = torch.randn(shape, generator=g) * 0.05
    return out


@pytest.mark.slow
def test_mmseg_r101_checkpoint_layout_loads_strict(tmp_path):
    layout = mmseg_deeplabv3_r101_keys(150)
    model = DeepLabV3(DeepLabV3Config(num_classes=150))
    assert {k: tuple(v.shape) for k, v in model.state_dict().items()} == layout
    state = _random_state(layout)
    path = tmp_path / "deeplabv3_r101.pth"
    # the zoo files wrap the weights with a meta record of plain Python values
    torch.save({"meta": {"CLASSES": ("wall", "building"), "PALETTE": [[120, 120, 120]], "mmseg_version": "0.5"},
                "state_dict": state}, path)
    load_mmseg_state_dict(model, read_checkpoint(path))
    loaded = model.state_dict()
    for key in ("backbone.stem.3.weight", "backbone.layer3.22.conv2.weight", "decode_head.aspp_modules.3.conv.weight",
                "decode_head.image_pool.1.bn.running_var", "auxiliary_head.convs.0.conv.weight"):
        assert torch.equal(loaded[key], state[key]), key
    # dilation as mmseg's D8 with contract_dilation: layer3 1 then 2, layer4 2 then 4
    assert model.backbone.layer3[0].conv2.dilation == (1, 1) and model.backbone.layer3[1].conv2.dilation == (2, 2)
    assert model.backbone.layer4[0].conv2.dilation == (2, 2) and model.backbone.layer4[2].conv2.dilation == (4, 4)
    assert model.decode_head.aspp_modules[3].conv.dilation == (36, 36)


def test_missing_and_unexpected_keys_are_named():
    model = DeepLabV3(DeepLabV3Config(num_classes=3, depth=18, base_channels=8, stem_channels=8,
                                      head_channels=8, aux_channels=8))
    state = dict(model.state_dict())
    state.pop("decode_head.conv_seg.bias")
    state["decode_head.extra.weight"] = torch.zeros(1)
    with pytest.raises(ValueError, match=r"decode_head.conv_seg.bias.*decode_head.extra.weight"):
        load_mmseg_state_dict(model, state)


def test_mmseg_rescale_size_as_mmcv():
    assert mmseg_rescale_size(256, 256, (2048, 512)) == (512, 512)
    assert mmseg_rescale_size(256, 512, (2048, 1024)) == (1024, 2048)
    assert mmseg_rescale_size(480, 640, (2048, 512)) == (512, 683)


def small_config(**kw) -> DeepLabV3Config:
    return DeepLabV3Config(num_classes=5, depth=18, stem_channels=8, base_channels=8, head_channels=16,
                           aux_channels=8, aspp_dilations=(1, 2, 3, 4), **kw)


@pytest.mark.slow
def test_predictions_and_features_at_input_size():
    torch.manual_seed(0)
    seg = DeepLabV3Segmenter(small_config(test_scale=(96, 96))).eval()
    images = torch.rand(2, 3, 40, 48) * 2 - 1
    pred, feats = seg.predict_with_features(images)
    assert pred.shape == (2, 40, 48) and pred.dtype == torch.int64
    assert int(pred.max()) < 5
    assert feats.shape == (2, 16)
    assert torch.equal(seg.predict(images), pred) and torch.allclose(seg.features(images), feats)


@pytest.mark.slow
def test_sliding_window_with_one_window_equals_whole_inference():
    torch.manual_seed(0)
    whole = DeepLabV3Segmenter(small_config()).eval()
    slide = DeepLabV3Segmenter(small_config(test_mode="slide", crop_size=(32, 32), stride=(16, 16))).eval()
    slide.load_state_dict(whole.state_dict())
    images = torch.rand(1, 3, 32, 32) * 2 - 1
    assert torch.allclose(whole.logits(images), slide.logits(images), atol=1e-6)
    wide = torch.rand(1, 3, 32, 80) * 2 - 1  # three overlapping windows
    assert slide.logits(wide).shape == (1, 5, 32, 80)


def test_mmseg_builtin_checks_the_checkpoint_hash(tmp_path):
    spec = SegmenterSpec(kind="mmseg-builtin", name="deeplabv3_r101-d8_4xb4-160k_ade20k-512x512")
    bogus = tmp_path / "not_the_zoo_file.pth"
    torch.save({"state_dict": {}}, bogus)
    with pytest.raises(WeightsUnavailable, match="expected b1f72b3b.*--segmenter-checkpoint"):
        build_segmenter(spec, num_classes=150, checkpoint=bogus, cache_dir=tmp_path)


def test_mmseg_builtin_offline_names_the_flag(tmp_path, monkeypatch):
    def offline(*args, **kwargs):
        raise urllib.error.URLError("no network")

    monkeypatch.setattr(torch.hub, "download_url_to_file", offline)
    spec = SegmenterSpec(kind="mmseg-builtin", name="deeplabv3_r101-d8_4xb2-80k_cityscapes-512x1024")
    with pytest.raises(WeightsUnavailable) as err:
        build_segmenter(spec, num_classes=19, cache_dir=tmp_path)
    assert "--segmenter-checkpoint" in str(err.value) and "\n" not in str(err.value)
    assert "9e428899.pth" in str(err.value)


def test_checkpoints_with_arbitrary_objects_are_refused(tmp_path):
    path = tmp_path / "pickled.pth"
    torch.save({"state_dict": {"w": torch.zeros(1)}, "hook": Path("x")}, path)
    with pytest.raises(ValueError, match="weights_only=True"):
        read_checkpoint(path)


# --- parity with mmseg itself (the `seg` extra) ------------------------------------------------------------

HAS_MMSEG = importlib.util.find_spec("mmseg") is not None and importlib.util.find_spec("mmcv") is not None

MMSEG_TINY_CONFIG = """
default_scope = 'mmseg'
norm_cfg = dict(type='BN', requires_grad=True)
model = dict(
    type='EncoderDecoder',
    data_preprocessor=dict(type='SegDataPreProcessor', mean=[123.675, 116.28, 103.53], std=[58.395, 57.12, 57.375],
                           bgr_to_rgb=True, pad_val=0, seg_pad_val=255),
    backbone=dict(type='ResNetV1c', depth=18, stem_channels=8, base_channels=8, num_stages=4,
                  out_indices=(0, 1, 2, 3), dilations=(1, 1, 2, 4), strides=(1, 2, 1, 1), norm_cfg=norm_cfg,
                  norm_eval=False, style='pytorch', contract_dilation=True),
    decode_head=dict(type='ASPPHead', in_channels=64, in_index=3, channels=16, dilations=(1, 2, 3, 4),
                     dropout_ratio=0.1, num_classes=5, norm_cfg=norm_cfg, align_corners=False,
                     loss_decode=dict(type='CrossEntropyLoss', use_sigmoid=False, loss_weight=1.0)),
    auxiliary_head=dict(type='FCNHead', in_channels=32, in_index=2, channels=8, num_convs=1, concat_input=False,
                        dropout_ratio=0.1, num_classes=5, norm_cfg=norm_cfg, align_corners=False,
                        loss_decode=dict(type='CrossEntropyLoss', use_sigmoid=False, loss_weight=0.4)),
    train_cfg=dict(),
    test_cfg=dict(mode='whole'))
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(64, 64), keep_ratio=True),
    dict(type='PackSegInputs'),
]
"""


@pytest.fixture
def tiny_mmseg_checkpoint(tmp_path):
    """A tiny mmseg DeepLabV3 config and a checkpoint of random weights (random BN statistics too)."""
    from metrics.segmenters.mmseg_backend import MMSegSegmenter

    config = tmp_path / "deeplabv3_r18_tiny.py"
    config.write_text(MMSEG_TINY_CONFIG)
    torch.manual_seed(0)
    fresh = MMSegSegmenter(config)
    layout = {k: tuple(v.shape) for k, v in fresh.model.state_dict().items()}
    checkpoint = tmp_path / "tiny.pth"
    torch.save({"meta": {}, "state_dict": _random_state(layout, seed=3)}, checkpoint)
    return config, checkpoint


@pytest.mark.seg
@pytest.mark.skipif(not HAS_MMSEG, reason="needs the `seg` extra (mmcv + mmsegmentation)")
def test_mmseg_backend_runs_a_tiny_deeplabv3(tiny_mmseg_checkpoint):
    config, checkpoint = tiny_mmseg_checkpoint
    spec = SegmenterSpec(kind="mmseg", name=str(config), checkpoint=str(checkpoint))
    seg = build_segmenter(spec, num_classes=5)
    images = torch.rand(2, 3, 64, 64) * 2 - 1
    pred = seg.predict(images)
    assert pred.shape == (2, 64, 64) and pred.dtype == torch.int64 and int(pred.max()) < 5
    assert seg.features(images).shape == (2, 16)
    assert seg.checkpoint_hash == sha256_file(checkpoint)


# (mmseg config edit, built-in settings): no resize; mmcv's keep-ratio bilinear upscaling; sliding windows
PARITY_CASES = {
    "whole": ({}, dict(test_scale=(64, 64))),
    "upscale": ({"scale=(64, 64)": "scale=(2048, 128)"}, dict(test_scale=(2048, 128))),
    "slide": ({"test_cfg=dict(mode='whole')": "test_cfg=dict(mode='slide', crop_size=(48, 48), stride=(32, 32))"},
              dict(test_scale=(64, 64), test_mode="slide", crop_size=(48, 48), stride=(32, 32))),
}


@pytest.mark.seg
@pytest.mark.skipif(not HAS_MMSEG, reason="needs the `seg` extra (mmcv + mmsegmentation)")
@pytest.mark.parametrize("case", sorted(PARITY_CASES))
def test_builtin_deeplabv3_reproduces_mmseg_logits(case, tmp_path):
    from metrics.segmenters.mmseg_backend import MMSegSegmenter

    edits, settings = PARITY_CASES[case]
    text = MMSEG_TINY_CONFIG
    for old, new in edits.items():
        text = text.replace(old, new)
    config = tmp_path / f"deeplabv3_tiny_{case}.py"
    config.write_text(text)
    torch.manual_seed(0)
    theirs = MMSegSegmenter(config)
    state = _random_state({k: tuple(v.shape) for k, v in theirs.model.state_dict().items()}, seed=3)
    theirs.model.load_state_dict(state)
    ours = DeepLabV3Segmenter(small_config(**settings)).eval()
    load_mmseg_state_dict(ours.model, state)
    images = (torch.randint(0, 256, (2, 3, 64, 80)).float() / 127.5) - 1
    ref = theirs.logits(images)
    got = ours.logits(images)
    assert got.shape == ref.shape == (2, 5, 64, 80)
    assert torch.allclose(got, ref, atol=1e-4, rtol=0)
    assert torch.equal(ours.predict(images), theirs.predict(images))
    assert torch.allclose(ours.features(images), theirs.features(images), atol=1e-4)


@pytest.mark.seg
@pytest.mark.skipif(not HAS_MMSEG, reason="needs the `seg` extra (mmcv + mmsegmentation)")
@pytest.mark.parametrize("name", sorted(MMSEG_ZOO))
def test_zoo_entries_match_mmseg_configs(name):
    """The built-in settings of each zoo checkpoint equal what mmseg's own config (shipped with the
    package) says: architecture, classes, normalisation, test resize and inference mode."""
    import mmseg
    from mmengine.config import Config

    cfg = Config.fromfile(str(Path(mmseg.__file__).parent / ".mim" / "configs" / "deeplabv3" / f"{name}.py"))
    zoo, model = MMSEG_ZOO[name], cfg.model
    ours = DeepLabV3Config(num_classes=zoo.num_classes, test_scale=zoo.test_scale)
    assert model.backbone.type == "ResNetV1c" and model.backbone.depth == ours.depth
    assert tuple(model.backbone.strides) == ours.strides and tuple(model.backbone.dilations) == ours.dilations
    assert model.backbone.contract_dilation == ours.contract_dilation
    assert tuple(model.decode_head.dilations) == ours.aspp_dilations
    assert model.decode_head.channels == ours.head_channels and model.auxiliary_head.channels == ours.aux_channels
    assert model.decode_head.num_classes == model.auxiliary_head.num_classes == zoo.num_classes
    assert tuple(model.data_preprocessor.mean) == ours.mean and tuple(model.data_preprocessor.std) == ours.std
    assert model.data_preprocessor.bgr_to_rgb and model.test_cfg.mode == ours.test_mode
    resize = [t for t in cfg.test_pipeline if t["type"] == "Resize"]
    assert len(resize) == 1 and resize[0]["keep_ratio"] and tuple(resize[0]["scale"]) == zoo.test_scale
