"""SLNP-GAN's global generator G0 (Zhang et al. 2020, Sec. 1.2.1, Eqs. 8-9): the label's global
embedding G', the noise prior and the label to (y0, I0) at half the output resolution. The decisions are in
docs/methods.md."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from methods.nn.norms import make_norm
from methods.slnp.blocks import LabelResBlock, num_doublings


class G0Generator(nn.Module):
    """G0 (Sec. 1.2.1, Eqs. 8-9): ``(label L0, histogram, Z_np) -> (y0, I0)`` at G0's resolution."""

    def __init__(self, semantic_nc: int, hist_nc: int, size: tuple[int, int], ngf: int = 64, max_mult: int = 8,
                 z_dim: int = 256, emb_dim: int = 128, norm: str = "batch"):
        super().__init__()
        n = num_doublings(size)
        self.start = (size[0] // 2 ** n, size[1] // 2 ** n)
        widths = [ngf * min(2 ** (n - i), max_mult) for i in range(n + 1)]
        self.embed = nn.Sequential(nn.Linear(hist_nc, emb_dim), nn.ReLU(), nn.Linear(emb_dim, emb_dim))
        self.fc = nn.Linear(z_dim + emb_dim, widths[0] * self.start[0] * self.start[1])
        self.blocks = nn.ModuleList(LabelResBlock(widths[max(i - 1, 0)], widths[i], semantic_nc, norm)
                                    for i in range(n + 1))
        self.norm_out = make_norm(norm, widths[-1])
        self.conv_img = nn.Conv2d(widths[-1], 3, 3, padding=1)
        self.start_nc = widths[0]
        self.out_nc = widths[-1]

    def forward(self, seg: Tensor, hist: Tensor, z_np: Tensor) -> tuple[Tensor, Tensor]:
        g = self.embed(hist)
        x = self.fc(torch.cat([z_np, g], 1)).view(-1, self.start_nc, *self.start)
        for i, block in enumerate(self.blocks):
            if i > 0:
                x = F.interpolate(x, scale_factor=2, mode="nearest")
            x = block(x, seg)
        y0 = F.relu(self.norm_out(x))
        return y0, torch.tanh(self.conv_img(y0))
