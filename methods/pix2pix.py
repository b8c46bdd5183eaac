"""pix2pix: Isola, Zhu, Zhou & Efros, "Image-to-Image Translation with Conditional Adversarial Networks",
CVPR 2017 — here as a semantic image synthesis baseline (one-hot label map -> photo).

Reference code: junyanz/pytorch-CycleGAN-and-pix2pix (``models/networks.py``: ``UnetGenerator``,
``UnetSkipConnectionBlock``, ``NLayerDiscriminator``, ``init_weights``; ``models/pix2pix_model.py``;
``test.py``). Read, not copied.

Generator (paper Sec. 3.1, appendix 6.1.1): a U-Net of 4x4 stride-2 convolutions down to a 1x1 bottleneck
and 4x4 stride-2 transposed convolutions back, skip connections between mirrored layers, BatchNorm,
LeakyReLU(0.2) in the encoder, ReLU in the decoder, tanh output. Discriminator: the 70x70 PatchGAN
C64-C128-C256-C512(stride 1)-C1, 4x4 kernels, BatchNorm (none on the first layer), LeakyReLU(0.2), fed
``concat(condition, image)``. Objective (Eq. 4): cross-entropy GAN loss on logits + 100 x L1.

Decisions, each matching the official code where the paper leaves room:

- Depth follows the image size: ``num_downs = log2(min(H, W))`` (unet_256 has 8, unet_128 has 7), so the
  bottleneck is 1x1 on the short side (1x2 for 256x512). ``model.num_downs`` overrides it.
- Dropout 0.5 sits in the ``num_downs - 5`` intermediate ngf*8 blocks, after their up-convolution's
  BatchNorm, as the official ``UnetGenerator`` places it (3 blocks for unet_256, 2 for unet_128, 1 at
  64 px). For unet_256 that drops the decoder outputs at 4x4, 8x8 and 16x16, not the innermost block's 2x2
  output: one layer later than the paper's appendix (CD512-CD1024-CD1024) reads.
- The skip connections carry the *activated* encoder features: the official encoder's LeakyReLU is
  in-place and runs on the very tensor the block concatenates. Here that is explicit (no in-place ops).
- Convolutions have no bias (BatchNorm's shift makes it redundant; the official code drops it on the
  outermost down-convolution too); the outermost up-convolution and the discriminator's first and last
  convolutions have one. Module nesting and indices match the official state-dict keys
  (``model.model.1.model.3...`` for the generator, ``model.0 .. model.11`` for the discriminator).
- Initialisation (``init_weights('normal', 0.02)``): conv weights N(0, 0.02), biases 0, BatchNorm
  weights N(1, 0.02), BatchNorm biases 0.
- One iteration: G forward once; D step on ``concat(label, fake.detach())`` then ``concat(label, real)``
  (in that order, so the BatchNorm running statistics follow the official sequence) with the loss halved;
  then the G step through the updated D. ``pool_size`` is 0 for pix2pix, so no image history buffer.
- Adam, lr 2e-4, betas (0.5, 0.999) for both networks; 100 + 100 epochs with linear decay (the schedule
  lives in the config).
- Inference: the official ``test.py`` does not call ``model.eval()`` unless ``--eval`` is given, and the
  paper (Sec. 3.1, 6.3) applies dropout at test time and normalises with the statistics of the test batch
  (of size 1). ``model.inference = "paper"`` reproduces that — dropout on, BatchNorm statistics of each
  image on its own, running statistics left untouched — so outputs vary slightly from call to call;
  ``"eval"`` uses the running statistics and no dropout (deterministic).
- Input: the one-hot label map with the don't-care channel (``DataInfo.label_nc``); the official
  Cityscapes model read colour-coded label images instead. Instance edges are off by default
  (``model.use_instance``), as in the paper.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from benchmark.datasets.base import DataInfo
from benchmark.registry import METHODS
from methods.base import Method, StepContext
from methods.nn.encoding import semantic_input
from methods.nn.init import init_weights
from methods.nn.losses import GANLoss
from methods.optim import build_optimizer

INFERENCE_MODES = ("paper", "eval")


# --------------------------------------------------------------------------------------------------
# Generator
# --------------------------------------------------------------------------------------------------
class UNetSkipBlock(nn.Module):
    """One level of the U-Net: downsample, run the inner levels, upsample, concatenate the skip.

    ``kind`` is ``"outermost"`` (``[down conv, inner, ReLU, up conv, tanh]``, returns the image),
    ``"innermost"`` (``[LeakyReLU, down conv, ReLU, up conv, BN]``, no BatchNorm on the 1x1 bottleneck) or
    ``"middle"`` (``[LeakyReLU, down conv, BN, inner, ReLU, up conv, BN (, Dropout)]``). Non-outermost
    blocks return ``concat(LeakyReLU(x), up)``: see the module docstring on activated skips.
    """

    def __init__(self, outer_nc: int, inner_nc: int, kind: str, input_nc: int | None = None,
                 submodule: nn.Module | None = None, dropout: float = 0.0):
        super().__init__()
        if kind not in ("outermost", "middle", "innermost"):
            raise ValueError(f"unknown U-Net block kind {kind!r}")
        if (submodule is None) != (kind == "innermost"):
            raise ValueError("only the innermost U-Net block has no submodule")
        self.kind = kind
        input_nc = outer_nc if input_nc is None else input_nc
        # Official: no bias where BatchNorm (its shift) follows, and none on the outermost down-convolution
        # either (bias = use_bias there too); only the outermost up-convolution, which feeds tanh, has one.
        downconv = nn.Conv2d(input_nc, inner_nc, 4, stride=2, padding=1, bias=False)
        up_in = inner_nc if kind == "innermost" else inner_nc * 2
        upconv = nn.ConvTranspose2d(up_in, outer_nc, 4, stride=2, padding=1, bias=kind == "outermost")
        if kind == "outermost":
            layers = [downconv, submodule, nn.ReLU(), upconv, nn.Tanh()]
        elif kind == "innermost":
            layers = [nn.LeakyReLU(0.2), downconv, nn.ReLU(), upconv, nn.BatchNorm2d(outer_nc)]
        else:
            layers = [nn.LeakyReLU(0.2), downconv, nn.BatchNorm2d(inner_nc), submodule,
                      nn.ReLU(), upconv, nn.BatchNorm2d(outer_nc)]
            if dropout > 0:
                layers.append(nn.Dropout(dropout))
        self.model = nn.Sequential(*layers)

    def forward(self, x: Tensor) -> Tensor:
        if self.kind == "outermost":
            return self.model(x)
        x = self.model[0](x)
        return torch.cat([x, self.model[1:](x)], 1)


class UNetGenerator(nn.Module):
    """The pix2pix U-Net with ``num_downs`` stride-2 levels (pix2pix appendix 6.1.1).

    Widths: ngf, 2ngf, 4ngf, then 8ngf for every further level; ``num_downs - 5`` intermediate 8ngf
    levels carry dropout. ``num_downs`` must be at least 5.
    """

    def __init__(self, input_nc: int, output_nc: int = 3, num_downs: int = 8, ngf: int = 64,
                 dropout: float = 0.5):
        super().__init__()
        if num_downs < 5:
            raise ValueError(f"the pix2pix U-Net needs num_downs >= 5 (images of 32 px or more); got {num_downs}")
        self.num_downs = num_downs
        block = UNetSkipBlock(ngf * 8, ngf * 8, "innermost")
        for _ in range(num_downs - 5):
            block = UNetSkipBlock(ngf * 8, ngf * 8, "middle", submodule=block, dropout=dropout)
        block = UNetSkipBlock(ngf * 4, ngf * 8, "middle", submodule=block)
        block = UNetSkipBlock(ngf * 2, ngf * 4, "middle", submodule=block)
        block = UNetSkipBlock(ngf, ngf * 2, "middle", submodule=block)
        self.model = UNetSkipBlock(output_nc, ngf, "outermost", input_nc=input_nc, submodule=block)

    def forward(self, x: Tensor) -> Tensor:
        return self.model(x)

    def blocks(self) -> list[UNetSkipBlock]:
        """The levels from the outermost to the innermost."""
        out, block = [], self.model
        while True:
            out.append(block)
            if block.kind == "innermost":
                return out
            block = block.model[1] if block.kind == "outermost" else block.model[3]


def unet_depth(image_size: tuple[int, int]) -> int:
    """``log2`` of the short side: the number of stride-2 levels that brings it to 1 (256 -> 8)."""
    h, w = image_size
    depth = int(math.floor(math.log2(min(h, w))))
    if h % 2 ** depth or w % 2 ** depth:
        raise ValueError(f"image size {h}x{w} is not divisible by 2**{depth}; set model.num_downs explicitly "
                         f"to a depth that divides both sides")
    return depth


# --------------------------------------------------------------------------------------------------
# Discriminator
# --------------------------------------------------------------------------------------------------
class PatchDiscriminator(nn.Module):
    """The pix2pix PatchGAN: ``n_layers`` stride-2 convolutions, one stride-1, a stride-1 head.

    With ``n_layers=3`` this is C64-C128-C256-C512-C1 with a 70x70 receptive field (paper appendix
    6.1.2). 4x4 kernels, padding 1; widths double up to 8ndf; BatchNorm after every hidden convolution
    but the first; LeakyReLU(0.2). Returns logits (the loss applies the sigmoid).
    """

    def __init__(self, input_nc: int, ndf: int = 64, n_layers: int = 3):
        super().__init__()
        layers: list[nn.Module] = [nn.Conv2d(input_nc, ndf, 4, stride=2, padding=1), nn.LeakyReLU(0.2)]
        mult = 1
        for n in range(1, n_layers + 1):
            prev, mult = mult, min(2 ** n, 8)
            stride = 2 if n < n_layers else 1
            layers += [nn.Conv2d(ndf * prev, ndf * mult, 4, stride=stride, padding=1, bias=False),
                       nn.BatchNorm2d(ndf * mult), nn.LeakyReLU(0.2)]
        layers.append(nn.Conv2d(ndf * mult, 1, 4, stride=1, padding=1))
        self.model = nn.Sequential(*layers)

    def forward(self, x: Tensor) -> Tensor:
        return self.model(x)


@contextmanager
def paper_inference(net: nn.Module) -> Iterator[None]:
    """Run ``net`` as the official test script does: dropout active and BatchNorm normalising with the
    statistics of the input batch, without updating the running statistics."""
    saved = [(m, m.training, getattr(m, "track_running_stats", None)) for m in net.modules()]
    try:
        for m in net.modules():
            if isinstance(m, nn.modules.batchnorm._BatchNorm):
                # training + no tracking: batch statistics, and running buffers are not passed, so not updated
                m.train()
                m.track_running_stats = False
            elif isinstance(m, nn.Dropout):
                m.train()
        yield
    finally:
        for m, training, track in saved:
            m.training = training
            if track is not None:
                m.track_running_stats = track


# --------------------------------------------------------------------------------------------------
# Method
# --------------------------------------------------------------------------------------------------
@METHODS.register()
class Pix2Pix(Method):
    """pix2pix (Isola et al., CVPR 2017): U-Net generator, 70x70 PatchGAN, cross-entropy GAN + 100 L1."""

    name = "pix2pix"
    description = "pix2pix (Isola et al. 2017): U-Net + 70x70 PatchGAN, GAN + 100 L1"
    networks = ("netG", "netD")
    multimodal = False

    def __init__(self, cfg: Mapping[str, Any], data: DataInfo):
        super().__init__(cfg, data)
        m = cfg["model"]
        self.use_instance = bool(m["use_instance"])
        self.inference = m["inference"]
        if self.inference not in INFERENCE_MODES:
            raise ValueError(f"unknown model.inference {self.inference!r}; valid: {', '.join(INFERENCE_MODES)}")
        input_nc = data.semantic_nc(self.use_instance)
        num_downs = m["num_downs"] if m["num_downs"] is not None else unet_depth(data.image_size)
        self.netG = UNetGenerator(input_nc, 3, num_downs, m["ngf"], m["dropout"])
        self.netD = PatchDiscriminator(input_nc + 3, m["ndf"], m["n_layers_D"])
        init_weights(self.netG, "normal", m["init_gain"])
        init_weights(self.netD, "normal", m["init_gain"])
        loss = cfg["loss"]
        self.gan_loss = GANLoss(loss["gan_mode"])
        self.lambda_l1 = float(loss["lambda_l1"])
        self.d_loss_weight = float(loss["d_loss_weight"])

    def configure_optimizers(self, stage: str) -> dict[str, torch.optim.Optimizer]:
        opt = self.cfg["optimizer"]
        return {"G": build_optimizer(self.netG.parameters(), opt, "G"),
                "D": build_optimizer(self.netD.parameters(), opt, "D")}

    def _condition(self, batch: Mapping[str, Any]) -> Tensor:
        return semantic_input(dict(batch), self.data, self.use_instance)

    def train_step(self, batch: dict[str, Any], ctx: StepContext) -> dict[str, float]:
        real = batch["image"]
        cond = self._condition(batch).to(real.dtype)   # float64 images (parity tests) get a float64 condition
        with ctx.autocast():
            fake = self.netG(cond)
            # D step first, as the official optimize_parameters: fake before real.
            pred_fake = self.netD(torch.cat([cond, fake.detach()], 1))
            pred_real = self.netD(torch.cat([cond, real], 1))
            d_fake = self.gan_loss(pred_fake, False)
            d_real = self.gan_loss(pred_real, True)
        ctx.backward({"D_fake": d_fake * self.d_loss_weight, "D_real": d_real * self.d_loss_weight}, "D")
        ctx.step("D")

        with ctx.frozen("D"), ctx.autocast():
            pred = self.netD(torch.cat([cond, fake], 1))
            g_gan = self.gan_loss(pred, True, for_discriminator=False)
            dtype = torch.promote_types(fake.dtype, torch.float32)     # float32 under autocast, else as is
            g_l1 = F.l1_loss(fake.to(dtype), real.to(dtype)) * self.lambda_l1
        ctx.backward({"G_GAN": g_gan, "G_L1": g_l1}, "G")
        ctx.step("G")
        return {"D_fake": d_fake.item(), "D_real": d_real.item(), "G_GAN": g_gan.item(), "G_L1": g_l1.item()}

    @torch.no_grad()
    def generate(self, batch: dict[str, Any], *, z: Tensor | None = None,
                 style: Tensor | None = None) -> Tensor:
        """Images ``[B, 3, H, W]`` in ``[-1, 1]``; see the module docstring for ``model.inference``."""
        if z is not None or style is not None:
            raise ValueError("pix2pix takes no noise or style input (its only randomness is test-time dropout)")
        cond = self._condition(batch)
        if self.inference == "eval":
            was_training = self.netG.training
            self.netG.eval()
            try:
                return self.netG(cond)
            finally:
                self.netG.train(was_training)
        # The official test batch is one image: per-image statistics, independent of the batch's makeup.
        with paper_inference(self.netG):
            return torch.cat([self.netG(c.unsqueeze(0)) for c in cond], 0)

    def extra_info(self) -> dict[str, Any]:
        return {"unet_num_downs": self.netG.num_downs, "inference": self.inference}
