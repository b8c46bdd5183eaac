"""Every registered method at its tiny preset: build, generate, one train_step per stage, resume keys.

Parametrised over the METHODS registry, so a new method is smoke-tested without anyone writing a test.
"""

from __future__ import annotations

from contextlib import contextmanager

import pytest
import torch

from benchmark.config import load_config
from benchmark.datasets import build_dataset
from benchmark.pipeline import fixed_batch
from benchmark.registry import METHODS
from benchmark.step import step_each_stage
from benchmark.trainer import build_method

SMALL = ["data.num_train=8", "data.num_val=4", "train.batch_size=2"]


def method_names() -> list[str]:
    return [n for n in METHODS.names() if n != "toy"]


@pytest.fixture(scope="module")
def synthetic_batch():
    cfg = load_config("spade", "synthetic", "tiny", SMALL)
    ds = build_dataset(cfg["data"], "train")
    return ds.info, fixed_batch(ds, 2)


@pytest.mark.slow
@pytest.mark.parametrize("name", method_names())
def test_method_builds_trains_and_generates(name, synthetic_batch):
    info, batch = synthetic_batch
    cfg = load_config(name, "synthetic", "tiny", SMALL)
    load_config(name, "synthetic", "paper")  # the paper preset resolves too
    cls = METHODS.get(name)
    assert cls.description, f"{name} needs a one-line description"
    torch.manual_seed(0)
    method = build_method(cfg, info)

    @contextmanager
    def moves_every_optimizer(stage, optimizers):
        assert optimizers, f"{name}: stage {stage} has no optimizer"
        before = {n: [p.detach().clone() for p in o.param_groups[0]["params"]] for n, o in optimizers.items()}
        yield
        for opt_name, opt in optimizers.items():
            after = opt.param_groups[0]["params"]
            moved = any(not torch.equal(a.detach(), b) for a, b in zip(after, before[opt_name], strict=True))
            assert moved, f"{name}: optimizer {opt_name} did not change its parameters in stage {stage}"

    losses = step_each_stage(method, batch, around_step=moves_every_optimizer)   # the trainer's stage protocol
    assert list(losses) == list(method.stages)
    for stage, logged in losses.items():
        assert logged and all(torch.isfinite(torch.tensor(float(v))) for v in logged.values()), (stage, logged)
    method.eval()
    out = method.generate(batch)
    assert out.shape == (2, 3, *info.image_size)
    assert out.min() >= -1.0 and out.max() <= 1.0
    # a fresh instance accepts the trained state dict (what checkpoints and reuse rely on)
    fresh = build_method(cfg, info)
    fresh.load_state_dict(method.state_dict(), strict=True)
