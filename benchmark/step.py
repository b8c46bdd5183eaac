"""The StepContext the trainer hands to ``Method.train_step``: autocast, backward, step, frozen networks.

This is where mixed precision, loss scaling, gradient clipping, the NaN guard and the distributed gradient
reduction live, so that no method touches them.

Distributed training: every trained sub-network is wrapped in its own ``DistributedDataParallel``, but
the whole ``train_step`` runs under each wrapper's ``no_sync()`` and gradients are averaged across ranks
explicitly in :meth:`LocalStepContext.step`. Why: GAN steps call a network several times per backward
(real and fake through D), and call D with frozen parameters in the generator step; DDP's reducer assumes
one forward per backward with every parameter receiving a gradient, and fails otherwise. Reducing at the
optimizer step is the same arithmetic (the mean gradient over ranks) without that assumption; DDP still
broadcasts parameters at wrap time and buffers (e.g. BatchNorm statistics) at every forward.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import AbstractContextManager, ExitStack, contextmanager, nullcontext
from typing import TYPE_CHECKING, Any

import torch
import torch.distributed as dist
from torch import Tensor, nn
from torch._utils import _flatten_dense_tensors, _unflatten_dense_tensors

if TYPE_CHECKING:
    from methods.base import Method

AMP_MODES = ("off", "bf16", "fp16")


class NonFiniteLossError(FloatingPointError):
    """A loss term became NaN or inf; raised before the weights change."""

    def __init__(self, term: str, value: float):
        super().__init__(f"loss term {term!r} is {value}")
        self.term = term
        self.value = value


class LocalStepContext:
    """The trainer's implementation of :class:`methods.base.StepContext`.

    ``networks`` maps attribute names of the method (``"netG"``) to the modules the method calls
    (possibly DDP wrappers); ``optimizers`` maps optimizer names (``"G"``) to optimizers.
    """

    def __init__(self, optimizers: Mapping[str, torch.optim.Optimizer], networks: Mapping[str, nn.Module],
                 device: torch.device | str = "cpu", amp: str = "off", grad_clip: float | None = None,
                 stage: str = "main"):
        if amp not in AMP_MODES:
            raise ValueError(f"unknown AMP mode {amp!r}; valid modes: {', '.join(AMP_MODES)}")
        self.optimizers = dict(optimizers)
        self.networks = dict(networks)
        self.device = torch.device(device)
        self.amp = amp
        self.grad_clip = grad_clip
        self.stage = stage
        self.iteration = 0
        # iterations per epoch of the training split (the trainer sets it; None outside a trainer), for
        # methods whose schedule counts epochs (pix2pixHD's niter_fix_global)
        self.steps_per_epoch: int | None = None
        self.distributed = dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1
        # fp16 needs loss scaling, one scaler per optimizer so that a skipped D step does not skip G's.
        self.scalers = {name: torch.amp.GradScaler(self.device.type) for name in self.optimizers} \
            if amp == "fp16" else {}

    # -- what methods call ---------------------------------------------------------------------------
    def autocast(self):
        if self.amp == "off":
            return nullcontext()
        dtype = torch.bfloat16 if self.amp == "bf16" else torch.float16
        return torch.autocast(device_type=self.device.type, dtype=dtype)

    def backward(self, losses: Tensor | Mapping[str, Tensor], optimizer: str) -> Tensor:
        """Sum the named loss terms, refuse NaN/inf (naming the term), and backpropagate."""
        if optimizer not in self.optimizers:
            raise KeyError(f"no optimizer {optimizer!r}; this stage has {sorted(self.optimizers)}")
        terms = losses if isinstance(losses, Mapping) else {f"{optimizer}_total": losses}
        total = None
        for name, value in terms.items():
            v = float(value.detach().float())
            if not math.isfinite(v):
                raise NonFiniteLossError(name, v)
            total = value.float() if total is None else total + value.float()
        if total is None:
            raise ValueError("backward() got no loss terms")
        scaler = self.scalers.get(optimizer)
        (scaler.scale(total) if scaler is not None else total).backward()
        return total.detach()

    def step(self, optimizer: str) -> None:
        """Average gradients over ranks, unscale, clip, step and zero the gradients of one optimizer."""
        opt = self.optimizers[optimizer]
        params = [p for group in opt.param_groups for p in group["params"]]
        if self.distributed:
            _all_reduce_mean([p.grad for p in params if p.grad is not None])
        scaler = self.scalers.get(optimizer)
        if self.grad_clip is not None:
            if scaler is not None:
                scaler.unscale_(opt)
            torch.nn.utils.clip_grad_norm_(params, self.grad_clip)
        if scaler is not None:
            scaler.step(opt)
            scaler.update()
        else:
            opt.step()
        opt.zero_grad(set_to_none=True)

    @contextmanager
    def frozen(self, network: str | Iterable[Tensor]) -> Iterator[None]:
        """Run a network without accumulating gradients into its parameters (e.g. D in the G step).

        ``network`` is a sub-network's attribute name (``"netD"``), an optimizer's name (``"D"``: the
        parameters that optimizer updates) or the parameters themselves (part of a network, e.g. the global
        generator pix2pixHD keeps fixed while its local enhancer trains)."""
        if not isinstance(network, str):
            candidates = list(network)
        elif network in self.networks:
            candidates = list(self.networks[network].parameters())
        elif network in self.optimizers:
            candidates = [p for g in self.optimizers[network].param_groups for p in g["params"]]
        else:
            raise KeyError(f"no network or optimizer {network!r}; networks: {sorted(self.networks)}, "
                           f"optimizers: {sorted(self.optimizers)}")
        params = [p for p in candidates if p.requires_grad]
        for p in params:
            p.requires_grad_(False)
        try:
            yield
        finally:
            for p in params:
                p.requires_grad_(True)

    # -- what the trainer calls ----------------------------------------------------------------------
    @contextmanager
    def step_scope(self) -> Iterator[None]:
        """The scope of one ``train_step``: DDP reduction deferred to :meth:`step`."""
        with ExitStack() as stack:
            for module in self.networks.values():
                if isinstance(module, nn.parallel.DistributedDataParallel):
                    stack.enter_context(module.no_sync())
            yield

    def state_dict(self) -> dict[str, Any]:
        return {name: s.state_dict() for name, s in self.scalers.items()}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        for name, s in self.scalers.items():
            if name in state:
                s.load_state_dict(state[name])


# -- the stage protocol ------------------------------------------------------------------------------------

def open_stage(method: Method, stage: str) -> dict[str, torch.optim.Optimizer]:
    """How every stage starts (the trainer, the FLOP count and the smoke test): the method's
    ``on_stage_start`` hook, train mode, then the stage's optimizers."""
    method.on_stage_start(stage)
    method.train()
    return method.configure_optimizers(stage)


def step_each_stage(method: Method, batch: Mapping[str, Any], *, device: torch.device | str = "cpu",
                    amp: str = "off", grad_clip: float | None = None, steps_per_epoch: int | None = None,
                    around_step: Callable[[str, Mapping[str, torch.optim.Optimizer]],
                                          AbstractContextManager] | None = None) -> dict[str, dict[str, float]]:
    """Every stage of ``method`` in order, one ``train_step`` on ``batch`` each (iteration 0), as the trainer
    runs a stage: :func:`open_stage`, a :class:`LocalStepContext` over the stage's networks, the step inside
    its :meth:`~LocalStepContext.step_scope`, then ``on_stage_end``. ``around_step(stage, optimizers)``, if
    given, is a context manager entered around each step (the FLOP counter; the smoke test's checks).
    Returns each stage's logged losses."""
    losses: dict[str, dict[str, float]] = {}
    for stage in method.stages:
        optimizers = open_stage(method, stage)
        networks = {name: getattr(method, name) for name in method.networks_for(stage)}
        ctx = LocalStepContext(optimizers, networks, device, amp, grad_clip, stage)
        ctx.iteration, ctx.steps_per_epoch = 0, steps_per_epoch
        with around_step(stage, optimizers) if around_step is not None else nullcontext(), ctx.step_scope():
            losses[stage] = method.train_step(dict(batch), ctx)
        method.on_stage_end(stage)
    return losses


def _all_reduce_mean(grads: list[Tensor]) -> None:
    if not grads:
        return
    world = dist.get_world_size()
    flat = _flatten_dense_tensors(grads)
    dist.all_reduce(flat)
    flat.div_(world)
    for g, reduced in zip(grads, _unflatten_dense_tensors(flat, grads), strict=True):
        g.copy_(reduced)
