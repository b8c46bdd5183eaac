"""SLNP-GAN (seed 002): the noise-prior stage and its freezing, the attention of the refiner (weights over
present instances only), instance finding, one train_step per stage, AMM by default, and the paper preset
at 128/256 px."""

from __future__ import annotations

import math

import pytest
import torch

from benchmark.config import load_config
from benchmark.datasets.base import DataInfo
from benchmark.step import LocalStepContext
from methods.base import count_parameters
from methods.optim.amm import AMM
from methods.slnp import SLNPGAN, Instances, find_instances
from tests.conftest import data_info, tiny_cfg

SIZE = (32, 32)



def striped_batch(size=SIZE, batch: int = 2, seed: int = 0) -> dict:
    """Sample 0 holds classes 0, 1 and 2 in vertical stripes; sample 1 holds class 3 alone."""
    g = torch.Generator().manual_seed(seed)
    label = torch.full((batch, *size), 3, dtype=torch.long)
    w = size[1]
    label[0, :, : w // 3] = 0
    label[0, :, w // 3: 2 * w // 3] = 1
    label[0, :, 2 * w // 3:] = 2
    return {"label": label, "image": torch.rand(batch, 3, *size, generator=g) * 2 - 1}



@pytest.fixture(scope="module")
def method() -> SLNPGAN:
    torch.manual_seed(0)
    return SLNPGAN(tiny_cfg("slnp", model=dict(region_size=8)), data_info(SIZE, 4))


def make_ctx(method: SLNPGAN, stage: str) -> LocalStepContext:
    opts = method.configure_optimizers(stage)
    return LocalStepContext(opts, {n: getattr(method, n) for n in method.networks_for(stage)}, stage=stage)


def snapshot(method: SLNPGAN) -> dict[str, list[torch.Tensor]]:
    return {n: [t.detach().clone() for t in getattr(method, n).state_dict().values()] for n in method.networks}


def moved(method: SLNPGAN, before: dict[str, list[torch.Tensor]]) -> set[str]:
    return {n for n, ts in before.items()
            if any(not torch.equal(a, b) for a, b in zip(ts, getattr(method, n).state_dict().values(), strict=True))}


def test_presets_put_g0_at_half_resolution():
    tiny = load_config("slnp", "synthetic", "tiny")
    paper = load_config("slnp", "synthetic", "paper")
    assert tiny["model"]["g0_scale"] == paper["model"]["g0_scale"] == 2
    assert tiny["train"]["stages"]["noise_prior"]["iters"] <= 200
    assert paper["optimizer"]["type"] == tiny["optimizer"]["type"] == "AMM"
    assert (paper["optimizer"]["lr_G"], paper["optimizer"]["lr_D"]) == (1e-4, 4e-4)
    assert paper["loss"] == dict(gan_mode="vanilla", lambda_feat=10.0)


def test_stages_and_networks(method):
    assert SLNPGAN.stages == ("noise_prior", "main")
    assert method.networks_for("noise_prior") == ("netVAE",)
    assert method.networks_for("main") == ("netG0", "netG1", "netD0", "netD1")
    assert SLNPGAN.multimodal


def hyperparameters(opt: torch.optim.Optimizer) -> list[dict]:
    return [{k: v for k, v in g.items() if k != "params"} for g in opt.param_groups]


def test_optimizers_are_amm_by_default_and_table1_adam_by_config(method):
    amm = method.configure_optimizers("main")
    assert {type(o) for o in amm.values()} == {AMM}
    assert [g["alpha"] for o in amm.values() for g in o.param_groups] == [0.9, 0.9]
    adam = SLNPGAN(tiny_cfg("slnp", optimizer=dict(type="Adam")), data_info(SIZE, 4))
    opts = adam.configure_optimizers("main")
    # The paper's Adam (Table 1) is AMM's recurrence with alpha = 0, not torch.optim.Adam; the rest equal.
    assert {type(o) for o in opts.values()} == {AMM}
    for name in ("G", "D"):
        assert hyperparameters(opts[name]) == [dict(hyperparameters(amm[name])[0], alpha=0.0)]
    # the tiny preset runs G and D at 1e-5 (AMM's steady step is 10x eta: slnp_tiny.py); the paper preset keeps
    # the paper's G 1e-4, D 4e-4
    assert opts["G"].param_groups[0]["lr"] == 1e-5 and opts["D"].param_groups[0]["lr"] == 1e-5
    paper = load_config("slnp", "synthetic", "paper")["optimizer"]
    assert (paper["lr_G"], paper["lr_D"]) == (1e-4, 4e-4)
    assert adam.extra_info()["optimizer_recurrence"].startswith("Table 1 Adam")
    assert method.extra_info()["optimizer_recurrence"] == "AMM, alpha 0.9"
    with pytest.raises(ValueError, match="optimizer.type"):
        SLNPGAN(tiny_cfg("slnp", optimizer=dict(type="SGD")), data_info(SIZE, 4))


@pytest.mark.slow
def test_noise_prior_optimizer_does_not_depend_on_optimizer_type():
    """optimizer.type switches the adversarial stage only: the VAE's optimizer and its updates are the same."""
    params = {}
    for kind in ("AMM", "Adam"):
        torch.manual_seed(0)
        m = SLNPGAN(tiny_cfg("slnp", optimizer=dict(type=kind)), data_info(SIZE, 4))
        opt = m.configure_optimizers("noise_prior")["VAE"]
        assert type(opt) is AMM and hyperparameters(opt) == [dict(lr=1e-4, betas=(0.9, 0.999), delta=1e-8,
                                                                   alpha=0.9)]
        m.train()
        ctx = make_ctx(m, "noise_prior")
        torch.manual_seed(1)
        for _ in range(2):
            m.train_step(striped_batch(), ctx)
        params[kind] = [p.detach().clone() for p in m.netVAE.parameters()]
    assert all(torch.equal(a, b) for a, b in zip(params["AMM"], params["Adam"], strict=True))


@pytest.mark.slow
def test_adam_run_follows_table1_adam_recurrence():
    """Three main-stage steps with optimizer.type="Adam": each update of sampled weights equals Table 1's
    Adam column written with Python floats from the gradients the step saw; momentum (AMM) and
    torch.optim.Adam's eps placement would both be caught."""
    torch.manual_seed(0)
    method = SLNPGAN(tiny_cfg("slnp", optimizer=dict(type="Adam")), data_info(SIZE, 4))
    method.on_stage_start("main")
    method.train()
    ctx = make_ctx(method, "main")
    seen: dict[str, list] = {"G": [], "D": []}
    for name, opt in ctx.optimizers.items():
        def pre(opt, args, kwargs, name=name):
            seen[name].append([(p.detach().clone(), p.grad.detach().clone()) for p in opt.param_groups[0]["params"]])
        opt.register_step_pre_hook(pre)
    for _ in range(3):
        method.train_step(striped_batch(), ctx)
    b1, b2, delta = 0.9, 0.999, 1e-8
    checked = differs_from_torch_adam = 0
    for name, lr in (("G", 1e-5), ("D", 1e-5)):     # the tiny preset's rates
        steps = seen[name]
        after = [p.detach() for p in ctx.optimizers[name].param_groups[0]["params"]]
        for i in range(len(after)):
            first_grad = steps[0][i][1].flatten()
            # Three elements of every tensor: the first, the last and the one with the smallest gradient.
            for e in {0, first_grad.numel() - 1, int(first_grad.abs().argmin())}:
                m = v = 0.0
                for t in range(1, 4):
                    before = float(steps[t - 1][i][0].flatten()[e])
                    new = float((steps[t][i][0] if t < 3 else after[i]).flatten()[e])
                    g = float(steps[t - 1][i][1].flatten()[e])
                    m = b1 * m + (1 - b1) * g
                    v = b2 * v + (1 - b2) * g * g
                    m_hat, v_hat = m / (1 - b1 ** t), v / (1 - b2 ** t)
                    want = lr * m_hat / math.sqrt(v_hat + delta)
                    # The float32 weight is rounded after the update: up to half an ulp of the new value.
                    tol = 0.5 * ulp(new) + 1e-6 * abs(want)
                    assert abs((before - new) - want) <= tol, (name, i, e, t)
                    torch_adam = lr * m_hat / (math.sqrt(v_hat) + delta)
                    differs_from_torch_adam += abs(torch_adam - want) > 10 * tol
                    checked += 1
    assert checked > 100 and differs_from_torch_adam > 0


def ulp(x: float) -> float:
    """The spacing of float32 numbers at ``x``."""
    x32 = torch.tensor(abs(x), dtype=torch.float32)
    return float(torch.nextafter(x32, torch.tensor(math.inf)) - x32)


@pytest.mark.slow
def test_gan_terms_are_bce_on_the_logits_and_feature_matching_on_the_features():
    """For the D of each call (recorded by a hook): G_GAN, D_fake, D_real are BCE of the patch logits alone,
    G_feat is lambda x the sum over D's intermediate layers of the mean L1 (Eq. 19), recomputed in float64."""
    torch.manual_seed(0)
    method = SLNPGAN(tiny_cfg("slnp"), data_info(SIZE, 4))
    method.on_stage_start("main")
    method.train()
    outputs: dict[str, list] = {"netD0": [], "netD1": []}
    for name, calls in outputs.items():
        getattr(method, name).register_forward_hook(
            lambda module, args, out, calls=calls: calls.append([t.detach().double() for t in out]))
    losses = method.train_step(striped_batch(), make_ctx(method, "main"))
    bce = torch.nn.functional.binary_cross_entropy_with_logits
    n = 2
    for k in "01":
        g_call, d_call = outputs[f"netD{k}"]        # the G step's call, then the D step's (fake, real)
        assert len(g_call) == len(d_call) == 4      # 3 feature maps (n_layers 3) + the logits
        logits = g_call[-1]
        want = {f"G_GAN{k}": bce(logits[:n], torch.ones_like(logits[:n])),
                f"G_feat{k}": 10.0 * sum((f[:n] - f[n:]).abs().mean() for f in g_call[:-1]),
                f"D_fake{k}": bce(d_call[-1][:n], torch.zeros_like(d_call[-1][:n])),
                f"D_real{k}": bce(d_call[-1][n:], torch.ones_like(d_call[-1][n:]))}
        for key, value in want.items():
            # float32 means of at most a few thousand terms against float64: relative error well under
            # 1e-5 (pairwise summation); the feature-map BCE of the old code differed by more than 10%.
            assert losses[key] == pytest.approx(float(value), rel=1e-5), key


def test_find_instances_by_class_and_by_instance_id():
    label = torch.tensor([[[0, 0, 1, 1], [0, 0, 1, 1], [2, 2, 2, 2], [2, 2, 2, 2]],
                          [[1, 1, 1, 1], [1, 1, 1, 1], [1, 1, 1, 1], [1, 1, 1, 255]]])
    onehot = torch.nn.functional.one_hot(label.clamp(max=3), 4).permute(0, 3, 1, 2).float()[:, :3]
    by_class = find_instances(onehot, None)
    assert by_class.present.tolist() == [[True, True, True], [True, False, False]]
    assert by_class.classes[0].tolist() == [0, 1, 2] and by_class.classes[1, 0] == 1
    assert by_class.index[1, 3, 3] == -1          # the ignore pixel has no class channel: no instance
    # two instances of class 2 (left and right halves of the bottom rows)
    instance = torch.tensor([[[5, 5, 7, 7], [5, 5, 7, 7], [8, 8, 9, 9], [8, 8, 9, 9]],
                             [[1, 1, 1, 1], [1, 1, 1, 1], [1, 1, 1, 1], [1, 1, 1, 1]]])
    by_id = find_instances(onehot, instance)
    assert by_id.present.sum(1).tolist() == [4, 1]
    assert by_id.classes[0].tolist() == [0, 1, 2, 2]
    assert by_id.index[0].tolist() == [[0, 0, 1, 1], [0, 0, 1, 1], [2, 2, 3, 3], [2, 2, 3, 3]]
    masks = by_id.masks()
    assert masks.shape == (2, 4, 4, 4) and torch.equal(masks[0].sum(0), torch.ones(4, 4))


def test_attention_sums_to_one_over_present_instances_and_is_zero_for_absent(method):
    method.eval()
    att = method.attention_maps(striped_batch())
    w, present = att["weights"], att["present"]
    assert att["grid"] == (4, 4) and w.shape == (2, 4, 4, 3)     # 32 px / 8 px regions; 3 instances at most
    assert present.tolist() == [[True, True, True], [True, False, False]]
    assert torch.allclose(w.sum(-1), torch.ones(2, 4, 4))
    assert torch.equal(w[1, ..., 1:], torch.zeros(4, 4, 2))       # exactly 0, not just small
    assert (w[0] > 0).all() and (w[0] < 1).all()                  # softmax over the three present
    # The weights depend on the region's query: the regions of sample 0 do not all weigh alike.
    assert (w[0] - w[0, :1, :1]).abs().max() > 1e-3
    assert att["instance_class"].tolist() == [[0, 1, 2], [3, -1, -1]]
    assert att["instance_index"].shape == (2, *SIZE)


def test_generate_returns_attention_and_is_multimodal(method):
    method.eval()
    batch = striped_batch()
    z = torch.randn(2, method.z_dim)
    torch.manual_seed(1)
    a = method.generate(batch, z=z)
    torch.manual_seed(1)
    b, att = method.generate(batch, z=z, return_attention=True)
    assert a.shape == (2, 3, *SIZE) and torch.equal(a, b) and set(att) >= {"weights", "present"}
    # Another noise prior (z and the posterior sample of Enc(Dec(z))) gives another image.
    assert (method.generate(batch) - method.generate(batch)).abs().mean() > 1e-3
    with pytest.raises(ValueError):
        method.generate(batch, style=batch["image"])


def test_region_queries_reach_the_image_only_through_the_attention_weights():
    """Rescaling the query projection changes the weights, hence V and I1, where several instances compete;
    with a single present instance the weights stay 1 and I1 does not change at all."""
    torch.manual_seed(0)
    method = SLNPGAN(tiny_cfg("slnp", model=dict(region_size=8)), data_info(SIZE, 4)).eval()
    inputs = method.inputs(striped_batch())
    z_np = method.noise_prior(2)
    with torch.no_grad():
        _, image1, weights = method.synthesize(inputs, z_np)
        method.netG1.query_proj.weight.mul_(20.0)
        _, image1_b, weights_b = method.synthesize(inputs, z_np)
    assert weights.shape == (2, 16, 3)
    assert (weights_b[0] - weights[0]).abs().max() > 1e-3
    assert (image1_b[0] - image1[0]).abs().max() > 1e-5
    assert torch.equal(image1_b[1], image1[1])


@pytest.mark.slow
def test_noise_prior_stage_trains_only_the_vae_with_the_negative_elbo(method):
    method.train()
    before = snapshot(method)
    seen = []
    hook = method.netVAE.register_forward_hook(lambda m, a, out: seen.append((a[0].double(),
                                                                              *(t.detach().double() for t in out))))
    batch = striped_batch()
    losses = method.train_step(batch, make_ctx(method, "noise_prior"))
    hook.remove()
    assert moved(method, before) == {"netVAE"}
    (real0, recon, mu, logvar), = seen
    # The VAE sees the real image area-resized to G0's resolution; Eq. 5 as the negative ELBO: summed
    # squared error + KL, both per image. float32 sums of 6k terms against float64: relative 1e-5.
    want_real0 = batch["image"].double().view(2, 3, 16, 2, 16, 2).mean((3, 5))
    assert torch.allclose(real0, want_real0, rtol=0, atol=1e-6)
    assert losses["VAE_rec"] == pytest.approx(float((recon - real0).pow(2).sum() / 2), rel=1e-5)
    kl = 0.5 * (mu.pow(2) + logvar.exp() - 1 - logvar).sum() / 2
    assert losses["VAE_KLD"] == pytest.approx(float(kl), rel=1e-5)


@pytest.mark.slow
def test_noise_prior_is_the_encoding_of_the_decoded_noise():
    """Z_np = Enc(Dec(z)) (Eqs. 3-4), spelled out with the VAE's layers in float64: the posterior mean,
    or a sample of it with the generator's next normal draws; and G0 receives exactly that Z_np."""
    torch.manual_seed(0)
    method = SLNPGAN(tiny_cfg("slnp"), data_info(SIZE, 4)).double()
    method.freeze_noise_prior()
    vae = method.netVAE
    z = torch.randn(3, 256, dtype=torch.float64)
    with torch.no_grad():
        image = vae.decoder(vae.fc_dec(z).view(3, -1, 4, 4))          # Dec(z): 16 px images for 32 px G1
        assert image.shape == (3, 3, 16, 16)
        h = vae.encoder(image).flatten(1)
        mu, logvar = vae.fc_mu(h), vae.fc_logvar(h)
    method.sample_posterior = False
    assert torch.allclose(method.noise_prior(3, z), mu, rtol=0, atol=1e-12)
    method.sample_posterior = True
    torch.manual_seed(7)
    z_np = method.noise_prior(3, z)
    torch.manual_seed(7)
    eps = torch.randn(3, 256, dtype=torch.float64)
    assert torch.allclose(z_np, mu + eps * (0.5 * logvar).exp(), rtol=0, atol=1e-12)
    assert (mu - z).abs().mean() > 0.1                                 # not the noise itself
    # generate() feeds G0 that Z_np (in float32, the dtype of the label input).
    method.float().eval()
    seen = []
    method.netG0.register_forward_pre_hook(lambda m, args: seen.append(args[2]))
    torch.manual_seed(7)
    method.generate(striped_batch(), z=z[:2].float())
    torch.manual_seed(7)
    assert torch.equal(seen[0], method.noise_prior(2, z[:2].float()))


@pytest.mark.slow
def test_v_is_eq15_instance_context_at_y0_resolution():
    """G1's V against an independent float64 computation with loops: queries = (I0, y0) averaged per region,
    keys = values = class embedding + the instance's average of projected Enc(L1) features, w = softmax
    over present instances (Eq. 14), V_context^j = sum_i w_ji v_i (Eq. 13); each instance's context is
    the average of V_context over its pixels; V = max over the instances covering a pixel (Eq. 15, one
    per pixel here), 0 where none; then area-averaged to y0's grid, where G1's blocks run."""
    torch.manual_seed(0)
    info = data_info(SIZE, 4, has_instance=True, dontcare=False)   # ignored pixels get no class channel
    method = SLNPGAN(tiny_cfg("slnp", model=dict(region_size=8)), info).double().eval()
    g1 = method.netG1
    # Stripes of widths 10, 11, 11 (not aligned to regions or y0's 2x2 cells); class 1 split into two
    # instances at row 13; sample 1: class 3 and one ignored pixel (no class channel, no instance).
    label = torch.full((2, *SIZE), 3, dtype=torch.long)
    label[0, :, :10], label[0, :, 10:21], label[0, :, 21:] = 0, 1, 2
    label[1, 5, 7] = 255
    instance = label.clone()
    instance[0, :13, 10:21] = 11
    batch = {"label": label, "instance": instance, "image": torch.zeros(2, 3, *SIZE, dtype=torch.float64)}
    inputs = method.inputs(batch)
    sem1 = inputs["sem1"].double()
    inst = inputs["instances"]
    with torch.no_grad():
        z_np = method.noise_prior(2, torch.randn(2, 256, dtype=torch.float64))
        y0, image0 = method.netG0(inputs["sem0"].double(), inputs["hist0"].double(), z_np)
        enc, v, weights = g1.context(sem1, inst, y0, image0)
        feats = g1.key_proj(enc)                                       # [B, A, 16, 16]
        qw, qb = g1.query_proj.weight[:, :, 0, 0].detach(), g1.query_proj.bias.detach()
    assert v.shape == (2, 32, 16, 16)
    rs, low = 8, 4                                                     # region side at 32 px and at 16 px
    for b in range(2):
        t_present = [t for t in range(inst.present.shape[1]) if inst.present[b, t]]
        values = {}
        for t in t_present:
            mask = (inst.index[b] == t).double()                       # full resolution
            share = mask.view(16, 2, 16, 2).mean((1, 3))               # its share of each y0 pixel
            values[t] = (g1.class_embed.weight[inst.classes[b, t]]
                         + (feats[b] * share).sum((1, 2)) / share.sum()).detach()
        region_context = {}
        for r in range(4):
            for c in range(4):
                cell = torch.cat([image0[b], y0[b]])[:, r * low:(r + 1) * low, c * low:(c + 1) * low]
                q = qw @ cell.mean((1, 2)) + qb
                s = torch.tensor([float(q @ values[t]) for t in t_present], dtype=torch.float64)
                w = torch.exp(s - s.max()) / torch.exp(s - s.max()).sum()
                got = weights[b, r * 4 + c]
                assert torch.allclose(got[t_present], w, rtol=0, atol=1e-12)
                assert float(got.sum()) == pytest.approx(1.0, abs=1e-12)
                region_context[r, c] = sum(wi * values[t] for wi, t in zip(w, t_present, strict=True))
        instance_context = {}
        for t in t_present:
            pixels = (inst.index[b] == t).nonzero().tolist()
            instance_context[t] = sum(region_context[y // rs, x // rs] for y, x in pixels) / len(pixels)
        v_full = torch.zeros(32, *SIZE, dtype=torch.float64)
        for y in range(SIZE[0]):
            for x in range(SIZE[1]):
                covering = [instance_context[t] for t in t_present if inst.index[b, y, x] == t]
                if covering:
                    v_full[:, y, x] = torch.stack(covering).max(0).values
        if b == 1:
            assert inst.index[1, 5, 7] == -1 and torch.equal(v_full[:, 5, 7], torch.zeros(32, dtype=torch.float64))
        want = v_full.view(32, 16, 2, 16, 2).mean((2, 4))
        assert torch.allclose(v[b], want, rtol=0, atol=1e-12)


@pytest.mark.slow
def test_main_stage_trains_g0_g1_d0_d1_and_never_the_frozen_vae():
    torch.manual_seed(0)
    method = SLNPGAN(tiny_cfg("slnp"), data_info(SIZE, 4))
    method.on_stage_start("noise_prior")
    method.train()
    method.train_step(striped_batch(), make_ctx(method, "noise_prior"))
    method.on_stage_end("noise_prior")
    method.on_stage_start("main")
    method.train()                                                # the trainer's call: VAE must stay eval
    assert not method.netVAE.training and method.netG0.training
    assert not any(p.requires_grad for p in method.netVAE.parameters())
    before = snapshot(method)
    ctx = make_ctx(method, "main")
    losses = method.train_step(striped_batch(), ctx)
    assert set(losses) == {"G_GAN0", "G_feat0", "G_GAN1", "G_feat1", "D_fake0", "D_real0", "D_fake1", "D_real1"}
    assert moved(method, before) == {"netG0", "netG1", "netD0", "netD1"}   # VAE weights and BN stats fixed
    assert all(p.grad is None for p in method.netVAE.parameters())
    vae_params = {id(p) for p in method.netVAE.parameters()}
    assert not any(id(p) in vae_params for o in ctx.optimizers.values() for g in o.param_groups for p in g["params"])


@pytest.mark.slow
def test_d0_judges_g0_resolution_and_d1_the_output():
    torch.manual_seed(0)
    method = SLNPGAN(tiny_cfg("slnp"), data_info((64, 64), 4))
    seen = {}

    def record(name):
        def hook(module, args):
            seen.setdefault(name, tuple(args[0].shape))
        return hook

    for name in ("netD0", "netD1"):
        getattr(method, name).register_forward_pre_hook(record(name))
    method.on_stage_start("main")
    method.train()
    method.train_step(striped_batch(size=(64, 64)), make_ctx(method, "main"))
    assert seen == {"netD0": (4, 3, 32, 32), "netD1": (4, 3, 64, 64)}    # fake and real as one batch


def test_paper_preset_builds_at_128_and_256_px():
    cfg = load_config("slnp", "ade20k", "paper")
    data = DataInfo(name="ade20k", num_classes=150, ignore_index=255, contain_dontcare_label=True,
                    image_size=(256, 256))
    method = SLNPGAN(cfg, data)
    counts = {n: count_parameters(getattr(method, n)) for n in method.networks}
    print("slnp paper preset parameters (ADE20K, 256 px):", counts)
    assert counts == {"netVAE": 31_396_035, "netG0": 22_551_043, "netG1": 756_355,
                      "netD0": 2_993_601, "netD1": 2_993_601}
    assert method.size0 == (128, 128) and method.netG1.grid((256, 256)) == (16, 16)
    # Shapes at the paper's resolutions without computing anything (meta tensors).
    method = method.to("meta")
    nc = method.semantic_nc
    sem0, sem1 = torch.zeros(1, nc, 128, 128, device="meta"), torch.zeros(1, nc, 256, 256, device="meta")
    hist = torch.zeros(1, data.label_nc, device="meta")
    z_np = method.netVAE.noise_prior(torch.zeros(1, 256, device="meta"))
    y0, image0 = method.netG0(sem0, hist, z_np)
    instances = Instances(torch.zeros(1, 256, 256, dtype=torch.long, device="meta"),
                          torch.zeros(1, 5, dtype=torch.long, device="meta"),
                          torch.ones(1, 5, dtype=torch.bool, device="meta"))
    image1, weights = method.netG1(sem1, instances, y0, image0)
    assert (z_np.shape, image0.shape, image1.shape, weights.shape) == (
        (1, 256), (1, 3, 128, 128), (1, 3, 256, 256), (1, 256, 5))
    assert method.netD0(image0, sem0, hist)[-1].shape == (1, 1, 8, 8)
    assert method.netD1(image1, sem1, hist)[-1].shape == (1, 1, 16, 16)
