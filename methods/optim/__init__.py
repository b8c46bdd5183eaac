"""Optimizers a method can select from its config (``optimizer.type``)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import torch

OPTIMIZER_TYPES = ("Adam", "AMM")


def build_optimizer(params: Iterable[torch.nn.Parameter], cfg: Mapping[str, Any], which: str) -> torch.optim.Optimizer:
    """Build the optimizer of sub-network ``which`` ("G", "D", ...) from the ``optimizer`` config section.

    The section holds ``type`` (``Adam`` or ``AMM``), ``lr_<which>`` (falling back to ``lr``), ``betas``
    and, for AMM, ``alpha`` and ``delta``. ``Adam`` here is ``torch.optim.Adam`` (the official code of
    SPADE and pix2pixHD). SLNP-GAN does not use this function: its "Adam" is Table 1's (AMM with
    alpha = 0), built by :func:`methods.optim.amm.table1_optimizer`.
    """
    kind = cfg.get("type", "Adam")
    lr = cfg.get(f"lr_{which}", cfg.get("lr"))
    if lr is None:
        raise ValueError(f"optimizer config has neither lr_{which} nor lr")
    betas = tuple(cfg.get("betas", (0.9, 0.999)))
    params = [p for p in params if p.requires_grad]
    if kind == "Adam":
        return torch.optim.Adam(params, lr=lr, betas=betas, eps=cfg.get("eps", 1e-8))
    if kind == "AMM":
        from methods.optim.amm import AMM

        return AMM(params, lr=lr, betas=betas, delta=cfg.get("delta", 1e-8), alpha=cfg.get("alpha", 0.9))
    raise ValueError(f"unknown optimizer.type {kind!r}; valid types: {', '.join(OPTIMIZER_TYPES)}")
