"""``cityscapes``: Cityscapes fine annotations with the 35 label ids, as SPADE trains on them.

Two layouts, detected from the tree (``data check`` says which); ``data.root`` may name the folder holding
them or its parent:

- **official** (the unzipped ``leftImg8bit_trainvaltest.zip`` and ``gtFine_trainvaltest.zip``; what SPADE's
  ``data/cityscapes_dataset.py`` reads)::

      <root>/leftImg8bit/{train,val,test}/<city>/<city>_<seq>_<frame>_leftImg8bit.png
      <root>/gtFine/{train,val,test}/<city>/<city>_<seq>_<frame>_gtFine_labelIds.png
      <root>/gtFine/{train,val,test}/<city>/<city>_<seq>_<frame>_gtFine_instanceIds.png

- **pix2pixHD's** (``NVIDIA/pix2pixHD`` ``datasets/cityscapes``, read by its ``data/aligned_dataset.py``)::

      <root>/{train,test}_img/<city>_<seq>_<frame>_leftImg8bit.png
      <root>/{train,test}_label/<city>_<seq>_<frame>_gtFine_labelIds.png
      <root>/{train,test}_inst/<city>_<seq>_<frame>_gtFine_instanceIds.png

  pix2pixHD ships ``train`` and ``test`` only, its ``test`` being Cityscapes' ``val`` (the sample files are
  Frankfurt's), so the split ``val`` reads ``test_*`` where no ``val_*`` exists; ``data check`` states it
  and the run's data record keeps it (``extra.layout.split_dirs``). pix2pixHD's sample data has
  ``test_label``/``test_inst`` but no ``test_img``: evaluation needs the photos, and the check names that
  directory. Where a directory holds other files too (``*_color.png`` copied along), only the files with the
  Cityscapes suffix are read; otherwise every PNG is.

Files pair on ``<city>_<seq>_<frame>`` (the first three ``_``-separated parts of the name; the whole name
without extension for names with fewer). SPADE's settings (``data/cityscapes_dataset.py``):
``label_nc=35``, preprocess ``fixed`` to 512x256 (aspect ratio 2), flip, instance maps on,
``num_upsampling_layers="more"``. SPADE does **not** set ``contain_dontcare_label`` for Cityscapes: id 0
("unlabeled") is an ordinary input class, so there is no ignore index and the official generator takes
35 + 1 (instance edges) = 36 channels. Evaluation maps the ids to the 19 train ids with
:data:`LABELID_TO_TRAINID`.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from benchmark.datasets.base import DataInfo
from benchmark.datasets.common import Layout, split_names
from benchmark.datasets.paired import (
    LayoutSpec,
    PairedDataset,
    Scan,
    keyed,
    list_files,
    missing_dirs,
    pair_files,
    prefixed_split_aliases,
    prefixed_split_dirs,
)
from benchmark.registry import DATASETS

#: (name, train id or 255, colour) of label ids 0..34, from cityscapesScripts' labels.py
LABELS = (
    ("unlabeled", 255, (0, 0, 0)), ("ego vehicle", 255, (0, 0, 0)), ("rectification border", 255, (0, 0, 0)),
    ("out of roi", 255, (0, 0, 0)), ("static", 255, (0, 0, 0)), ("dynamic", 255, (111, 74, 0)),
    ("ground", 255, (81, 0, 81)), ("road", 0, (128, 64, 128)), ("sidewalk", 1, (244, 35, 232)),
    ("parking", 255, (250, 170, 160)), ("rail track", 255, (230, 150, 140)), ("building", 2, (70, 70, 70)),
    ("wall", 3, (102, 102, 156)), ("fence", 4, (190, 153, 153)), ("guard rail", 255, (180, 165, 180)),
    ("bridge", 255, (150, 100, 100)), ("tunnel", 255, (150, 120, 90)), ("pole", 5, (153, 153, 153)),
    ("polegroup", 255, (153, 153, 153)), ("traffic light", 6, (250, 170, 30)),
    ("traffic sign", 7, (220, 220, 0)), ("vegetation", 8, (107, 142, 35)), ("terrain", 9, (152, 251, 152)),
    ("sky", 10, (70, 130, 180)), ("person", 11, (220, 20, 60)), ("rider", 12, (255, 0, 0)),
    ("car", 13, (0, 0, 142)), ("truck", 14, (0, 0, 70)), ("bus", 15, (0, 60, 100)),
    ("caravan", 255, (0, 0, 90)), ("trailer", 255, (0, 0, 110)), ("train", 16, (0, 80, 100)),
    ("motorcycle", 17, (0, 0, 230)), ("bicycle", 18, (119, 11, 32)), ("license plate", 255, (0, 0, 142)),
)
CLASS_NAMES = tuple(name for name, _, _ in LABELS)
PALETTE = tuple(colour for _, _, colour in LABELS)
TRAINID_NAMES = tuple(name for name, t, _ in sorted(LABELS, key=lambda x: x[1]) if t != 255)


def _labelid_to_trainid() -> np.ndarray:
    lut = np.full(256, 255, dtype=np.uint8)
    for label_id, (_, train_id, _) in enumerate(LABELS):
        lut[label_id] = train_id
    return lut


#: numpy LUT: 35 label ids (any uint8 value) -> the 19 train ids, 255 = ignore
LABELID_TO_TRAINID = _labelid_to_trainid()


def pair_key(path: Path) -> str:
    """``aachen_000000_000019_leftImg8bit.png`` -> ``aachen_000000_000019``."""
    return "_".join(path.stem.split("_")[:3])


PAIR_RULE = ("their <city>_<seq>_<frame> prefix", "prefix")
OFFICIAL = LayoutSpec("official", "leftImg8bit/ + gtFine/ (the official layout)", ("leftImg8bit", "gtFine"))
PIX2PIXHD = LayoutSpec("pix2pixhd", "train_img/ + train_label/ + train_inst/ (pix2pixHD's layout)",
                       ("{split}_img", "{split}_label", "{split}_inst"))


def _prefer(files: list[Path], suffix: str) -> list[Path]:
    """The files ending in ``suffix`` where there are any, else all: a pix2pixHD directory holds only its
    kind, but a copy of a whole gtFine city folder holds every kind."""
    chosen = [p for p in files if p.name.endswith(suffix)]
    return chosen or files


@DATASETS.register()
class CityscapesDataset(PairedDataset):
    """Cityscapes gtFine, 35 label ids, instance maps, SPADE's 512x256 fixed resize."""

    name = "cityscapes"
    description = "Cityscapes gtFine, 35 label ids + instance maps (SPADE setting, 512x256)"
    options: ClassVar[Mapping[str, Any]] = dict(preprocess="fixed", load_size=512, crop_size=512,
                                                aspect_ratio=2.0)

    layouts = (OFFICIAL, PIX2PIXHD)

    @classmethod
    def data_info(cls, cfg: Mapping[str, Any]) -> DataInfo:
        return cls.with_layout(DataInfo(
            name=cls.name, num_classes=len(LABELS), ignore_index=None, class_names=CLASS_NAMES,
            palette=PALETTE, has_instance=bool(cfg["use_instance"]), image_size=cls.output_size(cfg),
            spade_upsampling="more", contain_dontcare_label=False,
            extra={"trainid_names": list(TRAINID_NAMES)}), cfg)

    @classmethod
    def make_layout(cls, spec: LayoutSpec, directory: Path, cfg: Mapping[str, Any]) -> Layout:
        if spec is not PIX2PIXHD:
            return super().make_layout(spec, directory, cfg)
        aliases, notes = prefixed_split_aliases(directory, split_names(cfg["splits"]))
        return Layout(spec.name, directory, spec.looks_for, split_dirs=aliases, notes=notes)

    def scan(self, root: Path, split: str) -> Scan:
        if self.layout.name == PIX2PIXHD.name:
            dirs, problems = prefixed_split_dirs(root, self.layout, split, self.name, self.use_instance,
                                                 instances_required=True)
            if problems:
                return Scan(problems=problems)
            images = None if dirs["images"] is None else keyed(  # None: label maps without photos
                _prefer(list_files(dirs["images"], (".png",)), "_leftImg8bit.png"), pair_key)
            labels = keyed(_prefer(list_files(dirs["labels"], (".png",)), "_gtFine_labelIds.png"), pair_key)
            instances = None
            if self.use_instance and dirs["instances"] is not None:
                instances = keyed(_prefer(list_files(dirs["instances"], (".png",)), "_gtFine_instanceIds.png"),
                                  pair_key)
            return pair_files(split, images, labels, instances, rule=PAIR_RULE)
        images_dir, labels_dir = root / "leftImg8bit" / split, root / "gtFine" / split
        if problems := missing_dirs(split, (images_dir, labels_dir)):
            return Scan(problems=problems)
        gt = list_files(labels_dir, (".png",), recursive=True)
        images = keyed((p for p in list_files(images_dir, (".png",), recursive=True)
                        if p.name.endswith("_leftImg8bit.png")), pair_key)
        labels = keyed((p for p in gt if p.name.endswith("_gtFine_labelIds.png")), pair_key)
        instances = None
        if self.use_instance:
            instances = keyed((p for p in gt if p.name.endswith("_gtFine_instanceIds.png")), pair_key)
        return pair_files(split, images, labels, instances, rule=PAIR_RULE)
