"""The one training loop: resume equivalence, checkpoints, NaN guard, logs, schedules, AMP, EMA."""

from __future__ import annotations

import csv

import pytest
import torch
from safetensors.torch import load_file

from benchmark import checkpoint as ckpt
from benchmark.trainer import EpochBatchSampler, Trainer, TrainingError, lr_lambda
from tests.toy import ToyDataset


def toy_cfg(iters: int = 20, **train) -> dict:
    t = dict(iters=iters, batch_size=4, num_workers=0, log_interval=5, checkpoint_interval=10,
             sample_interval=10, keep_checkpoints=2, amp="off", grad_clip=None,
             ema=dict(enabled=False, decay=0.9, start_iter=0),
             lr_schedule=dict(type="linear_decay", decay_fraction=0.5), stages={}, tensorboard=False)
    t.update(train)
    return {"method": "toy", "dataset": "toy", "preset": "tiny", "seed": 3, "model": {}, "train": t}


def make_trainer(cfg, run_dir, **kw):
    ds = ToyDataset()
    return Trainer(cfg, run_dir, train_set=ds, info=ds.info, sample_batch=None, device="cpu",
                   progress=False, **kw)


def weights(run_dir):
    return load_file(str(ckpt.latest_checkpoint(run_dir / "checkpoints").weights))


@pytest.mark.slow
def test_resume_gives_the_same_weights_as_a_straight_run(tmp_path, toy_method):
    straight = make_trainer(toy_cfg(20), tmp_path / "a")
    straight.train()
    half = make_trainer(toy_cfg(20), tmp_path / "b")
    assert not half.train(stop_after=10).completed
    # the second half: a new process state, the same run dir, resumed from iteration 10
    rest = make_trainer(toy_cfg(20), tmp_path / "b")
    torch.manual_seed(12345)  # resume must not depend on the RNG state at start-up
    assert rest.train(resume=True).completed
    a, b = weights(tmp_path / "a"), weights(tmp_path / "b")
    assert a.keys() == b.keys()
    for k in a:
        torch.testing.assert_close(a[k], b[k], rtol=0, atol=0, msg=k)
    # a different seed gives different weights: the comparison above can fail
    other = make_trainer(dict(toy_cfg(20), seed=4), tmp_path / "c")
    other.train()
    assert not torch.equal(weights(tmp_path / "c")["netG.weight"], a["netG.weight"])


@pytest.mark.slow
def test_checkpoints_are_safetensors_plus_weights_only_state(tmp_path, toy_method):
    make_trainer(toy_cfg(30), tmp_path).train()
    refs = ckpt.list_checkpoints(tmp_path / "checkpoints")
    assert [r.iteration for r in refs] == [20, 30]  # keep_checkpoints=2
    state = torch.load(refs[-1].state, weights_only=True)
    assert state["iteration"] == 30 and state["stage"] == "main"
    assert set(state["optimizers"]) == {"G", "D"}
    assert set(state["rng"]) >= {"torch", "numpy", "python"}


@pytest.mark.slow
def test_log_csv_and_linear_decay(tmp_path, toy_method):
    make_trainer(toy_cfg(20), tmp_path).train()
    rows = list(csv.DictReader((tmp_path / "train_log.csv").open()))
    assert [int(r["iteration"]) for r in rows] == [5, 10, 15, 20]
    assert {"G_GAN", "G_L1", "D_real", "D_fake", "lr_G", "lr_D", "it_per_s"} <= set(rows[0])
    assert float(rows[0]["lr_G"]) == pytest.approx(1e-2)
    assert float(rows[-1]["lr_G"]) == pytest.approx(0.0)
    f = lr_lambda({"type": "linear_decay", "decay_fraction": 0.5}, 100)
    assert [f(0), f(49), f(50), f(75), f(100)] == [1.0, 1.0, 1.0, 0.5, 0.0]


@pytest.mark.slow
def test_nan_loss_stops_with_the_term_and_keeps_the_last_checkpoint(tmp_path, toy_method):
    cfg = toy_cfg(20)
    cfg["model"] = {"nan_at": 14}
    trainer = make_trainer(cfg, tmp_path)
    with pytest.raises(TrainingError, match=r"iteration 14: loss term 'G_GAN' is nan.*10.*intact"):
        trainer.train()
    ref = ckpt.latest_checkpoint(tmp_path / "checkpoints")
    assert ref.iteration == 10
    w = load_file(str(ref.weights))
    assert all(torch.isfinite(v).all() for v in w.values() if v.is_floating_point())


@pytest.mark.slow
def test_ema_and_bf16_autocast_run(tmp_path, toy_method):
    cfg = toy_cfg(10, amp="bf16", ema=dict(enabled=True, decay=0.5, start_iter=0))
    trainer = make_trainer(cfg, tmp_path)
    trainer.train()
    state = ckpt.load_training_state(ckpt.latest_checkpoint(tmp_path / "checkpoints"))
    assert set(state["ema"]) == {"netG"}
    # after training the method holds the EMA weights, which differ from the raw ones
    raw = weights(tmp_path)["netG.weight"]
    assert torch.equal(trainer.method.netG.weight.detach(), state["ema"]["netG"]["weight"])
    assert not torch.equal(raw, state["ema"]["netG"]["weight"])


@pytest.mark.slow
def test_fp16_refused_on_cpu(tmp_path, toy_method):
    with pytest.raises(TrainingError, match="fp16 needs a CUDA device"):
        make_trainer(toy_cfg(2, amp="fp16"), tmp_path)


def test_sampler_is_a_function_of_seed_and_iteration():
    full = EpochBatchSampler(10, 3, seed=1)
    batches = [b for _, b in zip(range(7), iter(full), strict=False)]
    resumed = [b for _, b in zip(range(3), iter(EpochBatchSampler(10, 3, seed=1, start_iter=4)), strict=False)]
    assert resumed == batches[4:7]
    assert batches[3][0][1] == 1  # 3 batches per epoch, the 4th is epoch 1
    # two ranks split each global batch of one process with twice the batch size
    r0 = next(iter(EpochBatchSampler(12, 2, seed=5, rank=0, world_size=2)))
    r1 = next(iter(EpochBatchSampler(12, 2, seed=5, rank=1, world_size=2)))
    single = next(iter(EpochBatchSampler(12, 4, seed=5)))
    assert r0 + r1 == single
    with pytest.raises(TrainingError, match="fewer than one batch"):
        EpochBatchSampler(3, 4, seed=0)


@pytest.mark.slow
def test_corrupt_latest_pointer_is_a_clear_error(tmp_path, toy_method):
    make_trainer(toy_cfg(10), tmp_path).train()
    (tmp_path / "checkpoints" / ckpt.LATEST).write_text("{not json")
    # issue 24: resumed from the newest readable checkpoint, with a warning that says so
    with pytest.warns(UserWarning, match=r"latest\.json is corrupt .*using main_00000010"):
        assert make_trainer(toy_cfg(20), tmp_path).train(resume=True).completed
    (tmp_path / "checkpoints" / ckpt.LATEST).write_text("{not json")
    for ref in ckpt.list_checkpoints(tmp_path / "checkpoints"):
        ref.state.write_bytes(b"")
    with pytest.raises(ckpt.CheckpointError, match="corrupt .* no checkpoint in .* can be read; delete the run"):
        make_trainer(toy_cfg(30), tmp_path).train(resume=True)


@pytest.mark.slow
def test_finalize_runs_once_after_training_and_is_checkpointed(tmp_path, toy_method):
    ds = ToyDataset()
    trainer = Trainer(toy_cfg(10), tmp_path, train_set=ds, info=ds.info, device="cpu", progress=False,
                      finalize_set=ToyDataset(n=7))
    trainer.train()
    assert int(weights(tmp_path)["seen_in_finalize"]) == 7
    # a stopped run has not finished training: nothing is fitted yet
    stopped = Trainer(toy_cfg(10), tmp_path / "s", train_set=ds, info=ds.info, device="cpu", progress=False,
                      finalize_set=ToyDataset(n=7))
    stopped.train(stop_after=5)
    assert int(weights(tmp_path / "s")["seen_in_finalize"]) == 0
