"""The SLNP-GAN method (Zhang et al. 2020): its two stages, inputs, losses, update order, inference and
attention record. The decisions are in docs/methods.md."""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from benchmark.datasets.base import DataInfo
from benchmark.registry import METHODS
from methods.base import Method, StepContext, count_parameters
from methods.nn.encoding import semantic_input
from methods.nn.losses import GANLoss, feature_matching_loss, kl_divergence
from methods.optim.amm import TABLE1_TYPES, table1_optimizer
from methods.slnp.discriminator import ProjectionPatchDiscriminator
from methods.slnp.generator import G0Generator
from methods.slnp.instances import Instances, find_instances
from methods.slnp.noise_prior import NoisePriorVAE
from methods.slnp.refiner import AttentionRefiner


def class_histogram(onehot: Tensor) -> Tensor:
    """Fraction of pixels per class, ``[B, C]``, of a one-hot ``[B, C, H, W]`` map."""
    return onehot.mean(dim=(2, 3))


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
        self.netG0 = G0Generator(self.semantic_nc, data.label_nc, self.size0, ngf=model["ngf0"],
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
