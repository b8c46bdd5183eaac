"""``ade20k`` and ``ade20k_outdoor``: the MIT Scene Parsing benchmark (ADEChallengeData2016, 150 classes).

Two layouts, detected from the tree (``data check`` says which); ``data.root`` may name the dataset folder
or the directory holding it:

- **the unzipped ADEChallengeData2016.zip**::

      ADEChallengeData2016/images/training/ADE_train_*.jpg
      ADEChallengeData2016/images/validation/ADE_val_*.jpg
      ADEChallengeData2016/annotations/{training,validation}/*.png
      ADEChallengeData2016/sceneCategories.txt         ("ADE_train_00000001 airport_terminal" per line)

- **SPADE's**: its README has the jpg images and png annotations put in one directory
  (``ADE_train_*.jpg`` next to ``ADE_train_*.png``; ``ADE_val_*`` for ``val``), which its
  ``data/ade20k_dataset.py`` tells apart by name. ``sceneCategories.txt`` there too for ADE20K-outdoor.

Label files hold 0 for "other / unlabeled" and 1..150 for the classes. As in SPADE
(``data/ade20k_dataset.py``), ids are shifted down by one: classes are **0..149 and raw 0 becomes 255**,
the ignore index, which SPADE-style methods encode as the don't-care channel (``label_nc=150,
contain_dontcare_label=True``, so 151 semantic channels). ADE20K has no instance maps here.

**ADE20K-outdoor.** SPADE, pix2pixHD and SIMS report it but never published its image list; OASIS built
theirs by filtering on classes plus a manual pass (boschresearch/OASIS issue #23). SISBench selects by
scene instead, reproducibly: an image is outdoor when its scene in ``sceneCategories.txt`` ends in
``_outdoor`` or is one of :data:`OUTDOOR_SCENES` (natural landscapes, streets and urban exteriors,
waterfronts, fields, gardens, sports grounds and transport outdoors). To use a published list instead, set
``data.outdoor_list`` to a text file of image names (``ADE_train_00000001`` per line); it replaces the rule.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from benchmark.datasets.base import DataInfo
from benchmark.datasets.common import DataCheckError, make_problem
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

CLASS_NAMES = (
    "wall", "building", "sky", "floor", "tree", "ceiling", "road", "bed", "windowpane", "grass", "cabinet",
    "sidewalk", "person", "earth", "door", "table", "mountain", "plant", "curtain", "chair", "car", "water",
    "painting", "sofa", "shelf", "house", "sea", "mirror", "rug", "field", "armchair", "seat", "fence",
    "desk", "rock", "wardrobe", "lamp", "bathtub", "railing", "cushion", "base", "box", "column",
    "signboard", "chest of drawers", "counter", "sand", "sink", "skyscraper", "fireplace", "refrigerator",
    "grandstand", "path", "stairs", "runway", "case", "pool table", "pillow", "screen door", "stairway",
    "river", "bridge", "bookcase", "blind", "coffee table", "toilet", "flower", "book", "hill", "bench",
    "countertop", "stove", "palm", "kitchen island", "computer", "swivel chair", "boat", "bar",
    "arcade machine", "hovel", "bus", "towel", "light", "truck", "tower", "chandelier", "awning",
    "streetlight", "booth", "television receiver", "airplane", "dirt track", "apparel", "pole", "land",
    "bannister", "escalator", "ottoman", "bottle", "buffet", "poster", "stage", "van", "ship", "fountain",
    "conveyer belt", "canopy", "washer", "plaything", "swimming pool", "stool", "barrel", "basket",
    "waterfall", "tent", "bag", "minibike", "cradle", "oven", "ball", "food", "step", "tank", "trade name",
    "microwave", "pot", "animal", "bicycle", "lake", "dishwasher", "screen", "blanket", "sculpture", "hood",
    "sconce", "vase", "traffic light", "tray", "ashcan", "fan", "pier", "crt screen", "plate", "monitor",
    "bulletin board", "shower", "radiator", "glass", "clock", "flag",
)
IGNORE_INDEX = 255
SPLIT_DIRS = {"train": "training", "val": "validation"}
SCENE_FILE = "sceneCategories.txt"
SCENE_PARSING = LayoutSpec("scene_parsing", "images/ + annotations/ with training/ and validation/ "
                                            "(ADEChallengeData2016)",
                           ("images/training", "images/validation", "annotations/training",
                            "annotations/validation"))
SPADE_FLAT = LayoutSpec("spade", "ADE_train_*.jpg next to ADE_train_*.png in one folder (SPADE's)",
                        ("ADE_train_*.jpg", "ADE_val_*.jpg"))

#: scene categories (besides every ``*_outdoor`` one) that make an image part of ADE20K-outdoor
OUTDOOR_SCENES = frozenset({
    # natural landscapes
    "badlands", "beach", "butte", "canyon", "cliff", "coast", "creek", "desert_sand", "desert_vegetation",
    "desert_road", "forest_broadleaf", "forest_needleleaf", "forest_path", "forest_road", "glacier", "hill",
    "iceberg", "islet", "lake_natural", "marsh", "mountain", "mountain_path", "mountain_snowy", "ocean",
    "pond", "rainforest", "river", "rock_arch", "sky", "snowfield", "swamp", "valley", "volcano",
    "waterfall_block", "waterfall_fan", "waterfall_plunge", "wave", "wheat_field",
    # fields, farms and gardens
    "bamboo_forest", "botanical_garden", "corn_field", "cultivated_field", "field_cultivated", "field_wild",
    "formal_garden", "hayfield", "herb_garden", "orchard", "park", "pasture", "rice_paddy", "topiary_garden",
    "vegetable_garden", "vineyard", "yard", "zen_garden", "japanese_garden", "lawn", "farm",
    # streets and urban exteriors
    "alley", "building_facade", "crosswalk", "downtown", "driveway", "highway", "house", "mansion", "plaza",
    "residential_neighborhood", "skyscraper", "street", "village", "castle", "palace", "ruin", "tower",
    "courtyard", "patio", "porch", "balcony_exterior", "cemetery", "construction_site", "parking_lot",
    "gas_station", "fountain", "lighthouse", "windmill", "water_tower", "bridge", "viaduct", "aqueduct",
    "dam", "moat_water", "canal_natural", "canal_urban", "harbor", "boathouse", "dock", "pier", "boardwalk",
    "shipyard",
    # sports and transport outdoors
    "golf_course", "playground", "ski_slope", "ski_resort", "baseball_field", "football_field",
    "soccer_field", "tennis_court_outdoor", "track_outdoor", "racecourse", "athletic_field_outdoor",
    "airfield", "airport", "runway", "railroad_track", "train_railway", "bus_stop", "campsite",
})


def is_outdoor(scene: str) -> bool:
    return scene.endswith("_outdoor") or scene in OUTDOOR_SCENES


@DATASETS.register()
class ADE20KDataset(PairedDataset):
    """ADE20K (SceneParsing 150): ids 0..149, unlabeled -> 255."""

    name = "ade20k"
    description = "ADE20K / SceneParsing150, 150 classes (+ don't care), SPADE's label - 1 convention"
    layouts = (SCENE_PARSING, SPADE_FLAT)

    @classmethod
    def data_info(cls, cfg: Mapping[str, Any]) -> DataInfo:
        return cls.with_layout(DataInfo(
            name=cls.name, num_classes=len(CLASS_NAMES), ignore_index=IGNORE_INDEX, class_names=CLASS_NAMES,
            palette=default_palette(len(CLASS_NAMES)), has_instance=False, image_size=cls.output_size(cfg),
            contain_dontcare_label=True), cfg)

    def select(self, root: Path, split: str) -> set[str] | None:
        """Names of the images to keep; None keeps all."""
        return None

    def scan(self, root: Path, split: str) -> Scan:
        if self.layout.name == SPADE_FLAT.name:
            images = keyed(p for p in root.glob(f"ADE_{split}_*.jpg") if p.is_file())
            labels = keyed(p for p in root.glob(f"ADE_{split}_*.png") if p.is_file())
            if not images and not labels:
                return Scan(problems=[make_problem(
                    "missing_split", split, [str(root)],
                    f"ade20k in SPADE's one-folder layout has no split '{split}' (no ADE_{split}_*.jpg or "
                    f"ADE_{split}_*.png)", "add its files, or set data.splits and data.eval_split to the "
                    "splits it has")])
        else:
            sub = SPLIT_DIRS.get(split, split)
            images_dir, labels_dir = root / "images" / sub, root / "annotations" / sub
            if problems := missing_dirs(split, (images_dir, labels_dir)):
                return Scan(problems=problems)
            images = keyed(list_files(images_dir, (".jpg", ".jpeg", ".png")))
            labels = keyed(list_files(labels_dir, (".png",)))
        keep = self.select(root, split)
        if keep is not None:
            images = {k: v for k, v in images.items() if k in keep}
            labels = {k: v for k, v in labels.items() if k in keep}
        return pair_files(split, images, labels)

    def decode_label(self, raw: np.ndarray) -> np.ndarray:
        ids = raw.astype(np.int64) - 1
        ids[ids < 0] = IGNORE_INDEX
        return ids


@DATASETS.register()
class ADE20KOutdoorDataset(ADE20KDataset):
    """The outdoor scenes of ADE20K, selected from sceneCategories.txt (or data.outdoor_list)."""

    name = "ade20k_outdoor"
    description = "ADE20K outdoor scenes (sceneCategories.txt rule or a given list), 150 classes"
    options: ClassVar[Mapping[str, Any]] = dict(outdoor_list=None)

    @classmethod
    def data_info(cls, cfg: Mapping[str, Any]) -> DataInfo:
        info = super().data_info(cfg)
        rule = f"list {cfg['outdoor_list']}" if cfg["outdoor_list"] else f"{SCENE_FILE} scene rule"
        return replace(info, name=cls.name, extra={**info.extra, "outdoor_selection": rule})

    def select(self, root: Path, split: str) -> set[str] | None:
        if self.cfg["outdoor_list"]:
            path = Path(self.cfg["outdoor_list"]).expanduser()
            if not path.is_file():
                raise DataCheckError([make_problem(
                    "missing_file", split, [str(path)], "the outdoor image list does not exist",
                    "fix data.outdoor_list or set it to None")], self.name)
            return {line.split()[0] for line in path.read_text().splitlines() if line.strip()}
        path = root / SCENE_FILE
        if not path.is_file():
            raise DataCheckError([make_problem(
                "missing_file", split, [str(path)],
                "ADE20K-outdoor needs the scene list of ADEChallengeData2016",
                "restore it from the ADEChallengeData2016 zip or set data.outdoor_list")], self.name)
        keep = set()
        for line in path.read_text().splitlines():
            parts = line.split()
            if len(parts) == 2 and is_outdoor(parts[1]):
                keep.add(parts[0])
        return keep
