"""Adaptive-normalization hybrid (seed 000): layout of the generator, style-guided synthesis (style changes
appearance, never layout), one training step, and the paper preset at 256 px."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from benchmark.config import load_config
from benchmark.datasets.base import DataInfo
from benchmark.registry import METHODS
from benchmark.step import LocalStepContext
from methods.adanorm import AdaNorm, AdaNormHybrid, AdaNormResnetBlock
from methods.base import count_parameters
from methods.nn.blocks import SPADEResnetBlock
from tests.conftest import data_info, toy_batch

SIZE, CLASSES = (32, 32), 4   # the toy data of these tests


@pytest.fixture(scope="module")
def tiny_cfg():
    return load_config("adanorm", "synthetic", "tiny")


def test_registered_with_three_networks_and_multimodal():
    cls = METHODS.get("adanorm")
    assert cls is AdaNormHybrid
    assert cls.networks == ("netG", "netD", "netE") and cls.multimodal


def test_tiny_preset_is_the_paper_code_path_with_random_vgg(tiny_cfg):
    paper = load_config("adanorm", "synthetic", "paper")
    assert tiny_cfg["loss"]["vgg_weights"] == "random"
    for key in ("n_downsample", "core", "spectral_norm_G", "z_dim"):
        assert tiny_cfg["model"][key] == paper["model"][key]
    assert paper["model"]["norm_G"] == "syncbatch" and paper["model"]["ngf"] == 64
    assert tuple(paper["optimizer"]["betas"]) == (0.0, 0.999)
    assert (paper["optimizer"]["lr_G"], paper["optimizer"]["lr_D"]) == (1e-4, 4e-4)


def test_generator_layout_follows_the_design(tiny_cfg):
    method = AdaNormHybrid(tiny_cfg, data_info(SIZE, CLASSES))
    g = method.netG
    kinds = [type(b) for b in g.core]
    assert kinds == [AdaNormResnetBlock, SPADEResnetBlock] * 3
    ngf = tiny_cfg["model"]["ngf"]
    assert all(b.conv_0.in_channels == 4 * ngf for b in g.core)
    convs = [m for m in g.front.modules() if isinstance(m, nn.Conv2d)]
    assert [(c.kernel_size[0], c.stride[0], c.out_channels) for c in convs] == [(7, 1, ngf), (3, 2, 2 * ngf),
                                                                                  (3, 2, 4 * ngf)]
    assert [u.conv.out_channels for u in g.up] == [2 * ngf, ngf]
    # spectral norm on the trunk's convs, never inside the modulation networks
    assert hasattr(g.core[0].conv_0, "weight_orig") and hasattr(g.conv_img[1], "weight_orig")
    assert not hasattr(g.core[0].norm_0.fc, "weight_orig")


def test_adanorm_modulates_each_channel_by_a_linear_of_z():
    torch.manual_seed(0)
    layer = AdaNorm(5, 7).eval()
    x, z = torch.randn(2, 5, 6, 6), torch.randn(2, 7)
    gamma, beta = layer.fc(z).chunk(2, dim=1)
    x_hat = layer.param_free_norm(x)
    assert torch.allclose(layer(x, z), x_hat * (1 + gamma[..., None, None]) + beta[..., None, None])


class RecordingContext(LocalStepContext):
    """Records the calls and, at each step, which networks hold gradients."""

    def __init__(self, method, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.method = method
        self.calls: list[tuple[str, str, tuple[str, ...]]] = []

    def backward(self, losses, optimizer):
        self.calls.append(("backward", optimizer, tuple(losses)))
        return super().backward(losses, optimizer)

    def step(self, optimizer):
        with_grad = tuple(n for n in self.method.networks
                          if any(p.grad is not None for p in getattr(self.method, n).parameters()))
        self.calls.append(("step", optimizer, with_grad))
        super().step(optimizer)


@pytest.mark.slow
def test_one_train_step_updates_g_and_e_then_d(tiny_cfg):
    torch.manual_seed(0)
    method = AdaNormHybrid(tiny_cfg, data_info(SIZE, CLASSES))
    opts = method.configure_optimizers("main")
    ctx = RecordingContext(method, opts, {n: getattr(method, n) for n in method.networks})
    before = {n: [p.detach().clone() for p in getattr(method, n).parameters()] for n in method.networks}
    losses = method.train_step(toy_batch(SIZE, num_classes=CLASSES), ctx)
    assert set(losses) == {"G_GAN", "G_KLD", "G_feat", "G_VGG", "D_fake", "D_real"}
    assert ctx.calls == [("backward", "G", ("G_GAN", "G_KLD", "G_feat", "G_VGG")), ("step", "G", ("netG", "netE")),
                         ("backward", "D", ("D_fake", "D_real")), ("step", "D", ("netD",))]
    for name, params in before.items():
        net = getattr(method, name)
        still = [k for (k, p), b in zip(net.named_parameters(), params, strict=True) if torch.equal(p, b)]
        # D's output bias may stay: while every prediction lies inside the hinge margin, its gradient is
        # -1 (real) + 1 (fake) = 0.
        allowed = {k for k in still if name == "netD" and k.endswith("bias")}
        assert set(still) == allowed, f"{name}: {still} did not move"
    assert "random" in method.extra_info()["vgg_weights"]


@pytest.fixture(scope="module")
def styled_method(tiny_cfg):
    """A tiny model whose AdaNorm layers respond strongly to the style (trained ones do; at init the
    0.02-gain Linear keeps gamma, beta near 0)."""
    torch.manual_seed(0)
    method = AdaNormHybrid(tiny_cfg, data_info(SIZE, CLASSES))
    for m in method.netG.modules():
        if isinstance(m, AdaNorm):
            nn.init.normal_(m.fc.weight, std=0.3)
    for m in method.netE.modules():
        if isinstance(m, nn.Linear):
            nn.init.normal_(m.weight, std=0.3)
    # One forward in train mode gives BatchNorm running statistics from data, as training would.
    method.train()
    with torch.no_grad():
        batch = toy_batch(SIZE, num_classes=CLASSES, batch=4)
        method.netG(method.semantics(batch), torch.randn(4, method.z_dim))
    return method.eval()


def _first_adanorm_io(method, batch, style):
    """The input and output of the generator's first AdaNorm layer when generating with ``style``."""
    seen = {}
    norm = method.netG.core[0].norm_0
    handle = norm.register_forward_hook(lambda mod, args, out: seen.update(x=args[0], out=out))
    try:
        image = method.generate(batch, style=style)
    finally:
        handle.remove()
    return image, seen["x"], seen["out"]


@pytest.mark.slow
def test_style_changes_appearance_but_not_layout(styled_method):
    batch = toy_batch(SIZE, num_classes=CLASSES, batch=1, seed=1)
    g = torch.Generator().manual_seed(5)
    style_a = torch.rand(1, 3, 32, 32, generator=g) * 2 - 1
    style_b = -style_a.flip(-1)
    image_a, x_a, out_a = _first_adanorm_io(styled_method, batch, style_a)
    image_b, x_b, out_b = _first_adanorm_io(styled_method, batch, style_b)
    again, _, _ = _first_adanorm_io(styled_method, batch, style_a)
    # Different styles give different images; one style gives one image (the encoder's mean, no sampling).
    assert (image_a - image_b).abs().mean() > 1e-2
    assert torch.equal(image_a, again)
    # What reaches the semantic core is the label's alone...
    assert torch.equal(x_a, x_b)
    # ...and the style acts on it channel by channel: out_b = a_c * out_a + b_c for every channel c, an exact
    # per-channel affine map (a spatial style signal would leave a residual), so nothing moves in space.
    fa, fb = out_a[0].flatten(1), out_b[0].flatten(1)
    design = torch.stack([fa, torch.ones_like(fa)], dim=-1)                  # [C, HW, 2]
    coef = torch.linalg.lstsq(design, fb.unsqueeze(-1)).solution             # [C, 2, 1]
    residual = (design @ coef).squeeze(-1) - fb
    assert residual.abs().max() < 1e-4 * fb.abs().max()
    assert (coef[:, 0, 0] - 1).abs().max() > 1e-2                             # the style did rescale channels
    # The label still decides the layout under a fixed style.
    other = dict(batch, label=torch.roll(batch["label"], 8, dims=-1))
    assert (styled_method.generate(other, style=style_a) - image_a).abs().mean() > 1e-2


@pytest.mark.slow
def test_style_image_is_encoded_to_its_mean_and_broadcast(styled_method):
    batch = toy_batch(SIZE, num_classes=CLASSES, batch=2, seed=2)
    style = torch.rand(1, 3, 32, 32) * 2 - 1
    mu, _ = styled_method.encode(style)
    by_style = styled_method.generate(batch, style=style)
    assert torch.equal(by_style, styled_method.generate(batch, z=mu.expand(2, -1)))
    single = styled_method.generate({k: v[1:] for k, v in batch.items()}, style=style)
    assert torch.allclose(by_style[1:], single, atol=1e-6)
    with pytest.raises(ValueError):
        styled_method.generate(batch, z=mu, style=style)


@pytest.mark.slow
def test_random_z_gives_different_images(styled_method):
    batch = toy_batch(SIZE, num_classes=CLASSES, batch=1, seed=3)
    assert (styled_method.generate(batch) - styled_method.generate(batch)).abs().mean() > 1e-3


def test_paper_preset_builds_at_256_px():
    cfg = load_config("adanorm", "ade20k", "paper")
    data = DataInfo(name="ade20k", num_classes=150, ignore_index=255, contain_dontcare_label=True,
                    image_size=(256, 256))
    method = AdaNormHybrid(cfg, data)
    counts = {n: count_parameters(getattr(method, n)) for n in method.networks}
    print("adanorm paper preset parameters (ADE20K, 256 px):", counts)
    assert counts == {"netG": 14_468_291, "netD": 5_836_930, "netE": 10_463_424}
    # Shapes at 256 px without computing anything (meta tensors).
    method = method.to("meta")
    sem = torch.zeros(1, method.semantic_nc, 256, 256, device="meta")
    assert method.netG(sem, torch.zeros(1, 256, device="meta")).shape == (1, 3, 256, 256)
    assert method.netG.core[0].conv_0.in_channels == 256
    assert isinstance(method.netG.core[0].norm_0.param_free_norm, nn.SyncBatchNorm)


def test_optimizers_are_adam_ttur_with_e_in_g(tiny_cfg):
    method = AdaNormHybrid(tiny_cfg, data_info(SIZE, CLASSES))
    opts = method.configure_optimizers("main")
    assert {type(o) for o in opts.values()} == {torch.optim.Adam}
    g_params = {id(p) for group in opts["G"].param_groups for p in group["params"]}
    assert all(id(p) in g_params for p in method.netE.parameters())
    assert opts["G"].param_groups[0]["lr"] == 1e-4 and opts["D"].param_groups[0]["lr"] == 4e-4
    assert opts["G"].param_groups[0]["betas"] == (0.0, 0.999)


@pytest.mark.slow
def test_decoder_and_padding_options():
    from methods.adanorm import AdaNormGenerator, SPADEResnetUpsample

    torch.manual_seed(0)
    g = AdaNormGenerator(5, ngf=4, z_dim=8, up_block="spade_resblock", padding_mode="reflect",
                         spade_hidden=8, norm="instance")
    assert all(isinstance(u, SPADEResnetUpsample) for u in g.up)
    # each upsampling halves the width through a learned shortcut, as SPADE's up_0..up_3
    assert [(u.block.conv_0.in_channels, u.block.conv_1.out_channels, u.block.learned_shortcut) for u in g.up] \
        == [(16, 8, True), (8, 4, True)]
    convs3 = [m for m in g.modules() if isinstance(m, nn.Conv2d) and m.kernel_size == (3, 3)
              and m.padding == (1, 1) and m.in_channels != 5]
    trunk = [*(m for m in g.front.modules() if isinstance(m, nn.Conv2d) and m.kernel_size == (3, 3)),
             *(b.conv_0 for b in g.core), *(b.conv_1 for b in g.core),
             *(u.block.conv_0 for u in g.up), *(u.block.conv_1 for u in g.up)]
    assert len(trunk) == 2 + 12 + 4 and all(c.padding_mode == "reflect" for c in trunk)
    # the modulation networks inside SPADE keep zero padding (as SPADE's code)
    assert any(c.padding_mode == "zeros" for c in convs3)
    seg = torch.zeros(2, 5, 16, 16)
    seg[:, 0] = 1
    with torch.no_grad():
        out = g(seg, torch.randn(2, 8))
    assert out.shape == (2, 3, 16, 16) and float(out.abs().max()) <= 1
    # zero padding vs reflect: same parameters, so the same state-dict keys
    plain = AdaNormGenerator(5, ngf=4, z_dim=8, up_block="spade_resblock", spade_hidden=8, norm="instance")
    assert plain.state_dict().keys() == g.state_dict().keys()
    with pytest.raises(ValueError, match="model.up_block 'deconv'"):
        AdaNormGenerator(5, ngf=4, z_dim=8, up_block="deconv")
    with pytest.raises(ValueError, match="model.padding_mode 'circular'"):
        AdaNormGenerator(5, ngf=4, z_dim=8, padding_mode="circular")


@pytest.mark.parametrize("up_block", ["conv", "spade_resblock"])
def test_upsampling_mode_and_output_kernel_options(up_block):
    from methods.adanorm import AdaNormGenerator

    torch.manual_seed(0)
    g = AdaNormGenerator(5, ngf=4, z_dim=8, up_block=up_block, spade_hidden=8, norm="instance",
                         upsample_mode="bilinear", output_kernel=3).eval()
    seg = torch.zeros(2, 5, 16, 16)
    seg[:, 0, :8], seg[:, 1, 8:] = 1, 1
    seen: dict[str, torch.Tensor] = {}
    first = g.up[0].conv if up_block == "conv" else g.up[0].block
    g.core[-1].register_forward_hook(lambda m, i, o: seen.__setitem__("core", o))
    first.register_forward_pre_hook(lambda m, i: seen.__setitem__("up", i[0]))
    with torch.no_grad():
        out = g(seg, torch.randn(2, 8))
    assert out.shape == (2, 3, 16, 16)
    # the decoder's x2 upsampling is bilinear with half-pixel centres, not nearest
    expected = F.interpolate(seen["core"], scale_factor=2, mode="bilinear", align_corners=False)
    torch.testing.assert_close(seen["up"], expected, rtol=0, atol=0)
    assert not torch.equal(seen["up"], F.interpolate(seen["core"], scale_factor=2, mode="nearest"))
    # a 3x3 output conv (SPADE's conv_img) behind a 1-pixel reflection pad
    pad, conv = g.conv_img[0], g.conv_img[1]
    assert pad.padding == (1, 1, 1, 1) and conv.kernel_size == (3, 3)
    default = AdaNormGenerator(5, ngf=4, z_dim=8, up_block=up_block, spade_hidden=8, norm="instance")
    assert default.conv_img[1].kernel_size == (7, 7) and default.state_dict().keys() == g.state_dict().keys()
    with pytest.raises(ValueError, match="model.upsample_mode 'bicubic'"):
        AdaNormGenerator(5, ngf=4, z_dim=8, upsample_mode="bicubic")
    with pytest.raises(ValueError, match="model.output_kernel must be 3, 5 or 7, got 4"):
        AdaNormGenerator(5, ngf=4, z_dim=8, output_kernel=4)


@pytest.mark.parametrize("front_norm, norm_type", [("instance", nn.InstanceNorm2d), ("batch", nn.BatchNorm2d),
                                                   ("none", None)])
def test_front_norm_option(front_norm, norm_type):
    from methods.adanorm import AdaNormGenerator

    g = AdaNormGenerator(5, ngf=4, z_dim=8, spade_hidden=8, norm="instance", front_norm=front_norm)
    convs = [m for m in g.front.modules() if isinstance(m, nn.Conv2d)]
    norms = [m for m in g.front.modules() if isinstance(m, (nn.InstanceNorm2d, nn.BatchNorm2d))]
    assert len(convs) == 3
    if norm_type is None:
        # the convs alone, with their biases (nothing normalises a constant shift away)
        assert not norms and all(c.bias is not None for c in convs)
    else:
        assert len(norms) == 3 and all(type(n) is norm_type for n in norms)
        assert all(c.bias is None for c in convs)
    with torch.no_grad():
        assert g(torch.rand(2, 5, 16, 16), torch.randn(2, 8)).shape == (2, 3, 16, 16)
    with pytest.raises(ValueError, match="model.front_norm 'group'"):
        AdaNormGenerator(5, ngf=4, z_dim=8, front_norm="group")
