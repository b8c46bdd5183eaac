"""Weight initialisation as pix2pixHD/SPADE's ``init_weights`` (NVlabs/SPADE ``base_network.py``)."""

from __future__ import annotations

import torch
from torch import nn

INIT_TYPES = ("normal", "xavier", "xavier_uniform", "kaiming", "orthogonal")


def init_weights(module: nn.Module, init_type: str = "xavier", gain: float = 0.02) -> None:
    """Initialise every conv/linear weight of ``module`` and zero its bias; affine BatchNorm gets
    ``weight ~ N(1, gain)``, ``bias = 0``.

    SPADE's defaults are ``xavier`` with gain 0.02 (``--init_type xavier --init_variance 0.02``).
    A spectral-normalized layer's ``weight_orig`` (the learned weight) is the one initialised, as the
    official code does by writing into ``weight.data`` right after wrapping, when it still shares
    ``weight_orig``'s storage.
    """
    if init_type not in INIT_TYPES:
        raise ValueError(f"unknown init_type {init_type!r}; valid: {', '.join(INIT_TYPES)}")
    for m in module.modules():
        if isinstance(m, nn.BatchNorm2d | nn.SyncBatchNorm):
            if m.weight is not None:
                nn.init.normal_(m.weight, 1.0, gain)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.Conv2d | nn.ConvTranspose2d | nn.Linear):
            weight = m.weight_orig if hasattr(m, "weight_orig") else m.weight
            if init_type == "normal":
                nn.init.normal_(weight, 0.0, gain)
            elif init_type == "xavier":
                nn.init.xavier_normal_(weight, gain=gain)
            elif init_type == "xavier_uniform":
                nn.init.xavier_uniform_(weight, gain=1.0)
            elif init_type == "kaiming":
                nn.init.kaiming_normal_(weight, a=0, mode="fan_in")
            else:
                nn.init.orthogonal_(weight, gain=gain)
            if m.bias is not None:
                nn.init.zeros_(m.bias)


def bilinear_kernel(size: int, factor: int) -> torch.Tensor:
    """The ``size x size`` kernel of bilinear upsampling by ``factor`` as a transposed convolution (FCN, Long
    et al., CVPR 2015, ``upsample_filt``): ``(1 - |i - c| / f) (1 - |j - c| / f)``, ``f = (size + 1) // 2``,
    ``c = f - 1`` for odd ``size`` and ``f - 0.5`` for even; ``size=3, factor=2``: outer([0.5, 1, 0.5])."""
    f = (size + 1) // 2
    center = f - 1 if size % 2 == 1 else f - 0.5
    if f != factor:
        raise ValueError(f"a {size}x{size} transposed convolution is bilinear for factor {f}, not {factor}")
    og = 1 - (torch.arange(size, dtype=torch.float64) - center).abs() / f
    return torch.outer(og, og)


@torch.no_grad()
def bilinear_transposed_init_(conv: nn.ConvTranspose2d, std: float = 0.02) -> None:
    """A stride-2 transposed convolution as bilinear upsampling followed by a random ``N(0, std)`` channel
    mix: ``weight[i, o] = m[i, o] * bilinear_kernel``. At initialisation every output pixel is the same
    blend of its inputs, so the layer starts free of the checkerboard that an i.i.d. kernel draws where
    output pixels see different numbers of taps (Odena et al., Distill 2016); training may still learn one."""
    if conv.stride != (2, 2) or conv.kernel_size[0] != conv.kernel_size[1]:
        raise ValueError(f"bilinear initialisation needs a square stride-2 transposed convolution, got kernel "
                         f"{conv.kernel_size} stride {conv.stride}")
    mix = torch.randn(conv.weight.shape[:2], dtype=torch.float64) * std
    kernel = bilinear_kernel(conv.kernel_size[0], 2)
    conv.weight.copy_((mix[:, :, None, None] * kernel).to(conv.weight.dtype))
