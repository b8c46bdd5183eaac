"""Shared test set-up: a private cache directory, few threads, and a tiny toy method and dataset."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session", autouse=True)
def _isolated_cache(tmp_path_factory: pytest.TempPathFactory) -> None:
    # Generated data, downloads and segmenters of the tests never touch the user's cache.
    os.environ["SISBENCH_CACHE"] = str(tmp_path_factory.mktemp("sisbench-cache"))
    torch.set_num_threads(min(2, os.cpu_count() or 1))


@pytest.fixture()
def toy_method():
    """Register the toy method (a 1x1-conv GAN) for the duration of a test."""
    from benchmark.registry import METHODS
    from tests.toy import ToyMethod

    METHODS.add(ToyMethod, source="tests")
    yield ToyMethod
    METHODS.remove(ToyMethod.name)
