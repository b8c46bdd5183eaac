"""The one training loop every method runs under.

Per stage of the method (``Method.stages``): build its optimizers and learning-rate schedules, wrap the
stage's networks for DDP, then iterate ``train_step`` with explicit cadences for logging, sample grids and
checkpoints. Resuming restores weights, optimizers, schedules, loss scalers, EMA, RNG states and the data
position, so 10 + 10 resumed iterations give the weights of 20 straight ones.

An optional ``evaluator`` (the learning curve of ``run --eval-every``, :mod:`benchmark.curve`) is asked
after each iteration whether it is due, and then called with the method holding the weights generation
uses (EMA where kept), in eval mode, every RNG state saved before and restored after: training is the same
with and without it.
"""

from __future__ import annotations

import atexit
import copy
import csv
import io
import math
import os
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import torch
import torch.distributed as dist
from torch import nn
from torch.utils.data import DataLoader, Dataset, Sampler
from tqdm import tqdm

from benchmark import checkpoint as ckpt
from benchmark.datasets.base import DataInfo
from benchmark.io import atomic_write_text
from benchmark.registry import METHODS
from benchmark.stages import stage_iterations
from benchmark.step import LocalStepContext, NonFiniteLossError, open_stage
from benchmark.user_error import UserError
from methods.base import Method


class TrainingError(UserError, RuntimeError):
    """Training stopped; the message says why and what is intact."""


# -- distributed -------------------------------------------------------------------------------------

@dataclass(frozen=True)
class DistInfo:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def init_distributed(device: str | None = None) -> DistInfo:
    """Join the process group when launched by ``torchrun``, or as a SLURM job of several tasks under submitit
    (rank, world size and local rank from the job environment, the master on the job's first node, a port
    derived from the job id); gloo on CPU, nccl on GPU."""
    if os.environ.get("SUBMITIT_EXECUTOR") == "slurm" and "RANK" not in os.environ and \
            int(os.environ.get("SLURM_NTASKS", "1")) > 1:
        import submitit

        env = submitit.JobEnvironment()
        os.environ.setdefault("MASTER_ADDR", env.hostnames[0])
        os.environ.setdefault("MASTER_PORT", str(20000 + int(env.raw_job_id) % 20000))
        os.environ.update(RANK=str(env.global_rank), WORLD_SIZE=str(env.num_tasks), LOCAL_RANK=str(env.local_rank))
    if "RANK" not in os.environ or "WORLD_SIZE" not in os.environ or int(os.environ["WORLD_SIZE"]) < 2:
        return DistInfo()
    if not dist.is_initialized():
        use_cuda = torch.cuda.is_available() and device != "cpu"
        dist.init_process_group("nccl" if use_cuda else "gloo")
        atexit.register(close_distributed)
    return DistInfo(dist.get_rank(), dist.get_world_size(), int(os.environ.get("LOCAL_RANK", 0)))


def close_distributed() -> None:
    """Leave the process group (a no-op outside one or once left). :func:`init_distributed` registers it to run at
    exit: a process that ends with the group still open tears gloo's worker threads down during interpreter
    finalization, and one of them aborts the process (``terminate called without an active exception``,
    SIGABRT) even though training finished."""
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


# -- stopping on request (a scheduler's signal) -------------------------------------------------------

class TrainingPreempted(BaseException):
    """Training stopped on request (:func:`request_stop`) after writing a checkpoint; resuming the run continues
    exactly where it stopped. A ``BaseException``, like ``KeyboardInterrupt``: code that turns a run's errors
    into failed results lets it through."""


_STOP = {"requested": False, "loops": 0}


def request_stop() -> bool:
    """Ask the training loop running in this process to checkpoint after its current iteration and raise
    :class:`TrainingPreempted` (safe to call from a signal handler). Returns False, and asks nothing, when no
    training loop runs here (there is nothing to checkpoint)."""
    if _STOP["loops"] > 0:
        _STOP["requested"] = True
        return True
    return False


def pick_device(requested: str | None, dist_info: DistInfo) -> torch.device:
    if requested and requested != "auto":
        from benchmark.validate import check_device

        check_device(requested)  # one sentence for a name torch does not know, a GPU this machine lacks
        return torch.device(requested)
    if torch.cuda.is_available():
        return torch.device("cuda", dist_info.local_rank)
    return torch.device("cpu")


# -- data --------------------------------------------------------------------------------------------

class EpochBatchSampler(Sampler[list[tuple[int, int]]]):
    """Batches of ``(index, epoch)`` for iterations ``start..``: a seeded permutation per epoch, sharded by
    rank, so the data a given iteration sees depends on nothing but (seed, iteration)."""

    def __init__(self, length: int, batch_size: int, seed: int, start_iter: int = 0,
                 rank: int = 0, world_size: int = 1):
        per_step = batch_size * world_size
        if length < per_step:
            raise TrainingError(f"the training split has {length} images, fewer than one batch "
                                f"({batch_size} x {world_size} processes); lower train.batch_size")
        self.length, self.batch_size, self.seed = length, batch_size, seed
        self.start_iter, self.rank, self.world = start_iter, rank, world_size
        self.steps_per_epoch = length // per_step

    def __iter__(self) -> Iterator[list[tuple[int, int]]]:
        it = self.start_iter
        perm, perm_epoch = None, -1
        while True:
            epoch, pos = divmod(it, self.steps_per_epoch)
            if epoch != perm_epoch:
                g = torch.Generator().manual_seed(self.seed * 1_000_003 + epoch)
                perm, perm_epoch = torch.randperm(self.length, generator=g).tolist(), epoch
            start = (pos * self.world + self.rank) * self.batch_size
            yield [(i, epoch) for i in perm[start:start + self.batch_size]]
            it += 1

    def __len__(self) -> int:  # infinite; the trainer stops by iteration count
        return 2**62


class EpochIndexed(Dataset):
    """Lets an ``(index, epoch)`` pair reach the dataset, whose augmentation is seeded by both."""

    def __init__(self, dataset: Dataset):
        self.dataset = dataset

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, key: tuple[int, int]) -> dict[str, Any]:
        index, epoch = key
        if hasattr(self.dataset, "set_epoch"):
            self.dataset.set_epoch(epoch)
        return self.dataset[index]


def to_device(batch: Mapping[str, Any], device: torch.device) -> dict[str, Any]:
    return {k: v.to(device, non_blocking=True) if torch.is_tensor(v) else v for k, v in batch.items()}


def train_loader(train_set: Dataset, cfg: Mapping[str, Any], start_iter: int, device: torch.device,
                 dist_info: DistInfo | None = None) -> DataLoader:
    """The training batches from iteration ``start_iter`` on (every stage starts at 0)."""
    tcfg, dist_info = cfg["train"], dist_info or DistInfo()
    seed = int(cfg.get("seed", 0))
    sampler = EpochBatchSampler(len(train_set), int(tcfg["batch_size"]), seed, start_iter, dist_info.rank,
                                dist_info.world_size)
    workers = int(tcfg.get("num_workers", 0))
    # Its own generator: creating the loader's iterator must not draw from the global RNG, whose state
    # a resumed run has just restored.
    return DataLoader(EpochIndexed(train_set), batch_sampler=sampler, num_workers=workers,
                      pin_memory=device.type == "cuda", persistent_workers=workers > 0,
                      generator=torch.Generator().manual_seed(seed))


def first_batch(train_set: Dataset, cfg: Mapping[str, Any], device: torch.device,
                dist_info: DistInfo | None = None) -> dict[str, Any]:
    """The batch a stage's first iteration trains on (what the FLOP count measures)."""
    loader = train_loader(train_set, dict(cfg, train=dict(cfg["train"], num_workers=0)), 0, device, dist_info)
    return to_device(next(iter(loader)), device)


# -- schedules and EMA -------------------------------------------------------------------------------

def lr_lambda(schedule: Mapping[str, Any], total_iters: int):
    kind = schedule.get("type", "constant")
    if kind == "constant":
        return lambda it: 1.0
    if kind == "linear_decay":
        decay = max(1, int(round(total_iters * float(schedule.get("decay_fraction", 0.5)))))
        start = total_iters - decay
        return lambda it: 1.0 if it < start else max(0.0, (total_iters - it) / decay)
    raise TrainingError(f"unknown train.lr_schedule.type {kind!r}; valid types: constant, linear_decay")


class EMA:
    """Exponential moving averages of sub-networks (their parameters; buffers are copied)."""

    def __init__(self, networks: Mapping[str, nn.Module], decay: float):
        self.decay = decay
        self.shadow = {name: copy.deepcopy(m).eval().requires_grad_(False) for name, m in networks.items()}

    @torch.no_grad()
    def update(self, networks: Mapping[str, nn.Module]) -> None:
        for name, module in networks.items():
            shadow = self.shadow[name]
            for s, p in zip(shadow.parameters(), module.parameters(), strict=True):
                s.lerp_(p.detach(), 1.0 - self.decay)
            for s, b in zip(shadow.buffers(), module.buffers(), strict=True):
                s.copy_(b)

    def state_dict(self) -> dict[str, Any]:
        return {name: m.state_dict() for name, m in self.shadow.items()}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        for name, sd in state.items():
            self.shadow[name].load_state_dict(sd)


# -- logging -----------------------------------------------------------------------------------------

class TrainLog:
    """``train_log.csv``: one row per log interval (stage, iteration, losses, learning rates, it/s).

    Rows are kept in memory and the file is rewritten atomically, so columns may grow between stages and a
    resumed run drops the rows after its checkpoint."""

    def __init__(self, path: Path, resume_at: tuple[str, int] | None, stage_order: tuple[str, ...]):
        self.path = path
        self.rows: list[dict[str, Any]] = []
        if resume_at and path.is_file():
            stage, it = resume_at
            cut = stage_order.index(stage)
            for row in csv.DictReader(path.open()):
                s = stage_order.index(row["stage"]) if row["stage"] in stage_order else -1
                if s < cut or (s == cut and int(row["iteration"]) <= it):
                    self.rows.append({k: v for k, v in row.items() if v != ""})

    def append(self, row: Mapping[str, Any]) -> None:
        self.rows.append(dict(row))
        columns: list[str] = []
        for r in self.rows:
            columns += [k for k in r if k not in columns]
        buf = io.StringIO()
        writer = csv.DictWriter(buf, fieldnames=columns)
        writer.writeheader()
        writer.writerows(self.rows)
        atomic_write_text(self.path, buf.getvalue())


# -- the trainer -------------------------------------------------------------------------------------

@dataclass
class TrainResult:
    run_dir: Path
    method: Method
    info: DataInfo
    iterations: dict[str, int]
    seconds: float
    completed: bool = True


class Evaluator(Protocol):
    """What the trainer calls every so often (:class:`benchmark.curve.LearningCurve`)."""

    def due(self, stage: str, iteration: int, total: int) -> bool: ...

    def __call__(self, method: Method, stage: str, iteration: int) -> str: ...


def build_method(cfg: Mapping[str, Any], info: DataInfo) -> Method:
    cls = METHODS.get(cfg["method"])
    return cls(cfg, info)


@contextmanager
def ddp_wrapped(method: Method, names: tuple[str, ...], device: torch.device,
                dist_info: DistInfo) -> Iterator[dict[str, nn.Module]]:
    """Wrap each trained sub-network in its own DDP for the duration of a stage; unwrap afterwards."""
    raw = {name: getattr(method, name) for name in names}
    if dist_info.world_size == 1:
        yield raw
        return
    wrapped = {}
    for name, module in raw.items():
        if any(p.requires_grad for p in module.parameters()):
            ids = [device.index] if device.type == "cuda" else None
            wrapped[name] = nn.parallel.DistributedDataParallel(module, device_ids=ids)
        else:
            wrapped[name] = module
        setattr(method, name, wrapped[name])
    try:
        yield wrapped
    finally:
        for name, module in raw.items():
            setattr(method, name, module)


class Trainer:
    """Trains one method on one dataset into ``run_dir``."""

    def __init__(self, cfg: Mapping[str, Any], run_dir: Path, *, train_set: Dataset, info: DataInfo,
                 sample_batch: Mapping[str, Any] | None = None, device: str | None = None,
                 dist_info: DistInfo | None = None, progress: bool = True,
                 finalize_set: Dataset | None = None, evaluator: Evaluator | None = None):
        self.cfg = cfg
        self.tcfg = cfg["train"]
        self.run_dir = Path(run_dir)
        self.ckpt_dir = self.run_dir / "checkpoints"
        self.dist = dist_info or DistInfo()
        self.device = pick_device(device, self.dist)
        self.train_set = train_set
        self.info = info
        self.sample_batch = sample_batch
        self.finalize_set = finalize_set
        self.evaluator = evaluator
        self.progress = progress and self.dist.is_main
        amp = self.tcfg.get("amp", "off")
        if amp == "fp16" and self.device.type != "cuda":
            raise TrainingError("--amp fp16 needs a CUDA device; use --amp bf16 on CPU or --amp off")
        self.amp = amp
        seed = int(cfg.get("seed", 0))
        torch.manual_seed(seed + self.dist.rank)
        self.method = build_method(cfg, info).to(self.device)
        self.seed = seed

    def stage_iters(self, stage: str) -> int:
        return stage_iterations(self.cfg)[stage]

    def first_batch(self) -> dict[str, Any]:
        return first_batch(self.train_set, self.cfg, self.device, self.dist)

    def train(self, resume: bool = False, stop_after: int | None = None) -> TrainResult:
        """Train every stage to its configured length (resuming from the latest checkpoint if asked).

        ``stop_after``: run at most this many iterations in this call, then checkpoint and return with
        ``completed=False`` (a time-sliced job continues with ``resume=True``)."""
        method = self.method
        stages = tuple(method.stages)
        start_stage, start_iter, state = 0, 0, None
        if resume:
            ref = ckpt.latest_checkpoint(self.ckpt_dir)
            if ref is not None:
                ckpt.load_weights(method, ref.weights)
                state = ckpt.load_training_state(ref)
                start_stage, start_iter = stages.index(ref.stage), ref.iteration
        log = TrainLog(self.run_dir / "train_log.csv",
                       (stages[start_stage], start_iter) if state is not None else None, stages)
        writer = self._tensorboard()
        t0 = time.time()
        done: dict[str, int] = {}
        budget = [stop_after if stop_after is not None else -1]
        _STOP["requested"] = False
        for si in range(len(stages)):
            stage = stages[si]
            total = self.stage_iters(stage)
            if si < start_stage:
                done[stage] = total
                continue
            first = start_iter if si == start_stage else 0
            stage_state = state if (si == start_stage and state is not None) else None
            _STOP["loops"] += 1
            try:
                reached = self._run_stage(stage, first, total, stage_state, log, writer, budget)
            finally:
                _STOP["loops"] -= 1
            done[stage] = reached
            if reached < total:
                break
        if writer is not None:
            writer.close()
        completed = all(done.get(s) == self.stage_iters(s) for s in stages)
        if completed and self._stop_requested():  # asked during the last iteration: its checkpoint is written
            raise TrainingPreempted(f"training stopped on request at its end; the checkpoint in {self.ckpt_dir} "
                                    f"finishes it")
        if completed and self.finalize_set is not None and type(method).finalize is not Method.finalize:
            self._finalize(stages[-1])
        return TrainResult(self.run_dir, method, self.info, done, time.time() - t0, completed)

    def _tensorboard(self):
        if not self.tcfg.get("tensorboard") or not self.dist.is_main:
            return None
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError as exc:
            raise TrainingError("train.tensorboard=True needs the tensorboard package: "
                                "pip install tensorboard") from exc
        return SummaryWriter(str(self.run_dir / "tensorboard"))

    def _run_stage(self, stage: str, first: int, total: int, state: Mapping[str, Any] | None,
                   log: TrainLog, writer: Any, budget: list[int]) -> int:
        """Run ``stage`` from iteration ``first``; return the iterations completed (``total`` unless the
        call's iteration budget ran out first)."""
        method = self.method
        optimizers = open_stage(method, stage)
        fn = lr_lambda(self.tcfg.get("lr_schedule", {}), total)
        schedulers = {n: torch.optim.lr_scheduler.LambdaLR(o, fn) for n, o in optimizers.items()}
        names = tuple(method.networks_for(stage))
        ema_cfg = self.tcfg.get("ema") or {}
        ema_names = [n for n in method.ema_networks if n in names] if ema_cfg.get("enabled") else []
        ema = EMA({n: getattr(method, n) for n in ema_names}, float(ema_cfg.get("decay", 0.999))) \
            if ema_names else None
        with ddp_wrapped(method, names, self.device, self.dist) as nets:
            ctx = LocalStepContext(optimizers, nets, self.device, self.amp, self.tcfg.get("grad_clip"), stage)
            ctx.steps_per_epoch = len(self.train_set) // (int(self.tcfg["batch_size"]) * self.dist.world_size)
            if state is not None:
                for n, o in optimizers.items():
                    o.load_state_dict(state["optimizers"][n])
                for n, s in schedulers.items():
                    s.load_state_dict(state["schedulers"][n])
                ctx.load_state_dict(state.get("scalers", {}))
                if ema is not None and state.get("ema"):
                    ema.load_state_dict(state["ema"])
                ckpt.set_rng_state(state["rng"])
            if first >= total:
                self._finish_stage(stage, total, optimizers, schedulers, ctx, ema)
                return total
            loader = self._loader(first)
            bar = tqdm(total=total, initial=first, desc=f"{self.cfg['method']}:{stage}", unit="it",
                       disable=not self.progress, dynamic_ncols=True, mininterval=1.0)
            stage_t0 = last_log_t = time.time()
            last_log_it = first
            batches = iter(loader)
            for it in range(first, total):
                batch = to_device(next(batches), self.device)
                ctx.iteration = it
                try:
                    with ctx.step_scope():
                        losses = method.train_step(batch, ctx)
                    for name, value in losses.items():
                        if not math.isfinite(float(value)):
                            raise NonFiniteLossError(name, float(value))
                except NonFiniteLossError as exc:
                    bar.close()
                    latest = ckpt.latest_checkpoint(self.ckpt_dir)
                    kept = f"the last good checkpoint {latest.weights} is intact" if latest else \
                        "no checkpoint had been written yet"
                    raise TrainingError(
                        f"training stopped at {stage} iteration {it + 1}: loss term {exc.term!r} is {exc.value}; "
                        f"{kept}. Lower the learning rate (--set optimizer.lr_G=...) or turn off --amp."
                    ) from exc
                for s in schedulers.values():
                    s.step()
                if ema is not None and it >= int(ema_cfg.get("start_iter", 0)):
                    ema.update({n: _raw(nets[n]) for n in ema_names})
                n_done = it + 1
                bar.update(1)
                if n_done % int(self.tcfg["log_interval"]) == 0 or n_done == total:
                    now = time.time()
                    ips = (n_done - last_log_it) / max(now - last_log_t, 1e-9)
                    last_log_t, last_log_it = now, n_done
                    row = {"stage": stage, "iteration": n_done, **{k: float(v) for k, v in losses.items()},
                           **{f"lr_{n}": o.param_groups[0]["lr"] for n, o in optimizers.items()},
                           "it_per_s": round(ips, 4), "elapsed_s": round(now - stage_t0, 2)}
                    bar.set_postfix({k: f"{float(v):.3g}" for k, v in list(losses.items())[:4]})
                    if self.dist.is_main:
                        log.append(row)
                        if writer is not None:
                            for k, v in losses.items():
                                writer.add_scalar(f"{stage}/{k}", float(v), n_done)
                if self.dist.is_main and self.sample_batch is not None and \
                        (n_done % int(self.tcfg["sample_interval"]) == 0 or n_done == total):
                    self.write_samples(stage, n_done, ema)
                if self.dist.is_main and self.evaluator is not None and self.evaluator.due(stage, n_done, total):
                    with self.generating(ema):
                        bar.write(self.evaluator(self.method, stage, n_done))
                budget[0] -= 1
                if budget[0] == 0 and n_done != total:
                    bar.close()
                    self._save(stage, n_done, optimizers, schedulers, ctx, ema)
                    return n_done
                if n_done % int(self.tcfg["checkpoint_interval"]) == 0 and n_done != total:
                    self._save(stage, n_done, optimizers, schedulers, ctx, ema)
                if n_done != total and self._stop_requested():
                    bar.close()
                    self._save(stage, n_done, optimizers, schedulers, ctx, ema)
                    raise TrainingPreempted(f"training stopped on request at {stage} iteration {n_done} of {total}; "
                                            f"the checkpoint in {self.ckpt_dir} resumes it")
            bar.close()
            self._finish_stage(stage, total, optimizers, schedulers, ctx, ema)
            return total

    def _stop_requested(self) -> bool:
        """Whether :func:`request_stop` was called (in any process of a DDP job: they stop together)."""
        flag = bool(_STOP["requested"])
        if self.dist.world_size > 1:
            t = torch.tensor([1.0 if flag else 0.0], device=self.device)
            dist.all_reduce(t, op=dist.ReduceOp.MAX)
            flag = bool(t.item())
        _STOP["requested"] = False if flag else _STOP["requested"]
        return flag

    def _finish_stage(self, stage, total, optimizers, schedulers, ctx, ema) -> None:
        self._save(stage, total, optimizers, schedulers, ctx, ema)
        if ema is not None:
            self.apply_ema(ema)
        self.method.on_stage_end(stage)

    def _finalize(self, stage: str) -> None:
        """Let the method fit what it fits after training (pix2pixHD's feature clusters), then re-save the
        final checkpoint so it carries the result."""
        loader = DataLoader(self.finalize_set, batch_size=int(self.tcfg["batch_size"]), shuffle=False)
        self.method.eval()
        self.method.finalize({k: v.to(self.device) if torch.is_tensor(v) else v for k, v in b.items()}
                              for b in loader)
        if not self.dist.is_main:
            return
        ref = ckpt.latest_checkpoint(self.ckpt_dir)
        assert ref is not None and ref.stage == stage
        state = ckpt.load_training_state(ref)
        with unwrapped(self.method):
            ckpt.save_checkpoint(self.ckpt_dir, self.method, stage, ref.iteration, state,
                                 keep=int(self.tcfg.get("keep_checkpoints", 0)) or None)

    def apply_ema(self, ema: EMA) -> None:
        """Load the EMA weights into the method (what generation uses once training is over)."""
        for name, shadow in ema.shadow.items():
            getattr(self.method, name).load_state_dict(shadow.state_dict())

    def _loader(self, start_iter: int) -> DataLoader:
        return train_loader(self.train_set, self.cfg, start_iter, self.device, self.dist)

    def _save(self, stage, iteration, optimizers, schedulers, ctx, ema) -> None:
        if not self.dist.is_main:
            return
        state = {
            "optimizers": {n: o.state_dict() for n, o in optimizers.items()},
            "schedulers": {n: s.state_dict() for n, s in schedulers.items()},
            "scalers": ctx.state_dict(),
            "ema": ema.state_dict() if ema is not None else {},
            "rng": ckpt.rng_state(),
        }
        clock = getattr(self, "clock", None)  # the run's training seconds so far (benchmark.pipeline.train_run)
        if clock is not None:
            state["train_s"] = float(clock())
        with unwrapped(self.method):
            ckpt.save_checkpoint(self.ckpt_dir, self.method, stage, iteration, state,
                                 keep=int(self.tcfg.get("keep_checkpoints", 0)) or None)

    @contextmanager
    def generating(self, ema: EMA | None = None) -> Iterator[None]:
        """The method as generation sees it mid-training: unwrapped from DDP, EMA weights loaded where kept,
        eval mode; afterwards the training weights, mode and every RNG state are back."""
        method = self.method
        was_training = method.training
        rng = ckpt.rng_state()
        with unwrapped(method):
            state = None
            if ema is not None:
                state = {n: copy.deepcopy(getattr(method, n).state_dict()) for n in ema.shadow}
                self.apply_ema(ema)
            method.eval()
            try:
                yield
            finally:
                if state is not None:
                    for n, sd in state.items():
                        getattr(method, n).load_state_dict(sd)
                method.train(was_training)
                ckpt.set_rng_state(rng)

    @torch.no_grad()
    def write_samples(self, stage: str, iteration: int, ema: EMA | None = None) -> Path:
        """A grid of label | real | generated rows for the fixed sample batch."""
        from benchmark.visualize import sample_grid

        with self.generating(ema):
            batch = to_device(self.sample_batch, self.device)
            torch.manual_seed(self.seed)
            fake = self.method.generate(batch)
        path = self.run_dir / "samples" / f"{stage}_{iteration:08d}.png"
        sample_grid(batch["label"], batch["image"], [fake], self.info, path)
        return path


def _raw(module: nn.Module) -> nn.Module:
    return module.module if isinstance(module, nn.parallel.DistributedDataParallel) else module


@contextmanager
def unwrapped(method: nn.Module) -> Iterator[None]:
    """Temporarily replace DDP wrappers by the modules they hold (for state dicts and generation)."""
    swapped = {}
    for name, child in method.named_children():
        if isinstance(child, nn.parallel.DistributedDataParallel):
            swapped[name] = child
            setattr(method, name, child.module)
    try:
        yield
    finally:
        for name, child in swapped.items():
            setattr(method, name, child)
