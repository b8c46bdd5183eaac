"""The verdict's orchestration end to end: seeds, sweeps, budgets, the compute record, learning curves and
the refusal of bad input, through ``python -m benchmark run`` on tiny synthetic data."""

from __future__ import annotations

import csv
import json
import math
import mmap
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from benchmark import checkpoint as ckpt
from benchmark import cli, compute, runs
from benchmark.cli import build_parser, main
from benchmark.config import ConfigError, load_config

DATA = ["--dataset", "synthetic", "--set", "data.num_train=16", "--set", "data.num_val=6",
        "--set", "train.batch_size=4", "--no-progress"]
DATA_OVERRIDES = ["data.num_train=16", "data.num_val=6", "train.batch_size=4"]
CONTRACT_COMPUTE = {"iterations": int, "images_seen": int, "train_s": float, "gflops_per_iter": float,
                    "gflops_per_iter_by_stage": dict, "tflops_total": float, "params_G_M": float,
                    "peak_mem_mb": float, "peak_mem_kind": str}


def no_report(out, dataset):
    pass


def run_dirs(out: Path, method: str) -> list[Path]:
    return sorted((out / "runs" / "synthetic" / method).iterdir())


def manifest(run_dir: Path) -> dict:
    return json.loads((run_dir / "manifest.json").read_text())


def config(run_dir: Path) -> dict:
    return json.loads((run_dir / "config.json").read_text())


def curve_rows(run_dir: Path) -> list[dict]:
    return list(csv.DictReader((run_dir / "curve.csv").open()))


def weights(run_dir: Path) -> dict:
    return load_file(str(ckpt.latest_checkpoint(run_dir / "checkpoints").weights))


def differing_keys(a: dict, b: dict, prefix: str = "") -> set[str]:
    keys = set()
    for k in set(a) | set(b):
        va, vb = a.get(k), b.get(k)
        if isinstance(va, dict) and isinstance(vb, dict):
            keys |= differing_keys(va, vb, f"{prefix}{k}.")
        elif va != vb:
            keys.add(f"{prefix}{k}")
    return keys


# -- seeds, compute record, hardware, learning curves --------------------------------------------------

@pytest.fixture(scope="module")
def seeded(tmp_path_factory, tiny_segmenter):
    out = tmp_path_factory.mktemp("seeds")
    args = ["run", "--methods", "pix2pix", "--seeds", "0,1", "--iters", "4", "--eval-every", "2", "--out", str(out),
            "--segmenter-checkpoint", tiny_segmenter, *DATA]
    assert main(args) == 0
    return out, args


@pytest.mark.slow
def test_each_seed_is_its_own_run_and_only_the_seed_differs(seeded):
    out, _ = seeded
    dirs = run_dirs(out, "pix2pix")
    assert len(dirs) == 2
    by_seed = {manifest(d)["seed"]: d for d in dirs}
    assert set(by_seed) == {0, 1}
    assert differing_keys(config(by_seed[0]), config(by_seed[1])) == {"seed"}
    for seed, d in by_seed.items():
        assert config(d)["seed"] == seed and config(d)["budget"] is None
        m = manifest(d)
        assert m["status"] == "finished" and m["budget"] is None and m["sweep"] == {}
        assert json.loads((d / "metrics.json").read_text())["provenance"]["seed"] == seed
    # different seeds train different weights
    w0, w1 = weights(by_seed[0]), weights(by_seed[1])
    assert any(not torch.equal(w0[k], w1[k]) for k in w0)


@pytest.mark.slow
def test_manifest_records_compute_and_hardware(seeded):
    out, _ = seeded
    from benchmark.datasets import dataset_info
    from benchmark.trainer import build_method
    from methods.base import count_parameters

    for d in run_dirs(out, "pix2pix"):
        m = manifest(d)
        comp = m["compute"]
        for key, kind in CONTRACT_COMPUTE.items():
            assert isinstance(comp[key], kind), key
        assert comp["iterations"] == 4 and comp["images_seen"] == 16
        assert comp["peak_mem_kind"] == "cpu_rss" and comp["peak_mem_mb"] > 0
        assert comp["peak_mem_scope"] == "run" and comp["peak_mem_baseline_mb"] <= comp["peak_mem_mb"]
        assert set(comp["gflops_per_iter_by_stage"]) == {"main"}
        assert comp["gflops_per_iter"] == pytest.approx(comp["gflops_per_iter_by_stage"]["main"])
        assert comp["tflops_total"] == pytest.approx(4 * comp["gflops_per_iter"] / 1e3)
        assert comp["train_s"] > 0 and m["curve"]["eval_s"] > 0  # the curve's scoring is kept out of train_s
        cfg = runs.load_run_config(d)
        net = build_method(cfg, dataset_info(cfg["data"]))
        assert comp["params_G_M"] == count_parameters(net.netG) / 1e6
        hw = m["hardware"]
        assert set(hw) >= {"cpu", "gpu", "threads", "device", "platform"}
        assert hw["device"] == "cpu" and hw["gpu"] is None and hw["threads"] >= 1 and hw["cpu"]


@pytest.mark.slow
def test_curve_rows_at_the_cadence_and_the_last_row_is_the_final_score(seeded):
    out, _ = seeded
    for d in run_dirs(out, "pix2pix"):
        rows = curve_rows(d)
        record = json.loads((d / "metrics.json").read_text())
        comp = manifest(d)["compute"]
        assert list(rows[0])[:4] == ["stage", "iteration", "images_seen", "tflops"]
        assert {"mIoU", "accu", "FD-seg", "protocol_id"} <= set(rows[0])
        assert [(r["stage"], int(r["iteration"]), int(r["images_seen"])) for r in rows] == \
            [("main", 2, 8), ("main", 4, 16)]
        for r in rows:
            assert float(r["tflops"]) == pytest.approx(int(r["iteration"]) * comp["gflops_per_iter"] / 1e3)
            assert r["protocol_id"] == "synthetic-v1"
        # the same weights, images and scorer as metrics.json: equal up to the CSV's float text (repr, exact)
        for key in ("mIoU", "accu", "FD-seg"):
            assert float(rows[-1][key]) == record["metrics"][key], key
        assert float(rows[0]["mIoU"]) != float(rows[-1]["mIoU"])  # two evaluations of different weights
        assert manifest(d)["curve"]["eval_every"] == 2


@pytest.mark.slow
def test_same_command_reuses_every_seed_and_seed_n_is_one_of_them(seeded, capsys, tiny_segmenter, monkeypatch):
    out, args = seeded
    monkeypatch.setattr(cli, "_report", no_report)
    stamps = {d: (d / "checkpoints" / "latest.json").stat().st_mtime_ns for d in run_dirs(out, "pix2pix")}
    curves = {d: (d / "curve.csv").read_text() for d in stamps}
    assert main(args) == 0
    assert capsys.readouterr().out.count("reusing the finished run") == 2
    assert main(["run", "--methods", "pix2pix", "--seed", "1", "--iters", "4", "--out", str(out),
                 "--segmenter-checkpoint", tiny_segmenter, *DATA]) == 0
    assert capsys.readouterr().out.count("reusing the finished run") == 1
    assert len(run_dirs(out, "pix2pix")) == 2
    for d, stamp in stamps.items():
        assert (d / "checkpoints" / "latest.json").stat().st_mtime_ns == stamp
        assert (d / "curve.csv").read_text() == curves[d]


@pytest.mark.slow
def test_a_finished_run_without_that_curve_is_named_before_anything_trains(seeded, capsys, tiny_segmenter):
    out, _ = seeded
    assert main(["run", "--methods", "pix2pix", "--seeds", "0,1,2", "--iters", "4", "--eval-every", "3",
                 "--out", str(out), "--segmenter-checkpoint", tiny_segmenter, *DATA]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "every 2 iterations" in err and "--eval-every 2" in err and "delete" in err
    assert len(run_dirs(out, "pix2pix")) == 2  # seed 2 was not trained either


# -- the learning curve: resume-safe, and training does not see it -------------------------------------

@pytest.fixture(scope="module")
def curve_runs(tmp_path_factory, tiny_segmenter):
    """The same pix2pix config trained straight with a curve every iteration, without a curve, and stopped
    after 2 iterations then resumed (with a row past the checkpoint left by a 'crash')."""
    from benchmark.curve import CurveSpec
    from benchmark.pipeline import train_run

    root = tmp_path_factory.mktemp("curves")
    cfg = load_config("pix2pix", "synthetic", "tiny", [*DATA_OVERRIDES, "train.iters=4", "train.checkpoint_interval=2"])
    spec = CurveSpec(1, "synthetic-v1", {"segmenter_checkpoint": tiny_segmenter, "device": "cpu"})
    straight = train_run(cfg, root / "a", curve=spec, progress=False).run_dir
    plain = train_run(cfg, root / "b", progress=False).run_dir
    stopped = train_run(cfg, root / "c", curve=spec, progress=False, stop_after=2)
    assert not stopped.completed
    stopped_rows = curve_rows(stopped.run_dir)
    with (stopped.run_dir / "curve.csv").open("a") as fh:  # evaluated, then killed before the checkpoint
        fh.write("main,3,12,0.0,99.0,99.0,0.0,synthetic-v1,0.1\n")
    resumed = train_run(cfg, root / "c", curve=spec, progress=False, resume=True)
    assert resumed.completed
    return straight, plain, resumed.run_dir, stopped_rows


@pytest.mark.slow
def test_training_is_bit_identical_with_and_without_the_curve(curve_runs):
    straight, plain, resumed, _ = curve_runs
    a, b, c = weights(straight), weights(plain), weights(resumed)
    assert a.keys() == b.keys() == c.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), k
        assert torch.equal(a[k], c[k]), k


@pytest.mark.slow
def test_curve_rows_survive_stop_and_resume(curve_runs):
    straight, _, resumed, stopped_rows = curve_runs
    assert [int(r["iteration"]) for r in stopped_rows] == [1, 2]
    drop = ("eval_s",)
    rows_a = [{k: v for k, v in r.items() if k not in drop} for r in curve_rows(straight)]
    rows_c = [{k: v for k, v in r.items() if k not in drop} for r in curve_rows(resumed)]
    assert [int(r["iteration"]) for r in rows_a] == [1, 2, 3, 4]
    assert rows_c == rows_a  # the crashed run's row 3 was dropped and evaluated again


# -- sweeps --------------------------------------------------------------------------------------------

def test_sweep_plan_is_the_cross_product_with_seeds():
    from benchmark.cli import _plan_request, _seeds_arg, _sweep_args
    from benchmark.experiment.plan import plan_configs

    args = build_parser().parse_args(["run", "--methods", "pix2pix", "--seeds", "0,3", "--sweep", "model.ngf=4,8",
                                      "--sweep", "optimizer.betas=(0.5, 0.999),(0.0, 0.9)", "--iters", "2", *DATA])
    plan = plan_configs(_plan_request(args, ["pix2pix"], _seeds_arg(args), _sweep_args(args)))
    assert len(plan) == 8
    combos = {(p.cfg["model"]["ngf"], tuple(p.cfg["optimizer"]["betas"]), p.cfg["seed"]) for p in plan}
    assert len(combos) == 8
    assert {p.sweep["model.ngf"] for p in plan} == {4, 8}
    first = plan[0]
    for p in plan[1:]:
        cfg_a, cfg_b = first.cfg.to_dict(), p.cfg.to_dict()
        changed = {k for k in differing_keys(cfg_a, cfg_b) if not k.startswith(("_meta_", "run."))}
        assert changed <= {"model.ngf", "optimizer.betas", "seed"}
    assert plan[0].cfg["run"] == {"sweep": {"model.ngf": 4, "optimizer.betas": (0.5, 0.999)}}


@pytest.mark.slow
def test_sweep_optimizer_of_slnp_one_run_per_value(tmp_path, tiny_segmenter, capsys):
    """The issue's example: --sweep optimizer.type=Adam,AMM gives two runs differing only in that key."""
    out = tmp_path / "out"
    assert main(["run", "--methods", "slnp", "--sweep", "optimizer.type=Adam,AMM", "--iters", "1", "--out", str(out),
                 "--segmenter-checkpoint", tiny_segmenter, *DATA]) == 0
    printed = capsys.readouterr().out
    assert "[slnp optimizer.type=Adam]" in printed and "[slnp optimizer.type=AMM]" in printed
    dirs = run_dirs(out, "slnp")
    assert len(dirs) == 2
    sweeps = sorted(manifest(d)["sweep"]["optimizer.type"] for d in dirs)
    assert sweeps == ["AMM", "Adam"]
    a, b = (config(d) for d in dirs)
    assert differing_keys(a, b) == {"optimizer.type", "run.sweep.optimizer.type"}
    # the report pairs them for the Adam-vs-AMM figure
    assert (out / "figures" / "adam_vs_amm_synthetic.png").is_file()


# -- budgets -------------------------------------------------------------------------------------------

def test_image_budget_scales_every_stage_by_one_factor():
    cfg = load_config("slnp", "synthetic", "tiny", ["train.batch_size=4"])
    assert compute.stage_iterations(cfg) == {"noise_prior": 200, "main": 2000}
    record = compute.apply_budget(cfg, compute.Budget.parse("images=880"))
    assert record["iterations"] == {"noise_prior": 20, "main": 200}  # 220 iterations x 4 images, 1 : 10 kept
    assert compute.stage_iterations(cfg) == {"noise_prior": 20, "main": 200}
    assert cfg["budget"] == {"kind": "images", "value": 880} and record["images"] == 880
    # a paper schedule in epochs (SPADE Cityscapes: 200 epochs of 2975 images at batch 16): the budget's
    # iterations win and the derivation record says so
    paper = load_config("spade", "cityscapes", "paper")
    assert compute.stage_iterations(paper) == {"main": 200 * (2975 // 16)}
    assert compute.apply_budget(paper, compute.Budget.parse("images=160000"))["iterations"] == {"main": 10000}
    assert paper["train"]["iters"] == 10000
    assert paper["train"]["epochs_derivation"]["overridden_by"] == "--budget images=160000"
    with pytest.raises(ConfigError, match=r"no iteration.*smallest budget that trains every stage is images=22\b"):
        compute.apply_budget(load_config("slnp", "synthetic", "tiny", ["train.batch_size=4"]),
                             compute.Budget.parse("images=8"))


@pytest.fixture(scope="module")
def budget_runs(tmp_path_factory, tiny_segmenter):
    out = tmp_path_factory.mktemp("budgets")
    common = ["--methods", "pix2pix,slnp", "--out", str(out), "--segmenter-checkpoint", tiny_segmenter, *DATA]
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(cli, "_report", no_report)  # the tables and figures are tested elsewhere; they take most of the time
        assert main(["run", "--budget", "images=48", *common]) == 0
        assert main(["run", "--budget", "tflops=0.03", *common]) == 0
    return out


def by_budget(out: Path, method: str) -> dict[str, Path]:
    return {manifest(d)["budget"]["kind"]: d for d in run_dirs(out, method)}


@pytest.mark.slow
def test_image_budget_gives_every_method_the_same_images(budget_runs):
    for method, iters in (("pix2pix", {"main": 12}), ("slnp", {"noise_prior": 1, "main": 11})):
        d = by_budget(budget_runs, method)["images"]
        m = manifest(d)
        assert m["budget"]["kind"] == "images" and m["budget"]["value"] == 48
        assert m["budget"]["iterations"] == iters and m["iterations"] == iters
        assert m["compute"]["images_seen"] == 48
        assert config(d)["budget"] == {"kind": "images", "value": 48}


@pytest.mark.slow
def test_tflops_budget_gives_every_method_the_same_compute(budget_runs):
    for method in ("pix2pix", "slnp"):
        m = manifest(by_budget(budget_runs, method)["tflops"])
        budget, comp = m["budget"], m["compute"]
        assert budget["value"] == 0.03 and m["iterations"] == budget["iterations"]
        per_stage = comp["gflops_per_iter_by_stage"]
        assert per_stage == budget["gflops_per_iter_by_stage"]  # measured before training, recorded once
        # one factor for every stage, each rounded to whole iterations: within half an iteration per stage
        slack = sum(0.5 * g for g in per_stage.values()) / 1e3
        assert abs(comp["tflops_total"] - 0.03) <= slack
        assert comp["tflops_total"] == pytest.approx(budget["tflops"])
        scale = budget["scale"]
        for stage, n in budget["iterations"].items():
            assert abs(n - scale * budget["preset_iterations"][stage]) <= 0.5
    pix = manifest(by_budget(budget_runs, "pix2pix")["tflops"])
    assert pix["budget"]["iterations"]["main"] == math.floor(30 / pix["compute"]["gflops_per_iter"] + 0.5)
    slnp = manifest(by_budget(budget_runs, "slnp")["tflops"])
    assert slnp["budget"]["iterations"]["noise_prior"] >= 1 and slnp["budget"]["iterations"]["main"] >= 1
    # runs under two budgets are separate runs (the budget is in the config hash)
    assert len(run_dirs(budget_runs, "pix2pix")) == 2 and len(run_dirs(budget_runs, "slnp")) == 2


# -- FLOP counting -------------------------------------------------------------------------------------

def test_flop_count_of_the_toy_step_is_the_analytic_one(toy_method):
    """ToyMethod at batch 4, 8 x 8, 3 classes: G = 1x1 conv 4 -> 3, D = 1x1 conv 6 -> 1; a conv of
    Cin -> Cout over N pixels is 2 N Cin Cout FLOPs forward, the same again for each gradient it needs.
    G step: G fwd, D fwd, D grad-input, G grad-weight; D step: D fwd twice, D grad-weight twice."""
    from benchmark.trainer import first_batch
    from tests.toy import ToyDataset

    ds = ToyDataset()
    cfg = {"method": "toy", "seed": 3, "model": {}, "train": {"iters": 2, "batch_size": 4, "stages": {}}}
    method = toy_method(cfg, ds.info)
    n = 4 * 8 * 8
    g, d = 2 * n * 4 * 3, 2 * n * 6 * 1
    expected = (g + d + d + g) + (d + d + d + d)
    got = compute.measure_gflops(method, cfg, first_batch(ds, cfg, torch.device("cpu")), torch.device("cpu"))
    assert got == {"main": expected / 1e9}


def slnp_trainer(run_dir: Path):
    from benchmark.datasets import build_dataset
    from benchmark.trainer import Trainer

    cfg = load_config("slnp", "synthetic", "tiny", [*DATA_OVERRIDES, "train.iters=1",
                                                    "train.stages.noise_prior.iters=1", "model.ngf0=8",
                                                    "model.ngf1=8", "netD.ndf=8"])
    ds = build_dataset(cfg["data"], "train", train=True)
    return Trainer(cfg, run_dir, train_set=ds, info=ds.info, device="cpu", progress=False)


@pytest.mark.slow
def test_flop_measurement_leaves_training_bit_identical(tmp_path, monkeypatch):
    """SLNP-GAN draws noise in both stages: a measurement that consumed RNG would change the weights."""
    plain = slnp_trainer(tmp_path / "plain")
    plain.train()
    measured = slnp_trainer(tmp_path / "measured")
    state = torch.get_rng_state()
    gflops = compute.measure_gflops(measured.method, measured.cfg, measured.first_batch(), measured.device)
    assert torch.equal(torch.get_rng_state(), state)
    assert set(gflops) == {"noise_prior", "main"} and all(v > 0 for v in gflops.values())
    measured.train()
    a, b = weights(tmp_path / "plain"), weights(tmp_path / "measured")
    for k in a:
        assert torch.equal(a[k], b[k]), k
    # the check can fail: without restoring the RNG states the same measurement changes the weights
    leaky = slnp_trainer(tmp_path / "leaky")
    monkeypatch.setattr(ckpt, "set_rng_state", lambda state: None)
    compute.measure_gflops(leaky.method, leaky.cfg, leaky.first_batch(), leaky.device)
    monkeypatch.undo()
    leaky.train()
    c = weights(tmp_path / "leaky")
    assert any(not torch.equal(a[k], c[k]) for k in a)


def test_generator_parameters_follow_generator_networks():
    from benchmark.datasets import dataset_info
    from benchmark.trainer import build_method
    from methods.base import count_parameters, generator_parameters

    cfg = load_config("slnp", "synthetic", "tiny", DATA_OVERRIDES)
    method = build_method(cfg, dataset_info(cfg["data"]))
    assert generator_parameters(method) == sum(count_parameters(getattr(method, n))
                                               for n in ("netVAE", "netG0", "netG1"))
    assert generator_parameters(method) < count_parameters(method)  # the discriminators are left out


def test_peak_memory_is_per_run_on_cpu():
    big = np.ones(40_000_000)  # 305 MiB, freed before the measurement starts
    del big
    probe = compute.PeakMemory(torch.device("cpu"))
    probe.start()
    # 64 MiB of fresh anonymous pages, every one written: a numpy array could reuse pages the allocator
    # already holds resident (it did in a loaded CI run: +0 MiB), a new mapping cannot
    small = mmap.mmap(-1, 64 * 2**20)
    small.write(b"\x01" * (64 * 2**20))
    record = probe.read()
    small.close()
    assert record["peak_mem_kind"] == "cpu_rss" and record["peak_mem_scope"] == "run"
    # the 64 MiB show; the 305 MiB of the earlier "run" do not
    assert 50 <= record["peak_mem_mb"] - record["peak_mem_baseline_mb"] < 250


# -- bad input -----------------------------------------------------------------------------------------

BAD = [
    (["run", "--methods", "spade", "--iters", "-5"], "--iters must be a positive whole number, got -5"),
    (["run", "--methods", "spade", "--iters", "0"], "--iters"),
    (["run", "--methods", "spade", "--eval-every", "0"], "--eval-every"),
    (["run", "--methods", "spade", "--num-images", "0"], "--num-images"),
    (["run", "--methods", "spade", "--budget", "images=0"], "--budget 'images=0' is not a positive budget"),
    (["run", "--methods", "spade", "--budget", "tflops=-1"], "--budget"),
    (["run", "--methods", "spade", "--budget", "epochs=3"], "--budget"),
    (["run", "--methods", "spade", "--budget", "images=2.5"], "whole number"),
    (["run", "--methods", "spade", "--budget", "images=64", "--iters", "3"], "--budget and --iters"),
    (["run", "--methods", "slnp", "--budget", "images=8"], "smallest budget"),
    (["run", "--methods", "spade", "--seeds", ""], "--seeds is empty"),
    (["run", "--methods", "spade", "--seeds", "0,,1"], "is not a whole number"),
    (["run", "--methods", "spade", "--seeds", "0,0"], "twice"),
    (["run", "--methods", "spade", "--seeds", "-1"], "must be >= 0"),
    (["run", "--methods", "spade", "--seeds", "a,1"], "'a' is not a whole number"),
    (["run", "--methods", "spade", "--seeds", "1", "--seed", "2"], "--seed and --seeds"),
    (["run", "--methods", "spade", "--seed", "-3"], "--seed must be"),
    (["run", "--methods", "spade", "--sweep", "model.ngf"], "KEY=V1,V2"),
    (["run", "--methods", "spade", "--sweep", "model.ngf=8,"], "empty value"),
    (["run", "--methods", "spade", "--sweep", "model.ngf=8,8"], "twice"),
    (["run", "--methods", "spade", "--sweep", "model.nfg=8,16"], "--sweep model.nfg: the spade config has no key"),
    (["run", "--methods", "spade", "--sweep", "seed=1,2"], "--sweep seed: give the seeds with --seeds"),
    (["run", "--methods", "spade", "--sweep", "train.iters=1,2", "--iters", "3"], "--sweep train.iters and --iters"),
    (["run", "--methods", "spade", "--set", "train.iters=0"], "would train 0 iterations"),
    (["train", "--method", "spade", "--iters", "-5"], "--iters"),
    (["train", "--method", "spade", "--stop-after", "0"], "--stop-after"),
    (["generate", "--method", "spade", "--checkpoint", "x", "--num-images", "0"], "--num-images"),
    (["evaluate", "--images", "x", "--num-images", "-1"], "--num-images"),
]


@pytest.mark.slow
@pytest.mark.parametrize(("argv", "message"), BAD, ids=[" ".join(a[2:]) for a, _ in BAD])
def test_bad_input_is_one_sentence_before_anything_trains(argv, message, tmp_path, capsys, monkeypatch):
    from benchmark import evaluation, pipeline

    def reached(*args, **kwargs):
        raise AssertionError("the bad input reached the protocol check or training")

    monkeypatch.setattr(pipeline, "train_run", reached)
    monkeypatch.setattr(evaluation, "preflight", reached)
    out = tmp_path / "out"
    extra = ["--out", str(out)] if argv[0] != "evaluate" else []
    small = ["--set", "data.num_train=16", "--set", "data.num_val=6"]  # the tiny_segmenter fixture's data
    assert main([*argv, *extra, *small, "--dataset", "synthetic", "--no-progress"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "\n" not in err and message in err, err
    assert not (out / "runs").exists()


@pytest.mark.slow
def test_a_run_that_trained_zero_iterations_is_never_reused(tmp_path):
    assert main(["train", "--method", "pix2pix", "--iters", "1", "--out", str(tmp_path), *DATA]) == 0
    (run_dir,) = run_dirs(tmp_path, "pix2pix")
    assert runs.is_finished(run_dir)
    for iterations in ({"main": 0}, {"main": -5}, {}):
        runs.update_manifest(run_dir, iterations=iterations)
        if iterations:
            assert not runs.is_finished(run_dir), iterations
    # a legacy manifest without iteration counts falls back to the checkpoint (iteration 1 here)
    assert runs.is_finished(run_dir)
    with pytest.raises(ConfigError, match="would train 0 iterations"):
        compute.stage_iterations(load_config("pix2pix", "synthetic", "tiny", ["train.iters=0"]))
    with pytest.raises(ConfigError, match="must be a whole number >= 0"):
        compute.stage_iterations(load_config("slnp", "synthetic", "tiny", ["train.stages.noise_prior.iters=-1"]))
    assert math.isfinite(compute.Budget.parse("tflops=1e-3").value)
