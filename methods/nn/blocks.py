"""Residual and encoder blocks shared by the SPADE family of methods.

Park et al., "Semantic Image Synthesis with Spatially-Adaptive Normalization", CVPR 2019: the SPADE
residual block (Fig. 4 left, appendix A) and the VAE image encoder (appendix A, Fig. 14). Layouts follow
the official NVlabs/SPADE code (``models/networks/architecture.py``, ``encoder.py``) so that official
state dicts load with ``strict=True``.
"""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor, nn
from torch.nn.utils import spectral_norm as _spectral_norm

from methods.nn.norms import SPADE


def maybe_spectral(module: nn.Module, enabled: bool) -> nn.Module:
    """Wrap ``module`` in spectral normalization when ``enabled``.

    The hook-based :func:`torch.nn.utils.spectral_norm` (not the parametrization API) is used on purpose:
    its state-dict keys (``weight_orig``, ``weight_u``, ``weight_v``) are the ones the official
    checkpoints hold, and in eval mode it reuses the stored ``u``, ``v`` exactly as the official code does.
    """
    return _spectral_norm(module) if enabled else module


def conv_norm(in_channels: int, out_channels: int, kernel_size: int, stride: int, padding: int, norm: str,
              spectral_norm: bool, padding_mode: str = "zeros") -> nn.Module:
    """A conv (optionally spectral-normalized) followed by a parameter-free norm, as SPADE's
    ``get_nonspade_norm_layer``: with a norm the conv has no bias (the norm removes any constant shift)
    and the pair is ``Sequential(conv, norm)``, giving the official keys ``<name>.0.weight_orig``.

    ``norm`` is ``"instance"`` (affine-free InstanceNorm), ``"batch"`` (affine BatchNorm, as the official
    option) or ``"none"`` (the conv alone, with its bias). ``padding_mode`` is the conv's (``"zeros"``, as
    the official code, or ``"reflect"``; the state-dict keys do not change).

    The conv is built with a bias that is dropped after wrapping, in the official order, so that a given
    seed draws the same initial weights (and spectral-norm vectors) as the official code.
    """
    if norm not in ("instance", "batch", "none"):
        raise ValueError(f"unknown norm {norm!r}; valid: instance, batch, none")
    conv = maybe_spectral(nn.Conv2d(in_channels, out_channels, kernel_size, stride, padding,
                                    padding_mode=padding_mode), spectral_norm)
    if norm == "none":
        return conv
    conv.bias = None
    if norm == "instance":
        return nn.Sequential(conv, nn.InstanceNorm2d(out_channels, affine=False))
    return nn.Sequential(conv, nn.BatchNorm2d(out_channels, affine=True))


class SPADEResnetBlock(nn.Module):
    """SPADE residual block: ``shortcut(x) + conv_1(act(SPADE_1(conv_0(act(SPADE_0(x))))))``.

    Decisions (as the official code):

    - the shortcut is learned (``SPADE_s -> conv1x1``, no bias, no activation) only when ``fin != fout``;
      otherwise it is the identity;
    - the middle width is ``min(fin, fout)``;
    - the activation is LeakyReLU(0.2);
    - spectral norm (when enabled) wraps ``conv_0``, ``conv_1`` and ``conv_s`` only, never SPADE's convs;
    - ``norm`` is SPADE's parameter-free norm (``batch``, ``instance`` or ``syncbatch``);
    - ``padding_mode`` pads ``conv_0`` and ``conv_1``: ``"zeros"`` as the official code, or ``"reflect"``
      (same parameters and keys; an option for generators whose blocks run on small maps).
    """

    def __init__(self, fin: int, fout: int, semantic_nc: int, norm: str = "batch", spectral_norm: bool = True,
                 nhidden: int = 128, kernel_size: int = 3, padding_mode: str = "zeros"):
        super().__init__()
        self.learned_shortcut = fin != fout
        fmiddle = min(fin, fout)
        # All convs exist before any is wrapped (the official order), so a seed draws the official weights.
        conv_0 = nn.Conv2d(fin, fmiddle, 3, padding=1, padding_mode=padding_mode)
        conv_1 = nn.Conv2d(fmiddle, fout, 3, padding=1, padding_mode=padding_mode)
        conv_s = nn.Conv2d(fin, fout, 1, bias=False) if self.learned_shortcut else None
        self.conv_0 = maybe_spectral(conv_0, spectral_norm)
        self.conv_1 = maybe_spectral(conv_1, spectral_norm)
        if conv_s is not None:
            self.conv_s = maybe_spectral(conv_s, spectral_norm)
        self.norm_0 = SPADE(fin, semantic_nc, norm, nhidden, kernel_size)
        self.norm_1 = SPADE(fmiddle, semantic_nc, norm, nhidden, kernel_size)
        if self.learned_shortcut:
            self.norm_s = SPADE(fin, semantic_nc, norm, nhidden, kernel_size)

    def forward(self, x: Tensor, seg: Tensor) -> Tensor:
        x_s = self.conv_s(self.norm_s(x, seg)) if self.learned_shortcut else x
        dx = self.conv_0(F.leaky_relu(self.norm_0(x, seg), 0.2))
        dx = self.conv_1(F.leaky_relu(self.norm_1(dx, seg), 0.2))
        return x_s + dx


class ConvEncoder(nn.Module):
    """SPADE's VAE image encoder: image -> ``(mu, logvar)`` of the style code z.

    Decisions:

    - ``layer1..layer6``: spectral-norm conv3x3 stride 2 without bias + affine-free InstanceNorm, widths
      ngf, 2, 4, 8, 8, 8 x ngf, LeakyReLU(0.2) between layers and before the heads (official code);
    - the input is resized bilinearly to a fixed size so ``fc_mu``/``fc_var`` always see a 4x4 map: 256
      with six layers (official, ``crop_size >= 256``). For ``crop_size < 256`` the official code drops
      ``layer6`` but still resizes to 256, which makes its ``fc`` input size wrong (it cannot run); here the
      input is resized to 128 instead, the only size five stride-2 layers bring to 4x4;
    - ``fc_mu``/``fc_var`` output ``z_dim`` (the official code hard-codes 256, the default here).
    """

    def __init__(self, ngf: int = 64, crop_size: int = 256, z_dim: int = 256, norm: str = "instance",
                 spectral_norm: bool = True):
        super().__init__()
        widths = [3, ngf, ngf * 2, ngf * 4, ngf * 8, ngf * 8]
        if crop_size >= 256:
            widths.append(ngf * 8)
        for i in range(len(widths) - 1):
            layer = conv_norm(widths[i], widths[i + 1], 3, 2, 1, norm, spectral_norm)
            self.add_module(f"layer{i + 1}", layer)
        self.num_layers = len(widths) - 1
        self.input_size = 4 * 2 ** self.num_layers
        self.fc_mu = nn.Linear(ngf * 8 * 4 * 4, z_dim)
        self.fc_var = nn.Linear(ngf * 8 * 4 * 4, z_dim)

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        if x.shape[2:] != (self.input_size, self.input_size):
            x = F.interpolate(x, size=(self.input_size, self.input_size), mode="bilinear")
        x = self.layer1(x)
        for i in range(2, self.num_layers + 1):
            x = getattr(self, f"layer{i}")(F.leaky_relu(x, 0.2))
        x = F.leaky_relu(x, 0.2).flatten(1)
        return self.fc_mu(x), self.fc_var(x)
