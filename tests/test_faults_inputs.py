"""Bad inputs refused in one sentence before anything is written (issue 24, items 5, 7, 9, 10, 14): --set types,
schedules, devices and batch sizes; --resume with nothing to resume; unreadable, truncated and wrong-size
generated images; checkpoints that are directories or unsafe pickles; configs that fail to load; and the
trust boundary (run directories are never executed)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from benchmark.cli import main
from tests.conftest import ROOT

TINY = ["--dataset", "synthetic", "--set", "data.num_train=8", "--set", "data.num_val=4",
        "--set", "train.batch_size=4", "--set", "model.ngf=8", "--no-progress"]


def _refused(argv: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    """Run the CLI, expect exit status 2 and one line on stderr, no traceback; return that line."""
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert "Traceback" not in err
    lines = err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    return lines[0]


# -- item 5: every value checked before a run directory exists -----------------------------------------

BAD_VALUES = [
    (["--set", "train.batch_size=abc"], ["train.batch_size", "'abc'", "whole number", "--set train.batch_size=8"]),
    (["--set", "model.ngf=abc"], ["model.ngf", "'abc'", "whole number", "--set model.ngf=16"]),
    (["--set", "model.ngf=8.5"], ["model.ngf", "8.5", "whole number"]),
    (["--set", "train.lr_schedule.type=cosine"], ["train.lr_schedule.type", "'cosine'", "constant, linear_decay"]),
    (["--set", "train.batch_size=9"], ["train.batch_size=9", "training split (8 images)", "--set train.batch_size=8"]),
    (["--amp", "fp16", "--device", "cpu"], ["--amp fp16", "CUDA"]),
    (["--set", "train.amp='fp32'"], ["train.amp", "'fp32'", "off, bf16, fp16"]),
    (["--device", "cuda"], ["--device cuda", "no CUDA GPU", "--device cpu"]),
    (["--device", "gpu"], ["--device 'gpu'", "cpu, cuda or cuda:N"]),
]


@pytest.mark.slow
@pytest.mark.parametrize("command", ["train", "run"])
@pytest.mark.parametrize("extra,words", BAD_VALUES, ids=[" ".join(e) for e, _ in BAD_VALUES])
def test_bad_values_are_refused_before_any_run_directory(command, extra, words, tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)  # the same answer on a GPU machine
    target = ["--method", "spade"] if command == "train" else ["--methods", "spade"]
    line = _refused([command, *target, "--iters", "2", "--out", str(tmp_path / "out"), *TINY, *extra], capsys)
    for word in words:
        assert word in line, (word, line)
    # no config.json, no "running" manifest, nothing a report would count (at most `run`'s empty folders)
    out = tmp_path / "out"
    assert not out.exists() or not [p for p in out.rglob("*") if not p.is_dir()]
    assert not out.exists() or not list((out / "runs" / "synthetic").glob("spade/*"))


def test_check_config_takes_a_resolved_config_alone(monkeypatch):
    from benchmark.config import ConfigError, load_config
    from benchmark.validate import check_config

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    ok = load_config("spade", "synthetic", "tiny", ["optimizer.lr_G=1", "train.grad_clip=5.0", "data.root='/x'",
                                                    "train.grad_clip=None"])
    check_config(ok, device="cpu", split_sizes={"train": 400})  # an int where a float was, None where None was
    for overrides, key in ((["train.batch_size=None"], "train.batch_size"), (["model.use_vae=1"], "model.use_vae"),
                           (["train.stages='x'"], "train.stages")):
        with pytest.raises(ConfigError, match=key.replace(".", r"\.")):
            check_config(load_config("spade", "synthetic", "tiny", overrides), device=None)
    cfg = load_config("spade", "synthetic", "tiny", ["train.batch_size=8"])
    with pytest.raises(ConfigError, match=r"batch_size=8 x 2 processes is larger than the training split"):
        monkeypatch.setenv("WORLD_SIZE", "2")
        check_config(cfg, device="cpu", split_sizes={"train": 15})


def test_cuda_index_out_of_range_is_one_sentence(monkeypatch):
    from benchmark.config import ConfigError
    from benchmark.validate import check_device

    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    check_device("cuda:0")
    with pytest.raises(ConfigError, match=r"--device cuda:3: this machine has 1 CUDA GPU \(cuda:0\)"):
        check_device("cuda:3")


# -- item 7: --resume resumes the run the command names, or says there is none -----------------------

@pytest.mark.slow
def test_resume_refuses_when_there_is_nothing_to_resume(tmp_path, capsys):
    args = ["train", "--method", "spade", "--iters", "3", "--out", str(tmp_path), *TINY]
    line = _refused([*args, "--resume"], capsys)  # nothing was ever trained
    assert "no checkpoint to continue" in line and "there are no runs of spade on synthetic" in line
    assert not (tmp_path / "runs").exists()
    assert main([*args, "--stop-after", "1"]) == 0
    (stopped,) = (tmp_path / "runs" / "synthetic" / "spade").iterdir()
    capsys.readouterr()
    # a changed --set names another run: refused, naming the run that exists and where it stopped
    line = _refused([*args, "--set", "model.z_dim=32", "--resume"], capsys)
    assert f"{stopped.name} (stopped, checkpoint at main iteration 1)" in line and "drop --resume" in line
    assert [p.name for p in (tmp_path / "runs" / "synthetic" / "spade").iterdir()] == [stopped.name]
    assert main([*args, "--resume"]) == 0  # the same command resumes it
    assert json.loads((stopped / "manifest.json").read_text())["iterations"] == {"main": 3}


# -- item 9: generated images that cannot be scored -------------------------------------------------

def _val_images(tmp_path: Path, overrides: list[str], size: tuple[int, int] | None = None) -> tuple[Path, list[str]]:
    """The real val images of the tiny synthetic split written as a folder of "generated" PNGs (optionally
    resized to ``size`` (H, W)); returns the folder and the stems."""
    from benchmark.config import load_data_config
    from benchmark.datasets import build_dataset

    dataset = build_dataset(load_data_config("synthetic", "tiny", overrides), "val", train=False)
    folder = tmp_path / "gen"
    folder.mkdir()
    stems = []
    for i in range(len(dataset)):
        sample = dataset[i]
        arr = ((sample["image"].permute(1, 2, 0).numpy() + 1) * 127.5).round().clip(0, 255).astype(np.uint8)
        image = Image.fromarray(arr)
        if size is not None:
            image = image.resize((size[1], size[0]), Image.BICUBIC)
        stem = Path(sample["path"]).stem
        image.save(folder / f"{stem}.png")
        stems.append(stem)
    return folder, stems


DATA = ["--set", "data.num_train=8", "--set", "data.num_val=4"]


@pytest.mark.slow
def test_evaluate_names_unreadable_and_truncated_images(tmp_path, tiny_segmenter, offline, capsys):
    from benchmark.config import load_data_config
    from metrics.evaluate import EvaluationInputError, evaluate

    folder, stems = _val_images(tmp_path, ["data.num_train=8", "data.num_val=4"])
    data = (folder / f"{stems[2]}.png").read_bytes()
    (folder / f"{stems[2]}.png").write_bytes(data[: len(data) // 2])  # a truncated PNG: its header reads fine
    line = _refused(["evaluate", "--images", str(folder), "--dataset", "synthetic", *DATA, "--segmenter-checkpoint",
                     tiny_segmenter, "--no-progress"], capsys)
    assert f"{stems[2]}.png" in line and "truncated" in line
    assert not list(tmp_path.glob("*.metrics.*.json"))
    (folder / f"{stems[1]}.png").write_bytes(b"this is not a PNG")  # the harness names every unreadable file
    data_cfg = load_data_config("synthetic", "tiny", ["data.num_train=8", "data.num_val=4"])
    with pytest.raises(EvaluationInputError) as info:
        evaluate("synthetic-v1", generated=folder, data_cfg=data_cfg, segmenter_checkpoint=tiny_segmenter,
                 progress=False)
    text = str(info.value)
    assert "2 generated image files" in text and f"{stems[1]}.png (UnidentifiedImageError" in text
    assert f"{stems[2]}.png (OSError: image file is truncated" in text and "\n" not in text


@pytest.mark.slow
def test_evaluate_refuses_images_of_the_wrong_size_and_keeps_legitimate_resizes(tmp_path, tiny_segmenter, offline,
                                                                                capsys):
    # label maps of 32 x 32 under a protocol at 64 x 64: images at either size are scored, 48 x 48 is refused
    small = ["--set", "data.load_size=32", "--set", "data.crop_size=32"]
    overrides = ["data.num_train=8", "data.num_val=4", "data.load_size=32", "data.crop_size=32"]
    folder, stems = _val_images(tmp_path, overrides)
    common = ["evaluate", "--images", str(folder), "--dataset", "synthetic", *DATA, *small,
              "--segmenter-checkpoint", tiny_segmenter, "--no-progress"]
    assert main(common) == 0  # at the label maps' size, upscaled by the protocol
    record = json.loads(next(tmp_path.glob("gen.metrics.*.json")).read_text())
    assert record["provenance"]["images_resized"] == 4
    Image.open(folder / f"{stems[0]}.png").resize((64, 64)).save(folder / f"{stems[0]}.png")
    assert main(common) == 0  # one at the protocol's resolution
    Image.open(folder / f"{stems[3]}.png").resize((128, 128)).save(folder / f"{stems[3]}.png")
    assert main(common) == 0  # one larger at the protocol's aspect ratio (downscaled, as official outputs are)
    for stem in stems[1:3]:
        Image.open(folder / f"{stem}.png").resize((48, 48)).save(folder / f"{stem}.png")
    capsys.readouterr()
    line = _refused(common, capsys)
    assert "2 of 4 generated images" in line and "32 x 32" in line and "64 x 64" in line
    assert f"{stems[1]} (48 x 48)" in line and f"{stems[2]} (48 x 48)" in line


@pytest.mark.slow
def test_evaluate_num_images_one_and_official_checkpoint_without_loader(tmp_path, tiny_segmenter, offline, capsys):
    folder, _ = _val_images(tmp_path, ["data.num_train=8", "data.num_val=4"])
    line = _refused(["evaluate", "--images", str(folder), "--dataset", "synthetic", *DATA, "--num-images", "1",
                     "--segmenter-checkpoint", tiny_segmenter, "--no-progress"], capsys)
    assert "--num-images 1" in line and "at least 2" in line and "split" not in line.split(";")[0]
    fake = tmp_path / "latest_net_G.pth"
    torch.save({"w": torch.zeros(1)}, fake)
    line = _refused(["evaluate", "--official-checkpoint", str(fake), "--method", "slnp", "--out",
                     str(tmp_path / "out"), *TINY[:2]], capsys)
    assert "method 'slnp' has no official checkpoint loader" in line and "spade" in line and "pix2pixhd" in line
    assert not (tmp_path / "out").exists()


def test_harness_refuses_one_image_naming_the_option():
    from benchmark.config import load_data_config
    from metrics.evaluate import EvaluationInputError, evaluate

    data_cfg = load_data_config("synthetic", "tiny", ["data.num_train=8", "data.num_val=4"])
    with pytest.raises(EvaluationInputError, match=r"--num-images 1: the metrics need at least 2"):
        evaluate("synthetic-v1", generated=[], data_cfg=data_cfg, num_images=1)


# -- item 10: messages that help ----------------------------------------------------------------------

@pytest.mark.slow
def test_a_directory_given_as_a_checkpoint_says_so(tmp_path, capsys):
    plain = tmp_path / "weights_dir"
    plain.mkdir()
    for command in (["evaluate", "--checkpoint", str(plain), "--method", "spade"],
                    ["generate", "--checkpoint", str(plain), "--method", "spade", "--out", str(tmp_path / "g")]):
        line = _refused([*command, *TINY[:2]], capsys)
        assert f"{plain} is a directory but not a SISBench run directory (no config.json)" in line
        assert ".safetensors" in line
    (plain / "latest_net_G.pth").write_bytes(b"")
    line = _refused(["evaluate", "--official-checkpoint", str(plain), "--method", "spade", *TINY[:2]], capsys)
    assert "is a directory (it holds latest_net_G.pth)" in line and str(plain / "latest_net_G.pth") in line


@pytest.mark.slow
def test_an_unsafe_official_checkpoint_is_one_sentence(tmp_path, capsys):
    unsafe = tmp_path / "latest_net_G.pth"
    torch.save({"net": Path("x")}, unsafe)  # a pickled object: weights_only loading refuses it
    line = _refused(["generate", "--official-checkpoint", str(unsafe), "--method", "spade", "--out",
                     str(tmp_path / "g"), *TINY[:2]], capsys)
    assert "cannot be loaded safely" in line and "Path" in line
    assert "weights_only=False" not in line and "arbitrary code" not in line
    (tmp_path / "junk.pth").write_bytes(b"not a torch file")
    line = _refused(["generate", "--official-checkpoint", str(tmp_path / "junk.pth"), "--method", "spade", "--out",
                     str(tmp_path / "g"), *TINY[:2]], capsys)
    assert "is not a torch-saved file" in line


def test_a_config_that_fails_to_load_names_the_file_and_the_error(tmp_path, capsys):
    bad = tmp_path / "extra.py"
    bad.write_text("from os import path\nx = path.join('a')\n")  # mmengine's lazy import: RuntimeError()
    line = _refused(["config", "--method", "spade", "--config", str(bad)], capsys)
    assert str(bad) in line and "RuntimeError" in line and "line 2" in line and "path.join('a')" in line
    assert not line.endswith("RuntimeError: ")
    bad.write_text("a = [1,\n")
    line = _refused(["config", "--method", "spade", "--config", str(bad)], capsys)
    assert str(bad) in line and "SyntaxError" in line


# -- item 14: results directories are never executed ----------------------------------------------------

@pytest.mark.slow
def test_a_run_directory_config_py_is_never_executed(tmp_path, capsys):
    from benchmark import pipeline, runs
    from benchmark.config import load_config, to_plain
    from benchmark.io import atomic_write_json
    from benchmark.user_error import UserError

    sentinel = tmp_path / "executed"
    run_dir = tmp_path / "out" / "runs" / "synthetic" / "spade" / "tiny-0000000000"
    run_dir.mkdir(parents=True)
    atomic_write_json(run_dir / "config.json", to_plain(load_config("spade", "synthetic", "tiny")))
    atomic_write_json(run_dir / "manifest.json", {"method": "spade", "dataset": "synthetic", "status": "finished"})
    (run_dir / "config.py").write_text(f"open({str(sentinel)!r}, 'w').write('ran')\nmodel = dict(ngf=1)\n")
    assert runs.load_run_config(run_dir)["model"]["ngf"] != 1  # read from config.json
    with pytest.raises(UserError):
        pipeline.load_trained(run_dir)  # no checkpoint: refused, and nothing executed on the way
    main(["report", "--out", str(tmp_path / "out")])
    main(["evaluate", "--checkpoint", str(run_dir), "--out", str(tmp_path / "out"), "--no-progress"])
    main(["generate", "--checkpoint", str(run_dir), "--method", "spade", "--out", str(tmp_path / "g"),
          "--no-progress"])
    capsys.readouterr()
    assert not sentinel.exists()


def test_the_trust_boundary_is_documented():
    text = (ROOT / "docs" / "security.md").read_text()
    for phrase in ("--config", "--config-dir", "SISBENCH_CONFIG_PATH", "sisbench.configs", "config.json",
                   "never executed"):
        assert phrase in text, phrase
