"""PatchGAN discriminators: the n-layer patch discriminator and its multiscale stack.

Wang et al., "High-Resolution Image Synthesis and Semantic Manipulation with Conditional GANs" (pix2pixHD),
CVPR 2018, Sec. 3.2 (multi-scale discriminators), and Park et al., "Semantic Image Synthesis with
Spatially-Adaptive Normalization" (SPADE), CVPR 2019, appendix A (Fig. 13). Layout and key names follow
the official NVlabs/SPADE ``models/networks/discriminator.py`` (``discriminator_{i}.model{j}...``) so
official SPADE state dicts load with ``strict=True``; pix2pixHD's official key layout differs.
"""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor, nn

from methods.nn.blocks import conv_norm

VARIANTS = ("spade", "pix2pixhd")


class NLayerDiscriminator(nn.Module):
    """A 4x4-conv patch discriminator whose forward returns every layer's output, the prediction last.

    Layer groups (``model0``, ``model1``, ...), each ``conv k4 (padding 2) [+ norm] + LeakyReLU(0.2)``:

    - ``model0``: plain conv (bias, no norm, no spectral norm), stride 2, ``ndf`` channels;
    - hidden groups: conv (spectral norm when enabled, no bias when a norm follows) + ``norm``; widths
      double up to 512;
      ``variant="spade"`` (SPADE): groups 1..n_layers-1, the last of them stride 1 — n_layers groups
      before the head;
      ``variant="pix2pixhd"`` (pix2pixHD): groups 1..n_layers-1 all stride 2, plus one stride-1 group —
      n_layers + 1 groups before the head;
    - head: plain conv k4 stride 1 to one channel (no activation; the GAN loss decides the link).
    """

    def __init__(self, input_nc: int, ndf: int = 64, n_layers: int = 4, norm: str = "instance",
                 spectral_norm: bool = True, variant: str = "spade"):
        super().__init__()
        if variant not in VARIANTS:
            raise ValueError(f"unknown discriminator variant {variant!r}; valid: {', '.join(VARIANTS)}")
        kw, pad = 4, 2
        groups: list[list[nn.Module]] = [[nn.Conv2d(input_nc, ndf, kw, stride=2, padding=pad),
                                          nn.LeakyReLU(0.2)]]
        nf = ndf
        strides = [2] * (n_layers - 1)
        if variant == "spade":
            strides[-1] = 1
        else:
            strides.append(1)
        for stride in strides:
            nf_prev, nf = nf, min(nf * 2, 512)
            groups.append([conv_norm(nf_prev, nf, kw, stride, pad, norm, spectral_norm), nn.LeakyReLU(0.2)])
        groups.append([nn.Conv2d(nf, 1, kw, stride=1, padding=pad)])
        for j, group in enumerate(groups):
            self.add_module(f"model{j}", nn.Sequential(*group))

    def forward(self, x: Tensor) -> list[Tensor]:
        outputs = []
        for group in self.children():
            x = group(x)
            outputs.append(x)
        return outputs


class MultiscaleDiscriminator(nn.Module):
    """``num_D`` :class:`NLayerDiscriminator` s at successively halved resolutions.

    ``discriminator_0`` sees the full-resolution input; each next one sees it average-pooled with
    ``avg_pool2d(3, stride 2, padding 1, count_include_pad=False)`` (official SPADE and pix2pixHD).
    The forward returns one list per scale, each holding that scale's intermediate features with the
    prediction last — the format :class:`methods.nn.losses.GANLoss` and
    :func:`methods.nn.losses.feature_matching_loss` consume.
    """

    def __init__(self, input_nc: int, ndf: int = 64, n_layers: int = 4, num_D: int = 2,
                 norm: str = "instance", spectral_norm: bool = True, variant: str = "spade"):
        super().__init__()
        self.num_D = num_D
        for i in range(num_D):
            self.add_module(f"discriminator_{i}",
                            NLayerDiscriminator(input_nc, ndf, n_layers, norm, spectral_norm, variant))

    def forward(self, x: Tensor) -> list[list[Tensor]]:
        results = []
        for i, disc in enumerate(self.children()):
            if i > 0:
                x = F.avg_pool2d(x, kernel_size=3, stride=2, padding=1, count_include_pad=False)
            results.append(disc(x))
        return results
