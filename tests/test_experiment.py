"""The experiment as data (issue 25, sections 1-3): the plan and ``--dry-run``, the inline and local executors,
run locks and many writers on one ``--out``; the image count and the thread count in a run's identity
(issue 24, items 4, 6 and 12)."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
import torch

from benchmark.cli import main
from benchmark.experiment.lock import FileLock, LockBusy, RunLock, run_lock_path
from tests.conftest import ROOT

TINY = ["--dataset", "synthetic", "--set", "data.num_train=16", "--set", "data.num_val=6",
        "--set", "train.batch_size=4", "--set", "model.ngf=8", "--no-progress"]
PLAN_2X2 = ["run", "--methods", "pix2pix,spade", "--seeds", "0,1", "--iters", "2"]


def run_dirs(out: Path) -> list[Path]:
    return sorted(p for p in (out / "runs" / "synthetic").glob("*/*") if p.is_dir() and p.parent.name != "_oracle")


def metrics(run_dir: Path) -> dict:
    return json.loads((run_dir / "metrics.json").read_text())


def locks_left(out: Path) -> list[Path]:
    return sorted(p for p in out.rglob("*") if p.name.endswith(".lock"))


# -- the plan ------------------------------------------------------------------------------------------

@pytest.mark.slow
def test_dry_run_prints_the_plan_and_writes_nothing(tmp_path, tiny_segmenter, capsys):
    out = tmp_path / "out"
    assert main([*PLAN_2X2, "--out", str(out), "--segmenter-checkpoint", tiny_segmenter, "--dry-run", *TINY]) == 0
    printed = capsys.readouterr().out
    lines = [line for line in printed.splitlines() if line.startswith(("pix2pix", "spade"))]
    assert len(lines) == 4
    assert all(" tiny " in line and " new " in line and "main 2" in line for line in lines)
    assert {line.split()[1] for line in lines} == {"0", "1"}
    assert "method" in printed and "run id" in printed and "4 runs: 0 finished, 0 partial, 4 new" in printed
    assert not out.exists()  # nothing written, not even the results directory


@pytest.mark.slow
def test_bad_executor_input_is_one_sentence_before_anything_runs(tmp_path, capsys):
    out = tmp_path / "out"
    assert main([*PLAN_2X2, "--out", str(out), "--executor", "local", "--jobs", "0", *TINY]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: --jobs") and len(err.splitlines()) == 1 and "Traceback" not in err
    assert main([*PLAN_2X2, "--out", str(out), "--jobs", "2", *TINY]) == 2
    err = capsys.readouterr().err.strip()
    assert "--executor local" in err and len(err.splitlines()) == 1
    with pytest.raises(SystemExit):  # argparse names the choices
        main([*PLAN_2X2, "--out", str(out), "--executor", "cloud", *TINY])
    assert not out.exists()


def test_unknown_executor_name_is_one_sentence():
    from benchmark.experiment.executors import ExecutorError, get_executor

    with pytest.raises(ExecutorError, match="unknown executor 'cloud'; valid executors: inline, local, slurm"):
        get_executor("cloud")
    with pytest.raises(ExecutorError, match="--jobs must be a whole number >= 1"):
        get_executor("local", jobs=0)
    assert get_executor("local", jobs=2).threads == max(1, len(os.sched_getaffinity(0)) // 2)


def test_planned_runs_pickle(tmp_path):
    import pickle

    from benchmark.experiment.plan import PlannedRun, RunOptions

    run = PlannedRun(method="pix2pix", dataset="synthetic", preset="tiny", seed=0, sweep={}, budget=None,
                     gflops=None, config={"method": "pix2pix", "train": {"iters": 2}}, run_id="tiny-0",
                     run_dir=tmp_path / "r", state="new", checkpoint=None, label="pix2pix")
    options = RunOptions(out=tmp_path, protocol="synthetic-v1", executor={"kind": "local"})
    assert pickle.loads(pickle.dumps((run, options))) == (run, options)
    assert run.cfg()["train"]["iters"] == 2


# -- threads in a run's identity (issue 24 item 12) -----------------------------------------------------

def test_thread_count_is_part_of_a_cpu_runs_identity():
    from benchmark.config import load_config
    from benchmark.runs import PAST_THREADS, run_id, set_threads

    def cfg_at(threads: int | None, device: str = "cpu"):
        cfg = load_config("pix2pix", "synthetic", "tiny", ["train.iters=2"])
        if threads is not None:
            set_threads(cfg, threads, device)
        return cfg

    past = run_id(cfg_at(None))
    assert run_id(cfg_at(PAST_THREADS)) == past  # the runs recorded at 2 threads keep their ids
    one, four = run_id(cfg_at(1)), run_id(cfg_at(4))
    assert len({past, one, four}) == 3  # other thread counts are other runs
    assert cfg_at(1)["threads"] == 1
    assert "threads" not in cfg_at(1, "cuda")  # the GPU's arithmetic does not depend on CPU threads
    assert run_id(cfg_at(1, "cuda")) == past


@pytest.mark.slow
def test_training_at_one_and_two_threads_gives_two_runs(tmp_path):
    from benchmark.config import load_config
    from benchmark.pipeline import train_run

    before = torch.get_num_threads()
    dirs = []
    try:
        for threads in (1, 2):
            torch.set_num_threads(threads)
            cfg = load_config("pix2pix", "synthetic", "tiny", ["train.iters=1", "data.num_train=8", "data.num_val=4",
                                                               "train.batch_size=4", "model.ngf=4"])
            outcome = train_run(cfg, tmp_path, progress=False)
            dirs.append(outcome.run_dir)
            assert json.loads((outcome.run_dir / "config.json").read_text())["threads"] == threads
    finally:
        torch.set_num_threads(before)
    assert dirs[0] != dirs[1]


# -- locks ---------------------------------------------------------------------------------------------

def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_a_stale_lock_of_a_dead_process_is_taken_over(tmp_path):
    run_dir = tmp_path / "runs" / "synthetic" / "pix2pix" / "tiny-abc"
    path = run_lock_path(run_dir)
    path.parent.mkdir(parents=True)
    stale = {"host": socket.gethostname(), "pid": _dead_pid(), "started": "2026-01-01T00:00:00+00:00"}
    path.write_text(json.dumps(stale))
    with RunLock(run_dir, wait=False) as lock:
        assert lock.took_over == stale
        holder = json.loads(path.read_text())
        assert holder["pid"] == os.getpid() and holder["host"] == socket.gethostname() and holder["heartbeat"]
    assert not path.exists()  # released: nothing left behind
    assert not run_dir.exists()  # the lock never makes a run directory appear


HOLD = """
import sys, time
from benchmark.experiment.lock import FileLock
with FileLock(sys.argv[1]):
    print("held", flush=True)
    time.sleep(float(sys.argv[2]))
"""


def test_a_live_lock_is_waited_for_and_never_shared(tmp_path):
    path = tmp_path / "x.lock"
    proc = subprocess.Popen([sys.executable, "-c", HOLD, str(path), "2"], stdout=subprocess.PIPE, text=True,
                            cwd=ROOT)
    try:
        assert proc.stdout.readline().strip() == "held"
        with pytest.raises(LockBusy, match=f"pid {proc.pid} on {socket.gethostname()}"):
            FileLock(path, wait=False).acquire()
        told = []
        t0 = time.monotonic()
        with FileLock(path, poll=0.1, on_wait=told.append) as lock:
            assert lock.waited and told and told[0]["pid"] == proc.pid
            assert proc.poll() is not None or time.monotonic() - t0 > 1.5  # only once the holder let go
            assert json.loads(path.read_text())["pid"] == os.getpid()
    finally:
        proc.wait(timeout=30)
    assert not path.exists()


def test_a_killed_holder_leaves_a_lock_the_next_process_takes_over(tmp_path):
    path = tmp_path / "x.lock"
    proc = subprocess.Popen([sys.executable, "-c", HOLD, str(path), "60"], stdout=subprocess.PIPE, text=True,
                            cwd=ROOT)
    assert proc.stdout.readline().strip() == "held"
    proc.kill()
    proc.wait()
    assert path.exists()  # kill -9: no chance to remove it
    with FileLock(path, wait=False) as lock:
        assert lock.took_over["pid"] == proc.pid
    assert not path.exists()


# -- the executors end to end --------------------------------------------------------------------------

@pytest.fixture(scope="module")
def inline_and_local(tmp_path_factory, tiny_segmenter):
    """The 2 x 2 plan once inline (at the local executor's threads per run) and once with --executor local
    --jobs 2."""
    from benchmark.experiment.executors.local import LocalExecutor

    threads = LocalExecutor(jobs=2).threads
    inline, local = tmp_path_factory.mktemp("inline"), tmp_path_factory.mktemp("local")
    seg = ["--segmenter-checkpoint", tiny_segmenter]
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        assert main([*PLAN_2X2, "--out", str(inline), *seg, *TINY]) == 0
    finally:
        torch.set_num_threads(before)
    proc = subprocess.run([sys.executable, "-m", "benchmark", *PLAN_2X2, "--out", str(local), *seg, *TINY,
                           "--executor", "local", "--jobs", "2"], capture_output=True, text=True, cwd=ROOT,
                          timeout=1200)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return inline, local, proc.stdout, threads


@pytest.mark.slow
def test_local_jobs_2_gives_the_metrics_of_inline_bit_for_bit(inline_and_local):
    inline, local, printed, threads = inline_and_local
    a, b = run_dirs(inline), run_dirs(local)
    assert len(a) == 4 and [p.relative_to(inline) for p in a] == [p.relative_to(local) for p in b]  # same run ids
    for x, y in zip(a, b, strict=True):
        assert metrics(x)["metrics"] == metrics(y)["metrics"], x.name
        assert json.loads((y / "config.json").read_text())["threads"] == threads
        manifest = json.loads((y / "manifest.json").read_text())
        assert manifest["executor"] == {"kind": "local", "jobs": 2, "threads": threads}
        assert json.loads((x / "manifest.json").read_text())["executor"] == {"kind": "inline"}
    # one line when each run starts and one when it ends, each naming its run; every run has its log
    for run_dir in b:
        label = f"{run_dir.parent.name} seed {json.loads((run_dir / 'config.json').read_text())['seed']}"
        assert f"[{label}] started ({run_dir.name}" in printed and f"[{label}] done in" in printed
        log = local / "logs" / f"synthetic-{run_dir.parent.name}-{run_dir.name}.log"
        assert "trained in" in log.read_text()
    assert not locks_left(inline) and not locks_left(local)
    table = pd.read_csv(local / "synthetic" / "table.csv")
    assert len(table) == len(pd.read_csv(inline / "synthetic" / "table.csv"))


@pytest.mark.slow
def test_dry_run_after_the_runs_shows_them_finished(inline_and_local, tiny_segmenter, capsys):
    inline, _, _, threads = inline_and_local
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        assert main([*PLAN_2X2, "--out", str(inline), "--segmenter-checkpoint", tiny_segmenter, "--dry-run",
                     *TINY]) == 0
    finally:
        torch.set_num_threads(before)
    assert "4 runs: 4 finished, 0 partial, 0 new" in capsys.readouterr().out


@pytest.mark.slow
def test_a_failed_run_is_named_with_its_log_while_the_others_finish(tmp_path, tiny_segmenter):
    """A run whose process fails is reported with its run id and log; the other runs finish; exit status 1."""
    out = tmp_path / "out"
    shim = tmp_path / "shim"  # SPADE's train step raises in every process that loads this (only workers train)
    shim.mkdir()
    (shim / "sitecustomize.py").write_text(
        "import methods.spade as spade\n\n\n"
        "def broken(self, *args, **kwargs):\n"
        "    raise RuntimeError('boom in the train step')\n\n\n"
        "spade.SPADE.train_step = broken\n")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(shim), os.environ.get("PYTHONPATH", "")])}
    proc = subprocess.run([sys.executable, "-m", "benchmark", "run", "--methods", "pix2pix,spade", "--iters", "1",
                           "--out", str(out), "--segmenter-checkpoint", tiny_segmenter, *TINY,
                           "--executor", "local", "--jobs", "2"], capture_output=True, text=True, cwd=ROOT, env=env,
                          timeout=1200)
    assert proc.returncode == 1, proc.stdout[-2000:] + proc.stderr[-2000:]
    spade_dir = next((out / "runs" / "synthetic" / "spade").iterdir())
    log = out / "logs" / f"synthetic-spade-{spade_dir.name}.log"
    assert f"[spade] failed ({spade_dir.name})" in proc.stdout and str(log) in proc.stdout
    assert "boom in the train step" in log.read_text()
    assert "1 of 2 runs failed (spade)" in proc.stderr
    pix = next((out / "runs" / "synthetic" / "pix2pix").iterdir())
    assert metrics(pix)["metrics"]["mIoU"] >= 0  # the other run finished and was scored
    assert "pix2pix" in (out / "synthetic" / "table.md").read_text()
    assert not locks_left(out)


@pytest.mark.slow
def test_two_run_commands_at_once_train_every_run_once(tmp_path, tiny_segmenter):
    out = tmp_path / "out"
    common = ["--methods", "pix2pix", "--iters", "2", "--out", str(out), "--segmenter-checkpoint", tiny_segmenter,
              *TINY]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    procs = [subprocess.Popen([sys.executable, "-m", "benchmark", "run", "--seeds", seeds, *common],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT, env=env)
             for seeds in ("0,1", "1,0")]
    outputs = [p.communicate(timeout=1200) for p in procs]
    for p, (stdout, stderr) in zip(procs, outputs, strict=True):
        assert p.returncode == 0, stdout[-2000:] + stderr[-2000:]
    printed = "\n".join(stdout for stdout, _ in outputs)
    dirs = run_dirs(out)
    assert len(dirs) == 2
    for run_dir in dirs:
        assert printed.count(f"-> {run_dir}") >= 1
        trained = [line for line in printed.splitlines() if "trained in" in line and str(run_dir) in line]
        reused = [line for line in printed.splitlines() if f"reusing the finished run {run_dir}" in line]
        assert len(trained) == 1 and len(reused) == 1, (run_dir, trained, reused)
        logged = [row.split(",")[:2] for row in (run_dir / "train_log.csv").read_text().splitlines()[1:]]
        assert logged and len(logged) == len({tuple(r) for r in logged})  # no iteration trained twice
    table = pd.read_csv(out / "synthetic" / "table.csv")
    assert list(table["registry_name"]) == ["pix2pix", "oracle"]
    assert int(table["n_seeds"][0]) == 2 and table["mIoU"].notna().all()
    assert (out / "index.html").read_text().rstrip().endswith("</html>")
    assert not locks_left(out)


# -- the image count in a record's identity (issue 24 items 4 and 6) -------------------------------------

@pytest.mark.slow
def test_image_count_is_part_of_the_record_and_incomplete_images_are_regenerated(tmp_path, tiny_segmenter,
                                                                                capsys):
    out = tmp_path / "out"
    base = ["run", "--methods", "pix2pix", "--iters", "2", "--out", str(out), "--segmenter-checkpoint",
            tiny_segmenter, *TINY]
    # too few images for the protocol's metrics: refused before anything trains
    assert main([*base, "--num-images", "1"]) == 2
    err = capsys.readouterr().err
    assert "--num-images 1 is too few" in err and len(err.strip().splitlines()) == 1
    assert not (out / "runs").exists()
    assert main([*base, "--num-images", "3"]) == 0
    (run_dir,) = run_dirs(out)
    assert metrics(run_dir)["provenance"]["num_images"] == 3
    capsys.readouterr()
    # a plain run afterwards does not reuse the 3-image record or the 3-image folder
    assert main(base) == 0
    printed = capsys.readouterr().out
    assert "reusing the finished run" in printed and f"reusing {run_dir / 'metrics.json'}" not in printed
    assert "fewer than this run scores: generating it again" in printed
    assert len(list((run_dir / "images").glob("*.png"))) == 6
    full = metrics(run_dir)
    assert full["provenance"]["num_images"] == 6 and not full["provenance"]["num_images_overridden"]
    # a half-written images/ (two processes, a kill) is regenerated, not scored
    for png in sorted((run_dir / "images").glob("*.png"))[:2]:
        png.unlink()
    assert main(base) == 0
    printed = capsys.readouterr().out
    assert "holds 4 images, fewer than this run scores: generating it again" in printed
    assert len(list((run_dir / "images").glob("*.png"))) == 6
    assert metrics(run_dir)["metrics"] == full["metrics"]
    # and the full record is now reused as it is
    assert main(base) == 0
    assert f"reusing {run_dir / 'metrics.json'}" in capsys.readouterr().out


@pytest.mark.slow
def test_no_wait_leaves_a_run_another_process_holds_pending(tmp_path, tiny_segmenter, capsys):
    out = tmp_path / "out"
    base = ["run", "--methods", "pix2pix", "--iters", "1", "--out", str(out), "--segmenter-checkpoint",
            tiny_segmenter, *TINY]
    assert main([*base, "--dry-run"]) == 0
    (run_id,) = [line.split()[4] for line in capsys.readouterr().out.splitlines() if line.startswith("pix2pix")]
    run_dir = out / "runs" / "synthetic" / "pix2pix" / run_id
    proc = subprocess.Popen([sys.executable, "-c", HOLD, str(run_lock_path(run_dir)), "300"],
                            stdout=subprocess.PIPE, text=True, cwd=ROOT)
    try:
        assert proc.stdout.readline().strip() == "held"
        assert main([*base, "--no-wait"]) == 0
        printed = capsys.readouterr().out
        assert f"[pix2pix] pending ({run_id})" in printed and f"pid {proc.pid}" in printed
        assert not run_dir.exists()  # left to the process that holds it
    finally:
        proc.kill()
        proc.wait()
