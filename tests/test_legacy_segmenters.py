"""The papers' segmenters (DeepLabV2 MSC, UperNet101, DRN-D-105) and the ``*-spade-legacy`` protocols.

The expected state-dict layouts in ``fixtures/legacy_segmenter_keys.json`` were produced by the original
repositories' own code (kazuto1011/deeplab-pytorch, CSAILVision/semantic-segmentation-pytorch, fyu/drn),
run outside this tree; see docs/legacy_protocol.md for the script and the parity check.
"""

from __future__ import annotations

import json
import urllib.error
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from benchmark.registry import PROTOCOLS
from metrics.base import WeightsUnavailable, sha256_file
from metrics.segmentation import get_label_mapping
from metrics.segmenters import SegmenterSpec, build_segmenter, segmenter_kinds
from metrics.segmenters.deeplabv2 import DeepLabV2Segmenter, msc_max_logits
from metrics.segmenters.drn import DRND105Segmenter, bilinear_up_kernel
from metrics.segmenters.legacy import LEGACY_PROTOCOLS, SEGMENTER_KINDS, legacy_protocols, segmenter_class
from metrics.segmenters.upernet import UperNet101Segmenter, eval_sizes

FIXTURE = json.loads((Path(__file__).parent / "fixtures" / "legacy_segmenter_keys.json").read_text())
OPTIONAL = ("num_batches_tracked", "_tmp_running_mean", "_tmp_running_var", "_running_iter")


def layout(module: nn.Module) -> list[list]:
    return [[k, list(v.shape)] for k, v in module.state_dict().items()]


def state_in_layout(entries: list[list], drop: tuple[str, ...] = ()) -> dict[str, torch.Tensor]:
    """A state dict with the original keys and shapes; each tensor filled with its own index."""
    return {k: (torch.tensor(i) if k.endswith("num_batches_tracked") else torch.full(shape, float(i)))
            for i, (k, shape) in enumerate(entries) if not k.endswith(drop)}


def randomised(model: nn.Module, seed: int = 0) -> nn.Module:
    """Random weights and BatchNorm statistics (default init leaves BN the identity)."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, t in model.state_dict().items():
            if name.endswith("running_var"):
                t.copy_(torch.rand(t.shape, generator=g) + 0.5)
            elif name.endswith(("running_mean", "bn.bias", ".bias")) and t.ndim == 1:
                t.copy_(torch.randn(t.shape, generator=g) * 0.1)
    return model


@pytest.fixture(scope="module")
def deeplab() -> DeepLabV2Segmenter:
    torch.manual_seed(0)  # the convolutions' default initialisation draws from the global RNG
    return randomised(DeepLabV2Segmenter())


@pytest.fixture(scope="module")
def upernet() -> UperNet101Segmenter:
    torch.manual_seed(0)  # the convolutions' default initialisation draws from the global RNG
    return randomised(UperNet101Segmenter(short_sides=(32, 48)))


@pytest.fixture(scope="module")
def drn() -> DRND105Segmenter:
    torch.manual_seed(0)  # the convolutions' default initialisation draws from the global RNG
    return randomised(DRND105Segmenter())


# --- state-dict layouts -----------------------------------------------------------------------------------

def test_deeplabv2_layout_matches_original(deeplab):
    assert layout(deeplab) == FIXTURE["deeplabv2_resnet101_msc_cocostuff164k"]


def test_upernet_layout_matches_original(upernet):
    assert layout(upernet.encoder) == FIXTURE["upernet101_encoder"]
    assert layout(upernet.decoder) == FIXTURE["upernet101_decoder"]


def test_drn_layout_matches_original(drn):
    assert layout(drn) == FIXTURE["drn_d_105_cityscapes"]


@pytest.mark.slow
def test_deeplabv2_checkpoint_loads_strictly(tmp_path):
    state = state_in_layout(FIXTURE["deeplabv2_resnet101_msc_cocostuff164k"])
    path = tmp_path / "deeplabv2_resnet101_msc-cocostuff164k-100000.pth"
    torch.save(state, path)
    model = DeepLabV2Segmenter.from_checkpoint(path)
    assert model.checkpoint_hash == sha256_file(path)
    for key in ("base.layer1.conv1.conv.weight", "base.layer5.block3.increase.bn.running_var",
                "base.aspp.c3.bias"):
        assert torch.equal(model.state_dict()[key], state[key])
    # Files written before torch 0.4.1 have no num_batches_tracked.
    model.load_original_state_dict(state_in_layout(FIXTURE["deeplabv2_resnet101_msc_cocostuff164k"],
                                                   ("num_batches_tracked",)))


@pytest.mark.slow
def test_upernet_checkpoint_loads_strictly(tmp_path):
    enc = state_in_layout(FIXTURE["upernet101_encoder"])
    dec = state_in_layout(FIXTURE["upernet101_decoder"])
    torch.save(enc, tmp_path / "encoder_epoch_50.pth")
    torch.save(dec, tmp_path / "decoder_epoch_50.pth")
    model = UperNet101Segmenter.from_checkpoint(tmp_path)
    assert model.checkpoint_hash == (f"{sha256_file(tmp_path / 'encoder_epoch_50.pth')}+"
                                     f"{sha256_file(tmp_path / 'decoder_epoch_50.pth')}")
    assert torch.equal(model.encoder.layer4[2].bn3.running_mean, enc["layer4.2.bn3.running_mean"])
    assert torch.equal(model.decoder.conv_last[1].weight, dec["conv_last.1.weight"])
    # SynchronizedBatchNorm2d's bookkeeping buffers (and num_batches_tracked) may be absent.
    model.load_original_state_dict("encoder", state_in_layout(FIXTURE["upernet101_encoder"], OPTIONAL))
    model.load_original_state_dict("decoder", state_in_layout(FIXTURE["upernet101_decoder"], OPTIONAL))


@pytest.mark.slow
def test_drn_checkpoint_loads_strictly(tmp_path):
    state = state_in_layout(FIXTURE["drn_d_105_cityscapes"])
    path = tmp_path / "drn-d-105_ms_cityscapes.pth"
    torch.save(state, path)
    model = DRND105Segmenter.from_checkpoint(path, sha256=sha256_file(path)[:8])
    assert model.checkpoint_hash == sha256_file(path)
    assert torch.equal(model.up.weight, state["up.weight"])
    assert torch.equal(model.base[5][22].conv2.weight, state["base.5.22.conv2.weight"])
    # The released file was trained with fyu/drn's BatchNormSync: no num_batches_tracked.
    model.load_original_state_dict(state_in_layout(FIXTURE["drn_d_105_cityscapes"], ("num_batches_tracked",)))


def test_layout_errors_name_the_keys(tmp_path, drn):
    state = state_in_layout(FIXTURE["drn_d_105_cityscapes"])
    state["seg.weights"] = state.pop("seg.weight")
    with pytest.raises(ValueError, match=r"missing \(1\): seg\.weight; unexpected \(1\): seg\.weights"):
        drn.load_original_state_dict(state)
    state = state_in_layout(FIXTURE["drn_d_105_cityscapes"])
    state["seg.bias"] = torch.zeros(20)
    with pytest.raises(ValueError, match=r"wrong shape \(1\): seg\.bias \(20,\) != \(19,\)"):
        drn.load_original_state_dict(state)


# --- checkpoints that cannot be had ---------------------------------------------------------------------

def test_offline_error_is_one_sentence_naming_the_flag(tmp_path, monkeypatch):
    def offline(url, dst, **_):
        raise urllib.error.URLError("no network")

    monkeypatch.setattr(torch.hub, "download_url_to_file", offline)
    with pytest.raises(WeightsUnavailable) as err:
        DeepLabV2Segmenter.from_checkpoint(None, cache_dir=tmp_path)
    message = str(err.value)
    assert "--segmenter-checkpoint" in message and "protocol.segmenter_checkpoint" in message
    assert "deeplabv2_resnet101_msc-cocostuff164k-100000.pth" in message and "\n" not in message
    with pytest.raises(WeightsUnavailable, match="--segmenter-checkpoint"):
        DRND105Segmenter.from_checkpoint(None, cache_dir=tmp_path)  # no URL exists for DRN
    with pytest.raises(WeightsUnavailable, match="encoder_epoch_50.pth.*--segmenter-checkpoint"):
        UperNet101Segmenter.from_checkpoint(tmp_path / "missing")


def test_wrong_sha256_is_refused(tmp_path):
    path = tmp_path / "drn-d-105_ms_cityscapes.pth"
    torch.save(state_in_layout(FIXTURE["drn_d_105_cityscapes"]), path)
    with pytest.raises(WeightsUnavailable, match="expected 00000000"):
        DRND105Segmenter.from_checkpoint(path, sha256="00000000")


# --- inference --------------------------------------------------------------------------------------------

@pytest.mark.slow
@pytest.mark.parametrize("name,size,dim", [("deeplab", (25, 33), 2048), ("upernet", (32, 48), 2048),
                                           ("drn", (32, 64), 512)])
def test_predict_and_features(request, name, size, dim):
    model = request.getfixturevalue(name)
    images = torch.rand(2, 3, *size, generator=torch.Generator().manual_seed(3)) * 2 - 1
    pred = model.predict(images)
    assert pred.dtype == torch.int64 and pred.shape == (2, *size)
    assert 0 <= int(pred.min()) and int(pred.max()) < model.num_classes
    assert len(pred.unique()) > 1, "random BN statistics should give more than one class"
    assert torch.equal(model.predict(images), pred), "same input twice must give the same prediction"
    feats = model.features(images)
    assert feats.shape == (2, dim) and torch.equal(model.features(images), feats)


def test_predict_rejects_non_images(drn):
    with pytest.raises(ValueError, match=r"\[B, 3, H, W\]"):
        drn.predict(torch.zeros(1, 1, 32, 32))


def test_normalisation_constants(deeplab, upernet, drn):
    # One pixel: R = 1, G = -1, B = 0 in [-1, 1] -> (1, 0, 0.5) in [0, 1].
    pixel = torch.tensor([1.0, -1.0, 0.0]).view(1, 3, 1, 1)
    bgr_255 = torch.tensor([127.5, 0.0, 255.0])
    # kazuto1011 configs/cocostuff164k.yaml IMAGE.MEAN (R 122.675, G 116.669, B 104.008), BGR, no std.
    assert torch.allclose(deeplab.normalize(pixel).flatten(), bgr_255 - torch.tensor([104.008, 116.669, 122.675]))
    # CSAIL mit_semseg/dataset.py since PR #190: ImageNet statistics on RGB [0, 1].
    expected = (torch.tensor([1.0, 0.0, 0.5]) - torch.tensor([0.485, 0.456, 0.406])) / torch.tensor(
        [0.229, 0.224, 0.225])
    assert torch.allclose(upernet.normalize((pixel + 1) / 2).flatten(), expected)
    # ... and before it (baseline-* files): BGR 0..255 minus (102.9801, 115.9465, 122.7717).
    caffe = UperNet101Segmenter(normalization="caffe-bgr")
    assert torch.allclose(caffe.normalize((pixel + 1) / 2).flatten(),
                          bgr_255 - torch.tensor([102.9801, 115.9465, 122.7717]))
    # fyu/drn datasets/cityscapes/info.json.
    expected = (torch.tensor([1.0, 0.0, 0.5]) - torch.tensor([0.29010095242892997, 0.32808144844279574,
                                                              0.28696394422942517])) / torch.tensor(
        [0.1829540508368939, 0.18656561047509476, 0.18447508988480435])
    assert torch.allclose(drn.normalize(pixel).flatten(), expected)


def test_upernet_normalization_option_is_checked():
    with pytest.raises(ValueError, match="caffe-bgr"):
        UperNet101Segmenter(normalization="bgr")


def test_msc_fusion_is_the_pixelwise_max_of_the_scales():
    torch.manual_seed(0)
    base = nn.Sequential(nn.AvgPool2d(4), nn.Conv2d(3, 5, 3, padding=1))
    x = torch.randn(2, 3, 64, 48)
    full = base(x)
    others = [F.interpolate(base(F.interpolate(x, scale_factor=p, mode="bilinear", align_corners=False)),
                            size=full.shape[-2:], mode="bilinear", align_corners=False) for p in (0.5, 0.75)]
    fused = msc_max_logits(base, x, (0.5, 0.75))
    assert torch.equal(fused, torch.maximum(full, torch.maximum(*others)))
    assert not torch.equal(fused, full), "the smaller scales must contribute somewhere"
    assert torch.equal(msc_max_logits(base, x, ()), full)


@pytest.mark.slow
def test_deeplabv2_uses_msc_scales(deeplab):
    """The expectation is written here from kazuto1011's MSC.forward (eval mode), not with msc_max_logits:
    logits of the input at scale 1, and of the input bilinearly resized by 0.5 and 0.75 then resized back,
    fused by a pixel-wise max, then resized to the image (main.py test)."""
    images = torch.rand(1, 3, 25, 25, generator=torch.Generator().manual_seed(5)) * 2 - 1
    bgr = ((images + 1) / 2).flip(1) * 255.0 - torch.tensor([104.008, 116.669, 122.675]).view(1, 3, 1, 1)
    with torch.no_grad():
        full = deeplab.base(bgr)
        scaled = [F.interpolate(deeplab.base(F.interpolate(bgr, scale_factor=p, mode="bilinear",
                                                           align_corners=False)),
                                size=full.shape[-2:], mode="bilinear", align_corners=False) for p in (0.5, 0.75)]
        fused = torch.maximum(torch.maximum(full, scaled[0]), scaled[1])
        expected = F.interpolate(fused, size=(25, 25), mode="bilinear", align_corners=False)
        single = F.interpolate(full, size=(25, 25), mode="bilinear", align_corners=False)
        scores = deeplab.class_scores(images)
    assert deeplab.scales == (0.5, 0.75)
    # the same float32 operations on the same inputs, in the same order: equal to the bit
    assert torch.equal(scores, expected)
    assert not torch.allclose(scores, single), "the smaller scales must change the scores"
    assert torch.equal(scores.argmax(1), expected.argmax(1))


def test_upernet_eval_sizes_follow_the_csail_config():
    # ade20k-resnet101-upernet.yaml: imgSizes (300, 375, 450, 525, 600), imgMaxSize 1000, padding 32.
    assert eval_sizes(256, 256, (300, 375, 450, 525, 600)) == [(320, 320), (384, 384), (480, 480),
                                                               (544, 544), (608, 608)]
    # The long side is capped at 1000 before rounding up: 256x512 at short side 600 -> 500x1000.
    assert eval_sizes(256, 512, (600,)) == [(512, 1024)]
    assert eval_sizes(256, 256, ()) == [(256, 256)]


@pytest.mark.slow
def test_upernet_scores_average_softmax_over_scales(upernet):
    """CSAIL eval.py: for each test size, resize the image, segment, resize the logits to the image,
    softmax; the probabilities are averaged over the sizes. The expectation is built here step by step
    (ImageNet statistics written out) from the encoder and decoder; the scales must disagree somewhere."""
    images = torch.rand(1, 3, 40, 40, generator=torch.Generator().manual_seed(7)) * 2 - 1
    unit = (images + 1) / 2
    mean = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
    std = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
    assert eval_sizes(40, 40, upernet.short_sides) == [(32, 32), (64, 64)]  # 32, 48 -> multiples of 32
    per_size = []
    with torch.no_grad():
        for size in ((32, 32), (64, 64)):
            x = F.interpolate(unit, size=size, mode="bilinear", align_corners=False, antialias=True)
            logits = upernet.decoder(upernet.encoder((x - mean) / std))
            per_size.append(F.interpolate(logits, size=(40, 40), mode="bilinear", align_corners=False).softmax(1))
        probs = upernet.class_scores(images)
    expected = (per_size[0] + per_size[1]) / 2
    assert probs.shape == (1, 150, 40, 40)
    # identical float32 operations; halving is exact, so only the order of the two additions differs
    assert torch.allclose(probs, expected, rtol=0, atol=1e-7)
    # random weights give near-uniform probabilities (~1/150): the sizes differ by far more than round-off
    assert float((per_size[0] - per_size[1]).abs().max()) > 100 * 1e-7, "the two sizes must give different scores"
    assert torch.allclose(probs.sum(1), torch.ones(1, 40, 40), atol=1e-5)


def test_drn_up_is_the_original_bilinear_kernel(drn):
    original = torch.tensor(FIXTURE["drn_up_kernel_16x16"])
    assert torch.equal(bilinear_up_kernel(16), original)
    assert all(torch.equal(drn.up.weight[c, 0], original) for c in range(19))
    assert not drn.up.weight.requires_grad


def test_drn_full_input_size_option():
    # OASIS #18: 'full' feeds DRN 1024x2048 upsampled images, 'generated' the images as they are.
    images = torch.zeros(1, 3, 256, 512)
    assert DRND105Segmenter(input_size="full").normalize(images).shape == (1, 3, 1024, 2048)
    with pytest.raises(ValueError, match="OASIS #18"):
        DRND105Segmenter(input_size="upsampled")


# --- protocols and registration ---------------------------------------------------------------------------

def test_legacy_protocols_are_valid_and_registered():
    from benchmark.datasets import ade20k, cityscapes, coco_stuff

    protocols = {p.id: p for p in legacy_protocols()}
    assert set(protocols) == {"coco_stuff-spade-legacy", "ade20k-spade-legacy", "ade20k_outdoor-spade-legacy",
                              "cityscapes-spade-legacy"}
    assert len(LEGACY_PROTOCOLS) == 4
    for pid, protocol in protocols.items():
        assert PROTOCOLS.get(pid) == protocol
        assert protocol.segmenter.kind in segmenter_kinds()
        mapping = get_label_mapping(protocol.label_mapping)
        # what the mapping hands the segmenter: its own class count, or (identity, ade20k_150 as yielded)
        # the dataset's -- every case checked, none skipped
        dataset_classes = {"coco_stuff": len(coco_stuff.CLASS_NAMES), "ade20k": len(ade20k.CLASS_NAMES),
                           "ade20k_outdoor": len(ade20k.CLASS_NAMES), "cityscapes": len(cityscapes.LABELS)}
        source = dataset_classes[protocol.dataset]
        mapping.check(source)
        produced = mapping.num_classes if mapping.table is not None else source
        assert produced == segmenter_class(protocol.segmenter.kind).num_classes, pid
        assert protocol.fid_extractor == "inception-v3-compat" and protocol.reference_split == "val"
    assert protocols["cityscapes-spade-legacy"].resolution == (256, 512)
    assert protocols["cityscapes-spade-legacy"].segmenter.kwargs == {"input_size": "generated"}
    assert set(SEGMENTER_KINDS) <= set(segmenter_kinds())


@pytest.mark.slow
def test_build_segmenter_through_the_harness(tmp_path):
    path = tmp_path / "drn-d-105_ms_cityscapes.pth"
    torch.save(state_in_layout(FIXTURE["drn_d_105_cityscapes"]), path)
    spec = SegmenterSpec(kind="spade-drn-d-105", name="drn-d-105_ms_cityscapes", options=(("input_size", "full"),))
    segmenter = build_segmenter(spec, num_classes=19, checkpoint=path)
    assert isinstance(segmenter, DRND105Segmenter) and segmenter.input_size == "full"
    assert segmenter.describe()["checkpoint_sha256"] == sha256_file(path)
    with pytest.raises(ValueError, match="19 classes"):
        build_segmenter(spec, num_classes=35, checkpoint=path)
