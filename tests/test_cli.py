"""The command line end to end on a tiny synthetic run: layout, reuse, resume, generate, errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from benchmark.cli import main
from tests.conftest import ROOT

TINY = ["--dataset", "synthetic", "--set", "data.num_train=16", "--set", "data.num_val=6",
        "--set", "train.batch_size=4", "--set", "model.ngf=8", "--no-progress"]


@pytest.fixture(scope="module")
def spade_run(tmp_path_factory, tiny_segmenter):
    out = tmp_path_factory.mktemp("cli")
    assert main(["run", "--methods", "spade", "--iters", "3", "--out", str(out), "--segmenter-checkpoint",
                 tiny_segmenter, *TINY]) == 0
    runs = list((out / "runs" / "synthetic" / "spade").iterdir())
    assert len(runs) == 1
    return out, runs[0]


@pytest.mark.slow
def test_run_writes_the_documented_layout(spade_run):
    out, run_dir = spade_run
    assert run_dir.name.startswith("tiny-")
    for name in ("config.py", "config.json", "manifest.json", "train_log.csv", "checkpoints/latest.json"):
        assert (run_dir / name).is_file(), name
    manifest = json.loads((run_dir / "manifest.json").read_text())
    assert manifest["status"] == "finished" and manifest["iterations"] == {"main": 3}
    assert manifest["versions"]["torch"] and "commit" in manifest["git"] and manifest["seed"] == 0
    assert manifest["weights"]["vgg_weights"]  # where the perceptual weights came from
    assert sorted(p.suffix for p in (run_dir / "samples").iterdir()) == [".png"]
    images = sorted((run_dir / "images").iterdir())  # the PNGs and the marker of SISBench's own folder
    assert [p.name for p in images if p.suffix != ".png"] == [".sisbench-images.json"] and len(images) == 7
    assert "#   model.ngf = 8" in (run_dir / "config.py").read_text()
    # evaluated under the dataset's protocol, with the oracle row and the tables
    record = json.loads((run_dir / "metrics.json").read_text())
    assert record["protocol"]["id"] == "synthetic-v1" and record["kind"] == "method"
    assert 0 <= record["metrics"]["mIoU"] <= 100 and record["metrics"]["FD-seg"] >= 0
    assert record["provenance"]["num_images"] == 6 and record["provenance"]["segmenter"]["checkpoint_sha256"]
    oracle = json.loads((out / "runs" / "synthetic" / "_oracle" / "synthetic-v1" / "metrics.json").read_text())
    assert oracle["kind"] == "oracle"
    table = (out / "synthetic" / "table.md").read_text()
    assert "SPADE" in table and "oracle" in table and "synthetic-v1" in table
    assert (out / "index.html").is_file()


@pytest.mark.slow
def test_second_identical_run_reuses_the_finished_one(spade_run, tiny_segmenter, capsys):
    out, run_dir = spade_run
    stamp = (run_dir / "checkpoints" / "latest.json").stat().st_mtime_ns
    metrics_stamp = (run_dir / "metrics.json").stat().st_mtime_ns
    assert main(["run", "--methods", "spade", "--iters", "3", "--out", str(out), "--segmenter-checkpoint",
                 tiny_segmenter, *TINY]) == 0
    printed = capsys.readouterr().out
    assert "reusing the finished run" in printed and "reusing" in printed.split("metrics.json")[0]
    assert (run_dir / "checkpoints" / "latest.json").stat().st_mtime_ns == stamp
    assert (run_dir / "metrics.json").stat().st_mtime_ns == metrics_stamp


@pytest.mark.slow
def test_evaluate_a_folder_and_a_run_reproducibly(spade_run, tiny_segmenter, tmp_path):
    out, run_dir = spade_run
    common = ["--dataset", "synthetic", "--set", "data.num_train=16", "--set", "data.num_val=6",
              "--segmenter-checkpoint", tiny_segmenter, "--no-progress"]
    images = tmp_path / "gen"
    import shutil

    shutil.copytree(run_dir / "images", images)
    assert main(["evaluate", "--images", str(images), *common]) == 0
    folder = json.loads((tmp_path / "gen.metrics.synthetic-v1.json").read_text())
    first = json.loads((run_dir / "metrics.json").read_text())
    assert folder["metrics"] == first["metrics"]  # the same images score the same
    assert main(["evaluate", "--checkpoint", str(run_dir), "--out", str(out), *common]) == 0
    again = json.loads((run_dir / "metrics.json").read_text())
    assert again["metrics"] == first["metrics"]
    # a missing image is named, not silently skipped
    next(images.glob("*.png")).unlink()
    assert main(["evaluate", "--images", str(images), *common]) == 2


@pytest.mark.slow
def test_generate_from_a_run_directory(spade_run, tmp_path):
    _, run_dir = spade_run
    dest = tmp_path / "gen"
    assert main(["generate", "--method", "spade", "--checkpoint", str(run_dir), "--num-images", "2",
                 "--out", str(dest), *TINY]) == 0
    assert len(list(dest.glob("*.png"))) == 2
    assert not dest.with_name("gen.partial").exists()


@pytest.mark.slow
def test_stop_and_resume_through_the_cli(tmp_path, capsys):
    args = ["train", "--method", "spade", "--iters", "4", "--out", str(tmp_path), *TINY]
    assert main([*args, "--stop-after", "2"]) == 0
    assert main(args) == 2
    assert "unfinished run; pass --resume" in capsys.readouterr().err
    assert main([*args, "--resume"]) == 0
    run_dir = next((tmp_path / "runs" / "synthetic" / "spade").iterdir())
    assert json.loads((run_dir / "manifest.json").read_text())["status"] == "finished"


@pytest.mark.slow
def test_user_errors_are_one_sentence(tmp_path, capsys):
    assert main(["train", "--method", "spade", "--out", str(tmp_path), "--set", "model.nfg=3", *TINY]) == 2
    assert "no key 'model.nfg'" in capsys.readouterr().err
    assert main(["generate", "--method", "spade", "--checkpoint", str(tmp_path / "nothing"),
                 "--out", str(tmp_path / "g"), *TINY]) == 2
    assert "no checkpoint at" in capsys.readouterr().err
    assert main(["train", "--method", "spade", "--dataset", "folder", "--data-root", str(tmp_path / "absent"),
                 "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert str(tmp_path / "absent") in err
    assert not (tmp_path / "runs").exists()  # nothing written before the data check passed


@pytest.mark.slow
def test_python_dash_m_entry_point_and_help():
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    proc = subprocess.run([sys.executable, "-m", "benchmark", "--help"], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0
    for command in ("list", "train", "generate", "run", "evaluate", "report", "segmenter", "data", "bench"):
        assert command in proc.stdout
