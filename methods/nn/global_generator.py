"""pix2pixHD's global generator G1 (Wang et al., CVPR 2018, Sec. 3.2, Fig. 3) and its building blocks.

The layout follows the official NVIDIA/pix2pixHD ``models/networks.py`` (``GlobalGenerator``,
``ResnetBlock``, ``get_norm_layer``), so its ``latest_net_G.pth`` loads with ``strict=True``: reflect-pad
conv7x7 -> ``n_downsample_global`` stride-2 conv3x3 -> ``n_blocks_global`` residual blocks -> as many
ConvTranspose3x3 upsamplings -> reflect-pad conv7x7 -> tanh, each hidden conv followed by the norm and ReLU;
one ``Sequential`` named ``model``. pix2pixHD's local enhancer and feature encoder
(:mod:`methods.pix2pixhd.networks`, :mod:`methods.pix2pixhd.instance_features`) are built from the same
blocks.
"""

from __future__ import annotations

from torch import Tensor, nn

from methods.nn.norms import make_norm

#: the official ``get_norm_layer`` choices
PIX2PIXHD_NORMS = ("instance", "batch")
UPSAMPLES = ("transpose", "nearest")


def norm_layer(kind: str, channels: int) -> nn.Module:
    """The official ``get_norm_layer``: affine-free InstanceNorm (default) or affine BatchNorm."""
    return make_norm(kind, channels, affine=kind == "batch", kinds=PIX2PIXHD_NORMS)


def conv_block(in_ch: int, out_ch: int, norm: str, *, kernel: int, stride: int = 1) -> list[nn.Module]:
    """conv + norm + ReLU; a 7x7 conv is reflect-padded (the official stem), a 3x3 one zero-padded."""
    if kernel == 7:
        return [nn.ReflectionPad2d(3), nn.Conv2d(in_ch, out_ch, 7), norm_layer(norm, out_ch), nn.ReLU(True)]
    return [nn.Conv2d(in_ch, out_ch, 3, stride=stride, padding=1), norm_layer(norm, out_ch), nn.ReLU(True)]


def upsample_block(in_ch: int, out_ch: int, norm: str, upsample: str = "transpose") -> list[nn.Module]:
    """``"transpose"`` (official): ConvTranspose3x3 (stride 2, padding 1, output padding 1: exactly doubles
    H and W) + norm + ReLU. ``"nearest"``: nearest x2 + reflect-pad conv3x3 + norm + ReLU (resize-convolution,
    Odena et al. 2016): every output pixel sees the same number of input taps, so the layer cannot draw the
    one-pixel checkerboard a k3 s2 transposed convolution draws (its even outputs get one tap, odd two)."""
    if upsample == "transpose":
        return [nn.ConvTranspose2d(in_ch, out_ch, 3, stride=2, padding=1, output_padding=1),
                norm_layer(norm, out_ch), nn.ReLU(True)]
    if upsample == "nearest":
        return [nn.Upsample(scale_factor=2, mode="nearest"), nn.ReflectionPad2d(1), nn.Conv2d(in_ch, out_ch, 3),
                norm_layer(norm, out_ch), nn.ReLU(True)]
    raise ValueError(f"unknown model.upsample {upsample!r}; valid: {', '.join(UPSAMPLES)}")


def output_block(in_ch: int, out_ch: int) -> list[nn.Module]:
    return [nn.ReflectionPad2d(3), nn.Conv2d(in_ch, out_ch, 7), nn.Tanh()]


class ResnetBlock(nn.Module):
    """``x + [reflect-pad, conv3x3, norm, ReLU, reflect-pad, conv3x3, norm](x)`` (keys ``conv_block.N``)."""

    def __init__(self, dim: int, norm: str = "instance"):
        super().__init__()
        self.conv_block = nn.Sequential(
            nn.ReflectionPad2d(1), nn.Conv2d(dim, dim, 3), norm_layer(norm, dim), nn.ReLU(True),
            nn.ReflectionPad2d(1), nn.Conv2d(dim, dim, 3), norm_layer(norm, dim))

    def forward(self, x: Tensor) -> Tensor:
        return x + self.conv_block(x)


class GlobalGenerator(nn.Module):
    """The global generator G1 (Sec. 3.2); its input H and W must be divisible by
    ``2**n_downsample_global``."""

    def __init__(self, input_nc: int, output_nc: int = 3, ngf: int = 64, n_downsample_global: int = 4,
                 n_blocks_global: int = 9, norm: str = "instance", upsample: str = "transpose"):
        super().__init__()
        layers = conv_block(input_nc, ngf, norm, kernel=7)
        for i in range(n_downsample_global):
            layers += conv_block(ngf * 2**i, ngf * 2**(i + 1), norm, kernel=3, stride=2)
        width = ngf * 2**n_downsample_global
        layers += [ResnetBlock(width, norm) for _ in range(n_blocks_global)]
        for i in range(n_downsample_global, 0, -1):
            layers += upsample_block(ngf * 2**i, ngf * 2**(i - 1), norm, upsample)
        layers += output_block(ngf, output_nc)
        self.model = nn.Sequential(*layers)

    def forward(self, x: Tensor) -> Tensor:
        return self.model(x)
