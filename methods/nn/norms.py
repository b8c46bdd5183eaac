"""Normalization layers: SPADE (spatially-adaptive denormalization) and its parameter-free norms.

Park et al., "Semantic Image Synthesis with Spatially-Adaptive Normalization", CVPR 2019, Sec. 3 and
Eq. (1); layout and defaults as in the official NVlabs/SPADE code (``models/networks/normalization.py``).
"""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor, nn

#: the normalizations the methods build: BatchNorm, SyncBatchNorm (BatchNorm synchronised across DDP processes,
#: plain BatchNorm in one process) and InstanceNorm
NORMS = ("batch", "syncbatch", "instance")
PARAM_FREE_NORMS = NORMS


def make_norm(kind: str, num_features: int, *, affine: bool = True, kinds: tuple[str, ...] = NORMS) -> nn.Module:
    """A 2-D normalization layer of ``kind`` (one of ``kinds``), with or without learned scale and shift.

    InstanceNorm keeps no running statistics (PyTorch's default); both batch variants keep them, which the
    official checkpoints store. ``kinds`` narrows what a method accepts (pix2pixHD: instance or batch).
    """
    if kind not in kinds:
        raise ValueError(f"unknown norm {kind!r}; valid: {', '.join(kinds)}")
    if kind == "batch":
        return nn.BatchNorm2d(num_features, affine=affine)
    if kind == "syncbatch":
        return nn.SyncBatchNorm(num_features, affine=affine)
    return nn.InstanceNorm2d(num_features, affine=affine)


def make_param_free_norm(kind: str, num_features: int) -> nn.Module:
    """A normalization without learned affine parameters (SPADE's ``param_free_norm``).

    ``syncbatch`` is :class:`torch.nn.SyncBatchNorm`: it synchronises statistics across processes under
    DDP (the paper's setting, 8 GPUs) and behaves as plain BatchNorm in a single process, so one config
    serves both.
    """
    if kind not in PARAM_FREE_NORMS:
        raise ValueError(f"unknown parameter-free norm {kind!r}; valid: {', '.join(PARAM_FREE_NORMS)}")
    return make_norm(kind, num_features, affine=False)


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
