"""SDM's diffusion: the linear 1,000-step schedule, the hybrid loss, respacing, and the samplers.

Sampling runs on ``diffusers``' schedulers (:class:`diffusers.DDPMScheduler` with ``variance_type=
"learned_range"`` and :class:`diffusers.DDIMScheduler`), whose step arithmetic is guided-diffusion's. Three
things diffusers does not do the way guided-diffusion does, each written here once and checked against the
official code in ``tests/test_sdm_diffusion.py`` (float64):

1. **Precision of the tables.** diffusers builds betas and cumulative alphas in float32; guided-diffusion
   computes them in float64 (numpy) and casts each coefficient to float32 when it is used.
   :func:`build_scheduler` rebuilds the scheduler's ``betas``, ``alphas`` and ``alphas_cumprod`` from its own
   config in float64, so the steps run on guided-diffusion's numbers.
2. **Respacing** (:func:`space_timesteps`). guided-diffusion's ``timestep_respacing="N"`` walks a float stride
   ``(T - 1) / (N - 1)`` by repeated addition and rounds each partial sum; diffusers' ``"linspace"`` spacing
   rounds ``i * (T - 1) / (N - 1)`` directly. The two disagree for 278 of the counts 1..1000 (e.g. 21, 23, 31),
   so the official timesteps are computed here and handed to ``DDPMScheduler.set_timesteps(timesteps=...)``.
   Respaced betas ``1 - abar_t / abar_prev`` are then exactly what diffusers' step derives from the
   consecutive timesteps. DDIM (``"ddimN"``: stride ``T / N``) agrees with diffusers' ``"leading"`` spacing
   whenever ``N`` divides ``T``; other counts are refused.
3. **The variational bound** (:meth:`GaussianDiffusion.training_losses`). diffusers has no training losses.
   The learned-range variance of the loss interpolates ``log beta_t`` and the *clipped* posterior
   log-variance (at ``t = 0`` the posterior variance of ``t = 1``), where diffusers' ``_get_variance`` clamps
   the zero variance at ``t = 0`` to ``1e-20``; sampling never uses that entry (no noise is added at the last
   step) but the decoder likelihood of ``L_vlb`` at ``t = 0`` does.

The loss (Nichol & Dhariwal's hybrid, as SDM trains): ``L_simple`` = mean squared error of the predicted
noise, plus ``L_vlb`` in bits per dimension from the learned variance with the mean's gradient stopped
(KL of the Gaussian posteriors for ``t > 0``, the discretised Gaussian decoder likelihood at ``t = 0``);
timesteps drawn uniformly; no ``1000 / T`` rescaling (guided-diffusion's ``rescale_learned_sigmas`` is off in
SDM, and at ``T = 1000`` it would be 1).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import torch
from torch import Tensor

SAMPLERS = ("ddpm", "ddim")
SCHEDULES = ("linear", "cosine")


def named_betas(schedule: str, steps: int) -> np.ndarray:
    """guided-diffusion's named beta schedules in float64: ``linear`` (1e-4 .. 0.02 scaled by ``1000 / steps``)
    and ``cosine`` (Nichol & Dhariwal, betas capped at 0.999)."""
    if schedule == "linear":
        scale = 1000 / steps
        return np.linspace(scale * 1e-4, scale * 0.02, steps, dtype=np.float64)
    if schedule == "cosine":
        def abar(t: float) -> float:
            return math.cos((t + 0.008) / 1.008 * math.pi / 2) ** 2
        return np.array([min(1 - abar((i + 1) / steps) / abar(i / steps), 0.999) for i in range(steps)],
                        dtype=np.float64)
    raise ValueError(f"diffusion.noise_schedule {schedule!r} is unknown; valid: {', '.join(SCHEDULES)}")


def space_timesteps(num_timesteps: int, count: int) -> list[int]:
    """The ``count`` timesteps guided-diffusion keeps of ``num_timesteps`` (``timestep_respacing=str(count)``,
    one section), ascending."""
    if not 1 <= count <= num_timesteps:
        raise ValueError(f"eval.sampler.steps must lie between 1 and diffusion.steps ({num_timesteps}); got {count}")
    stride = 1.0 if count <= 1 else (num_timesteps - 1) / (count - 1)
    taken, position = [], 0.0
    for _ in range(count):
        taken.append(round(position))
        position += stride
    return sorted(set(taken))


def build_scheduler(kind: str, num_timesteps: int, schedule: str, steps: int, *, eta: float = 0.0):
    """A diffusers scheduler for ``kind`` (``ddpm`` | ``ddim``) on ``schedule``, set to ``steps`` sampling steps
    with guided-diffusion's timesteps and float64 tables."""
    from diffusers import DDIMScheduler, DDPMScheduler

    betas = named_betas(schedule, num_timesteps)
    common = dict(num_train_timesteps=num_timesteps, trained_betas=betas.tolist(), prediction_type="epsilon",
                  clip_sample=True, clip_sample_range=1.0)
    if kind == "ddpm":
        sched = DDPMScheduler(variance_type="learned_range", **common)
    elif kind == "ddim":
        if num_timesteps % steps:
            raise ValueError(f"the DDIM sampler takes a number of steps that divides diffusion.steps ({num_timesteps})"
                             f", as the official 'ddimN' respacing; got eval.sampler.steps={steps}")
        sched = DDIMScheduler(set_alpha_to_one=True, timestep_spacing="leading", steps_offset=0, **common)
    else:
        raise ValueError(f"eval.sampler.kind {kind!r} is unknown; valid: {', '.join(SAMPLERS)}")
    # (1) float64 tables, from the same betas
    sched.betas = torch.from_numpy(betas)
    sched.alphas = 1.0 - sched.betas
    sched.alphas_cumprod = torch.cumprod(sched.alphas, dim=0)
    sched.one = torch.tensor(1.0, dtype=torch.float64)
    if kind == "ddim":
        sched.final_alpha_cumprod = torch.tensor(1.0, dtype=torch.float64)
        sched.set_timesteps(steps)
    else:
        # (2) the official respacing
        sched.set_timesteps(timesteps=space_timesteps(num_timesteps, steps)[::-1])
    sched.eta = float(eta)
    return sched


def respaced_betas(alphas_cumprod: np.ndarray, kept: list[int]) -> np.ndarray:
    """The betas of the respaced process over the ``kept`` timesteps: ``1 - abar_t / abar_prev``."""
    out, last = [], 1.0
    for t in sorted(kept):
        out.append(1 - alphas_cumprod[t] / last)
        last = alphas_cumprod[t]
    return np.array(out, dtype=np.float64)


def _take(table: np.ndarray, t: Tensor, like: Tensor) -> Tensor:
    """``table[t]`` as float64-computed values cast to ``like``'s dtype, broadcast over ``like``."""
    values = torch.from_numpy(table).to(t.device)[t].to(like.dtype)
    return values.reshape(-1, *([1] * (like.dim() - 1)))


def normal_kl(mean1: Tensor, logvar1: Tensor, mean2: Tensor, logvar2: Tensor) -> Tensor:
    """KL(N(mean1, e^logvar1) || N(mean2, e^logvar2)), elementwise, in nats."""
    return 0.5 * (-1.0 + logvar2 - logvar1 + torch.exp(logvar1 - logvar2) + (mean1 - mean2) ** 2 * torch.exp(-logvar2))


def _approx_normal_cdf(x: Tensor) -> Tensor:
    return 0.5 * (1.0 + torch.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * x ** 3)))


def discretized_gaussian_log_likelihood(x: Tensor, mean: Tensor, log_scale: Tensor) -> Tensor:
    """Log-probability (nats) of 8-bit images ``x`` in ``[-1, 1]`` under a Gaussian discretised into 256 bins,
    the end bins open (Ho et al.'s decoder), with the tanh approximation of the normal CDF."""
    centred = x - mean
    inv_std = torch.exp(-log_scale)
    cdf_plus = _approx_normal_cdf(inv_std * (centred + 1.0 / 255.0))
    cdf_min = _approx_normal_cdf(inv_std * (centred - 1.0 / 255.0))
    log_cdf_plus = torch.log(cdf_plus.clamp(min=1e-12))
    log_one_minus_cdf_min = torch.log((1.0 - cdf_min).clamp(min=1e-12))
    log_delta = torch.log((cdf_plus - cdf_min).clamp(min=1e-12))
    return torch.where(x < -0.999, log_cdf_plus, torch.where(x > 0.999, log_one_minus_cdf_min, log_delta))


class GaussianDiffusion:
    """The training side of the diffusion: ``q(x_t | x_0)``, the posterior, the learned-range variance and the
    hybrid loss, on float64 tables (cast to the batch's dtype per use)."""

    def __init__(self, num_timesteps: int = 1000, schedule: str = "linear", learn_sigma: bool = True):
        betas = named_betas(schedule, num_timesteps)
        self.num_timesteps = num_timesteps
        self.learn_sigma = learn_sigma
        self.betas = betas
        acp = np.cumprod(1.0 - betas)
        acp_prev = np.append(1.0, acp[:-1])
        self.alphas_cumprod = acp
        self.sqrt_acp = np.sqrt(acp)
        self.sqrt_one_minus_acp = np.sqrt(1.0 - acp)
        self.sqrt_recip_acp = np.sqrt(1.0 / acp)
        self.sqrt_recipm1_acp = np.sqrt(1.0 / acp - 1)
        self.posterior_variance = betas * (1.0 - acp_prev) / (1.0 - acp)
        # (3) clipped: the posterior variance is 0 at t = 0; its log takes t = 1's value there
        self.posterior_log_variance_clipped = np.log(np.append(self.posterior_variance[1], self.posterior_variance[1:]))
        self.posterior_mean_coef1 = betas * np.sqrt(acp_prev) / (1.0 - acp)
        self.posterior_mean_coef2 = (1.0 - acp_prev) * np.sqrt(1.0 - betas) / (1.0 - acp)
        self.log_betas = np.log(betas)

    def q_sample(self, x0: Tensor, t: Tensor, noise: Tensor) -> Tensor:
        return _take(self.sqrt_acp, t, x0) * x0 + _take(self.sqrt_one_minus_acp, t, x0) * noise

    def posterior(self, x0: Tensor, xt: Tensor, t: Tensor) -> tuple[Tensor, Tensor]:
        """Mean and clipped log-variance of ``q(x_{t-1} | x_t, x_0)``."""
        mean = _take(self.posterior_mean_coef1, t, xt) * x0 + _take(self.posterior_mean_coef2, t, xt) * xt
        return mean, _take(self.posterior_log_variance_clipped, t, xt)

    def learned_log_variance(self, v: Tensor, t: Tensor) -> Tensor:
        """Learned range: ``frac * log beta_t + (1 - frac) * log posterior_var_clipped``, ``frac = (v + 1) / 2``."""
        frac = (v + 1) / 2
        return frac * _take(self.log_betas, t, v) + (1 - frac) * _take(self.posterior_log_variance_clipped, t, v)

    def predict_x0(self, xt: Tensor, t: Tensor, eps: Tensor) -> Tensor:
        return _take(self.sqrt_recip_acp, t, xt) * xt - _take(self.sqrt_recipm1_acp, t, xt) * eps

    def vb_bits(self, eps: Tensor, v: Tensor, x0: Tensor, xt: Tensor, t: Tensor) -> Tensor:
        """``L_vlb`` per sample in bits per dimension for the model's ``eps`` and variance output ``v``."""
        true_mean, true_logvar = self.posterior(x0, xt, t)
        pred_x0 = self.predict_x0(xt, t, eps)  # not clipped in the loss, as the official training
        mean, _ = self.posterior(pred_x0, xt, t)
        logvar = self.learned_log_variance(v, t)
        kl = normal_kl(true_mean, true_logvar, mean, logvar).mean(dim=(1, 2, 3)) / math.log(2.0)
        nll = -discretized_gaussian_log_likelihood(x0, mean, 0.5 * logvar).mean(dim=(1, 2, 3)) / math.log(2.0)
        return torch.where(t == 0, nll, kl)

    def training_losses(self, model: Callable[[Tensor, Tensor], Tensor], x0: Tensor, t: Tensor,
                        noise: Tensor) -> dict[str, Tensor]:
        """Per-sample ``mse`` (L_simple) and, with learned variance, ``vb`` (L_vlb, the mean's gradient stopped)."""
        xt = self.q_sample(x0, t, noise)
        out = model(xt, t)
        c = x0.shape[1]
        if self.learn_sigma:
            if out.shape[1] != 2 * c:
                raise ValueError(f"a learned-variance model must output {2 * c} channels, got {out.shape[1]}")
            eps, v = out[:, :c], out[:, c:]
            terms = {"mse": ((noise - eps) ** 2).mean(dim=(1, 2, 3)),
                     "vb": self.vb_bits(eps.detach(), v, x0, xt, t)}
        else:
            terms = {"mse": ((noise - out) ** 2).mean(dim=(1, 2, 3))}
        return terms


def guided_output(model: Callable[[Tensor, Tensor, Tensor], Tensor], x: Tensor, t: Tensor, seg: Tensor,
                  scale: float) -> Tensor:
    """The model output with classifier-free guidance: ``eps = eps(0) + s * (eps(seg) - eps(0))`` on the noise
    channels, the variance channels from the conditional pass (the official ``p_mean_variance``, which guides
    only when ``s > 1``). Conditional and unconditional passes run as one batch of ``2B``."""
    if scale == 1.0:
        return model(x, t, seg)
    both = model(torch.cat([x, x]), torch.cat([t, t]), torch.cat([seg, torch.zeros_like(seg)]))
    cond, uncond = both.chunk(2)
    c = x.shape[1]
    guided = uncond[:, :c] + scale * (cond[:, :c] - uncond[:, :c])
    return torch.cat([guided, cond[:, c:]], dim=1)


def evaluations_per_image(steps: int, guidance: float) -> int:
    """Network evaluations per generated image: one per step, two with classifier-free guidance."""
    return steps * (1 if guidance == 1.0 else 2)


@torch.no_grad()
def sample(model: Callable[[Tensor, Tensor, Tensor], Tensor], seg: Tensor, shape: tuple[int, ...], *,
           kind: str = "ddpm", steps: int = 1000, guidance: float = 1.0, eta: float = 0.0,
           num_timesteps: int = 1000, schedule: str = "linear", noise: Tensor | None = None,
           generator: torch.Generator | None = None) -> Tensor:
    """Images in ``[-1, 1]`` for the label maps ``seg`` by ancestral DDPM (learned variance) or DDIM sampling
    over ``steps`` respaced timesteps, with guidance scale ``guidance``; noise from the global RNG unless
    ``generator``."""
    if guidance < 1.0 and guidance != 0.0:
        raise ValueError(f"eval.sampler.guidance must be 1 (no guidance), 0 (unconditional) or above 1; got {guidance}")
    sched = build_scheduler(kind, num_timesteps, schedule, steps, eta=eta)
    device = seg.device
    x = torch.randn(shape, generator=generator, device=device) if noise is None else noise.to(device)
    c = shape[1]
    if guidance == 0.0:
        seg = torch.zeros_like(seg)
        guidance = 1.0
    for t in sched.timesteps:
        tt = torch.full((shape[0],), int(t), device=device, dtype=torch.long)
        out = guided_output(model, x, tt, seg, guidance)
        if kind == "ddim":
            # eps re-derived from the clipped x0 prediction, as guided-diffusion's ddim_sample
            x = sched.step(out[:, :c], int(t), x, eta=eta, use_clipped_model_output=True,
                           generator=generator).prev_sample
        else:
            x = sched.step(out, int(t), x, generator=generator).prev_sample
        x = x.to(torch.float32) if x.dtype == torch.float64 and seg.dtype != torch.float64 else x
    return x.clamp(-1, 1)
