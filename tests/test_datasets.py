"""Every registered dataset read end to end from a tiny tree in its official layout, plus the transforms."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from mmengine.config import Config
from PIL import Image
from torch.utils.data import DataLoader

from benchmark.config import CONFIG_ROOT, PRESETS, merge
from benchmark.datasets import build_dataset, check_dataset, dataset_class, dataset_info
from benchmark.datasets.celebamask_hq import PARTS
from benchmark.datasets.cityscapes import LABELID_TO_TRAINID, TRAINID_NAMES
from benchmark.datasets.transforms import PairTransform
from benchmark.registry import DATASETS
from tests import fixtures_data as fx

WRITERS = {
    "folder": lambda d: fx.write_folder(d, instances=True),
    "coco_stuff": fx.write_coco_spade,
    "ade20k": fx.write_ade20k,
    "ade20k_outdoor": fx.write_ade20k,
    "cityscapes": fx.write_cityscapes,
    "celebamask_hq": fx.write_celebamask_hq,
}


def tiny_cfg(name: str, tmp_path: Path, **extra) -> dict:
    """A data config for the fixture tree of ``name`` at 16 px (32x16 for Cityscapes)."""
    if name == "synthetic":
        cfg = dict(type=name, root=str(tmp_path / "cache"), render_size=32, num_train=4, num_val=2)
    else:
        cfg = dict(type=name, root=str(WRITERS[name](tmp_path / name)))
    cfg.update(load_size=20, crop_size=16)
    if name == "cityscapes":
        cfg.update(load_size=32, crop_size=32)
    if name == "celebamask_hq":
        cfg["label_cache"] = str(tmp_path / "labels")
    cfg.update(extra)
    return cfg


def test_every_dataset_has_a_fixture_writer():
    assert set(DATASETS.names()) == set(WRITERS) | {"synthetic"}


@pytest.mark.parametrize("name", sorted(set(WRITERS) | {"synthetic"}))
def test_dataset_reads_end_to_end(name, tmp_path):
    cfg = tiny_cfg(name, tmp_path)
    info = dataset_info(cfg)
    ds = build_dataset(cfg, "train")
    assert ds.info == info
    assert len(info.class_names) == len(info.palette) == info.num_classes
    ds.check()
    batch = next(iter(DataLoader(ds, batch_size=len(ds))))
    h, w = info.image_size
    assert batch["image"].shape == (len(ds), 3, h, w) and batch["image"].dtype == torch.float32
    assert -1 <= batch["image"].min() and batch["image"].max() <= 1
    assert batch["label"].shape == (len(ds), h, w) and batch["label"].dtype == torch.int64
    labels = batch["label"]
    valid = (labels >= 0) & (labels < info.num_classes)
    if info.ignore_index is not None:
        valid |= labels == info.ignore_index
    assert bool(valid.all())
    assert ("instance" in batch) == info.has_instance
    assert isinstance(batch["path"], list) and all(Path(p).is_file() for p in batch["path"])
    report = check_dataset(cfg)
    assert report.ok, report.format()
    assert report.counts["train"] == len(ds)
    assert sum(report.class_histogram["train"]) > 0


@pytest.mark.parametrize("name", sorted(set(WRITERS) | {"synthetic"}))
@pytest.mark.parametrize("preset", PRESETS)
def test_config_file_resolves(name, preset):
    """configs/_base_/datasets/<name>.py exists, every key is one the dataset knows, sizes as promised."""
    raw = Config.fromfile(str(CONFIG_ROOT / "_base_" / "datasets" / f"{name}.py")).to_dict()
    data = merge(raw, raw.get("presets", {}).get(preset, {}))["data"]
    cls = dataset_class(data)
    cfg = cls.resolve_cfg(data)
    size = cls.output_size(cfg)
    expected = {"tiny": 64, "paper": 256}[preset]
    assert min(size) == expected
    if name == "cityscapes":
        assert size == (expected, 2 * expected)
    assert cfg["eval_split"] == ("test" if name == "celebamask_hq" else "val")
    assert cfg["eval_split"] in cfg["splits"]


def test_limit_keeps_the_first_samples(tmp_path):
    ds = build_dataset(tiny_cfg("folder", tmp_path, limit=2), "train")
    assert [s.image.name for s in ds.samples] == ["s00.png", "s01.png"]


def test_unknown_config_key_is_an_error(tmp_path):
    with pytest.raises(ValueError, match="unknown key.*crop_sise"):
        build_dataset(tiny_cfg("folder", tmp_path, crop_sise=3), "train")


@pytest.mark.parametrize("maps_dir", ["stuffthingmaps_trainval2017", "annotations"])
def test_coco_stuff_official_layout(tmp_path, maps_dir):
    root = fx.write_coco_official(tmp_path / "coco", maps_dir=maps_dir)
    cfg = dict(type="coco_stuff", root=str(root), load_size=20, crop_size=16)
    ds = build_dataset(cfg, "val")
    assert len(ds) == 2 and not ds.info.has_instance
    assert ds.info.ignore_index == 255 and ds.info.label_nc == 183
    assert set(ds[0]["label"].unique().tolist()) <= {0, 100, 255}


def test_coco_stuff_spade_layout_has_instances(tmp_path):
    ds = build_dataset(tiny_cfg("coco_stuff", tmp_path), "val")
    assert ds.info.has_instance and ds.info.semantic_nc() == 184
    assert not build_dataset(tiny_cfg("coco_stuff", tmp_path / "b", use_instance=False), "val").info.has_instance


@pytest.mark.parametrize("inner", [False, True])
def test_ade20k_shifts_ids_and_accepts_either_root(tmp_path, inner):
    root = fx.write_ade20k(tmp_path / "ade")
    cfg = dict(type="ade20k", root=str(root / "ADEChallengeData2016" if inner else root), load_size=24,
               crop_size=24, flip=False)
    # at 24 px the 16-px-high label's rows resize without a crop, so every raw value survives
    ds = build_dataset(cfg, "train", train=False)
    assert set(ds[0]["label"].unique().tolist()) == {255, 0, 149}  # raw 0 -> ignore, 1 -> 0, 150 -> 149
    assert ds.info.semantic_nc() == 151


def test_ade20k_outdoor_selects_by_scene(tmp_path):
    root = fx.write_ade20k(tmp_path / "ade", count=3)
    cfg = tiny_cfg("ade20k_outdoor", tmp_path, root=str(root))
    assert [Path(s.image).stem for s in build_dataset(cfg, "val").samples] == ["ADE_val_00000001"]
    listing = tmp_path / "list.txt"
    listing.write_text("ADE_val_00000002\nADE_val_00000003\n")
    ds = build_dataset({**cfg, "outdoor_list": str(listing)}, "val")
    assert [Path(s.image).stem for s in ds.samples] == ["ADE_val_00000002", "ADE_val_00000003"]


def test_cityscapes_pairs_by_city_sequence_frame(tmp_path):
    ds = build_dataset(tiny_cfg("cityscapes", tmp_path), "train")
    assert ds.info.image_size == (16, 32) and ds.info.spade_upsampling == "more"
    assert ds.info.semantic_nc() == 36  # 35 ids + instance edges, no don't-care channel (as SPADE)
    for s in ds.samples:
        key = "_".join(s.image.name.split("_")[:3])
        assert s.label.name == f"{key}_gtFine_labelIds.png"
        assert s.instance.name == f"{key}_gtFine_instanceIds.png"
    assert int(ds[0]["instance"].max()) > 255  # 16-bit instance ids survive loading


def test_cityscapes_trainid_lut():
    assert LABELID_TO_TRAINID.dtype == np.uint8 and LABELID_TO_TRAINID.shape == (256,)
    train_ids = LABELID_TO_TRAINID[:35]
    assert sorted(set(train_ids.tolist()) - {255}) == list(range(19)) and len(TRAINID_NAMES) == 19
    assert LABELID_TO_TRAINID[7] == 0 and LABELID_TO_TRAINID[26] == 13 and LABELID_TO_TRAINID[33] == 18
    assert LABELID_TO_TRAINID[0] == LABELID_TO_TRAINID[34] == LABELID_TO_TRAINID[200] == 255


@pytest.mark.parametrize("partition", [True, False])
def test_celebamask_hq_combines_parts_and_splits(tmp_path, partition):
    root = fx.write_celebamask_hq(tmp_path / "celeba", partition=partition)
    cfg = tiny_cfg("celebamask_hq", tmp_path, root=str(root), load_size=16, crop_size=16, flip=False)
    splits = {s: [p.image.stem for p in build_dataset(cfg, s).samples] for s in ("train", "val", "test")}
    assert splits == {"train": ["0", "1"], "val": ["2"], "test": ["3"]}
    label = build_dataset(cfg, "train")[0]["label"].numpy()
    skin, nose, hair = (PARTS.index(p) + 1 for p in ("skin", "nose", "hair"))
    assert label[8, 8] == nose and label[12, 3] == skin and label[0, 0] == hair and label[15, 15] == 0
    assert label[3, 3] == hair  # hair is painted after skin, so it wins where both masks are set


def test_celebamask_hq_label_cache_is_written_once(tmp_path):
    cfg = tiny_cfg("celebamask_hq", tmp_path)
    build_dataset(cfg, "train")
    cache = Path(cfg["label_cache"])
    assert sorted(p.name for p in cache.iterdir()) == ["0.png", "1.png", "2.png", "3.png"]
    stamp = (cache / "0.png").stat().st_mtime_ns
    build_dataset(cfg, "test")
    assert (cache / "0.png").stat().st_mtime_ns == stamp
    assert not [p for p in cache.parent.iterdir() if p.name.startswith(".")]  # no temporary directory left


# -- transforms and reproducible augmentation ----------------------------------------------------------------

def test_transform_output_sizes():
    assert PairTransform("resize_and_crop", 286, 256, 1.0, True, True).output_size == (256, 256)
    assert PairTransform("fixed", 512, 512, 2.0, True, True).output_size == (256, 512)
    with pytest.raises(ValueError, match="load_size"):
        PairTransform("resize_and_crop", 64, 72, 1.0, True, True)


def test_augmentation_is_a_function_of_seed_epoch_index(tmp_path):
    cfg = tiny_cfg("folder", tmp_path, load_size=24, crop_size=12)
    a, b = build_dataset(cfg, "train"), build_dataset(cfg, "train")
    b.set_epoch(1)
    epoch1 = [b[i]["image"] for i in range(len(b))]
    b.set_epoch(0)
    for i in reversed(range(len(a))):  # order of access does not matter
        assert torch.equal(a[i]["image"], b[i]["image"]) and torch.equal(a[i]["label"], b[i]["label"])
    a.set_epoch(1)
    assert all(torch.equal(a[i]["image"], epoch1[i]) for i in range(len(a)))
    assert any(not torch.equal(a[i]["image"], build_dataset(cfg, "train")[i]["image"]) for i in range(len(a)))
    other_seed = build_dataset({**cfg, "seed": 1}, "train")
    other_seed.set_epoch(1)
    assert any(not torch.equal(other_seed[i]["image"], epoch1[i]) for i in range(len(a)))
    loader = DataLoader(a, batch_size=2, num_workers=2)
    assert torch.equal(torch.cat([batch["image"] for batch in loader]), torch.stack(epoch1))


def test_crop_and_flip_move_image_and_label_together(tmp_path):
    # An image equal to its own label (grey level = id) at exactly load_size, so nothing is resized:
    # any crop or flip applied to one but not the other shows as a mismatch.
    root = fx.write_folder(tmp_path / "f", splits={"train": 1}, num_classes=4)
    ramp = (np.arange(48)[None, :] * 3 + np.arange(48)[:, None] * 2) % 250
    Image.fromarray(ramp.astype(np.uint8)).save(root / "train" / "labels" / "s00.png")
    Image.fromarray(np.stack([ramp.astype(np.uint8)] * 3, -1)).save(root / "train" / "images" / "s00.png")
    ds = build_dataset(dict(type="folder", root=str(root), load_size=48, crop_size=20), "train")
    crops, flips = set(), set()
    for epoch in range(8):
        ds.set_epoch(epoch)
        s = ds[0]
        assert torch.equal(torch.round((s["image"][0] + 1) * 127.5).long(), s["label"])
        crops.add(int(s["label"].min()))
        flips.add(bool(s["label"][0, 1] < s["label"][0, 0]))
    assert len(crops) > 2 and flips == {True, False}


# -- layouts: pix2pixHD's, SPADE's, the dataset folder or its parent ------------------------------------------

def test_cityscapes_pix2pixhd_layout_reads_test_as_val(tmp_path):
    root = fx.write_cityscapes_pix2pixhd(tmp_path / "cs")
    # a whole gtFine city folder copied into train_label: only the labelIds files are label maps
    fx.write_label(root / "train_label" / "aachen_000000_000019_gtFine_color.png", [0, 1], size=(32, 16))
    cfg = dict(type="cityscapes", root=str(root), load_size=32, crop_size=32)
    info = dataset_info(cfg)
    assert info.extra["layout"]["name"] == "pix2pixhd" and info.extra["layout"]["split_dirs"] == {"val": "test"}
    val = build_dataset(cfg, "val")
    assert val.info == info and len(val) == 2
    for s in val.samples:
        key = "_".join(s.image.name.split("_")[:3])
        assert key.startswith("frankfurt_") and s.image.parent.name == "test_img"
        assert s.label == root / "test_label" / f"{key}_gtFine_labelIds.png"
        assert s.instance == root / "test_inst" / f"{key}_gtFine_instanceIds.png"
    assert int(val[0]["instance"].max()) > 255  # 16-bit instance ids survive loading
    train = build_dataset(cfg, "train")
    assert [s.label.name for s in train.samples] == [f"aachen_00000{i}_000019_gtFine_labelIds.png" for i in (0, 1)]
    assert build_dataset(cfg, "test").samples == val.samples
    # where the tree has val_* directories, val reads them
    fx.write_cityscapes_pix2pixhd(root, splits=("val",), count=1)
    assert len(build_dataset(cfg, "val")) == 1 and "split_dirs" not in dataset_info(cfg).extra["layout"]


def test_dataset_info_without_a_root_needs_no_files():
    """Methods configure themselves from the info (official checkpoints, say) before any data is there."""
    info = dataset_info(dict(type="cityscapes"))
    assert info.num_classes == 35 and "layout" not in info.extra


@pytest.mark.parametrize("dataset, write, inner", [
    ("coco_stuff", fx.write_coco_spade, "coco_stuff"),
    ("coco_stuff", fx.write_coco_official, "cocostuff"),
    ("cityscapes", fx.write_cityscapes, "cityscapes"),
    ("cityscapes", fx.write_cityscapes_pix2pixhd, "cityscapes"),
    ("ade20k", fx.write_ade20k_spade, "ADE20K"),
])
def test_the_parent_of_the_dataset_folder_is_accepted(dataset, write, inner, tmp_path):
    folder = write(tmp_path / "data" / inner)
    (tmp_path / "data" / "unrelated").mkdir()
    extra = dict(load_size=32, crop_size=32) if dataset == "cityscapes" else dict(load_size=20, crop_size=16)
    direct = build_dataset(dict(type=dataset, root=str(folder), **extra), "train")
    parent = build_dataset(dict(type=dataset, root=str(tmp_path / "data"), **extra), "train")
    assert parent.root == folder and parent.samples == direct.samples and len(parent) > 0
    assert parent.info == direct.info


def test_celebamask_hq_partition_file_beside_the_archive_folder(tmp_path):
    root = fx.write_celebamask_hq_unpacked(tmp_path / "celeba")
    cfg = dict(type="celebamask_hq", root=str(root), label_cache=str(tmp_path / "labels"), load_size=16,
               crop_size=16)
    splits = {s: [p.image.stem for p in build_dataset(cfg, s).samples] for s in ("train", "val", "test")}
    assert splits == {"train": ["0", "1"], "val": ["2"], "test": ["3"]}
    assert build_dataset(cfg, "train").root == root / "CelebAMask-HQ"
    # the same tree read from the archive folder itself: same label cache (keyed by the folder), same splits
    inner = dict(cfg, root=str(root / "CelebAMask-HQ"))
    assert [p.image.stem for p in build_dataset(inner, "test").samples] == ["3"]


def test_ade20k_spade_layout_shifts_ids(tmp_path):
    root = fx.write_ade20k_spade(tmp_path / "ade")
    cfg = dict(type="ade20k", root=str(root), load_size=24, crop_size=24, flip=False)
    ds = build_dataset(cfg, "val", train=False)
    assert [s.image.name for s in ds.samples] == ["ADE_val_00000001.jpg", "ADE_val_00000002.jpg"]
    assert set(ds[0]["label"].unique().tolist()) == {255, 0, 149}
    outdoor = build_dataset({**cfg, "type": "ade20k_outdoor"}, "train")
    assert [s.image.stem for s in outdoor.samples] == ["ADE_train_00000001"]
