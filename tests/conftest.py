"""Shared test set-up: a private cache directory, few threads, a tiny toy method and dataset, and the helpers
the method tests share (:func:`tiny_cfg`, :func:`data_info`, :func:`toy_batch`; import them from here)."""

from __future__ import annotations

import os
import urllib.error
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
import torch
import torchvision

from benchmark.config import load_config
from benchmark.datasets.base import DataInfo
from tests.slurm_cluster import slurm_cluster  # noqa: F401 - the session's one-node SLURM cluster fixture

ROOT = Path(__file__).resolve().parent.parent


def tiny_cfg(method: str, *overrides: str, **sections: Mapping[str, Any]) -> dict[str, Any]:
    """The tiny preset of ``method`` on the embedded synthetic dataset, resolved as the CLI resolves it
    (:func:`benchmark.config.load_config`, ``overrides`` as ``--set``), as a plain dict; each keyword
    updates one section, e.g. ``tiny_cfg("crn", model=dict(num_outputs=3))``."""
    cfg = load_config(method, "synthetic", "tiny", overrides).to_dict()
    for section, values in sections.items():
        cfg[section] = {**cfg[section], **values}
    return cfg


def data_info(size: tuple[int, int] = (64, 64), num_classes: int = 3, *, has_instance: bool = False,
              dontcare: bool = True) -> DataInfo:
    """A toy dataset's description: ignore label 255, a don't-care channel unless ``dontcare`` is False."""
    return DataInfo(name="toy", num_classes=num_classes, ignore_index=255, contain_dontcare_label=dontcare,
                    image_size=size, has_instance=has_instance)


def toy_batch(size: tuple[int, int] = (64, 64), batch: int = 2, num_classes: int = 3, seed: int = 0) -> dict:
    """Random labels with a 4x4 don't-care corner and random images in [-1, 1], seeded."""
    g = torch.Generator().manual_seed(seed)
    label = torch.randint(0, num_classes, (batch, *size), generator=g)
    label[:, :4, :4] = 255
    return {"label": label, "image": torch.rand(batch, 3, *size, generator=g) * 2 - 1}


@pytest.fixture(scope="session", autouse=True)
def _isolated_cache(tmp_path_factory: pytest.TempPathFactory) -> None:
    # Generated data, downloads and segmenters of the tests never touch the user's cache, and the user's
    # config directories never change the configs the tests resolve.
    os.environ["SISBENCH_CACHE"] = str(tmp_path_factory.mktemp("sisbench-cache"))
    os.environ.pop("SISBENCH_CONFIG_PATH", None)
    torch.set_num_threads(min(2, os.cpu_count() or 1))


@pytest.fixture()
def toy_method():
    """Register the toy method (a 1x1-conv GAN) for the duration of a test."""
    from benchmark.registry import METHODS
    from tests.toy import ToyMethod

    METHODS.add(ToyMethod, source="tests")
    yield ToyMethod
    METHODS.remove(ToyMethod.name)


@pytest.fixture(scope="session")
def tiny_segmenter(tmp_path_factory) -> str:
    """A segmenter trained for 3 iterations on the CLI tests' tiny synthetic data (the protocol's own takes
    minutes): passed with --segmenter-checkpoint, and recorded as such in the metrics."""
    from benchmark.config import load_data_config
    from metrics.segmenters.train import train_segmenter

    data_cfg = load_data_config("synthetic", "tiny", ["data.num_train=16", "data.num_val=6"])
    return str(train_segmenter(data_cfg, tmp_path_factory.mktemp("seg"), iters=3, batch_size=4))


@pytest.fixture
def offline(monkeypatch, tmp_path):
    """No network and an empty torch hub: Inception weights cannot be found."""
    def refuse(*args, **kwargs):
        raise urllib.error.URLError("no network")

    monkeypatch.setattr(torch.hub, "download_url_to_file", refuse)
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "hub"))


@pytest.fixture(scope="session")
def torchvision_vgg(tmp_path_factory):
    """A randomly initialised torchvision VGG19 (float32, eval) and its state dict saved as a file."""
    torch.manual_seed(0)
    net = torchvision.models.vgg19(weights=None).eval()
    path = tmp_path_factory.mktemp("vgg") / "vgg19_tv.pth"
    torch.save(net.state_dict(), path)
    return net, path
