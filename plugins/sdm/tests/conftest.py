"""Test set-up of the sisbench-sdm plugin: a private cache, few threads, float64 on demand."""

from __future__ import annotations

import os

import pytest
import torch


@pytest.fixture(scope="session", autouse=True)
def _isolated_cache(tmp_path_factory: pytest.TempPathFactory) -> None:
    # Generated data and segmenters of the tests never touch the user's cache.
    os.environ["SISBENCH_CACHE"] = str(tmp_path_factory.mktemp("sisbench-cache"))
    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS") or min(2, os.cpu_count() or 1)))


@pytest.fixture()
def float64():
    """Build networks in float64 for the duration of a test."""
    previous = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    yield
    torch.set_default_dtype(previous)


@pytest.fixture(scope="session")
def tiny_segmenter(tmp_path_factory) -> str:
    """A segmenter trained for 3 iterations on tiny synthetic data (the protocol's own takes minutes), passed
    with --segmenter-checkpoint."""
    from benchmark.config import load_data_config
    from metrics.segmenters.train import train_segmenter

    data_cfg = load_data_config("synthetic", "tiny", ["data.num_train=16", "data.num_val=6"])
    return str(train_segmenter(data_cfg, tmp_path_factory.mktemp("seg"), iters=3, batch_size=4))
