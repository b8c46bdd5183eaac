"""SLNP-GAN: image generation from semantic labels and a noise prior, with an attention refiner.

Zhang, Ni, Zhou & Hou, "Image generation based on semantic labels and noise prior" (融合语义标签和噪声先验的
图像生成), Journal of Computer Applications 2020 (seed 002). No public code. The paper specifies: a noise
prior from a VAE, Z_np = Enc(Dec(z)) (Sec. 1.1, Figs. 3-4, Eqs. 3-7); a global generator G0 at 128 px
fed the label's global embedding G', the noise prior and the label (Sec. 1.2.1, Eqs. 8-9); a local
refinement generator G1 at 256 px whose sub-region vectors of the first image query the label's instances
by dot-product attention (Sec. 1.2.2, Eqs. 10-17); two discriminators of one architecture (Sec. 1.3,
Fig. 7); a cross-entropy GAN loss plus lambda x feature matching (Eqs. 18-20); and the AMM optimizer
(Sec. 1.4, Table 1; :mod:`methods.optim.amm`), lr G 1e-4, D 4e-4 (Sec. 2.1).

Decisions the paper leaves open (project design notes, METHODS.md), each a config key where it is a
choice rather than a consequence:

Stage ``noise_prior`` (trained first, then frozen; ``netVAE``):

- a convolutional VAE on the dataset's real images resized (area) to G0's resolution. Encoder:
  ``log2(side / 4)`` x (conv3x3 stride 2 + BatchNorm + ReLU), widths ``noise_prior.nf`` doubling up to
  ``8 nf``, one residual unit (three conv3x3 stride 1, BN, identity skip), Linear heads for mu and log
  variance of a ``z_dim`` = 256 code. Decoder: Linear -> 4x4 map, the residual unit, then (ConvTranspose
  4x4 stride 2 + BN + ReLU) per doubling, conv3x3 -> tanh. These are the three modules of the paper's
  Fig. 4 (stride-2 conv3x3/BN/ReLU, a three-conv residual unit, stride-2 deconv4x4/BN/ReLU), placed where
  a VAE needs them: the figure's "downsample to decode, upsample to encode" cannot map a vector to an
  image;
- loss (Eq. 5, likelihood + prior): squared error summed over pixels plus the KL (x ``lambda_kld`` = 1),
  both averaged over the batch -- the negative ELBO of a Gaussian decoder;
- Z_np = Enc(Dec(z)), z ~ N(0, I): random noise decoded to an image and re-encoded, so the noise carries
  image statistics. Z_np is drawn from the encoder's posterior (``noise_prior.sample_posterior``; the
  paper writes ``Z_np ~ q(Z_np | x_hat)``), else its mean;
- after the stage the VAE is frozen (``requires_grad`` False, eval mode kept through ``train()``); it
  gets no gradient and its BatchNorm statistics do not move in stage ``main``.

Stage ``main`` (``netG0``, ``netG1``, ``netD0``, ``netD1``):

- G0 at half the output resolution (``model.g0_scale`` = 2; 128 px for 256 px images):
  G' = MLP(class histogram of L0) (Linear, ReLU, Linear; ``D_emb`` = 128); seed = Linear([Z_np, G']) ->
  a 4-pixel-high map; one residual block per resolution from there to G0's (nearest x2 between them),
  each fed the label resized (nearest) to its size by concatenation (the paper's mu0); widths
  ``ngf x min(2^k, max_mult)`` halving towards the output; y0 = ReLU(BN(last block)); I0 = tanh(conv3x3(y0));
- residual blocks (G0 and G1): pre-activation ``BN -> ReLU -> [concat label] -> conv3x3 -> BN -> ReLU ->
  conv3x3`` plus an identity (1x1 conv when widths differ) shortcut; BatchNorm (``model.norm_G``);
  no spectral norm in G (the paper names none);
- G1 (Sec. 1.2.2, the paragraph of Eqs. 16-17: "G1's residual blocks take V, mu1 (L1 downsampled)
  and G0's hidden features y0; upsampling then gives I1's hidden features y1, fed to a 3x3 conv"): its
  residual blocks run at y0's resolution and one upsampling per halving leads to the output. Enc(L1) =
  ``log2(g0_scale)`` x (conv3x3 stride 2 + BN + ReLU) of the high-resolution label to y0's size and width
  (Eq. 16 adds it to y0). Instances: one per instance id where the batch has an instance map and
  ``model.use_instance``, else one per class present; each instance's class is the majority label of
  its pixels; pixels without a class (the ignore label when the dataset has no don't-care channel)
  belong to none. Keys = values = ``v_i`` = learned class embedding + the instance's average of the
  1x1-projected Enc(L1) features, each y0 pixel weighted by the instance's share of it (``model.att_dim``;
  Eq. 14 scores a region against ``v_i`` and Eq. 13 sums the same ``v_i``). Region queries: I0 and y0
  average-pooled on a grid of ``region_size`` = 16 output pixels per cell (16 x 16 regions at 256 px; the
  grid grows with the resolution), 1x1-projected to ``att_dim``. Weights w = softmax over the instances
  present of the plain dot product (Eq. 14, no temperature); absent (padding) instances get exactly 0;
  region context V_context^j = sum_i w_ji v_i (Eq. 13);
- V (Eq. 15, "instance-level context vectors", the max over instances resolving overlaps): each
  instance's context is the average of the region contexts over its pixels, painted over its mask. A
  label or instance map gives every pixel one instance, so the max over the instances covering a pixel
  is that instance's vector (0 where no instance covers a pixel). The blocks take V at y0's resolution:
  that full-resolution V area-averaged, computed as the instance contexts weighted by each instance's
  share of every y0 pixel;
- G1 trunk: concat(y0 + Enc(L1), V) -> conv3x3 to ``ngf1`` -> ``n_blocks_G1`` residual blocks fed L1
  (resized to their size: mu1) -> ReLU(BN) -> per doubling (nearest x2 + conv3x3 + BN + ReLU) = y1 ->
  conv3x3 -> tanh = I1 (Eqs. 16-17). The paper gives G1 no widths (Fig. 5(b) only draws it); Eq. 16's
  sum pins Enc(L1) to y0's width (``ngf0`` = 64 at 128 px) and the trunk keeps that width (``ngf1`` =
  64). Hence G1 is small next to G0 (0.76 M against 22.55 M parameters in the paper preset on
  ADE20K): G0's bulk is its 512-wide blocks at 4-16 px and the seed Linear. The same holds for the
  analogous refiner of pix2pixHD (official widths: local branch 0.32 M on a 182.5 M global generator
  for Cityscapes' 36 input channels, counted with methods.pix2pixhd.build_generator);
- D0, D1 (one architecture, Fig. 7): concat(image, semantic map) -> ``n_layers`` x (spectral-norm conv4x4
  stride 2 + LeakyReLU(0.2)), widths ``ndf`` doubling to ``8 ndf``; a spectral-norm Linear of the class
  histogram (the label embedding), tiled, enters by projection (Miyato & Koyama 2018): logit map =
  conv3x3(h) + <h, embed(hist)> per position; outputs the intermediate features and the patch logits.
  D0 judges I0 against the real image resized (area) to G0's resolution with L0; D1 judges I1 with L1;
- losses: BCE-with-logits GAN on both scales (summed, Eq. 20) on D's patch logits only, + ``lambda_feat``
  = 10 x feature matching (mean L1 over D's intermediate layers, Eq. 19) on both scales; one
  ``train_step`` updates G0 and G1 jointly (one optimizer "G") then D0 and D1 (optimizer "D") on the
  detached fakes of the same forward;
- optimizers of stage ``main`` (G0+G1, D0+D1): ``optimizer.type`` = "AMM" (beta 0.9/0.999, delta 1e-8,
  alpha 0.9), lr G 1e-4, D 4e-4; ``"Adam"`` is Table 1's Adam column, i.e. AMM's recurrence with
  alpha = 0 (delta inside the square root), not ``torch.optim.Adam`` (eps outside the root: at
  |g| = 1e-5 its first step is 10x larger), so the paper's Figs. 13-14 comparison changes the momentum
  term and nothing else (:func:`methods.optim.amm.table1_optimizer`);
- the noise-prior VAE always trains with AMM (the paper's optimizer; its betas, delta and alpha) at
  ``lr_VAE``, whatever ``optimizer.type`` says: the Adam-vs-AMM comparison is about the adversarial
  training, and both of its runs then start stage ``main`` from the same noise prior;
- initialisation: PyTorch defaults (the paper names none).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from benchmark.datasets.base import DataInfo
from benchmark.registry import METHODS
from methods.base import Method, StepContext, count_parameters
from methods.nn.blocks import maybe_spectral
from methods.nn.encoding import semantic_input
from methods.nn.losses import GANLoss, feature_matching_loss, kl_divergence
from methods.optim.amm import TABLE1_TYPES, table1_optimizer
from methods.spade import reparameterize

NORMS = ("batch", "syncbatch", "instance")


def make_norm(kind: str, channels: int) -> nn.Module:
    """An affine normalization layer of the generators and the VAE."""
    if kind == "batch":
        return nn.BatchNorm2d(channels)
    if kind == "syncbatch":
        return nn.SyncBatchNorm(channels)
    if kind == "instance":
        return nn.InstanceNorm2d(channels, affine=True)
    raise ValueError(f"unknown norm {kind!r}; valid: {', '.join(NORMS)}")


def num_doublings(size: tuple[int, int]) -> int:
    """How many x2 steps lead from a map 4 pixels on its short side to ``size`` (both sides divisible)."""
    short = min(size)
    n = int(round(math.log2(short / 4)))
    if n < 1 or 4 * 2 ** n != short or size[0] % 2 ** n or size[1] % 2 ** n:
        raise ValueError(f"SLNP-GAN needs sides of the form 4 * 2^n (n >= 1) with both divisible by 2^n; "
                         f"got {size}")
    return n


def class_histogram(onehot: Tensor) -> Tensor:
    """Fraction of pixels per class, ``[B, C]``, of a one-hot ``[B, C, H, W]`` map."""
    return onehot.mean(dim=(2, 3))


# ---------------------------------------------------------------------------------------------------------
# Stage 1: the noise prior (Sec. 1.1)
# ---------------------------------------------------------------------------------------------------------

class ResidualUnit(nn.Module):
    """Fig. 4's residual unit: three conv3x3 stride 1 (BN, ReLU between) and an identity connection."""

    def __init__(self, channels: int, norm: str = "batch"):
        super().__init__()
        layers: list[nn.Module] = []
        for i in range(3):
            layers += [nn.Conv2d(channels, channels, 3, padding=1), make_norm(norm, channels)]
            if i < 2:
                layers.append(nn.ReLU())
        self.body = nn.Sequential(*layers)

    def forward(self, x: Tensor) -> Tensor:
        return F.relu(x + self.body(x))


class NoisePriorVAE(nn.Module):
    """The convolutional VAE of the noise prior; ``noise_prior(n)`` gives Z_np = Enc(Dec(z))."""

    def __init__(self, image_size: tuple[int, int], nf: int = 64, z_dim: int = 256, max_mult: int = 8,
                 norm: str = "batch"):
        super().__init__()
        n = num_doublings(image_size)
        self.z_dim = z_dim
        self.bottom = (image_size[0] // 2 ** n, image_size[1] // 2 ** n)
        widths = [nf * min(2 ** i, max_mult) for i in range(n)]
        enc: list[nn.Module] = []
        for cin, cout in zip([3, *widths[:-1]], widths, strict=True):
            enc += [nn.Conv2d(cin, cout, 3, stride=2, padding=1), make_norm(norm, cout), nn.ReLU()]
        enc.append(ResidualUnit(widths[-1], norm))
        self.encoder = nn.Sequential(*enc)
        flat = widths[-1] * self.bottom[0] * self.bottom[1]
        self.fc_mu = nn.Linear(flat, z_dim)
        self.fc_logvar = nn.Linear(flat, z_dim)
        self.fc_dec = nn.Linear(z_dim, flat)
        dec: list[nn.Module] = [ResidualUnit(widths[-1], norm)]
        for cin, cout in zip(widths[::-1], [*widths[::-1][1:], nf], strict=True):
            dec += [nn.ConvTranspose2d(cin, cout, 4, stride=2, padding=1), make_norm(norm, cout), nn.ReLU()]
        dec += [nn.Conv2d(nf, 3, 3, padding=1), nn.Tanh()]
        self.decoder = nn.Sequential(*dec)
        self.bottom_nc = widths[-1]

    def encode(self, image: Tensor) -> tuple[Tensor, Tensor]:
        h = self.encoder(image).flatten(1)
        return self.fc_mu(h), self.fc_logvar(h)

    def decode(self, z: Tensor) -> Tensor:
        return self.decoder(self.fc_dec(z).view(-1, self.bottom_nc, *self.bottom))

    def forward(self, image: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """``(reconstruction, mu, logvar)`` of ``image``."""
        mu, logvar = self.encode(image)
        return self.decode(reparameterize(mu, logvar)), mu, logvar

    def noise_prior(self, z: Tensor, sample: bool = True) -> Tensor:
        """Z_np = Enc(Dec(z)) (Eqs. 3-4): a posterior sample (or its mean) of the decoded noise."""
        mu, logvar = self.encode(self.decode(z))
        return reparameterize(mu, logvar) if sample else mu


# ---------------------------------------------------------------------------------------------------------
# Stage 2: generators (Sec. 1.2)
# ---------------------------------------------------------------------------------------------------------

class LabelResBlock(nn.Module):
    """Pre-activation residual block whose residual branch also sees the label resized to its size."""

    def __init__(self, fin: int, fout: int, label_nc: int, norm: str = "batch"):
        super().__init__()
        self.norm_0 = make_norm(norm, fin)
        self.conv_0 = nn.Conv2d(fin + label_nc, fout, 3, padding=1)
        self.norm_1 = make_norm(norm, fout)
        self.conv_1 = nn.Conv2d(fout, fout, 3, padding=1)
        self.shortcut = nn.Conv2d(fin, fout, 1, bias=False) if fin != fout else nn.Identity()

    def forward(self, x: Tensor, seg: Tensor) -> Tensor:
        seg = F.interpolate(seg, size=x.shape[2:], mode="nearest")
        dx = self.conv_0(torch.cat([F.relu(self.norm_0(x)), seg], 1))
        dx = self.conv_1(F.relu(self.norm_1(dx)))
        return self.shortcut(x) + dx


class GlobalGenerator(nn.Module):
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


@dataclass
class Instances:
    """A partition of each image into instances (or classes), padded to ``T`` per batch.

    ``index``: ``[B, H, W]`` long, the instance of each pixel in ``0..T-1``, -1 for none;
    ``classes``: ``[B, T]`` long, each instance's class channel (0 for padding);
    ``present``: ``[B, T]`` bool, False for the padding of images with fewer instances.
    """

    index: Tensor
    classes: Tensor
    present: Tensor

    def masks(self) -> Tensor:
        """``[B, T, H, W]`` float binary masks."""
        t = self.classes.shape[1]
        return F.one_hot(self.index + 1, t + 1)[..., 1:].permute(0, 3, 1, 2).float()


def find_instances(onehot: Tensor, instance: Tensor | None) -> Instances:
    """The instances of a batch: connected by instance id where ``instance`` is given, else by class.

    ``onehot`` is the ``[B, C, H, W]`` label map (pixels in no channel belong to no instance); an
    instance's class is the majority class of its pixels.
    """
    has_class = onehot.sum(1) > 0
    pixel_class = onehot.argmax(1)
    keys = pixel_class if instance is None else instance.long()
    indices, classes = [], []
    for b in range(onehot.shape[0]):
        valid = has_class[b]
        ids, inverse = torch.unique(keys[b][valid], return_inverse=True)
        index = torch.full_like(keys[b], -1)
        index[valid] = inverse
        counts = torch.zeros(len(ids), onehot.shape[1], device=onehot.device)
        counts.index_put_((inverse, pixel_class[b][valid]), torch.ones_like(inverse, dtype=counts.dtype),
                          accumulate=True)
        indices.append(index)
        classes.append(counts.argmax(1))
    t = max(1, max(len(c) for c in classes))
    present = torch.zeros(len(classes), t, dtype=torch.bool, device=onehot.device)
    padded = torch.zeros(len(classes), t, dtype=torch.long, device=onehot.device)
    for b, c in enumerate(classes):
        present[b, :len(c)] = True
        padded[b, :len(c)] = c
    return Instances(torch.stack(indices), padded, present)


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


# ---------------------------------------------------------------------------------------------------------
# Discriminators (Sec. 1.3, Fig. 7)
# ---------------------------------------------------------------------------------------------------------

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


# ---------------------------------------------------------------------------------------------------------
# The method
# ---------------------------------------------------------------------------------------------------------

@METHODS.register()
class SLNPGAN(Method):
    """SLNP-GAN (Zhang et al. 2020): noise prior + global generator + attention refiner, trained by AMM."""

    name = "slnp"
    description = "SLNP-GAN (Zhang et al. 2020): noise prior, global generator, attention refiner, AMM"
    stages = ("noise_prior", "main")
    networks = ("netVAE", "netG0", "netG1", "netD0", "netD1")
    ema_networks = ("netG0", "netG1")
    # generate() decodes and re-encodes z through the noise-prior VAE (Z_np = Enc(Dec(z))), then G0 and G1
    generator_networks = ("netVAE", "netG0", "netG1")
    multimodal = True

    def __init__(self, cfg: Mapping[str, Any], data: DataInfo):
        super().__init__(cfg, data)
        model, np_cfg, d_cfg, loss = cfg["model"], cfg["noise_prior"], cfg["netD"], cfg["loss"]
        self.use_instance = data.has_instance if model["use_instance"] is None else bool(model["use_instance"])
        self.semantic_nc = data.semantic_nc(self.use_instance)
        height, width = data.image_size
        scale = int(model["g0_scale"])
        if height % scale or width % scale:
            raise ValueError(f"image size {(height, width)} is not divisible by model.g0_scale={scale}")
        if cfg["optimizer"]["type"] not in TABLE1_TYPES:    # refused before the noise-prior stage trains
            raise ValueError(f"unknown optimizer.type {cfg['optimizer']['type']!r} for slnp; valid types: "
                             f"{', '.join(TABLE1_TYPES)} (\"Adam\" is the paper's Table 1 Adam: AMM with alpha = 0)")
        self.size1 = (height, width)
        self.size0 = (height // scale, width // scale)
        self.z_dim = int(model["z_dim"])
        self.sample_posterior = bool(np_cfg["sample_posterior"])
        self.netVAE = NoisePriorVAE(self.size0, nf=np_cfg["nf"], z_dim=self.z_dim, max_mult=np_cfg["max_mult"],
                                    norm=np_cfg["norm"])
        self.netG0 = GlobalGenerator(self.semantic_nc, data.label_nc, self.size0, ngf=model["ngf0"],
                                     max_mult=model["max_mult"], z_dim=self.z_dim, emb_dim=model["emb_dim"],
                                     norm=model["norm_G"])
        self.netG1 = AttentionRefiner(self.semantic_nc, data.label_nc, self.netG0.out_nc, scale=scale,
                                      ngf=model["ngf1"], att_dim=model["att_dim"], n_blocks=model["n_blocks_G1"],
                                      region_size=model["region_size"], norm=model["norm_G"])
        self.netG1.grid(self.size1)
        self.netD0 = ProjectionPatchDiscriminator(self.semantic_nc, data.label_nc, d_cfg["ndf"], d_cfg["n_layers"],
                                                  d_cfg["spectral_norm"])
        self.netD1 = ProjectionPatchDiscriminator(self.semantic_nc, data.label_nc, d_cfg["ndf"], d_cfg["n_layers"],
                                                  d_cfg["spectral_norm"])
        self.gan_loss = GANLoss(loss["gan_mode"])
        self.lambda_feat = float(loss["lambda_feat"])
        self.lambda_kld_vae = float(np_cfg["lambda_kld"])
        self.noise_prior_frozen = False

    # -- stages ------------------------------------------------------------------------------------------
    def networks_for(self, stage: str) -> tuple[str, ...]:
        if stage == "noise_prior":
            return ("netVAE",)
        if stage == "main":
            return ("netG0", "netG1", "netD0", "netD1")
        raise ValueError(f"unknown stage {stage!r}; slnp's stages: {', '.join(self.stages)}")

    def on_stage_start(self, stage: str) -> None:
        """Stage ``main`` starts with the noise prior frozen (also when training resumes inside it)."""
        if stage == "main":
            self.freeze_noise_prior()

    def on_stage_end(self, stage: str) -> None:
        if stage == "noise_prior":
            self.freeze_noise_prior()

    def freeze_noise_prior(self) -> None:
        self.noise_prior_frozen = True
        self.netVAE.requires_grad_(False)
        self.netVAE.eval()

    def train(self, mode: bool = True) -> SLNPGAN:
        """As ``nn.Module.train``, but a frozen noise prior stays in eval mode (fixed BN statistics)."""
        super().train(mode)
        if self.noise_prior_frozen:
            self.netVAE.eval()
        return self

    def configure_optimizers(self, stage: str) -> dict[str, torch.optim.Optimizer]:
        opt_cfg = self.cfg["optimizer"]
        if stage == "noise_prior":    # always AMM: optimizer.type is the adversarial stage's
            return {"VAE": table1_optimizer(self.netVAE.parameters(), opt_cfg, "VAE", kind="AMM")}
        if stage != "main":
            raise ValueError(f"unknown stage {stage!r}; slnp's stages: {', '.join(self.stages)}")
        kind = opt_cfg["type"]
        return {"G": table1_optimizer(itertools.chain(self.netG0.parameters(), self.netG1.parameters()),
                                      opt_cfg, "G", kind=kind),
                "D": table1_optimizer(itertools.chain(self.netD0.parameters(), self.netD1.parameters()),
                                      opt_cfg, "D", kind=kind)}

    # -- inputs ------------------------------------------------------------------------------------------
    def inputs(self, batch: Mapping[str, Any]) -> dict[str, Tensor]:
        """Semantic maps at both scales, their class histograms and the instances of L1."""
        sem1 = semantic_input(dict(batch), self.data, self.use_instance)
        onehot1 = sem1[:, :self.data.label_nc]
        sem0 = F.interpolate(sem1, size=self.size0, mode="nearest")
        instance = batch.get("instance") if self.use_instance else None
        return {"sem0": sem0, "sem1": sem1, "hist0": class_histogram(sem0[:, :self.data.label_nc]),
                "hist1": class_histogram(onehot1), "instances": find_instances(onehot1, instance)}

    @torch.no_grad()
    def noise_prior(self, n: int, z: Tensor | None = None) -> Tensor:
        """``[n, z_dim]`` noise prior Z_np = Enc(Dec(z)), z ~ N(0, I) unless given."""
        device = self.netVAE.fc_mu.weight.device
        if z is None:
            z = torch.randn(n, self.z_dim, device=device)
        return self.netVAE.noise_prior(z.to(device), self.sample_posterior)

    def synthesize(self, inputs: Mapping[str, Any], z_np: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """``(I0, I1, attention weights)`` from the prepared inputs and the noise prior."""
        y0, image0 = self.netG0(inputs["sem0"], inputs["hist0"], z_np)
        image1, weights = self.netG1(inputs["sem1"], inputs["instances"], y0, image0)
        return image0, image1, weights

    # -- training ----------------------------------------------------------------------------------------
    def train_step(self, batch: dict[str, Any], ctx: StepContext) -> dict[str, float]:
        if ctx.stage == "noise_prior":
            return self._noise_prior_step(batch, ctx)
        return self._main_step(batch, ctx)

    def _noise_prior_step(self, batch: dict[str, Any], ctx: StepContext) -> dict[str, float]:
        real0 = F.interpolate(batch["image"], size=self.size0, mode="area")
        n = real0.shape[0]
        with ctx.autocast():
            recon, mu, logvar = self.netVAE(real0)
            losses = {"VAE_rec": (recon.float() - real0).pow(2).sum() / n,
                      "VAE_KLD": kl_divergence(mu.float(), logvar.float()) / n * self.lambda_kld_vae}
        ctx.backward(losses, "VAE")
        ctx.step("VAE")
        return {k: float(v.detach()) for k, v in losses.items()}

    def _discriminate(self, net: nn.Module, fake: Tensor, real: Tensor, seg: Tensor,
                      hist: Tensor) -> tuple[list[Tensor], list[Tensor]]:
        out = net(torch.cat([fake, real], 0), seg.repeat(2, 1, 1, 1), hist.repeat(2, 1))
        n = fake.shape[0]
        return [t[:n] for t in out], [t[n:] for t in out]

    def _main_step(self, batch: dict[str, Any], ctx: StepContext) -> dict[str, float]:
        inputs = self.inputs(batch)
        real1 = batch["image"]
        real0 = F.interpolate(real1, size=self.size0, mode="area")
        z_np = self.noise_prior(real1.shape[0])
        scales = (("0", self.netD0, real0, inputs["sem0"], inputs["hist0"]),
                  ("1", self.netD1, real1, inputs["sem1"], inputs["hist1"]))
        with ctx.autocast():
            image0, image1, _ = self.synthesize(inputs, z_np)
            fakes = {"0": image0, "1": image1}
            g_losses: dict[str, Tensor] = {}
            with ctx.frozen("netD0"), ctx.frozen("netD1"):
                for k, net, real, seg, hist in scales:
                    pred_fake, pred_real = self._discriminate(net, fakes[k], real, seg, hist)
                    # D returns [features..., logits]: BCE reads the logits only (a flat list would be
                    # taken as scales by GANLoss); feature matching reads the features.
                    g_losses[f"G_GAN{k}"] = self.gan_loss(pred_fake[-1], True, for_discriminator=False)
                    if self.lambda_feat > 0:
                        g_losses[f"G_feat{k}"] = feature_matching_loss(pred_fake, pred_real, self.lambda_feat)
        ctx.backward(g_losses, "G")
        ctx.step("G")

        d_losses: dict[str, Tensor] = {}
        with ctx.autocast():
            for k, net, real, seg, hist in scales:
                pred_fake, pred_real = self._discriminate(net, fakes[k].detach(), real, seg, hist)
                d_losses[f"D_fake{k}"] = self.gan_loss(pred_fake[-1], False)
                d_losses[f"D_real{k}"] = self.gan_loss(pred_real[-1], True)
        ctx.backward(d_losses, "D")
        ctx.step("D")
        return {k: float(v.detach()) for k, v in {**g_losses, **d_losses}.items()}

    # -- inference ---------------------------------------------------------------------------------------
    @torch.no_grad()
    def generate(self, batch: dict[str, Any], *, z: Tensor | None = None, style: Tensor | None = None,
                 return_attention: bool = False) -> Tensor | tuple[Tensor, dict[str, Any]]:
        """I1 for ``batch``'s labels; ``z`` ([B, z_dim]) is the noise decoded and re-encoded into Z_np
        (default z ~ N(0, I)). With ``return_attention`` also the dict of :meth:`attention_maps`."""
        if style is not None:
            raise ValueError("SLNP-GAN has no style input; vary z for different images")
        inputs = self.inputs(batch)
        z_np = self.noise_prior(inputs["sem1"].shape[0], z)
        _, image1, weights = self.synthesize(inputs, z_np)
        if not return_attention:
            return image1
        return image1, self._attention_dict(weights, inputs["instances"])

    @torch.no_grad()
    def attention_maps(self, batch: dict[str, Any], z: Tensor | None = None) -> dict[str, Any]:
        """G1's attention for ``batch`` (for figures); see :meth:`_attention_dict` for the keys."""
        return self.generate(batch, z=z, return_attention=True)[1]

    def _attention_dict(self, weights: Tensor, instances: Instances) -> dict[str, Any]:
        """The attention record:

        - ``weights``: ``[B, gh, gw, T]`` float, region (row, column) -> weight of each instance; sums to 1
          over the present instances, exactly 0 for absent ones;
        - ``grid``: ``(gh, gw)``, regions per side; each covers ``region_size`` x ``region_size`` pixels;
        - ``region_size``: int, output pixels per region side;
        - ``present``: ``[B, T]`` bool; ``instance_class``: ``[B, T]`` long, each instance's class channel
          (-1 where absent);
        - ``instance_index``: ``[B, H, W]`` long, the instance of each output pixel (-1 for none).
        """
        gh, gw = self.netG1.grid(self.size1)
        return {"weights": weights.view(weights.shape[0], gh, gw, -1), "grid": (gh, gw),
                "region_size": self.netG1.region_size, "present": instances.present,
                "instance_class": instances.classes.masked_fill(~instances.present, -1),
                "instance_index": instances.index}

    def extra_info(self) -> dict[str, Any]:
        return {
            "semantic_nc": self.semantic_nc,
            "use_instance": self.use_instance,
            "g0_size": list(self.size0),
            "g1_size": list(self.size1),
            "attention_grid": list(self.netG1.grid(self.size1)),
            "optimizer": self.cfg["optimizer"]["type"],
            # for figure labels: which recurrence the name stands for (Table 1), not torch.optim.Adam
            "optimizer_recurrence": (f"AMM, alpha {self.cfg['optimizer']['alpha']}"
                                     if self.cfg["optimizer"]["type"] == "AMM" else
                                     "Table 1 Adam: AMM's recurrence with alpha = 0 (delta inside the root)"),
            **{f"params_{name[3:]}": count_parameters(getattr(self, name)) for name in self.networks},
        }
