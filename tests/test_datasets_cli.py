"""The datasets through the command line: every official layout passes `data check` with counts and a class
histogram, trains SPADE for 2 iterations, and every broken tree is caught, naming the file, before anything
is written."""

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


@dataclass(frozen=True)
class Layout:
    """A fixture tree in one official layout and what the CLI must report about it."""

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


def _ade(sub: str) -> Callable[[Path], Path]:
    # ADE_train_00000001 is the fixture's outdoor image (highway): ade20k_outdoor keeps it
    ext = ".jpg" if sub == "images" else ".png"
    return lambda r: r / "ADEChallengeData2016" / sub / "training" / f"ADE_train_00000001{ext}"


_CITY = "aachen/aachen_000000_000019"
_COCO = "000000000000"
_DONTCARE = dict(ignore_index=255, contain_dontcare_label=True)
ADE = dict(write=fx.write_ade20k, image=_ade("images"), label=lambda r: [_ade("annotations")(r)],
           classes="2/150", class_names=("wall", "flag"), bad_ids=[1, 200],
           info=dict(num_classes=150, has_instance=False, **_DONTCARE))

LAYOUTS = {
    "coco_spade": Layout(
        "coco_stuff", fx.write_coco_spade, lambda r: r / "train_img" / f"{_COCO}.jpg",
        lambda r: [r / "train_label" / f"{_COCO}.png"], {"train": 2, "val": 2}, "3/182",
        ("person", "sky-other", "wood"), [0, 200], info=dict(num_classes=182, has_instance=True, **_DONTCARE)),
    "coco_official": Layout(
        "coco_stuff", fx.write_coco_official, lambda r: r / "images" / "train2017" / f"{_COCO}.jpg",
        lambda r: [r / "stuffthingmaps_trainval2017" / "train2017" / f"{_COCO}.png"], {"train": 2, "val": 2},
        "2/182", ("person", "carpet"), [0, 200], info=dict(num_classes=182, has_instance=False, **_DONTCARE)),
    "ade20k": Layout("ade20k", counts={"train": 2, "val": 2}, **ADE),
    "ade20k_outdoor": Layout("ade20k_outdoor", counts={"train": 1, "val": 1}, **ADE),
    "cityscapes": Layout(
        "cityscapes", fx.write_cityscapes, lambda r: r / "leftImg8bit" / "train" / f"{_CITY}_leftImg8bit.png",
        lambda r: [r / "gtFine" / "train" / f"{_CITY}_gtFine_labelIds.png"], {"train": 2, "val": 2}, "4/35",
        ("unlabeled", "road", "car", "bicycle"), [7, 40], image_size=(64, 128),
        info=dict(num_classes=35, ignore_index=None, contain_dontcare_label=False, has_instance=True,
                  spade_upsampling="more")),
    "celebamask_hq": Layout(
        "celebamask_hq", fx.write_celebamask_hq, lambda r: r / "CelebA-HQ-img" / "0.jpg",
        lambda r: sorted((r / "CelebAMask-HQ-mask-anno" / "0").glob("00000_*.png")),
        {"train": 2, "val": 1, "test": 1}, "4/19", ("background", "skin", "nose", "hair"), None,
        info=dict(num_classes=19, ignore_index=None, contain_dontcare_label=False, has_instance=False)),
    "folder": Layout(
        "folder", lambda d: fx.write_folder(d, instances=True), lambda r: r / "train" / "images" / "s00.png",
        lambda r: [r / "train" / "labels" / "s00.png"], {"train": 3, "val": 2}, "4/4",
        ("class_0", "class_1", "class_2", "class_3"), [0, 7],
        info=dict(num_classes=4, has_instance=True, **_DONTCARE)),
}


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    """Tiny convolutions run fastest on one thread; on 2 shared cores two threads wait on each other (measured
    0.3 s against 1-7 s per 2-iteration run)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def data_check(layout: Layout, root: Path, capsys) -> tuple[int, str, str]:
    code = main(["data", "check", "--dataset", layout.dataset, "--root", str(root)])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def train(layout: Layout, root: Path, out: Path, capsys) -> tuple[int, str, str]:
    code = main(["train", "--method", "spade", "--dataset", layout.dataset, "--data-root", str(root),
                 "--iters", "2", "--out", str(out), *SMALL_SPADE])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def assert_one_sentence(text: str) -> None:
    text = text.strip()
    assert text.startswith("error: ") and text.endswith(".") and "\n" not in text, text
    assert re.search(r"\.\s+[A-Z]", text[:-1]) is None, text


# -- good trees --------------------------------------------------------------------------------------------

@pytest.mark.parametrize("name", LAYOUTS)
def test_data_check_passes_with_counts_and_histogram(name, tmp_path, capsys):
    layout = LAYOUTS[name]
    root = layout.write(tmp_path / name)
    code, out, err = data_check(layout, root, capsys)
    assert code == 0, out + err
    lines = out.splitlines()
    assert lines[0].startswith(f"dataset {layout.dataset} at {root}") and lines[0].endswith(": OK")
    assert len(lines) == 1 + len(layout.counts)  # one line per split, no problem lines
    for line, (split, count) in zip(lines[1:], layout.counts.items(), strict=True):
        assert line.startswith(f"  {split}: {count} samples; {layout.classes} classes present; most frequent: ")
        shown = re.findall(r"([\w -]+?) (\d+)%", line.split("most frequent: ")[1])
        assert {n.strip() for n, _ in shown} == set(layout.class_names), line
        assert 98 <= sum(int(p) for _, p in shown) <= 102, line


@pytest.mark.parametrize("name", LAYOUTS)
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
    # the papers' preprocessing and label conventions, as the run recorded them
    data = manifest["data"]
    assert data["name"] == layout.dataset and tuple(data["image_size"]) == layout.image_size
    assert {k: data[k] for k in layout.info} == layout.info
    assert json.loads((run_dir / "config.json").read_text())["data"]["root"] == str(root)


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


@pytest.mark.parametrize("name", LAYOUTS)
def test_missing_root_is_one_sentence(name, tmp_path, capsys):
    layout = LAYOUTS[name]
    absent = tmp_path / "absent"
    code, out, err = data_check(layout, absent, capsys)
    assert code == 2 and out == ""
    assert_one_sentence(err)
    assert str(absent) in err and "--data-root" in err
    code, printed, err = train(layout, absent, tmp_path / "out", capsys)
    assert code == 2 and printed == "" and str(absent) in err
    assert_one_sentence(err)
    assert not (tmp_path / "out").exists()


def test_data_check_without_a_root_names_the_option(capsys):
    assert main(["data", "check", "--dataset", "cityscapes"]) == 2
    err = capsys.readouterr().err
    assert_one_sentence(err)
    assert "data.root" in err and "--data-root" in err
    # the option the message names is accepted by `data check`
    assert main(["data", "check", "--dataset", "cityscapes", "--data-root", "/nonexistent/cityscapes"]) == 2
    assert "/nonexistent/cityscapes" in capsys.readouterr().err
