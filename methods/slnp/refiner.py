"""SLNP-GAN's local refinement generator G1 (Zhang et al. 2020, Sec. 1.2.2, Eqs. 13-17): region queries
of (I0, y0) attend over the instances of L1, and residual blocks refine G0's features to the output
resolution. The decisions are in docs/methods.md."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from methods.nn.norms import make_norm
from methods.slnp.blocks import LabelResBlock
from methods.slnp.instances import Instances


class AttentionRefiner(nn.Module):
    """G1 (Sec. 1.2.2, Eqs. 13-17): region queries of (I0, y0) attend over the instances of L1; at y0's
    resolution, ``y0 + Enc(L1)`` and the instance-level context V enter residual blocks fed mu1 (L1
    resized), which are then upsampled to the output resolution: y1; I1 = tanh(conv3x3(y1))."""

    def __init__(self, semantic_nc: int, num_classes: int, y0_nc: int, scale: int = 2, ngf: int = 64,
                 att_dim: int = 128, n_blocks: int = 3, region_size: int = 16, norm: str = "batch"):
        super().__init__()
        n_up = int(round(math.log2(scale)))
        if scale < 2 or 2 ** n_up != scale:
            raise ValueError(f"model.g0_scale must be a power of 2 (>= 2), got {scale}")
        self.scale = scale
        self.region_size = region_size
        # Enc(L1): the high-resolution label encoded down to y0's size and width (Eq. 16 adds the two).
        enc: list[nn.Module] = []
        for i in range(n_up):
            enc += [nn.Conv2d(semantic_nc if i == 0 else y0_nc, y0_nc, 3, stride=2, padding=1),
                    make_norm(norm, y0_nc), nn.ReLU()]
        self.label_encoder = nn.Sequential(*enc)
        self.key_proj = nn.Conv2d(y0_nc, att_dim, 1)
        self.class_embed = nn.Embedding(num_classes, att_dim)
        self.query_proj = nn.Conv2d(3 + y0_nc, att_dim, 1)
        self.conv_in = nn.Conv2d(y0_nc + att_dim, ngf, 3, padding=1)
        self.blocks = nn.ModuleList(LabelResBlock(ngf, ngf, semantic_nc, norm) for _ in range(n_blocks))
        self.norm_out = make_norm(norm, ngf)
        up: list[nn.Module] = []
        for _ in range(n_up):
            up += [nn.Upsample(scale_factor=2, mode="nearest"), nn.Conv2d(ngf, ngf, 3, padding=1),
                   make_norm(norm, ngf), nn.ReLU()]
        self.upsample = nn.Sequential(*up)
        self.conv_img = nn.Conv2d(ngf, 3, 3, padding=1)

    def grid(self, size: tuple[int, int]) -> tuple[int, int]:
        if size[0] % self.region_size or size[1] % self.region_size:
            raise ValueError(f"the output size {size} is not a multiple of model.region_size={self.region_size}")
        return size[0] // self.region_size, size[1] // self.region_size

    def context(self, seg: Tensor, instances: Instances, y0: Tensor,
                image0: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """``(Enc(L1), V, weights)``: the label encoding and V at y0's resolution, and the attention
        ``weights`` ``[B, gh * gw, T]`` per region (row-major) over instances (Eqs. 13-15)."""
        size = tuple(seg.shape[2:])
        gh, gw = self.grid(size)
        enc = self.label_encoder(seg)
        full = instances.masks().to(enc.dtype)                                     # [B, T, H, W]
        # Each instance's share of every pixel of y0's grid: the masks area-averaged to that grid.
        low = F.avg_pool2d(full, self.scale).flatten(2)                            # [B, T, hw]
        area = low.sum(2, keepdim=True).clamp(min=1e-12)
        feats = self.key_proj(enc).flatten(2).transpose(1, 2)                      # [B, hw, A]
        values = self.class_embed(instances.classes) + torch.bmm(low, feats) / area    # [B, T, A]
        pooled = F.adaptive_avg_pool2d(torch.cat([image0, y0], 1), (gh, gw))
        queries = self.query_proj(pooled).flatten(2).transpose(1, 2)               # [B, J, A]
        scores = torch.bmm(queries, values.transpose(1, 2))                        # [B, J, T]
        weights = scores.masked_fill(~instances.present.unsqueeze(1), float("-inf")).softmax(-1)
        region_context = torch.bmm(weights, values)                                # [B, J, A]
        # Each instance's context: the region contexts averaged over its pixels (its share of each cell).
        share = F.adaptive_avg_pool2d(full, (gh, gw)).flatten(2)                   # [B, T, J]
        share = share / share.sum(2, keepdim=True).clamp(min=1e-12)
        instance_context = torch.bmm(share, region_context)                        # [B, T, A]
        # V (Eq. 15) at full resolution is each pixel's instance context; area-averaged to y0's grid it
        # is the instance contexts weighted by the instances' shares of each pixel there.
        painted = torch.bmm(low.transpose(1, 2), instance_context)                 # [B, hw, A]
        v = painted.transpose(1, 2).reshape(painted.shape[0], -1, *enc.shape[2:])
        return enc, v, weights

    def forward(self, seg: Tensor, instances: Instances, y0: Tensor, image0: Tensor) -> tuple[Tensor, Tensor]:
        """``(I1, weights)``; ``weights`` as :meth:`context`'s."""
        enc, v, weights = self.context(seg, instances, y0, image0)
        x = self.conv_in(torch.cat([y0 + enc, v], 1))
        for block in self.blocks:
            x = block(x, seg)                     # the block resizes L1 to its size: mu1
        y1 = self.upsample(F.relu(self.norm_out(x)))
        return torch.tanh(self.conv_img(y1)), weights
