"""pix2pixHD: official layout and outputs, parameter counts, losses, inputs, features and one train step.

``fixtures/pix2pixhd_official.pt`` holds outputs of the official NVIDIA/pix2pixHD ``GlobalGenerator``,
``LocalEnhancer`` and ``Encoder`` (the commit is recorded in the file) for weights and inputs drawn by the
rule in :func:`_fill`, produced by a script run beside the official code outside this repository.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from benchmark.datasets.base import DataInfo
from benchmark.step import LocalStepContext
from methods.base import count_parameters
from methods.nn.encoding import instance_edges
from methods.pix2pixhd import (
    FeatureEncoder,
    GlobalGenerator,
    LocalEnhancer,
    Pix2PixHD,
    build_generator,
    cluster_features,
    fit_feature_clusters,
    load_global_into_local,
    load_official_generator,
    region_average,
)
from tests.conftest import data_info, tiny_cfg

ROOT = Path(__file__).resolve().parent.parent
FIXTURE = torch.load(ROOT / "tests" / "fixtures" / "pix2pixhd_official.pt", weights_only=True)


def _fill(net: torch.nn.Module, seed: int) -> None:
    """The fixture's weight rule: each state-dict entry in order ~ randn * (1/sqrt(size of one slice
    along dim 0) for rank >= 2, else 0.1)."""
    g = torch.Generator().manual_seed(seed)
    state = net.state_dict()
    for key, value in state.items():
        scale = 1.0 / value[0].numel() ** 0.5 if value.dim() >= 2 else 0.1
        state[key] = torch.randn(value.shape, generator=g) * scale
    net.load_state_dict(state)


def _fixture_net(name: str) -> tuple[torch.nn.Module, torch.Tensor, dict]:
    case = FIXTURE[name]
    net = build_generator(case["netG"], case["input_nc"], ngf=case["ngf"],
                          n_downsample_global=case["n_downsample_global"],
                          n_blocks_global=case["n_blocks_global"],
                          n_local_enhancers=case.get("n_local_enhancers", 1),
                          n_blocks_local=case.get("n_blocks_local", 3))
    _fill(net, case["seed"])
    x = torch.randn(case["shape"], generator=torch.Generator().manual_seed(case["seed"] + 1))
    return net.eval(), x, case


def _config(vgg: bool = False, **model) -> dict:
    """The tiny preset with ``model`` overrides; the VGG loss only where a test needs it (it is slow)."""
    cfg = tiny_cfg("pix2pixhd", model=model)
    if not vgg:
        cfg["loss"]["lambda_vgg"] = 0.0
    return cfg


DATA = data_info((32, 32), 4, has_instance=True)


def _batch(n: int = 2, size: int = 32, seed: int = 0) -> dict:
    """Blocky label maps (8x8 cells) with two instances of class 1 and some don't-care pixels."""
    g = torch.Generator().manual_seed(seed)
    label = torch.randint(0, 4, (n, size // 8, size // 8), generator=g)
    label = label.repeat_interleave(8, 1).repeat_interleave(8, 2)
    label[:, :4, :4] = 255
    instance = label.clone()
    instance[:, :, size // 2:] += 1000 * (label[:, :, size // 2:] == 1)
    image = torch.rand(n, 3, size, size, generator=g) * 2 - 1
    return {"label": label, "instance": instance, "image": image, "path": [f"{i}.png" for i in range(n)]}


# -- official layout and outputs ----------------------------------------------------------------
@pytest.mark.parametrize("name", ["global", "local"])
def test_state_dict_keys_are_the_official_ones(name):
    net, _, case = _fixture_net(name)
    assert list(net.state_dict()) == case["keys"]


def test_global_generator_layout_at_paper_size():
    with torch.device("meta"):
        net = GlobalGenerator(36)
    shapes = {k: tuple(v.shape) for k, v in net.state_dict().items()}
    assert all(k.split(".")[0] == "model" and k.split(".")[1].isdigit() for k in shapes)
    assert shapes["model.1.weight"] == (64, 36, 7, 7)                   # stem
    assert shapes["model.13.weight"] == (1024, 512, 3, 3)               # 4th stride-2 downsampling
    assert shapes["model.16.conv_block.1.weight"] == (1024, 1024, 3, 3)  # first of 9 residual blocks
    assert shapes["model.24.conv_block.5.weight"] == (1024, 1024, 3, 3)  # last residual block
    assert shapes["model.25.weight"] == (1024, 512, 3, 3)               # first ConvTranspose
    assert shapes["model.38.weight"] == (3, 64, 7, 7)                   # output conv
    assert len(net.model) == 40


def test_local_enhancer_layout():
    with torch.device("meta"):
        net = LocalEnhancer(36, ngf=32)
    prefixes = {k.split(".")[0] for k in net.state_dict()}
    assert prefixes == {"model", "model1_1", "model1_2"}
    assert len(net.model) == 37                                          # G1 minus pad, conv, tanh
    assert net.model[1].weight.shape == (64, 36, 7, 7)                   # G1 at ngf * 2
    assert net.model1_1[1].weight.shape == (32, 36, 7, 7)
    assert net.model1_1[4].weight.shape == (64, 32, 3, 3)
    assert net.model1_2[-2].weight.shape == (3, 32, 7, 7)


@pytest.mark.parametrize("name", ["global", "local"])
def test_outputs_match_the_official_code(name):
    net, x, case = _fixture_net(name)
    with torch.no_grad():
        out = net(x)
    assert out.shape == case["output"].shape
    assert (out - case["output"]).abs().max().item() < 1e-5


def test_feature_encoder_matches_the_official_code():
    case = FIXTURE["encoder"]
    net = FeatureEncoder(case["input_nc"], case["feat_num"], case["nef"], case["n_downsampling"])
    assert list(net.state_dict()) == case["keys"]
    _fill(net, case["seed"])
    x = torch.randn(case["shape"], generator=torch.Generator().manual_seed(case["seed"] + 1))
    with torch.no_grad():
        out = net.eval()(x, case["instance"])
    assert (out - case["output"]).abs().max().item() < 1e-5


def test_load_official_generator_reproduces_the_official_output(tmp_path):
    net, x, case = _fixture_net("local")
    path = tmp_path / "latest_net_G.pth"
    torch.save(net.state_dict(), path)
    loaded = load_official_generator(str(path), case["input_nc"], netG="local", ngf=case["ngf"],
                                     n_downsample_global=case["n_downsample_global"],
                                     n_blocks_global=case["n_blocks_global"],
                                     n_blocks_local=case["n_blocks_local"])
    assert not loaded.training
    with torch.no_grad():
        assert (loaded(x) - case["output"]).abs().max().item() < 1e-5
    with pytest.raises(ValueError, match="input channels"):
        load_official_generator(str(path), case["input_nc"] + 1, netG="local", ngf=case["ngf"])


def test_from_official_loads_a_cityscapes_shaped_generator(tmp_path):
    cfg = _config(ngf=4, n_downsample_global=2, n_blocks_global=1, use_instance=True)
    data = DataInfo("city", num_classes=35, has_instance=True, image_size=(32, 64))  # 35 + edge = 36
    donor = build_generator("global", 36, ngf=4, n_downsample_global=2, n_blocks_global=1)
    torch.save(donor.state_dict(), tmp_path / "g.pth")
    method = Pix2PixHD.from_official(str(tmp_path / "g.pth"), cfg, data)
    for key, value in donor.state_dict().items():
        assert torch.equal(method.netG.state_dict()[key], value)
    wrong = DataInfo("city", num_classes=34, has_instance=True, image_size=(32, 64))
    with pytest.raises(ValueError, match="does not fit"):
        Pix2PixHD.from_official(str(tmp_path / "g.pth"), cfg, wrong)


def test_paper_parameter_counts():
    """Official counts (networks.py ``print_network``) for Cityscapes: 35 labels + the instance edge."""
    with torch.device("meta"):
        assert count_parameters(GlobalGenerator(36)) == 182_546_755      # 182.5M
        assert count_parameters(GlobalGenerator(35)) == 182_543_619      # without instance edges
        assert count_parameters(LocalEnhancer(36, ngf=32)) == 182_857_059
        assert count_parameters(LocalEnhancer(36, ngf=32).model) == 182_537_344


def test_pretrained_global_initialises_the_local_enhancer():
    torch.manual_seed(0)
    g1 = build_generator("global", 6, ngf=8, n_downsample_global=2, n_blocks_global=1)
    local = build_generator("local", 6, ngf=4, n_downsample_global=2, n_blocks_global=1, n_blocks_local=1)
    load_global_into_local(local, g1.state_dict())
    x = torch.randn(1, 6, 8, 8)
    with torch.no_grad():
        assert torch.equal(local.model(x), g1.model[:-3](x))
    with pytest.raises(ValueError, match="other shapes"):
        load_global_into_local(local, build_generator("global", 6, ngf=4, n_downsample_global=2,
                                                      n_blocks_global=1).state_dict())


# -- inputs, the SPADE paper's Fig. 3 -----------------------------------------------------------
def test_instance_edges_are_an_input_channel():
    method = Pix2PixHD(_config(), DATA)
    batch = _batch()
    semantic = method.semantic(batch)
    assert semantic.shape[1] == DATA.label_nc + 1 == method.netG.model[1].in_channels
    assert method.netD.discriminator_0.model0[0].in_channels == DATA.label_nc + 1 + 3
    assert torch.equal(semantic[:, -1:], instance_edges(batch["instance"]))
    # the two instances of class 1 split at the middle column are told apart only by the edge map
    edge = semantic[:, -1]
    both = (batch["label"][:, :, 15] == 1) & (batch["label"][:, :, 16] == 1)
    assert both.any() and bool((edge[:, :, 15][both] == 1).all() and (edge[:, :, 16][both] == 1).all())
    plain = Pix2PixHD(_config(use_instance=False), DATA)
    assert plain.semantic(batch).shape[1] == DATA.label_nc == plain.netG.model[1].in_channels


def test_uniform_label_maps_give_identical_outputs():
    """SPADE (Park et al. 2019) Fig. 3: InstanceNorm right after the first conv maps every uniform label
    map to the same (zero) features, so the class is lost before the rest of the generator runs.

    The first stage is compared, not the image: the rest of the network sees zeros up to rounding, and
    its InstanceNorms amplify those residues (each by up to 1/sqrt(eps)), so the images differ by noise.
    """
    torch.manual_seed(0)
    net = build_generator("global", 4, ngf=8, n_downsample_global=2, n_blocks_global=2).eval()
    maps = torch.zeros(3, 4, 16, 16)
    maps[0, 0] = 1                     # all class 0
    maps[1, 2] = 1                     # all class 2
    maps[2, 0, :, :8] = 1              # half class 0, half class 2
    maps[2, 2, :, 8:] = 1
    with torch.no_grad():
        conv = net.model[:2](maps)     # reflect-pad, conv7x7
        first = net.model[2](conv)     # InstanceNorm
    assert (conv[0] - conv[1]).abs().max() > 0.1                       # the conv still tells them apart
    assert first[0].abs().max() < 1e-4 and first[1].abs().max() < 1e-4  # InstanceNorm does not
    assert (first[0] - first[2]).abs().max() > 0.5


# -- losses ---------------------------------------------------------------------------------------
def test_feature_matching_weights():
    method = Pix2PixHD(_config(num_D=3, n_layers_D=2), DATA)
    x = torch.randn(1, DATA.label_nc + 1 + 3, 32, 32)
    real = method.netD(x)
    fake = method.netD(x + 0.5 * torch.randn_like(x))
    assert len(real) == 3 and all(len(scale) == 2 + 2 for scale in real)   # n_layers + 1 features + pred
    expected = sum(10.0 * (1 / 3) * (4 / (2 + 1)) * (f - r).abs().mean()
                   for fs, rs in zip(fake, real, strict=True) for f, r in zip(fs[:-1], rs[:-1], strict=True))
    assert torch.allclose(method.feature_matching(fake, real), expected, rtol=1e-5)


def test_lsgan_discriminator_loss_sums_scales():
    method = Pix2PixHD(_config(), DATA)
    preds = [[torch.zeros(1, 1, 4, 4)], [torch.full((1, 1, 2, 2), 0.5)]]
    assert torch.isclose(method.gan_loss(preds, True), torch.tensor(1.0 + 0.25))


# -- instance features and k-means ----------------------------------------------------------------
def test_region_average_matches_a_per_region_loop():
    torch.manual_seed(0)
    feats = torch.randn(2, 3, 8, 8, requires_grad=True)
    groups = torch.randint(0, 4, (2, 8, 8))
    pooled = region_average(feats, groups)
    for b in range(2):
        for g in groups[b].unique():
            mask = groups[b] == g
            expected = feats[b][:, mask].mean(1, keepdim=True).expand(-1, int(mask.sum()))
            assert torch.allclose(pooled[b][:, mask], expected)
    pooled.sum().backward()
    assert torch.allclose(feats.grad, torch.ones_like(feats))


def test_clusters_are_official_sklearn_kmeans(monkeypatch):
    """cluster_features calls scikit-learn's KMeans as the official encode_features.py with the defaults
    of its scikit-learn: n_clusters min(n, 10), n_init 10, random_state 0; separated clusters are found."""
    import sklearn.cluster

    calls = []
    real = sklearn.cluster.KMeans

    def recording(**kwargs):
        calls.append(kwargs)
        return real(**kwargs)

    monkeypatch.setattr(sklearn.cluster, "KMeans", recording)
    rng = np.random.default_rng(0)
    truth = np.array([[0.0, 0.0, 0.0], [5.0, 5.0, 0.0], [0.0, 5.0, 5.0]])
    x = np.concatenate([c + 0.1 * rng.standard_normal((30, 3)) for c in truth])
    feats = torch.from_numpy(np.concatenate([x, x[:4]]))
    classes = torch.tensor([0] * 90 + [1] * 4)
    centres = cluster_features([feats], [classes], [torch.full((94,), 0.5)], num_classes=2, n_clusters=3)
    assert calls == [dict(n_clusters=3, n_init=10, random_state=0), dict(n_clusters=3, n_init=10, random_state=0)]
    assert np.allclose(np.sort(centres[0], axis=0), np.sort(truth, axis=0), atol=0.1)
    again = cluster_features([feats], [classes], [torch.full((94,), 0.5)], num_classes=2, n_clusters=3)
    assert all(np.array_equal(centres[c], again[c]) for c in centres)
    calls.clear()
    few = cluster_features([feats[:2]], [classes[:2]], [torch.full((2,), 0.5)], num_classes=2, n_clusters=10)
    assert calls == [dict(n_clusters=2, n_init=10, random_state=0)] and few[0].shape == (2, 3)


def test_cluster_features_per_class_with_area_threshold():
    feats = torch.tensor([[0.0, 0, 0], [1, 1, 1], [2, 2, 2], [9, 9, 9]])
    classes = torch.tensor([0, 0, 2, 3])
    areas = torch.tensor([0.5, 0.5, 0.5, 0.001])          # class 3's only region is too small
    centres = cluster_features([feats], [classes], [areas], num_classes=4, n_clusters=10)
    assert set(centres) == {0, 2}
    assert centres[0].shape == (2, 3) and centres[2].shape == (1, 3)


@pytest.mark.slow
def test_fit_feature_clusters_and_sample_from_them():
    torch.manual_seed(0)
    method = Pix2PixHD(_config(features="instance", n_clusters=2), DATA)
    assert method.networks == ("netG", "netD", "netE") and method.multimodal
    assert method.netG.model[1].in_channels == DATA.label_nc + 1 + 3
    batch = _batch(4)
    with pytest.warns(UserWarning, match="no clusters"):
        method.generate(batch)
    training_set = [_batch(2, seed=s) for s in range(3)]
    centres = fit_feature_clusters(method, training_set)
    present = {int(c) for b in training_set for c in b["label"].unique() if c != 255}
    assert set(centres) == present
    counts = method.feature_cluster_counts
    assert all(counts[c] == len(centres[c]) <= 2 for c in present)
    record = method.extra_info()["feature_clusters"]["kmeans"]
    assert record["library"].startswith("scikit-learn ") and (record["n_init"], record["random_state"]) == (10, 0)
    state = method.state_dict()
    assert torch.equal(state["feature_centers"][0, :int(counts[0])].double(),
                       torch.from_numpy(centres[0]).to(state["feature_centers"]).double())
    feats = method.sample_features(batch, torch.zeros(4, DATA.num_classes, dtype=torch.long))
    c0 = batch["label"] == 0
    assert torch.allclose(feats.permute(0, 2, 3, 1)[c0], method.feature_centers[0, 0].expand(int(c0.sum()), 3))
    assert (feats.permute(0, 2, 3, 1)[batch["label"] == 255] == 0).all()
    z0, z1 = torch.zeros(4, 4, dtype=torch.long), torch.ones(4, 4, dtype=torch.long)
    out0, out1 = method.generate(batch, z=z0), method.generate(batch, z=z1)
    assert torch.equal(out0, method.generate(batch, z=z0)) and not torch.equal(out0, out1)
    assert method.generate(batch, style=batch["image"]).shape == (4, 3, 32, 32)
    with pytest.raises(ValueError, match="one cluster choice per sample and class"):
        method.generate(batch, z=torch.zeros(4, 3, dtype=torch.long))


# -- training ------------------------------------------------------------------------------------
def _step(method: Pix2PixHD, batch: dict, iteration: int = 0) -> tuple[dict, dict]:
    optimizers = method.configure_optimizers("main")
    ctx = LocalStepContext(optimizers, {n: getattr(method, n) for n in method.networks_for("main")})
    ctx.iteration = iteration
    before = {k: v.detach().clone() for k, v in method.named_parameters()}
    losses = method.train_step(batch, ctx)
    changed = {k: not torch.equal(before[k], v) for k, v in method.named_parameters()}
    return losses, changed


@pytest.mark.slow
def test_one_train_step_updates_g_and_d():
    torch.manual_seed(0)
    method = Pix2PixHD(_config(vgg=True, features="instance"), DATA)   # tiny preset: random VGG weights
    assert method.extra_info()["vgg_weights"].startswith("random")
    losses, changed = _step(method, _batch())
    assert set(losses) == {"G_GAN", "G_GAN_Feat", "G_VGG", "D_fake", "D_real"}
    assert all(np.isfinite(v) for v in losses.values())
    for net in ("netG", "netD", "netE"):
        assert any(v for k, v in changed.items() if k.startswith(net + ".")), net


@pytest.mark.slow
def test_niter_fix_global_counts_epochs_then_restarts_g_adam():
    """niter_fix_global = 2 epochs of 3 iterations: iterations 0-5 train only the outermost local branch;
    iteration 6 trains all of G with a fresh Adam (official update_fixed_params): every G parameter's
    Adam step count is 1 after it, and its update is a first Adam step."""
    torch.manual_seed(0)
    method = Pix2PixHD(_config(netG="local", ngf=4, n_downsample_global=2, n_blocks_global=1,
                               niter_fix_global=2), DATA)
    optimizers = method.configure_optimizers("main")
    ctx = LocalStepContext(optimizers, {n: getattr(method, n) for n in method.networks_for("main")})
    ctx.steps_per_epoch = 3
    opt_g = optimizers["G"]
    fixed_ids = {id(p) for p in method.netG.global_parameters()}
    params = dict(method.netG.named_parameters())
    global_names = {k for k, p in params.items() if id(p) in fixed_ids}
    assert global_names and all(k.startswith("model.") for k in global_names)
    for it in range(7):
        ctx.iteration = it
        before = {k: v.detach().clone() for k, v in params.items()}
        grads: dict = {}

        def record(opt, args, kwargs, grads=grads):
            grads.update({k: p.grad.clone() for k, p in params.items() if p.grad is not None})

        hook = opt_g.register_step_pre_hook(record)
        method.train_step(_batch(seed=it), ctx)
        hook.remove()
        moved = {k for k, v in params.items() if not torch.equal(before[k], v)}
        if it < 6:
            assert not moved & global_names, it
            assert {k for k in params if k.startswith("model1_") and k.endswith("weight")} <= moved
            assert max(int(opt_g.state[params[k]]["step"]) for k in params if k.startswith("model1_")) == it + 1
        else:
            assert {k for k in global_names if k.endswith("weight")} <= moved
            assert {int(opt_g.state[p]["step"]) for p in params.values()} == {1}
            # A fresh Adam's first step: lr * g / (|g| + eps) (bias corrections cancel), local weights too.
            for k in ("model1_1.1.weight", "model.1.weight"):
                g = grads[k]
                want = before[k] - 2e-4 * g / (g.abs() + 1e-8)
                # float32 Adam arithmetic: a few ulps of the weight and of the 2e-4 step, element by element
                # (a fixed 1e-7 is 1.7 ulps of a weight near 1 and depends on how a CPU fuses the update)
                tol = 4 * torch.finfo(torch.float32).eps * (before[k].abs() + 2e-4)
                assert ((params[k].detach() - want).abs() <= tol).all(), k
    assert all(p.requires_grad for p in method.parameters())


def test_niter_fix_global_needs_the_epoch_length():
    method = Pix2PixHD(_config(netG="local", ngf=4, n_downsample_global=2, n_blocks_global=1,
                               niter_fix_global=1), DATA)
    ctx = LocalStepContext(method.configure_optimizers("main"), {n: getattr(method, n) for n in method.networks})
    with pytest.raises(ValueError, match="counts epochs"):
        method.train_step(_batch(), ctx)


@pytest.mark.slow
def test_niter_fix_global_through_the_trainer(tmp_path):
    """End to end: the trainer's epoch (4 images at batch 2: 2 iterations) reaches the method; with
    niter_fix_global = 1 the global generator is still at its initial weights after iteration 2 and moves
    at iteration 3, and G's Adam then counts from 1."""
    from benchmark.config import load_config
    from benchmark.datasets import build_dataset
    from benchmark.trainer import Trainer

    cfg = load_config("pix2pixhd", "synthetic", "tiny", [
        "data.num_train=4", "data.num_val=2", "train.batch_size=2", "train.iters=3", "loss.lambda_vgg=0.0",
        "model.netG='local'", "model.niter_fix_global=1", "train.checkpoint_interval=1000",
        "train.sample_interval=1000"])
    ds = build_dataset(cfg["data"], "train")
    trainer = Trainer(cfg, tmp_path / "run", train_set=ds, info=ds.info, progress=False)
    method = trainer.method
    global_params = method.netG.global_parameters()
    seen = []
    inner = method.train_step

    def step(batch, ctx):
        seen.append((ctx.iteration, ctx.steps_per_epoch, [p.detach().clone() for p in global_params]))
        return inner(batch, ctx)

    method.train_step = step
    trainer.train()
    assert [(it, spe) for it, spe, _ in seen] == [(0, 2), (1, 2), (2, 2)]
    assert all(torch.equal(a, b) for a, b in zip(seen[0][2], seen[2][2], strict=True))   # fixed for 2 iterations
    assert any(not torch.equal(a, b.detach()) for a, b in zip(seen[2][2], global_params, strict=True))
    assert {int(s["step"]) for s in method._optimizer_G.state.values()} == {1}


def test_bilinear_upsample_init_starts_without_a_checkerboard():
    from methods.nn.init import bilinear_kernel

    # FCN's upsample_filt for factor 2: outer([0.5, 1, 0.5]) (3x3) and outer([.25, .75, .75, .25]) (4x4)
    torch.testing.assert_close(bilinear_kernel(3, 2), torch.outer(*[torch.tensor([0.5, 1.0, 0.5],
                                                                                 dtype=torch.float64)] * 2))
    torch.testing.assert_close(bilinear_kernel(4, 2), torch.outer(*[torch.tensor([0.25, 0.75, 0.75, 0.25],
                                                                                 dtype=torch.float64)] * 2))
    with pytest.raises(ValueError, match="factor 3"):
        bilinear_kernel(5, 2)

    def first_up(init: str) -> torch.nn.ConvTranspose2d:
        torch.manual_seed(0)
        net = build_generator("global", 5, ngf=8, n_downsample_global=2, n_blocks_global=1, upsample_init=init)
        return next(m for m in net.modules() if isinstance(m, torch.nn.ConvTranspose2d))

    x = torch.ones(1, first_up("normal").in_channels, 6, 6)
    with torch.no_grad():
        # away from the border, a constant input stays constant: every output pixel the same blend of inputs
        inner = first_up("bilinear")(x)[0, :, 2:-2, 2:-2]
        assert float(inner.std(dim=(1, 2)).max()) < 1e-6
        # the official N(0, 0.02) taps draw a 2-pixel pattern on the same input
        official = first_up("normal")(x)[0, :, 2:-2, 2:-2]
        assert float(official.std(dim=(1, 2)).max()) > 1e-3
    with pytest.raises(ValueError, match="upsample_init"):
        build_generator("global", 5, ngf=8, n_downsample_global=2, n_blocks_global=1, upsample_init="icnr")


def test_nearest_upsampling_replaces_the_transposed_convolutions_and_draws_no_checkerboard():
    torch.manual_seed(0)
    net = build_generator("global", 5, ngf=8, n_downsample_global=2, n_blocks_global=1, upsample="nearest")
    assert not any(isinstance(m, torch.nn.ConvTranspose2d) for m in net.modules())
    ups = [m for m in net.model if isinstance(m, torch.nn.Upsample)]
    assert len(ups) == 2 and all(u.scale_factor == 2 and u.mode == "nearest" for u in ups)
    assert net(torch.randn(2, 5, 16, 16)).shape == (2, 3, 16, 16)
    # the first upsampling layer (Upsample, pad, conv) on a constant map: a constant output, where the
    # official transposed convolution on the same input draws its 2-pixel pattern (previous test)
    start = list(net.model).index(ups[0])
    layer = torch.nn.Sequential(*net.model[start:start + 3])
    with torch.no_grad():
        out = layer(torch.ones(1, layer[2].in_channels, 6, 6))
    assert out.shape[-2:] == (12, 12)
    assert float(out[0].std(dim=(1, 2)).max()) < 1e-6
    local = build_generator("local", 5, ngf=4, n_downsample_global=2, n_blocks_global=1, n_blocks_local=1,
                            upsample="nearest")
    assert not any(isinstance(m, torch.nn.ConvTranspose2d) for m in local.modules())
    assert local(torch.randn(1, 5, 32, 32)).shape == (1, 3, 32, 32)
    with pytest.raises(ValueError, match="model.upsample 'bicubic'"):
        build_generator("global", 5, ngf=8, n_downsample_global=2, n_blocks_global=1, upsample="bicubic")
    with pytest.raises(ValueError, match="keep upsample_init='normal'"):
        build_generator("global", 5, ngf=8, n_downsample_global=2, n_blocks_global=1, upsample="nearest",
                        upsample_init="bilinear")
