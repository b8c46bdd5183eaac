"""The OASIS method under SISBench: configs, the train step, the EMA generator, multimodal generation,
checkpoints, the command line and the entry points."""

from __future__ import annotations

import json
from importlib import metadata
from pathlib import Path

import numpy as np
import pytest
import torch
from benchmark import checkpoint as ckpt
from benchmark.config import load_config
from benchmark.datasets import build_dataset
from benchmark.datasets.base import DataInfo
from benchmark.pipeline import fixed_batch
from benchmark.registry import METHODS
from benchmark.step import LocalStepContext
from benchmark.trainer import build_method
from PIL import Image

import sisbench_oasis.configs
from sisbench_oasis.networks import OASISGenerator, sample_noise
from sisbench_oasis.oasis import OASIS

SMALL = ["data.num_train=8", "data.num_val=4", "train.batch_size=2"]
TINY = ["model.ngf=2", "model.spade_hidden=8", "netD.ndf=2"]
#: a 64x64 dataset with a don't-care label: 5 classes + the don't-care channel
INFO = DataInfo(name="toy", num_classes=5, ignore_index=255, image_size=(64, 64), contain_dontcare_label=True)


def oasis_cfg(*overrides: str):
    return load_config("oasis", "synthetic", "tiny", [*TINY, *overrides])


def toy_batch(b: int = 2, info: DataInfo = INFO) -> dict:
    gen = torch.Generator().manual_seed(0)
    h, w = info.image_size
    label = torch.randint(0, info.num_classes, (b, h // 16, w // 16), generator=gen)
    label = label.repeat_interleave(16, 1).repeat_interleave(16, 2)
    label[:, :4, :4] = 255
    return {"label": label, "image": torch.rand(b, 3, h, w, generator=gen) * 2 - 1}


def one_step(method: OASIS, batch: dict) -> dict[str, float]:
    method.train()
    optimizers = method.configure_optimizers("main")
    nets = {n: getattr(method, n) for n in method.networks}
    before = {n: {k: p.detach().clone() for k, p in net.named_parameters()} for n, net in nets.items()}
    losses = method.train_step(batch, LocalStepContext(optimizers, nets, "cpu"))
    for name, net in nets.items():
        moved = {k for k, p in net.named_parameters() if not torch.equal(p.detach(), before[name][k])}
        first_last = {"netG": ["fc.weight", "conv_img.weight", "body.5.norm_1.mlp_gamma.weight"],
                      "netD": ["body_down.0.conv1.0.weight_orig", "layer_up_last.weight"]}[name]
        assert set(first_last) <= moved, f"{name}: {sorted(set(first_last) - moved)} did not move"
    return losses


# -- configs and the method ---------------------------------------------------------------------------------

def test_registry_smoke_on_synthetic():
    # the steps of SISBench's registry-parametrised smoke test (tests/test_methods_smoke.py), which also
    # picks OASIS up wherever this plugin is installed
    cfg = load_config("oasis", "synthetic", "tiny", SMALL)
    load_config("oasis", "synthetic", "paper")
    ds = build_dataset(cfg["data"], "train")
    batch = fixed_batch(ds, 2)
    torch.manual_seed(0)
    method = build_method(cfg, ds.info)
    assert type(method) is OASIS and METHODS.get("oasis") is OASIS
    losses = one_step(method, batch)
    assert all(np.isfinite(v) for v in losses.values())
    method.eval()
    out = method.generate(batch)
    assert out.shape == (2, 3, 64, 64) and out.min() >= -1 and out.max() <= 1
    fresh = build_method(cfg, ds.info)
    fresh.load_state_dict(method.state_dict(), strict=True)


def test_paper_presets_carry_the_official_settings():
    ade = load_config("oasis", "ade20k", "paper")
    city = load_config("oasis", "cityscapes", "paper")
    coco = load_config("oasis", "coco_stuff", "paper")
    for cfg in (ade, city, coco):
        assert cfg["model"]["ngf"] == 64 and cfg["model"]["z_dim"] == 64 and cfg["netD"]["ndf"] == 64
        assert tuple(cfg["optimizer"]["betas"]) == (0.0, 0.999) and cfg["optimizer"]["lr_D"] == 4e-4
        assert cfg["train"]["lr_schedule"]["type"] == "constant" and not cfg["loss"]["add_vgg_loss"]
    assert (ade["train"]["batch_size"], ade["train"]["iters"], ade["loss"]["lambda_labelmix"],
            ade["model"]["ema_decay"], ade["optimizer"]["lr_G"]) == (32, 126200, 10.0, 0.9999, 1e-4)
    assert (city["train"]["batch_size"], city["train"]["iters"], city["loss"]["lambda_labelmix"],
            city["model"]["ema_decay"], city["optimizer"]["lr_G"]) == (20, 29600, 5.0, 0.999, 4e-4)
    assert city["loss"]["unweighted_classes"] == [0]
    assert (coco["train"]["batch_size"], coco["train"]["iters"]) == (32, 369600)
    assert city["data"]["crop_size"] == 512 and ade["data"]["crop_size"] == 256


def test_one_train_step_trains_both_networks_and_averages_the_ema():
    torch.manual_seed(0)
    method = OASIS(oasis_cfg("model.ema_decay=0.5", "model.init_gain=0.02"), INFO)  # the official init
    assert method.semantic_nc == 6 and method.unweighted == [5] and method.networks == ("netG", "netD")
    ema_before = {k: v.clone() for k, v in method.netEMA.state_dict().items()}
    losses = one_step(method, toy_batch())
    assert set(losses) == {"G_adv", "D_fake", "D_real", "D_labelmix"}
    # at the 0.02-gain initialisation D's 7 logits are ~0: each N+1 term starts near log(7)
    assert losses["D_fake"] == pytest.approx(np.log(7), abs=0.05)
    g_state = method.netG.state_dict()
    for key, value in method.netEMA.state_dict().items():
        if value.is_floating_point():
            assert torch.allclose(value, 0.5 * ema_before[key] + 0.5 * g_state[key], atol=1e-7), key


def test_labelmix_off_and_the_vgg_option():
    torch.manual_seed(0)
    method = OASIS(oasis_cfg("loss.lambda_labelmix=0.0", "loss.add_vgg_loss=True", "loss.vgg_weights='random'"),
                   INFO)
    losses = one_step(method, toy_batch())
    assert set(losses) == {"G_adv", "G_VGG", "D_fake", "D_real"}
    assert method.extra_info()["vgg_weights"].startswith("random")


def test_user_errors_are_one_sentence():
    with pytest.raises(ValueError, match="noise_mode 'patch' is unknown"):
        OASIS(oasis_cfg("model.noise_mode='patch'"), INFO)
    with pytest.raises(ValueError, match="multiples of 32"):
        OASIS(oasis_cfg(), DataInfo(name="toy", num_classes=5, image_size=(48, 48)))
    with pytest.raises(ValueError, match="multiples of 64"):
        OASIS(oasis_cfg(), DataInfo(name="toy", num_classes=5, image_size=(96, 96)))
    with pytest.raises(ValueError, match="unweighted_classes"):
        OASIS(oasis_cfg("loss.unweighted_classes=[9]"), INFO)
    method = OASIS(oasis_cfg(), INFO).eval()
    with pytest.raises(ValueError, match="no style encoder"):
        method.generate(toy_batch(), style=torch.zeros(2, 3, 64, 64))
    with pytest.raises(ValueError, match=r"z must be \[B, 64\]"):
        method.generate(toy_batch(), z=torch.zeros(2, 8))


# -- EMA generator ------------------------------------------------------------------------------------------

def test_finalize_recomputes_the_ema_batchnorm_statistics():
    torch.manual_seed(0)
    method = OASIS(oasis_cfg("model.ema_stat_batches=3"), INFO)
    one_step(method, toy_batch())
    method.eval()
    before = method.netEMA.body[0].norm_0.param_free_norm.running_mean.clone()
    batches = [toy_batch() for _ in range(5)]
    seen = []
    method.finalize(b for b in batches if not seen.append(b))
    assert len(seen) == 4  # three used, the fourth only looked at to stop
    assert not method.netEMA.training
    assert not torch.allclose(method.netEMA.body[0].norm_0.param_free_norm.running_mean, before)
    assert method.extra_info()["ema"] == {"decay": method.ema_decay, "bn_statistics_batches": 3}


def test_generation_uses_the_ema_generator_unless_it_is_off():
    torch.manual_seed(0)
    method = OASIS(oasis_cfg(), INFO)
    one_step(method, toy_batch())
    method.eval()
    z = torch.randn(2, 64)
    assert torch.equal(method.generate(toy_batch(), z=z), method.netEMA(method.semantics(toy_batch()), z=z))
    no_ema = OASIS(oasis_cfg("model.use_ema=False"), INFO).eval()
    assert not hasattr(no_ema, "netEMA")
    assert torch.equal(no_ema.generate(toy_batch(), z=z), no_ema.netG(no_ema.semantics(toy_batch()), z=z))


# -- multimodal generation ----------------------------------------------------------------------------------

def test_different_noise_gives_different_images_and_a_seed_the_same_image():
    torch.manual_seed(0)
    method = OASIS(oasis_cfg(), INFO).eval()
    assert method.multimodal
    batch = toy_batch()
    torch.manual_seed(3)
    a = method.generate(batch)
    torch.manual_seed(3)
    b = method.generate(batch)
    c = method.generate(batch)
    assert torch.equal(a, b)
    assert (a - c).abs().mean() > 1e-3
    samples = method.generate_samples(batch, 3)
    assert samples.shape == (2, 3, 3, 64, 64)
    assert (samples[:, 0] - samples[:, 1]).abs().mean() > 1e-3


def test_noise_modes():
    seg = torch.zeros(2, 3, 8, 8)
    seg[:, 0, :, :4] = 1
    seg[:, 1, :, 4:] = 1
    image = sample_noise(seg, 4, "image")
    assert torch.equal(image, image[:, :, :1, :1].expand_as(image))
    region = sample_noise(seg, 4, "region")
    left, right = region[..., :4], region[..., 4:]
    assert torch.equal(left, left[..., :1, :1].expand_as(left))
    assert torch.equal(right, right[..., :1, :1].expand_as(right))
    assert not torch.equal(left[..., 0, 0], right[..., 0, 0])
    pixel = sample_noise(seg, 4, "pixel")
    assert pixel.shape == (2, 4, 8, 8) and pixel[..., 0, 0].ne(pixel[..., 0, 1]).all()
    with pytest.raises(ValueError, match="unknown noise mode"):
        sample_noise(seg, 4, "patch")


def test_a_full_3d_noise_tensor_is_used_as_given():
    # generate(z=[B, 64, H, W]) feeds the tensor as is: the replicated vector gives the image-level result,
    # and new noise in one region gives another image (how far the change spreads is learned, not built in)
    torch.manual_seed(0)
    gen = OASISGenerator(3, (64, 64), ngf=2, nhidden=8, norm="instance").eval()
    seg = torch.zeros(1, 3, 64, 64)
    seg[:, 0, :, :32] = 1
    seg[:, 1, :, 32:] = 1
    z = torch.randn(1, 64)
    base = gen(seg, z=z)
    assert torch.equal(gen(seg, z=z.view(1, 64, 1, 1).expand(1, 64, 64, 64)), base)
    local = z.view(1, 64, 1, 1).repeat(1, 1, 64, 64)
    local[..., 32:] = torch.randn(1, 64, 1, 1)
    assert (gen(seg, z=local) - base).abs().mean() > 1e-3


def test_a_model_without_noise_is_deterministic_and_says_so():
    method = OASIS(oasis_cfg("model.use_3d_noise=False"), INFO).eval()
    assert not method.multimodal
    assert torch.equal(method.generate(toy_batch()), method.generate(toy_batch()))
    with pytest.raises(ValueError, match="use_3d_noise=False"):
        method.generate(toy_batch(), z=torch.zeros(2, 64))
    with pytest.raises(ValueError, match="one image per label map"):
        method.generate_samples(toy_batch(), 2)


# -- checkpoints --------------------------------------------------------------------------------------------

def test_checkpoint_round_trip_keeps_g_d_and_the_ema(tmp_path):
    torch.manual_seed(0)
    cfg = oasis_cfg()
    method = OASIS(cfg, INFO)
    one_step(method, toy_batch())
    ckpt.save_checkpoint(tmp_path, method, "main", 1, {"rng": ckpt.rng_state()})
    ref = ckpt.latest_checkpoint(tmp_path)
    fresh = OASIS(cfg, INFO)
    ckpt.load_weights(fresh, ref.weights)
    for name in ("netG", "netD", "netEMA"):
        ours, theirs = getattr(method, name).state_dict(), getattr(fresh, name).state_dict()
        assert all(torch.equal(ours[k], theirs[k]) for k in ours), name
    z = torch.randn(2, 64)
    assert torch.equal(method.eval().generate(toy_batch(), z=z), fresh.eval().generate(toy_batch(), z=z))


# -- command line and entry points --------------------------------------------------------------------------

DATA = ["--set", "data.num_train=16", "--set", "data.num_val=6", "--set", "train.batch_size=4"]
CLI_TINY = [x for o in TINY for x in ("--set", o)]


@pytest.mark.slow
def test_run_trains_generates_and_evaluates_oasis(tmp_path, tiny_segmenter):
    from benchmark.cli import main

    out = tmp_path / "out"
    assert main(["run", "--methods", "oasis", "--dataset", "synthetic", "--iters", "2", "--out", str(out),
                 "--segmenter-checkpoint", tiny_segmenter, "--no-progress", *DATA, *CLI_TINY]) == 0
    (run_dir,) = (out / "runs" / "synthetic" / "oasis").iterdir()
    manifest = json.loads((run_dir / "manifest.json").read_text())
    assert manifest["status"] == "finished"
    assert manifest["weights"]["ema"]["bn_statistics_batches"] == 4   # 16 images at batch 4
    assert len(list((run_dir / "images").glob("*.png"))) == 6
    assert json.loads((run_dir / "metrics.json").read_text())["method"] == "oasis"
    dest = tmp_path / "samples"
    assert main(["generate", "--method", "oasis", "--checkpoint", str(run_dir), "--num-samples", "2",
                 "--num-images", "2", "--out", str(dest), "--no-progress", *DATA, *CLI_TINY]) == 0
    first, second = sorted(dest.glob("*_0.png"))[0], sorted(dest.glob("*_1.png"))[0]
    a = np.asarray(Image.open(first), dtype=np.float32)
    b = np.asarray(Image.open(second), dtype=np.float32)
    assert np.abs(a - b).max() > 0                                      # two noises, two images


def test_entry_points_resolve_after_installation():
    methods = {ep.name: ep for ep in metadata.entry_points(group="sisbench.methods")}
    assert methods["oasis"].load() is OASIS
    configs = {ep.name: ep for ep in metadata.entry_points(group="sisbench.configs")}
    assert configs["oasis"].value == "sisbench_oasis.configs"
    root = Path(sisbench_oasis.configs.__file__).parent
    for name in ("oasis/oasis_tiny.py", "oasis/oasis_paper.py", "_base_/methods/oasis.py",
                 "oasis/oasis_ade20k.py", "oasis/oasis_ade20k_outdoor.py", "oasis/oasis_cityscapes.py",
                 "oasis/oasis_coco_stuff.py"):
        assert (root / name).is_file(), name
    entry = next(e for e in METHODS.entries() if e.name == "oasis")
    assert "entry point" in entry.source
    files = load_config("oasis", "cityscapes", "tiny")["_meta_"]["files"]
    assert any(f.endswith("oasis/oasis_tiny.py") for f in files)
    assert any(f.endswith("oasis/oasis_cityscapes.py") for f in files)
