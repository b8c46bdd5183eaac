"""Trains the toy method for the DDP test; launched by torchrun (or plainly, as one process)."""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmark.compute import measure_gflops  # noqa: E402
from benchmark.io import atomic_write_json  # noqa: E402
from benchmark.registry import METHODS  # noqa: E402
from benchmark.trainer import Trainer, init_distributed  # noqa: E402
from tests.test_trainer import toy_cfg  # noqa: E402
from tests.toy import ToyDataset, ToyMethod  # noqa: E402


def main(out: str, batch_size: int) -> None:
    METHODS.add(ToyMethod, source="tests")
    dist_info = init_distributed("cpu")
    cfg = toy_cfg(12, batch_size=batch_size)
    cfg["model"] = {"noise": False}
    ds = ToyDataset()
    trainer = Trainer(cfg, Path(out), train_set=ds, info=ds.info, device="cpu", dist_info=dist_info,
                      progress=False)
    # every rank measures (the probe's optimizer steps all-reduce); training must not notice
    gflops = measure_gflops(trainer.method, cfg, trainer.first_batch(), trainer.device)
    if dist_info.is_main:
        atomic_write_json(Path(out) / "gflops.json", gflops)
    trainer.train()


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]))
