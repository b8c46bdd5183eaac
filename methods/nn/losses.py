"""Adversarial, feature-matching and KL losses shared by the GAN-based methods.

- GAN losses: hinge (Lim & Ye 2017; Miyato et al. 2018), as used by SPADE (Park et al., CVPR 2019,
  Sec. 4); least squares (Mao et al. 2017), as pix2pixHD (Wang et al., CVPR 2018); the original
  cross-entropy GAN (Goodfellow et al. 2014) on logits, as pix2pix (Isola et al., CVPR 2017).
- Discriminator feature matching: pix2pixHD Eq. (4).
- KL divergence of the VAE encoder: Kingma & Welling 2014, Appendix B; SPADE's ``KLDLoss``; the
  reparameterised sample of its code.

Formulas, reductions and the averaging over discriminator scales follow the official NVlabs/SPADE
``models/networks/loss.py`` and ``pix2pix_model.py``.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor

GAN_MODES = ("hinge", "lsgan", "vanilla")

#: a discriminator output: one prediction tensor, or per scale a list of features with the prediction last
DiscriminatorOutput = Tensor | Sequence[Tensor] | Sequence[Sequence[Tensor]]


class GANLoss:
    """Adversarial loss ``loss(pred, target_is_real, for_discriminator=True)``.

    Modes:

    - ``hinge``: discriminator ``mean(relu(1 - D(real)))`` / ``mean(relu(1 + D(fake)))``; generator
      ``-mean(D(fake))`` (only defined for ``target_is_real=True``);
    - ``lsgan``: ``mean((D - t)^2)`` with ``t`` = 1 for real, 0 for fake, for D and G alike;
    - ``vanilla``: binary cross-entropy on logits with the same targets.

    ``pred`` may be a tensor, or a list over discriminator scales whose elements are tensors or lists of
    features with the prediction last; each scale's loss is a mean over its elements, and the scales are
    averaged (``scale_reduction="mean"``, official SPADE) or summed (``"sum"``, official pix2pixHD).
    """

    def __init__(self, mode: str, scale_reduction: str = "mean"):
        if mode not in GAN_MODES:
            raise ValueError(f"unknown GAN loss mode {mode!r}; valid: {', '.join(GAN_MODES)}")
        if scale_reduction not in ("mean", "sum"):
            raise ValueError(f"unknown scale_reduction {scale_reduction!r}; valid: mean, sum")
        self.mode = mode
        self.scale_reduction = scale_reduction

    def _single(self, pred: Tensor, target_is_real: bool, for_discriminator: bool) -> Tensor:
        if self.mode == "hinge":
            if for_discriminator:
                return F.relu(1 - pred).mean() if target_is_real else F.relu(1 + pred).mean()
            if not target_is_real:
                raise ValueError("the generator's hinge loss must aim for real (target_is_real=True)")
            return -pred.mean()
        target = torch.full_like(pred, 1.0 if target_is_real else 0.0)
        if self.mode == "lsgan":
            return F.mse_loss(pred, target)
        return F.binary_cross_entropy_with_logits(pred, target)

    def __call__(self, pred: DiscriminatorOutput, target_is_real: bool,
                 for_discriminator: bool = True) -> Tensor:
        if isinstance(pred, Tensor):
            return self._single(pred, target_is_real, for_discriminator)
        losses = [self._single(p if isinstance(p, Tensor) else p[-1], target_is_real, for_discriminator)
                  for p in pred]
        stacked = torch.stack(losses)
        return stacked.mean() if self.scale_reduction == "mean" else stacked.sum()


def _as_scales(feats: Sequence[Tensor] | Sequence[Sequence[Tensor]]) -> list[Sequence[Tensor]]:
    return [feats] if isinstance(feats[0], Tensor) else list(feats)  # type: ignore[list-item]


def feature_matching_loss(fake_feats: Sequence[Tensor] | Sequence[Sequence[Tensor]],
                          real_feats: Sequence[Tensor] | Sequence[Sequence[Tensor]], weight: float = 10.0,
                          layer_weight: float | Sequence[float] = 1.0) -> Tensor:
    """Discriminator feature matching (pix2pixHD Eq. 4): ``weight / num_D * sum_i sum_j w_j L1(D_i^j)``.

    ``fake_feats``/``real_feats`` hold, per scale, the discriminator's outputs with the prediction last;
    the prediction is excluded and the real features are detached (the generator must not move the
    discriminator's view of real images). ``L1`` is the mean absolute error. ``layer_weight`` is one
    weight for every layer or one per intermediate layer: SPADE uses 1, pix2pixHD ``4 / (n_layers + 1)``.
    """
    fake_scales, real_scales = _as_scales(fake_feats), _as_scales(real_feats)
    if len(fake_scales) != len(real_scales):
        raise ValueError(f"fake and real features have {len(fake_scales)} and {len(real_scales)} scales")
    num_d = len(fake_scales)
    total = fake_scales[0][0].new_zeros(())
    for fake, real in zip(fake_scales, real_scales, strict=True):
        n_inter = len(fake) - 1
        if isinstance(layer_weight, int | float):
            weights = [float(layer_weight)] * n_inter
        else:
            weights = [float(w) for w in layer_weight]
        if len(weights) != n_inter:
            raise ValueError(f"layer_weight has {len(weights)} entries for {n_inter} intermediate layers")
        for j in range(n_inter):
            total = total + weights[j] * F.l1_loss(fake[j], real[j].detach())
    return total * (weight / num_d)


def kl_divergence(mu: Tensor, logvar: Tensor) -> Tensor:
    """``KL(N(mu, exp(logvar)) || N(0, I))`` summed over the batch and the code dimensions (SPADE's
    ``KLDLoss``; the method multiplies it by ``lambda_kld`` = 0.05)."""
    return -0.5 * torch.sum(1 + logvar - mu.pow(2) - logvar.exp())


def reparameterize(mu: Tensor, logvar: Tensor) -> Tensor:
    """``z = mu + eps * exp(logvar / 2)``, eps ~ N(0, I) (Kingma & Welling 2014)."""
    return mu + torch.randn_like(mu) * torch.exp(0.5 * logvar)
