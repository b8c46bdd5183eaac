"""SPADE (GauGAN): semantic image synthesis with spatially-adaptive normalization.

Park, Liu, Wang, Zhu, "Semantic Image Synthesis with Spatially-Adaptive Normalization", CVPR 2019.
Reference implementation read (never copied): NVlabs/SPADE (``models/networks/*.py``,
``models/pix2pix_model.py``, ``trainers/pix2pix_trainer.py``). Parameter names follow its state dicts
(``fc``, ``head_0``, ``G_middle_0``, ``up_0`` .. ``conv_img``; ``discriminator_{i}.model{j}``;
``layer1`` .. ``fc_var``) so official checkpoints load with ``strict=True``.

Decisions, each as the official code unless marked:

- semantic input: one-hot labels, a don't-care channel when the dataset has one
  (``contain_dontcare_label``), and an instance-edge channel when the data has instance maps
  (``model.use_instance``, default: the dataset's ``has_instance``);
- generator (paper Fig. 4, appendix A): start at ``(H, W) / 2**n`` with n = 5/6/7 for
  ``num_upsampling_layers`` normal/more/most (default: the dataset's ``spade_upsampling``); input is the
  segmentation map resized (nearest) to the start size and a 3x3 conv to 16 ngf, or with the VAE a Linear
  of z; blocks head_0, G_middle_0, G_middle_1 (16 ngf), up_0..up_3 (8, 4, 2, 1 ngf) and up_4 (ngf/2) for
  ``most``, nearest x2 upsampling before G_middle_0, before G_middle_1 for more/most, before every up
  block; LeakyReLU(0.2) -> conv_img 3x3 -> tanh; no spectral norm on ``fc`` and ``conv_img``;
- SPADE norm: parameter-free SyncBatchNorm (plain BatchNorm in a single process), 128 hidden channels,
  3x3 kernels; the official pretrained generators keep BatchNorm running statistics, used in eval mode;
- VAE (``model.use_vae``): ConvEncoder (image resized to 256; to 128 below 256 px, see ConvEncoder),
  reparameterised z, KL (summed) x ``lambda_kld`` = 0.05; the encoder trains with G's optimizer;
- discriminator: 2 scales x 4 layers, ndf 64, spectral norm + InstanceNorm; input = semantic map
  concatenated with the image; fake and real pass D as one concatenated batch, so D's statistics and
  spectral-norm power iterations see both;
- losses: hinge GAN (scales averaged); feature matching L1 x 10 / num_D; VGG19 L1 on relu1_1..relu5_1
  (weights 1/32..1) x 10 on [-1, 1] images;
- each ``train_step`` makes one G update then one D update; the D update regenerates the fake image with
  the just-updated G under ``no_grad`` (G still in train mode), as the official trainer's two forward
  passes;
- optimizers: Adam, TTUR lr G 1e-4, D 4e-4, betas (0, 0.9) (the paper text's 0.999 is a typo per the
  authors; the official scripts use 0.9); the trainer applies the linear learning-rate decay;
- initialisation: xavier-normal, gain 0.02, biases zero, in G, D and E;
- ``generate`` with the VAE: ``z`` if given, else ``style`` encoded and reparameterised (official
  inference samples around the encoded mean), else z ~ N(0, I). The official ``test.py`` always encodes
  the ground-truth image; passing ``style=batch["image"]`` reproduces that. Without the VAE the generator
  is deterministic and passing ``z`` or ``style`` is an error.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from benchmark.checkpoint import load_state_strict, read_official
from benchmark.datasets.base import DataInfo
from benchmark.registry import METHODS
from methods.base import Method, StepContext, count_parameters
from methods.nn.blocks import ConvEncoder, SPADEResnetBlock
from methods.nn.discriminators import MultiscaleDiscriminator
from methods.nn.encoding import semantic_input
from methods.nn.init import init_weights
from methods.nn.losses import feature_matching_loss, kl_divergence, reparameterize
from methods.nn.spade_losses import SPADEFamilyLosses
from methods.optim import build_optimizer

UPSAMPLING_LAYERS = {"normal": 5, "more": 6, "most": 7}


def latent_size(crop_size: int, aspect_ratio: float, num_upsampling_layers: str) -> tuple[int, int]:
    """The generator's start ``(sh, sw)``: width ``crop_size / 2**n``, height ``round(width / aspect)``."""
    if num_upsampling_layers not in UPSAMPLING_LAYERS:
        raise ValueError(f"unknown num_upsampling_layers {num_upsampling_layers!r}; "
                         f"valid: {', '.join(UPSAMPLING_LAYERS)}")
    sw = crop_size // 2 ** UPSAMPLING_LAYERS[num_upsampling_layers]
    return round(sw / aspect_ratio), sw


class SPADEGenerator(nn.Module):
    """The SPADE generator (paper Fig. 4 right); see the module docstring for its layout."""

    def __init__(self, semantic_nc: int, ngf: int = 64, crop_size: int = 256, aspect_ratio: float = 1.0,
                 num_upsampling_layers: str = "normal", norm: str = "syncbatch", spectral_norm: bool = True,
                 use_vae: bool = False, z_dim: int = 256, nhidden: int = 128, kernel_size: int = 3):
        super().__init__()
        self.sh, self.sw = latent_size(crop_size, aspect_ratio, num_upsampling_layers)
        if self.sh < 1 or self.sw < 1:
            raise ValueError(f"crop_size {crop_size} is too small for num_upsampling_layers "
                             f"{num_upsampling_layers!r}")
        self.ngf = ngf
        self.num_upsampling_layers = num_upsampling_layers
        self.use_vae = use_vae
        self.z_dim = z_dim
        if use_vae:
            self.fc: nn.Module = nn.Linear(z_dim, 16 * ngf * self.sh * self.sw)
        else:
            self.fc = nn.Conv2d(semantic_nc, 16 * ngf, 3, padding=1)

        def block(fin: int, fout: int) -> SPADEResnetBlock:
            return SPADEResnetBlock(fin, fout, semantic_nc, norm, spectral_norm, nhidden, kernel_size)

        self.head_0 = block(16 * ngf, 16 * ngf)
        self.G_middle_0 = block(16 * ngf, 16 * ngf)
        self.G_middle_1 = block(16 * ngf, 16 * ngf)
        self.up_0 = block(16 * ngf, 8 * ngf)
        self.up_1 = block(8 * ngf, 4 * ngf)
        self.up_2 = block(4 * ngf, 2 * ngf)
        self.up_3 = block(2 * ngf, ngf)
        final_nc = ngf
        if num_upsampling_layers == "most":
            self.up_4 = block(ngf, ngf // 2)
            final_nc = ngf // 2
        self.conv_img = nn.Conv2d(final_nc, 3, 3, padding=1)

    @property
    def output_size(self) -> tuple[int, int]:
        factor = 2 ** UPSAMPLING_LAYERS[self.num_upsampling_layers]
        return self.sh * factor, self.sw * factor

    def forward(self, seg: Tensor, z: Tensor | None = None) -> Tensor:
        if self.use_vae:
            if z is None:
                z = torch.randn(seg.shape[0], self.z_dim, device=seg.device, dtype=seg.dtype)
            x = self.fc(z).view(-1, 16 * self.ngf, self.sh, self.sw)
        else:
            x = self.fc(F.interpolate(seg, size=(self.sh, self.sw), mode="nearest"))

        def up(t: Tensor) -> Tensor:
            return F.interpolate(t, scale_factor=2, mode="nearest")

        x = self.head_0(x, seg)
        x = self.G_middle_0(up(x), seg)
        if self.num_upsampling_layers in ("more", "most"):
            x = up(x)
        x = self.G_middle_1(x, seg)
        x = self.up_0(up(x), seg)
        x = self.up_1(up(x), seg)
        x = self.up_2(up(x), seg)
        x = self.up_3(up(x), seg)
        if self.num_upsampling_layers == "most":
            x = self.up_4(up(x), seg)
        return torch.tanh(self.conv_img(F.leaky_relu(x, 0.2)))


@METHODS.register()
class SPADE(SPADEFamilyLosses, Method):
    """SPADE / GauGAN (Park et al., CVPR 2019): a generator whose every normalization is modulated by the
    semantic map."""

    name = "spade"
    description = "SPADE / GauGAN (Park et al., CVPR 2019): spatially-adaptive normalization"

    def __init__(self, cfg: Mapping[str, Any], data: DataInfo):
        super().__init__(cfg, data)
        model, loss, d_cfg, e_cfg = cfg["model"], cfg["loss"], cfg["netD"], cfg["netE"]
        use_instance = model["use_instance"]
        self.use_instance = data.has_instance if use_instance is None else bool(use_instance)
        self.upsampling = model["num_upsampling_layers"] or data.spade_upsampling
        self.use_vae = bool(model["use_vae"])
        if self.use_vae:
            self.networks = ("netG", "netD", "netE")
            self.multimodal = True
        self.semantic_nc = data.semantic_nc(self.use_instance)
        height, width = data.image_size
        self.netG = SPADEGenerator(
            self.semantic_nc, ngf=model["ngf"], crop_size=width, aspect_ratio=width / height,
            num_upsampling_layers=self.upsampling, norm=model["norm_G"],
            spectral_norm=model["spectral_norm_G"], use_vae=self.use_vae, z_dim=model["z_dim"],
            nhidden=model["spade_hidden"], kernel_size=model["spade_kernel"])
        if self.netG.output_size != (height, width):
            raise ValueError(f"SPADE with num_upsampling_layers={self.upsampling!r} generates "
                             f"{self.netG.output_size} images, not the dataset's {(height, width)}; pick "
                             f"another model.num_upsampling_layers or image size")
        # Each network is initialised right after it is built, and D's scales once more, as the official
        # create_network/init_weights do: equal seeds then give the official initial weights.
        init_type, gain = model["init_type"], model["init_gain"]
        init_weights(self.netG, init_type, gain)
        self.netD = MultiscaleDiscriminator(
            self.semantic_nc + 3, ndf=d_cfg["ndf"], n_layers=d_cfg["n_layers"], num_D=d_cfg["num_D"],
            norm=d_cfg["norm"], spectral_norm=d_cfg["spectral_norm"])
        init_weights(self.netD, init_type, gain)
        for scale in self.netD.children():
            init_weights(scale, init_type, gain)
        if self.use_vae:
            self.netE = ConvEncoder(ngf=e_cfg["ngf"], crop_size=width, z_dim=model["z_dim"],
                                    norm=e_cfg["norm"], spectral_norm=e_cfg["spectral_norm"])
            init_weights(self.netE, init_type, gain)
        self.setup_losses(loss)

    def semantics(self, batch: Mapping[str, Any]) -> Tensor:
        """The generator's and discriminator's conditioning: one-hot (+ don't care) (+ instance edges)."""
        return semantic_input(dict(batch), self.data, self.use_instance)

    def configure_optimizers(self, stage: str) -> dict[str, torch.optim.Optimizer]:
        self.build_vgg_loss()
        g_params = itertools.chain(self.netG.parameters(), self.netE.parameters() if self.use_vae else ())
        return {"G": build_optimizer(g_params, self.cfg["optimizer"], "G"),
                "D": build_optimizer(self.netD.parameters(), self.cfg["optimizer"], "D")}

    def _fake(self, sem: Tensor, real: Tensor) -> tuple[Tensor, Tensor | None]:
        """Generate from ``sem``; with the VAE, z is encoded from the real image and the KL returned."""
        if not self.use_vae:
            return self.netG(sem), None
        mu, logvar = self.netE(real)
        return self.netG(sem, z=reparameterize(mu, logvar)), kl_divergence(mu, logvar)

    def train_step(self, batch: dict[str, Any], ctx: StepContext) -> dict[str, float]:
        sem = self.semantics(batch)
        real = batch["image"]
        with ctx.frozen("D"), ctx.autocast():
            fake, kld = self._fake(sem, real)
            pred_fake, pred_real = self.discriminate(sem, fake, real)
            g_losses = {"G_GAN": self.gan_loss(pred_fake, True, for_discriminator=False)}
            if self.lambda_feat > 0:
                g_losses["G_feat"] = feature_matching_loss(pred_fake, pred_real, self.lambda_feat)
            if self.lambda_vgg > 0:
                g_losses["G_VGG"] = self.vgg_term(fake, real)
            if kld is not None:
                g_losses["G_KLD"] = kld * self.lambda_kld
        ctx.backward(g_losses, "G")
        ctx.step("G")

        with ctx.autocast():
            with torch.no_grad():
                fake, _ = self._fake(sem, real)
            pred_fake, pred_real = self.discriminate(sem, fake, real)
            d_losses = self.discriminator_terms(pred_fake, pred_real)
        ctx.backward(d_losses, "D")
        ctx.step("D")
        return {k: float(v.detach()) for k, v in {**g_losses, **d_losses}.items()}

    @torch.no_grad()
    def generate(self, batch: dict[str, Any], *, z: Tensor | None = None,
                 style: Tensor | None = None) -> Tensor:
        sem = self.semantics(batch)
        if not self.use_vae:
            if z is not None or style is not None:
                raise ValueError("this SPADE model has no VAE (model.use_vae=False): it takes neither z "
                                 "nor style")
            return self.netG(sem)
        if z is None and style is not None:
            z = reparameterize(*self.netE(style))
        return self.netG(sem, z=z)

    def extra_info(self) -> dict[str, Any]:
        info: dict[str, Any] = {
            "semantic_nc": self.semantic_nc,
            "num_upsampling_layers": self.upsampling,
            "use_instance": self.use_instance,
            "params_G": count_parameters(self.netG),
            "params_D": count_parameters(self.netD),
        }
        if self.use_vae:
            info["params_E"] = count_parameters(self.netE)
        return {**info, **self.loss_info()}

    @classmethod
    def from_official(cls, path: str, cfg: Mapping[str, Any], data: DataInfo) -> SPADE:
        """This method with the official ``latest_net_G.pth`` loaded into ``netG`` (eval mode).

        The config must describe the checkpoint's generator (ngf 64, no VAE, the dataset's upsampling);
        a mismatch fails the strict load, naming the offending keys.
        """
        method = cls(cfg, data)
        load_state_strict(method.netG, read_official(path), path, hint=_OFFICIAL_HINT)
        return method.eval()


# what usually makes an official checkpoint not fit
_OFFICIAL_HINT = ("the official generators are ngf 64 without the VAE, at the dataset's label channels and "
                  "upsampling (checkpoints/<dataset>_pretrained/latest_net_G.pth)")


def load_official_generator(path: str | Path, label_nc: int, *, crop_size: int = 256,
                            num_upsampling_layers: str = "normal", ngf: int = 64, aspect_ratio: float = 1.0,
                            contain_dontcare_label: bool = True, no_instance: bool = True,
                            use_vae: bool = False, z_dim: int = 256, norm: str = "batch") -> SPADEGenerator:
    """An official SPADE generator (``latest_net_G.pth``) in eval mode, mapping a one-hot semantic map
    ``[B, semantic_nc, H, W]`` to images in [-1, 1] as the official ``test.py`` does.

    Arguments carry the official option names; ``semantic_nc = label_nc + contain_dontcare_label +
    (not no_instance)`` (COCO-Stuff: 182, True, False -> 184). The official models were trained with
    SyncBatchNorm, which in eval mode is BatchNorm with the stored running statistics: ``norm="batch"``.
    """
    semantic_nc = label_nc + int(contain_dontcare_label) + int(not no_instance)
    net = SPADEGenerator(semantic_nc, ngf=ngf, crop_size=crop_size, aspect_ratio=aspect_ratio,
                         num_upsampling_layers=num_upsampling_layers, norm=norm, use_vae=use_vae, z_dim=z_dim)
    load_state_strict(net, read_official(path), path, hint=_OFFICIAL_HINT)
    return net.eval()
