"""OASIS: semantic image synthesis with only adversarial supervision.

Schönfeld, Sushko, Zhang, Gall, Schiele, Khoreva, "You Only Need Adversarial Supervision for Semantic
Image Synthesis", ICLR 2021 (arXiv 2012.04781). Reference implementation read (never copied; AGPL):
boschresearch/OASIS at aeb875f (``models/{generator,discriminator,norms,losses,models}.py``, ``train.py``,
``config.py``, ``utils/utils.py``, ``dataloaders/*.py``). Networks and losses live in
:mod:`sisbench_oasis.networks` and :mod:`sisbench_oasis.losses`.

Decisions, each as the official code unless marked:

- semantic input: the one-hot label map with SISBench's don't-care channel when the dataset has one; no
  instance edges (the official loaders read no instance maps). SISBench orders the channels classes first,
  don't care last; the official ADE20K/COCO-Stuff maps put "unknown" first. :meth:`OASIS.from_official`
  reorders an official checkpoint's input channels (``networks.official_label_order``);
- generator: SPADE residual blocks 16, 16, 16, 8, 4, 2, 1 x ngf (ngf 64) from ``H/32 x W/32``, spectral
  norm on the residual convs, SPADE with a parameter-free SyncBatchNorm (BatchNorm in one process), 128
  hidden channels, 3x3 kernels; SISBench's shared ``SPADEResnetBlock`` is that layer exactly;
- 3D noise (paper Sec. 3.3): z_dim 64 channels concatenated before the label map, to the input of ``fc``
  and of every SPADE. ``model.noise_mode``: ``image`` (default, the official training and test code: one
  N(0, I) vector per image, replicated over the pixels), ``region`` (one vector per class region, the
  authors' local resampling of issue #25 applied to all regions), ``pixel`` (i.i.d. per pixel; not in the
  official code). ``generate(z=...)`` takes ``[B, 64]`` or a full ``[B, 64, H, W]`` tensor, so one region
  can be resampled while the rest is kept;
- discriminator (Sec. 3.1): a U-Net of residual blocks on the image alone, encoder widths 128, 128, 256,
  256, 512, 512, decoder back to 64, 1x1 to N + 1 per-pixel logits; spectral norm on every conv but the last.
  The official code hard-codes the widths (its ``channels_D`` option is unused); ``netD.ndf`` scales them and
  64 is the official network;
- losses (Sec. 3.1-3.2): the discriminator's (N+1)-class cross-entropy, real pixels weighted per class by
  ``B*H*W / (n_present * count_c)`` from the batch's label map, fake pixels unweighted; the generator's
  loss is the weighted real-class loss on its fakes; the don't-care channel weighs 0 (Cityscapes: label id
  0 "unlabeled", the official don't care, via ``loss.unweighted_classes``). LabelMix (Eq. 4) x
  ``lambda_labelmix`` 10 (5 on Cityscapes): MSE between D of the mixed image and the mix of D's outputs on
  real and fake, with one fair bit per class present in the batch. Deviation: the official mask code lets
  class 0 take class 1's bit half of the time (its class 0 is the don't care); here every class keeps its
  own bit (``losses.labelmix_mask``);
- no perceptual loss by default; ``loss.add_vgg_loss=True`` adds VGG19 L1 x ``lambda_vgg`` 10 (SISBench's
  ``VGGLoss``, the official weights 1/32 .. 1 on relu1_1 .. relu5_1, [-1, 1] inputs);
- each ``train_step``: one G update, then one D update whose fake is regenerated with the updated G under
  ``no_grad`` (G in train mode, fresh noise); D runs three times in the D step (fake, real, mixed), each
  forward a spectral-norm power iteration, as the official ``OASIS_model.forward``;
- optimizers: Adam betas (0, 0.999), lr G 1e-4 (4e-4 on Cityscapes), D 4e-4, constant (no decay);
- EMA generator (``netEMA``, a sub-network of the method, not the trainer's EMA): after every iteration
  every floating entry of G's state dict (weights, spectral-norm vectors, BatchNorm statistics) is averaged
  with decay 0.9999 (0.999 on Cityscapes); ``generate`` uses it. Its BatchNorm statistics are recomputed
  once training ends (``finalize``): 51 train-mode forwards of the training split with fresh noise, as the
  official ``update_EMA(force_run_stats=True)``. Deviation: the split comes un-augmented and in order (the
  trainer's finalize set), where the official loop reads the shuffled, augmented training loader; and the
  official code also recomputes before every intermediate sample grid, here only the final model is;
- initialisation: xavier-normal gain 0.02 on every conv weight, biases zero, in G and D; the EMA starts
  as a copy of the initialised G;
- paper presets: ADE20K 200 epochs at batch 32, COCO-Stuff 100 epochs at batch 32, Cityscapes 200 epochs
  at batch 20 (512x256), constant learning rates, converted to iterations from ``data.train_images``;
- tiny preset (CPU, 64 px; ``configs/oasis/oasis_tiny.py``), where it departs from the paper to learn in
  hundreds of iterations instead of a hundred thousand: widths ngf 8, SPADE hidden 16, ndf 16; Xavier gain
  1 instead of 0.02 (under spectral norm, 0.02-gain weights are ~1e-3 and Adam's steps re-randomise their
  directions for thousands of iterations); learning rates x10 (G 1e-3, D 4e-3: D's logits come from an
  unnormalised 1x1 conv on spectral-normed features and must grow to O(1)); batch 4; EMA decay 0.99.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping
from typing import Any

import torch
from benchmark.checkpoint import load_state_strict, read_official
from benchmark.datasets.base import DataInfo
from methods.base import Method, StepContext, count_parameters
from methods.nn.encoding import one_hot_labels
from methods.nn.init import init_weights
from methods.nn.perceptual import VGGLoss
from methods.optim import build_optimizer
from torch import Tensor, nn

from sisbench_oasis.losses import labelmix_images, labelmix_loss, labelmix_mask, n1_loss
from sisbench_oasis.networks import (
    NOISE_MODES,
    OASISDiscriminator,
    OASISGenerator,
    official_generator_state,
    official_label_order,
)


def _raw(module: nn.Module) -> nn.Module:
    return module.module if isinstance(module, nn.parallel.DistributedDataParallel) else module


class OASIS(Method):
    """OASIS (Schönfeld et al., ICLR 2021): a segmentation discriminator's N+1 loss, LabelMix and 3D noise."""

    name = "oasis"
    display_name = "OASIS"
    description = ("OASIS (Schönfeld et al., ICLR 2021): segmentation-based discriminator, 3D noise, "
                   "adversarial loss only")
    networks = ("netG", "netD")
    #: OASIS keeps its own EMA generator (``netEMA``): the trainer's EMA would copy BatchNorm statistics
    #: instead of averaging them and could not recompute them
    ema_networks = ()
    multimodal = True

    def __init__(self, cfg: Mapping[str, Any], data: DataInfo):
        super().__init__(cfg, data)
        model, d_cfg, loss = cfg["model"], cfg["netD"], cfg["loss"]
        if model["noise_mode"] not in NOISE_MODES:
            raise ValueError(f"model.noise_mode {model['noise_mode']!r} is unknown; valid: {', '.join(NOISE_MODES)}")
        self.use_noise = bool(model["use_3d_noise"])
        self.multimodal = self.use_noise
        self.semantic_nc = data.label_nc
        self.netG = OASISGenerator(
            self.semantic_nc, data.image_size, ngf=model["ngf"], z_dim=model["z_dim"], use_noise=self.use_noise,
            noise_mode=model["noise_mode"], norm=model["norm_G"], spectral_norm=model["spectral_norm_G"],
            nhidden=model["spade_hidden"], kernel_size=model["spade_kernel"])
        self.netD = OASISDiscriminator(self.semantic_nc + 1, ndf=d_cfg["ndf"], spectral_norm=d_cfg["spectral_norm"])
        height, width = data.image_size
        if height % 64 or width % 64:
            raise ValueError(f"OASIS's discriminator needs image sides that are multiples of 64; the dataset "
                             f"gives {height}x{width}: pick another crop size")
        init_weights(self.netG, model["init_type"], model["init_gain"])
        init_weights(self.netD, model["init_type"], model["init_gain"])
        self.use_ema = bool(model["use_ema"])
        self.ema_decay = float(model["ema_decay"])
        self.ema_stat_batches = int(model["ema_stat_batches"])
        if self.use_ema:
            self.netEMA = copy.deepcopy(self.netG).requires_grad_(False)
        self.lambda_labelmix = float(loss["lambda_labelmix"])
        self.balance = bool(loss["class_balancing"])
        unweighted = loss["unweighted_classes"]
        if unweighted is None:
            unweighted = [data.num_classes] if data.contain_dontcare_label else []
        bad = [c for c in unweighted if not 0 <= int(c) < self.semantic_nc]
        if bad:
            raise ValueError(f"loss.unweighted_classes {bad} lie outside the {self.semantic_nc} label channels")
        self.unweighted = [int(c) for c in unweighted]
        self.add_vgg_loss = bool(loss["add_vgg_loss"])
        self.lambda_vgg = float(loss["lambda_vgg"])
        self.vgg_weights = loss["vgg_weights"]
        # Built by configure_optimizers (training only): inference needs no VGG weights.
        self.vgg_loss: VGGLoss | None = None

    # -- inputs --------------------------------------------------------------------------------------------
    def semantics(self, batch: Mapping[str, Any]) -> Tensor:
        """The one-hot label map (+ don't-care channel); OASIS uses no instance edges."""
        return one_hot_labels(batch["label"], self.data.num_classes, self.data.ignore_index,
                              self.data.contain_dontcare_label)

    def d_loss_terms(self, logits: Tensor, sem: Tensor, real: bool) -> Tensor:
        return n1_loss(logits, sem, real, balance=self.balance, unweighted=self.unweighted)

    # -- training ------------------------------------------------------------------------------------------
    def configure_optimizers(self, stage: str) -> dict[str, torch.optim.Optimizer]:
        if self.add_vgg_loss and self.vgg_loss is None:
            self.vgg_loss = VGGLoss(self.vgg_weights).to(next(self.netG.parameters()).device)
        return {"G": build_optimizer(self.netG.parameters(), self.cfg["optimizer"], "G"),
                "D": build_optimizer(self.netD.parameters(), self.cfg["optimizer"], "D")}

    def train_step(self, batch: dict[str, Any], ctx: StepContext) -> dict[str, float]:
        real = batch["image"]
        sem = self.semantics(batch)
        with ctx.frozen("D"), ctx.autocast():
            fake = self.netG(sem)
            g_losses = {"G_adv": self.d_loss_terms(self.netD(fake), sem, real=True)}
            if self.add_vgg_loss:
                if self.vgg_loss is None:
                    raise RuntimeError("configure_optimizers() must run before train_step: it builds the VGG loss")
                g_losses["G_VGG"] = self.vgg_loss(fake, real) * self.lambda_vgg
        ctx.backward(g_losses, "G")
        ctx.step("G")

        with ctx.autocast():
            with torch.no_grad():
                fake = self.netG(sem)
            logits_fake = self.netD(fake)
            logits_real = self.netD(real)
            d_losses = {"D_fake": self.d_loss_terms(logits_fake, sem, real=False),
                        "D_real": self.d_loss_terms(logits_real, sem, real=True)}
            if self.lambda_labelmix > 0:
                mask = labelmix_mask(sem)
                logits_mixed = self.netD(labelmix_images(mask, fake, real))
                d_losses["D_labelmix"] = self.lambda_labelmix * labelmix_loss(
                    mask, logits_mixed, logits_fake, logits_real)
        ctx.backward(d_losses, "D")
        ctx.step("D")
        if self.use_ema:
            self.update_ema()
        return {k: float(v.detach()) for k, v in {**g_losses, **d_losses}.items()}

    @torch.no_grad()
    def update_ema(self) -> None:
        """``ema = ema * decay + G * (1 - decay)`` for every floating state-dict entry (parameters,
        spectral-norm vectors, BatchNorm statistics); integer counters are copied."""
        ema_state = self.netEMA.state_dict()
        for key, value in _raw(self.netG).state_dict().items():
            target = ema_state[key]
            if target.is_floating_point():
                target.copy_(target * self.ema_decay + value * (1 - self.ema_decay))
            else:
                target.copy_(value)

    @torch.no_grad()
    def recompute_ema_statistics(self, batches: Iterable[dict[str, Any]]) -> int:
        """Re-estimate ``netEMA``'s BatchNorm statistics with train-mode forwards (fresh noise each) of up to
        ``model.ema_stat_batches`` batches, as the official code before it evaluates or saves; returns the
        number of batches used."""
        was_training = self.netEMA.training
        self.netEMA.train()
        used = 0
        for batch in batches:
            if used >= self.ema_stat_batches:
                break
            self.netEMA(self.semantics(batch))
            used += 1
        self.netEMA.train(was_training)
        return used

    def finalize(self, batches: Iterable[dict[str, Any]]) -> None:
        if self.use_ema:
            self.ema_stat_batches_used = self.recompute_ema_statistics(batches)

    # -- inference -----------------------------------------------------------------------------------------
    @property
    def generator(self) -> nn.Module:
        """The generator ``generate`` uses: the EMA one when kept, else G."""
        return self.netEMA if self.use_ema else _raw(self.netG)

    @torch.no_grad()
    def generate(self, batch: dict[str, Any], *, z: Tensor | None = None,
                 style: Tensor | None = None) -> Tensor:
        """Images for ``batch["label"]``; ``z`` (``[B, 64]`` or ``[B, 64, H, W]``) fixes the 3D noise,
        otherwise it is drawn from the global RNG (``model.noise_mode``)."""
        if style is not None:
            raise ValueError("OASIS has no style encoder: its variety comes from the 3D noise; pass z instead "
                             "of style")
        return self.generator(self.semantics(batch), z=z)

    @torch.no_grad()
    def generate_samples(self, batch: dict[str, Any], k: int) -> Tensor:
        """``k`` images per label map ``[B, k, 3, H, W]``, each with its own noise."""
        if not self.use_noise:
            raise ValueError("this OASIS model has no 3D noise (model.use_3d_noise=False): it makes one image "
                             "per label map")
        return torch.stack([self.generate(batch) for _ in range(k)], dim=1)

    def extra_info(self) -> dict[str, Any]:
        info: dict[str, Any] = {
            "semantic_nc": self.semantic_nc,
            "noise": _raw(self.netG).noise_mode if self.use_noise else None,
            "unweighted_classes": self.unweighted,
            "params_G": count_parameters(self.netG),
            "params_D": count_parameters(self.netD),
            "ema": {"decay": self.ema_decay,
                    "bn_statistics_batches": getattr(self, "ema_stat_batches_used", None)} if self.use_ema else None,
        }
        if self.add_vgg_loss:
            info["vgg_weights"] = (self.vgg_loss.weights_source if self.vgg_loss is not None
                                   else f"{self.vgg_weights} (not loaded: no training in this run)")
        return info

    @classmethod
    def from_official(cls, path: str, cfg: Mapping[str, Any], data: DataInfo) -> OASIS:
        """This method with an official generator checkpoint (``<iter>_EMA.pth`` or ``<iter>_G.pth`` of
        boschresearch/OASIS) loaded into ``netG`` and ``netEMA`` (eval mode).

        Keys are mapped (``first_norm`` -> ``param_free_norm``) and the semantic input channels reordered to
        SISBench's label order (:func:`sisbench_oasis.networks.official_label_order`). The config must
        describe the checkpoint's generator (ngf 64, 64 noise channels, the dataset's label channels); a
        mismatch fails the strict load, naming the offending keys.
        """
        method = cls(cfg, data)
        order = official_label_order(data.num_classes, data.contain_dontcare_label)
        state = official_generator_state(read_official(path), method.netG.z_dim, order)
        load_state_strict(method.netG, state, path, hint=_OFFICIAL_HINT)
        if method.use_ema:
            method.netEMA.load_state_dict(method.netG.state_dict())
        return method.eval()


# what usually makes an official checkpoint not fit
_OFFICIAL_HINT = ("the official generators are ngf 64 with 64 noise channels at the dataset's label channels "
                  "(151 ADE20K, 35 Cityscapes, 183 COCO-Stuff): checkpoints/oasis_<dataset>_pretrained/"
                  "models/best_EMA.pth")
