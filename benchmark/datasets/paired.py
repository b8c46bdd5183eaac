"""The common machinery of file-based datasets: config options, pairing of image/label/instance files,
loading through the shared transforms, and reproducible augmentation.

A concrete dataset declares its extra config ``options`` and implements three things:
``data_info(cfg)`` (cheap: no file scan), ``locate_root(cfg)`` and ``scan(root, split)`` (list the split's
files; :func:`pair_files` does the matching and reports every unmatched file). ``decode_label`` turns
the ids stored in a label file into the dataset's ids when they differ (ADE20K).

Augmentation is reproducible by construction: sample ``i`` of epoch ``e`` draws its crop and flip from a
generator seeded with ``(seed, e, i)``, so resuming, reordering or spreading samples over DataLoader
workers never changes a batch. Call :meth:`PairedDataset.set_epoch` before each epoch.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch
from PIL import Image

from benchmark.datasets.base import DataInfo, SISDataset
from benchmark.datasets.check import (
    DataCheckError,
    Problem,
    as_index_image,
    inspect_dataset,
    make_problem,
)
from benchmark.datasets.transforms import PairTransform

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg")

#: config keys every dataset accepts, with their defaults (SPADE's COCO/ADE20K training setting)
COMMON_OPTIONS: dict[str, Any] = dict(
    type=None,
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
    train_images=None,    # the official training-set size, for paper schedules in epochs (benchmark/schedule.py)
)


@dataclass(frozen=True)
class SampleFiles:
    """The files of one sample."""

    image: Path
    label: Path
    instance: Path | None = None


@dataclass
class Scan:
    """What ``scan`` found in one split: matched samples and every problem met on the way."""

    samples: list[SampleFiles] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)


def list_files(directory: Path, extensions: Sequence[str], recursive: bool = False) -> list[Path]:
    """Files under ``directory`` whose suffix (any case) is one of ``extensions``, sorted."""
    pattern = "**/*" if recursive else "*"
    return sorted(p for p in directory.glob(pattern) if p.suffix.lower() in extensions and p.is_file())


def pair_files(split: str, images: Mapping[str, Path], labels: Mapping[str, Path],
               instances: Mapping[str, Path] | None = None) -> Scan:
    """Match files by key; every image without a label (and the reverse) becomes a problem.

    ``instances`` None means the split has no instance maps; otherwise every paired sample needs one.
    """
    scan = Scan()
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
            "add each label map under the matching name or remove the image"))
    if no_image:
        scan.problems.append(make_problem(
            "missing_image", split, no_image,
            f"{len(no_image)} label map(s) of split '{split}' have no image",
            "add each image under the matching name or remove the label map"))
    if missing_inst:
        scan.problems.append(make_problem(
            "missing_instance", split, missing_inst,
            f"{len(missing_inst)} image(s) of split '{split}' have no instance map",
            "add the instance maps or set data.use_instance=False"))
    return scan


def missing_dirs(split: str, directories: Iterable[Path]) -> list[Problem]:
    """One problem listing those of ``directories`` that do not exist (none if all do)."""
    missing = [str(d) for d in directories if not d.is_dir()]
    if not missing:
        return []
    return [make_problem("missing_dir", split, missing, f"split '{split}' lacks its director(ies)",
                         "check data.root (or --data-root) against the layout in the dataset's docstring")]


class PairedDataset(SISDataset):
    """Image/label(/instance) file triples read through :class:`PairTransform`."""

    #: extra config keys of this dataset and their defaults (override COMMON_OPTIONS' defaults too)
    options: ClassVar[Mapping[str, Any]] = {}
    #: label maps must have the image's size; CelebAMask-HQ's are smaller and need only its aspect ratio
    require_equal_size: ClassVar[bool] = True

    def __init__(self, cfg: Mapping[str, Any], split: str, *, train: bool | None = None):
        self.cfg = self.resolve_cfg(cfg)
        self.split = split
        self.train = split == "train" if train is None else bool(train)
        self.seed = int(self.cfg["seed"])
        self.epoch = 0
        self.root = self.locate_root(self.cfg)
        self._info = self.data_info(self.cfg)
        self.use_instance = self._info.has_instance
        self.transform = PairTransform.from_cfg(self.cfg, train=self.train)
        scan = self.scan(self.root, split)
        limit = self.cfg["limit"]
        self.samples = scan.samples if limit is None else scan.samples[:int(limit)]
        self.scan_problems = scan.problems
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
        """The dataset directory; raises DataCheckError when it does not exist."""
        return require_root(cls.name, cfg["root"])

    def scan(self, root: Path, split: str) -> Scan:
        raise NotImplementedError

    def decode_label(self, raw: np.ndarray) -> np.ndarray:
        """Ids stored in a label file -> the dataset's ids (int64)."""
        return raw.astype(np.int64)

    # -- shared behaviour ------------------------------------------------------------------------------

    @classmethod
    def resolve_cfg(cls, cfg: Mapping[str, Any]) -> dict[str, Any]:
        """The config with every default filled in; an unknown key is an error, never ignored."""
        defaults = {**COMMON_OPTIONS, **cls.options}
        unknown = sorted(set(cfg) - set(defaults))
        if unknown:
            raise ValueError(f"data config of {cls.name!r} has unknown key(s) {', '.join(unknown)}; "
                             f"valid keys: {', '.join(sorted(defaults))}")
        resolved = {**defaults, **dict(cfg)}
        resolved["type"] = cls.name
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
        with Image.open(sample.image) as img:
            image = self.transform.image(img, params)
        with Image.open(sample.label) as img:
            label = self.decode_label(self.transform.label(as_index_image(img), params))
        out: dict[str, Any] = {"label": torch.from_numpy(label), "image": image, "path": str(sample.image)}
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


def cache_root() -> Path:
    """Where datasets write what they derive from their files: ``$SISBENCH_CACHE`` or
    ``~/.cache/sisbench``."""
    env = os.environ.get("SISBENCH_CACHE")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "sisbench"


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
