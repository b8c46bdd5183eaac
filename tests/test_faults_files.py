"""Nothing lost, nothing written outside, nothing half-done (issue 24, items 1, 2, 3, 8, 12, 13).

- 1: ``generate --out DIR`` never deletes a folder SISBench did not write, nor the working directory or a
  parent; its own image folders are replaced whole;
- 2: names from records (dataset, method, protocol, run id) never put a file outside ``--out``;
- 3: a killed ``generate``'s partial folder is never merged into a later call's images;
- 8: a corrupt or missing ``latest.json`` resumes from the newest readable checkpoint;
- 12: an image's pixels do not depend on how many images are generated with it, nor on the batch size;
- 13: temporary files of killed processes are removed, written files get the umask's mode, and a run
  killed with ``kill -9`` and resumed counts the training time before the kill.
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from benchmark import checkpoint as ckpt
from benchmark import io
from benchmark.cli import main
from tests.conftest import ROOT
from tests.toy import ToyDataset

TINY = ["--dataset", "synthetic", "--set", "data.num_train=16", "--set", "data.num_val=6",
        "--set", "train.batch_size=4", "--set", "model.ngf=8", "--no-progress"]


def dead_pid() -> int:
    """The id of a process that has just exited."""
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def host() -> str:
    """This host as temporary names spell it (the partial folders' and temporary files' owner part)."""
    return re.sub(r"[^A-Za-z0-9_]", "_", socket.gethostname())


def pixels(path: Path) -> np.ndarray:
    with Image.open(path) as im:
        return np.asarray(im.convert("RGB")).copy()


@pytest.fixture(scope="module")
def spade_weights(tmp_path_factory) -> Path:
    """Randomly initialised tiny SPADE weights (the config TINY gives), as ``generate --checkpoint`` takes."""
    from benchmark.config import load_config
    from benchmark.datasets import dataset_info
    from benchmark.trainer import build_method

    cfg = load_config("spade", "synthetic", "tiny", ["data.num_train=16", "data.num_val=6",
                                                      "train.batch_size=4", "model.ngf=8"])
    torch.manual_seed(0)
    method = build_method(cfg, dataset_info(cfg["data"]))
    path = tmp_path_factory.mktemp("weights") / "spade.safetensors"
    ckpt.save_weights(method, path)
    return path


def generate(weights: Path, out: Path | str, *extra: str) -> int:
    return main(["generate", "--method", "spade", "--checkpoint", str(weights), "--out", str(out), *extra, *TINY])


# -- 1: generate never deletes what it did not write ---------------------------------------------------------
@pytest.mark.slow
def test_generate_refuses_a_folder_it_did_not_write(spade_weights, tmp_path, capsys):
    thesis = tmp_path / "thesis"
    (thesis / "sub").mkdir(parents=True)
    (thesis / "thesis.tex").write_text("\\documentclass{article}\n")
    (thesis / "sub" / "data.csv").write_text("a,b\n1,2\n")
    assert generate(spade_weights, thesis, "--num-images", "2") == 2
    err = capsys.readouterr().err
    assert f"{thesis} already holds files SISBench did not write" in err
    assert "choose a new or empty --out directory" in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1
    assert (thesis / "thesis.tex").read_text() == "\\documentclass{article}\n"
    assert (thesis / "sub" / "data.csv").read_text() == "a,b\n1,2\n"
    assert sorted(p.name for p in thesis.iterdir()) == ["sub", "thesis.tex"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["thesis"]  # no partial folder left either


@pytest.mark.slow
def test_generate_refuses_the_working_directory_and_its_parents(spade_weights, tmp_path, monkeypatch, capsys):
    child = tmp_path / "parent" / "child"
    child.mkdir(parents=True)
    (child / "notes.txt").write_text("keep")
    (tmp_path / "parent" / "plan.txt").write_text("keep")
    monkeypatch.chdir(child)
    for out in ("..", "."):
        assert generate(spade_weights, out, "--num-images", "2") == 2
        err = capsys.readouterr().err
        assert "is the working directory or one of its parents" in err
        assert "choose a new or empty --out directory" in err
    assert (child / "notes.txt").read_text() == "keep" and (tmp_path / "parent" / "plan.txt").read_text() == "keep"
    assert sorted(p.name for p in (tmp_path / "parent").iterdir()) == ["child", "plan.txt"]


@pytest.mark.slow
def test_generate_replaces_its_own_image_folder_whole(spade_weights, tmp_path):
    out = tmp_path / "gen"
    out.mkdir()  # an empty folder is fine
    old_umask = os.umask(0o022)
    try:
        assert generate(spade_weights, out, "--num-images", "3") == 0
    finally:
        os.umask(old_umask)
    marker = json.loads((out / ".sisbench-images.json").read_text())
    assert marker["written_by"] == "sisbench" and marker["images"] == 3 and marker["method"] == "spade"
    assert len(list(out.glob("*.png"))) == 3
    # the folder and its images are readable by the team (umask 022), not 0700 / 0600
    assert out.stat().st_mode & 0o777 == 0o755
    assert {p.stat().st_mode & 0o777 for p in out.iterdir()} == {0o644}
    # SISBench's own folder is replaced: 2 images now, not 2 new beside 1 left over
    assert generate(spade_weights, out, "--num-images", "2") == 0
    assert len(list(out.glob("*.png"))) == 2
    assert sorted(p.name for p in tmp_path.iterdir()) == ["gen"]


# -- 3: a partial folder belongs to the process that made it ----------------------------------------------------
@pytest.mark.slow
def test_a_killed_generates_partial_folder_is_not_merged(spade_weights, tmp_path):
    out = tmp_path / "images"
    foreign = np.full((8, 8, 3), 7, dtype=np.uint8)
    stale = [tmp_path / "images.partial", tmp_path / f"images.partial-{host()}-{dead_pid()}-abc123",
             tmp_path / f"images.old-{host()}-{dead_pid()}-abc123"]  # killed while replacing an image folder
    for folder in stale:
        folder.mkdir()
        for i in range(5):  # other images, with the stems of this split's
            Image.fromarray(foreign).save(folder / f"{i:06d}.png")
        Image.fromarray(foreign).save(folder / "from_another_method.png")
    assert generate(spade_weights, out, "--num-images", "2") == 0
    names = sorted(p.name for p in out.iterdir())
    assert len(names) == 3 and ".sisbench-images.json" in names and "from_another_method.png" not in names
    for path in out.glob("*.png"):
        assert not (pixels(path) == 7).all()
    assert not stale[1].exists() and not stale[2].exists()  # the dead processes' folders are cleaned up
    assert stale[0].is_dir()  # an earlier version's partial folder (owner unknown) is left alone, not merged


# -- 2: names from records stay inside --out ------------------------------------------------------------------
def test_safe_component_refuses_what_would_leave_the_directory(tmp_path):
    assert io.inside(tmp_path, "synthetic", "table") == tmp_path / "synthetic" / "table"
    for bad in ("../../escaped", "..", ".", "", "/abs/path", "a/b", "a\\b", None, 3):
        with pytest.raises(io.UnsafePathError, match=r"the dataset .* in /rec/metrics\.json .*fix or remove"):
            io.safe_component(bad, "dataset", "/rec/metrics.json")


def _record(run_dir: Path, dataset: str) -> Path:
    run_dir.mkdir(parents=True)
    path = run_dir / "metrics.json"
    path.write_text(json.dumps({"kind": "method", "dataset": dataset, "method": "spade", "run_id": run_dir.name,
                                "protocol": {"id": "synthetic-v1", "version": 1},
                                "provenance": {"num_images": 6}, "metrics": {"mIoU": 50.0}}))
    return path


@pytest.mark.slow
def test_report_never_writes_outside_out(tmp_path, capsys):
    out = tmp_path / "a" / "b" / "results"
    absolute = tmp_path / "absolute"
    bad = [_record(out / "runs" / "synthetic" / "spade" / "tiny-0000000001", "../../escaped"),
           _record(out / "runs" / "synthetic" / "spade" / "tiny-0000000002", str(absolute))]
    _record(out / "runs" / "synthetic" / "spade" / "tiny-0000000003", "synthetic")
    assert main(["report", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert not (tmp_path / "a" / "escaped").exists() and not absolute.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a"]
    assert sorted(p.name for p in (tmp_path / "a").iterdir()) == ["b"]
    for path in bad:  # each skipped record is named
        assert f"in {path} is not a plain file name" in printed
    assert (out / "synthetic" / "table.csv").is_file()  # the good record is reported


# -- 8: a corrupt or missing latest.json ------------------------------------------------------------------------
def toy_cfg(iters: int = 20) -> dict:
    t = dict(iters=iters, batch_size=4, num_workers=0, log_interval=5, checkpoint_interval=5,
             sample_interval=100, keep_checkpoints=3, amp="off", grad_clip=None,
             ema=dict(enabled=False, decay=0.9, start_iter=0),
             lr_schedule=dict(type="linear_decay", decay_fraction=0.5), stages={}, tensorboard=False)
    return {"method": "toy", "dataset": "toy", "preset": "tiny", "seed": 3, "model": {}, "train": t}


def toy_trainer(run_dir: Path):
    from benchmark.trainer import Trainer

    ds = ToyDataset()
    return Trainer(toy_cfg(), run_dir, train_set=ds, info=ds.info, sample_batch=None, device="cpu", progress=False)


def test_corrupt_or_missing_latest_json_resumes_from_the_newest_readable_checkpoint(tmp_path, toy_method):
    assert not toy_trainer(tmp_path).train(stop_after=10).completed
    ckpt_dir = tmp_path / "checkpoints"
    assert [r.iteration for r in ckpt.list_checkpoints(ckpt_dir)] == [5, 10]
    (ckpt_dir / ckpt.LATEST).write_text('{"weights": "main_000')  # torn by a crash or a full disk
    with pytest.warns(UserWarning, match=r"latest\.json is corrupt .*using main_00000010\.safetensors"):
        ref = ckpt.latest_checkpoint(ckpt_dir)
    assert ref.iteration == 10
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = toy_trainer(tmp_path).train(resume=True, stop_after=2)
    assert result.iterations["main"] == 12  # continued from 10, not from 0
    (ckpt_dir / ckpt.LATEST).unlink()
    with pytest.warns(UserWarning, match=r"holds no latest\.json; using main_00000012"):
        assert ckpt.latest_checkpoint(ckpt_dir).iteration == 12
    # a truncated newest pair is passed over for the one before it
    (ckpt_dir / "main_00000012.state.pt").write_bytes(b"torn")
    with pytest.warns(UserWarning, match="using main_00000010"):
        newest = ckpt.latest_checkpoint(ckpt_dir)
    assert newest.iteration == 10
    # nothing readable at all: one sentence whose fix is true
    for ref in ckpt.list_checkpoints(ckpt_dir):
        ref.weights.write_bytes(b"")
    with pytest.raises(ckpt.CheckpointError, match=r"no checkpoint in .* can be read; delete the run directory"):
        ckpt.latest_checkpoint(ckpt_dir)


@pytest.mark.slow
def test_train_resume_without_latest_json_continues_the_run(tmp_path):
    args = ["train", "--method", "spade", "--iters", "4", "--out", str(tmp_path), *TINY]
    assert main([*args, "--stop-after", "2"]) == 0
    run_dir = next((tmp_path / "runs" / "synthetic" / "spade").iterdir())
    (run_dir / "checkpoints" / ckpt.LATEST).write_text("{not json")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert main([*args, "--resume", "--stop-after", "1"]) == 0
        assert json.loads((run_dir / "manifest.json").read_text())["iterations"] == {"main": 3}
        (run_dir / "checkpoints" / ckpt.LATEST).unlink()
        assert main([*args, "--resume", "--stop-after", "1"]) == 0
    manifest = json.loads((run_dir / "manifest.json").read_text())
    assert manifest["iterations"] == {"main": 4} and manifest["status"] == "finished"


# -- 12: one image does not depend on the others -------------------------------------------------------------------
def test_an_image_does_not_depend_on_num_images_or_the_batch(tmp_path):
    from benchmark import pipeline
    from benchmark.config import load_config
    from benchmark.datasets import dataset_info
    from benchmark.trainer import build_method

    cfg = load_config("slnp", "synthetic", "tiny", ["data.num_train=16", "data.num_val=10"])
    torch.manual_seed(0)
    method = build_method(cfg, dataset_info(cfg["data"])).eval()
    assert method.multimodal  # draws its noise with torch.randn over the batch
    state = torch.get_rng_state()
    assert pipeline.generate_split(method, cfg, tmp_path / "three", num_images=3, batch_size=2,
                                   progress=False) == 3
    after = torch.get_rng_state()
    assert pipeline.generate_split(method, cfg, tmp_path / "ten", num_images=10, progress=False) == 10
    assert pipeline.generate_split(method, cfg, tmp_path / "seed1", num_images=3, seed=1, progress=False) == 3
    three = sorted((tmp_path / "three").glob("*.png"))
    assert len(three) == 3
    for path in three:
        assert np.array_equal(pixels(path), pixels(tmp_path / "ten" / path.name)), path.name
    # the noise matters: another evaluation seed gives other pixels, so the comparison above can fail
    assert any(not np.array_equal(pixels(p), pixels(tmp_path / "seed1" / p.name)) for p in three)
    assert torch.equal(after, state)  # and the caller's RNG is left alone


# -- 13: leftovers -----------------------------------------------------------------------------------------------
def test_temporary_files_of_killed_processes_are_removed(tmp_path):
    target = tmp_path / "manifest.json"
    code = ("import os, signal, sys\nfrom benchmark.io import atomic_path\n"
            "with atomic_path(sys.argv[1]) as tmp:\n    os.kill(os.getpid(), signal.SIGKILL)\n")
    killed = subprocess.run([sys.executable, "-c", code, str(target)], cwd=ROOT)
    assert killed.returncode == -signal.SIGKILL
    left = [p for p in tmp_path.iterdir() if p.name.startswith(".manifest.json.")]
    assert len(left) == 1 and left[0].stat().st_size == 0  # what kill -9 leaves
    legacy = tmp_path / ".table.csv.ab12cd_3.tmp"  # an earlier version's name, two days old
    legacy.write_bytes(b"")
    os.utime(legacy, (time.time() - 2 * 86400,) * 2)
    alive = tmp_path / f".other.json.{host()}-{os.getppid()}-zz99zz99.sisbench-tmp"  # a live writer's
    alive.write_bytes(b"")
    io.atomic_write_json(target, {"ok": True})
    assert json.loads(target.read_text()) == {"ok": True}
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["manifest.json", alive.name])


@pytest.mark.parametrize("umask, mode", [(0o022, 0o644), (0o077, 0o600), (0o002, 0o664)])
def test_atomic_writes_honour_the_umask(tmp_path, umask, mode):
    old = os.umask(umask)
    try:
        io.atomic_write_text(tmp_path / "table.md", "x\n")
        with io.atomic_path(tmp_path / "weights.bin") as tmp:
            tmp.write_bytes(b"w")
    finally:
        os.umask(old)
    assert (tmp_path / "table.md").stat().st_mode & 0o777 == mode
    assert (tmp_path / "weights.bin").stat().st_mode & 0o777 == mode


KILL_AFTER_CHECKPOINT = """
import os, signal, sys, time
import torch
torch.set_num_threads(int(os.environ["THREADS"]))  # the test process's: the thread count is part of a run's id
from benchmark import checkpoint as ckpt
from methods.spade import SPADE

step = SPADE.train_step
def slow_step(self, batch, ctx):
    time.sleep(float(os.environ["SLEEP_S"]))
    return step(self, batch, ctx)
SPADE.train_step = slow_step
save = ckpt.save_checkpoint
def save_then_die(*args, **kwargs):
    ref = save(*args, **kwargs)
    if ref.iteration == 2:
        os.kill(os.getpid(), signal.SIGKILL)
    return ref
ckpt.save_checkpoint = save_then_die
from benchmark.cli import main
sys.exit(main(sys.argv[1:]))
"""


@pytest.mark.slow
def test_train_seconds_after_kill_and_resume_count_the_time_before_the_kill(tmp_path):
    args = ["train", "--method", "spade", "--iters", "4", "--set", "train.checkpoint_interval=2",
            "--out", str(tmp_path), *TINY]
    sleep_s = 1.5  # per training iteration before the kill: 2 iterations, at least 3 s of training
    env = {**os.environ, "SLEEP_S": str(sleep_s), "THREADS": str(torch.get_num_threads())}
    killed = subprocess.run([sys.executable, "-c", KILL_AFTER_CHECKPOINT, *args], cwd=ROOT, env=env,
                            capture_output=True, text=True)
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    run_dir = next((tmp_path / "runs" / "synthetic" / "spade").iterdir())
    ref = ckpt.latest_checkpoint(run_dir / "checkpoints")
    assert ref.iteration == 2
    before = ckpt.load_training_state(ref)["train_s"]
    assert before >= 2 * sleep_s
    assert main([*args, "--resume"]) == 0
    manifest = json.loads((run_dir / "manifest.json").read_text())
    assert manifest["status"] == "finished"
    train_s = manifest["compute"]["train_s"]
    assert train_s >= 2 * sleep_s and train_s > before
    assert manifest["train_seconds"] == pytest.approx(train_s, abs=0.01)
