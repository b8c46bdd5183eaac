"""SLNP-GAN's shared layers: the resolution ladder and the label-fed residual block of G0 and G1
(Zhang et al. 2020, Sec. 1.2; the decisions are in docs/methods.md)."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from methods.nn.norms import make_norm


def num_doublings(size: tuple[int, int]) -> int:
    """How many x2 steps lead from a map 4 pixels on its short side to ``size`` (both sides divisible)."""
    short = min(size)
    n = int(round(math.log2(short / 4)))
    if n < 1 or 4 * 2 ** n != short or size[0] % 2 ** n or size[1] % 2 ** n:
        raise ValueError(f"SLNP-GAN needs sides of the form 4 * 2^n (n >= 1) with both divisible by 2^n; "
                         f"got {size}")
    return n


def class_histogram(onehot: Tensor) -> Tensor:
    """Fraction of pixels per class, ``[B, C]``, of a one-hot ``[B, C, H, W]`` map."""
    return onehot.mean(dim=(2, 3))


class LabelResBlock(nn.Module):
    """Pre-activation residual block whose residual branch also sees the label resized to its size."""

    def __init__(self, fin: int, fout: int, label_nc: int, norm: str = "batch"):
        super().__init__()
        self.norm_0 = make_norm(norm, fin)
        self.conv_0 = nn.Conv2d(fin + label_nc, fout, 3, padding=1)
        self.norm_1 = make_norm(norm, fout)
        self.conv_1 = nn.Conv2d(fout, fout, 3, padding=1)
        self.shortcut = nn.Conv2d(fin, fout, 1, bias=False) if fin != fout else nn.Identity()

    def forward(self, x: Tensor, seg: Tensor) -> Tensor:
        seg = F.interpolate(seg, size=x.shape[2:], mode="nearest")
        dx = self.conv_0(torch.cat([F.relu(self.norm_0(x)), seg], 1))
        dx = self.conv_1(F.relu(self.norm_1(dx)))
        return self.shortcut(x) + dx
