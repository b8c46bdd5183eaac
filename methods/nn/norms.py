"""Normalization layers: SPADE (spatially-adaptive denormalization) and its parameter-free norms.

Park et al., "Semantic Image Synthesis with Spatially-Adaptive Normalization", CVPR 2019, Sec. 3 and
Eq. (1); layout and defaults as in the official NVlabs/SPADE code (``models/networks/normalization.py``).
"""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor, nn

PARAM_FREE_NORMS = ("batch", "instance", "syncbatch")


def make_param_free_norm(kind: str, num_features: int) -> nn.Module:
    """A normalization without learned affine parameters (SPADE's ``param_free_norm``).

    ``syncbatch`` is :class:`torch.nn.SyncBatchNorm`: it synchronises statistics across processes under
    DDP (the paper's setting, 8 GPUs) and behaves as plain BatchNorm in a single process, so one config
    serves both. Both batch variants keep running statistics, which the official checkpoints store.
    """
    if kind == "batch":
        return nn.BatchNorm2d(num_features, affine=False)
    if kind == "syncbatch":
        return nn.SyncBatchNorm(num_features, affine=False)
    if kind == "instance":
        return nn.InstanceNorm2d(num_features, affine=False)
    raise ValueError(f"unknown parameter-free norm {kind!r}; valid: {', '.join(PARAM_FREE_NORMS)}")


class SPADE(nn.Module):
    """Spatially-adaptive denormalization: ``norm(x) * (1 + gamma(m)) + beta(m)``.

    Decisions (all as the official code):

    - the segmentation map is resized to the activation's size with nearest-neighbour interpolation
      (paper Fig. 2), so one-hot maps stay one-hot;
    - gamma and beta come from a shared ``conv(k) -> ReLU`` embedding with ``nhidden`` = 128 channels,
      then one ``conv(k)`` each; ``k`` = 3 (paper Table 4's default);
    - the scale is ``1 + gamma``, so a zero-initialised gamma leaves the normalized activation unchanged;
    - no spectral norm inside SPADE (the official ``norm_G`` only wraps the residual convs).

    Submodule names (``param_free_norm``, ``mlp_shared.0``, ``mlp_gamma``, ``mlp_beta``) follow the
    official state dict so official checkpoints load with ``strict=True``.
    """

    def __init__(self, norm_nc: int, label_nc: int, param_free_norm: str = "batch", nhidden: int = 128,
                 kernel_size: int = 3):
        super().__init__()
        self.param_free_norm = make_param_free_norm(param_free_norm, norm_nc)
        pad = kernel_size // 2
        self.mlp_shared = nn.Sequential(nn.Conv2d(label_nc, nhidden, kernel_size, padding=pad), nn.ReLU())
        self.mlp_gamma = nn.Conv2d(nhidden, norm_nc, kernel_size, padding=pad)
        self.mlp_beta = nn.Conv2d(nhidden, norm_nc, kernel_size, padding=pad)

    def forward(self, x: Tensor, segmap: Tensor) -> Tensor:
        normalized = self.param_free_norm(x)
        segmap = F.interpolate(segmap, size=x.shape[2:], mode="nearest")
        actv = self.mlp_shared(segmap)
        return normalized * (1 + self.mlp_gamma(actv)) + self.mlp_beta(actv)
