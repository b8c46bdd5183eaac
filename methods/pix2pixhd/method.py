"""The pix2pixHD method (Wang et al., CVPR 2018): its inputs, losses, update order and inference; the
decisions are listed in :mod:`methods.pix2pixhd`."""

from __future__ import annotations

import warnings
from collections.abc import Iterable, Mapping, Sequence
from contextlib import nullcontext
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from benchmark.checkpoint import load_state_strict, read_official
from benchmark.datasets.base import DataInfo
from benchmark.registry import METHODS
from methods.base import Method, StepContext, count_parameters
from methods.nn.discriminators import MultiscaleDiscriminator
from methods.nn.encoding import semantic_input
from methods.nn.losses import GANLoss, feature_matching_loss
from methods.nn.perceptual import VGGLoss
from methods.optim import build_optimizer
from methods.pix2pixhd.instance_features import (
    KMEANS_N_INIT,
    KMEANS_RANDOM_STATE,
    FeatureEncoder,
    cluster_features,
    region_features,
    region_index,
    region_map,
)
from methods.pix2pixhd.networks import LocalEnhancer, build_generator, load_global_into_local, pix2pixhd_init

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
        index, n = region_index(self.regions(batch))
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

    def global_parameters(self) -> list[Tensor]:
        """What ``niter_fix_global`` keeps fixed: the parameters of the local enhancer's global generator
        (and of every local branch but the outermost)."""
        net = self.netG.module if isinstance(self.netG, nn.parallel.DistributedDataParallel) else self.netG
        return net.global_parameters()

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
        # While fixed, G's graph is built without the global part's parameters: they get no gradient, so
        # Adam leaves them (and their moments) untouched.
        with ctx.autocast(), ctx.frozen(self.global_parameters()) if fixed else nullcontext():
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
