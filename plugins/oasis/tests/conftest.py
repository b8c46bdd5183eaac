"""Test set-up of the sisbench-oasis plugin: a private cache, few threads, float64 on demand, small configs."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest
import torch

# The tests import their sibling helper module ``oasis_reference``; under ``--import-mode=importlib`` (how tox
# and tests/test_install.py run them, from outside the checkout) the test directory is not on sys.path.
sys.path.insert(0, str(Path(__file__).resolve().parent))


@pytest.fixture(scope="session", autouse=True)
def _isolated_cache(tmp_path_factory: pytest.TempPathFactory) -> None:
    # Generated data and segmenters of the tests never touch the user's cache.
    os.environ["SISBENCH_CACHE"] = str(tmp_path_factory.mktemp("sisbench-cache"))
    # at most 2 threads, fewer when OMP_NUM_THREADS says so: on a busy machine a second thread spin-waits
    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS") or min(2, os.cpu_count() or 1)))


@pytest.fixture()
def float64():
    """Build networks and one-hot maps in float64 for the duration of a test."""
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
