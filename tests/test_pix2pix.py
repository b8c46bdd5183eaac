"""pix2pix: U-Net depth and dropout placement, the 54.4M unet_256, the 70x70 PatchGAN, the losses checked by
hand, the D-then-G order, inference modes, and parity with the official junyanz networks and training step.

The parity fixture (tests/fixtures/pix2pix_official_parity.json) holds outputs of the official
``UnetGenerator``/``NLayerDiscriminator`` and of two official ``optimize_parameters`` iterations, produced by
a script kept outside this repository; both sides use the deterministic weights of :func:`fill_weights`.
"""

from __future__ import annotations

import copy
import json
import math
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from benchmark.datasets.base import DataInfo
from benchmark.step import LocalStepContext
from methods.base import count_parameters
from methods.pix2pix import PatchDiscriminator, Pix2Pix, UNetGenerator, unet_depth
from tests.conftest import data_info, tiny_cfg, toy_batch

ROOT = Path(__file__).resolve().parent.parent
FIXTURE = ROOT / "tests" / "fixtures" / "pix2pix_official_parity.json"





class RecordingContext(LocalStepContext):
    """The lead's step context, recording the order of calls and the loss terms of each backward."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.calls: list[tuple[str, str]] = []
        self.terms: dict[str, dict[str, float]] = {}

    def backward(self, losses, optimizer):
        self.calls.append(("backward", optimizer))
        self.terms[optimizer] = {k: float(v.detach()) for k, v in losses.items()}
        return super().backward(losses, optimizer)

    def step(self, optimizer):
        self.calls.append(("step", optimizer))
        super().step(optimizer)


def make_ctx(method: Pix2Pix, cls=LocalStepContext):
    return cls(method.configure_optimizers("main"), {"netG": method.netG, "netD": method.netD})


# -- architecture ------------------------------------------------------------------------------------
@pytest.mark.parametrize(("size", "depth", "bottleneck"),
                         [((64, 64), 6, (1, 1)), ((128, 128), 7, (1, 1)), ((256, 256), 8, (1, 1)),
                          ((256, 512), 8, (1, 2))])
def test_unet_depth_follows_image_size(size, depth, bottleneck):
    method = Pix2Pix(tiny_cfg("pix2pix", model=dict(ngf=1, ndf=1)), data_info(size))
    assert method.netG.num_downs == unet_depth(size) == depth
    blocks = method.netG.blocks()
    assert len(blocks) == depth and blocks[0].kind == "outermost" and blocks[-1].kind == "innermost"
    seen = {}
    innermost_down = blocks[-1].model[1]
    innermost_down.register_forward_hook(lambda m, i, o: seen.update(shape=tuple(o.shape[2:])))
    method.eval()
    out = method.netG(torch.zeros(1, method.data.semantic_nc(False), *size))
    assert seen["shape"] == bottleneck
    assert out.shape == (1, 3, *size)


def test_unet_depth_rejects_indivisible_sizes():
    with pytest.raises(ValueError, match="num_downs"):
        unet_depth((96, 64))


@pytest.mark.parametrize(("num_downs", "dropped"), [(8, 3), (7, 2), (6, 1)])
def test_dropout_sits_in_the_intermediate_ngf8_decoder_blocks(num_downs, dropped):
    net = UNetGenerator(4, 3, num_downs, ngf=2, dropout=0.5)
    blocks = net.blocks()
    has_dropout = [any(isinstance(m, nn.Dropout) for m in b.model.children()) for b in blocks]
    # the blocks just outside the innermost one (the decoder's first layers after the bottleneck's own)
    assert has_dropout == [False] * (num_downs - 1 - dropped) + [True] * dropped + [False]
    for block, dropped_here in zip(blocks, has_dropout, strict=True):
        if dropped_here:
            assert isinstance(block.model[-1], nn.Dropout) and block.model[-1].p == 0.5
            assert block.model[1].out_channels == 16  # ngf * 8


def test_unet_256_has_54_4m_parameters():
    # the official unet_256 (3-channel input, ngf 64) prints "Total number of parameters : 54.414 M"
    assert count_parameters(UNetGenerator(3, 3, 8, ngf=64)) == 54_413_955
    assert count_parameters(PatchDiscriminator(6, ndf=64)) == 2_768_705


def receptive_field(net: nn.Sequential) -> int:
    rf = 1
    for m in reversed([m for m in net if isinstance(m, nn.Conv2d)]):
        rf = rf * m.stride[0] + (m.kernel_size[0] - m.stride[0])
    return rf


def test_patchgan_is_70x70_c64_c128_c256_c512_c1():
    d = PatchDiscriminator(6, ndf=64, n_layers=3)
    assert receptive_field(d.model) == 70
    convs = [m for m in d.model if isinstance(m, nn.Conv2d)]
    assert [(c.out_channels, c.stride[0], c.kernel_size[0], c.padding[0]) for c in convs] == \
        [(64, 2, 4, 1), (128, 2, 4, 1), (256, 2, 4, 1), (512, 1, 4, 1), (1, 1, 4, 1)]
    kinds = [type(m).__name__ for m in d.model]
    assert kinds == ["Conv2d", "LeakyReLU", "Conv2d", "BatchNorm2d", "LeakyReLU", "Conv2d", "BatchNorm2d",
                     "LeakyReLU", "Conv2d", "BatchNorm2d", "LeakyReLU", "Conv2d"]
    assert all(m.negative_slope == 0.2 for m in d.model if isinstance(m, nn.LeakyReLU))
    assert [c.bias is not None for c in convs] == [True, False, False, False, True]
    assert d(torch.zeros(1, 6, 256, 256)).shape == (1, 1, 30, 30)


def test_official_key_layout():
    keys = list(UNetGenerator(4, 3, 6, ngf=2).state_dict())
    assert keys[:3] == ["model.model.0.weight", "model.model.1.model.1.weight", "model.model.1.model.2.weight"]
    assert "model.model.3.bias" in keys  # the outermost up-convolution, the only generator conv with a bias
    assert "model.model.0.bias" not in keys


# -- losses and the update order ----------------------------------------------------------------------
@pytest.mark.slow
def test_losses_are_gan_plus_100_l1_and_d_loss_is_halved():
    torch.manual_seed(0)
    cfg = tiny_cfg("pix2pix", model=dict(dropout=0.0))
    cfg["loss"]["lambda_l1"] = 100.0  # the paper's weight (the tiny preset raises it)
    method = Pix2Pix(cfg, data_info())
    method.train()
    before = copy.deepcopy(method)
    batch = toy_batch()
    ctx = make_ctx(method, RecordingContext)
    logged = method.train_step(batch, ctx)

    cond = before._condition(batch)
    with torch.no_grad():
        fake = before.netG(cond)
        pred_fake = before.netD(torch.cat([cond, fake], 1))
        pred_real = before.netD(torch.cat([cond, batch["image"]], 1))
    # BCE with logits by hand: -log(1 - sigmoid(x)) = softplus(x), -log(sigmoid(x)) = softplus(-x)
    assert ctx.terms["D"]["D_fake"] == pytest.approx(0.5 * float(F.softplus(pred_fake).mean()), rel=1e-5)
    assert ctx.terms["D"]["D_real"] == pytest.approx(0.5 * float(F.softplus(-pred_real).mean()), rel=1e-5)
    assert logged["D_fake"] == pytest.approx(2 * ctx.terms["D"]["D_fake"], rel=1e-6)

    # the generator is judged by the discriminator *after* its update (D step first)
    with torch.no_grad():
        pred_g = method.netD(torch.cat([cond, fake], 1))
    assert ctx.terms["G"]["G_GAN"] == pytest.approx(float(F.softplus(-pred_g).mean()), rel=1e-5)
    l1 = float((fake - batch["image"]).abs().mean())
    assert ctx.terms["G"]["G_L1"] == pytest.approx(100 * l1, rel=1e-5)
    assert set(ctx.terms["G"]) == {"G_GAN", "G_L1"}


@pytest.mark.slow
def test_train_step_updates_d_then_g():
    torch.manual_seed(0)
    method = Pix2Pix(tiny_cfg("pix2pix"), data_info())
    method.train()
    g0 = [p.detach().clone() for p in method.netG.parameters()]
    d0 = [p.detach().clone() for p in method.netD.parameters()]
    ctx = make_ctx(method, RecordingContext)
    method.train_step(toy_batch(), ctx)
    assert ctx.calls == [("backward", "D"), ("step", "D"), ("backward", "G"), ("step", "G")]
    assert all(not torch.equal(a, b) for a, b in zip(g0, method.netG.parameters(), strict=True))
    assert any(not torch.equal(a, b) for a, b in zip(d0, method.netD.parameters(), strict=True))
    assert all(p.requires_grad and p.grad is None for p in method.netD.parameters())
    opt = ctx.optimizers["G"]
    assert opt.defaults["lr"] == 2e-4 and opt.defaults["betas"] == (0.5, 0.999)


# -- inference ---------------------------------------------------------------------------------------
@pytest.mark.slow
def test_paper_inference_uses_per_image_statistics_and_keeps_running_stats():
    torch.manual_seed(0)
    method = Pix2Pix(tiny_cfg("pix2pix", model=dict(dropout=0.0)), data_info())
    method.train_step(toy_batch(), make_ctx(method))  # non-trivial running statistics
    method.eval()
    buffers = {k: v.clone() for k, v in method.netG.state_dict().items()}
    batch = toy_batch(seed=1)
    both = method.generate(batch)
    first = method.generate({"label": batch["label"][:1]})
    assert torch.allclose(both[:1], first, atol=1e-6)  # independent of the rest of the batch
    assert all(torch.equal(v, method.netG.state_dict()[k]) for k, v in buffers.items())
    assert not method.netG.training and all(not m.training for m in method.netG.modules())
    assert both.abs().max() <= 1


@pytest.mark.slow
def test_paper_inference_keeps_dropout_and_eval_mode_is_deterministic():
    torch.manual_seed(0)
    batch = toy_batch(seed=1)
    paper = Pix2Pix(tiny_cfg("pix2pix"), data_info())
    paper.eval()
    assert not torch.equal(paper.generate(batch), paper.generate(batch))  # test-time dropout as noise
    evaluated = Pix2Pix(tiny_cfg("pix2pix", model=dict(inference="eval")), data_info())
    evaluated.eval()
    assert torch.equal(evaluated.generate(batch), evaluated.generate(batch))
    with pytest.raises(ValueError, match="no noise"):
        evaluated.generate(batch, z=torch.zeros(2, 8))


# -- parity with the official code ----------------------------------------------------------------------
def fill_weights(net: nn.Module) -> None:
    """Deterministic weights in sorted-key order (the same function made the fixture's official outputs)."""
    with torch.no_grad():
        for i, (k, v) in enumerate(sorted(net.state_dict().items())):
            if not v.is_floating_point():
                continue
            t = torch.sin(torch.arange(v.numel(), dtype=torch.float64) * 0.37 + i).view(v.shape)
            if k.endswith("running_var"):
                val = 1.0 + 0.5 * t * t
            elif k.endswith("running_mean"):
                val = 0.1 * t
            elif v.dim() == 1 and "weight" in k:
                val = 1.0 + 0.1 * t
            else:
                val = t * (1.0 / math.sqrt(v[0].numel() if v.dim() > 1 else 1))
            v.copy_(val.to(v.dtype))


def parity_inputs():
    g = torch.Generator().manual_seed(0)
    label = torch.randint(0, 4, (2, 64, 64), generator=g)
    image = torch.rand(2, 3, 64, 64, generator=g) * 2 - 1
    return label, image


def test_networks_match_the_official_outputs():
    """In float64 on both sides: the fixture's G/D outputs come from the official networks run in double,
    so the comparison does not depend on how a CPU orders float32 sums (float32 alone is 5e-6 off)."""
    ref = json.loads(FIXTURE.read_text())
    label, image = parity_inputs()
    onehot = F.one_hot(label, 4).permute(0, 3, 1, 2).double().contiguous()
    net_g, net_d = UNetGenerator(4, 3, 6, ngf=4, dropout=0.5), PatchDiscriminator(7, ndf=4, n_layers=3)
    fill_weights(net_g)
    fill_weights(net_d)
    net_g.double()
    net_d.double()
    for mode in ("train", "eval"):  # train: seeded dropout and batch statistics, as the official test.py
        net_g.train(mode == "train")
        net_d.train(mode == "train")
        torch.manual_seed(1)
        out = net_g(onehot)[:, :, ::8, ::8].flatten()
        # float64 through 12 (G) / 5 (D) layers of at most 512-term sums: rounding stays below 1e-12.
        assert torch.allclose(out, torch.tensor(ref[f"G_{mode}"], dtype=torch.float64), rtol=0, atol=1e-10), mode
        pred = net_d(torch.cat([onehot, image.double()], 1)).flatten()
        assert torch.allclose(pred, torch.tensor(ref[f"D_{mode}"], dtype=torch.float64), rtol=0, atol=1e-10), mode


@pytest.mark.slow
def test_two_training_iterations_match_the_official_optimize_parameters():
    """In float64 on both sides (see the fixture's "about"): in float32, Adam's first steps turn the
    summation-order noise of near-zero gradients into sign flips of lr-sized updates, CPU-dependent."""
    ref = json.loads(FIXTURE.read_text())
    label, image = parity_inputs()
    data = DataInfo(name="parity", num_classes=4, image_size=(64, 64))
    cfg = tiny_cfg("pix2pix", model=dict(ngf=4, ndf=4))
    cfg["loss"]["lambda_l1"] = 100.0  # the official default the fixture was recorded with
    method = Pix2Pix(cfg, data)
    fill_weights(method.netG)
    fill_weights(method.netD)
    method.double().train()
    ctx = make_ctx(method)
    losses = []
    for it in range(2):
        torch.manual_seed(10 + it)
        out = method.train_step({"label": label, "image": image.double()}, ctx)
        losses.append([out["D_fake"], out["D_real"], out["G_GAN"], out["G_L1"]])
    # float64 losses of O(1-100) and weight sums of O(1-10): rounding stays below 1e-12 relative.
    assert torch.allclose(torch.tensor(losses, dtype=torch.float64), torch.tensor(ref["losses"], dtype=torch.float64),
                          rtol=1e-10, atol=0)
    ours = {f"{net}.{k}": float(v.double().sum()) for net in ("netG", "netD")
            for k, v in getattr(method, net).state_dict().items() if v.is_floating_point()}
    assert ours.keys() == ref["param_sums"].keys()
    for key, value in ref["param_sums"].items():
        assert ours[key] == pytest.approx(value, rel=1e-10, abs=1e-10), key
