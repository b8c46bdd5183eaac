"""pix2pixHD's generators: the global generator G1 (:mod:`methods.nn.global_generator`), the local enhancer
{G1, G2}, their official initialisation and the loaders of official and pretrained generator weights
(Wang et al., CVPR 2018, Sec. 3.2; the official NVIDIA/pix2pixHD ``models/networks.py``). The decisions are
listed in :mod:`methods.pix2pixhd`."""

from __future__ import annotations

from collections.abc import Mapping

import torch.nn.functional as F
from torch import Tensor, nn

from benchmark.checkpoint import CheckpointError, load_state_strict, read_official
from methods.nn.global_generator import (
    UPSAMPLES,
    GlobalGenerator,
    ResnetBlock,
    conv_block,
    output_block,
    upsample_block,
)
from methods.nn.init import bilinear_transposed_init_

GENERATORS = ("global", "local")
UPSAMPLE_INITS = ("normal", "bilinear")


def pix2pixhd_init(module: nn.Module) -> None:
    """The official ``weights_init``: conv (and transposed conv) weights N(0, 0.02), BatchNorm scales
    N(1, 0.02) with zero shift. Conv biases keep PyTorch's default initialisation, as in the official code
    (the shared :func:`methods.nn.init.init_weights` zeroes them, as SPADE does)."""
    if isinstance(module, nn.Conv2d | nn.ConvTranspose2d):
        nn.init.normal_(module.weight, 0.0, 0.02)
    elif isinstance(module, nn.BatchNorm2d):
        nn.init.normal_(module.weight, 1.0, 0.02)
        nn.init.zeros_(module.bias)



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
            down = conv_block(input_nc, width, norm, kernel=7)
            down += conv_block(width, width * 2, norm, kernel=3, stride=2)
            up: list[nn.Module] = [ResnetBlock(width * 2, norm) for _ in range(n_blocks_local)]
            up += upsample_block(width * 2, width, norm, upsample)
            if n == n_local_enhancers:
                up += output_block(ngf, output_nc)
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
    :func:`methods.nn.global_generator.upsample_block`; not the official architecture, whose checkpoints
    need ``"transpose"``)."""
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

