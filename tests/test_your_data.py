"""Your data and your baselines, scored offline (issue 27): segmenters sized to the data, external folders of
images as rows, what each command needs of a tree, datasets with names, pix2pixHD's shipped Cityscapes tree.

The data are made here by :func:`write_scenes`: a ``folder`` tree whose photos are their label maps painted
in one colour per class plus noise, so a segmenter can learn them in a few iterations.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from benchmark import evaluation
from benchmark.config import load_data_config
from metrics.protocols import PROTOCOLS, default_protocol, get_protocol
from metrics.segmenters import SegmenterSpec, build_segmenter
from metrics.segmenters.train import (
    RECORD_FILE,
    WEAK_ORACLE_MIOU,
    choice_path,
    oracle_warning,
    protocol_training,
    segmenter_dir,
    train_for_protocol,
)

COLOURS = np.array([[40, 110, 40], [120, 170, 230], [140, 90, 50], [200, 200, 200]])
CLASS_NAMES = ["grass", "sky", "earth", "road"]


def write_scenes(root: Path, splits: dict[str, int], *, size: int = 64, seed: int = 0, photos: bool = True,
                 name: str | None = None) -> Path:
    """A ``folder`` dataset: ``<root>/<split>/{images,labels}`` of ``size`` px scenes (sky band, ground, a
    patch of earth, a road strip), photos = class colours + noise, and ``dataset.json`` (4 classes, and
    ``name`` where given). ``photos=False`` leaves the photos of every split but ``train`` out."""
    rng = np.random.default_rng(seed)
    for split, count in splits.items():
        for i in range(count):
            label = np.zeros((size, size), np.uint8)
            label[: size // 3] = 1
            y0, x0 = rng.integers(size // 3, size - 8), rng.integers(0, size - 16)
            label[y0:y0 + rng.integers(6, 20), x0:x0 + rng.integers(8, 30)] = 2
            label[size - rng.integers(4, 14):] = 3
            (root / split / "labels").mkdir(parents=True, exist_ok=True)
            Image.fromarray(label).save(root / split / "labels" / f"{split}_{i:03d}.png")
            if photos or split == "train":
                image = COLOURS[label] + rng.normal(0, 12, (size, size, 3))
                (root / split / "images").mkdir(parents=True, exist_ok=True)
                Image.fromarray(image.clip(0, 255).astype(np.uint8)).save(
                    root / split / "images" / f"{split}_{i:03d}.png")
    meta = {"num_classes": 4, "class_names": CLASS_NAMES, **({"name": name} if name else {})}
    (root / "dataset.json").write_text(json.dumps(meta))
    return root


def folder_cfg(root: Path, *extra: str) -> dict:
    return load_data_config("folder", "tiny", [f"data.root={str(root)!r}", *extra])


# -- 1. segmenters sized to the data ----------------------------------------------------------------------

def test_every_trained_protocol_comes_in_a_cpu_and_a_gpu_size_and_folder_defaults_to_the_cpu_one():
    for dataset in ("coco_stuff", "ade20k", "ade20k_outdoor", "cityscapes", "celebamask_hq", "folder"):
        full, cpu = get_protocol(f"{dataset}-trained-deeplabv3"), get_protocol(f"{dataset}-trained-deeplabv3-cpu")
        assert protocol_training(full.segmenter)[0].depth == 50 and protocol_training(full.segmenter)[0].iters == 40000
        small = protocol_training(cpu.segmenter)[0]
        assert (small.depth, small.base_channels, small.iters, small.optimizer) == (18, 16, 600, "adamw")
    assert default_protocol("folder") == "folder-trained-deeplabv3-cpu"
    assert default_protocol("celebamask_hq") == "celebamask_hq-trained-deeplabv3"


def test_every_configured_protocol_falls_back_to_fd_seg_without_inception_weights():
    configured = [p for p in (PROTOCOLS.get(n) for n in PROTOCOLS.names()) if "legacy" not in p.id]
    assert len(configured) >= 17
    assert all(p.fallback_extractor == "fd-seg" for p in configured), \
        [p.id for p in configured if p.fallback_extractor != "fd-seg"]


def test_the_oracle_warning_names_its_threshold():
    assert oracle_warning(WEAK_ORACLE_MIOU / 100) is None
    text = oracle_warning(0.31)
    assert "31.0 mIoU" in text and f"below {WEAK_ORACLE_MIOU:.0f}" in text and text.count(".") <= 3


def test_segmenter_train_caps_the_batch_and_its_options_choose_the_network_evaluation_uses(tmp_path):
    data_cfg = folder_cfg(write_scenes(tmp_path / "data", {"train": 5, "val": 3}))
    pid = "folder-trained-deeplabv3-cpu"
    weights = train_for_protocol(pid, data_cfg, cache_dir=tmp_path / "cache", iters=3, batch_size=16, crop=32)
    record = json.loads((weights.parent / RECORD_FILE).read_text())
    assert record["training"]["iters"] == 3 and record["training"]["crop"] == 32
    assert record["batch_size_used"] == 5 and record["train_images"] == 5  # 16 asked, 5 images
    assert 0 <= record["oracle"]["val_mIoU"] <= 1 and record["oracle"]["weak_below_mIoU"] == WEAK_ORACLE_MIOU / 100
    default = protocol_training(get_protocol(pid).segmenter)[0]
    chosen = json.loads(choice_path(tmp_path / "cache" / "segmenters", data_cfg, default).read_text())
    assert chosen["weights"] == str(weights) and chosen["protocol"] == pid
    segmenter = build_segmenter(get_protocol(pid).segmenter, num_classes=4, data_cfg=data_cfg,
                                cache_dir=tmp_path / "cache")
    assert segmenter.checkpoint_hash == record["sha256"]
    # the default recipe's folder was never written: evaluation found the network the options trained
    assert not (segmenter_dir(tmp_path / "cache" / "segmenters", data_cfg, default) / RECORD_FILE).is_file()


def test_a_spec_without_a_trained_segmenter_says_which_command_trains_it(tmp_path):
    data_cfg = folder_cfg(write_scenes(tmp_path / "data", {"train": 2, "val": 2}))
    from metrics.base import WeightsUnavailable

    with pytest.raises(WeightsUnavailable, match="segmenter train --dataset folder"):
        build_segmenter(SegmenterSpec(kind="trained", options=(("auto_train", False),)), num_classes=4,
                        data_cfg=data_cfg, cache_dir=tmp_path / "cache")


def test_the_offline_reason_is_said_once_per_command():
    evaluation.SAID.clear()
    record = {"method": "m", "protocol": {"id": "p"}, "metrics": {"mIoU": 50.0},
              "not_measured": {"FID": "no weights offline; pass --inception-weights PATH",
                               "KID": "no weights offline; pass --inception-weights PATH"}}
    first, second = evaluation.format_record(record), evaluation.format_record(record)
    assert "FID, KID not measured (no weights offline" in first
    assert "FID, KID not measured (as said above)" in second and "--inception-weights" not in second
