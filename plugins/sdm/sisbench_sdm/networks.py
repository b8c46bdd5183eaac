"""SDM's denoising U-Net: the noisy image enters the encoder, the label map modulates every decoder block.

Written from the paper (Wang et al., arXiv 2207.00050, Sec. 3.2 and Fig. 3) and from reading
WeilunWang/semantic-diffusion-model's ``guided_diffusion/unet.py`` (no licence) and its base,
openai/guided-diffusion (MIT); no code is copied. What the network is:

- a sinusoidal timestep embedding (``cos`` half first, then ``sin``; period 10,000) through
  Linear-SiLU-Linear to ``4 x model_channels``;
- encoder: a 3x3 conv, then per level ``num_res_blocks`` residual blocks (GroupNorm, SiLU, conv; the
  timestep embedding as a scale and shift of the second GroupNorm, "scale-shift norm"; dropout; a
  zero-initialised conv), with self-attention where the feature map's side is one of
  ``attention_resolutions``, and a residual down-sampling block (average pooling inside) between levels;
- middle: decoder block, attention, decoder block;
- decoder: per level ``num_res_blocks + 1`` blocks on the concatenation with the encoder's skip features,
  each block's two GroupNorms replaced by *spatially-adaptive* GroupNorm (``SPADEGroupNorm``: the
  parameter-free GroupNorm, then ``x * (1 + gamma(seg)) + beta(seg)`` from a 3x3 conv-ReLU embedding of the
  label map resized by nearest neighbour), attention as in the encoder, a residual up-sampling block
  (nearest) closing each level but the last;
- output: GroupNorm, SiLU and a zero-initialised 3x3 conv to 3 channels (6 with learned variance: the
  noise prediction, then the variance interpolation ``v`` of Nichol & Dhariwal's learned range).

The attribute names follow the state-dict layout of the released ``ema_0.9999_best.pt`` checkpoints
(``input_blocks.<i>.<j>``, ``middle_block``, ``output_blocks``, ``in_norm`` / ``out_norm`` with ``mlp_shared``,
``mlp_gamma``, ``mlp_beta``), so :func:`official_state` is a checked, strict load rather than a rename table.
GroupNorms compute in float32 whatever the autocast dtype, as the official ``GroupNorm32``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.utils.checkpoint import checkpoint

#: official create_model: channel multipliers by image side when ``channel_mult`` is not given
DEFAULT_CHANNEL_MULT = {512: (0.5, 1, 1, 2, 2, 4, 4), 256: (1, 1, 2, 2, 4, 4), 128: (1, 1, 2, 3, 4),
                        64: (1, 2, 3, 4)}


def timestep_embedding(t: Tensor, dim: int, max_period: float = 10000.0) -> Tensor:
    """``[N]`` (possibly fractional) timesteps -> ``[N, dim]`` sinusoidal features, cosines first."""
    half = dim // 2
    freqs = torch.exp(-math.log(max_period) * torch.arange(half, dtype=torch.float32, device=t.device) / half)
    angles = t.float()[:, None] * freqs[None]
    emb = torch.cat([torch.cos(angles), torch.sin(angles)], dim=-1)
    if dim % 2:
        emb = F.pad(emb, (0, 1))
    return emb


class Float32GroupNorm(nn.GroupNorm):
    """GroupNorm evaluated in float32 (float64 stays float64) and cast back: stable under fp16 autocast."""

    def forward(self, x: Tensor) -> Tensor:
        with torch.autocast(device_type=x.device.type, enabled=False):
            wide = x if x.dtype == torch.float64 else x.float()
            return super().forward(wide).to(x.dtype)


def _zeroed(module: nn.Module) -> nn.Module:
    for p in module.parameters():
        nn.init.zeros_(p)
    return module


class SPADEGroupNorm(nn.Module):
    """Parameter-free GroupNorm modulated per pixel by the label map: ``norm(x) * (1 + gamma) + beta``."""

    def __init__(self, channels: int, label_nc: int, groups: int = 32, hidden: int = 128, eps: float = 1e-5):
        super().__init__()
        self.norm = Float32GroupNorm(groups, channels, eps=eps, affine=False)
        self.mlp_shared = nn.Sequential(nn.Conv2d(label_nc, hidden, 3, padding=1), nn.ReLU())
        self.mlp_gamma = nn.Conv2d(hidden, channels, 3, padding=1)
        self.mlp_beta = nn.Conv2d(hidden, channels, 3, padding=1)

    def forward(self, x: Tensor, seg: Tensor) -> Tensor:
        normed = self.norm(x)
        seg = F.interpolate(seg.to(x.dtype), size=x.shape[2:], mode="nearest")
        act = self.mlp_shared(seg)
        return normed * (1 + self.mlp_gamma(act)) + self.mlp_beta(act)


class _Resample(nn.Module):
    def __init__(self, mode: str | None):
        super().__init__()
        self.mode = mode

    def forward(self, x: Tensor) -> Tensor:
        if self.mode == "down":
            return F.avg_pool2d(x, 2)
        if self.mode == "up":
            return F.interpolate(x, scale_factor=2, mode="nearest")
        return x


class EncoderBlock(nn.Module):
    """Residual block of the encoder: GroupNorm-SiLU-conv, timestep scale-shift norm, SiLU-dropout-conv."""

    def __init__(self, channels: int, emb_channels: int, out_channels: int | None = None, *, dropout: float = 0.0,
                 scale_shift: bool = True, resample: str | None = None, groups: int = 32,
                 use_checkpoint: bool = False):
        super().__init__()
        out_channels = out_channels or channels
        self.scale_shift = scale_shift
        self.use_checkpoint = use_checkpoint
        self.in_layers = nn.Sequential(Float32GroupNorm(groups, channels), nn.SiLU(),
                                       nn.Conv2d(channels, out_channels, 3, padding=1))
        self.resample = _Resample(resample)
        self.emb_layers = nn.Sequential(nn.SiLU(), nn.Linear(emb_channels, out_channels * (2 if scale_shift else 1)))
        self.out_layers = nn.Sequential(Float32GroupNorm(groups, out_channels), nn.SiLU(), nn.Dropout(dropout),
                                        _zeroed(nn.Conv2d(out_channels, out_channels, 3, padding=1)))
        self.skip_connection = nn.Identity() if out_channels == channels else nn.Conv2d(channels, out_channels, 1)

    def forward(self, x: Tensor, seg: Tensor, emb: Tensor) -> Tensor:
        if self.use_checkpoint and torch.is_grad_enabled():
            return checkpoint(self._forward, x, emb, use_reentrant=False)
        return self._forward(x, emb)

    def _forward(self, x: Tensor, emb: Tensor) -> Tensor:
        norm_act, conv = self.in_layers[:2], self.in_layers[2]
        h = conv(self.resample(norm_act(x)))
        x = self.resample(x)
        e = self.emb_layers(emb).to(h.dtype)[:, :, None, None]
        if self.scale_shift:
            scale, shift = e.chunk(2, dim=1)
            h = self.out_layers[0](h) * (1 + scale) + shift
            h = self.out_layers[1:](h)
        else:
            h = self.out_layers(h + e)
        return self.skip_connection(x) + h


class DecoderBlock(nn.Module):
    """SDM's decoder residual block: both norms are :class:`SPADEGroupNorm` on the label map."""

    def __init__(self, channels: int, emb_channels: int, label_nc: int, out_channels: int | None = None, *,
                 dropout: float = 0.0, scale_shift: bool = True, resample: str | None = None, groups: int = 32,
                 spade_hidden: int = 128, use_checkpoint: bool = False):
        super().__init__()
        out_channels = out_channels or channels
        self.scale_shift = scale_shift
        self.use_checkpoint = use_checkpoint
        self.in_norm = SPADEGroupNorm(channels, label_nc, groups, spade_hidden)
        self.in_layers = nn.Sequential(nn.SiLU(), nn.Conv2d(channels, out_channels, 3, padding=1))
        self.resample = _Resample(resample)
        self.emb_layers = nn.Sequential(nn.SiLU(), nn.Linear(emb_channels, out_channels * (2 if scale_shift else 1)))
        self.out_norm = SPADEGroupNorm(out_channels, label_nc, groups, spade_hidden)
        self.out_layers = nn.Sequential(nn.SiLU(), nn.Dropout(dropout),
                                        _zeroed(nn.Conv2d(out_channels, out_channels, 3, padding=1)))
        self.skip_connection = nn.Identity() if out_channels == channels else nn.Conv2d(channels, out_channels, 1)

    def forward(self, x: Tensor, seg: Tensor, emb: Tensor) -> Tensor:
        if self.use_checkpoint and torch.is_grad_enabled():
            return checkpoint(self._forward, x, seg, emb, use_reentrant=False)
        return self._forward(x, seg, emb)

    def _forward(self, x: Tensor, seg: Tensor, emb: Tensor) -> Tensor:
        h = self.in_layers[0](self.in_norm(x, seg))
        h = self.in_layers[1](self.resample(h))
        x = self.resample(x)
        e = self.emb_layers(emb).to(h.dtype)[:, :, None, None]
        if self.scale_shift:
            scale, shift = e.chunk(2, dim=1)
            h = self.out_norm(h, seg) * (1 + scale) + shift
        else:
            h = self.out_norm(h + e, seg)
        return self.skip_connection(x) + self.out_layers(h)


class AttentionBlock(nn.Module):
    """Self-attention over the pixels with ``channels // head_channels`` heads (the checkpoints' "legacy" head
    order: the qkv projection is split into heads first, then into q, k, v)."""

    def __init__(self, channels: int, head_channels: int = 64, num_heads: int = 4, groups: int = 32,
                 use_checkpoint: bool = False):
        super().__init__()
        if head_channels > 0:
            if channels % head_channels:
                raise ValueError(f"attention over {channels} channels cannot use heads of {head_channels} channels; "
                                 f"pick model.num_head_channels dividing every level's width")
            num_heads = channels // head_channels
        self.num_heads = num_heads
        self.use_checkpoint = use_checkpoint
        self.norm = Float32GroupNorm(groups, channels)
        self.qkv = nn.Conv1d(channels, 3 * channels, 1)
        self.proj_out = _zeroed(nn.Conv1d(channels, channels, 1))

    def forward(self, x: Tensor, seg: Tensor | None = None, emb: Tensor | None = None) -> Tensor:
        if self.use_checkpoint and torch.is_grad_enabled():
            return checkpoint(self._forward, x, use_reentrant=False)
        return self._forward(x)

    def _forward(self, x: Tensor) -> Tensor:
        b, c, *spatial = x.shape
        flat = x.reshape(b, c, -1)
        qkv = self.qkv(self.norm(flat))
        n = qkv.shape[-1]
        head = c // self.num_heads
        q, k, v = qkv.reshape(b * self.num_heads, 3 * head, n).split(head, dim=1)
        scale = head ** -0.25  # on q and k both: steadier in fp16 than dividing the product
        logits = torch.einsum("bci,bcj->bij", q * scale, k * scale)
        weights = torch.softmax(logits.float(), dim=-1).to(logits.dtype)
        out = torch.einsum("bij,bcj->bci", weights, v).reshape(b, c, n)
        return (flat + self.proj_out(out)).reshape(b, c, *spatial)


class Stage(nn.ModuleList):
    """A list of layers run in order, each given the label map and the timestep embedding where it takes them."""

    def forward(self, x: Tensor, seg: Tensor, emb: Tensor) -> Tensor:  # type: ignore[override]
        for layer in self:
            x = layer(x, seg, emb) if isinstance(layer, EncoderBlock | DecoderBlock | AttentionBlock) else layer(x)
        return x


class SDMUNet(nn.Module):
    """The semantic diffusion U-Net: ``forward(x_t, t, seg)`` -> ``[B, 3 (+3), H, W]``."""

    def __init__(self, label_nc: int, image_size: int, *, model_channels: int = 256, num_res_blocks: int = 2,
                 channel_mult: Sequence[float] | None = None, attention_resolutions: Sequence[int] = (32, 16, 8),
                 num_head_channels: int = 64, num_heads: int = 4, dropout: float = 0.0, learn_sigma: bool = True,
                 resblock_updown: bool = True, use_scale_shift_norm: bool = True, norm_groups: int = 32,
                 spade_hidden: int = 128, use_checkpoint: bool = False, in_channels: int = 3):
        super().__init__()
        if channel_mult is None:
            if image_size not in DEFAULT_CHANNEL_MULT:
                raise ValueError(f"no default model.channel_mult for {image_size} px images (the official code has "
                                 f"them for {sorted(DEFAULT_CHANNEL_MULT)}); set model.channel_mult")
            channel_mult = DEFAULT_CHANNEL_MULT[image_size]
        if not resblock_updown:
            raise ValueError("model.resblock_updown=False (plain up/down-sampling layers) is not implemented: every "
                             "released SDM checkpoint uses residual up/down-sampling blocks")
        self.label_nc = label_nc
        self.model_channels = model_channels
        self.out_channels = in_channels * (2 if learn_sigma else 1)
        self.learn_sigma = learn_sigma
        emb_ch = 4 * model_channels
        self.time_embed = nn.Sequential(nn.Linear(model_channels, emb_ch), nn.SiLU(), nn.Linear(emb_ch, emb_ch))
        common = dict(dropout=dropout, scale_shift=use_scale_shift_norm, groups=norm_groups,
                      use_checkpoint=use_checkpoint)
        attn = dict(head_channels=num_head_channels, num_heads=num_heads, groups=norm_groups,
                    use_checkpoint=use_checkpoint)
        ch = first = int(channel_mult[0] * model_channels)
        self.input_blocks = nn.ModuleList([Stage([nn.Conv2d(in_channels, ch, 3, padding=1)])])
        skips = [ch]
        # attention where the down-sampling factor is image_size // resolution (the official rule; for
        # 512x256 Cityscapes image_size is the width, 512)
        attention_ds = {image_size // int(r) for r in attention_resolutions}
        ds = 1
        for level, mult in enumerate(channel_mult):
            for _ in range(num_res_blocks):
                out = int(mult * model_channels)
                layers: list[nn.Module] = [EncoderBlock(ch, emb_ch, out, **common)]
                ch = out
                if ds in attention_ds:
                    layers.append(AttentionBlock(ch, **attn))
                self.input_blocks.append(Stage(layers))
                skips.append(ch)
            if level != len(channel_mult) - 1:
                self.input_blocks.append(Stage([EncoderBlock(ch, emb_ch, ch, resample="down", **common)]))
                skips.append(ch)
                ds *= 2
        dec = dict(common, spade_hidden=spade_hidden)
        self.middle_block = Stage([DecoderBlock(ch, emb_ch, label_nc, **dec), AttentionBlock(ch, **attn),
                                   DecoderBlock(ch, emb_ch, label_nc, **dec)])
        self.output_blocks = nn.ModuleList()
        for level, mult in reversed(list(enumerate(channel_mult))):
            for i in range(num_res_blocks + 1):
                out = int(mult * model_channels)
                layers = [DecoderBlock(ch + skips.pop(), emb_ch, label_nc, out, **dec)]
                ch = out
                if ds in attention_ds:
                    layers.append(AttentionBlock(ch, **attn))
                if level and i == num_res_blocks:
                    layers.append(DecoderBlock(ch, emb_ch, label_nc, ch, resample="up", **dec))
                    ds //= 2
                self.output_blocks.append(Stage(layers))
        self.out = nn.Sequential(Float32GroupNorm(norm_groups, ch), nn.SiLU(),
                                 _zeroed(nn.Conv2d(first, self.out_channels, 3, padding=1)))

    def forward(self, x: Tensor, t: Tensor, seg: Tensor) -> Tensor:
        if seg.shape[1] != self.label_nc or seg.shape[2:] != x.shape[2:]:
            raise ValueError(f"the label map must be [B, {self.label_nc}, {x.shape[2]}, {x.shape[3]}] for this "
                             f"U-Net, got {tuple(seg.shape)}")
        emb = self.time_embed(timestep_embedding(t, self.model_channels).to(x.dtype))
        skips = []
        h = x
        for stage in self.input_blocks:
            h = stage(h, seg, emb)
            skips.append(h)
        h = self.middle_block(h, seg, emb)
        for stage in self.output_blocks:
            h = stage(torch.cat([h, skips.pop()], dim=1), seg, emb)
        return self.out(h.to(x.dtype)).float()


def official_state(state: dict[str, Tensor], unet: SDMUNet) -> dict[str, Tensor]:
    """The released checkpoint's state dict for :class:`SDMUNet` (same layout), after checking that its
    label channels equal the U-Net's; raises ``ValueError`` naming both counts otherwise."""
    key = "middle_block.0.in_norm.mlp_shared.0.weight"
    if key in state and state[key].shape[1] != unet.label_nc:
        raise ValueError(f"the checkpoint's label maps have {state[key].shape[1]} channels, this dataset's "
                         f"{unet.label_nc}: the official ADE20K model takes 151 (150 classes + 'other' last), "
                         f"COCO-Stuff 183 (+ 1 instance-edge channel), CelebAMask-HQ 19 (+ 1), Cityscapes 35 (+ 1); "
                         f"set data.use_instance to match")
    return {k: v.float() if v.is_floating_point() else v for k, v in state.items()}
