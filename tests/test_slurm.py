"""``run --executor slurm``: a job array on a real one-node SLURM cluster (tests/slurm_cluster.py), the same
metrics as ``inline``, a task requeued mid-training finishing with the weights of an uninterrupted run,
``--no-wait`` then ``report``, and bad input refused in one sentence before anything is submitted. The
trainer's stop-on-request hook and the sbatch pass-through are tested without a cluster."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from benchmark import checkpoint as ckpt
from benchmark.cli import main
from benchmark.experiment import jobs
from benchmark.experiment.executors import ExecutorError
from benchmark.experiment.executors.slurm import SlurmExecutor, parse_sbatch
from benchmark.trainer import TrainingPreempted, request_stop
from tests.conftest import ROOT
from tests.test_trainer import make_trainer, toy_cfg, weights

SMALL = ["--dataset", "synthetic", "--set", "data.num_train=16", "--set", "data.num_val=6",
         "--set", "train.batch_size=4", "--no-progress"]


# -- without a cluster ------------------------------------------------------------------------------------

class _StopAt:
    """An evaluator that is never due, but asks the loop to stop (as a signal handler would) at one iteration."""

    seconds = 0.0

    def __init__(self, at: int):
        self.at = at

    def due(self, stage: str, iteration: int, total: int) -> bool:
        if iteration == self.at:
            assert request_stop()
        return False

    def __call__(self, method, stage, iteration) -> str:  # never called
        raise AssertionError


def test_request_stop_checkpoints_that_iteration_and_the_resumed_run_is_exact(tmp_path, toy_method):
    make_trainer(toy_cfg(20), tmp_path / "straight").train()
    with pytest.raises(TrainingPreempted, match="iteration 7 of 20"):
        make_trainer(toy_cfg(20), tmp_path / "stopped", evaluator=_StopAt(7)).train()
    ref = ckpt.latest_checkpoint(tmp_path / "stopped" / "checkpoints")
    assert (ref.stage, ref.iteration) == ("main", 7)  # not the periodic one at 10: where it stopped
    torch.manual_seed(999)
    assert make_trainer(toy_cfg(20), tmp_path / "stopped").train(resume=True).completed
    a, b = weights(tmp_path / "straight"), weights(tmp_path / "stopped")
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    # the request was consumed: the next training in this process runs to its end
    assert make_trainer(toy_cfg(5), tmp_path / "next").train().completed


def test_request_stop_outside_training_asks_nothing(tmp_path, toy_method):
    assert request_stop() is False
    assert make_trainer(toy_cfg(5), tmp_path).train().completed


def test_sbatch_pass_through_and_bad_counts_are_one_sentence():
    assert parse_sbatch(["account=vision", "--qos=high", "exclusive", "mail_type=END"]) == \
        {"account": "vision", "qos": "high", "exclusive": True, "mail-type": "END"}
    for items, match in ((["=x"], "KEY=VALUE"), (["qos="], "KEY=VALUE"), (["array=0-3"], "not passed through"),
                         (["partition=gpu"], "use --partition"), (["qos=a", "qos=b"], "given twice")):
        with pytest.raises(ExecutorError, match=match):
            parse_sbatch(items)
    for kwargs, flag in (({"gpus_per_run": -1}, "--gpus-per-run"), ({"cpus_per_run": 0}, "--cpus-per-run"),
                         ({"time_limit": 0}, "--time-limit"), ({"array_parallelism": 0}, "--array-parallelism"),
                         ({"mem_per_run": -2.0}, "--mem-per-run"), ({"gpus_per_run": 4, "cpus_per_run": 2},
                                                                   "--cpus-per-run 2")):
        with pytest.raises(ExecutorError, match=flag) as info:
            SlurmExecutor(**kwargs)
        assert "\n" not in str(info.value)
    ex = SlurmExecutor(gpus_per_run=2, cpus_per_run=8, sbatch=["account=vision"])
    assert ex.threads_per_run() == 4 and ex.describe()["tasks_per_run"] == 2


@pytest.mark.slow
def test_no_sbatch_on_path_is_one_sentence_and_nothing_is_submitted(tmp_path, monkeypatch, capsys):
    empty = tmp_path / "bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    out = tmp_path / "out"
    assert main(["run", "--methods", "pix2pix", "--iters", "2", "--executor", "slurm", "--out", str(out),
                 *SMALL]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "sbatch" in err and "PATH" in err and "Traceback" not in err
    assert not (out / "jobs").exists() and not (out / "runs").exists()


# -- on the test cluster ----------------------------------------------------------------------------------

def _metrics(out: Path) -> dict[str, dict]:
    found = {}
    for path in sorted((out / "runs" / "synthetic").glob("*/*/metrics.json")):  # the oracle's: _oracle/<protocol>/
        record = json.loads(path.read_text())
        found[f"{path.parent.parent.name}/{path.parent.name}"] = record["metrics"]
    return found


def _weights(run_dir: Path) -> dict[str, torch.Tensor]:
    return load_file(str(ckpt.latest_checkpoint(run_dir / "checkpoints").weights))


PLAN = ["--methods", "pix2pix,spade", "--seeds", "0,1", "--iters", "20", *SMALL, "--set", "model.ngf=8"]


@pytest.mark.slow
@pytest.mark.slurm
def test_job_array_gives_the_metrics_of_inline(slurm_cluster, tmp_path, capsys):
    inline, slurm = tmp_path / "inline", tmp_path / "slurm"
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # inline at the thread count of a slurm task with one CPU: the same run ids
    try:
        assert main(["run", *PLAN, "--out", str(inline)]) == 0
    finally:
        torch.set_num_threads(threads)
    capsys.readouterr()
    assert main(["run", *PLAN, "--out", str(slurm), "--executor", "slurm", "--cpus-per-run", "1"]) == 0
    printed = capsys.readouterr().out
    assert "submitted 4 run(s) as job array" in printed
    a, b = _metrics(inline), _metrics(slurm)
    assert len(a) == 5 and "_oracle/synthetic-v1" in a  # 4 runs and the oracle
    assert a == b  # the same run ids (threads included) and bit-identical scores
    (sub,) = jobs.read_submissions(slurm)
    assert len(sub.tasks) == 4 and len({t.job_id.split("_")[0] for t in sub.tasks}) == 1  # one array
    for task in sub.tasks:
        manifest = json.loads((Path(task.run_dir) / "manifest.json").read_text())
        ex = manifest["executor"]
        assert ex["kind"] == "slurm" and ex["job_id"] == task.job_id and ex["node"] == slurm_cluster.host
        assert "gpu" in ex and ex["num_tasks"] == 1
    assert jobs.pending_report(slurm) == []


def _wait_for(what: str, ready, timeout: float = 300.0) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        if ready():
            return
        time.sleep(0.5)
    raise AssertionError(f"{what} did not happen in {timeout:.0f} s")


@pytest.mark.slow
@pytest.mark.slurm
@pytest.mark.parametrize("how", ["scontrol-requeue", "time-limit-signal"])
def test_a_task_requeued_mid_training_finishes_with_the_weights_of_a_straight_run(slurm_cluster, tmp_path, how):
    """``scontrol requeue`` while the task trains (SIGTERM: it checkpoints at that iteration and SLURM queues it
    again), or SLURM's time-limit / preemption signal (USR2, ``scancel --signal=USR2``: it checkpoints and
    requeues itself through submitit's Checkpointable); the second start resumes from there, and the final
    weights equal an uninterrupted run's."""
    common = ["--methods", "pix2pix", "--iters", "30", *SMALL, "--set", "model.ngf=8", "--set",
              "train.log_interval=2", "--set", "train.checkpoint_interval=1000", "--cpus-per-run", "2"]
    straight, requeued = tmp_path / "straight", tmp_path / "requeued"
    env = {**os.environ, **slurm_cluster.env(), "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen([sys.executable, "-m", "benchmark", "run", *common, "--executor", "slurm",
                             "--out", str(requeued)], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True)
    try:
        _wait_for("the job's submission record", lambda: bool(jobs.read_submissions(requeued)))
        (task,) = jobs.read_submissions(requeued)[0].tasks
        log = Path(task.stdout)
        # the training log has rows: the task is past its set-up, in the training loop
        _wait_for("training to start", lambda: (Path(task.run_dir) / "train_log.csv").is_file())
        stop = ["scontrol", "requeue", task.job_id] if how == "scontrol-requeue" else \
            ["scancel", "--signal=USR2", task.job_id]
        subprocess.run(stop, env=env, check=True, capture_output=True)
        _wait_for("the requeued job to be held", lambda: slurm_cluster.queue().get(task.job_id) == "PENDING")
        slurm_cluster.release(task.job_id)
        output, _ = proc.communicate(timeout=900)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, output
    text = log.read_text()
    signal_name = "SIGTERM" if how == "scontrol-requeue" else "SIGUSR2"
    assert f"caught {signal_name}" in text and "training stopped on request at main iteration" in text, text
    stopped_at = int(text.split("training stopped on request at main iteration ")[1].split()[0])
    assert 2 <= stopped_at < 30
    ref = ckpt.list_checkpoints(Path(task.run_dir) / "checkpoints")
    manifest = json.loads((Path(task.run_dir) / "manifest.json").read_text())
    assert manifest["executor"]["restarts"] == 1 and manifest["iterations"] == {"main": 30}
    iterations = [row.split(",")[1] for row in (Path(task.run_dir) / "train_log.csv").read_text().split()[1:]]
    assert iterations == [str(i) for i in range(2, 31, 2)]  # every logged iteration once, none lost
    threads = json.loads((Path(task.run_dir) / "config.json").read_text())["threads"]
    assert threads == 2  # --cpus-per-run 2: the task trained with two threads, whatever this machine has
    # the uninterrupted run: inline, in this process, pinned to the task's thread count (the same run id),
    # whatever thread count this process was left at by the tests before
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        assert main(["run", *common, "--out", str(straight)]) == 0
    finally:
        torch.set_num_threads(before)
    (run_dir,) = (straight / "runs" / "synthetic" / "pix2pix").iterdir()
    assert run_dir.name == Path(task.run_dir).name and ref
    a, b = _weights(run_dir), _weights(Path(task.run_dir))
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


@pytest.mark.slow
@pytest.mark.slurm
def test_no_wait_then_report_collects(slurm_cluster, tmp_path, capsys):
    """Submitted held (``--sbatch begin=now+1hour``, passed through to sbatch), so ``report`` finds both tasks
    pending; released, they run, and ``report`` then the same ``run`` collect them without submitting again."""
    out = tmp_path / "out"
    args = ["run", "--methods", "pix2pix", "--seeds", "0,1", "--iters", "3", *SMALL, "--set", "model.ngf=8",
            "--out", str(out), "--executor", "slurm", "--cpus-per-run", "1", "--sbatch", "begin=now+1hour"]
    assert main([*args, "--no-wait"]) == 0
    printed = capsys.readouterr().out
    (sub,) = jobs.read_submissions(out)
    assert f"job array {sub.job_id}" in printed and all(t.job_id in printed for t in sub.tasks)
    assert any("#SBATCH --begin=now+1hour" in p.read_text() for p in (out / "slurm").rglob("*_submission.sh"))
    assert main(["report", "--out", str(out)]) == 0
    listed = [line for line in capsys.readouterr().out.splitlines() if "(job " in line]
    assert len(listed) == 2 and all("pending" in line and "log: " in line for line in listed), listed
    for task in sub.tasks:
        slurm_cluster.release(task.job_id)
    _wait_for("both tasks", lambda: jobs.pending_report(out) == [], timeout=600)
    assert main(["report", "--out", str(out)]) == 0
    assert "(job " not in capsys.readouterr().out
    table = (out / "synthetic" / "table.md").read_text()
    row = next(line for line in table.splitlines() if line.startswith("| pix2pix"))
    assert row.split("|")[4].strip() == "2"  # n: both seeds collected into one row
    # the same command again submits nothing: it collects the finished jobs
    assert main(args) == 0
    assert "submitted" not in capsys.readouterr().out and len(jobs.read_submissions(out)) == 1


@pytest.mark.slow
@pytest.mark.slurm
def test_a_run_of_two_tasks_is_one_ddp_job(slurm_cluster, tmp_path):
    """``--tasks-per-run 2`` on CPU: one job of two tasks, the trainer's rank and world size from the job
    environment (gloo); rank 0 generates and scores."""
    out = tmp_path / "out"
    assert main(["run", "--methods", "pix2pix", "--iters", "4", *SMALL, "--set", "model.ngf=8", "--out", str(out),
                 "--executor", "slurm", "--cpus-per-run", "2", "--tasks-per-run", "2"]) == 0
    (sub,) = jobs.read_submissions(out)
    (task,) = sub.tasks
    manifest = json.loads((Path(task.run_dir) / "manifest.json").read_text())
    assert manifest["world_size"] == 2 and manifest["executor"]["num_tasks"] == 2
    assert manifest["status"] == "finished" and manifest["iterations"] == {"main": 4}
    assert (Path(task.run_dir) / "metrics.json").is_file()


@pytest.mark.slow
@pytest.mark.slurm
def test_unknown_partition_is_one_sentence_and_nothing_is_submitted(slurm_cluster, tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["run", "--methods", "pix2pix", "--iters", "2", *SMALL, "--out", str(out), "--executor", "slurm",
                 "--partition", "nosuch"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "'nosuch'" in err and slurm_cluster.partition in err
    assert not (out / "jobs").exists() and not (out / "runs").exists()
    queue = subprocess.run(["squeue", "-h"], capture_output=True, text=True, check=True).stdout
    assert queue.strip() == ""
