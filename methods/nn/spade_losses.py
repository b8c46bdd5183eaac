"""The loss setup the SPADE family shares (SPADE, Park et al., CVPR 2019; the adaptive-normalization hybrid,
Xu & Tan 2022, which trains with SPADE's objective).

G: the GAN loss of ``loss.gan_mode`` (hinge in both) + ``lambda_feat`` x discriminator feature matching +
``lambda_vgg`` x the VGG19 perceptual loss (``loss.vgg_weights``, truncated at ``loss.vgg_last_layer``) +
``lambda_kld`` x the KL of the VAE encoder; D: the GAN loss on fake and real, which D sees as one batch
(shared statistics), as the official ``pix2pix_model.py`` does.

The VGG is built by the method's ``configure_optimizers`` (training only): generating from a checkpoint needs
no VGG weights. It is assigned as a sub-module of the method, so it follows the method's device and
``train``/``eval``; its weights are non-persistent buffers, so checkpoints do not carry them.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from torch import Tensor, nn

from methods.nn.losses import GANLoss
from methods.nn.perceptual import VGGLoss


class SPADEFamilyLosses:
    """A mixin for :class:`methods.base.Method` subclasses with a ``netG`` and a multiscale ``netD``: the
    attributes ``gan_loss``, ``lambda_feat``, ``lambda_vgg``, ``lambda_kld``, ``vgg_weights``,
    ``vgg_last_layer`` and ``vgg_loss``, and what the G and D steps share."""

    netG: nn.Module
    netD: nn.Module
    vgg_loss: VGGLoss | None

    def setup_losses(self, loss: Mapping[str, Any]) -> None:
        """Read ``cfg["loss"]``; call it in ``__init__`` (the VGG is built later by :meth:`build_vgg_loss`)."""
        self.gan_loss = GANLoss(loss["gan_mode"])
        self.lambda_feat = float(loss["lambda_feat"])
        self.lambda_vgg = float(loss["lambda_vgg"])
        self.lambda_kld = float(loss["lambda_kld"])
        self.vgg_weights = loss["vgg_weights"]
        self.vgg_last_layer = loss.get("vgg_last_layer")
        self.vgg_loss = None

    def build_vgg_loss(self) -> None:
        """Build the VGG loss on G's device if it weighs anything and is not built yet (``configure_optimizers``)."""
        if self.lambda_vgg > 0 and self.vgg_loss is None:
            device = next(self.netG.parameters()).device
            self.vgg_loss = VGGLoss(self.vgg_weights, last_layer=self.vgg_last_layer).to(device)

    def vgg_term(self, fake: Tensor, real: Tensor) -> Tensor:
        """``lambda_vgg`` x the VGG loss of ``fake`` against ``real``."""
        if self.vgg_loss is None:
            raise RuntimeError("configure_optimizers() must run before train_step: it builds the VGG loss")
        return self.vgg_loss(fake, real) * self.lambda_vgg

    def discriminate(self, sem: Tensor, fake: Tensor,
                     real: Tensor) -> tuple[list[list[Tensor]], list[list[Tensor]]]:
        """D on fake and real as one batch; per-scale feature lists (prediction last) of each half."""
        out = self.netD(torch.cat([torch.cat([sem, fake], 1), torch.cat([sem, real], 1)], 0))
        n = fake.shape[0]
        return [[t[:n] for t in scale] for scale in out], [[t[n:] for t in scale] for scale in out]

    def discriminator_terms(self, pred_fake: list[list[Tensor]], pred_real: list[list[Tensor]]) -> dict[str, Tensor]:
        """D's loss terms: fake judged fake, real judged real."""
        return {"D_fake": self.gan_loss(pred_fake, False), "D_real": self.gan_loss(pred_real, True)}

    def loss_info(self) -> dict[str, Any]:
        """The manifest's record of the perceptual loss (nothing when it is off)."""
        if self.lambda_vgg <= 0:
            return {}
        return {"vgg_last_layer": self.vgg_last_layer or "relu5_1",
                "vgg_weights": (self.vgg_loss.weights_source if self.vgg_loss is not None
                                else f"{self.vgg_weights} (not loaded: no training in this run)")}
