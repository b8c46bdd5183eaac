"""SLNP-GAN's discriminators D0 and D1 (Zhang et al. 2020, Sec. 1.3, Fig. 7): one architecture, a
spectral-norm patch discriminator with the class histogram entering by projection (Miyato & Koyama 2018).
The decisions are in docs/methods.md."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from methods.nn.blocks import maybe_spectral


class ProjectionPatchDiscriminator(nn.Module):
    """D_img0 / D_img1: ``(image, semantic map, class histogram) -> [features..., patch logits]``."""

    def __init__(self, semantic_nc: int, hist_nc: int, ndf: int = 64, n_layers: int = 4,
                 spectral_norm: bool = True):
        super().__init__()
        layers = []
        cin = 3 + semantic_nc
        for i in range(n_layers):
            cout = ndf * min(2 ** i, 8)
            layers.append(nn.Sequential(maybe_spectral(nn.Conv2d(cin, cout, 4, stride=2, padding=1), spectral_norm),
                                        nn.LeakyReLU(0.2)))
            cin = cout
        self.layers = nn.ModuleList(layers)
        self.head = maybe_spectral(nn.Conv2d(cin, 1, 3, padding=1), spectral_norm)
        self.embed = maybe_spectral(nn.Linear(hist_nc, cin), spectral_norm)

    def forward(self, image: Tensor, seg: Tensor, hist: Tensor) -> list[Tensor]:
        h = torch.cat([image, seg], 1)
        feats = []
        for layer in self.layers:
            h = layer(h)
            feats.append(h)
        projection = (h * self.embed(hist).unsqueeze(-1).unsqueeze(-1)).sum(1, keepdim=True)
        return [*feats, self.head(h) + projection]
