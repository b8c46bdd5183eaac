"""``coco_stuff``: COCO-Stuff 164k (182 label ids, 255 = unlabeled), read in either of two layouts.

Detected automatically from what ``data.root`` holds (``data check`` says which); ``data.root`` may name the
dataset folder or its parent (SPADE's ``datasets/`` holding ``coco_stuff/``, say):

- **SPADE's layout** (``NVlabs/SPADE`` ``data/coco_dataset.py``)::

      <root>/train_img/*.jpg   <root>/train_label/*.png   <root>/train_inst/*.png
      <root>/val_img/*.jpg     <root>/val_label/*.png     <root>/val_inst/*.png

  Instance maps (``*_inst``) are optional; when present, and ``data.use_instance`` is True, they are used.
- **The official cocostuff-164k layout** (the unzipped ``train2017.zip``, ``val2017.zip`` and
  ``stuffthingmaps_trainval2017.zip``)::

      <root>/images/train2017/*.jpg   <root>/stuffthingmaps_trainval2017/train2017/*.png
      <root>/images/val2017/*.jpg     <root>/stuffthingmaps_trainval2017/val2017/*.png

  ``<root>/annotations/<split>2017`` is accepted in place of ``stuffthingmaps_trainval2017/<split>2017``
  (where the cocostuff README unzips the maps). This layout has no instance maps.

Label maps hold ``COCO id - 1`` (0 = person ... 181 = wood; 11 of the 182 ids are never used) and 255 for
unlabeled pixels, the don't-care label: SPADE's ``label_nc=182, contain_dontcare_label=True``. mmseg's
converted ``*_labelTrainIds.png`` maps (171 classes) are a different id space and are not read here.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from benchmark.datasets.base import DataInfo
from benchmark.datasets.common import Layout, split_names
from benchmark.datasets.folder import default_palette
from benchmark.datasets.paired import (
    LayoutSpec,
    PairedDataset,
    Scan,
    keyed,
    list_files,
    missing_dirs,
    pair_files,
)
from benchmark.registry import DATASETS

_THINGS = (
    "person", "bicycle", "car", "motorcycle", "airplane", "bus", "train", "truck", "boat", "traffic light",
    "fire hydrant", "street sign", "stop sign", "parking meter", "bench", "bird", "cat", "dog", "horse",
    "sheep", "cow", "elephant", "bear", "zebra", "giraffe", "hat", "backpack", "umbrella", "shoe",
    "eye glasses", "handbag", "tie", "suitcase", "frisbee", "skis", "snowboard", "sports ball", "kite",
    "baseball bat", "baseball glove", "skateboard", "surfboard", "tennis racket", "bottle", "plate",
    "wine glass", "cup", "fork", "knife", "spoon", "bowl", "banana", "apple", "sandwich", "orange",
    "broccoli", "carrot", "hot dog", "pizza", "donut", "cake", "chair", "couch", "potted plant", "bed",
    "mirror", "dining table", "window", "desk", "toilet", "door", "tv", "laptop", "mouse", "remote",
    "keyboard", "cell phone", "microwave", "oven", "toaster", "sink", "refrigerator", "blender", "book",
    "clock", "vase", "scissors", "teddy bear", "hair drier", "toothbrush", "hair brush",
)
_STUFF = (
    "banner", "blanket", "branch", "bridge", "building-other", "bush", "cabinet", "cage", "cardboard",
    "carpet", "ceiling-other", "ceiling-tile", "cloth", "clothes", "clouds", "counter", "cupboard",
    "curtain", "desk-stuff", "dirt", "door-stuff", "fence", "floor-marble", "floor-other", "floor-stone",
    "floor-tile", "floor-wood", "flower", "fog", "food-other", "fruit", "furniture-other", "grass",
    "gravel", "ground-other", "hill", "house", "leaves", "light", "mat", "metal", "mirror-stuff", "moss",
    "mountain", "mud", "napkin", "net", "paper", "pavement", "pillow", "plant-other", "plastic",
    "platform", "playingfield", "railing", "railroad", "river", "road", "rock", "roof", "rug", "salad",
    "sand", "sea", "shelf", "sky-other", "skyscraper", "snow", "solid-other", "stairs", "stone", "straw",
    "structural-other", "table", "tent", "textile-other", "towel", "tree", "vegetable", "wall-brick",
    "wall-concrete", "wall-other", "wall-panel", "wall-stone", "wall-tile", "wall-wood", "water-other",
    "waterdrops", "window-blind", "window-other", "wood",
)
#: names of label ids 0..181 (COCO category id - 1)
CLASS_NAMES = _THINGS + _STUFF
#: ids (0-based) of the 11 COCO thing categories that have no annotations
UNUSED_IDS = (11, 25, 28, 29, 44, 65, 67, 68, 70, 82, 90)
IGNORE_INDEX = 255


SPADE = LayoutSpec("spade", "train_img/ + train_label/ (+ train_inst/) (SPADE's layout)",
                   ("{split}_img", "{split}_label"))
OFFICIAL = LayoutSpec("official", "images/train2017/ + stuffthingmaps_trainval2017/train2017/ or "
                                  "annotations/train2017/ (the official cocostuff-164k layout)",
                      ("stuffthingmaps_trainval2017", "images/{split}2017", "annotations/{split}2017"))


def find_layout(root: Path, split: str, layout: Layout) -> tuple[Path, Path, Path | None]:
    """(image dir, label dir, instance dir or None) of ``split`` under ``root`` in ``layout``."""
    if layout.name == SPADE.name:
        inst = root / f"{split}_inst"
        return root / f"{split}_img", root / f"{split}_label", inst if inst.is_dir() else None
    labels = root / "stuffthingmaps_trainval2017" / f"{split}2017"
    if not labels.is_dir() and (root / "annotations" / f"{split}2017").is_dir():
        labels = root / "annotations" / f"{split}2017"
    return root / "images" / f"{split}2017", labels, None


@DATASETS.register()
class COCOStuffDataset(PairedDataset):
    """COCO-Stuff 164k: 182 ids + unlabeled (255); SPADE's or the official layout."""

    name = "coco_stuff"
    description = "COCO-Stuff 164k, 182 classes (+ don't care); SPADE or official cocostuff layout"
    layouts = (SPADE, OFFICIAL)

    @classmethod
    def data_info(cls, cfg: Mapping[str, Any]) -> DataInfo:
        layout = cls.detect_layout(cfg)
        first = (split_names(cfg["splits"]) or ["train"])[0]
        return DataInfo(
            name=cls.name, num_classes=len(CLASS_NAMES), ignore_index=IGNORE_INDEX, class_names=CLASS_NAMES,
            palette=default_palette(len(CLASS_NAMES)),
            has_instance=bool(cfg["use_instance"]) and find_layout(layout.root, first, layout)[2] is not None,
            image_size=cls.output_size(cfg), contain_dontcare_label=True,
            extra={"unused_ids": list(UNUSED_IDS), "layout": layout.record()})

    def scan(self, root: Path, split: str) -> Scan:
        images_dir, labels_dir, inst_dir = find_layout(root, split, self.layout)
        if problems := missing_dirs(split, (images_dir, labels_dir)):
            return Scan(problems=problems)
        instances = keyed(list_files(inst_dir, (".png",))) if self.use_instance and inst_dir else None
        return pair_files(split, keyed(list_files(images_dir, (".jpg", ".jpeg", ".png"))),
                          keyed(list_files(labels_dir, (".png",))), instances)
