"""Parity with the official SDM code (WeilunWang/semantic-diffusion-model at 7171f37).

``fixtures/sdm_official.pt`` holds numbers only, written by ``fixtures/make_fixtures.py`` from the official
code run outside this repository (its docstring says how): a small official ``UNetModel`` (GroupNorm 32, SPADE
128 hidden, as hard-coded there) with seeded weights, its outputs, its training losses on one batch, one guided
step of each respaced sampler, and guided-diffusion's float64 schedule tables.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from benchmark.checkpoint import CheckpointError
from benchmark.config import load_config
from benchmark.datasets.base import DataInfo

from sisbench_sdm.diffusion import (
    GaussianDiffusion,
    build_scheduler,
    guided_output,
    named_betas,
    respaced_betas,
    space_timesteps,
)
from sisbench_sdm.networks import SDMUNet
from sisbench_sdm.sdm import SDM

FIXTURE = Path(__file__).parent / "fixtures" / "sdm_official.pt"


@pytest.fixture(scope="module")
def official() -> dict:
    return torch.load(FIXTURE, weights_only=True)


def official_state(rec: dict) -> dict[str, torch.Tensor]:
    """The fixture's official weights, redrawn as make_fixtures.py drew them."""
    gen = torch.Generator().manual_seed(rec["weight_seed"])
    return {name: torch.randn(shape, generator=gen) * rec["weight_std"] for name, shape in rec["param_order"]}


def small_unet() -> SDMUNet:
    # the fixture's official arguments: 32 px, 32 channels, mult 1,2, 1 block, attention at 16 px (32-ch heads)
    return SDMUNet(5, 32, model_channels=32, num_res_blocks=1, channel_mult=(1, 2), attention_resolutions=(16,),
                   num_head_channels=32, norm_groups=32, spade_hidden=128).eval()


def loaded_unet(rec: dict) -> SDMUNet:
    unet = small_unet()
    state = official_state(rec)
    assert list(unet.state_dict()) == rec["state_keys"]  # the released layout, key for key and in order
    unet.load_state_dict(state, strict=True)
    return unet


def test_unet_equals_official_outputs(official):
    unet = loaded_unet(official)
    with torch.no_grad():
        out = unet(official["x"], official["t"], official["y"])
    assert out.shape == official["out"].shape == (3, 6, 32, 32)
    torch.testing.assert_close(out, official["out"], rtol=1e-4, atol=1e-4)
    assert official["out"].abs().mean() > 0.01  # the fixture is not a zero network


def test_loss_terms_equal_official(official):
    unet = loaded_unet(official)
    diffusion = GaussianDiffusion(1000, "linear", learn_sigma=True)
    y = official["y"]
    with torch.no_grad():
        terms = diffusion.training_losses(lambda xt, t: unet(xt, t, y), official["x_start"], official["t_loss"],
                                          official["noise"])
    ref = official["loss"]
    assert official["t_loss"][0] == 0  # the decoder likelihood (t = 0) and the KL terms are both covered
    torch.testing.assert_close(terms["mse"], ref["mse"], rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(terms["vb"], ref["vb"], rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(terms["mse"] + terms["vb"], ref["loss"], rtol=1e-4, atol=1e-5)


def test_guided_respaced_ddpm_step_equals_official(official):
    unet = loaded_unet(official)
    y, x = official["y"], official["x_step"]
    steps, index = official["steps"], official["step_index"]
    sched = build_scheduler("ddpm", 1000, "linear", steps)
    kept = space_timesteps(1000, steps)
    t = kept[index]
    assert int(sched.timesteps[steps - 1 - index]) == t
    with torch.no_grad():
        out = guided_output(unet, x, torch.full((3,), t), y, 1.5)
    gen = torch.Generator().manual_seed(5)
    prev = sched.step(out, t, x, generator=gen).prev_sample
    noise = torch.randn(x.shape, generator=torch.Generator().manual_seed(5))
    ref = official["ddpm_step"]
    expected = ref["mean"] + torch.exp(0.5 * ref["log_variance"]) * noise
    torch.testing.assert_close(prev.float(), expected, rtol=1e-4, atol=1e-4)


def test_guided_ddim_step_equals_official(official):
    unet = loaded_unet(official)
    y, x = official["y"], official["x_step"]
    steps, index = official["steps"], official["step_index"]
    sched = build_scheduler("ddim", 1000, "linear", steps)
    t = sorted(space_timesteps_ddim(steps))[index]
    assert t in [int(v) for v in sched.timesteps]
    with torch.no_grad():
        out = guided_output(unet, x, torch.full((3,), t), y, 1.5)
    prev = sched.step(out[:, :3], t, x, eta=0.0, use_clipped_model_output=True).prev_sample
    torch.testing.assert_close(prev.float(), official["ddim_step"]["sample"], rtol=1e-4, atol=1e-4)


def space_timesteps_ddim(steps: int) -> list[int]:
    return list(range(0, 1000, 1000 // steps))


# -- float64: diffusers' tables and steps against guided-diffusion's arithmetic ------------------------------

def test_schedule_in_float64(official):
    tables = official["tables"]
    betas = named_betas("linear", 1000)
    np.testing.assert_allclose(betas, tables["betas"].numpy(), rtol=0, atol=1e-15)
    sched = build_scheduler("ddpm", 1000, "linear", 1000)
    assert sched.alphas_cumprod.dtype == torch.float64
    np.testing.assert_allclose(sched.alphas_cumprod.numpy(), tables["alphas_cumprod"].numpy(), rtol=1e-13)
    diff = GaussianDiffusion(1000, "linear")
    np.testing.assert_allclose(diff.posterior_log_variance_clipped, tables["posterior_log_variance_clipped"].numpy(),
                               rtol=1e-13)
    # what diffusers alone would give: float32 tables, off by far more than float64 rounding
    from diffusers import DDPMScheduler

    plain = DDPMScheduler(num_train_timesteps=1000, beta_schedule="linear")
    assert plain.alphas_cumprod.dtype == torch.float32
    assert np.abs(plain.alphas_cumprod.double().numpy() - tables["alphas_cumprod"].numpy()).max() > 1e-9


@pytest.mark.parametrize("count", ["10", "21", "25", "50", "100", "250"])
def test_respacing_and_respaced_betas_in_float64(official, count):
    ref = official["tables"]["respaced"][count]
    kept = space_timesteps(1000, int(count))
    assert kept == ref["timesteps"].tolist()
    acp = official["tables"]["alphas_cumprod"].numpy()
    np.testing.assert_allclose(respaced_betas(acp, kept), ref["betas"].numpy(), rtol=1e-12)
    # the betas diffusers' DDPM step derives from consecutive timesteps equal the respaced ones
    sched = build_scheduler("ddpm", 1000, "linear", int(count))
    derived = []
    for t in sched.timesteps.tolist()[::-1]:
        prev = sched.previous_timestep(t)
        a_prev = sched.alphas_cumprod[prev] if prev >= 0 else sched.one
        derived.append(float(1 - sched.alphas_cumprod[t] / a_prev))
    np.testing.assert_allclose(derived, ref["betas"].numpy(), rtol=1e-12)


def test_diffusers_linspace_respacing_differs_for_21_steps(official):
    # why space_timesteps exists: diffusers' "linspace" spacing keeps other timesteps for some counts
    ref = official["tables"]["respaced"]["21"]["timesteps"].tolist()
    linspace = sorted(np.linspace(0, 999, 21).round().astype(int).tolist())
    assert linspace != ref


@pytest.mark.parametrize("count", ["ddim10", "ddim25", "ddim50"])
def test_ddim_timesteps_match_official(official, count):
    steps = int(count[4:])
    sched = build_scheduler("ddim", 1000, "linear", steps)
    assert sorted(int(t) for t in sched.timesteps) == official["tables"]["respaced"][count]["timesteps"].tolist()


@pytest.mark.parametrize("count", ["10", "25", "250"])
def test_learned_range_variance_in_float64(official, count):
    """diffusers' learned-range log-variance on the respaced process equals guided-diffusion's for t > 0; at the
    last step (respaced index 0) diffusers clamps the zero posterior variance to 1e-20, where guided-diffusion
    takes index 1's: no noise is added there, so sampling agrees, but L_vlb uses GaussianDiffusion's."""
    ref = official["tables"]["respaced"][count]
    sched = build_scheduler("ddpm", 1000, "linear", int(count))
    kept = ref["timesteps"].tolist()
    v = torch.linspace(-1, 1, 7, dtype=torch.float64)
    for i, t in enumerate(kept):
        ours = sched._get_variance(t, predicted_variance=v)
        frac = (v + 1) / 2
        expected = frac * np.log(ref["betas"][i].item()) + (1 - frac) * ref["posterior_log_variance_clipped"][i]
        if i == 0:
            assert not torch.allclose(ours, expected)
        else:
            torch.testing.assert_close(ours, expected, rtol=1e-12, atol=1e-12)
    full = official["tables"]
    diff = GaussianDiffusion(1000, "linear")
    t = torch.arange(1000)
    vv = torch.rand(1000, 1, 1, 1, dtype=torch.float64) * 2 - 1
    frac = (vv.flatten() + 1) / 2
    expected = frac * torch.log(full["betas"]) + (1 - frac) * full["posterior_log_variance_clipped"]
    torch.testing.assert_close(diff.learned_log_variance(vv, t).flatten(), expected, rtol=1e-13, atol=1e-13)


# -- from_official ---------------------------------------------------------------------------------------

def test_from_official_loads_the_released_layout(official, tmp_path):
    path = tmp_path / "ema_0.9999_best.pt"
    torch.save({k: v.half() for k, v in official_state(official).items()}, path)  # the fp16 release format
    info = DataInfo(name="toy", num_classes=5, ignore_index=255, image_size=(32, 32), contain_dontcare_label=False)
    cfg = load_config("sdm", "synthetic", "tiny", [
        "model.model_channels=32", "model.num_res_blocks=1", "model.channel_mult=(1,2)",
        "model.attention_resolutions=(16,)", "model.num_head_channels=32", "model.norm_groups=32",
        "model.spade_hidden=128"])
    method = SDM.from_official(str(path), cfg, info)
    with torch.no_grad():
        out = method.netEMA(official["x"], official["t"], official["y"])
    torch.testing.assert_close(out, official["out"], rtol=2e-2, atol=2e-2)  # weights were rounded to fp16
    wrong = DataInfo(name="toy", num_classes=7, ignore_index=255, image_size=(32, 32))
    with pytest.raises(CheckpointError, match="label maps have 5 channels, this dataset's 7"):
        SDM.from_official(str(path), cfg, wrong)
