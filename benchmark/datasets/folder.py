"""``folder``: your own paired data, in a plain tree or in directories named one by one.

Three ways to say where the files are; ``data check`` prints which one it recognised, with each split's
directories when they were named one by one:

1. **folder layout** under ``data.root``::

       <root>/<split>/images/*.png|jpg|jpeg
       <root>/<split>/labels/*.png       one label map per image, same file stem; 8-bit grey or palette PNG
                                         whose pixel values are class ids
       <root>/<split>/instances/*.png    optional instance-id maps (8/16/32-bit), same stems

2. **pix2pixHD's and SPADE's layout** under ``data.root`` (pix2pixHD's "own dataset" and SPADE's COCO
   trees): ``<root>/<split>_img/``, ``<root>/<split>_label/``, optional ``<root>/<split>_inst/``. The split
   ``val`` reads ``test_*`` where there is no ``val_*`` (pix2pixHD ships train and test only).

3. **explicit directories** per split, for a tree any other tool laid out -- SPADE's ``custom`` mode
   (``--image_dir``, ``--label_dir``, ``--instance_dir``), say -- without copying files:

   - in the config, ``data.splits`` maps each split to ``images``, ``labels`` and ``instances``; the folder
     config holds these keys, all None, for ``train`` and ``val``, so ``--set`` reaches them::

         --set data.splits.train.images=/data/photos --set data.splits.train.labels=/data/labels
         --set data.splits.train.instances=/data/inst     (and the same for val)

     Other split names: ``--set "data.splits={'train': {...}, 'test': {...}}"``. ``data.splits`` may also
     stay a plain list of split names, as for every dataset.
   - in ``dataset.json``, ``"splits": {"train": {"images": "...", "labels": "...", "instances": "..."}}``.

   A split's entry in the config wins over ``dataset.json``, which wins over the tree under ``data.root``
   (role by role: a None role falls back). Relative paths in the config are relative to ``data.root``'s
   directory (the current directory when there is no root); those in ``dataset.json`` to the file's
   directory. ``data.root`` may be None when every split's images and labels are given in the config.

``data.root`` is a directory (which may hold ``dataset.json``) or the path of such a JSON file under any
name. ``dataset.json`` (every key optional)::

    {"num_classes": 12, "ignore_index": 255, "class_names": [...], "palette": [[r, g, b], ...],
     "splits": {"train": {"images": "...", "labels": "...", "instances": "..."}, ...}}

The data config overrides ``num_classes``, ``ignore_index``, ``class_names``, ``palette``; ``num_classes``
must come from one of them. Files pair by name without extension, in every way above: SPADE's ``custom``
mode pairs its sorted lists and refuses pairs whose names differ (``paths_match``), the same rule; a
mismatch is reported by ``data check`` with the files on each side. Instance maps are used when the first
split has an instance directory and ``data.use_instance`` is True. The embedded ``synthetic`` dataset is
written in the folder layout.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar

from benchmark.datasets.base import DataInfo
from benchmark.datasets.common import (
    DataCheckError,
    Layout,
    Problem,
    config_error,
    make_problem,
    split_names,
)
from benchmark.datasets.paired import (
    IMAGE_EXTENSIONS,
    PHOTO_SPLITS,
    LayoutSpec,
    PairedDataset,
    Scan,
    keyed,
    list_files,
    missing_dirs,
    pair_files,
    prefixed_split_aliases,
    prefixed_split_dirs,
    require_root,
)
from benchmark.registry import DATASETS

METADATA_FILE = "dataset.json"
_METADATA_KEYS = ("num_classes", "ignore_index", "class_names", "palette", "splits", "name")
#: the directories of one split, in the config and in dataset.json
ROLES = ("images", "labels", "instances")
FOLDER = LayoutSpec("folder", "<split>/images/ + <split>/labels/ (+ <split>/instances/)",
                    ("{split}/images", "{split}/labels"))
PREFIXED = LayoutSpec("pix2pixhd", "<split>_img/ + <split>_label/ (+ <split>_inst/) (pix2pixHD's and SPADE's)",
                      ("{split}_img", "{split}_label"))
EXPLICIT = ("directories named one by one in data.splits.<split>.images/labels/instances or in the splits "
            "of dataset.json")


def read_metadata(root: Path) -> dict[str, Any]:
    """``<root>/dataset.json`` as a dict ({} when absent); a malformed file raises naming it."""
    path = root / METADATA_FILE
    return read_metadata_file(path if path.is_file() else None)


def read_metadata_file(path: Path | None) -> dict[str, Any]:
    """A dataset description file as a dict ({} for None); a malformed one raises naming it and the fix."""
    if path is None:
        return {}
    try:
        meta = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        what, fix = f"the dataset description is not valid JSON ({exc})", "fix or delete the file"
    else:
        if not isinstance(meta, dict) or set(meta) - set(_METADATA_KEYS):
            what = "the dataset description is not an object with only the known keys"
            fix = f"use only {', '.join(_METADATA_KEYS)}"
        elif (bad := _bad_splits(meta.get("splits", {}))) is not None:
            what = f"the dataset description's splits are malformed ({bad})"
            fix = ('write "splits": {"train": {"images": "dir", "labels": "dir", "instances": "dir"}, ...} '
                   "with directory paths (relative to the file) or null")
        else:
            return meta
    raise DataCheckError([make_problem("bad_metadata", None, [str(path)], what, fix)], "folder")


def _bad_splits(splits: Any) -> str | None:
    """What is wrong with a ``splits`` mapping of directories, or None."""
    if not isinstance(splits, Mapping):
        return "not an object"
    for split, roles in splits.items():
        if not isinstance(roles, Mapping):
            return f"split {split!r} is not an object"
        unknown = sorted(set(roles) - set(ROLES))
        if unknown:
            return f"split {split!r} has key(s) {', '.join(unknown)}, not only {', '.join(ROLES)}"
        if any(v is not None and not isinstance(v, str) for v in roles.values()):
            return f"split {split!r} has a directory that is not a string"
    return None


def default_palette(n: int) -> tuple[tuple[int, int, int], ...]:
    """The PASCAL VOC colour map (bit-interleaved), the usual default for label visualisation."""
    colours = []
    for i in range(n):
        r = g = b = 0
        c = i
        for j in range(8):
            r |= ((c >> 0) & 1) << (7 - j)
            g |= ((c >> 1) & 1) << (7 - j)
            b |= ((c >> 2) & 1) << (7 - j)
            c >>= 3
        colours.append((r, g, b))
    return tuple(colours)


def _absolute(value: Any, base: Path | None) -> Path:
    """``value`` as an absolute path, relative ones taken from ``base`` (the current directory for None);
    ``..`` is folded lexically (symbolic links are left as named)."""
    path = Path(str(value)).expanduser()
    if not path.is_absolute() and base is not None:
        path = base / path
    return Path(os.path.normpath(path.absolute()))


@DATASETS.register()
class FolderDataset(PairedDataset):
    """Custom paired data: a folder tree, pix2pixHD's/SPADE's tree, or directories named per split."""

    name = "folder"
    description = ("custom data: <root>/<split>/{images,labels[,instances]}, <root>/<split>_{img,label[,inst]}, "
                   "or directories per split (data.splits / dataset.json)")
    options: ClassVar[Mapping[str, Any]] = dict(num_classes=None, ignore_index=None, class_names=None,
                                                palette=None, name=None)
    explicit_dirs = True
    layouts = (FOLDER, PREFIXED)

    # -- where the files are -----------------------------------------------------------------------------

    @classmethod
    def locate_root(cls, cfg: Mapping[str, Any]) -> Path:
        """The data root: a directory, or a dataset description file."""
        if cfg["root"] is None:
            raise DataCheckError([make_problem(
                "missing_root", None, [], f"{cls.name} has no data root configured",
                "set data.root in the config or pass --data-root, or name each split's directories with "
                "--set data.splits.<split>.images=DIR and data.splits.<split>.labels=DIR")], cls.name)
        path = Path(cfg["root"]).expanduser()
        return path if path.is_file() else require_root(cls.name, cfg["root"])

    @classmethod
    def _config_dirs(cls, cfg: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
        """The directories ``data.splits`` names (None entries left out)."""
        splits = cfg["splits"]
        if not isinstance(splits, Mapping):
            return {}
        if (bad := _bad_splits(splits)) is not None:
            raise config_error(cls.name, f"data.splits of folder is malformed ({bad})",
                               "map each split to images, labels and instances directories (or None)")
        return {str(s): {r: v for r, v in roles.items() if v is not None} for s, roles in splits.items()}

    @classmethod
    def _resolve(cls, cfg: Mapping[str, Any]) -> tuple[Layout, dict[str, Any]]:
        """The layout and the dataset description (dataset.json) of a resolved config."""
        from_cfg = cls._config_dirs(cfg)
        base = mapping = None
        if cfg["root"] is not None or not any(from_cfg.values()):
            path = cls.locate_root(cfg)
            base, mapping = (path.parent, path) if path.is_file() else (path, path / METADATA_FILE)
            mapping = mapping if mapping.is_file() else None
        meta = read_metadata_file(mapping)
        given: dict[str, dict[str, str]] = {}
        for split, roles in (meta.get("splits") or {}).items():
            given.setdefault(split, {}).update(
                {r: str(_absolute(v, mapping.parent)) for r, v in roles.items() if v is not None})
        for split, roles in from_cfg.items():
            given.setdefault(split, {}).update({r: str(_absolute(v, base)) for r, v in roles.items()})
        given = {s: roles for s, roles in given.items() if roles}
        splits = split_names(cfg["splits"])
        default = next((s for s in cls.layouts if s.matches(base, splits)), None) if base is not None else None
        aliases, notes = prefixed_split_aliases(base, splits) if default is PREFIXED else ({}, ())
        if not given:
            if default is None:
                looked = "; ".join([*(s.looks_for for s in cls.layouts), EXPLICIT])
                raise DataCheckError([make_problem(
                    "unknown_layout", None, [str(base)],
                    f"the data root of {cls.name} holds none of the layouts it reads ({looked})",
                    "point --data-root (data.root) at the folder holding one of them or name the directories")],
                    cls.name)
            return Layout(default.name, base, default.looks_for, split_dirs=aliases, notes=notes), meta
        layout = Layout("explicit", base, EXPLICIT, split_dirs=aliases, notes=notes)
        dirs = {}
        for split in dict.fromkeys([*splits, *given]):
            roles = {**cls._default_dirs(layout, default, split), **given.get(split, {})}
            dirs[split] = {r: roles.get(r) for r in ROLES}
        if default is not None:
            notes = (*notes, f"roles not named fall back to the {default.name} layout under {base}")
        return Layout("explicit", base, EXPLICIT, split_dirs=aliases, dirs=dirs, notes=notes), meta

    @classmethod
    def _default_dirs(cls, layout: Layout, default: LayoutSpec | None, split: str) -> dict[str, str]:
        """The directories ``split`` has in the ``default`` layout under the root ({} without one)."""
        if default is None or layout.root is None:
            return {}
        if default is FOLDER:
            paths = {r: layout.root / split / r for r in ROLES}
        else:
            name = layout.split_dir(split)
            paths = {r: layout.root / f"{name}_{suffix}" for r, suffix in zip(ROLES, ("img", "label", "inst"),
                                                                              strict=True)}
        return {r: str(p) for r, p in paths.items() if r != "instances" or p.is_dir()}

    @classmethod
    def detect_layout(cls, cfg: Mapping[str, Any]) -> Layout:
        return cls._resolve(cfg)[0]

    @classmethod
    def custom_name(cls, cfg: Mapping[str, Any]) -> str | None:
        """The dataset's own name: ``data.name``, else the ``name`` of dataset.json (None: neither)."""
        if cfg.get("name"):
            return str(cfg["name"])
        name = cls._resolve(cfg)[1].get("name")
        return None if name is None else str(name)

    def _split_dirs(self, split: str) -> tuple[dict[str, Path | None], list[Problem]]:
        """``{images, labels, instances}`` of ``split`` and the problems with them."""
        layout = self.layout
        if layout.name == PREFIXED.name:
            return prefixed_split_dirs(layout.root, layout, split, self.name, self.use_instance,
                                       instances_required=False)
        if split in layout.dirs:
            roles: Mapping[str, str | None] = layout.dirs[split]
        else:  # a split the config does not list (generate --split test, say): the tree under the root
            default = FOLDER if layout.name == FOLDER.name else next(
                (s for s in self.layouts if layout.root is not None and s.matches(layout.root, [split])), None)
            roles = self._default_dirs(layout, default, split)
        dirs = {r: Path(roles[r]) if roles.get(r) else None for r in ROLES}
        if dirs["images"] is None or dirs["labels"] is None:
            return dirs, [make_problem(
                "missing_split", split, [], f"split '{split}' of {self.name} has no image and label directories",
                f"name them with --set data.splits.{split}.images=DIR and data.splits.{split}.labels=DIR (or "
                f"in the splits of dataset.json), or set data.splits and data.eval_split to the splits you "
                f"have")]
        fix = "fix data.splits.<split>.<role> or the splits of dataset.json" if layout.dirs else None
        if split not in PHOTO_SPLITS and dirs["labels"].is_dir() and not dirs["images"].is_dir():
            dirs["images"] = None  # label maps without photos: scored on mIoU / accuracy (label_only_note)
        problems = missing_dirs(split, [d for d in (dirs["images"], dirs["labels"]) if d is not None], fix)
        if self.use_instance and dirs["instances"] is not None and not dirs["instances"].is_dir():
            problems += missing_dirs(split, [dirs["instances"]],
                                     "fix the instances path or set data.use_instance=False")
        return dirs, problems

    # -- what the dataset is ----------------------------------------------------------------------------

    @classmethod
    def data_info(cls, cfg: Mapping[str, Any]) -> DataInfo:
        layout, meta = cls._resolve(cfg)
        merged = {k: cfg[k] if cfg.get(k) is not None else meta.get(k) for k in _METADATA_KEYS[:4]}
        where = layout.root if layout.root is not None else "the directories named in data.splits"
        if merged["num_classes"] is None:
            raise DataCheckError([make_problem(
                "missing_num_classes", None, [str(layout.root / METADATA_FILE)] if layout.root else [],
                f"the number of classes of the folder dataset at {where} is unknown",
                "set data.num_classes or write num_classes to dataset.json")], cls.name)
        nc = int(merged["num_classes"])
        names = tuple(merged["class_names"] or (f"class_{i}" for i in range(nc)))
        palette = tuple(tuple(int(v) for v in c) for c in merged["palette"] or default_palette(nc))
        if len(names) != nc or len(palette) != nc:
            raise config_error(cls.name, f"the folder dataset at {where} has {len(names)} class names and "
                               f"{len(palette)} palette colours for num_classes={nc}",
                               "give one name and one colour per class")
        ignore = merged["ignore_index"]
        first = (split_names(cfg["splits"]) or ["train"])[0]
        return DataInfo(
            name=cls.name, num_classes=nc, ignore_index=None if ignore is None else int(ignore),
            class_names=names, palette=palette,
            has_instance=bool(cfg["use_instance"]) and cls._has_instances(layout, first),
            image_size=cls.output_size(cfg), contain_dontcare_label=ignore is not None,
            extra={"root": None if layout.root is None else str(layout.root), "layout": layout.record()})

    @classmethod
    def _has_instances(cls, layout: Layout, split: str) -> bool:
        if split in layout.dirs:
            inst = layout.dirs[split].get("instances")
            return bool(inst) and Path(inst).is_dir()
        if layout.root is None:
            return False
        if layout.name == PREFIXED.name:
            return (layout.root / f"{layout.split_dir(split)}_inst").is_dir()
        return (layout.root / split / "instances").is_dir()

    def scan(self, root: Path | None, split: str) -> Scan:
        dirs, problems = self._split_dirs(split)
        if problems:
            return Scan(problems=problems)
        inst_dir = dirs["instances"]
        instances = None
        if self.use_instance:
            instances = keyed(list_files(inst_dir, (".png",))) if inst_dir is not None else {}
        images = None if dirs["images"] is None else keyed(list_files(dirs["images"], IMAGE_EXTENSIONS))
        return pair_files(split, images, keyed(list_files(dirs["labels"], (".png",))), instances)
