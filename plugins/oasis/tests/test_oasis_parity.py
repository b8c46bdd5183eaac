"""OASIS against the official boschresearch/OASIS code: generator, discriminator, losses, LabelMix, two
training iterations and the official-checkpoint loader.

``fixtures/oasis_official.pt`` holds only numbers, written by a script run outside this repository against
the official code (commit aeb875f, its ``models/`` with its own SynchronizedBatchNorm2d, in float64):

- for each case of ``oasis_reference.G_CASES`` / ``D_CASES``: the official network's state-dict layout
  (keys, shapes), a checksum of the weights :func:`oasis_reference.reference_state` put into it, the noise
  its generator drew, its output (every 4th pixel, plus sums) and a checksum of its state after the forward
  (train mode updates BatchNorm statistics and spectral-norm vectors);
- ``loss``: ``losses_computer.loss`` (real/fake, balanced, unbalanced, without don't care) and
  ``get_class_balancing`` on fixed logits and labels; ``labelmix``: ``generate_labelmix`` masks for six
  seeds with and without class 0, the bits each seed draws, and ``loss_labelmix`` on fixed tensors;
- ``train``: two iterations of ``OASIS_model`` (G step, D step, ``update_EMA``) from reference weights, then
  ``update_EMA(force_run_stats=True)`` over two batches, whose one-hot maps were cast to float64 (the only
  change made to the official path).

Tolerances: everything runs in float64 on both sides; what differs is the order of floating-point sums
(convolution algorithms, thread count, CPU), a relative error of ~1e-15 per operation growing to ~1e-12
over the networks' depth, so outputs are compared at 1e-9 (absolute for tanh outputs in [-1, 1], relative
for logits and checksums) -- far below any real discrepancy (a wrong layer changes outputs at 1e-2).
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from benchmark.config import load_config
from benchmark.datasets.base import DataInfo
from benchmark.step import LocalStepContext

from oasis_reference import (
    D_CASES,
    G_CASES,
    TRAIN_CASE,
    checksum,
    images,
    label_ids,
    one_hot,
    reference_state,
)
from sisbench_oasis.losses import class_balance_weights, labelmix_loss, labelmix_mask, n1_loss
from sisbench_oasis.networks import OASISDiscriminator, OASISGenerator, official_generator_state
from sisbench_oasis.oasis import OASIS

FIXTURE = Path(__file__).parent / "fixtures" / "oasis_official.pt"
TOL = 1e-9


@pytest.fixture(scope="module")
def official() -> dict:
    return torch.load(FIXTURE, weights_only=True)


def as_official(state: dict) -> dict:
    """Our generator state dict under the official names (``param_free_norm`` -> ``first_norm``)."""
    return {k.replace(".param_free_norm.", ".first_norm."): v for k, v in state.items()}


def without_counters(values: torch.Tensor, keys: list[str]) -> torch.Tensor:
    # BatchNorm's num_batches_tracked: unused with momentum 0.1, and the official EMA truncates it
    return values[[i for i, k in enumerate(keys) if not k.endswith("num_batches_tracked")]]


def our_generator(case: dict) -> OASISGenerator:
    height = round(case["crop_size"] / case["aspect_ratio"])
    return OASISGenerator(case["semantic_nc"], (height, case["crop_size"]), ngf=case["channels_G"], z_dim=64,
                          use_noise=not case["no_3dnoise"], norm=case["param_free_norm"]).double()


# -- generator ----------------------------------------------------------------------------------------------

@pytest.mark.parametrize("name", sorted(G_CASES))
def test_generator_reproduces_the_official_generator(name, official):
    case, ref = G_CASES[name], official[name]
    net = our_generator(case)
    state = reference_state(ref["layout"], seed=case["seed"])
    assert torch.allclose(checksum(state), ref["state_checksum"], rtol=1e-12), "reference weights differ"
    mapped = official_generator_state(state, z_dim=64)
    assert sorted((k, list(v.shape)) for k, v in net.state_dict().items()) == sorted(
        (k.replace(".first_norm.", ".param_free_norm."), s) for k, s in ref["layout"])
    net.load_state_dict(mapped, strict=True)
    net.train(case["train"])
    height = round(case["crop_size"] / case["aspect_ratio"])
    seg = one_hot(label_ids(case["batch"], case["semantic_nc"], height, case["crop_size"], seed=case["seed"]),
                  case["semantic_nc"])
    z = None if case["no_3dnoise"] else ref["z"]
    with torch.no_grad():
        out = net(seg, z=z)
    assert list(out.shape) == ref["shape"]
    assert torch.allclose(out[..., ::4, ::4], ref["out_sub"], rtol=0, atol=TOL)
    assert out.sum().item() == pytest.approx(ref["out_sum"].item(), abs=TOL * out.numel())
    assert out.abs().sum().item() == pytest.approx(ref["out_abs_sum"].item(), abs=TOL * out.numel())
    # train mode moved the BatchNorm statistics and the spectral-norm vectors; the official
    # SynchronizedBatchNorm2d does not count batches (num_batches_tracked), torch's BatchNorm does
    keys = sorted(as_official(net.state_dict()))
    after = checksum(as_official(net.state_dict()))
    assert torch.allclose(without_counters(after, keys), without_counters(ref["after_checksum"], keys), rtol=TOL,
                          atol=0)


def test_image_noise_draws_the_official_noise(official):
    # model.noise_mode="image" samples z as the official generator does: one seed, the same noise
    case, ref = G_CASES["G_square"], official["G_square"]
    net = our_generator(case)
    net.load_state_dict(official_generator_state(reference_state(ref["layout"], seed=case["seed"]), 64))
    net.eval()
    seg = one_hot(label_ids(case["batch"], 6, 64, 64, seed=case["seed"]), 6)
    torch.manual_seed(case["seed"])
    with torch.no_grad():
        out = net(seg)
    assert torch.allclose(out[..., ::4, ::4], ref["out_sub"], rtol=0, atol=TOL)


# -- discriminator ------------------------------------------------------------------------------------------

@pytest.mark.parametrize("name", sorted(D_CASES))
def test_discriminator_reproduces_the_official_discriminator(name, official):
    case, ref = D_CASES[name], official[name]
    net = OASISDiscriminator(case["semantic_nc"] + 1, ndf=64).double()
    assert sorted((k, list(v.shape)) for k, v in net.state_dict().items()) == sorted(tuple(x) for x in ref["layout"])
    state = reference_state(ref["layout"], seed=case["seed"])
    assert torch.allclose(checksum(state), ref["state_checksum"], rtol=1e-12), "reference weights differ"
    net.load_state_dict(state, strict=True)
    net.train(case["train"])
    with torch.no_grad():
        out = net(images(case["batch"], case["height"], case["width"], seed=case["seed"]))
    assert list(out.shape) == ref["shape"]
    scale = ref["out_abs_sum"].item() / out.numel()  # logits are O(1-10): compare relative to their size
    assert torch.allclose(out[..., ::4, ::4], ref["out_sub"], rtol=0, atol=TOL * max(scale, 1.0))
    assert out.abs().sum().item() == pytest.approx(ref["out_abs_sum"].item(), rel=TOL)
    assert torch.allclose(checksum(net.state_dict()), ref["after_checksum"], rtol=TOL, atol=0)


# -- losses and LabelMix ------------------------------------------------------------------------------------

def test_n1_loss_and_class_weights_match_the_official_losses(official):
    ref = official["loss"]
    label, logits = one_hot(ref["ids"], 6), ref["logits"]
    values = ref["values"]
    # the official layout: channel 0 is the don't care
    assert torch.allclose(class_balance_weights(label, [0]), ref["weight_map"], rtol=1e-12, atol=0)
    for real in (True, False):
        tag = "real" if real else "fake"
        ours = {"balanced_dontcare": n1_loss(logits, label, real, unweighted=[0]),
                "unbalanced": n1_loss(logits, label, real, balance=False, unweighted=[0]),
                "balanced_no_dontcare": n1_loss(logits, label, real, unweighted=[])}
        for key, value in ours.items():
            assert value.item() == pytest.approx(values[f"{key}_{tag}"].item(), rel=1e-12), f"{key}_{tag}"


def test_n1_loss_does_not_depend_on_where_the_dont_care_channel_sits(official):
    # SISBench keeps the don't care last; moving it (with the matching logit) changes nothing
    ref = official["loss"]
    label, logits = one_hot(ref["ids"], 6), ref["logits"]
    order = [1, 2, 3, 4, 5, 0]
    moved_label = label[:, order]
    moved_logits = logits[:, [0] + [c + 1 for c in order]]
    for real in (True, False):
        assert n1_loss(moved_logits, moved_label, real, unweighted=[5]).item() == pytest.approx(
            n1_loss(logits, label, real, unweighted=[0]).item(), rel=1e-12)


def test_labelmix_masks_follow_the_official_draws(official):
    ref = official["labelmix"]
    for tag, ids in {"with_class0": ref["ids"], "without_class0": ref["ids"].clamp_min(1)}.items():
        label = one_hot(ids, 6)
        classes = torch.unique(ids).tolist()
        for seed in range(6):
            expected = ref["masks"][f"{tag}_{seed}"]
            torch.manual_seed(seed)
            mask = labelmix_mask(label)
            bits = dict(zip(classes, expected["bits"].tolist(), strict=True))
            # each class takes its own bit, drawn in the official order
            assert torch.equal(mask[:, 0], torch.tensor([bits[c] for c in range(6) if c in bits],
                                                        dtype=mask.dtype)[torch.searchsorted(
                                                            torch.tensor(classes), ids)])
            official_mask = expected["mask"]
            if 0 not in bits or bits[0] == 0:
                assert torch.equal(mask, official_mask)
            else:
                # the official in-place relabelling: class 0 drew 1, so its pixels took class 1's bit
                elsewhere = (ids != 0).unsqueeze(1)
                assert torch.equal(mask[elsewhere], official_mask[elsewhere])
                assert torch.all(official_mask[~elsewhere] == bits.get(1, 1))


def test_labelmix_loss_matches_the_official_loss(official):
    ref = official["labelmix"]
    mask = ref["masks"]["without_class0_0"]["mask"]
    ours = labelmix_loss(mask, ref["d_mixed"], ref["d_fake"], ref["d_real"])
    assert ours.item() == pytest.approx(ref["loss"].item(), rel=1e-12)


# -- training -----------------------------------------------------------------------------------------------

def train_method() -> OASIS:
    c = TRAIN_CASE
    cfg = load_config("oasis", "synthetic", "tiny", [
        f"model.ngf={c['channels_G']}", "model.spade_hidden=128", "model.norm_G='syncbatch'", "netD.ndf=64",
        f"model.ema_decay={c['EMA_decay']}", f"loss.lambda_labelmix={c['lambda_labelmix']}",
        "loss.unweighted_classes=[0]", f"optimizer.lr_G={c['lr_g']}", f"optimizer.lr_D={c['lr_d']}"])
    # the official layout: class 0 is the don't care (as on Cityscapes), no ignore index
    info = DataInfo(name="toy", num_classes=c["semantic_nc"], image_size=(c["crop_size"], c["crop_size"]))
    return OASIS(cfg, info)


def batch_at(i: int) -> dict:
    c = TRAIN_CASE
    return {"label": label_ids(c["batch"], c["semantic_nc"], c["crop_size"], c["crop_size"], seed=c["data_seed"] + i),
            "image": images(c["batch"], c["crop_size"], c["crop_size"], seed=c["data_seed"] + 100 + i)}


@pytest.mark.slow
def test_two_training_iterations_and_the_ema_statistics_reproduce_the_official_trainer(official, float64):
    ref = official["train"]
    method = train_method()
    g_state = reference_state([(k, list(v.shape)) for k, v in as_official(method.netG.state_dict()).items()],
                              seed=ref["g_seed"])
    method.netG.load_state_dict(official_generator_state(g_state, 64), strict=True)
    method.netEMA.load_state_dict(official_generator_state(g_state, 64), strict=True)
    method.netD.load_state_dict(reference_state([(k, list(v.shape)) for k, v in method.netD.state_dict().items()],
                                                seed=ref["d_seed"]), strict=True)
    method.train()
    optimizers = method.configure_optimizers("main")
    ctx = LocalStepContext(optimizers, {"netG": method.netG, "netD": method.netD}, "cpu")
    torch.manual_seed(TRAIN_CASE["data_seed"])
    losses = [method.train_step(batch_at(i), ctx) for i in range(TRAIN_CASE["iterations"])]
    # the official final update_EMA averages once more, then re-estimates the BatchNorm statistics
    method.update_ema()
    assert method.recompute_ema_statistics(batch_at(10 + i) for i in range(TRAIN_CASE["stat_batches"])) == 2

    ours = torch.tensor([[step[k] for k in ("G_adv", "D_fake", "D_real", "D_labelmix")] for step in losses])
    assert torch.allclose(ours, ref["losses"], rtol=TOL, atol=0)
    g_keys = sorted(as_official(method.netG.state_dict()))
    assert g_keys == ref["G_keys"]
    for name, ours_sum in (("G", checksum(as_official(method.netG.state_dict()))),
                           ("EMA", checksum(as_official(method.netEMA.state_dict())))):
        assert torch.allclose(without_counters(ours_sum, g_keys), without_counters(ref[name], g_keys),
                              rtol=TOL, atol=0), name
    d_keys = sorted(method.netD.state_dict())
    assert d_keys == ref["D_keys"]
    assert torch.allclose(checksum(method.netD.state_dict()), ref["D"], rtol=TOL, atol=0)
    assert torch.allclose(method.netG.conv_img.weight, ref["conv_img"], rtol=0, atol=TOL)
    assert torch.allclose(method.netEMA.conv_img.weight, ref["ema_conv_img"], rtol=0, atol=TOL)
    assert torch.allclose(method.netD.layer_up_last.weight, ref["layer_up_last"], rtol=0, atol=TOL)


# -- official checkpoints -----------------------------------------------------------------------------------

def test_from_official_maps_keys_and_label_order(official, tmp_path, float64):
    # G_square in the official ADE20K/COCO layout: channel 0 "unknown", class k at k + 1; SISBench's dataset
    # holds classes 0..4 and the ignore index 255 (its don't-care channel, last)
    case, ref = G_CASES["G_square"], official["G_square"]
    path = tmp_path / "best_EMA.pth"
    torch.save(reference_state(ref["layout"], seed=case["seed"]), path)
    cfg = load_config("oasis", "synthetic", "tiny", ["model.ngf=4", "model.spade_hidden=128",
                                                     "model.norm_G='syncbatch'"])
    info = DataInfo(name="toy", num_classes=5, ignore_index=255, image_size=(64, 64), contain_dontcare_label=True)
    method = OASIS.from_official(str(path), cfg, info)
    assert not method.training
    official_ids = label_ids(case["batch"], 6, 64, 64, seed=case["seed"])
    batch = {"label": torch.where(official_ids == 0, torch.tensor(255), official_ids - 1),
             "image": torch.zeros(case["batch"], 3, 64, 64)}
    out = method.generate(batch, z=ref["z"])
    assert torch.allclose(out[..., ::4, ::4], ref["out_sub"], rtol=0, atol=TOL)


def test_from_official_names_what_does_not_fit(official, tmp_path):
    from benchmark.checkpoint import CheckpointError

    ref = official["G_square"]
    path = tmp_path / "best_EMA.pth"
    torch.save(reference_state(ref["layout"], seed=0), path)
    cfg = load_config("oasis", "synthetic", "tiny", ["model.ngf=8", "model.spade_hidden=128"])
    info = DataInfo(name="toy", num_classes=5, ignore_index=255, image_size=(64, 64), contain_dontcare_label=True)
    with pytest.raises(CheckpointError, match="ngf 64 with 64 noise channels"):
        OASIS.from_official(str(path), cfg, info)
    with pytest.raises(CheckpointError, match="does not exist"):
        OASIS.from_official(str(tmp_path / "missing.pth"), cfg, info)
