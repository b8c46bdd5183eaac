"""AMM, Adam with momentum: the optimizer of SLNP-GAN.

Zhang, Ni, Zhou & Hou, "Image generation based on semantic labels and noise prior" (SLNP-GAN), Journal of
Computer Applications 2020, Sec. 1.4, Eqs. (21)-(22) and Table 1. Per parameter, at step ``t``:

    m_t = beta1 * m_{t-1} + (1 - beta1) * g_t          m_hat = m_t / (1 - beta1^t)     (21)
    v_t = beta2 * v_{t-1} + (1 - beta2) * g_t^2        v_hat = v_t / (1 - beta2^t)     (22)
    P_t = alpha * P_{t-1} + lr * m_hat / sqrt(v_hat + delta)                           (Table 1)
    theta_t = theta_{t-1} - P_t

Decisions:

- ``delta`` sits *inside* the square root, as Table 1 writes the Adam direction
  ``m_hat / sqrt(v_hat + delta)`` for both algorithms (torch's Adam adds its ``eps`` outside the root);
- ``P_0 = 0``, so the first update is ``lr`` times the Adam direction (Table 1's "initial direction");
- the defaults are Sec. 2.1's: beta1 0.9, beta2 0.999, delta 1e-8, alpha 0.9 (the paper's omega); the
  learning rate (eta) is the caller's, SLNP-GAN uses 1e-4 for G and 4e-4 for D (Sec. 2.1 also mentions
  eta = 0.001 as an initial value; the project follows the per-network rates, docs/methods.md);
- the state is plain per-parameter tensors (``step``, ``exp_avg``, ``exp_avg_sq``, ``momentum``), so it
  works unchanged under DDP (every rank holds the same averaged gradient) and under
  ``torch.amp.GradScaler`` (``scaler.step`` unscales the gradients, then calls :meth:`step`);
- for float16/bfloat16 parameters the state and the arithmetic are float32 (the second moment of small
  gradients underflows in half precision); the result is rounded to the parameter's dtype only when
  applied. :meth:`load_state_dict` keeps that float32 state (torch's default loader would cast it to the
  parameter's dtype);
- no weight decay and no ``amsgrad``/``maximize`` variants: Table 1 has none;
- ``step`` is a Python int, so checkpoints load with ``torch.load(weights_only=True)``;
- Table 1's Adam column (``theta_t = theta_{t-1} - lr * m_hat / sqrt(v_hat + delta)``) is this recurrence
  with ``alpha = 0``; :func:`table1_optimizer` builds either column, so SLNP-GAN's Adam-vs-AMM comparison
  (Figs. 13-14) differs in the momentum term only. ``torch.optim.Adam`` is not that Adam: it adds its eps
  outside the root, and at ``|g| = 1e-5`` (delta = 1e-8) its first step is 10x Table 1's.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from itertools import chain
from typing import Any

import torch
from torch import Tensor
from torch.optim import Optimizer

_LOW_PRECISION = (torch.float16, torch.bfloat16)


def _state_dtype(param: Tensor) -> torch.dtype:
    return torch.float32 if param.dtype in _LOW_PRECISION else param.dtype


class AMM(Optimizer):
    """Adam with momentum (SLNP-GAN Table 1): ``P_t = alpha P_{t-1} + lr m_hat / sqrt(v_hat + delta)``,
    ``theta -= P_t``. See the module docstring for every decision."""

    def __init__(self, params: Iterable[Tensor] | Iterable[dict[str, Any]], lr: float = 1e-4,
                 betas: tuple[float, float] = (0.9, 0.999), delta: float = 1e-8, alpha: float = 0.9):
        if lr < 0:
            raise ValueError(f"AMM learning rate must be >= 0, got {lr}")
        if not (0.0 <= betas[0] < 1.0 and 0.0 <= betas[1] < 1.0):
            raise ValueError(f"AMM betas must lie in [0, 1), got {betas}")
        if delta <= 0:
            raise ValueError(f"AMM delta must be > 0, got {delta}")
        if not 0.0 <= alpha < 1.0:
            raise ValueError(f"AMM alpha must lie in [0, 1), got {alpha}")
        super().__init__(params, dict(lr=lr, betas=tuple(betas), delta=delta, alpha=alpha))

    @torch.no_grad()
    def step(self, closure: Callable[[], float] | None = None) -> float | None:
        """One AMM update of every parameter that has a gradient."""
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            lr, alpha, delta = group["lr"], group["alpha"], group["delta"]
            beta1, beta2 = group["betas"]
            for p in group["params"]:
                if p.grad is None:
                    continue
                if p.grad.is_sparse:
                    raise RuntimeError("AMM does not support sparse gradients")
                state = self.state[p]
                dtype = _state_dtype(p)
                if not state:
                    state["step"] = 0
                    for key in ("exp_avg", "exp_avg_sq", "momentum"):
                        state[key] = torch.zeros_like(p, dtype=dtype, memory_format=torch.preserve_format)
                grad = p.grad.to(dtype)
                state["step"] += 1
                t = state["step"]
                m, v, momentum = state["exp_avg"], state["exp_avg_sq"], state["momentum"]
                m.mul_(beta1).add_(grad, alpha=1 - beta1)
                v.mul_(beta2).addcmul_(grad, grad, value=1 - beta2)
                adam_direction = (m / (1 - beta1 ** t)) / (v / (1 - beta2 ** t)).add_(delta).sqrt_()
                momentum.mul_(alpha).add_(adam_direction, alpha=lr)
                if p.dtype == dtype:
                    p.sub_(momentum)
                else:
                    p.copy_(p.to(dtype).sub_(momentum))
        return loss

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Load as :class:`torch.optim.Optimizer` does, keeping float32 state for half-precision params."""
        super().load_state_dict(state_dict)
        saved_ids = chain.from_iterable(g["params"] for g in state_dict["param_groups"])
        params = chain.from_iterable(g["params"] for g in self.param_groups)
        for saved_id, p in zip(saved_ids, params, strict=True):
            dtype = _state_dtype(p)
            if dtype == p.dtype:
                continue
            for key, value in state_dict["state"].get(saved_id, {}).items():
                if isinstance(value, Tensor) and value.is_floating_point():
                    self.state[p][key] = value.to(device=p.device, dtype=dtype, copy=True)


#: the two columns of Table 1, the values of SLNP-GAN's ``optimizer.type``
TABLE1_TYPES = ("AMM", "Adam")


def table1_optimizer(params: Iterable[Tensor], cfg: Mapping[str, Any], which: str, kind: str) -> AMM:
    """One of Table 1's optimizers for sub-network ``which`` (``"G"``, ``"D"``, ``"VAE"``).

    ``kind`` "AMM": :class:`AMM` with ``cfg["alpha"]``; "Adam": the same recurrence with ``alpha = 0``
    (Table 1's Adam column, delta inside the square root). The learning rate is ``cfg["lr_<which>"]``;
    ``betas`` and ``delta`` come from ``cfg`` for both kinds, so the kind changes the momentum only.
    Parameters with ``requires_grad`` False (a frozen network) are left out.
    """
    if kind not in TABLE1_TYPES:
        raise ValueError(f"unknown optimizer.type {kind!r}; valid types: {', '.join(TABLE1_TYPES)} "
                         f"(\"Adam\" is Table 1's Adam: AMM with alpha = 0)")
    key = f"lr_{which}"
    if key not in cfg:
        raise ValueError(f"the optimizer config has no {key}; set optimizer.{key}")
    alpha = float(cfg.get("alpha", 0.9)) if kind == "AMM" else 0.0
    return AMM([p for p in params if p.requires_grad], lr=float(cfg[key]),
               betas=tuple(cfg.get("betas", (0.9, 0.999))), delta=float(cfg.get("delta", 1e-8)), alpha=alpha)
