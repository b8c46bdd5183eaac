"""``python -m benchmark bench``: training iterations/s, generation images/s and peak memory per method, then
images/s of each of the evaluation protocol's metrics.

Each method is measured in a fresh process, so its peak memory is its own (``ru_maxrss`` on CPU,
``torch.cuda.max_memory_allocated`` on GPU). Timing covers ``steps`` training iterations after ``warmup``
untimed ones, with CUDA synchronised around the timed region. Metric throughput is the protocol's feature
extractors' forward pass (:func:`metrics.evaluate.metric_throughput`); where the protocol's segmenter would be
trained on first use, a randomly initialised network of the same architecture is timed instead (throughput
does not depend on the weights) and the CSV says so.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import platform
import queue as queue_mod
import resource
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd
import torch

from benchmark.io import atomic_write_text

#: ``weights`` column of segmenter metrics timed with a randomly initialised network
RANDOM_SEGMENTER = "random-init"
RANDOM_SEGMENTER_NOTE = ("the protocol's segmenter is trained on first use and none is cached: a randomly "
                         "initialised network of its architecture was timed (throughput does not depend on weights)")


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _device_name(dev: torch.device) -> str:
    if dev.type == "cuda":
        return torch.cuda.get_device_name(dev)
    return platform.processor() or platform.machine()


def bench_method(cfg: Mapping[str, Any], steps: int, warmup: int, device: str | None) -> dict[str, Any]:
    from benchmark.pipeline import checked_dataset, eval_split, fixed_batch
    from benchmark.step import LocalStepContext
    from benchmark.trainer import DistInfo, build_method, pick_device, to_device

    if steps < 1 or warmup < 0:
        raise ValueError(f"bench needs steps >= 1 and warmup >= 0, got steps={steps}, warmup={warmup}")
    dev = pick_device(device, DistInfo())
    torch.manual_seed(int(cfg.get("seed", 0)))
    train_set = checked_dataset(cfg["data"], "train", train=True)
    method = build_method(cfg, train_set.info).to(dev)
    bs = int(cfg["train"]["batch_size"])
    batch = to_device(fixed_batch(train_set, bs), dev)
    if dev.type == "cuda":
        _sync(dev)
        torch.cuda.reset_peak_memory_stats(dev)
    stage = method.stages[-1]
    method.train()
    optimizers = method.configure_optimizers(stage)
    nets = {n: getattr(method, n) for n in method.networks_for(stage)}
    ctx = LocalStepContext(optimizers, nets, dev, cfg["train"].get("amp", "off"), stage=stage)
    t0 = 0.0
    for i in range(warmup + steps):
        if i == warmup:
            _sync(dev)  # warm-up kernels finish outside the timed region
            t0 = time.perf_counter()
        ctx.iteration = i
        method.train_step(batch, ctx)
    _sync(dev)
    train_s = time.perf_counter() - t0
    val_batch = to_device(fixed_batch(checked_dataset(cfg["data"], eval_split(cfg), train=False), bs), dev)
    method.eval()
    gen_batches = max(1, steps // 2)
    with torch.no_grad():
        method.generate(val_batch)  # warm-up
        _sync(dev)
        t1 = time.perf_counter()
        for _ in range(gen_batches):
            method.generate(val_batch)
        _sync(dev)
        gen_s = time.perf_counter() - t1
    gen_images = gen_batches * val_batch["label"].shape[0]
    if dev.type == "cuda":
        peak_mb = torch.cuda.max_memory_allocated(dev) / 2**20
        mem_kind = "cuda_max_allocated"
    else:
        # ru_maxrss is KiB on Linux
        peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        mem_kind = "process_max_rss"
    return {
        "method": cfg["method"], "dataset": cfg["dataset"], "preset": cfg["preset"],
        "device": str(dev), "device_name": _device_name(dev), "cuda": dev.type == "cuda",
        "torch": torch.__version__, "cuda_version": torch.version.cuda if dev.type == "cuda" else None,
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


def _run_child(ctx: Any, cfg: dict[str, Any], steps: int, warmup: int, device: str | None) -> tuple[str, Any]:
    """Run :func:`bench_method` in a fresh process; a child that dies without answering is an error, not a hang."""
    queue = ctx.Queue()
    proc = ctx.Process(target=_child, args=(cfg, steps, warmup, device, queue))
    proc.start()
    try:
        while True:
            try:
                result = queue.get(timeout=1.0)
                break
            except queue_mod.Empty:
                if not proc.is_alive():
                    try:  # it may have answered just before exiting
                        result = queue.get(timeout=1.0)
                    except queue_mod.Empty:
                        result = ("error", f"the benchmark process exited with code {proc.exitcode} "
                                           f"without a result")
                    break
    finally:
        proc.join()
    return result


def run_bench(configs: Mapping[str, Any], out: Path, *, steps: int = 10, warmup: int = 2,
              device: str | None = None) -> Path:
    """Benchmark each method's config in its own process; write ``<out>/bench/train_<dataset>_<preset>.csv``."""
    from benchmark.config import to_plain

    if steps < 1 or warmup < 0:
        raise ValueError(f"bench needs steps >= 1 and warmup >= 0, got steps={steps}, warmup={warmup}")
    rows = []
    ctx = mp.get_context("spawn")
    for name, cfg in configs.items():
        status, payload = _run_child(ctx, to_plain(cfg), steps, warmup, device)
        if status != "ok":
            raise RuntimeError(f"bench of {name!r} failed: {payload}")
        rows.append(payload)
        print(f"{name}: {payload['train_it_per_s']:.2f} it/s ({payload['train_images_per_s']:.1f} train images/s), "
              f"{payload['generate_images_per_s']:.1f} generated images/s, peak {payload['peak_memory_mb']:.0f} MB "
              f"[{payload['device']}, torch {payload['torch']}]")
    first = next(iter(configs.values()))
    path = Path(out) / "bench" / f"train_{first['dataset']}_{first['preset']}.csv"
    atomic_write_text(path, pd.DataFrame(rows).to_csv(index=False))
    return path


# -- metrics -----------------------------------------------------------------------------------------

def _untrained_segmenter(protocol: Any, data_cfg: Mapping[str, Any], *, cache_dir: Path,
                         segmenter_checkpoint: str | os.PathLike | None) -> Any:
    """A randomly initialised segmenter of the protocol's architecture where building the protocol's own would
    train one (kind ``trained`` with ``auto_train``, no checkpoint given, none cached); else None."""
    spec = protocol.segmenter
    if spec is None or spec.kind != "trained" or segmenter_checkpoint is not None or spec.checkpoint is not None:
        return None
    from benchmark.datasets import dataset_info
    from metrics.segmentation import get_label_mapping
    from metrics.segmenters.deeplabv3 import DeepLabV3Segmenter
    from metrics.segmenters.train import WEIGHTS_FILE, protocol_training, segmenter_dir

    training, auto_train = protocol_training(spec)
    # where build_trained_segmenter looks (metric_throughput passes it the same data config and cache dir)
    if not auto_train or (segmenter_dir(cache_dir / "segmenters", data_cfg, training) / WEIGHTS_FILE).is_file():
        return None
    num_classes = get_label_mapping(protocol.label_mapping).num_classes or dataset_info(data_cfg).num_classes
    torch.manual_seed(training.seed)
    return DeepLabV3Segmenter(training.model_config(num_classes), name="sisbench-deeplabv3").eval()


def bench_metrics(protocol: str, data_cfg: Mapping[str, Any], out: Path, *, device: str | None = None,
                  cache_dir: str | os.PathLike | None = None, inception_weights: str | os.PathLike | None = None,
                  segmenter_checkpoint: str | os.PathLike | None = None, batch_size: int = 8,
                  num_batches: int = 3) -> Path:
    """Images/s of each of ``protocol``'s metrics; write ``<out>/bench/metrics_<dataset>_<protocol>.csv``.

    Metrics that cannot run (no Inception weights, no segmenter checkpoint) get a row with ``status``
    ``unavailable`` and the ``reason``. ``weights``: ``protocol`` (the protocol's own), ``given``
    (``inception_weights`` / ``segmenter_checkpoint``) or ``random-init`` (with a ``note``) where a randomly
    initialised segmenter stood in for one the protocol would train first. Runs in this process (no
    training, so nothing to isolate).
    """
    from benchmark.datasets import dataset_info
    from benchmark.evaluation import cache_root
    from benchmark.registry import METRICS
    from benchmark.trainer import DistInfo, pick_device
    from metrics.base import SEGMENTER
    from metrics.evaluate import metric_throughput
    from metrics.protocols import get_protocol

    proto = get_protocol(protocol)
    dataset = dataset_info(data_cfg).name
    if proto.dataset != dataset:
        raise ValueError(f"protocol {proto.id} is for dataset {proto.dataset!r}, not {dataset!r}")
    dev = pick_device(device, DistInfo())
    cache = Path(cache_dir) if cache_dir is not None else cache_root()
    segmenter = _untrained_segmenter(proto, data_cfg, cache_dir=cache, segmenter_checkpoint=segmenter_checkpoint)
    result = metric_throughput(proto, data_cfg=data_cfg, device=dev, cache_dir=cache, batch_size=batch_size,
                               num_batches=num_batches, inception_weights=inception_weights,
                               segmenter_checkpoint=segmenter_checkpoint, segmenter=segmenter)
    speed, unavailable = result["images_per_second"], result["unavailable"]
    names = list(proto.metrics) + [m for m in [*speed, *unavailable] if m not in proto.metrics]
    resolution = "x".join(map(str, result.get("resolution") or proto.resolution or ()))
    rows = []
    for name in names:
        if name in METRICS and SEGMENTER in METRICS.get(name).requires:
            weights = RANDOM_SEGMENTER if segmenter is not None else "given" if segmenter_checkpoint else "protocol"
        else:
            weights = "given" if inception_weights else "protocol"
        if name in speed:
            row = {"metric": name, "images_per_s": float(speed[name]), "status": "ok", "reason": "",
                   "note": RANDOM_SEGMENTER_NOTE if weights == RANDOM_SEGMENTER else ""}
            print(f"metric {name}: {speed[name]:.1f} images/s [{result['device']}, batch {batch_size}"
                  f"{', random-init segmenter' if weights == RANDOM_SEGMENTER else ''}]")
        else:
            reason = unavailable.get(name, "not measured")
            row = {"metric": name, "images_per_s": None, "status": "unavailable", "reason": reason, "note": ""}
            weights = ""
            print(f"metric {name}: unavailable ({reason})")
        rows.append({**row, "device": result["device"], "cuda": dev.type == "cuda", "batch_size": batch_size,
                     "num_batches": num_batches, "resolution": resolution, "weights": weights,
                     "protocol": proto.id, "protocol_version": proto.version, "dataset": dataset,
                     "torch": torch.__version__, "device_name": _device_name(dev)})
    columns = ["metric", "images_per_s", "device", "batch_size", "status", "reason"]
    frame = pd.DataFrame(rows)
    frame = frame[columns + [c for c in frame.columns if c not in columns]]
    path = Path(out) / "bench" / f"metrics_{dataset}_{proto.id}.csv"
    atomic_write_text(path, frame.to_csv(index=False))
    return path
