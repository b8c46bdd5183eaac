"""The SDM method under SISBench: configs, the two stages, the label-map drop, the EMA, guided sampling and its
cost, user errors, the command line and the entry points."""

from __future__ import annotations

import json
from importlib import metadata
from pathlib import Path

import numpy as np
import pytest
import torch
from benchmark.config import load_config
from benchmark.datasets import build_dataset
from benchmark.pipeline import fixed_batch
from benchmark.registry import METHODS
from benchmark.step import LocalStepContext
from benchmark.trainer import build_method

import sisbench_sdm.configs
from sisbench_sdm.sdm import SDM

SMALL = ["data.num_train=8", "data.num_val=4", "train.batch_size=4"]
#: a narrower U-Net than the tiny preset's, for speed (same code path)
NARROW = ["model.model_channels=8", "model.num_head_channels=8", "model.norm_groups=4", "model.spade_hidden=8"]


def sdm_cfg(*overrides: str):
    return load_config("sdm", "synthetic", "tiny", [*SMALL, *NARROW, *overrides])


def built(*overrides: str) -> tuple[SDM, dict]:
    cfg = sdm_cfg(*overrides)
    ds = build_dataset(cfg["data"], "train")
    torch.manual_seed(0)
    return build_method(cfg, ds.info), fixed_batch(ds, 4)


def step(method: SDM, batch: dict, stage: str, iteration: int = 0) -> dict[str, float]:
    method.train()
    opts = method.configure_optimizers(stage)
    ctx = LocalStepContext(opts, {"unet": method.unet}, "cpu", stage=stage)
    ctx.iteration = iteration
    return method.train_step(batch, ctx)


def test_registry_smoke_and_both_stages_train():
    method, batch = built()
    assert type(method) is SDM and METHODS.get("sdm") is SDM and method.stages == ("train", "finetune")
    load_config("sdm", "synthetic", "paper")
    before = {k: p.detach().clone() for k, p in method.unet.named_parameters()}
    losses = step(method, batch, "train")
    assert set(losses) == {"mse", "vb"} and all(np.isfinite(v) for v in losses.values())
    moved = {k for k, p in method.unet.named_parameters() if not torch.equal(p.detach(), before[k])}
    assert moved == {"out.2.weight", "out.2.bias"}  # zero-initialised output conv: only it gets a gradient at first
    for it in (1, 2):
        step(method, batch, "train", it)
    moved = {k for k, p in method.unet.named_parameters() if not torch.equal(p.detach(), before[k])}
    # by the third step the gradient has passed the zero convs: encoder, decoder SPADEs, timestep embedding
    assert {"input_blocks.0.0.weight", "output_blocks.0.0.in_norm.mlp_gamma.weight", "time_embed.0.weight",
            "middle_block.1.qkv.weight"} <= moved
    assert step(method, batch, "finetune")["mse"] > 0
    method.eval()
    out = method.generate(batch)
    assert out.shape == (4, 3, 64, 64) and out.min() >= -1 and out.max() <= 1
    fresh = build_method(sdm_cfg(), method.data)
    fresh.load_state_dict(method.state_dict(), strict=True)  # netEMA is part of the checkpoint


def test_configs_carry_the_official_settings():
    paper = load_config("sdm", "ade20k", "paper")
    m = paper["model"]
    assert (m["model_channels"], m["num_res_blocks"], tuple(m["attention_resolutions"]), m["num_head_channels"]) \
        == (256, 2, (32, 16, 8), 64)
    assert m["learn_sigma"] and m["resblock_updown"] and m["use_scale_shift_norm"] and m["ema_decay"] == 0.9999
    assert paper["diffusion"]["steps"] == 1000 and paper["diffusion"]["drop_rate"] == 0.2
    assert paper["optimizer"]["lr"] == 1e-4 and paper["optimizer"]["lr_finetune"] == 2e-5
    assert paper["train"]["amp"] == "fp16" and paper["train"]["batch_size"] == 32
    assert paper["model"]["use_instance"] is False  # --no_instance
    assert dict(paper["eval"]["sampler"]) == {"kind": "ddpm", "steps": 1000, "guidance": 1.5, "eta": 0.0}
    assert load_config("sdm", "celebamask_hq", "paper")["optimizer"]["lr"] == 2e-5
    tiny = load_config("sdm", "synthetic", "tiny")
    assert tiny["eval"]["sampler"]["kind"] == "ddim" and tiny["model"]["ema_decay"] == 0.99


def test_finetune_drops_whole_label_maps_at_the_drop_rate():
    method, batch = built("diffusion.drop_rate=0.5")
    seen = []
    unet_forward = method.unet.forward

    def spy(x, t, seg):
        seen.append(seg.detach().clone())
        return unet_forward(x, t, seg)

    method.unet.forward = spy
    torch.manual_seed(3)
    for it in range(12):
        step(method, batch, "finetune", it + 1)
    full = method.semantics(batch)
    dropped = kept = 0
    for seg in seen:
        for i in range(seg.shape[0]):
            if seg[i].abs().sum() == 0:
                dropped += 1
            else:
                assert torch.equal(seg[i], full[i])  # kept maps are untouched, dropped ones entirely zero
                kept += 1
    assert 0.3 < dropped / (dropped + kept) < 0.7
    seen.clear()
    for it in range(3):
        step(method, batch, "train", it)
    assert all(torch.equal(seg, full) for seg in seen)  # the first stage never drops


def test_ema_averages_and_restarts_at_the_finetune():
    method, batch = built("model.ema_decay=0.9")
    step(method, batch, "train")
    ema = dict(method.netEMA.named_parameters())
    for name, p in method.unet.named_parameters():
        if name == "out.2.weight":
            # EMA started at the (zero) initial conv: 0.9 * 0 + 0.1 * new
            torch.testing.assert_close(ema[name], 0.1 * p.detach())
    step(method, batch, "train", 1)
    before_ft = {k: p.detach().clone() for k, p in method.unet.named_parameters()}
    step(method, batch, "finetune", 0)
    for name, p in method.netEMA.named_parameters():
        unet_now = dict(method.unet.named_parameters())[name].detach()
        torch.testing.assert_close(p, 0.9 * before_ft[name] + 0.1 * unet_now)


def test_generation_counts_its_network_evaluations_and_follows_the_sampler():
    method, batch = built("eval.sampler.kind=ddim", "eval.sampler.steps=5", "eval.sampler.guidance=2.0")
    method.eval()
    calls = []
    forward = method.netEMA.forward

    def counting(x, t, seg):
        calls.append(x.shape[0])
        return forward(x, t, seg)

    method.netEMA.forward = counting
    torch.manual_seed(0)
    a = method.generate(batch)
    assert method.nfe_per_image == 10 and len(calls) == 5 and set(calls) == {8}  # cond + uncond in one batch
    torch.manual_seed(0)
    assert torch.equal(method.generate(batch), a)   # DDIM eta 0: the starting noise decides the image
    b = method.generate(batch)
    assert (a - b).abs().max() > 0                  # another noise, another image (multimodal)
    z = torch.randn(4, 3, 64, 64)
    assert torch.equal(method.generate(batch, z=z), method.generate(batch, z=z))
    no_guidance, _ = built("eval.sampler.kind=ddpm", "eval.sampler.steps=4", "eval.sampler.guidance=1.0")
    assert no_guidance.nfe_per_image == 4
    assert no_guidance.extra_info()["sampler"] == {"kind": "ddpm", "steps": 4, "guidance": 1.0, "eta": 0.0}


@pytest.mark.parametrize(("override", "match"), [
    ("eval.sampler.kind=euler", "eval.sampler.kind 'euler' is unknown; valid: ddpm, ddim"),
    ("eval.sampler.steps=30", "DDIM sampler needs eval.sampler.steps dividing diffusion.steps"),
    ("eval.sampler.steps=0", "eval.sampler.steps must be a whole number from 1 to diffusion.steps"),
    ("eval.sampler.guidance=0.5", "eval.sampler.guidance must be 0"),
    ("diffusion.drop_rate=1.0", "diffusion.drop_rate must lie in"),
    ("model.channel_mult=(1,2,2,2,2,2,2,2)", "halves the image 7 times"),
])
def test_user_errors_are_one_sentence(override, match):
    with pytest.raises(ValueError, match=match) as info:
        built(override)
    assert "\n" not in str(info.value)


def test_style_is_refused():
    method, batch = built()
    with pytest.raises(ValueError, match="SDM has no style encoder"):
        method.generate(batch, style=torch.zeros(4, 3, 64, 64))


DATA = ["--set", "data.num_train=16", "--set", "data.num_val=6", "--set", "train.batch_size=4"]
CLI_NARROW = [x for o in NARROW for x in ("--set", o)]


@pytest.mark.slow
def test_run_trains_both_stages_generates_and_evaluates_sdm(tmp_path, tiny_segmenter):
    from benchmark.cli import main

    out = tmp_path / "out"
    assert main(["run", "--methods", "sdm", "--dataset", "synthetic", "--iters", "2", "--out", str(out),
                 "--segmenter-checkpoint", tiny_segmenter, "--no-progress", "--set", "eval.sampler.steps=2",
                 *DATA, *CLI_NARROW]) == 0
    (run_dir,) = (out / "runs" / "synthetic" / "sdm").iterdir()
    manifest = json.loads((run_dir / "manifest.json").read_text())
    assert manifest["status"] == "finished"
    assert manifest["weights"]["sampler"]["steps"] == 2 and manifest["weights"]["nfe_per_image"] == 4
    log = (run_dir / "train_log.csv").read_text()
    assert "train," in log and "finetune," in log
    assert len(list((run_dir / "images").glob("*.png"))) == 6
    assert json.loads((run_dir / "metrics.json").read_text())["method"] == "sdm"
    # the sampler is part of the run's identity: another step count is another run
    assert main(["run", "--methods", "sdm", "--dataset", "synthetic", "--iters", "2", "--out", str(out),
                 "--segmenter-checkpoint", tiny_segmenter, "--no-progress", "--set", "eval.sampler.steps=1",
                 *DATA, *CLI_NARROW]) == 0
    assert len(list((out / "runs" / "synthetic" / "sdm").iterdir())) == 2


def test_entry_points_resolve_after_installation():
    methods = {ep.name: ep for ep in metadata.entry_points(group="sisbench.methods")}
    assert methods["sdm"].load() is SDM
    configs = {ep.name: ep for ep in metadata.entry_points(group="sisbench.configs")}
    assert configs["sdm"].value == "sisbench_sdm.configs"
    root = Path(sisbench_sdm.configs.__file__).parent
    for name in ("sdm/sdm_tiny.py", "sdm/sdm_paper.py", "_base_/methods/sdm.py", "sdm/sdm_ade20k.py",
                 "sdm/sdm_coco_stuff.py", "sdm/sdm_celebamask_hq.py", "sdm/sdm_cityscapes.py"):
        assert (root / name).is_file(), name
    entry = next(e for e in METHODS.entries() if e.name == "sdm")
    assert "entry point" in entry.source


@pytest.mark.parametrize(("kind", "steps"), [("ddim", 10), ("ddpm", 10), ("ddpm", 50)])
def test_samplers_recover_the_image_from_an_exact_noise_predictor(kind, steps):
    """With the true noise (computed from a known x_0) every respaced sampler, guided or not, must land on x_0:
    the timesteps, coefficients and guidance arithmetic of the whole loop, not one step."""
    import numpy as np

    from sisbench_sdm.diffusion import named_betas, sample

    acp = torch.from_numpy(np.cumprod(1 - named_betas("linear", 1000))).float()
    x0 = torch.rand(2, 3, 16, 16, generator=torch.Generator().manual_seed(0)) * 2 - 1

    def exact(x, t, seg):
        a = acp[t].view(-1, 1, 1, 1)
        eps = (x - a.sqrt() * x0.repeat(x.shape[0] // 2, 1, 1, 1)) / (1 - a).sqrt()
        return torch.cat([eps, torch.zeros_like(eps)], 1)

    for guidance in (1.0, 1.5):
        out = sample(exact, torch.ones(2, 1, 16, 16), (2, 3, 16, 16), kind=kind, steps=steps, guidance=guidance)
        torch.testing.assert_close(out, x0, rtol=0, atol=1e-4)
    broken = sample(lambda x, t, seg: torch.zeros(x.shape[0], 6, 16, 16), torch.ones(2, 1, 16, 16), (2, 3, 16, 16),
                    kind=kind, steps=steps)
    assert (broken - x0).abs().max() > 0.5  # the check can fail
