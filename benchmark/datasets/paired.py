"""The common machinery of file-based datasets: config options, layout detection, pairing of
image/label/instance files, loading through the shared transforms, and reproducible augmentation.

A concrete dataset declares its extra config ``options`` and its accepted trees (``layouts``, each a
:class:`LayoutSpec`), and implements ``data_info(cfg)`` (cheap: no file scan) and ``scan(root, split)``
(list the split's files; :func:`pair_files` does the matching and reports every unmatched file).
``decode_label`` turns the ids stored in a label file into the dataset's ids when they differ (ADE20K).

Layout detection (:meth:`PairedDataset.detect_layout`), the same rule for every dataset: the data root is
tried first, then each folder directly inside it, so both the dataset folder and its parent work
(``CelebAMask-HQ/`` or the directory the archive was unpacked in). A layout matches a directory when one of
its marker paths exists there (a split's image or label directory, say); the first matching layout wins.
No match ends in one sentence listing every layout looked for; two matching folders inside the root end
in one sentence naming both. The recognised :class:`~benchmark.datasets.common.Layout` is printed by
``data check`` and recorded in the dataset's ``DataInfo.extra["layout"]`` (so in each run's data record).

Augmentation is reproducible by construction: sample ``i`` of epoch ``e`` draws its crop and flip from a
generator seeded with ``(seed, e, i)``, so resuming, reordering or spreading samples over DataLoader
workers never changes a batch. Call :meth:`PairedDataset.set_epoch` before each epoch.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch
from PIL import Image

from benchmark.datasets.base import DataInfo, SISDataset
from benchmark.datasets.check import inspect_dataset
from benchmark.datasets.common import (  # noqa: F401  (SampleFiles, Scan: re-exported for the plugins)
    DataCheckError,
    Layout,
    Problem,
    SampleFiles,
    Scan,
    as_index_image,
    config_error,
    make_problem,
    split_names,
)
from benchmark.datasets.transforms import PairTransform
from benchmark.resources import cache_root  # noqa: F401  (where datasets write what they derive; re-exported)

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg")

#: config keys every dataset accepts, with their defaults (SPADE's COCO/ADE20K training setting)
COMMON_OPTIONS: dict[str, Any] = dict(
    type=None,
    train_images=None,    # the official training-split size (informational: schedules in epochs use it)
    root=None,            # dataset directory; None only where the dataset has a default (synthetic)
    seed=0,               # seeds the augmentation: crop and flip of sample i in epoch e use (seed, e, i)
    splits=("train", "val"),
    eval_split="val",     # the split generated and evaluated
    preprocess="resize_and_crop",
    load_size=286,
    crop_size=256,
    aspect_ratio=1.0,     # width / height of the output (used by preprocess="fixed")
    flip=True,
    use_instance=True,    # use instance maps where the dataset has them
    limit=None,           # keep only the first N samples (sorted by name) of each split
)


@dataclass(frozen=True)
class LayoutSpec:
    """One tree a dataset reads: its ``name``, what it consists of (``looks_for``, used in messages) and the
    ``markers`` that recognise it -- paths relative to the dataset folder, one of which must exist.
    ``{split}`` in a marker stands for each configured split name and ``train``, ``val`` and ``test``; a
    marker with ``*`` is a glob pattern that must match at least one entry."""

    name: str
    looks_for: str
    markers: tuple[str, ...]

    def matches(self, directory: Path, splits: Sequence[str]) -> bool:
        names = dict.fromkeys([*splits, "train", "val", "test"])
        for marker in self.markers:
            for path in (marker.format(split=s) for s in names) if "{split}" in marker else (marker,):
                if "*" in path:
                    if next(directory.glob(path), None) is not None:
                        return True
                elif (directory / path).exists():
                    return True
        return False


def list_files(directory: Path, extensions: Sequence[str], recursive: bool = False) -> list[Path]:
    """Files under ``directory`` whose suffix (any case) is one of ``extensions``, sorted."""
    pattern = "**/*" if recursive else "*"
    return sorted(p for p in directory.glob(pattern) if p.suffix.lower() in extensions and p.is_file())


def pair_files(split: str, images: Mapping[str, Path] | None, labels: Mapping[str, Path],
               instances: Mapping[str, Path] | None = None,
               rule: tuple[str, str] = ("file name without extension", "name")) -> Scan:
    """Match files by key; every image without a label (and the reverse) becomes a problem whose fix
    states the pairing ``rule``: what the key of a file is, and a short word for it.

    ``images`` None means a label-only split (an evaluation split without its photos): every label map is a
    sample without an image. ``instances`` None means the split has no instance maps; otherwise every
    paired sample needs one.
    """
    scan = Scan()
    if images is None:
        images = {}
        scan.samples = [SampleFiles(None, labels[k], None if instances is None else instances.get(k))
                        for k in sorted(labels)]
        missing = [str(labels[k]) for k in sorted(labels) if instances is not None and k not in instances]
        if missing:
            scan.problems.append(make_problem(
                "missing_instance", split, missing, f"{len(missing)} label map(s) of split '{split}' have no "
                f"instance map", f"add their instance maps (same {rule[1]}) or set data.use_instance=False"))
        return scan
    missing_inst = []
    for key in sorted(images.keys() & labels.keys()):
        inst = None
        if instances is not None:
            inst = instances.get(key)
            if inst is None:
                missing_inst.append(str(images[key]))
        scan.samples.append(SampleFiles(images[key], labels[key], inst))
    no_label = [str(images[k]) for k in sorted(images.keys() - labels.keys())]
    no_image = [str(labels[k]) for k in sorted(labels.keys() - images.keys())]
    if no_label:
        scan.problems.append(make_problem(
            "missing_label", split, no_label,
            f"{len(no_label)} image(s) of split '{split}' have no label map",
            f"files pair by {rule[0]}: give each image a label map of the same {rule[1]} (rename one side if "
            f"they differ), or remove the image"))
    if no_image:
        scan.problems.append(make_problem(
            "missing_image", split, no_image,
            f"{len(no_image)} label map(s) of split '{split}' have no image",
            f"files pair by {rule[0]}: give each label map an image of the same {rule[1]} (rename one side if "
            f"they differ), or remove the label map"))
    if missing_inst:
        scan.problems.append(make_problem(
            "missing_instance", split, missing_inst,
            f"{len(missing_inst)} image(s) of split '{split}' have no instance map",
            f"add their instance maps (same {rule[1]}) or set data.use_instance=False"))
    return scan


def missing_dirs(split: str, directories: Iterable[Path], fix: str | None = None) -> list[Problem]:
    """One problem listing those of ``directories`` that do not exist (none if all do)."""
    missing = [str(d) for d in directories if not d.is_dir()]
    if not missing:
        return []
    return [make_problem("missing_dir", split, missing, f"split '{split}' lacks its director(ies)",
                         fix or "check data.root (or --data-root) against the layouts in the README's "
                                "dataset table")]


def prefixed_split_aliases(directory: Path, splits: Sequence[str]) -> tuple[dict[str, str], tuple[str, ...]]:
    """Split aliases of a ``<split>_img/<split>_label/<split>_inst`` tree (pix2pixHD's and SPADE's): where
    ``val`` is asked for and absent but ``test`` is there, ``val`` reads ``test`` (pix2pixHD ships
    ``train`` and ``test`` only, its ``test`` being Cityscapes' ``val``); returns the aliases and a note."""
    def present(name: str) -> bool:
        return any((directory / f"{name}_{kind}").is_dir() for kind in ("img", "label"))

    if "val" in splits and not present("val") and present("test"):
        return {"val": "test"}, ("split 'val' reads test_img/, test_label/, test_inst/: this tree has no "
                                 "val_* directories (pix2pixHD ships train and test only)",)
    return {}, ()


def prefixed_split_dirs(root: Path, layout: Layout, split: str, dataset: str, use_instance: bool,
                        instances_required: bool) -> tuple[dict[str, Path | None], list[Problem]]:
    """``{images, labels, instances}`` of ``split`` in a ``<split>_img/_label/_inst`` tree and the problems
    found: a split whose image and label directories are both absent is a ``missing_split``, one of them
    absent a ``missing_dir`` (instance maps too when ``instances_required``)."""
    name = layout.split_dir(split)
    dirs: dict[str, Path | None] = {"images": root / f"{name}_img", "labels": root / f"{name}_label",
                                    "instances": root / f"{name}_inst"}
    if not dirs["images"].is_dir() and not dirs["labels"].is_dir():
        have = sorted({p.name.rsplit("_", 1)[0] for p in root.glob("*_label") if p.is_dir()}
                      | {p.name.rsplit("_", 1)[0] for p in root.glob("*_img") if p.is_dir()})
        looked = f"{split}_img/ + {split}_label/" + (" or test_img/ + test_label/" if split == "val" else "")
        return dirs, [make_problem(
            "missing_split", split, [str(root)],
            f"the {layout.name} tree of {dataset} has no split '{split}' (looked for {looked})",
            f"add those directories, or set data.splits and data.eval_split to the splits it has "
            f"({', '.join(have) or 'none'})")]
    missing = [dirs["images"], dirs["labels"]]
    if split not in PHOTO_SPLITS and dirs["labels"].is_dir() and not dirs["images"].is_dir():
        # label maps without photos (pix2pixHD's test split as it ships): generated and scored on mIoU /
        # accuracy; what compares against the photos (FID, FD-seg, the oracle) says it needs them
        missing, dirs["images"] = [dirs["labels"]], None
    problems = missing_dirs(split, missing, _photos_fix(name) if dirs["images"] is not None
                            and not dirs["images"].is_dir() else None)
    if use_instance and instances_required and not dirs["instances"].is_dir():
        problems += missing_dirs(split, [dirs["instances"]],
                                 "add the instance maps there or set data.use_instance=False")
    if use_instance and not dirs["instances"].is_dir():
        dirs["instances"] = None
    return dirs, problems


#: splits that must hold photos (training); any other split may hold label maps alone
PHOTO_SPLITS = ("train",)
#: the metrics that compare against the evaluation split's real photos
PHOTO_METRICS = ("FID", "KID", "precision/recall", "FD-seg", "texture", "the oracle row")


def label_only_note(split: str) -> str:
    """One sentence: what a split of label maps without photos allows."""
    return (f"split '{split}' holds label maps without photos: methods train on the training split and are "
            f"scored on mIoU and accuracy here; {', '.join(PHOTO_METRICS)} need the split's real photos")


def _photos_fix(name: str) -> str:
    hint = (" (pix2pixHD's sample data ships test labels and instance maps without photos: they are "
            "Cityscapes' leftImg8bit/val images)") if name == "test" else ""
    return f"put the split's photos there{hint}, or set data.splits and data.eval_split to other splits"


class PairedDataset(SISDataset):
    """Image/label(/instance) file triples read through :class:`PairTransform`."""

    #: extra config keys of this dataset and their defaults (override COMMON_OPTIONS' defaults too)
    options: ClassVar[Mapping[str, Any]] = {}
    #: label maps must have the image's size; CelebAMask-HQ's are smaller and need only its aspect ratio
    require_equal_size: ClassVar[bool] = True
    #: the trees this dataset reads, tried in order; empty: the data root is the dataset folder as given
    layouts: ClassVar[tuple[LayoutSpec, ...]] = ()

    def __init__(self, cfg: Mapping[str, Any], split: str, *, train: bool | None = None):
        self.cfg = self.resolve_cfg(cfg)
        self.split = split
        self.train = split == "train" if train is None else bool(train)
        self.seed = int(self.cfg["seed"])
        self.epoch = 0
        self.layout = self.detect_layout(self.cfg)
        self.root = self.layout.root
        self._info = self.data_info(self.cfg)
        self.use_instance = self._info.has_instance
        self.transform = PairTransform.from_cfg(self.cfg, train=self.train)
        scan = self.scan(self.root, split)
        limit = self.cfg["limit"]
        self.samples = scan.samples if limit is None else scan.samples[:int(limit)]
        self.scan_problems = scan.problems
        #: False for an evaluation split of label maps without photos (:func:`label_only_note`)
        self.has_photos = all(sample.image is not None for sample in self.samples)
        fatal = [p for p in scan.problems if p.fatal]
        if fatal:  # the split cannot be read as asked: say that alone, not also that it is empty
            raise DataCheckError(fatal, self.name)
        if not self.samples:
            empty = make_problem("empty_split", split, [], f"split '{split}' of {self.name} at {self.root} "
                                 f"has no image/label pairs", "put data there or choose other data.splits")
            raise DataCheckError([*scan.problems, empty], self.name)

    # -- what a concrete dataset provides --------------------------------------------------------------

    @classmethod
    def data_info(cls, cfg: Mapping[str, Any]) -> DataInfo:
        """The DataInfo for a resolved config, without scanning files."""
        raise NotImplementedError

    @classmethod
    def locate_root(cls, cfg: Mapping[str, Any]) -> Path:
        """The data root as given; raises DataCheckError when it does not exist."""
        return require_root(cls.name, cfg["root"])

    @classmethod
    def detect_layout(cls, cfg: Mapping[str, Any]) -> Layout:
        """The layout of the tree under the data root (or in the one folder directly inside it that holds
        one); raises DataCheckError naming every layout looked for when nothing matches."""
        root = cls.locate_root(cfg)
        if not cls.layouts:
            return Layout("default", root, cls.description)
        splits = split_names(cfg["splits"])
        spec = next((s for s in cls.layouts if s.matches(root, splits)), None)
        if spec is not None:
            return cls.make_layout(spec, root, cfg)
        found = []
        for child in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")):
            spec = next((s for s in cls.layouts if s.matches(child, splits)), None)
            if spec is not None:
                found.append((child, spec))
        if len(found) == 1:
            return cls.make_layout(found[0][1], found[0][0], cfg)
        if found:
            raise DataCheckError([make_problem(
                "ambiguous_root", None, [str(p) for p, _ in found],
                f"the data root of {cls.name} holds {len(found)} folders that each look like the dataset",
                "point --data-root (data.root) at the one to use")], cls.name)
        looked = "; ".join(s.looks_for for s in cls.layouts)
        raise DataCheckError([make_problem(
            "unknown_layout", None, [str(root)],
            f"the data root of {cls.name} holds none of the layouts it reads ({looked}), neither itself nor "
            f"in a folder directly inside it",
            "point --data-root (data.root) at the folder holding one of them")], cls.name)

    @classmethod
    def make_layout(cls, spec: LayoutSpec, directory: Path, cfg: Mapping[str, Any]) -> Layout:
        """The Layout of ``spec`` found at ``directory`` (datasets with split aliases override this)."""
        return Layout(spec.name, directory, spec.looks_for)

    @classmethod
    def with_layout(cls, info: DataInfo, cfg: Mapping[str, Any]) -> DataInfo:
        """``info`` with the recognised layout in ``extra["layout"]`` when a data root is configured (the
        check is a few directory look-ups, no file scan); without a root the info stays as it is."""
        if cfg["root"] is None:
            return info
        return replace(info, extra={**info.extra, "layout": cls.detect_layout(cfg).record()})

    def scan(self, root: Path, split: str) -> Scan:
        raise NotImplementedError

    def decode_label(self, raw: np.ndarray) -> np.ndarray:
        """Ids stored in a label file -> the dataset's ids (int64)."""
        return raw.astype(np.int64)

    # -- shared behaviour ------------------------------------------------------------------------------

    #: whether ``data.splits`` may map each split to its directories (``folder``)
    explicit_dirs: ClassVar[bool] = False

    @classmethod
    def resolve_cfg(cls, cfg: Mapping[str, Any]) -> dict[str, Any]:
        """The config with every default filled in; an unknown key is an error, never ignored."""
        defaults = {**COMMON_OPTIONS, **cls.options}
        unknown = sorted(set(cfg) - set(defaults))
        if unknown:
            raise config_error(cls.name, f"the data config of {cls.name} has unknown key(s) {', '.join(unknown)}",
                               f"use only {', '.join(sorted(defaults))}")
        resolved = {**defaults, **dict(cfg)}
        resolved["type"] = cls.name
        if isinstance(resolved["splits"], Mapping) and not cls.explicit_dirs:
            raise config_error(cls.name, f"data.splits of {cls.name} maps splits to directories, which only "
                               f"the folder dataset reads", "set it to a list of split names such as "
                               "('train', 'val')")
        try:
            PairTransform.from_cfg(resolved, train=True)
        except ValueError as exc:
            raise config_error(cls.name, str(exc), "change those data keys with --set") from exc
        return resolved

    @classmethod
    def output_size(cls, cfg: Mapping[str, Any]) -> tuple[int, int]:
        return PairTransform.from_cfg(cfg, train=False).output_size

    @property
    def info(self) -> DataInfo:
        return self._info

    def set_epoch(self, epoch: int) -> None:
        """Select the augmentation draws of ``epoch`` (call before iterating over it)."""
        self.epoch = int(epoch)

    def sizes_agree(self, image_size: tuple[int, int], map_size: tuple[int, int]) -> bool:
        if self.require_equal_size:
            return image_size == map_size
        return image_size[0] * map_size[1] == image_size[1] * map_size[0]

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, index: int) -> dict[str, Any]:
        sample = self.samples[index]
        rng = np.random.default_rng([self.seed, self.epoch, index])
        params = self.transform.draw(rng)
        with Image.open(sample.label) as img:
            label_img = as_index_image(img)
            label = self.decode_label(self.transform.label(label_img, params))
        if sample.image is None:  # a label-only split: a black stand-in of the right size, never scored
            image = self.transform.image(Image.new("RGB", label_img.size), params)
        else:
            with Image.open(sample.image) as img:
                image = self.transform.image(img, params)
        out: dict[str, Any] = {"label": torch.from_numpy(label), "image": image,
                               "path": str(sample.image or sample.label)}
        if self.use_instance:
            if sample.instance is None:
                raise DataCheckError(self.scan_problems, self.name)
            with Image.open(sample.instance) as img:
                inst = self.transform.label(as_index_image(img), params)
            out["instance"] = torch.from_numpy(inst.astype(np.int64))
        return out

    def check(self) -> None:
        problems, _ = inspect_dataset(self)
        if problems:
            raise DataCheckError(problems, self.name)


def require_root(dataset: str, root: Any) -> Path:
    """``root`` as a Path; a missing or unset root raises naming the path and how to set it."""
    if root is None:
        raise DataCheckError([make_problem(
            "missing_root", None, [], f"{dataset} has no data root configured",
            "set data.root in the config or pass --data-root")], dataset)
    path = Path(root).expanduser()
    if not path.is_dir():
        raise DataCheckError([make_problem(
            "missing_root", None, [str(path)], f"the data root of {dataset} does not exist",
            "set data.root in the config or pass --data-root to the directory holding the dataset")], dataset)
    return path


def keyed(paths: Iterable[Path], key: Callable[[Path], str] = lambda p: p.stem) -> dict[str, Path]:
    """``{key(path): path}``."""
    return {key(p): p for p in paths}
