"""The shared building blocks (methods/nn): SPADE norm, residual and encoder blocks, discriminators, GAN /
feature-matching / KL losses, VGG19 features and loss, initialisation. Formulas are checked on hand-made
tensors; layouts against the official NVlabs/SPADE key lists in tests/fixtures."""

from __future__ import annotations

import math
import urllib.error

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from methods.nn.blocks import ConvEncoder, SPADEResnetBlock, conv_norm
from methods.nn.discriminators import MultiscaleDiscriminator, NLayerDiscriminator
from methods.nn.init import init_weights
from methods.nn.losses import GANLoss, feature_matching_loss, kl_divergence
from methods.nn.norms import SPADE, make_param_free_norm
from methods.nn.perceptual import (
    SPADE_LAYER_WEIGHTS,
    SPADE_LAYERS,
    VGG19_LAYERS,
    VGG19Features,
    VGGLoss,
    WeightsUnavailable,
)
from tests.spade_reference import key_list


def layout(module: nn.Module) -> list[tuple[str, tuple[int, ...]]]:
    return [(k, tuple(v.shape)) for k, v in module.state_dict().items()]


# -- SPADE normalization ------------------------------------------------------------------------------------

def test_spade_norm_is_normalized_times_one_plus_gamma_plus_beta():
    torch.manual_seed(0)
    norm = SPADE(4, 3, "instance", nhidden=8)
    x = torch.randn(2, 4, 8, 8) * 3 + 1
    seg = torch.rand(2, 3, 8, 8)
    with torch.no_grad():
        actv = F.relu(F.conv2d(seg, norm.mlp_shared[0].weight, norm.mlp_shared[0].bias, padding=1))
        gamma = F.conv2d(actv, norm.mlp_gamma.weight, norm.mlp_gamma.bias, padding=1)
        beta = F.conv2d(actv, norm.mlp_beta.weight, norm.mlp_beta.bias, padding=1)
        assert torch.allclose(norm(x, seg), F.instance_norm(x) * (1 + gamma) + beta, atol=1e-5)
        for conv in (norm.mlp_gamma, norm.mlp_beta):
            nn.init.zeros_(conv.weight)
            nn.init.zeros_(conv.bias)
        assert torch.allclose(norm(x, seg), F.instance_norm(x), atol=1e-6)  # gamma = 0 is the identity scale


def test_spade_resizes_the_segmap_nearest_and_modulates_per_region():
    torch.manual_seed(0)
    norm = SPADE(2, 2, "batch", nhidden=4).eval()
    x = torch.zeros(1, 2, 4, 4)  # eval BatchNorm of zeros is zero: the output is beta alone
    seg = torch.zeros(1, 2, 16, 16)
    seg[:, 0, :, :8] = 1
    seg[:, 1, :, 8:] = 1
    with torch.no_grad():
        out = norm(x, seg)
        small = F.interpolate(seg, size=(4, 4), mode="nearest")
        assert torch.equal(out, norm.mlp_beta(norm.mlp_shared(small)))
    assert not torch.allclose(out[..., 1, 0], out[..., 1, 3])  # left and right classes differ


@pytest.mark.parametrize(("kind", "cls"), [("batch", nn.BatchNorm2d), ("syncbatch", nn.SyncBatchNorm),
                                           ("instance", nn.InstanceNorm2d)])
def test_param_free_norms_have_no_affine_parameters(kind, cls):
    norm = make_param_free_norm(kind, 5)
    assert isinstance(norm, cls) and not list(norm.parameters())


def test_unknown_param_free_norm_is_refused():
    with pytest.raises(ValueError, match="syncbatch"):
        make_param_free_norm("group", 4)


# -- residual block and encoder -----------------------------------------------------------------------------

@pytest.mark.parametrize(("fin", "fout", "learned"), [(8, 8, False), (8, 4, True), (4, 8, True)])
def test_spade_resblock_learns_its_shortcut_only_when_widths_differ(fin, fout, learned):
    block = SPADEResnetBlock(fin, fout, semantic_nc=3, norm="instance")
    assert block.learned_shortcut == learned
    assert hasattr(block, "conv_s") == learned and hasattr(block, "norm_s") == learned
    assert block.conv_0.weight_orig.shape[0] == min(fin, fout)  # fmiddle
    if learned:
        assert block.conv_s.bias is None and block.conv_s.weight_orig.shape[2:] == (1, 1)
    out = block(torch.randn(2, fin, 8, 8), torch.rand(2, 3, 16, 16))
    assert out.shape == (2, fout, 8, 8)


def test_spade_resblock_identity_shortcut_adds_the_input():
    block = SPADEResnetBlock(4, 4, semantic_nc=3, norm="instance", spectral_norm=False)
    with torch.no_grad():
        nn.init.zeros_(block.conv_1.weight)
        nn.init.zeros_(block.conv_1.bias)
    x = torch.randn(1, 4, 8, 8)
    assert torch.equal(block(x, torch.rand(1, 3, 8, 8)), x)


def test_spectral_norm_wraps_only_the_residual_convs():
    block = SPADEResnetBlock(8, 4, semantic_nc=3)
    wrapped = {name for name, m in block.named_modules() if hasattr(m, "weight_orig")}
    assert wrapped == {"conv_0", "conv_1", "conv_s"}
    plain = SPADEResnetBlock(8, 4, semantic_nc=3, spectral_norm=False)
    assert not any(hasattr(m, "weight_orig") for m in plain.modules())


def test_conv_encoder_matches_the_official_layout_and_returns_mu_logvar():
    enc = ConvEncoder()
    assert layout(enc) == key_list("spade_E_keys.txt")
    small = ConvEncoder(ngf=4, crop_size=256, z_dim=16)
    mu, logvar = small(torch.randn(2, 3, 100, 60))  # any input size: resized to 256
    assert mu.shape == logvar.shape == (2, 16)


def test_conv_encoder_below_256_uses_five_layers_on_a_128_input():
    enc = ConvEncoder(ngf=4, crop_size=64, z_dim=8)
    assert not hasattr(enc, "layer6") and enc.input_size == 128
    mu, _ = enc(torch.randn(3, 3, 64, 64))
    assert mu.shape == (3, 8)


def test_conv_norm_drops_the_bias_only_before_a_norm():
    with_norm = conv_norm(3, 8, 4, 2, 2, "instance", spectral_norm=True)
    assert with_norm[0].bias is None and isinstance(with_norm[1], nn.InstanceNorm2d)
    alone = conv_norm(3, 8, 4, 2, 2, "none", spectral_norm=False)
    assert isinstance(alone, nn.Conv2d) and alone.bias is not None


# -- discriminators -----------------------------------------------------------------------------------------

def test_multiscale_discriminator_matches_the_official_coco_layout():
    assert layout(MultiscaleDiscriminator(187)) == key_list("spade_D_keys_coco.txt")


def test_spade_discriminator_features_and_strides():
    disc = NLayerDiscriminator(5, ndf=4, n_layers=4)
    feats = disc(torch.randn(2, 5, 64, 64))
    # k4 p2: stride-2 groups give 33, 17, 9; the last hidden group is stride 1 (10), the head 11
    assert [tuple(f.shape) for f in feats] == [(2, 4, 33, 33), (2, 8, 17, 17), (2, 16, 9, 9), (2, 32, 10, 10),
                                               (2, 1, 11, 11)]
    assert disc.model0[0].bias is not None and not hasattr(disc.model0[0], "weight_orig")
    assert disc.model1[0][0].bias is None and hasattr(disc.model1[0][0], "weight_orig")
    assert not hasattr(disc.model4[0], "weight_orig")


def test_pix2pixhd_variant_adds_a_stride1_layer():
    disc = NLayerDiscriminator(5, ndf=4, n_layers=3, spectral_norm=False, variant="pix2pixhd")
    feats = disc(torch.randn(1, 5, 64, 64))
    assert [tuple(f.shape[1:]) for f in feats] == [(4, 33, 33), (8, 17, 17), (16, 9, 9), (32, 10, 10),
                                                   (1, 11, 11)]
    assert not any(hasattr(m, "weight_orig") for m in disc.modules())


def test_multiscale_discriminator_downsamples_between_scales():
    torch.manual_seed(0)
    disc = MultiscaleDiscriminator(4, ndf=4, n_layers=2, num_D=3, spectral_norm=False)
    x = torch.randn(2, 4, 32, 32)
    out = disc(x)
    pooled = F.avg_pool2d(x, 3, 2, 1, count_include_pad=False)
    pooled2 = F.avg_pool2d(pooled, 3, 2, 1, count_include_pad=False)
    assert torch.equal(out[1][-1], disc.discriminator_1(pooled)[-1])
    assert torch.equal(out[2][-1], disc.discriminator_2(pooled2)[-1])


# -- losses -------------------------------------------------------------------------------------------------

PRED = torch.tensor([-2.0, 0.0, 0.5, 3.0])


def test_hinge_loss_on_hand_made_predictions():
    hinge = GANLoss("hinge")
    assert hinge(PRED, True).item() == pytest.approx((3 + 1 + 0.5 + 0) / 4)
    assert hinge(PRED, False).item() == pytest.approx((0 + 1 + 1.5 + 4) / 4)
    assert hinge(PRED, True, for_discriminator=False).item() == pytest.approx(-1.5 / 4)
    with pytest.raises(ValueError, match="aim for real"):
        hinge(PRED, False, for_discriminator=False)


def test_lsgan_and_vanilla_losses_on_hand_made_predictions():
    assert GANLoss("lsgan")(PRED, True).item() == pytest.approx(((PRED - 1) ** 2).mean().item())
    assert GANLoss("lsgan")(PRED, False).item() == pytest.approx((PRED ** 2).mean().item())
    bce_real = -torch.log(torch.sigmoid(PRED)).mean().item()
    bce_fake = -torch.log(1 - torch.sigmoid(PRED)).mean().item()
    assert GANLoss("vanilla")(PRED, True).item() == pytest.approx(bce_real, rel=1e-5)
    assert GANLoss("vanilla")(PRED, False, for_discriminator=False).item() == pytest.approx(bce_fake, rel=1e-5)


def test_gan_loss_averages_or_sums_the_last_output_of_each_scale():
    feats = torch.full((1, 2, 3, 3), 100.0)  # intermediate features must be ignored
    scales = [[feats, PRED], [feats, torch.tensor([1.0, -1.0])]]
    second = (0 + 2) / 2
    mean = GANLoss("hinge")(scales, True).item()
    assert mean == pytest.approx((1.125 + second) / 2)
    assert GANLoss("hinge", scale_reduction="sum")(scales, True).item() == pytest.approx(1.125 + second)


def test_unknown_gan_mode_is_refused():
    with pytest.raises(ValueError, match="hinge, lsgan, vanilla"):
        GANLoss("wgan")


def test_feature_matching_loss_formula_and_detached_real():
    fake = [[torch.ones(1, 2, 4, 4, requires_grad=True), torch.full((1, 3, 2, 2), 3.0), torch.zeros(1, 1, 1, 1)]
            for _ in range(2)]
    real = [[torch.zeros(1, 2, 4, 4, requires_grad=True), torch.ones(1, 3, 2, 2), torch.full((1, 1, 1, 1), 9.0)]
            for _ in range(2)]
    loss = feature_matching_loss(fake, real, weight=10.0)
    # per scale: L1 = 1 + 2 (prediction excluded); two scales; x 10 / num_D
    assert loss.item() == pytest.approx(10.0 / 2 * (3 + 3))
    loss.backward()
    assert fake[0][0].grad is not None and real[0][0].grad is None
    pix2pixhd = feature_matching_loss(fake, real, weight=10.0, layer_weight=4 / (3 + 1))
    assert pix2pixhd.item() == pytest.approx(loss.item())
    per_layer = feature_matching_loss(fake, real, weight=10.0, layer_weight=[1.0, 0.5])
    assert per_layer.item() == pytest.approx(10.0 / 2 * 2 * (1 + 1))
    with pytest.raises(ValueError, match="2 intermediate layers"):
        feature_matching_loss(fake, real, layer_weight=[1.0])


def test_kl_divergence_is_summed_as_spade():
    assert kl_divergence(torch.zeros(4, 8), torch.zeros(4, 8)).item() == 0.0
    mu = torch.tensor([[1.0, 0.0], [0.0, 2.0]])
    logvar = torch.tensor([[0.0, math.log(2.0)], [0.0, 0.0]])
    # per element 0.5 * (mu^2 + var - 1 - logvar)
    expected = 0.5 * (1 + 0) + 0.5 * (2 - 1 - math.log(2.0)) + 0 + 0.5 * 4
    assert kl_divergence(mu, logvar).item() == pytest.approx(expected)


# -- VGG19 --------------------------------------------------------------------------------------------------

def test_vgg_layer_names_follow_the_official_slices():
    # official SPADE VGG19: slices end after features[1], [6], [11], [20], [29]
    assert [VGG19_LAYERS[n] for n in SPADE_LAYERS] == [1, 6, 11, 20, 29]
    assert VGG19_LAYERS["conv1_2"] == 2 and VGG19_LAYERS["conv5_4"] == 34 and len(VGG19_LAYERS) == 32
    assert SPADE_LAYER_WEIGHTS == (1 / 32, 1 / 16, 1 / 8, 1 / 4, 1.0)


def test_vgg_features_from_a_torchvision_file(torchvision_vgg):
    net, path = torchvision_vgg
    vgg = VGG19Features(["conv1_2", "relu2_1", "relu1_1"], weights=str(path))
    x = torch.rand(1, 3, 32, 32) * 2 - 1
    with torch.no_grad():
        ref = [net.features[:3](x), net.features[:7](x), net.features[:2](x)]
        out = vgg(x)
    assert all(torch.allclose(a, b, atol=1e-5) for a, b in zip(out, ref, strict=True))
    assert (out[0] < 0).any()  # the pre-ReLU output was not overwritten by an in-place ReLU
    assert "sha256" in vgg.weights_source and str(path) in vgg.weights_source
    assert not list(vgg.parameters()) and not vgg.state_dict()  # frozen, and not saved in checkpoints


@pytest.mark.slow
def test_vgg_loss_matches_the_weighted_l1_formula(torchvision_vgg):
    net, path = torchvision_vgg
    loss = VGGLoss(weights=str(path))
    fake = (torch.rand(2, 3, 32, 32) * 2 - 1).requires_grad_()
    real = torch.rand(2, 3, 32, 32) * 2 - 1
    ends = [2, 7, 12, 21, 30]
    with torch.no_grad():
        expected = sum(w * F.l1_loss(net.features[:e](fake), net.features[:e](real))
                       for w, e in zip(SPADE_LAYER_WEIGHTS, ends, strict=True))
    value = loss(fake, real)
    assert value.item() == pytest.approx(expected.item(), rel=1e-5)
    value.backward()
    assert fake.grad is not None and fake.grad.abs().sum() > 0


def test_vgg_normalize_input_maps_minus_one_one_to_imagenet_statistics():
    vgg = VGG19Features(["conv1_1"], weights="random", normalize_input=True)
    raw = VGG19Features(["conv1_1"], weights="random")
    raw.features[0].weight.copy_(vgg.features[0].weight)
    raw.features[0].bias.copy_(vgg.features[0].bias)
    x = torch.rand(1, 3, 8, 8) * 2 - 1
    mean = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
    std = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
    assert torch.allclose(vgg(x)[0], raw(((x + 1) / 2 - mean) / std)[0], atol=1e-5)


def test_vgg_imagenet_offline_fails_with_one_sentence_naming_the_option(monkeypatch):
    def offline(*args, **kwargs):
        raise urllib.error.URLError("Name or service not known")

    monkeypatch.setattr(torch.hub, "load_state_dict_from_url", offline)
    with pytest.raises(WeightsUnavailable, match="set loss.vgg_weights to a local") as info:
        VGGLoss(weights="imagenet")
    assert "\n" not in str(info.value)


def test_vgg_missing_file_and_unknown_layer_are_refused(tmp_path):
    with pytest.raises(WeightsUnavailable, match="model.vgg"):
        VGG19Features(["relu1_1"], weights=str(tmp_path / "nope.pth"), option_name="model.vgg")
    torch.save({"something.weight": torch.zeros(1)}, tmp_path / "bad.pth")
    with pytest.raises(WeightsUnavailable, match="not a VGG19 state dict"):
        VGG19Features(["relu1_1"], weights=str(tmp_path / "bad.pth"))
    with pytest.raises(ValueError, match="relu6_1"):
        VGG19Features(["relu6_1"], weights="random")


# -- initialisation -----------------------------------------------------------------------------------------

def test_xavier_init_gain_and_zero_bias_reach_spectral_norm_weights():
    torch.manual_seed(0)
    conv = nn.utils.spectral_norm(nn.Conv2d(64, 128, 3))
    lin = nn.Linear(256, 512)
    bn = nn.BatchNorm2d(8)
    net = nn.Sequential(conv, lin, bn)
    init_weights(net, "xavier", 0.02)
    std = 0.02 * math.sqrt(2.0 / (64 * 9 + 128 * 9))
    assert conv.weight_orig.std().item() == pytest.approx(std, rel=0.05)
    assert lin.weight.std().item() == pytest.approx(0.02 * math.sqrt(2.0 / (256 + 512)), rel=0.05)
    assert conv.bias.abs().sum() == 0 and lin.bias.abs().sum() == 0 and bn.bias.abs().sum() == 0
    assert bn.weight.mean().item() == pytest.approx(1.0, abs=0.05)
    with pytest.raises(ValueError, match="xavier"):
        init_weights(net, "uniform")
