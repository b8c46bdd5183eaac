"""DDP with two CPU processes (gloo): the same weights as one process with the two batches together."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys

import pytest
import torch
from safetensors.torch import load_file

from benchmark import checkpoint as ckpt
from tests.conftest import ROOT

WORKER = ROOT / "tests" / "ddp_worker.py"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run(cmd: list[str]) -> None:
    env = dict(os.environ, OMP_NUM_THREADS="1", MASTER_ADDR="127.0.0.1")
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr


@pytest.mark.slow
def test_two_process_ddp_matches_one_process_with_the_joint_batch(tmp_path):
    run([sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2", "--master_addr=127.0.0.1",
         f"--master_port={free_port()}", str(WORKER), str(tmp_path / "ddp"), "2"])
    run([sys.executable, str(WORKER), str(tmp_path / "single"), "4"])
    a = load_file(str(ckpt.latest_checkpoint(tmp_path / "ddp" / "checkpoints").weights))
    b = load_file(str(ckpt.latest_checkpoint(tmp_path / "single" / "checkpoints").weights))
    for k in a:
        torch.testing.assert_close(a[k], b[k], rtol=1e-4, atol=1e-5, msg=k)
    # each process's FLOP count covers its half of the batch (the workers measured before training)
    per_rank = json.loads((tmp_path / "ddp" / "gflops.json").read_text())["main"]
    assert per_rank * 2 == json.loads((tmp_path / "single" / "gflops.json").read_text())["main"] > 0
    # the gradients really were averaged: rank 0's half of the batch alone trains to other weights
    run([sys.executable, str(WORKER), str(tmp_path / "half"), "2"])
    c = load_file(str(ckpt.latest_checkpoint(tmp_path / "half" / "checkpoints").weights))
    assert not torch.allclose(a["netG.weight"], c["netG.weight"], rtol=1e-4, atol=1e-5)
