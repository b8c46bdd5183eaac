"""Every kind of bad input gives a DataCheckError (and a report) naming the files and the fix."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from benchmark.datasets import DataCheckError, build_dataset, check_dataset
from tests import fixtures_data as fx


def folder_cfg(root: Path, **extra) -> dict:
    return dict(type="folder", root=str(root), load_size=20, crop_size=16, **extra)


def check_error(cfg: dict, split: str = "train") -> DataCheckError:
    """The error of building and checking ``split``, asserting that it is raised."""
    with pytest.raises(DataCheckError) as info:
        build_dataset(cfg, split).check()
    return info.value


def assert_one_sentence(message: str) -> None:
    assert message.endswith(".") and "\n" not in message
    assert re.search(r"\.\s+[A-Z]", message[:-1]) is None  # no second sentence


def test_missing_label_and_missing_image(tmp_path):
    root = fx.write_folder(tmp_path / "f")
    (root / "train" / "labels" / "s01.png").unlink()
    fx.write_label(root / "train" / "labels" / "orphan.png", [0, 1])
    err = check_error(folder_cfg(root))
    assert {p.kind for p in err.problems} == {"missing_label", "missing_image"}
    assert str(root / "train" / "images" / "s01.png") in str(err)
    assert str(root / "train" / "labels" / "orphan.png") in str(err)
    assert_one_sentence(str(err))


def test_missing_instance_map(tmp_path):
    root = fx.write_folder(tmp_path / "f", instances=True)
    (root / "train" / "instances" / "s02.png").unlink()
    err = check_error(folder_cfg(root))
    assert [p.kind for p in err.problems] == ["missing_instance"]
    assert "s02.png" in str(err) and "use_instance=False" in str(err)
    build_dataset(folder_cfg(root, use_instance=False), "train").check()


def test_size_mismatch(tmp_path):
    root = fx.write_folder(tmp_path / "f")
    fx.write_label(root / "train" / "labels" / "s00.png", [0, 1], size=(12, 16))
    err = check_error(folder_cfg(root))
    assert [p.kind for p in err.problems] == ["size_mismatch"]
    assert str(root / "train" / "labels" / "s00.png") in str(err) and "12x16" in str(err)


def test_ids_out_of_range_but_ignore_index_allowed(tmp_path):
    root = fx.write_folder(tmp_path / "f", num_classes=4)  # dataset.json: ignore_index 255
    fx.write_label(root / "train" / "labels" / "s01.png", [0, 255], seed=1)
    build_dataset(folder_cfg(root), "train").check()
    fx.write_label(root / "train" / "labels" / "s01.png", [0, 7, 9], seed=1)
    err = check_error(folder_cfg(root))
    assert [p.kind for p in err.problems] == ["bad_ids"]
    assert "s01.png (ids 7, 9)" in str(err) and "[0, 4)" in str(err)


def test_truncated_and_corrupt_files(tmp_path):
    root = fx.write_folder(tmp_path / "f", ext=".jpg")
    jpg = root / "train" / "images" / "s00.jpg"
    jpg.write_bytes(jpg.read_bytes()[:-40])
    png = root / "train" / "labels" / "s01.png"
    png.write_bytes(png.read_bytes()[:-30])
    garbage = root / "train" / "images" / "s02.jpg"
    garbage.write_bytes(b"not an image at all")
    err = check_error(folder_cfg(root))
    assert [p.kind for p in err.problems] == ["unreadable"]
    assert err.problems[0].files[0].startswith(str(jpg))
    for path in (jpg, png, garbage):
        assert str(path) in str(err)


def test_missing_root_names_path_and_flag(tmp_path):
    err = check_error(folder_cfg(tmp_path / "nowhere"))
    assert str(tmp_path / "nowhere") in str(err) and "--data-root" in str(err) and "data.root" in str(err)
    assert "--data-root" in str(check_error(dict(type="cityscapes", root=None)))
    assert_one_sentence(str(err))


def test_missing_split_directory_and_empty_split(tmp_path):
    root = fx.write_folder(tmp_path / "f")
    err = check_error(folder_cfg(root), "test")
    # a missing directory is the whole story: not also "the split is empty"
    assert [p.kind for p in err.problems] == ["missing_dir"]
    assert str(root / "test" / "images") in str(err)
    assert_one_sentence(str(err))
    (root / "empty" / "images").mkdir(parents=True)
    (root / "empty" / "labels").mkdir()
    assert [p.kind for p in check_error(folder_cfg(root), "empty").problems] == ["empty_split"]


def test_folder_without_num_classes(tmp_path):
    root = fx.write_folder(tmp_path / "f", meta=False)
    err = check_error(folder_cfg(root))
    assert str(root / "dataset.json") in str(err) and "data.num_classes" in str(err)
    build_dataset(folder_cfg(root, num_classes=4), "train").check()


def test_long_lists_are_truncated(tmp_path):
    root = fx.write_folder(tmp_path / "f", splits={"train": 8})
    for label in (root / "train" / "labels").glob("*.png"):
        label.unlink()
    fx.write_label(root / "train" / "labels" / "s00.png", [0])
    err = check_error(folder_cfg(root))
    assert "... and 2 more" in str(err) and len(err.problems[0].files) == 7


def test_report_collects_every_split(tmp_path):
    root = fx.write_folder(tmp_path / "f")
    fx.write_label(root / "val" / "labels" / "s00.png", [0, 9])
    report = check_dataset(folder_cfg(root, splits=("train", "val", "test")))
    assert not report.ok
    assert report.counts == {"train": 3, "val": 2, "test": 0}
    assert {p.kind for p in report.problems} == {"bad_ids", "missing_dir"}
    assert [p.kind for p in report.fatal] == ["missing_dir"]
    assert len(report.class_histogram["train"]) == 4 and all(report.class_histogram["train"])
    text = report.format()
    assert "train: 3 samples" in text and str(root / "val" / "labels" / "s00.png") in text


def test_real_dataset_problems_name_their_files(tmp_path):
    root = fx.write_cityscapes(tmp_path / "cs")
    inst = next((root / "gtFine" / "val").rglob("*_instanceIds.png"))
    inst.unlink()
    err = check_error(dict(type="cityscapes", root=str(root), load_size=32, crop_size=32), "val")
    assert [p.kind for p in err.problems] == ["missing_instance"]
    ade = fx.write_ade20k(tmp_path / "ade")
    (ade / "ADEChallengeData2016" / "sceneCategories.txt").unlink()
    err = check_error(dict(type="ade20k_outdoor", root=str(ade), load_size=20, crop_size=16))
    assert "sceneCategories.txt" in str(err) and "outdoor_list" in str(err)


def test_celebamask_hq_bad_mask_writes_no_label_cache(tmp_path):
    root = fx.write_celebamask_hq(tmp_path / "celeba")
    (root / "CelebAMask-HQ-mask-anno" / "0" / "00002_nose.png").write_bytes(b"\x89PNG broken")
    cache = tmp_path / "labels"
    cfg = dict(type="celebamask_hq", root=str(root), label_cache=str(cache), load_size=16, crop_size=16)
    err = check_error(cfg)
    assert [p.kind for p in err.problems] == ["unreadable"] and "00002_nose.png" in str(err)
    assert not cache.exists() and not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


def test_celebamask_hq_checks_aspect_not_size(tmp_path):
    root = fx.write_celebamask_hq(tmp_path / "celeba")
    cfg = dict(type="celebamask_hq", root=str(root), label_cache=str(tmp_path / "l"), load_size=16, crop_size=16)
    build_dataset(cfg, "train").check()  # 32-px images, 16-px maps: fine
    fx.write_image(root / "CelebA-HQ-img" / "0.jpg", size=(32, 24))
    err = check_error(cfg)
    assert [p.kind for p in err.problems] == ["size_mismatch"] and "image 32x24" in str(err)
