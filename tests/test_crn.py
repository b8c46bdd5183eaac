"""CRN: the cascade's sizes and widths, TF layer-norm semantics, the forward pass against reference
formulas of the official TF ops, the output layout, the masked per-class loss and the diversity loss on
hand-made cases, parity with the official TensorFlow graph, one training step and the output selection of
generate.

The parity fixture (tests/fixtures/crn_official_parity.json) holds outputs of the official demo_256p.py graph
(``recursive_generator``, ``build_vgg19``, ``compute_error``, ``G_loss``) run in TensorFlow at 16x32 with
narrow modules, by a script kept outside this repository; both sides use the weights of
:func:`fill_weights`. One deliberate change on the official side: its VGG input is the ImageNet-normalised
image, as here (the official MatConvNet VGG took mean-subtracted [0, 255] images; see methods/crn.py).
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from benchmark.step import LocalStepContext
from methods.crn import (
    CRN,
    VGG_LAYERS,
    CascadedRefinementNetwork,
    RefinementModule,
    cascade_sizes,
    diversity_loss,
    masked_errors,
)
from tests.conftest import data_info, tiny_cfg, toy_batch

ROOT = Path(__file__).resolve().parent.parent
FIXTURE = ROOT / "tests" / "fixtures" / "crn_official_parity.json"





# -- architecture ------------------------------------------------------------------------------------
def test_cascade_sizes_and_official_widths():
    sizes = cascade_sizes((256, 512))
    assert sizes == [(4, 8), (8, 16), (16, 32), (32, 64), (64, 128), (128, 256), (256, 512)]
    assert cascade_sizes((64, 64)) == [(4, 4), (8, 8), (16, 16), (32, 32), (64, 64)]
    with pytest.raises(ValueError, match="start_height"):
        cascade_sizes((96, 64))
    net = CascadedRefinementNetwork(20, (256, 512), num_outputs=9)
    assert net.widths == [1024] * 5 + [512] * 2
    assert [m.conv1.in_channels for m in net.refine] == [20] + [1044] * 5 + [532]
    assert net.head.out_channels == 27 and net.head.kernel_size == (1, 1)
    assert CascadedRefinementNetwork(1, (1024, 2048), 1, start_height=512).widths == [128, 32]


def test_tiny_preset_keeps_the_code_path():
    method = CRN(tiny_cfg("crn"), data_info((64, 128)))
    assert method.netG.sizes[0] == (4, 8) and method.netG.sizes[-1] == (64, 128)
    assert method.num_outputs == 1 and method.cfg["loss"]["vgg_weights"] == "random"


def tf_layer_norm(x: np.ndarray, gamma: np.ndarray, beta: np.ndarray, eps: float) -> np.ndarray:
    """TF slim.layer_norm on NHWC: moments over (H, W, C) per sample, per-channel gain and shift."""
    mean = x.mean(axis=(1, 2, 3), keepdims=True)
    var = ((x - mean) ** 2).mean(axis=(1, 2, 3), keepdims=True)
    return (x - mean) / np.sqrt(var + eps) * gamma + beta


def test_group_norm_is_tf_layer_norm():
    module = RefinementModule(4, 6)
    norm = module.norm1
    assert isinstance(norm, nn.GroupNorm) and norm.num_groups == 1 and norm.eps == 1e-12
    torch.manual_seed(0)
    with torch.no_grad():
        norm.weight.normal_()
        norm.bias.normal_()
    x = torch.randn(2, 6, 5, 7) * 3 + 1
    ref = tf_layer_norm(x.permute(0, 2, 3, 1).double().numpy(), norm.weight.detach().double().numpy(),
                        norm.bias.detach().double().numpy(), 1e-12)
    out = norm(x).detach().permute(0, 2, 3, 1).double().numpy()
    np.testing.assert_allclose(out, ref, atol=1e-5)


def tf_resize_bilinear_align_corners(x: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """tf.image.resize_bilinear(align_corners=True) on NCHW: corners map onto corners."""
    _, _, h, w = x.shape
    oh, ow = size
    ys = np.arange(oh) * ((h - 1) / (oh - 1) if oh > 1 else 0.0)
    xs = np.arange(ow) * ((w - 1) / (ow - 1) if ow > 1 else 0.0)
    y0, x0 = np.floor(ys).astype(int), np.floor(xs).astype(int)
    y1, x1 = np.minimum(y0 + 1, h - 1), np.minimum(x0 + 1, w - 1)
    wy, wx = (ys - y0)[:, None], (xs - x0)[None, :]
    top = x[:, :, y0][:, :, :, x0] * (1 - wx) + x[:, :, y0][:, :, :, x1] * wx
    bottom = x[:, :, y1][:, :, :, x0] * (1 - wx) + x[:, :, y1][:, :, :, x1] * wx
    return top * (1 - wy) + bottom * wy


def tf_resize_area(x: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """tf.image.resize_area for integer factors: the mean of each block."""
    b, c, h, w = x.shape
    fh, fw = h // size[0], w // size[1]
    return x.reshape(b, c, size[0], fh, size[1], fw).mean(axis=(3, 5))


def test_forward_matches_the_official_ops():
    torch.manual_seed(0)
    net = CascadedRefinementNetwork(3, (16, 32), num_outputs=2, widths=[5, 4, 3])
    with torch.no_grad():
        for p in net.parameters():
            p.normal_(0, 0.5)
    label = torch.nn.functional.one_hot(torch.randint(0, 3, (2, 16, 32)), 3).permute(0, 3, 1, 2).double()
    net = net.double()

    def module(m: RefinementModule, x: np.ndarray) -> np.ndarray:
        for conv, norm in ((m.conv1, m.norm1), (m.conv2, m.norm2)):
            y = torch.nn.functional.conv2d(torch.from_numpy(x), conv.weight, padding=1).detach().numpy()
            y = tf_layer_norm(y.transpose(0, 2, 3, 1), norm.weight.detach().numpy(), norm.bias.detach().numpy(),
                              1e-12).transpose(0, 3, 1, 2)
            x = np.maximum(0.2 * y, y)  # the official lrelu
        return x

    lab = label.numpy()
    x = module(net.refine[0], tf_resize_area(lab, (4, 8)))
    for m, size in zip(net.refine[1:], [(8, 16), (16, 32)], strict=True):
        up = tf_resize_bilinear_align_corners(x, size)
        x = module(m, np.concatenate([up, tf_resize_area(lab, size)], axis=1))
    head = torch.nn.functional.conv2d(torch.from_numpy(x), net.head.weight, net.head.bias).detach().numpy()
    # the official transpose/split: image j's colour c is head channel c * k + j
    ref = np.stack([head[:, [c * 2 + j for c in range(3)]] for j in range(2)], axis=1)
    np.testing.assert_allclose(net(label).detach().numpy(), ref, atol=1e-9)


def test_output_layout_follows_the_official_split():
    net = CascadedRefinementNetwork(2, (8, 8), num_outputs=4, widths=[3, 3])
    with torch.no_grad():
        net.head.weight.zero_()
        net.head.bias.copy_(torch.arange(12.0))
    out = net(torch.ones(1, 2, 8, 8))
    assert out.shape == (1, 4, 3, 8, 8)
    for j in range(4):
        for c in range(3):
            assert torch.all(out[0, j, c] == c * 4 + j)


# -- losses ----------------------------------------------------------------------------------------------
def test_diversity_loss_min_and_mean_over_outputs_per_class():
    content = torch.tensor([[[1.0, 5.0], [3.0, 2.0], [4.0, 9.0]]], requires_grad=True)  # [B=1, k=3, C=2]
    loss = diversity_loss(content)
    # classes: min_k = 1 (output 0) and 2 (output 1); mean_k = 8/3 and 16/3
    assert loss.item() == pytest.approx(0.999 * (1 + 2) + 0.001 * (8 / 3 + 16 / 3))
    loss.backward()
    expected = torch.full((1, 3, 2), 0.001 / 3)
    expected[0, 0, 0] += 0.999
    expected[0, 1, 1] += 0.999
    assert torch.allclose(content.grad, expected)
    batch = torch.cat([content.detach(), content.detach() * 2])
    assert diversity_loss(batch).item() == pytest.approx(1.5 * loss.item())


def test_errors_are_masked_per_class():
    # class 0 on the left half, class 1 on the right; output 0 is right on the left half and off by 1 on
    # the right; output 1 is off by 2 on the left and right on the right.
    label = torch.zeros(1, 2, 4, 4)
    label[:, 0, :, :2] = 1
    label[:, 1, :, 2:] = 1
    real = torch.zeros(1, 3, 4, 4)
    fake = torch.zeros(1, 2, 3, 4, 4)
    fake[0, 0, :, :, 2:] = 1
    fake[0, 1, :, :, :2] = 2
    err = masked_errors(fake, real, label)
    assert torch.allclose(err, torch.tensor([[[0.0, 0.5], [1.0, 0.0]]]))
    # each class is charged to the output that renders it best: the min terms vanish, the mean terms stay
    assert diversity_loss(err).item() == pytest.approx(0.001 * ((0.0 + 1.0) / 2 + (0.5 + 0.0) / 2))


def test_masks_are_area_resized_to_the_feature_size():
    label = torch.zeros(1, 2, 4, 4)
    label[:, 0, :, 0] = 1  # class 0 only in column 0
    label[:, 1, :, 1:] = 1
    feat_real = torch.zeros(1, 1, 2, 2)
    feat_fake = torch.tensor([[[[4.0, 8.0], [4.0, 8.0]]]]).unsqueeze(1)  # [B=1, k=1, C_f=1, 2, 2]
    err = masked_errors(feat_fake, feat_real, label)
    # at 2x2, class 0 covers half of the left cells and class 1 the rest
    assert torch.allclose(err, torch.tensor([[[(0.5 * 4 * 2) / 4, (0.5 * 4 * 2 + 8 * 2) / 4]]]))


@pytest.mark.slow
def test_pixel_term_is_in_official_0_255_units():
    torch.manual_seed(0)
    cfg = tiny_cfg("crn")
    cfg["loss"]["layer_weights"] = (1.0, 0, 0, 0, 0, 0)
    method = CRN(cfg, data_info())
    batch = toy_batch()
    label = method.label_map(batch)
    fake = torch.rand(2, 3, 3, 64, 64) * 2 - 1
    content, terms = method.content_loss(fake, batch["image"], label)
    # the classes (with don't care) partition the image: the per-class errors add up to the mean error
    per_output = 127.5 * (fake - batch["image"].unsqueeze(1)).abs().mean(dim=(2, 3, 4))
    assert torch.allclose(content.sum(2), per_output, rtol=1e-5)
    assert terms["relu5_2"] == 0 and terms["pixel"] == pytest.approx(per_output.mean().item(), rel=1e-5)


def test_vgg_is_post_relu_with_average_pooling():
    method = CRN(tiny_cfg("crn"), data_info())
    vgg = method._feature_net(torch.device("cpu"))
    assert vgg.layers == VGG_LAYERS
    assert not any(isinstance(m, nn.MaxPool2d) for m in vgg.features)
    assert sum(isinstance(m, nn.AvgPool2d) for m in vgg.features) == 4
    feats = vgg(torch.rand(1, 3, 32, 32) * 2 - 1)
    assert all(f.min() >= 0 for f in feats)
    assert [f.shape[-1] for f in feats] == [32, 16, 8, 4, 2]
    assert "random" in method.extra_info()["vgg_weights"]


# -- training and generation -----------------------------------------------------------------------------
@pytest.mark.slow
def test_train_step_updates_the_generator():
    torch.manual_seed(0)
    method = CRN(tiny_cfg("crn"), data_info())
    ctx = LocalStepContext(method.configure_optimizers("main"), {"netG": method.netG})
    assert ctx.optimizers["G"].defaults["lr"] == 1e-3    # the tiny preset's rate; the paper preset keeps TF's 1e-4
    before = [p.detach().clone() for p in method.netG.parameters()]
    logged = method.train_step(toy_batch(), ctx)
    assert all(not torch.equal(a, b) for a, b in zip(before, method.netG.parameters(), strict=True))
    assert set(logged) == {"G_content", "G_pixel"} | {f"G_{n}" for n in VGG_LAYERS}
    assert logged["G_content"] > 0
    # the frozen VGG is neither trained nor saved with the generator's weights
    assert not list(method.vgg.parameters())
    assert not any(k.startswith("vgg") for k in method.state_dict())


@pytest.mark.slow
def test_generate_selects_outputs():
    torch.manual_seed(0)
    method = CRN(tiny_cfg("crn", model=dict(num_outputs=3)), data_info())
    method.eval()
    batch = toy_batch()
    every = method.generate_all(batch)
    assert every.shape == (2, 3, 3, 64, 64) and every.abs().max() <= 1
    assert torch.equal(method.generate(batch), every[:, 0])
    assert torch.equal(method.generate(batch, z=torch.tensor([2, 1])), every[[0, 1], [2, 1]])
    assert torch.equal(method.generate(batch, z=torch.tensor(1)), every[:, 1])
    assert torch.equal(method.generate_samples(batch, 2), every[:, :2])
    with pytest.raises(ValueError, match="num-samples"):
        method.generate_samples(batch, 4)
    with pytest.raises(ValueError, match="integer"):
        method.generate(batch, z=torch.randn(2, 8))
    with pytest.raises(ValueError, match="out of range"):
        method.generate(batch, z=torch.tensor([0, 3]))
    assert CRN.multimodal


# -- parity with the official TensorFlow code --------------------------------------------------------------
def fill_weights(named) -> None:
    """Deterministic weights in sorted-name order (the same function made the fixture's official outputs)."""
    with torch.no_grad():
        for i, (k, v) in enumerate(sorted(named, key=lambda kv: kv[0])):
            t = torch.sin(torch.arange(v.numel(), dtype=torch.float64) * 0.37 + i).view(v.shape)
            if v.dim() == 1 and "norm" in k and k.endswith("weight"):
                val = 1.0 + 0.1 * t
            elif v.dim() == 1:
                val = 0.1 * t
            else:
                val = t / math.sqrt(v[0].numel())
            v.copy_(val.to(v.dtype))


@pytest.mark.slow
def test_generator_and_loss_match_the_official_tensorflow_graph():
    ref = json.loads(FIXTURE.read_text())
    cfg = tiny_cfg("crn", model=dict(widths=(8, 6, 5), num_outputs=3))  # the fixture's k (tiny: k = 1)
    cfg["loss"]["layer_weights"] = (1.0, 1 / 1.6, 1 / 2.3, 1 / 1.8, 1 / 2.8, 10 / 0.8)
    method = CRN(cfg, data_info((16, 32)))
    fill_weights(method.netG.named_parameters())
    vgg = method._feature_net(torch.device("cpu"))
    fill_weights([(k, v) for k, v in vgg.named_buffers() if k.startswith("features.")])
    g = torch.Generator().manual_seed(0)
    label = torch.randint(0, 3, (1, 16, 32), generator=g)
    label[:, :3, :5] = 255
    image = torch.rand(1, 3, 16, 32, generator=g) * 2 - 1
    onehot = method.label_map({"label": label})
    with torch.no_grad():
        out = method.netG(onehot)
        content, _ = method.content_loss(out, image, onehot)
    assert torch.allclose(out[..., ::3, ::3].flatten(), torch.tensor(ref["generator"]), atol=1e-5)
    assert torch.allclose(content.flatten(), torch.tensor(ref["content_loss"]), rtol=1e-5)
    assert diversity_loss(content).item() == pytest.approx(ref["G_loss"], rel=1e-5)
