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


# -- 3 and 5. what each command needs of a tree -------------------------------------------------------------

def test_data_check_reports_each_splits_state_and_what_it_allows(tmp_path, capsys):
    from benchmark.cli import main

    root = write_scenes(tmp_path / "data", {"train": 3, "val": 2}, photos=False)
    assert main(["data", "check", "--dataset", "folder", "--root", str(root)]) == 0
    out = capsys.readouterr().out
    assert "splits: train photos + label maps; val label maps only, no photos" in out
    assert "train, run, segmenter train: allowed" in out
    assert "evaluate: mIoU and accu on split 'val'; FID/KID/PR, FD-seg, texture, the oracle" in out
    full = write_scenes(tmp_path / "full", {"train": 3, "val": 2})
    assert main(["data", "check", "--dataset", "folder", "--root", str(full)]) == 0
    assert "evaluate: every metric on split 'val'" in capsys.readouterr().out


def test_a_training_split_without_photos_is_still_refused(tmp_path, capsys):
    from benchmark.cli import main

    root = write_scenes(tmp_path / "data", {"train": 3, "val": 2})
    for path in (root / "train" / "images").iterdir():
        path.unlink()
    (root / "train" / "images").rmdir()
    assert main(["data", "check", "--dataset", "folder", "--root", str(root)]) == 2
    err = capsys.readouterr().err
    assert str(root / "train" / "images") in err and err.count("\n") == 1


def test_pix2pixhd_cityscapes_sample_tree_reads_its_label_only_test_split(tmp_path):
    from benchmark.datasets import build_dataset
    from tests import fixtures_data as fx

    root = fx.write_cityscapes_pix2pixhd(tmp_path / "datasets" / "cityscapes", test_img=False)
    cfg = load_data_config("cityscapes", "tiny", [f"data.root={str(root)!r}"])
    train, val = build_dataset(cfg, "train"), build_dataset(cfg, "val", train=False)
    assert train.has_photos and not val.has_photos and len(val) == 2
    sample = val[0]
    assert sample["image"].shape[0] == 3  # a black stand-in of the label map's size, never scored
    assert sample["image"].shape[-2:] == sample["label"].shape[-2:]
    assert Path(sample["path"]).name.endswith("_gtFine_labelIds.png")


# -- 4. datasets with names -------------------------------------------------------------------------------

def test_a_dataset_name_names_the_run_path_and_leaves_other_run_ids_alone(tmp_path):
    from benchmark.config import load_config, run_identity
    from benchmark.datasets import DataCheckError, dataset_name
    from benchmark.runs import run_dir_for, run_id

    plain = write_scenes(tmp_path / "plain", {"train": 2, "val": 2})
    named = write_scenes(tmp_path / "named", {"train": 2, "val": 2}, name="meadows")
    cfg = load_config("spade", "folder", "tiny", [f"data.root={str(plain)!r}"])
    assert "name" not in run_identity(cfg)["data"]  # None stays out of the hash: run ids as before the key
    assert dataset_name(cfg["data"]) == "folder" and run_dir_for(tmp_path, cfg).parts[-3] == "folder"
    cfg_named = load_config("spade", "folder", "tiny", [f"data.root={str(named)!r}"])
    assert run_dir_for(tmp_path, cfg_named).parts[-3] == "meadows"
    cfg_set = load_config("spade", "folder", "tiny", [f"data.root={str(plain)!r}", "data.name='fields'"])
    assert run_dir_for(tmp_path, cfg_set).parts[-3] == "fields" and run_id(cfg_set) != run_id(cfg)
    assert dataset_name(load_data_config("synthetic", "tiny", [])) == "synthetic"
    with pytest.raises(DataCheckError, match="cannot name a results folder"):
        dataset_name({**cfg["data"], "name": "../up"})


# -- 2. external images as rows ---------------------------------------------------------------------------

@pytest.fixture
def scored_tree(tmp_path, monkeypatch):
    """A named 4 + 3 tree with a 3-iteration segmenter trained for its default protocol."""
    root = write_scenes(tmp_path / "data", {"train": 4, "val": 3}, name="meadows")
    cache = tmp_path / "cache"
    monkeypatch.setattr(evaluation, "cache_root", lambda: cache)
    data_cfg = folder_cfg(root)
    train_for_protocol(default_protocol("folder"), data_cfg, cache_dir=cache, iters=3)
    return root, data_cfg


def _copy_photos(root: Path, to: Path) -> Path:
    to.mkdir(parents=True)
    for path in sorted((root / "val" / "images").iterdir()):
        (to / path.name).write_bytes(path.read_bytes())
    return to


def test_external_folders_become_runs_and_folders_of_one_name_are_seeds(scored_tree, tmp_path, offline):
    from benchmark.results import collect_runs

    root, data_cfg = scored_tree
    out, kw = tmp_path / "out", {"cache_dir": tmp_path / "cache"}
    first = _copy_photos(root, tmp_path / "a")
    record, path = evaluation.evaluate_external(first, data_cfg, "folder", "photos-copy", out, **kw)
    assert path.parent.parent == out / "runs" / "meadows" / "photos-copy" and path.name == "metrics.json"
    manifest = json.loads((path.parent / "manifest.json").read_text())
    assert manifest["kind"] == "external" and manifest["source"] == str(first.resolve()) and manifest["seed"] == 0
    assert len(manifest["files_sha256"]) == 64 and manifest["num_files"] == 3
    assert record["dataset"] == "meadows" and record["kind"] == "external"
    second = _copy_photos(root, tmp_path / "b")
    (second / "val_000.png").write_bytes((root / "val" / "images" / "val_001.png").read_bytes())
    _, path2 = evaluation.evaluate_external(second, data_cfg, "folder", "photos-copy", out, **kw)
    assert path2.parent != path.parent and json.loads((path2.parent / "manifest.json").read_text())["seed"] == 1
    _, again = evaluation.evaluate_external(first, data_cfg, "folder", "photos-copy", out, **kw)
    assert again == path  # the same folder is the same run
    rows = collect_runs(out)
    assert set(rows["method"]) == {"photos-copy"} and sorted(rows["seed"]) == [0, 1]
    assert rows["group"].nunique() == 1 and set(rows["dataset"]) == {"meadows"}


@pytest.mark.parametrize("damage, words", [
    ("rename", ["no image for 1 of the 3", "val_000.png", "match no label map", "other.png"]),
    ("resize", ["1 of 3 generated images have a size other than", "val_001 (40 x 80)"]),  # metrics.evaluate's
    ("drop", ["no image for 1 of the 3", "val_002.png"]),
    ("twice", ["two images of one name", "val_000.jpg"]),
])
def test_wrong_external_images_are_refused_naming_the_files(scored_tree, tmp_path, damage, words):
    root, data_cfg = scored_tree
    folder = _copy_photos(root, tmp_path / "imgs")
    if damage == "rename":
        (folder / "val_000.png").rename(folder / "other.png")
    elif damage == "resize":
        Image.new("RGB", (80, 40)).save(folder / "val_001.png")
    elif damage == "drop":
        (folder / "val_002.png").unlink()
    else:
        Image.new("RGB", (64, 64)).save(folder / "val_000.jpg")
    from metrics.evaluate import EvaluationInputError

    with pytest.raises((evaluation.ExternalImagesError, EvaluationInputError)) as exc:
        evaluation.evaluate_external(folder, data_cfg, "folder", "x", tmp_path / "out", cache_dir=tmp_path / "cache")
    assert all(w in str(exc.value) for w in words), str(exc.value)
    assert not (tmp_path / "out").exists()  # nothing written


def test_external_names_that_cannot_be_rows_are_refused():
    for bad, words in (("spade", "registered method"), ("../x", "cannot name a run directory"),
                       ("_oracle", "cannot name")):
        with pytest.raises(evaluation.ExternalImagesError, match=words):
            evaluation.check_external_name(bad)


def test_a_label_only_evaluation_split_scores_miou_and_says_what_needs_photos(tmp_path, offline):
    root = write_scenes(tmp_path / "data", {"train": 4, "val": 3}, photos=False)
    data_cfg = folder_cfg(root)
    cache = tmp_path / "cache"
    weights = train_for_protocol(default_protocol("folder"), data_cfg, cache_dir=cache, iters=2)
    record = json.loads((weights.parent / RECORD_FILE).read_text())
    assert record["val_mIoU"] is None and "without photos" in record["oracle_reason"]
    images = tmp_path / "imgs"
    images.mkdir()
    for path in sorted((root / "val" / "labels").iterdir()):
        Image.new("RGB", (64, 64), (40, 110, 40)).save(images / path.name)
    evaluation.SAID.clear()
    rec, _ = evaluation.evaluate_external(images, data_cfg, "folder", "green", tmp_path / "out", cache_dir=cache)
    assert set(rec["metrics"]) >= {"mIoU", "accu"} and "FID" not in rec["metrics"] and "FD-seg" not in rec["metrics"]
    assert "needs" not in rec["not_measured"] and "without photos" in rec["not_measured"]["FD-seg"]
    line = evaluation.format_record(rec)
    assert line.count("without photos") == 1  # one sentence for every metric that needs the photos
    oracle = evaluation.evaluate_oracle(tmp_path / "out", data_cfg, "folder", cache_dir=cache)
    assert oracle["metrics"] == {} and not (tmp_path / "out" / "runs" / "folder" / "_oracle").exists()


# -- end to end: a new user's own data, offline -------------------------------------------------------------

def _cli(argv: list[str], capsys) -> str:
    from benchmark.cli import main

    code = main(argv)
    out, err = capsys.readouterr()
    assert code == 0, out + err
    return out


@pytest.mark.slow
def test_your_data_end_to_end_spade_and_an_external_folder_side_by_side(tmp_path, capsys, offline):
    root = write_scenes(tmp_path / "mydata", {"train": 12, "val": 6}, name="meadows")
    out = tmp_path / "results"
    common = ["--dataset", "folder", "--data-root", str(root)]
    check = _cli(["data", "check", *common], capsys)
    assert "train: 12 samples" in check and "val: 6 samples" in check and "evaluate: every metric" in check
    trained = _cli(["train", "--method", "spade", *common, "--iters", "2", "--out", str(out), "--no-progress"], capsys)
    run_dir = Path(trained.strip().split(" -> ")[-1])
    assert run_dir.parent == out / "runs" / "meadows" / "spade"
    seg = _cli(["segmenter", "train", *common, "--iters", "3", "--batch-size", "16", "--no-progress"], capsys)
    assert "3 iterations, batch 12 (capped at the 12 training images)" in seg
    assert "oracle (its real-image val mIoU" in seg
    scored = _cli(["evaluate", *common, "--checkpoint", str(run_dir), "--out", str(out), "--no-progress"], capsys)
    assert scored.startswith("spade [folder-trained-deeplabv3-cpu]: mIoU ")
    assert scored.count("--inception-weights") <= 1  # the offline notice once, not per row
    external = _cli(["evaluate", *common, "--images", str(run_dir / "images"), "--name", "spade-elsewhere",
                     "--out", str(out), "--no-progress"], capsys)
    assert "runs/meadows/spade-elsewhere/ext-" in external
    _cli(["report", "--out", str(out)], capsys)
    table = (out / "meadows" / "table.md").read_text()
    assert table.startswith("## meadows") and "folder-trained-deeplabv3-cpu" in table
    rows = {line.split("|")[1].strip(): line for line in table.splitlines() if line.startswith("| ")}
    assert {"SPADE", "spade-elsewhere"} <= set(rows)
    # the same images scored as a trained run and as an external folder give the same numbers
    miou = [line.split("|")[5].strip() for name, line in rows.items() if name in ("SPADE", "spade-elsewhere")]
    assert len(set(miou)) == 1, table
    assert not (out / "runs" / "folder").exists()


@pytest.mark.slow
def test_pix2pixhd_trains_on_its_shipped_cityscapes_sample_tree(tmp_path, capsys):
    from tests import fixtures_data as fx

    root = fx.write_cityscapes_pix2pixhd(tmp_path / "pix2pixHD" / "datasets" / "cityscapes", test_img=False)
    out = _cli(["train", "--method", "pix2pixhd", "--dataset", "cityscapes", "--data-root", str(root), "--iters", "1",
                "--set", "train.batch_size=2", "--out", str(tmp_path / "results"), "--no-progress"], capsys)
    assert "pix2pixhd: trained in" in out and "runs/cityscapes/pix2pixhd/" in out
