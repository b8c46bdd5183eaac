"""VGGLoss(last_layer=...): the SPADE / pix2pixHD perceptual loss cut after one of its layers, a CPU preset's
knob (methods/nn/perceptual.py). Checked in float64 against torchvision's VGG19 slices."""

from __future__ import annotations

import copy

import pytest
import torch
import torch.nn.functional as F

from methods.nn.perceptual import SPADE_LAYER_WEIGHTS, SPADE_LAYERS, VGGLoss, truncate_layers


@pytest.mark.slow
def test_truncated_loss_is_the_first_terms_of_the_full_one(torchvision_vgg):
    net, path = torchvision_vgg
    net = copy.deepcopy(net).double()
    loss = VGGLoss(weights=str(path), last_layer="relu2_1").double()
    torch.manual_seed(1)
    fake = (torch.rand(2, 3, 32, 32, dtype=torch.float64) * 2 - 1).requires_grad_()
    real = torch.rand(2, 3, 32, 32, dtype=torch.float64) * 2 - 1
    with torch.no_grad():  # relu1_1 ends at features[1], relu2_1 at features[6]
        expected = sum(w * F.l1_loss(net.features[:e](fake), net.features[:e](real))
                       for w, e in zip(SPADE_LAYER_WEIGHTS[:2], (2, 7), strict=True))
    value = loss(fake, real)
    # float64 throughout: only summation order differs
    assert value.item() == pytest.approx(expected.item(), rel=1e-12)
    value.backward()
    assert fake.grad is not None and fake.grad.abs().sum() > 0
    # the network is built only as deep as the last kept layer (conv1_1 .. relu2_1: 7 modules)
    assert loss.vgg.layers == ("relu1_1", "relu2_1") and len(loss.vgg.features) == 7
    assert loss.layer_weights == (1 / 32, 1 / 16)


def test_no_last_layer_keeps_every_term():
    assert truncate_layers(SPADE_LAYERS, SPADE_LAYER_WEIGHTS, None) == (SPADE_LAYERS, SPADE_LAYER_WEIGHTS)
    assert truncate_layers(SPADE_LAYERS, SPADE_LAYER_WEIGHTS, "relu5_1") == (SPADE_LAYERS, SPADE_LAYER_WEIGHTS)
    assert len(VGGLoss(weights="random").vgg.features) == 30


def test_a_last_layer_outside_the_loss_is_refused_in_one_sentence():
    with pytest.raises(ValueError, match="valid: relu1_1, relu2_1, relu3_1, relu4_1, relu5_1") as info:
        VGGLoss(weights="random", last_layer="relu2_2")
    assert "\n" not in str(info.value)
