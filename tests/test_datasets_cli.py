"""The datasets through the command line: every accepted layout passes `data check` (which names the layout)
with counts and a class histogram, trains SPADE for 2 iterations, and every broken tree is caught, naming
the file, before anything is written."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import torch
from PIL import Image

from benchmark.cli import main
from tests import fixtures_data as fx

#: SPADE with its full loss at the tiny preset's image sizes, narrow enough for 2 iterations in about a second
SMALL_SPADE = ["--set", "train.batch_size=1", "--set", "model.ngf=4", "--set", "model.spade_hidden=8",
               "--set", "netD.ndf=4", "--no-progress", "--device", "cpu"]


def _data_root(root: Path) -> list[str]:
    return ["--data-root", str(root)]


@dataclass(frozen=True)
class Layout:
    """A fixture tree in one accepted layout and what the CLI must report about it."""

    dataset: str
    write: Callable[[Path], Path]
    #: the image and the file(s) holding the label of a training sample the dataset keeps
    image: Callable[[Path], Path]
    label: Callable[[Path], list[Path]]
    counts: dict[str, int]
    #: "<present>/<num_classes>" and class names the histogram shows (the dataset's id conventions)
    classes: str
    class_names: tuple[str, ...]
    #: raw ids outside the dataset's range written into a label map; None: labels cannot hold such ids
    bad_ids: list[int] | None
    #: (H, W) of the images a method generates at the tiny preset, and the data info of SPADE's setting
    image_size: tuple[int, int] = (64, 64)
    info: dict = field(default_factory=dict)
    #: the layout `data check` names and the run's data record keeps
    layout: str = "official"
    #: the folder the dataset is read from, relative to the written tree (None: no root, directories named)
    dataset_dir: str | None = ""
    #: a line `data check` prints about the layout (which split stands in for which)
    note: str | None = None
    #: the CLI arguments that point at the tree
    where: Callable[[Path], list[str]] = _data_root


def _ade(sub: str, base: str = "ADEChallengeData2016") -> Callable[[Path], Path]:
    # ADE_train_00000001 is the fixture's outdoor image (highway): ade20k_outdoor keeps it
    ext = ".jpg" if sub == "images" else ".png"
    return lambda r: r / base / sub / "training" / f"ADE_train_00000001{ext}"


def _in(sub: str, writer: Callable[[Path], Path]) -> Callable[[Path], Path]:
    """A writer of the tree into ``<dir>/<sub>``, returning ``<dir>``: the data root is the parent."""
    def write(d: Path) -> Path:
        writer(d / sub)
        return d
    return write


def _explicit_args(root: Path) -> list[str]:
    """SPADE's custom mode as --set: the directories of both splits, and the number of classes."""
    args = []
    for split, dirs in fx.CUSTOM_DIRS.items():
        for role, rel in zip(("images", "labels", "instances"), dirs, strict=True):
            args += ["--set", f"data.splits.{split}.{role}={root / rel}"]
    return [*args, "--set", "data.num_classes=4"]


def _write_json_mapping(d: Path, meta_dir: str = "", name: str = "dataset.json") -> Path:
    """The SPADE custom-mode directories described by a dataset.json in ``d/meta_dir`` (relative paths)."""
    fx.write_folder_dirs(d, fx.CUSTOM_DIRS)
    up = "../" * len(Path(meta_dir).parts)
    splits = {split: dict(zip(("images", "labels", "instances"), (up + p for p in dirs), strict=True))
              for split, dirs in fx.CUSTOM_DIRS.items()}
    (d / meta_dir).mkdir(parents=True, exist_ok=True)
    (d / meta_dir / name).write_text(json.dumps({"num_classes": 4, "ignore_index": 255, "splits": splits}))
    return d


_CITY = "aachen/aachen_000000_000019"
_P2P_CITY = "aachen_000000_000019"
_COCO = "000000000000"
_DONTCARE = dict(ignore_index=255, contain_dontcare_label=True)
_CITY_INFO = dict(num_classes=35, ignore_index=None, contain_dontcare_label=False, has_instance=True,
                  spade_upsampling="more")
_CELEBA = dict(counts={"train": 2, "val": 1, "test": 1}, classes="4/19",
               class_names=("background", "skin", "nose", "hair"), bad_ids=None, layout="archive",
               info=dict(num_classes=19, ignore_index=None, contain_dontcare_label=False, has_instance=False))
_FOLDER4 = dict(classes="4/4", class_names=("class_0", "class_1", "class_2", "class_3"), bad_ids=[0, 7])
ADE = dict(write=fx.write_ade20k, image=_ade("images"), label=lambda r: [_ade("annotations")(r)],
           classes="2/150", class_names=("wall", "flag"), bad_ids=[1, 200], layout="scene_parsing",
           dataset_dir="ADEChallengeData2016", info=dict(num_classes=150, has_instance=False, **_DONTCARE))

LAYOUTS = {
    "coco_spade": Layout(
        "coco_stuff", fx.write_coco_spade, lambda r: r / "train_img" / f"{_COCO}.jpg",
        lambda r: [r / "train_label" / f"{_COCO}.png"], {"train": 2, "val": 2}, "3/182",
        ("person", "sky-other", "wood"), [0, 200], info=dict(num_classes=182, has_instance=True, **_DONTCARE),
        layout="spade"),
    "coco_spade_parent": Layout(  # SPADE's datasets/ folder holding coco_stuff/
        "coco_stuff", _in("coco_stuff", fx.write_coco_spade),
        lambda r: r / "coco_stuff" / "train_img" / f"{_COCO}.jpg",
        lambda r: [r / "coco_stuff" / "train_label" / f"{_COCO}.png"], {"train": 2, "val": 2}, "3/182",
        ("person", "sky-other", "wood"), [0, 200], info=dict(num_classes=182, has_instance=True, **_DONTCARE),
        layout="spade", dataset_dir="coco_stuff"),
    "coco_official": Layout(
        "coco_stuff", fx.write_coco_official, lambda r: r / "images" / "train2017" / f"{_COCO}.jpg",
        lambda r: [r / "stuffthingmaps_trainval2017" / "train2017" / f"{_COCO}.png"], {"train": 2, "val": 2},
        "2/182", ("person", "carpet"), [0, 200], info=dict(num_classes=182, has_instance=False, **_DONTCARE)),
    "ade20k": Layout("ade20k", counts={"train": 2, "val": 2}, **ADE),
    "ade20k_folder": Layout(  # the root is ADEChallengeData2016 itself
        "ade20k", counts={"train": 2, "val": 2},
        **{**ADE, "write": lambda d: fx.write_ade20k(d) / "ADEChallengeData2016", "image": _ade("images", ""),
           "label": lambda r: [_ade("annotations", "")(r)], "dataset_dir": ""}),
    "ade20k_spade": Layout(  # SPADE's README: images and annotations in one folder
        "ade20k", counts={"train": 2, "val": 2},
        **{**ADE, "write": fx.write_ade20k_spade, "image": lambda r: r / "ADE_train_00000001.jpg",
           "label": lambda r: [r / "ADE_train_00000001.png"], "dataset_dir": "", "layout": "spade"}),
    "ade20k_outdoor": Layout("ade20k_outdoor", counts={"train": 1, "val": 1}, **ADE),
    "cityscapes": Layout(
        "cityscapes", fx.write_cityscapes, lambda r: r / "leftImg8bit" / "train" / f"{_CITY}_leftImg8bit.png",
        lambda r: [r / "gtFine" / "train" / f"{_CITY}_gtFine_labelIds.png"], {"train": 2, "val": 2}, "4/35",
        ("unlabeled", "road", "car", "bicycle"), [7, 40], image_size=(64, 128), info=_CITY_INFO),
    "cityscapes_pix2pixhd": Layout(  # pix2pixHD's datasets/cityscapes: train and test only
        "cityscapes", fx.write_cityscapes_pix2pixhd,
        lambda r: r / "train_img" / f"{_P2P_CITY}_leftImg8bit.png",
        lambda r: [r / "train_label" / f"{_P2P_CITY}_gtFine_labelIds.png"], {"train": 2, "val": 2}, "4/35",
        ("unlabeled", "road", "car", "bicycle"), [7, 40], image_size=(64, 128), info=_CITY_INFO,
        layout="pix2pixhd", note="split 'val' reads test_img/, test_label/, test_inst/"),
    "celebamask_hq": Layout(
        "celebamask_hq", fx.write_celebamask_hq, lambda r: r / "CelebA-HQ-img" / "0.jpg",
        lambda r: sorted((r / "CelebAMask-HQ-mask-anno" / "0").glob("00000_*.png")), **_CELEBA),
    "celebamask_hq_unpacked": Layout(  # the directory the archive was unpacked in, CelebA's partition there
        "celebamask_hq", fx.write_celebamask_hq_unpacked, lambda r: r / "CelebAMask-HQ" / "CelebA-HQ-img" / "0.jpg",
        lambda r: sorted((r / "CelebAMask-HQ" / "CelebAMask-HQ-mask-anno" / "0").glob("00000_*.png")),
        dataset_dir="CelebAMask-HQ", note="splits: CelebA's partition in", **_CELEBA),
    "folder": Layout(
        "folder", lambda d: fx.write_folder(d, instances=True), lambda r: r / "train" / "images" / "s00.png",
        lambda r: [r / "train" / "labels" / "s00.png"], {"train": 3, "val": 2}, **_FOLDER4,
        info=dict(num_classes=4, has_instance=True, **_DONTCARE), layout="folder"),
    "folder_pix2pixhd": Layout(  # pix2pixHD's own-dataset layout: <split>_img, _label, _inst; train and test
        "folder", fx.write_prefixed, lambda r: r / "train_img" / "0000.png",
        lambda r: [r / "train_label" / "0000.png"], {"train": 2, "val": 2}, **_FOLDER4,
        info=dict(num_classes=4, has_instance=True, ignore_index=None, contain_dontcare_label=False),
        layout="pix2pixhd", note="split 'val' reads test_img/"),
    "folder_explicit": Layout(  # SPADE's custom mode: --image_dir/--label_dir/--instance_dir as --set
        "folder", lambda d: fx.write_folder_dirs(d, fx.CUSTOM_DIRS),
        lambda r: r / "photos" / "train" / "train_000.jpg",
        lambda r: [r / "annotations" / "train_maps" / "train_000.png"], {"train": 3, "val": 3}, **_FOLDER4,
        info=dict(num_classes=4, has_instance=True, ignore_index=None), layout="explicit", dataset_dir=None,
        where=_explicit_args),
    "folder_json": Layout(  # the same directories described by <root>/dataset.json
        "folder", _write_json_mapping, lambda r: r / "photos" / "train" / "train_000.jpg",
        lambda r: [r / "annotations" / "train_maps" / "train_000.png"], {"train": 3, "val": 3}, **_FOLDER4,
        info=dict(num_classes=4, has_instance=True, **_DONTCARE), layout="explicit"),
    "folder_json_file": Layout(  # ... by a JSON file elsewhere, given as the data root
        "folder", lambda d: _write_json_mapping(d, "meta", "my_data.json"),
        lambda r: r / "photos" / "train" / "train_000.jpg",
        lambda r: [r / "annotations" / "train_maps" / "train_000.png"], {"train": 3, "val": 3}, **_FOLDER4,
        info=dict(num_classes=4, has_instance=True, **_DONTCARE), layout="explicit", dataset_dir="meta",
        where=lambda r: ["--data-root", str(r / "meta" / "my_data.json")]),
}
#: layouts trained for 2 iterations (every dataset, and the new ways of pointing at data)
TRAINED = ("coco_spade", "coco_official", "ade20k", "ade20k_outdoor", "cityscapes", "cityscapes_pix2pixhd",
           "celebamask_hq", "folder", "folder_explicit", "folder_json_file")
DATASETS = sorted({layout.dataset for layout in LAYOUTS.values()})


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    """Tiny convolutions run fastest on one thread; on 2 shared cores two threads wait on each other (measured
    0.3 s against 1-7 s per 2-iteration run)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def data_check(layout: Layout, root: Path, capsys, *extra: str) -> tuple[int, str, str]:
    return run_cli(["data", "check", "--dataset", layout.dataset, *layout.where(root), *extra], capsys)


def train(layout: Layout, root: Path, out: Path, capsys, *extra: str) -> tuple[int, str, str]:
    return run_cli(["train", "--method", "spade", "--dataset", layout.dataset, *layout.where(root),
                    "--iters", "2", "--out", str(out), *SMALL_SPADE, *extra], capsys)


def run_cli(argv: list[str], capsys) -> tuple[int, str, str]:
    code = main(argv)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def assert_one_sentence(text: str) -> None:
    text = text.strip()
    assert text.startswith("error: ") and text.endswith(".") and "\n" not in text, text
    assert re.search(r"\.\s+[A-Z]", text[:-1]) is None, text


# -- good trees --------------------------------------------------------------------------------------------

@pytest.mark.slow
@pytest.mark.parametrize("name", LAYOUTS)
def test_data_check_passes_with_layout_counts_and_histogram(name, tmp_path, capsys):
    layout = LAYOUTS[name]
    root = layout.write(tmp_path / name)
    code, out, err = data_check(layout, root, capsys)
    assert code == 0, out + err
    lines = out.splitlines()
    where = "" if layout.dataset_dir is None else f" at {root / layout.dataset_dir if layout.dataset_dir else root}"
    assert lines[0] == f"dataset {layout.dataset}{where}: OK", out
    assert lines[1].startswith(f"  layout: {layout.layout} -- "), out
    assert not [line for line in lines if line.startswith("  - ")], out  # no problem lines
    if layout.note:
        assert any(layout.note in line for line in lines[2:-len(layout.counts)]), out
    for line, (split, count) in zip(lines[-len(layout.counts):], layout.counts.items(), strict=True):
        assert line.startswith(f"  {split}: {count} samples; {layout.classes} classes present; most frequent: ")
        shown = re.findall(r"([\w -]+?) (\d+)%", line.split("most frequent: ")[1])
        assert {n.strip() for n, _ in shown} == set(layout.class_names), line
        assert 98 <= sum(int(p) for _, p in shown) <= 102, line


@pytest.mark.slow
@pytest.mark.parametrize("name", TRAINED)
def test_spade_trains_two_iterations(name, tmp_path, capsys):
    layout = LAYOUTS[name]
    root = layout.write(tmp_path / name)
    out = tmp_path / "out"
    code, printed, err = train(layout, root, out, capsys)
    assert code == 0, printed + err
    run_dir, = (out / "runs" / layout.dataset / "spade").iterdir()
    assert str(run_dir) in printed
    manifest = json.loads((run_dir / "manifest.json").read_text())
    assert manifest["status"] == "finished" and manifest["iterations"] == {"main": 2}
    latest = json.loads((run_dir / "checkpoints" / "latest.json").read_text())
    assert latest["iteration"] == 2 and (run_dir / "checkpoints" / latest["weights"]).is_file()
    # the papers' preprocessing and label conventions, and the layout read, as the run recorded them
    data = manifest["data"]
    assert data["name"] == layout.dataset and tuple(data["image_size"]) == layout.image_size
    assert {k: data[k] for k in layout.info} == layout.info
    recorded = data["extra"]["layout"]
    assert recorded["name"] == layout.layout
    if layout.dataset_dir is not None:
        assert recorded["root"] == str(root / layout.dataset_dir if layout.dataset_dir else root)
        assert json.loads((run_dir / "config.json").read_text())["data"]["root"] == layout.where(root)[-1]
    if layout.note and "reads test" in layout.note:
        assert recorded["split_dirs"] == {"val": "test"}


# -- broken trees ------------------------------------------------------------------------------------------

def break_missing_label(layout: Layout, root: Path) -> tuple[Path, str]:
    for path in layout.label(root):
        path.unlink()
    return layout.image(root), "have no label map"


def break_bad_ids(layout: Layout, root: Path) -> tuple[Path, str]:
    label = layout.label(root)[0]
    with Image.open(layout.image(root)) as img:
        size = img.size
    fx.write_label(label, layout.bad_ids, size=size)
    return label, "hold ids outside"


def break_truncated_image(layout: Layout, root: Path) -> tuple[Path, str]:
    image = layout.image(root)
    image.write_bytes(image.read_bytes()[: image.stat().st_size // 2])
    return image, "cannot be read or are truncated"


BREAKS = {"missing_label": break_missing_label, "bad_ids": break_bad_ids, "truncated_image": break_truncated_image}


@pytest.mark.slow
@pytest.mark.parametrize("problem", BREAKS)
@pytest.mark.parametrize("name", LAYOUTS)
def test_broken_tree_is_caught_naming_the_file(name, problem, tmp_path, capsys):
    layout = LAYOUTS[name]
    if problem == "bad_ids" and layout.bad_ids is None:
        pytest.skip(f"{name} label maps are combined from part masks: every id is in range")
    root = layout.write(tmp_path / name)
    path, what = BREAKS[problem](layout, root)
    code, out, err = data_check(layout, root, capsys)
    assert code == 1, out + err
    assert re.search(r": \d problem\(s\)$", out.splitlines()[0])
    problems = [line for line in out.splitlines() if line.startswith("  - ")]
    # one problem names the file (ade20k_outdoor's train split, one image, is also empty then)
    assert any(str(path) in line and what in line and "'train'" in line for line in problems), out
    # training refuses the same tree with the same file named, before writing anything
    out_dir = tmp_path / "out"
    code, printed, err = train(layout, root, out_dir, capsys)
    assert code == 2 and printed == ""
    assert_one_sentence(err)
    assert str(path) in err and what in err
    assert not out_dir.exists()


@pytest.mark.slow
@pytest.mark.parametrize("dataset", DATASETS)
def test_missing_root_is_one_sentence(dataset, tmp_path, capsys):
    layout = Layout(dataset, fx.write_folder, Path, lambda r: [], {}, "", (), None)
    absent = tmp_path / "absent"
    code, out, err = data_check(layout, absent, capsys)
    assert code == 2 and out == ""
    assert_one_sentence(err)
    assert str(absent) in err and "--data-root" in err
    code, printed, err = train(layout, absent, tmp_path / "out", capsys)
    assert code == 2 and printed == "" and str(absent) in err
    assert_one_sentence(err)
    assert not (tmp_path / "out").exists()


@pytest.mark.slow
def test_data_check_without_a_root_names_the_option(capsys):
    assert main(["data", "check", "--dataset", "cityscapes"]) == 2
    err = capsys.readouterr().err
    assert_one_sentence(err)
    assert "data.root" in err and "--data-root" in err
    # the option the message names is accepted by `data check`
    assert main(["data", "check", "--dataset", "cityscapes", "--data-root", "/nonexistent/cityscapes"]) == 2
    assert "/nonexistent/cityscapes" in capsys.readouterr().err


# -- wrong layouts, missing splits, bad paths: one sentence, exit code 2, nothing written --------------------

def assert_refused(dataset: str, where: list[str], tmp_path: Path, capsys, *needles: str) -> str:
    """`data check` and `train` both stop with one sentence holding every needle, before writing anything."""
    code, out, err = run_cli(["data", "check", "--dataset", dataset, *where], capsys)
    assert code == 2 and out == "", out + err
    assert_one_sentence(err)
    for needle in needles:
        assert needle in err, (needle, err)
    out_dir = tmp_path / "out"
    code, printed, err_train = run_cli(["train", "--method", "spade", "--dataset", dataset, *where, "--iters", "2",
                                        "--out", str(out_dir), *SMALL_SPADE], capsys)
    assert code == 2 and printed == "", printed + err_train
    assert_one_sentence(err_train)
    for needle in needles:
        assert needle in err_train, (needle, err_train)
    assert not out_dir.exists()
    return err


@pytest.mark.slow
@pytest.mark.parametrize("dataset", DATASETS)
def test_root_holding_no_known_layout_lists_what_was_looked_for(dataset, tmp_path, capsys):
    from benchmark.registry import DATASETS as registry

    root = tmp_path / "downloads"
    fx.write_image(root / "stuff" / "holiday.jpg")
    (root / "notes.txt").write_text("not a dataset\n")
    err = assert_refused(dataset, ["--data-root", str(root)], tmp_path, capsys, str(root), "--data-root")
    for spec in registry.get(dataset).layouts:
        assert spec.looks_for in err


@pytest.mark.slow
def test_two_dataset_folders_in_the_root_are_named(tmp_path, capsys):
    fx.write_coco_spade(tmp_path / "data" / "coco_stuff")
    fx.write_coco_official(tmp_path / "data" / "cocostuff")
    assert_refused("coco_stuff", ["--data-root", str(tmp_path / "data")], tmp_path, capsys,
                   str(tmp_path / "data" / "coco_stuff"), str(tmp_path / "data" / "cocostuff"), "--data-root")


@pytest.mark.slow
def test_pix2pixhd_tree_without_val_or_test_names_the_split(tmp_path, capsys):
    root = fx.write_cityscapes_pix2pixhd(tmp_path / "cityscapes", splits=("train",))
    assert_refused("cityscapes", ["--data-root", str(root)], tmp_path, capsys,
                   "no split 'val'", "val_img/ + val_label/ or test_img/ + test_label/", "data.eval_split", "(train)")


@pytest.mark.slow
def test_pix2pixhd_sample_data_without_test_photos_is_a_label_only_evaluation_split(tmp_path, capsys):
    root = fx.write_cityscapes_pix2pixhd(tmp_path / "cityscapes", test_img=False)  # as pix2pixHD ships it
    code, out, err = run_cli(["data", "check", "--dataset", "cityscapes", "--data-root", str(root)], capsys)
    assert code == 0, out + err
    assert "val label maps only, no photos" in out and "evaluate: mIoU and accu on split 'val'" in out


@pytest.mark.slow
def test_pix2pixhd_tree_without_instance_maps(tmp_path, capsys):
    root = fx.write_cityscapes_pix2pixhd(tmp_path / "cityscapes")
    for path in (root / "train_inst").iterdir():
        path.unlink()
    (root / "train_inst").rmdir()
    assert_refused("cityscapes", ["--data-root", str(root)], tmp_path, capsys,
                   str(root / "train_inst"), "data.use_instance=False")
    code, out, err = run_cli(["data", "check", "--dataset", "cityscapes", "--data-root", str(root),
                              "--set", "data.use_instance=False"], capsys)
    assert code == 0, out + err


@pytest.mark.slow
def test_explicit_directory_that_does_not_exist(tmp_path, capsys):
    root = fx.write_folder_dirs(tmp_path / "custom", fx.CUSTOM_DIRS)
    args = _explicit_args(root)
    typo = root / "photos" / "trian"
    args[args.index(f"data.splits.train.images={root / 'photos' / 'train'}")] = f"data.splits.train.images={typo}"
    assert_refused("folder", args, tmp_path, capsys, str(typo), "data.splits")


@pytest.mark.slow
def test_explicit_directories_for_train_only_name_the_missing_split(tmp_path, capsys):
    root = fx.write_folder_dirs(tmp_path / "custom", fx.CUSTOM_DIRS)
    train_only = [a for a in _explicit_args(root) if not a.startswith("data.splits.val")]
    train_only = [a for i, a in enumerate(train_only) if not (a == "--set" and train_only[i + 1] == "--set")]
    assert_refused("folder", train_only, tmp_path, capsys, "split 'val'", "data.splits.val.images=DIR",
                   "data.eval_split")


@pytest.mark.slow
def test_explicit_directories_with_relative_paths_and_the_tree_as_fallback(tmp_path, capsys, monkeypatch):
    # The root is a folder tree; val's images and labels come from elsewhere, named relative to the root.
    root = fx.write_folder(tmp_path / "tree", splits={"train": 3})
    fx.write_folder_dirs(root, {"val": ("extra/photos", "extra/maps", None)}, count=2)
    code, out, err = run_cli(["data", "check", "--dataset", "folder", "--data-root", str(root),
                              "--set", "data.splits.val.images=extra/photos",
                              "--set", "data.splits.val.labels=extra/maps"], capsys)
    assert code == 0, out + err
    assert f"directories of train: images {root / 'train' / 'images'}, labels {root / 'train' / 'labels'}" in out
    assert f"directories of val: images {root / 'extra' / 'photos'}, labels {root / 'extra' / 'maps'}" in out
    assert "  train: 3 samples" in out and "  val: 2 samples" in out
    # without a root, relative directories are relative to the current directory
    monkeypatch.chdir(root)
    code, out, err = run_cli(["data", "check", "--dataset", "folder", "--set", "data.num_classes=4",
                              "--set", "data.splits.train.images=train/images",
                              "--set", "data.splits.train.labels=train/labels",
                              "--set", "data.splits.val.images=extra/photos",
                              "--set", "data.splits.val.labels=extra/maps"], capsys)
    assert code == 0, out + err
    assert f"directories of val: images {root / 'extra' / 'photos'}" in out


@pytest.mark.slow
def test_config_directories_win_over_dataset_json(tmp_path, capsys):
    root = _write_json_mapping(tmp_path / "custom")
    fx.write_folder_dirs(root, {"train": ("other/photos", "other/maps", None)}, count=1)
    code, out, err = run_cli(["data", "check", "--dataset", "folder", "--data-root", str(root),
                              "--set", f"data.splits.train.images={root / 'other' / 'photos'}",
                              "--set", f"data.splits.train.labels={root / 'other' / 'maps'}"], capsys)
    assert code == 0, out + err
    # images and labels from the config, instances still from dataset.json (role by role)
    assert (f"directories of train: images {root / 'other' / 'photos'}, labels {root / 'other' / 'maps'}, "
            f"instances {root / 'inst' / 'train'}") in out
    assert "  train: 1 samples" in out


@pytest.mark.slow
def test_names_that_differ_are_reported_with_the_pairing_rule(tmp_path, capsys):
    root = fx.write_folder_dirs(tmp_path / "custom", fx.CUSTOM_DIRS)
    label = root / "annotations" / "train_maps" / "train_001.png"
    renamed = label.with_name("train_001_label.png")
    label.rename(renamed)
    layout = LAYOUTS["folder_explicit"]
    code, out, err = data_check(layout, root, capsys)
    assert code == 1, out + err
    text = " ".join(out.split())
    assert str(root / "photos" / "train" / "train_001.jpg") in text and str(renamed) in text
    assert "files pair by file name without extension" in text and "rename one side" in text
    code, printed, err = train(layout, root, tmp_path / "out", capsys)
    assert code == 2 and printed == "" and str(renamed) in err
    assert_one_sentence(err)


@pytest.mark.slow
@pytest.mark.parametrize("splits", ['{"train": {"image": "photos"}}', '{"train": "photos"}', '["train"]'])
def test_malformed_dataset_json_splits(splits, tmp_path, capsys):
    root = fx.write_folder(tmp_path / "f")
    (root / "dataset.json").write_text(f'{{"num_classes": 4, "splits": {splits}}}')
    assert_refused("folder", ["--data-root", str(root)], tmp_path, capsys, str(root / "dataset.json"),
                   "splits")


@pytest.mark.slow
def test_missing_partition_file_is_named(tmp_path, capsys):
    root = fx.write_celebamask_hq_unpacked(tmp_path / "celeba")
    absent = tmp_path / "list_eval_partition.txt"
    assert_refused("celebamask_hq", ["--data-root", str(root), "--set", f"data.partition_file={absent}"],
                   tmp_path, capsys, str(absent), "data.partition_file")


@pytest.mark.slow
@pytest.mark.parametrize("dataset, write, override, needle", [
    ("folder", fx.write_folder, "data.load_size=10", "data.load_size (10)"),
    ("cityscapes", fx.write_cityscapes, "data.splits={'train': {'images': 'x'}}", "data.splits"),
])
def test_data_settings_that_cannot_work_are_one_sentence(dataset, write, override, needle, tmp_path, capsys):
    root = write(tmp_path / "data")
    assert_refused(dataset, ["--data-root", str(root), "--set", override], tmp_path, capsys, needle)


#: what the README's dataset table must say for each layout a dataset reads (in the order of its `layouts`)
README_LAYOUTS = {
    "coco_stuff": ["train_img/", "stuffthingmaps_trainval2017/"],
    "ade20k": ["{images,annotations}/{training,validation}/", "`ADE_*.jpg` and `ADE_*.png` in one folder"],
    "ade20k_outdoor": ["{images,annotations}/{training,validation}/", "`ADE_*.jpg` and `ADE_*.png` in one folder"],
    "cityscapes": ["leftImg8bit/{train,val}/", "{train,test}_img/"],
    "celebamask_hq": ["CelebAMask-HQ-mask-anno/"],
    "folder": ["<split>/images/", "<split>_img/", "data.splits.train.images=DIR"],
}


@pytest.mark.parametrize("dataset", DATASETS)
def test_readme_table_names_every_layout(dataset):
    from benchmark.registry import DATASETS as registry

    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text()
    row = next(line for line in readme.splitlines() if line.startswith("| ") and f"`{dataset}`" in line.split("|")[1])
    tokens = README_LAYOUTS[dataset]
    # every layout the dataset reads, and the explicit directories of `folder`, has its words in the table
    assert len(tokens) == len(registry.get(dataset).layouts) + (dataset == "folder")
    for token in tokens:
        assert token in row, (token, row)
