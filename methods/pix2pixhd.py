"""pix2pixHD: coarse-to-fine generator, multiscale discriminators, instance-level feature embedding.

Wang, Liu, Zhu, Tao, Kautz, Catanzaro, "High-Resolution Image Synthesis and Semantic Manipulation with
Conditional GANs", CVPR 2018. Layouts follow the official NVIDIA/pix2pixHD code (``models/networks.py``,
``models/pix2pixHD_model.py``, ``train.py``, ``encode_features.py``) so that its ``latest_net_G.pth``
loads with ``strict=True`` and gives the official outputs (tests/test_pix2pixhd.py pins this).

- Global generator G1 (Sec. 3.2, Fig. 3): reflect-pad conv7x7 -> ``n_downsample_global`` stride-2 conv3x3
  -> ``n_blocks_global`` residual blocks -> as many ConvTranspose3x3 upsamplings -> reflect-pad conv7x7
  -> tanh, each hidden conv followed by InstanceNorm and ReLU; one ``Sequential`` named ``model``.
- Local enhancer G2: the global generator built at ``ngf * 2**n_local_enhancers`` without its last three
  layers (pad, conv7x7, tanh) runs on the input average-pooled ``n_local_enhancers`` times; each local
  branch ``model{n}_1`` (conv7x7 + one stride-2 downsampling) adds its features to the coarser output and
  ``model{n}_2`` (residual blocks + one upsampling, the last one also the output conv) refines them.
- Input (Sec. 3.3): one-hot labels + the instance boundary map; optionally ``feat_num`` channels of
  instance-wise average-pooled features from an image encoder E (Sec. 3.4), at inference sampled from
  k-means clusters of the training set's features per class.
- Discriminators: ``num_D`` PatchGANs (n_layers 3, InstanceNorm, no spectral norm) on the label input and
  the image concatenated; least-squares GAN loss summed over scales; feature matching (Eq. 4) weighted
  ``lambda_feat * (1/num_D) * (4/(n_layers+1))`` per layer; VGG19 perceptual loss * ``lambda_vgg``; the
  discriminator loss halved; Adam 2e-4, betas (0.5, 0.999); G updated before D on the same fake.

Decisions the paper or the official code leave open, taken here:

- ``niter_fix_global`` counts epochs, as the official code (an epoch: ``ctx.steps_per_epoch``
  iterations, which the trainer sets from the training split). While it runs, the G forward is built
  without the global part's parameters (``requires_grad`` off), so they get no gradient and Adam skips
  them (the official optimizer holds only the outermost local branch and E). At its end the official
  ``update_fixed_params`` builds a new Adam over all of G (and E): every moment and step count starts
  afresh, the local branch's too. Here G's Adam is reset in place at the first iteration after the
  fixed epochs (``state.clear()``): the same parameters, betas and learning rate (the official new
  Adam gets ``opt.lr``, and its end-of-epoch ``update_learning_rate`` sets the decayed rate in the same
  step when the fix ends inside the decay), so the same arithmetic, with the trainer's schedulers and
  checkpoints keeping their one optimizer object.
- Discriminator: the shared :class:`methods.nn.discriminators.MultiscaleDiscriminator` (variant
  ``pix2pixhd``) drops the bias of convs followed by the affine-free InstanceNorm, which cancels it: the
  same function with fewer parameters; its keys are SPADE's, not the official ``scale{i}_layer{j}``
  (no official pix2pixHD discriminator is published).
- Instance-wise pooling groups pixels by (instance id, label), not by instance id alone: on Cityscapes,
  whose instance ids encode the class, this is the official grouping; on datasets whose instance maps
  give background stuff one shared id, it keeps classes apart.
- The class of a pooled region is its label (the official code decodes it from the Cityscapes id,
  ``id // 1000``); regions of the ignore label get zero features, and so do classes without clusters at
  inference (the official code leaves such pixels uninitialised).
- feature clusters: scikit-learn's ``KMeans`` as the official ``encode_features.py`` calls it,
  ``min(n_samples, n_clusters)`` centres per class over regions larger than 1/64 of the image,
  ``random_state=0`` and ``n_init=10`` (the default of the scikit-learn of the official code; since 1.4
  the default is one run), recorded in ``extra_info()["feature_clusters"]``. Cluster centres live in
  buffers, so checkpoints carry them. Until :func:`fit_feature_clusters` has run, sampled features are
  zeros (with a warning).
- ``generate(z=...)`` takes a ``[B, num_classes]`` integer tensor choosing the cluster of every region of
  each class (reproducible multimodal outputs); without it each region draws its own cluster, as the
  official ``sample_features``. ``style`` is an image whose encoded features are used instead (the
  official ``--use_encoded_image``).
- No fake-image pool: the official default ``pool_size`` is 0.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from benchmark.checkpoint import CheckpointError, load_state_strict, read_official
from benchmark.datasets.base import DataInfo
from benchmark.registry import METHODS
from methods.base import Method, StepContext, count_parameters
from methods.nn.discriminators import MultiscaleDiscriminator
from methods.nn.encoding import semantic_input
from methods.nn.init import bilinear_transposed_init_
from methods.nn.losses import GANLoss, feature_matching_loss
from methods.nn.perceptual import VGGLoss
from methods.optim import build_optimizer

NORMS = ("instance", "batch")
GENERATORS = ("global", "local")
UPSAMPLE_INITS = ("normal", "bilinear")
UPSAMPLES = ("transpose", "nearest")


def norm_layer(kind: str, channels: int) -> nn.Module:
    """The official ``get_norm_layer``: affine-free InstanceNorm (default) or affine BatchNorm."""
    if kind == "instance":
        return nn.InstanceNorm2d(channels, affine=False)
    if kind == "batch":
        return nn.BatchNorm2d(channels, affine=True)
    raise ValueError(f"unknown norm {kind!r}; valid: {', '.join(NORMS)}")


def pix2pixhd_init(module: nn.Module) -> None:
    """The official ``weights_init``: conv (and transposed conv) weights N(0, 0.02), BatchNorm scales
    N(1, 0.02) with zero shift. Conv biases keep PyTorch's default initialisation, as in the official code
    (the shared :func:`methods.nn.init.init_weights` zeroes them, as SPADE does)."""
    if isinstance(module, nn.Conv2d | nn.ConvTranspose2d):
        nn.init.normal_(module.weight, 0.0, 0.02)
    elif isinstance(module, nn.BatchNorm2d):
        nn.init.normal_(module.weight, 1.0, 0.02)
        nn.init.zeros_(module.bias)


def _conv_block(in_ch: int, out_ch: int, norm: str, *, kernel: int, stride: int = 1) -> list[nn.Module]:
    """conv + norm + ReLU; a 7x7 conv is reflect-padded (the official stem), a 3x3 one zero-padded."""
    if kernel == 7:
        return [nn.ReflectionPad2d(3), nn.Conv2d(in_ch, out_ch, 7), norm_layer(norm, out_ch), nn.ReLU(True)]
    return [nn.Conv2d(in_ch, out_ch, 3, stride=stride, padding=1), norm_layer(norm, out_ch), nn.ReLU(True)]


def _upsample_block(in_ch: int, out_ch: int, norm: str, upsample: str = "transpose") -> list[nn.Module]:
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


def _output_block(in_ch: int, out_ch: int) -> list[nn.Module]:
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
        layers = _conv_block(input_nc, ngf, norm, kernel=7)
        for i in range(n_downsample_global):
            layers += _conv_block(ngf * 2**i, ngf * 2**(i + 1), norm, kernel=3, stride=2)
        width = ngf * 2**n_downsample_global
        layers += [ResnetBlock(width, norm) for _ in range(n_blocks_global)]
        for i in range(n_downsample_global, 0, -1):
            layers += _upsample_block(ngf * 2**i, ngf * 2**(i - 1), norm, upsample)
        layers += _output_block(ngf, output_nc)
        self.model = nn.Sequential(*layers)

    def forward(self, x: Tensor) -> Tensor:
        return self.model(x)


def downsample_input(x: Tensor) -> Tensor:
    """The official input pyramid step: ``AvgPool2d(3, stride 2, padding 1, count_include_pad=False)``."""
    return F.avg_pool2d(x, kernel_size=3, stride=2, padding=1, count_include_pad=False)


class LocalEnhancer(nn.Module):
    """The coarse-to-fine generator {G1, G2} (Sec. 3.2): ``n_local_enhancers`` local branches around a
    global generator of width ``ngf * 2**n_local_enhancers`` (so ``ngf=32`` gives the 64-wide G1 the
    Cityscapes 2048x1024 model builds on)."""

    def __init__(self, input_nc: int, output_nc: int = 3, ngf: int = 32, n_downsample_global: int = 4,
                 n_blocks_global: int = 9, n_local_enhancers: int = 1, n_blocks_local: int = 3,
                 norm: str = "instance", upsample: str = "transpose"):
        super().__init__()
        if n_local_enhancers < 1:
            raise ValueError("a local enhancer needs n_local_enhancers >= 1; use netG='global' otherwise")
        self.n_local_enhancers = n_local_enhancers
        g1 = GlobalGenerator(input_nc, output_nc, ngf * 2**n_local_enhancers, n_downsample_global,
                             n_blocks_global, norm, upsample)
        # G1's last features (not its image) are what the local branch adds to its own.
        self.model = nn.Sequential(*list(g1.model.children())[:-3])
        for n in range(1, n_local_enhancers + 1):
            width = ngf * 2**(n_local_enhancers - n)
            down = _conv_block(input_nc, width, norm, kernel=7)
            down += _conv_block(width, width * 2, norm, kernel=3, stride=2)
            up: list[nn.Module] = [ResnetBlock(width * 2, norm) for _ in range(n_blocks_local)]
            up += _upsample_block(width * 2, width, norm, upsample)
            if n == n_local_enhancers:
                up += _output_block(ngf, output_nc)
            self.add_module(f"model{n}_1", nn.Sequential(*down))
            self.add_module(f"model{n}_2", nn.Sequential(*up))

    def global_parameters(self) -> list[nn.Parameter]:
        """The parameters of G1 and of every local branch but the outermost: what ``niter_fix_global``
        keeps fixed (the official code trains only the keys starting ``model{n_local_enhancers}``)."""
        outer = f"model{self.n_local_enhancers}_"
        return [p for name, p in self.named_parameters() if not name.startswith(outer)]

    def forward(self, x: Tensor) -> Tensor:
        pyramid = [x]
        for _ in range(self.n_local_enhancers):
            pyramid.append(downsample_input(pyramid[-1]))
        out = self.model(pyramid[-1])
        for n in range(1, self.n_local_enhancers + 1):
            branch_in = pyramid[self.n_local_enhancers - n]
            out = getattr(self, f"model{n}_2")(getattr(self, f"model{n}_1")(branch_in) + out)
        return out


def build_generator(netG: str, input_nc: int, output_nc: int = 3, *, ngf: int = 64,
                    n_downsample_global: int = 4, n_blocks_global: int = 9, n_local_enhancers: int = 1,
                    n_blocks_local: int = 3, norm: str = "instance",
                    upsample_init: str = "normal", upsample: str = "transpose") -> GlobalGenerator | LocalEnhancer:
    """The official ``define_G`` for ``netG`` in ``("global", "local")``, initialised as the official
    (``upsample_init="normal"``); ``"bilinear"`` starts the transposed convolutions as bilinear upsampling
    with a random channel mix (:func:`methods.nn.init.bilinear_transposed_init_`; a CPU-preset choice).
    ``upsample="nearest"`` replaces the transposed convolutions by resize-convolutions (see
    :func:`_upsample_block`; not the official architecture, whose checkpoints need ``"transpose"``)."""
    if upsample not in UPSAMPLES:
        raise ValueError(f"unknown model.upsample {upsample!r}; valid: {', '.join(UPSAMPLES)}")
    if upsample != "transpose" and upsample_init != "normal":
        raise ValueError(f"model.upsample_init={upsample_init!r} initialises transposed convolutions; "
                         f"model.upsample={upsample!r} has none: keep upsample_init='normal'")
    if netG == "global":
        net: GlobalGenerator | LocalEnhancer = GlobalGenerator(
            input_nc, output_nc, ngf, n_downsample_global, n_blocks_global, norm, upsample)
    elif netG == "local":
        net = LocalEnhancer(input_nc, output_nc, ngf, n_downsample_global, n_blocks_global,
                            n_local_enhancers, n_blocks_local, norm, upsample)
    else:
        raise ValueError(f"unknown netG {netG!r}; valid: {', '.join(GENERATORS)}")
    net.apply(pix2pixhd_init)
    if upsample_init == "bilinear":
        for module in net.modules():
            if isinstance(module, nn.ConvTranspose2d):
                bilinear_transposed_init_(module, 0.02)
    elif upsample_init != "normal":
        raise ValueError(f"unknown model.upsample_init {upsample_init!r}; valid: {', '.join(UPSAMPLE_INITS)}")
    return net


def load_global_into_local(local: LocalEnhancer, global_state: Mapping[str, Tensor]) -> None:
    """Initialise a local enhancer's G1 from a trained global generator's state dict (the official
    ``--load_pretrain`` of the 2048x1024 stage): keys ``model.N`` of every layer but the last three."""
    own = local.model.state_dict()
    picked = {k[len("model."):]: v for k, v in global_state.items()
              if k.startswith("model.") and k[len("model."):] in own}
    unfit = sorted(k for k in own if k not in picked or picked[k].shape != own[k].shape)
    if unfit:
        raise ValueError(f"the global generator state dict lacks {len(unfit)} entries of the local "
                         f"enhancer's G1 or has them in other shapes (e.g. model.{unfit[0]}); was it trained "
                         f"with ngf = local ngf * 2**n_local_enhancers, the same n_downsample_global, "
                         f"n_blocks_global and input channels?")
    local.model.load_state_dict(picked)


def load_official_generator(path: str, input_nc: int, *, netG: str = "global", ngf: int = 64,
                            n_downsample_global: int = 4, n_blocks_global: int = 9, n_blocks_local: int = 3,
                            n_local_enhancers: int = 1, output_nc: int = 3) -> nn.Module:
    """An official ``latest_net_G.pth`` (a plain state dict) as a generator in eval mode.

    The arguments are the official options of the run that saved it: label2city_512p is
    ``netG="global", ngf=64``; label2city_1024p is ``netG="local", ngf=32``. ``input_nc`` is
    ``label_nc`` (+1 with instance maps, +``feat_num`` with features): 36 for Cityscapes.
    """
    net = build_generator(netG, input_nc, output_nc, ngf=ngf, n_downsample_global=n_downsample_global,
                          n_blocks_global=n_blocks_global, n_local_enhancers=n_local_enhancers,
                          n_blocks_local=n_blocks_local)
    state = read_official(path)
    first = "model1_1.1.weight" if netG == "local" else "model.1.weight"
    if first in state and state[first].shape[1] != input_nc:
        raise CheckpointError(f"{path} was trained with {state[first].shape[1]} input channels, not {input_nc}")
    load_state_strict(net, state, path)
    return net.eval()


class FeatureEncoder(nn.Module):
    """The instance-level feature encoder E (Sec. 3.4): an encoder-decoder on the real image (official
    ``Encoder``: conv7x7, ``n_downsampling`` stride-2 convs, as many transposed convs, conv7x7, tanh)
    whose output is average-pooled within every region of ``groups`` (official instance-wise pooling)."""

    def __init__(self, input_nc: int = 3, feat_num: int = 3, nef: int = 16, n_downsampling: int = 4,
                 norm: str = "instance"):
        super().__init__()
        layers = _conv_block(input_nc, nef, norm, kernel=7)
        for i in range(n_downsampling):
            layers += _conv_block(nef * 2**i, nef * 2**(i + 1), norm, kernel=3, stride=2)
        for i in range(n_downsampling, 0, -1):
            layers += _upsample_block(nef * 2**i, nef * 2**(i - 1), norm)
        layers += _output_block(nef, feat_num)
        self.model = nn.Sequential(*layers)

    def forward(self, image: Tensor, groups: Tensor) -> Tensor:
        return region_average(self.model(image), groups)


def _region_index(groups: Tensor) -> tuple[Tensor, int]:
    """``[B, H, W]`` region ids -> per-pixel index of (sample, region) in ``0..B*n-1``, and ``n``."""
    _, inverse = torch.unique(groups, return_inverse=True)
    n = int(inverse.max()) + 1
    offset = torch.arange(groups.shape[0], device=groups.device).view(-1, 1, 1) * n
    return inverse + offset, n


def region_average(features: Tensor, groups: Tensor) -> Tensor:
    """Replace each channel of ``features [B, C, H, W]`` by its mean over every region of ``groups
    [B, H, W]`` within each sample (differentiable; the official loop over instances, vectorised)."""
    index, n = _region_index(groups)
    b, c = features.shape[:2]
    flat = features.permute(0, 2, 3, 1).reshape(-1, c)
    sums = flat.new_zeros(b * n, c).index_add_(0, index.flatten(), flat)
    counts = torch.bincount(index.flatten(), minlength=b * n).clamp(min=1).to(flat.dtype)
    means = sums / counts.unsqueeze(1)
    return means[index].permute(0, 3, 1, 2)


def region_map(label: Tensor, instance: Tensor | None, num_classes: int, ignore_index: int | None) -> Tensor:
    """Region ids for instance-wise pooling: one region per (instance, label) pair, or per label when
    there is no instance map (the official ``--label_feat``). Ignored pixels get label ``num_classes``."""
    label = label.long()
    if ignore_index is not None:
        label = label.masked_fill(label == ignore_index, num_classes)
    if instance is None:
        return label
    return instance.long() * (num_classes + 1) + label


def region_features(features: Tensor, groups: Tensor, label: Tensor,
                    num_classes: int) -> tuple[Tensor, Tensor, Tensor]:
    """Per region of each sample: its pooled feature ``[R, C]``, its class ``[R]`` and its area as a fraction
    of the image ``[R]``; regions of class ``num_classes`` (ignored pixels) are dropped."""
    index, n = _region_index(groups)
    b, c, h, w = features.shape
    flat_index = index.flatten()
    counts = torch.bincount(flat_index, minlength=b * n)
    sums = features.new_zeros(b * n, c).index_add_(0, flat_index, features.permute(0, 2, 3, 1).reshape(-1, c))
    classes = torch.full((b * n,), num_classes, dtype=torch.long, device=label.device)
    classes[flat_index] = label.flatten().long()
    keep = (counts > 0) & (classes < num_classes)
    feats = sums[keep] / counts[keep].unsqueeze(1).to(sums.dtype)
    return feats, classes[keep], counts[keep].to(torch.float64) / (h * w)


#: the official ``KMeans(n_clusters=..., random_state=0)`` with the defaults of the scikit-learn it ran on
#: (n_init = 10 before scikit-learn 1.4, which changed the default to "auto", one run for k-means++)
KMEANS_N_INIT = 10
KMEANS_RANDOM_STATE = 0


def cluster_features(features: Sequence[Tensor], classes: Sequence[Tensor], areas: Sequence[Tensor],
                     num_classes: int, n_clusters: int = 10, min_area: float = 1 / 64,
                     seed: int = KMEANS_RANDOM_STATE) -> dict[int, np.ndarray]:
    """scikit-learn k-means centres per class of region features (the official ``encode_features.py``).

    The official script keeps regions whose pixel count exceeds half of ``H*W // 32``, i.e. an area above
    1/64 of the image (``min_area``); classes without such regions get no centres; a class with fewer
    regions than ``n_clusters`` gets one centre per region (``min(n, n_clusters)``, as the official call).
    Features are float64, as the official numpy arrays.
    """
    from sklearn.cluster import KMeans

    feats = torch.cat(list(features)).double().cpu().numpy()
    cls = torch.cat(list(classes)).cpu().numpy()
    area = torch.cat(list(areas)).double().cpu().numpy()
    centres: dict[int, np.ndarray] = {}
    for c in range(num_classes):
        selected = feats[(cls == c) & (area > min_area)]
        if len(selected):
            k = min(len(selected), n_clusters)
            fit = KMeans(n_clusters=k, n_init=KMEANS_N_INIT, random_state=seed).fit(selected)
            centres[c] = fit.cluster_centers_
    return centres


# --------------------------------------------------------------------------------------------------
# Method
# --------------------------------------------------------------------------------------------------
FEATURE_MODES = ("none", "instance", "label")


def _load_state_dict(path: str) -> dict[str, Tensor]:
    """A generator state dict from an official ``.pth`` or a SISBench ``.safetensors`` checkpoint (whose
    keys carry the ``netG.`` prefix of the method)."""
    if str(path).endswith(".safetensors"):
        from safetensors.torch import load_file

        state = load_file(str(path))
    else:
        state = torch.load(path, map_location="cpu", weights_only=True)
    prefixed = {k[len("netG."):]: v for k, v in state.items() if k.startswith("netG.")}
    return prefixed or dict(state)


@METHODS.register()
class Pix2PixHD(Method):
    """pix2pixHD (Wang et al., CVPR 2018): coarse-to-fine generator, multiscale LSGAN discriminators,
    feature matching + VGG losses, optional instance-level feature embedding."""

    name = "pix2pixhd"
    description = "pix2pixHD (Wang et al. 2018): global/local generator, multiscale D, LSGAN + FM + VGG"
    networks = ("netG", "netD")
    multimodal = False

    def __init__(self, cfg: Mapping[str, Any], data: DataInfo):
        super().__init__(cfg, data)
        m, loss = cfg["model"], cfg["loss"]
        self.use_instance = data.has_instance if m["use_instance"] is None else bool(m["use_instance"])
        self.features = m["features"]
        if self.features not in FEATURE_MODES:
            raise ValueError(f"unknown model.features {self.features!r}; valid: {', '.join(FEATURE_MODES)}")
        if self.features == "instance" and not data.has_instance:
            raise ValueError(f"model.features='instance' needs instance maps, which {data.name} lacks; "
                             f"use features='label' (one feature vector per class region)")
        self.netG_kind = m["netG"]
        self.n_local_enhancers = int(m["n_local_enhancers"]) if self.netG_kind == "local" else 0
        self.niter_fix_global = int(m["niter_fix_global"])
        if self.niter_fix_global and self.netG_kind != "local":
            raise ValueError("model.niter_fix_global keeps a local enhancer's global generator fixed; "
                             "it needs model.netG='local'")
        factor = 2 ** (int(m["n_downsample_global"]) + self.n_local_enhancers)
        if self.features != "none":
            factor = max(factor, 2 ** int(m["n_downsample_E"]))
        if any(s % factor for s in data.image_size):
            raise ValueError(f"pix2pixHD at this depth needs image sides divisible by {factor}; "
                             f"{data.name} gives {tuple(data.image_size)}")

        semantic_nc = data.semantic_nc(self.use_instance)
        self.feat_num = int(m["feat_num"]) if self.features != "none" else 0
        self.netG = build_generator(
            self.netG_kind, semantic_nc + self.feat_num, 3, ngf=int(m["ngf"]),
            n_downsample_global=int(m["n_downsample_global"]), n_blocks_global=int(m["n_blocks_global"]),
            n_local_enhancers=max(self.n_local_enhancers, 1), n_blocks_local=int(m["n_blocks_local"]),
            norm=m["norm"], upsample_init=m.get("upsample_init", "normal"), upsample=m.get("upsample", "transpose"))
        if m.get("pretrained_global"):
            if not isinstance(self.netG, LocalEnhancer):
                raise ValueError("model.pretrained_global initialises a local enhancer; "
                                 "set model.netG='local'")
            load_global_into_local(self.netG, _load_state_dict(m["pretrained_global"]))
        # The discriminator sees the label input and the image, never the encoded features (official).
        self.netD = MultiscaleDiscriminator(semantic_nc + 3, int(m["ndf"]), int(m["n_layers_D"]),
                                            int(m["num_D"]), m["norm"], spectral_norm=False,
                                            variant="pix2pixhd")
        self.netD.apply(pix2pixhd_init)
        if self.features != "none":
            self.netE = FeatureEncoder(3, self.feat_num, int(m["nef"]), int(m["n_downsample_E"]), m["norm"])
            self.netE.apply(pix2pixhd_init)
            self.networks = ("netG", "netD", "netE")
            self.multimodal = True
            self.n_clusters = int(m["n_clusters"])
            self.register_buffer("feature_centers",
                                 torch.zeros(data.num_classes, self.n_clusters, self.feat_num))
            self.register_buffer("feature_cluster_counts", torch.zeros(data.num_classes, dtype=torch.long))
            self._warned_unfitted = False

        self.n_layers_D = int(m["n_layers_D"])
        self.gan_loss = GANLoss(loss["gan_mode"], scale_reduction="sum")
        self.lambda_feat = float(loss["lambda_feat"])
        self.lambda_vgg = float(loss["lambda_vgg"])
        self.d_loss_weight = float(loss["d_loss_weight"])
        self.vgg_last_layer = loss.get("vgg_last_layer")
        self.vgg_loss = (VGGLoss(loss["vgg_weights"], last_layer=self.vgg_last_layer) if self.lambda_vgg > 0
                         else None)

    # -- inputs ------------------------------------------------------------------------------------
    def semantic(self, batch: Mapping[str, Any]) -> Tensor:
        """One-hot labels (+ don't care) (+ instance boundary map): G's and D's label input."""
        return semantic_input(dict(batch), self.data, self.use_instance)

    def regions(self, batch: Mapping[str, Any]) -> Tensor:
        """The regions features are pooled over: instances (``features='instance'``) or class areas."""
        instance = batch["instance"] if self.features == "instance" else None
        return region_map(batch["label"], instance, self.data.num_classes, self.data.ignore_index)

    def sample_features(self, batch: Mapping[str, Any], z: Tensor | None = None) -> Tensor:
        """Feature maps ``[B, feat_num, H, W]`` from the fitted cluster centres: each region takes the
        centre of its class chosen by ``z[b, class]`` (modulo the class's cluster count) or at random."""
        label = batch["label"].long()
        num_classes = self.data.num_classes
        if self.data.ignore_index is not None:
            label = label.masked_fill(label == self.data.ignore_index, num_classes)
        index, n = _region_index(self.regions(batch))
        classes = torch.full((label.shape[0] * n,), num_classes, dtype=torch.long, device=label.device)
        classes[index.flatten()] = label.flatten()
        valid = classes < num_classes
        cls = classes.clamp(max=num_classes - 1)
        counts = self.feature_cluster_counts[cls]
        if z is None:
            pick = (torch.rand(cls.shape, device=cls.device) * counts).long()
        else:
            if tuple(z.shape) != (label.shape[0], num_classes):
                raise ValueError(f"z must hold one cluster choice per sample and class, shape "
                                 f"{(label.shape[0], num_classes)}; got {tuple(z.shape)}")
            sample = torch.arange(cls.numel(), device=cls.device) // n
            pick = z.long().to(cls.device)[sample, cls] % counts.clamp(min=1)
        centres = self.feature_centers[cls, pick.clamp(max=self.n_clusters - 1)]
        centres = centres * (valid & (counts > 0)).unsqueeze(1).to(centres.dtype)
        return centres[index].permute(0, 3, 1, 2)

    # -- training ----------------------------------------------------------------------------------
    def configure_optimizers(self, stage: str) -> dict[str, torch.optim.Optimizer]:
        """Adam for G (the encoder E trains with G, as the official ``optimizer_G``) and for D."""
        opt = self.cfg["optimizer"]
        g_params = list(self.netG.parameters())
        if self.features != "none":
            g_params += list(self.netE.parameters())
        optimizers = {"G": build_optimizer(g_params, opt, "G"),
                      "D": build_optimizer(self.netD.parameters(), opt, "D")}
        self._optimizer_G = optimizers["G"]   # reset when niter_fix_global ends (official update_fixed_params)
        return optimizers

    def fix_global_iters(self, ctx: StepContext) -> int:
        """Iterations of the ``niter_fix_global`` epochs (0 without a fixed phase)."""
        if not self.niter_fix_global:
            return 0
        steps = getattr(ctx, "steps_per_epoch", None)
        if not steps:
            raise ValueError("model.niter_fix_global counts epochs, but the step context does not say how many "
                             "iterations an epoch has (ctx.steps_per_epoch; the trainer sets it)")
        return self.niter_fix_global * int(steps)

    def feature_matching(self, pred_fake: Sequence[Sequence[Tensor]],
                         pred_real: Sequence[Sequence[Tensor]]) -> Tensor:
        """Eq. (4): every intermediate layer's L1 weighted ``lambda_feat * (1/num_D) * (4/(n_layers+1))``
        (the official ``feat_weights * D_weights * lambda_feat``)."""
        return feature_matching_loss(pred_fake, pred_real, weight=self.lambda_feat,
                                     layer_weight=4.0 / (self.n_layers_D + 1))

    @contextmanager
    def _global_fixed(self, fixed: bool) -> Iterator[None]:
        """While ``fixed``, build the graph without the global generator's parameters: they get no
        gradient, so Adam leaves them (and their moments) untouched."""
        net = self.netG.module if isinstance(self.netG, nn.parallel.DistributedDataParallel) else self.netG
        params = [p for p in net.global_parameters() if p.requires_grad] if fixed else []
        for p in params:
            p.requires_grad_(False)
        try:
            yield
        finally:
            for p in params:
                p.requires_grad_(True)

    def train_step(self, batch: dict[str, Any], ctx: StepContext) -> dict[str, float]:
        """One official iteration: all losses from one forward with the current D, the G step, then the D
        step on the same (detached) fake."""
        real = batch["image"]
        semantic = self.semantic(batch)
        fix_iters = self.fix_global_iters(ctx)
        fixed = ctx.iteration < fix_iters
        if fix_iters and ctx.iteration == fix_iters:
            # The official update_fixed_params: a new Adam over all of G (and E), no moment kept.
            self._optimizer_G.state.clear()
        with ctx.autocast(), self._global_fixed(fixed):
            g_input = semantic
            if self.features != "none":
                g_input = torch.cat([semantic, self.netE(real, self.regions(batch))], 1)
            fake = self.netG(g_input)
            with ctx.frozen("D"):
                pred_fake = self.netD(torch.cat([semantic, fake], 1))
                with torch.no_grad():
                    pred_real = self.netD(torch.cat([semantic, real], 1))
            g_losses = {"G_GAN": self.gan_loss(pred_fake, True, for_discriminator=False)}
            if self.lambda_feat > 0:
                g_losses["G_GAN_Feat"] = self.feature_matching(pred_fake, pred_real)
            if self.vgg_loss is not None:
                g_losses["G_VGG"] = self.vgg_loss(fake.float(), real.float()) * self.lambda_vgg
        ctx.backward(g_losses, "G")
        ctx.step("G")

        with ctx.autocast():
            d_fake = self.gan_loss(self.netD(torch.cat([semantic, fake.detach()], 1)), False)
            d_real = self.gan_loss(self.netD(torch.cat([semantic, real], 1)), True)
        ctx.backward({"D_fake": d_fake * self.d_loss_weight, "D_real": d_real * self.d_loss_weight}, "D")
        ctx.step("D")
        logged = {k: float(v.detach()) for k, v in g_losses.items()}
        return {**logged, "D_fake": float(d_fake.detach()), "D_real": float(d_real.detach())}

    # -- inference ---------------------------------------------------------------------------------
    @torch.no_grad()
    def generate(self, batch: dict[str, Any], *, z: Tensor | None = None,
                 style: Tensor | None = None) -> Tensor:
        """Images ``[B, 3, H, W]`` in ``[-1, 1]``. With features: ``style`` (an image batch) is encoded,
        else features come from the fitted clusters (``z``: ``[B, num_classes]`` cluster choices)."""
        semantic = self.semantic(batch)
        if self.features == "none":
            if z is not None or style is not None:
                raise ValueError("pix2pixHD without features (model.features='none') takes no z or style")
            return self.netG(semantic)
        if style is not None:
            feats = self.netE(style, self.regions(batch))
        else:
            if not bool(self.feature_cluster_counts.any()) and not self._warned_unfitted:
                warnings.warn("pix2pixHD features are sampled as zeros: no clusters are fitted yet "
                              "(methods.pix2pixhd.fit_feature_clusters)", stacklevel=3)
                self._warned_unfitted = True
            feats = self.sample_features(batch, z)
        return self.netG(torch.cat([semantic, feats.to(semantic.dtype)], 1))

    def finalize(self, batches: Iterable[dict[str, Any]]) -> None:
        """After training: fit the per-class feature clusters used at inference (instance features only)."""
        if self.features != "none":
            fit_feature_clusters(self, batches)

    def extra_info(self) -> dict[str, Any]:
        info: dict[str, Any] = {"netG": self.netG_kind, "generator_parameters": count_parameters(self.netG)}
        if self.vgg_loss is not None:
            info["vgg_weights"] = self.vgg_loss.weights_source
            info["vgg_last_layer"] = self.vgg_last_layer or "relu5_1"
        if self.features != "none":
            counts = self.feature_cluster_counts
            import sklearn

            info["feature_clusters"] = {"classes_with_clusters": int((counts > 0).sum()),
                                        "clusters": int(counts.sum()),
                                        "kmeans": {"library": f"scikit-learn {sklearn.__version__}",
                                                   "n_init": KMEANS_N_INIT, "random_state": KMEANS_RANDOM_STATE}}
        return info

    @classmethod
    def from_official(cls, path: str, cfg: Mapping[str, Any], data: DataInfo) -> Pix2PixHD:
        """The method with an official ``latest_net_G.pth`` as its generator (``cfg`` must match the
        official run's options: label2city_1024p is ``netG='local', ngf=32``)."""
        method = cls(cfg, data)
        load_state_strict(method.netG, read_official(path), path,
                          hint="label2city_512p is netG 'global', ngf 64; label2city_1024p is netG 'local', ngf 32")
        return method.eval()


@torch.no_grad()
def fit_feature_clusters(method: Pix2PixHD, dataloader: Iterable[Mapping[str, Any]]) -> dict[int, np.ndarray]:
    """Encode the training set with ``method.netE`` and fit ``n_clusters`` k-means centres per class
    (the official ``encode_features.py``); the centres go into the method's buffers (so checkpoints
    carry them) and are returned as ``{class id: [k, feat_num]}``."""
    if method.features == "none":
        raise ValueError("fit_feature_clusters needs a pix2pixHD with model.features 'instance' or 'label'")
    device = method.feature_centers.device
    was_training = method.netE.training
    method.netE.eval()
    feats, classes, areas = [], [], []
    for batch in dataloader:
        batch = {k: v.to(device) if isinstance(v, Tensor) else v for k, v in batch.items()}
        label = batch["label"].long()
        if method.data.ignore_index is not None:
            label = label.masked_fill(label == method.data.ignore_index, method.data.num_classes)
        f, c, a = region_features(method.netE.model(batch["image"]), method.regions(batch), label,
                                  method.data.num_classes)
        feats.append(f.float().cpu())
        classes.append(c.cpu())
        areas.append(a.cpu())
    method.netE.train(was_training)
    centres = cluster_features(feats, classes, areas, method.data.num_classes, method.n_clusters)
    method.feature_centers.zero_()
    method.feature_cluster_counts.zero_()
    for c, centre in centres.items():
        method.feature_centers[c, :len(centre)] = torch.from_numpy(centre).to(method.feature_centers)
        method.feature_cluster_counts[c] = len(centre)
    return centres
