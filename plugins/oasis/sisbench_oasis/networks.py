"""OASIS's networks: the SPADE generator fed with 3D noise, and the U-Net segmentation discriminator.

Schönfeld, Sushko, Zhang, Gall, Schiele, Khoreva, "You Only Need Adversarial Supervision for Semantic Image
Synthesis", ICLR 2021, Sec. 3.1 (discriminator) and 3.3 (3D noise); layouts read (never copied) from
boschresearch/OASIS ``models/generator.py`` and ``models/discriminator.py``. Parameter names follow the
official state dicts (``fc``, ``body.{i}``, ``conv_img``; ``body_down.{i}``, ``body_up.{i}``,
``layer_up_last``), except one: SISBench's shared SPADE layer calls its parameter-free norm
``param_free_norm`` where the official code says ``first_norm``; :func:`official_generator_state` maps it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch
import torch.nn.functional as F
from methods.nn.blocks import SPADEResnetBlock, maybe_spectral
from torch import Tensor, nn

#: the generator's residual blocks; the official ``num_res_blocks`` option exists but its generator (a fixed
#: list of seven widths) and discriminator (six down, six up blocks) only build with 6
NUM_RES_BLOCKS = 6
#: generator block widths in units of ngf (official ``channels_G``): 16, 16, 16, 8, 4, 2, 1
G_WIDTHS = (16, 16, 16, 8, 4, 2, 1)
#: discriminator encoder widths in units of ndf (the official code hard-codes 3, 128, 128, 256, 256, 512,
#: 512 and a last decoder width of 64: ndf = 64 reproduces it)
D_WIDTHS = (2, 2, 4, 4, 8, 8)
NOISE_MODES = ("image", "region", "pixel")


def sample_noise(seg: Tensor, z_dim: int, mode: str = "image") -> Tensor:
    """A 3D noise tensor ``[B, z_dim, H, W]`` for the one-hot map ``seg`` ``[B, C, H, W]``.

    - ``image`` (the official generator's and the default): one N(0, I) vector per image, replicated over
      every pixel. It is drawn as ``torch.randn(B, z_dim)`` in float32, the official call, so one seed gives
      the official noise;
    - ``region``: one N(0, I) vector per image and semantic class, replicated over that class's pixels (the
      authors' local resampling, boschresearch/OASIS issue #25, applied to every region at once);
    - ``pixel``: independent N(0, I) at every pixel.
    """
    if mode not in NOISE_MODES:
        raise ValueError(f"unknown noise mode {mode!r}; valid: {', '.join(NOISE_MODES)}")
    b, c, h, w = seg.shape
    if mode == "image":
        z = torch.randn(b, z_dim, dtype=torch.float32, device=seg.device).to(seg.dtype)
        return z.view(b, z_dim, 1, 1).expand(b, z_dim, h, w)
    if mode == "pixel":
        return torch.randn(b, z_dim, h, w, dtype=torch.float32, device=seg.device).to(seg.dtype)
    per_class = torch.randn(b, c, z_dim, dtype=torch.float32, device=seg.device).to(seg.dtype)
    index = seg.argmax(1)                                              # [B, H, W]
    batch = torch.arange(b, device=seg.device).view(b, 1, 1)
    return per_class[batch, index].permute(0, 3, 1, 2)                 # [B, z_dim, H, W]


def expand_noise(z: Tensor, seg: Tensor, z_dim: int) -> Tensor:
    """A given noise: ``[B, z_dim]`` (replicated over the pixels) or ``[B, z_dim, H, W]`` (a full 3D tensor,
    e.g. with one region resampled)."""
    b, _, h, w = seg.shape
    if z.dim() == 2 and tuple(z.shape) == (b, z_dim):
        return z.to(seg.dtype).view(b, z_dim, 1, 1).expand(b, z_dim, h, w)
    if z.dim() == 4 and tuple(z.shape) == (b, z_dim, h, w):
        return z.to(seg.dtype)
    raise ValueError(f"z must be [B, {z_dim}] or [B, {z_dim}, H, W] for a label map of shape "
                     f"{tuple(seg.shape)}; got {tuple(z.shape)}")


def latent_size(height: int, width: int) -> tuple[int, int]:
    """The generator's start ``(sh, sw)`` as the official ``compute_latent_vector_size``: width
    ``W / 2**5``, height ``round(sw / aspect)``; the image size must be what five doublings give back."""
    sw = width // 2 ** (NUM_RES_BLOCKS - 1)
    sh = round(sw / (width / height)) if sw else 0
    if sw < 1 or sh < 1 or (sh * 2 ** (NUM_RES_BLOCKS - 1), sw * 2 ** (NUM_RES_BLOCKS - 1)) != (height, width):
        raise ValueError(f"OASIS generates images whose sides are multiples of 32 (five doublings from its "
                         f"start size); {height}x{width} is not one: pick another image size")
    return sh, sw


class OASISGenerator(nn.Module):
    """The OASIS generator: SPADE residual blocks conditioned on the label map concatenated with 3D noise.

    Layout (official ``OASIS_Generator``): ``fc`` = conv3x3 of ``[z, seg]`` nearest-resized to the start
    size (``H/32 x W/32``) to 16 ngf; six SPADE residual blocks ``body.0..5`` of widths 16, 16, 16, 8, 4, 2,
    1 x ngf, a nearest x2 upsampling after each but the last; LeakyReLU(0.2) -> ``conv_img`` 3x3 -> tanh.
    Every SPADE sees ``[z, seg]`` (noise channels first), resized to its activation. The residual blocks are
    SISBench's :class:`methods.nn.blocks.SPADEResnetBlock`, the same layer as the official
    ``ResnetBlock_with_SPADE`` (learned shortcut when the width changes, middle width ``min(fin, fout)``,
    LeakyReLU 0.2, spectral norm on ``conv_0``, ``conv_1``, ``conv_s``).
    """

    def __init__(self, semantic_nc: int, image_size: tuple[int, int], ngf: int = 64, z_dim: int = 64,
                 use_noise: bool = True, noise_mode: str = "image", norm: str = "syncbatch",
                 spectral_norm: bool = True, nhidden: int = 128, kernel_size: int = 3):
        super().__init__()
        if noise_mode not in NOISE_MODES:
            raise ValueError(f"unknown noise mode {noise_mode!r}; valid: {', '.join(NOISE_MODES)}")
        self.sh, self.sw = latent_size(*image_size)
        self.semantic_nc = semantic_nc
        self.z_dim = z_dim if use_noise else 0
        self.use_noise = use_noise
        self.noise_mode = noise_mode
        cond_nc = semantic_nc + self.z_dim
        widths = [m * ngf for m in G_WIDTHS]
        self.fc = nn.Conv2d(cond_nc, widths[0], 3, padding=1)
        self.body = nn.ModuleList(
            SPADEResnetBlock(widths[i], widths[i + 1], cond_nc, norm, spectral_norm, nhidden, kernel_size)
            for i in range(NUM_RES_BLOCKS))
        self.conv_img = nn.Conv2d(widths[-1], 3, 3, padding=1)

    def conditioning(self, seg: Tensor, z: Tensor | None = None) -> Tensor:
        """``[z, seg]``: the map every layer is conditioned on (``seg`` alone without noise)."""
        if not self.use_noise:
            if z is not None:
                raise ValueError("this generator has no 3D noise (model.use_3d_noise=False): it takes no z")
            return seg
        noise = sample_noise(seg, self.z_dim, self.noise_mode) if z is None else expand_noise(z, seg, self.z_dim)
        return torch.cat([noise, seg], dim=1)

    def forward(self, seg: Tensor, z: Tensor | None = None) -> Tensor:
        cond = self.conditioning(seg, z)
        x = self.fc(F.interpolate(cond, size=(self.sh, self.sw), mode="nearest"))
        for i, block in enumerate(self.body):
            x = block(x, cond)
            if i < NUM_RES_BLOCKS - 1:
                x = F.interpolate(x, scale_factor=2, mode="nearest")
        return torch.tanh(self.conv_img(F.leaky_relu(x, 0.2)))


class DiscriminatorBlock(nn.Module):
    """A residual block of the OASIS discriminator (official ``residual_block_D``).

    - ``conv1``: conv3x3 preceded by LeakyReLU(0.2) (none in the very first block), and, in an up block,
      by a nearest x2 upsampling; ``conv2``: LeakyReLU(0.2) -> conv3x3. Both keep the output width and have
      biases; spectral norm wraps every conv when enabled;
    - down blocks average-pool (2x2) the residual branch after ``conv2``;
    - shortcut: a 1x1 conv (with bias) when the width changes, else the identity; the first block pools
      before it, other down blocks after it, up blocks upsample before it.

    The Sequential layout keeps the official keys (``conv1.0`` / ``conv1.1`` / ``conv1.2``, ``conv2.1``,
    ``conv_s``).
    """

    def __init__(self, fin: int, fout: int, up: bool, first: bool = False, spectral_norm: bool = True):
        super().__init__()
        self.up = up
        self.first = first
        self.learned_shortcut = fin != fout

        def conv(cin: int, cout: int, k: int) -> nn.Module:
            return maybe_spectral(nn.Conv2d(cin, cout, k, 1, k // 2), spectral_norm)

        if first:
            self.conv1 = nn.Sequential(conv(fin, fout, 3))
        elif up:
            self.conv1 = nn.Sequential(nn.LeakyReLU(0.2), nn.Upsample(scale_factor=2), conv(fin, fout, 3))
        else:
            self.conv1 = nn.Sequential(nn.LeakyReLU(0.2), conv(fin, fout, 3))
        self.conv2 = nn.Sequential(nn.LeakyReLU(0.2), conv(fout, fout, 3))
        if self.learned_shortcut:
            self.conv_s = conv(fin, fout, 1)

    def shortcut(self, x: Tensor) -> Tensor:
        if self.up:
            x = F.interpolate(x, scale_factor=2, mode="nearest")
        elif self.first:
            x = F.avg_pool2d(x, 2)
        if self.learned_shortcut:
            x = self.conv_s(x)
        if not self.up and not self.first:
            x = F.avg_pool2d(x, 2)
        return x

    def forward(self, x: Tensor) -> Tensor:
        dx = self.conv2(self.conv1(x))
        if not self.up:
            dx = F.avg_pool2d(dx, 2)
        return self.shortcut(x) + dx


class OASISDiscriminator(nn.Module):
    """The OASIS segmentation discriminator (paper Sec. 3.1, Fig. 3; official ``OASIS_Discriminator``).

    A U-Net of residual blocks on the image alone (no label map input): six down blocks of widths 2, 2, 4,
    4, 8, 8 x ndf (each halving the resolution), six up blocks mirroring them, each but the first fed the
    concatenation ``[encoder feature, decoder feature]`` of equal resolution, the last up block to ndf
    channels, then a 1x1 conv ``layer_up_last`` to ``num_outputs`` = N + 1 per-pixel logits (channel 0:
    fake; 1..N: the real classes). Input sides must be multiples of 64. ``ndf`` = 64 is the official network.
    """

    def __init__(self, num_outputs: int, ndf: int = 64, spectral_norm: bool = True):
        super().__init__()
        widths = [3] + [m * ndf for m in D_WIDTHS]
        n = NUM_RES_BLOCKS
        self.body_down = nn.ModuleList(
            DiscriminatorBlock(widths[i], widths[i + 1], up=False, first=i == 0, spectral_norm=spectral_norm)
            for i in range(n))
        ups = [DiscriminatorBlock(widths[-1], widths[-2], up=True, spectral_norm=spectral_norm)]
        ups += [DiscriminatorBlock(2 * widths[-1 - i], widths[-2 - i], up=True, spectral_norm=spectral_norm)
                for i in range(1, n - 1)]
        ups.append(DiscriminatorBlock(2 * widths[1], ndf, up=True, spectral_norm=spectral_norm))
        self.body_up = nn.ModuleList(ups)
        self.layer_up_last = nn.Conv2d(ndf, num_outputs, 1)

    def forward(self, image: Tensor) -> Tensor:
        if image.shape[-2] % 64 or image.shape[-1] % 64:
            raise ValueError(f"the OASIS discriminator halves the resolution six times: image sides must be "
                             f"multiples of 64, got {tuple(image.shape[-2:])}")
        features = []
        x = image
        for block in self.body_down:
            x = block(x)
            features.append(x)
        x = self.body_up[0](x)
        for i in range(1, len(self.body_up)):
            x = self.body_up[i](torch.cat([features[-i - 1], x], dim=1))
        return self.layer_up_last(x)


# -- official checkpoints ------------------------------------------------------------------------------------

_OFFICIAL_NORM = ".first_norm."
_OURS_NORM = ".param_free_norm."


def official_label_order(num_classes: int, contain_dontcare_label: bool) -> list[int]:
    """For each channel of SISBench's one-hot map, its channel in the official OASIS map.

    SISBench puts classes ``0..N-1`` first and the don't-care channel last; the official ADE20K and
    COCO-Stuff loaders put "unknown" at channel 0 and class k at k + 1. Without a don't-care channel
    (Cityscapes: 35 label ids in both) the orders agree.
    """
    if not contain_dontcare_label:
        return list(range(num_classes))
    return [k + 1 for k in range(num_classes)] + [0]


def _permute_inputs(weight: Tensor, offset: int, order: Sequence[int]) -> Tensor:
    """``weight[:, offset + j]`` <- ``weight[:, offset + order[j]]`` (a conv's semantic input channels)."""
    index = torch.arange(weight.shape[1])
    index[offset:offset + len(order)] = torch.as_tensor(order) + offset
    return weight.index_select(1, index)


def official_generator_state(state: Mapping[str, Tensor], z_dim: int,
                             label_order: Sequence[int] | None = None) -> dict[str, Tensor]:
    """An official OASIS generator state dict (``*_G.pth`` / ``*_EMA.pth``) in :class:`OASISGenerator`'s
    layout: ``first_norm`` renamed, and the semantic input channels of ``fc`` and of every SPADE's
    ``mlp_shared.0`` reordered by ``label_order`` (:func:`official_label_order`; None keeps them)."""
    out: dict[str, Tensor] = {}
    for key, value in state.items():
        new = key.replace(_OFFICIAL_NORM, _OURS_NORM)
        if label_order is not None and (key == "fc.weight" or key.endswith("mlp_shared.0.weight")):
            value = _permute_inputs(value, z_dim, label_order)
        out[new] = value
    return out

