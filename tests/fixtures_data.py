"""Writers of tiny dataset trees in each accepted layout, for the dataset and data-check tests.

Every writer takes a directory, writes a few small images with random content and returns the dataset
root. Labels hold a few random ids in horizontal bands so that crops and flips change them visibly.
File names follow the real datasets' (pix2pixHD's sample data: ``datasets/cityscapes/{train,test}_*``
with ``aachen_000000_000019_leftImg8bit.png`` and ``frankfurt_000000_000576_gtFine_labelIds.png``).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from PIL import Image

SIZE = (24, 16)  # (W, H) of fixture images


def write_image(path: Path, size: tuple[int, int] = SIZE, seed: int = 0) -> Path:
    """A random RGB image (format from the suffix)."""
    rng = np.random.default_rng(seed)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)).save(path)
    return path


def write_label(path: Path, ids: list[int], size: tuple[int, int] = SIZE, seed: int = 0,
                dtype: type = np.uint8) -> Path:
    """A label map of horizontal bands of ``ids`` with its left third set to one random id of them."""
    rng = np.random.default_rng(seed)
    w, h = size
    rows = np.array(ids, dtype=np.int64)[np.arange(h) * len(ids) // h]
    arr = np.repeat(rows[:, None], w, axis=1)
    arr[:, : w // 3] = rng.choice(ids)  # a vertical stripe makes a flip visible
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(arr.astype(dtype)).save(path)
    return path


def write_folder(root: Path, splits: dict[str, int] | None = None, num_classes: int = 4,
                 instances: bool = False, meta: bool = True, ext: str = ".png") -> Path:
    """``<root>/<split>/{images,labels[,instances]}`` plus ``dataset.json``."""
    for split, count in (splits or {"train": 3, "val": 2}).items():
        for i in range(count):
            write_image(root / split / "images" / f"s{i:02d}{ext}", seed=i)
            write_label(root / split / "labels" / f"s{i:02d}.png", list(range(num_classes)), seed=i)
            if instances:
                write_label(root / split / "instances" / f"s{i:02d}.png", [0, 1, 2], seed=i + 7)
    if meta:
        (root / "dataset.json").write_text(json.dumps({"num_classes": num_classes, "ignore_index": 255}))
    return root


def write_coco_spade(root: Path, count: int = 2) -> Path:
    """SPADE's COCO-Stuff layout with instance maps: ``<split>_{img,label,inst}``."""
    for split in ("train", "val"):
        for i in range(count):
            stem = f"{i:012d}"
            write_image(root / f"{split}_img" / f"{stem}.jpg", seed=i)
            write_label(root / f"{split}_label" / f"{stem}.png", [0, 156, 181, 255], seed=i)
            write_label(root / f"{split}_inst" / f"{stem}.png", [0, 3, 9], seed=i)
    return root


def write_coco_official(root: Path, count: int = 2, maps_dir: str = "stuffthingmaps_trainval2017") -> Path:
    """The official cocostuff-164k layout: ``images/<split>2017`` + ``<maps_dir>/<split>2017``."""
    for split in ("train", "val"):
        for i in range(count):
            stem = f"{i:012d}"
            write_image(root / "images" / f"{split}2017" / f"{stem}.jpg", seed=i)
            write_label(root / maps_dir / f"{split}2017" / f"{stem}.png", [0, 100, 255], seed=i)
    return root


def write_ade20k(root: Path, count: int = 2) -> Path:
    """``<root>/ADEChallengeData2016`` with images, annotations and sceneCategories.txt; image 0 of each
    split is outdoor (``highway``), the others indoor (``bedroom``)."""
    base = root / "ADEChallengeData2016"
    scenes = []
    for sub, tag in (("training", "train"), ("validation", "val")):
        for i in range(count):
            stem = f"ADE_{tag}_{i + 1:08d}"
            write_image(base / "images" / sub / f"{stem}.jpg", seed=i)
            write_label(base / "annotations" / sub / f"{stem}.png", [0, 1, 150], seed=i)
            scenes.append(f"{stem} {'highway' if i == 0 else 'bedroom'}")
    (base / "sceneCategories.txt").write_text("\n".join(scenes) + "\n")
    return root


def write_folder_dirs(root: Path, dirs: dict[str, tuple[str, str, str | None]], num_classes: int = 4,
                      count: int = 3, image_ext: str = ".jpg") -> Path:
    """Images, labels and (where the name is not None) instance maps of each split in directories of any
    name under ``root`` -- SPADE's ``custom`` mode (``--image_dir``, ``--label_dir``, ``--instance_dir``)."""
    for split, (images, labels, instances) in dirs.items():
        for i in range(count):
            stem = f"{split}_{i:03d}"
            write_image(root / images / f"{stem}{image_ext}", seed=i)
            write_label(root / labels / f"{stem}.png", list(range(num_classes)), seed=i)
            if instances is not None:
                write_label(root / instances / f"{stem}.png", [0, 1, 2], seed=i + 7)
    return root


#: SPADE custom-mode directories of the fixtures: split -> (images, labels, instances)
CUSTOM_DIRS = {"train": ("photos/train", "annotations/train_maps", "inst/train"),
               "val": ("photos/held_out", "annotations/held_out_maps", "inst/held_out")}


def write_prefixed(root: Path, splits: tuple[str, ...] = ("train", "test"), num_classes: int = 4,
                   count: int = 2) -> Path:
    """pix2pixHD's "own dataset" layout: ``<split>_img``, ``<split>_label``, ``<split>_inst`` plus
    ``dataset.json``."""
    for split in splits:
        for i in range(count):
            write_image(root / f"{split}_img" / f"{i:04d}.png", seed=i)
            write_label(root / f"{split}_label" / f"{i:04d}.png", list(range(num_classes)), seed=i)
            write_label(root / f"{split}_inst" / f"{i:04d}.png", [0, 1, 2], seed=i + 7)
    (root / "dataset.json").write_text(json.dumps({"num_classes": num_classes}))
    return root


def write_cityscapes_pix2pixhd(root: Path, count: int = 2, test_img: bool = True,
                               splits: tuple[str, ...] = ("train", "test")) -> Path:
    """pix2pixHD's ``datasets/cityscapes``: ``{train,test}_{img,label,inst}`` holding Cityscapes' files
    (Aachen for train, Frankfurt for test, as its sample data); ``test_img=False`` is the sample data as
    shipped (test labels and instance maps only)."""
    for split in splits:
        for i in range(count):
            city = "frankfurt" if split == "test" else "aachen"
            key = f"{city}_{i:06d}_000019"
            if split != "test" or test_img:
                write_image(root / f"{split}_img" / f"{key}_leftImg8bit.png", size=(32, 16), seed=i)
            write_label(root / f"{split}_label" / f"{key}_gtFine_labelIds.png", [0, 7, 26, 33], size=(32, 16),
                        seed=i)
            write_label(root / f"{split}_inst" / f"{key}_gtFine_instanceIds.png", [7, 26001, 26002],
                        size=(32, 16), seed=i, dtype=np.uint16)
    return root


def write_ade20k_spade(root: Path, count: int = 2) -> Path:
    """SPADE's ADE20K layout: ``ADE_*.jpg`` images next to their ``ADE_*.png`` annotations in one folder,
    plus ``sceneCategories.txt``; image 1 of each split is outdoor (``highway``)."""
    scenes = []
    for tag in ("train", "val"):
        for i in range(count):
            stem = f"ADE_{tag}_{i + 1:08d}"
            write_image(root / f"{stem}.jpg", seed=i)
            write_label(root / f"{stem}.png", [0, 1, 150], seed=i)
            scenes.append(f"{stem} {'highway' if i == 0 else 'bedroom'}")
    (root / "sceneCategories.txt").write_text("\n".join(scenes) + "\n")
    return root


def write_cityscapes(root: Path, count: int = 2) -> Path:
    """``leftImg8bit`` and ``gtFine`` (labelIds, 16-bit instanceIds) for two cities per split."""
    for split in ("train", "val"):
        for i in range(count):
            city = ("aachen", "bochum")[i % 2]
            key = f"{city}_{i:06d}_000019"
            write_image(root / "leftImg8bit" / split / city / f"{key}_leftImg8bit.png", size=(32, 16), seed=i)
            gt = root / "gtFine" / split / city
            write_label(gt / f"{key}_gtFine_labelIds.png", [0, 7, 26, 33], size=(32, 16), seed=i)
            write_label(gt / f"{key}_gtFine_instanceIds.png", [7, 26001, 26002], size=(32, 16), seed=i,
                        dtype=np.uint16)
            write_label(gt / f"{key}_gtFine_color.png", [0, 1], size=(32, 16), seed=i)
    return root


#: CelebA-HQ idx -> (orig CelebA file, partition code); idx 2 is val, idx 3 test
CELEBA_FIXTURE = {0: ("000010.jpg", 0), 1: ("000020.jpg", 0), 2: ("162800.jpg", 1), 3: ("190000.jpg", 2)}


def write_celebamask_hq(root: Path, partition: bool = True, partition_dir: Path | None = None) -> Path:
    """CelebA-HQ-img (32 px), part masks (16 px) where nose overlaps skin and hair, mapping and partition
    (CelebA's ``list_eval_partition.txt``, written to ``partition_dir``, default ``root``)."""
    mapping = ["idx orig_idx orig_file"]
    eval_lines = []
    for idx, (orig, code) in CELEBA_FIXTURE.items():
        write_image(root / "CelebA-HQ-img" / f"{idx}.jpg", size=(32, 32), seed=idx)
        masks = root / "CelebAMask-HQ-mask-anno" / str(idx // 2000)
        masks.mkdir(parents=True, exist_ok=True)
        for part, box in (("skin", (2, 2, 14, 14)), ("nose", (6, 6, 10, 10)), ("hair", (0, 0, 16, 4))):
            arr = np.zeros((16, 16), dtype=np.uint8)
            arr[box[1]:box[3], box[0]:box[2]] = 255
            Image.fromarray(np.stack([arr] * 3, -1)).save(masks / f"{idx:05d}_{part}.png")
        mapping.append(f"{idx} {int(orig[:6]) - 1} {orig}")
        eval_lines.append(f"{orig} {code}")
    (root / "CelebA-HQ-to-CelebA-mapping.txt").write_text("\n".join(mapping) + "\n")
    if partition:
        ((partition_dir or root) / "list_eval_partition.txt").write_text("\n".join(eval_lines) + "\n")
    return root


def write_celebamask_hq_unpacked(root: Path) -> Path:
    """The archive unpacked where it was downloaded: ``root/CelebAMask-HQ/...`` with CelebA's partition file
    beside that folder, in ``root``; returns ``root``."""
    root.mkdir(parents=True, exist_ok=True)
    write_celebamask_hq(root / "CelebAMask-HQ", partition_dir=root)
    return root
