"""The Method interface: what every synthesis method implements to run under the one trainer.

A method owns its science (networks, losses, the order of its D/G updates); the trainer owns everything
else (devices, DDP, mixed precision, loss scaling, clipping, schedules, EMA, checkpoints, logging).

Contract for ``train_step(batch, ctx)``:

- compute forward passes inside ``with ctx.autocast():``;
- call ``ctx.backward(losses, "G")`` with a dict of named loss terms (they are summed; a NaN/inf term
  stops training naming that term, before any weight changes), then ``ctx.step("G")``;
- run a network whose parameters must not receive gradients (the discriminator in the generator step)
  inside ``with ctx.frozen("D"):``;
- return the loss values to log as ``{name: float}``.

A method never calls ``.backward()`` or ``optimizer.step()`` itself and never moves tensors between
devices: batches arrive on the method's device.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from contextlib import AbstractContextManager
from typing import Any, ClassVar, Protocol

import torch
from torch import Tensor, nn

from benchmark.datasets.base import DataInfo


class StepContext(Protocol):
    """What the trainer offers a method inside ``train_step``."""

    iteration: int  # 0-based iteration within the current stage
    stage: str
    device: torch.device
    steps_per_epoch: int | None  # iterations per epoch of the training split (None outside a trainer)

    def autocast(self) -> AbstractContextManager: ...

    def backward(self, losses: Tensor | Mapping[str, Tensor], optimizer: str) -> Tensor: ...

    def step(self, optimizer: str) -> None: ...

    def frozen(self, network: str | Iterable[Tensor]) -> AbstractContextManager:
        """Parameters get no gradient inside: a sub-network's name, an optimizer's name or the parameters."""
        ...


class Method(nn.Module):
    """Base class of every synthesis method.

    Subclasses define ``name``, ``description``, ``networks`` (the attribute names of their sub-networks,
    e.g. ``("netG", "netD")``; the trainer wraps each one in DDP separately) and implement
    ``configure_optimizers``, ``train_step`` and ``generate``. ``__init__(cfg, data)`` receives the
    whole resolved config (``cfg["model"]``, ``cfg["loss"]``, ``cfg["optimizer"]``, ...) and the dataset's
    :class:`DataInfo`. Hooks the trainer always calls, no-ops here: :meth:`on_stage_start` /
    :meth:`on_stage_end` (e.g. freezing a network trained in an earlier stage) and :meth:`finalize` (fit what
    is fitted on the training set after training). Optional: ``generate_samples(batch, k)`` (k images per
    label at once).
    """

    name: ClassVar[str]
    #: the name tables and figures print (e.g. "OASIS"); empty: the registry name
    display_name: ClassVar[str] = ""
    description: ClassVar[str] = ""
    stages: ClassVar[tuple[str, ...]] = ("main",)
    #: sub-networks per stage that train (the trainer wraps them for DDP); default: all of ``networks``
    networks: ClassVar[tuple[str, ...]] = ("netG", "netD")
    #: sub-networks an EMA copy is kept of when ``train.ema`` is enabled; generate() then uses it
    ema_networks: ClassVar[tuple[str, ...]] = ("netG",)
    #: whether generate() produces several different images per label (z, style or k outputs)
    multimodal: ClassVar[bool] = False
    #: the most images per label map ``generate`` can give (e.g. CRN's k outputs); None: no limit
    max_samples: ClassVar[int | None] = None
    #: the sub-networks ``generate()`` runs to make the evaluation images (z sampled, no style image): what
    #: "the generator's parameters" count (manifest ``compute.params_G_M``). Discriminators, style or
    #: feature encoders used only with a style image, and loss networks (VGG) are not part of it.
    generator_networks: ClassVar[tuple[str, ...]] = ("netG",)

    def __init__(self, cfg: Mapping[str, Any], data: DataInfo):
        super().__init__()
        self.cfg = cfg
        self.data = data

    def networks_for(self, stage: str) -> tuple[str, ...]:
        """The sub-networks trained in ``stage``."""
        return self.networks

    def on_stage_start(self, stage: str) -> None:
        """Called at the start of every stage, before :meth:`configure_optimizers`, also when training
        resumes inside the stage (e.g. SLNP-GAN freezes its noise prior at the start of ``main``)."""

    def on_stage_end(self, stage: str) -> None:
        """Called when a stage has run all its iterations, after its final checkpoint and EMA weights."""

    def configure_optimizers(self, stage: str) -> dict[str, torch.optim.Optimizer]:
        raise NotImplementedError

    def train_step(self, batch: dict[str, Any], ctx: StepContext) -> dict[str, float]:
        raise NotImplementedError

    @torch.no_grad()
    def generate(self, batch: dict[str, Any], *, z: Tensor | None = None,
                 style: Tensor | None = None) -> Tensor:
        """Images ``[B, 3, H, W]`` in ``[-1, 1]`` for ``batch["label"]`` (and ``batch["instance"]``)."""
        raise NotImplementedError

    def finalize(self, batches: Iterable[dict[str, Any]]) -> None:
        """Called once after the last training iteration with the (un-augmented) training split, before
        the final checkpoint is written; e.g. pix2pixHD fits its per-class feature clusters here."""

    def extra_info(self) -> dict[str, Any]:
        """Provenance the manifest records (e.g. where perceptual-loss weights came from)."""
        return {}

    @classmethod
    def from_official(cls, path: str, cfg: Mapping[str, Any], data: DataInfo) -> Method:
        raise NotImplementedError(f"{cls.name} has no official checkpoint loader")


def count_parameters(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def generator_parameters(method: Method) -> int:
    """Parameters of the networks :attr:`Method.generator_networks` names (what ``generate()`` runs)."""
    return sum(count_parameters(getattr(method, name)) for name in method.generator_networks)
