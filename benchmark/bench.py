"""``python -m benchmark bench``: training iterations/s, generation images/s and peak memory per method.

Each method is measured in a fresh process, so its peak memory is its own (``ru_maxrss`` on CPU,
``torch.cuda.max_memory_allocated`` on GPU). Timing covers ``steps`` training iterations after ``warmup``
untimed ones, with CUDA synchronised around the timed region.
"""

from __future__ import annotations

import multiprocessing as mp
import platform
import resource
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd
import torch

from benchmark.io import atomic_write_text


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def bench_method(cfg: Mapping[str, Any], steps: int, warmup: int, device: str | None) -> dict[str, Any]:
    from benchmark.pipeline import checked_dataset, eval_split, fixed_batch
    from benchmark.step import LocalStepContext
    from benchmark.trainer import DistInfo, build_method, pick_device, to_device

    dev = pick_device(device, DistInfo())
    torch.manual_seed(int(cfg.get("seed", 0)))
    train_set = checked_dataset(cfg["data"], "train", train=True)
    method = build_method(cfg, train_set.info).to(dev)
    bs = int(cfg["train"]["batch_size"])
    batch = to_device(fixed_batch(train_set, bs), dev)
    if dev.type == "cuda":
        torch.cuda.reset_peak_memory_stats(dev)
    stage = method.stages[-1]
    method.train()
    optimizers = method.configure_optimizers(stage)
    nets = {n: getattr(method, n) for n in method.networks_for(stage)}
    ctx = LocalStepContext(optimizers, nets, dev, cfg["train"].get("amp", "off"), stage=stage)
    for i in range(warmup + steps):
        if i == warmup:
            _sync(dev)
            t0 = time.perf_counter()
        ctx.iteration = i
        method.train_step(batch, ctx)
    _sync(dev)
    train_s = time.perf_counter() - t0
    val_batch = to_device(fixed_batch(checked_dataset(cfg["data"], eval_split(cfg), train=False), bs), dev)
    method.eval()
    with torch.no_grad():
        method.generate(val_batch)
        _sync(dev)
        t1 = time.perf_counter()
        for _ in range(max(1, steps // 2)):
            method.generate(val_batch)
        _sync(dev)
    gen_s = time.perf_counter() - t1
    gen_images = max(1, steps // 2) * val_batch["label"].shape[0]
    if dev.type == "cuda":
        peak_mb = torch.cuda.max_memory_allocated(dev) / 2**20
        mem_kind = "cuda_max_allocated"
    else:
        # ru_maxrss is KiB on Linux
        peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        mem_kind = "process_max_rss"
    return {
        "method": cfg["method"], "dataset": cfg["dataset"], "preset": cfg["preset"],
        "device": str(dev), "device_name": torch.cuda.get_device_name(dev) if dev.type == "cuda"
        else platform.processor() or platform.machine(),
        "threads": torch.get_num_threads(), "amp": cfg["train"].get("amp", "off"),
        "batch_size": bs, "image_size": "x".join(map(str, train_set.info.image_size)), "stage": stage,
        "train_it_per_s": steps / train_s, "train_images_per_s": steps * bs / train_s,
        "generate_images_per_s": gen_images / gen_s, "peak_memory_mb": peak_mb, "memory_kind": mem_kind,
        "steps": steps, "warmup": warmup,
    }


def _child(cfg: dict[str, Any], steps: int, warmup: int, device: str | None, queue: mp.Queue) -> None:
    try:
        queue.put(("ok", bench_method(cfg, steps, warmup, device)))
    except Exception as exc:  # reported by the parent
        queue.put(("error", f"{type(exc).__name__}: {exc}"))


def run_bench(configs: Mapping[str, Any], out: Path, *, steps: int = 10, warmup: int = 2,
              device: str | None = None) -> Path:
    """Benchmark each method's config in its own process; write ``<out>/bench/train_<dataset>_<preset>.csv``."""
    from benchmark.config import to_plain

    rows = []
    ctx = mp.get_context("spawn")
    for name, cfg in configs.items():
        queue = ctx.Queue()
        proc = ctx.Process(target=_child, args=(to_plain(cfg), steps, warmup, device, queue))
        proc.start()
        status, payload = queue.get()
        proc.join()
        if status != "ok":
            raise RuntimeError(f"bench of {name!r} failed: {payload}")
        rows.append(payload)
        print(f"{name}: {payload['train_it_per_s']:.2f} it/s, {payload['generate_images_per_s']:.1f} images/s, "
              f"peak {payload['peak_memory_mb']:.0f} MB")
    first = next(iter(configs.values()))
    path = Path(out) / "bench" / f"train_{first['dataset']}_{first['preset']}.csv"
    atomic_write_text(path, pd.DataFrame(rows).to_csv(index=False))
    return path
