"""SDM: semantic image synthesis with a denoising diffusion model.

Wang, Bao, Zhou, Chen, Chen, Yuan, Li, "Semantic Image Synthesis via Diffusion Models", arXiv 2207.00050.
Reference code read, never copied: WeilunWang/semantic-diffusion-model at 7171f37 (``guided_diffusion/
{unet,gaussian_diffusion,respace,train_util,script_util}.py``, ``image_sample.py``, ``scripts/*.sh``) and
its base openai/guided-diffusion at 22e0df8. Networks in :mod:`sisbench_sdm.networks`, the diffusion in
:mod:`sisbench_sdm.diffusion`.

Decisions, each as the official code unless marked:

- semantic input: the one-hot label map with SISBench's don't-care channel when the dataset has one, plus
  the instance-edge channel where the dataset has instance maps (``model.use_instance``; the official
  ADE20K script passes ``--no_instance``). The official ADE20K loader shifts labels by one and puts
  "unknown" last (channel 150), COCO-Stuff's 255 goes to channel 182: SISBench's order, so released
  checkpoints load without reordering;
- the U-Net (:class:`~sisbench_sdm.networks.SDMUNet`): encoder on the noisy image, decoder modulated by the
  label map through SPADE GroupNorm at every block, scale-shift timestep norm, attention at 32 / 16 / 8 px
  with 64-channel heads, residual up/down-sampling, 256 channels, 2 blocks per level, learned variance;
- diffusion: linear schedule over 1,000 steps, epsilon prediction, the hybrid loss ``L_simple + L_vlb``
  (learned-range variance, the mean's gradient stopped in ``L_vlb``), timesteps uniform;
- two stages of one run (``Method.stages``): ``train`` (AdamW, lr 1e-4 on ADE20K, no weight decay, constant
  rate), then ``finetune`` for classifier-free guidance (lr 2e-5; each sample's whole label map zeroed with
  probability ``diffusion.drop_rate`` 0.2). As the official fine-tune, which restarts from ``model.pt``
  with a fresh optimizer and a fresh EMA, the second stage starts its optimizer and its EMA anew;
- EMA of the U-Net's parameters with decay 0.9999 after every step (``netEMA``, kept by the method, not the
  trainer's EMA, so that it survives the stage boundary as the official EMA files do); ``generate`` uses it;
- sampling (``eval.sampler``): ``kind`` ``ddpm`` (ancestral, the learned variance; the official sampler) or
  ``ddim`` (eta 0), ``steps`` (1,000: the official test script; fewer are respaced as guided-diffusion does),
  ``guidance`` the classifier-free scale ``s`` (1.5 in the official ADE20K and CelebA scripts; 1 turns it
  off, 0 samples unconditionally), predicted images clipped to ``[-1, 1]`` at every step. The sampler is
  part of the config, so of the run's identity: a row sampled with 50 steps is another row than one with
  1,000. ``nfe_per_image`` (network evaluations per image: steps, x2 with guidance) is in the manifest;
- mixed precision: the official ``--use_fp16`` becomes ``train.amp="fp16"`` (SISBench's loss scaling);
  GroupNorm and the attention softmax compute in float32, as the official fp16 code;
- tiny preset (CPU, 64 px; ``configs/sdm/sdm_tiny.py``): the same code at 16 channels, 4 levels, 1 block, attention
  at 16 and 8 px, 8 groups, EMA 0.99 instead of 0.9999 (the EMA restarts at the fine-tune, so its window
  must be shorter than the 300-iteration fine-tune, or the guided sampler mixes in an unconditional
  prediction the averaged weights never learnt), DDIM with 10 steps.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

import torch
from benchmark.checkpoint import load_state_strict, read_official
from benchmark.datasets.base import DataInfo
from methods.base import Method, StepContext, count_parameters
from methods.nn.encoding import semantic_input
from torch import Tensor, nn

from sisbench_sdm.diffusion import SAMPLERS, GaussianDiffusion, evaluations_per_image, sample
from sisbench_sdm.networks import DEFAULT_CHANNEL_MULT, SDMUNet, official_state

STAGES = ("train", "finetune")


def _raw(module: nn.Module) -> nn.Module:
    return module.module if isinstance(module, nn.parallel.DistributedDataParallel) else module


def sampler_options(cfg: Mapping[str, Any]) -> dict[str, Any]:
    """``eval.sampler`` with its defaults, checked: kind, steps, guidance, eta."""
    raw = dict((cfg.get("eval") or {}).get("sampler") or {})
    unknown = sorted(set(raw) - {"kind", "steps", "guidance", "eta"})
    if unknown:
        raise ValueError(f"eval.sampler has unknown keys {unknown}; valid: kind, steps, guidance, eta")
    opts = {"kind": raw.get("kind", "ddpm"), "steps": raw.get("steps", cfg["diffusion"]["steps"]),
            "guidance": float(raw.get("guidance", 1.0)), "eta": float(raw.get("eta", 0.0))}
    if opts["kind"] not in SAMPLERS:
        raise ValueError(f"eval.sampler.kind {opts['kind']!r} is unknown; valid: {', '.join(SAMPLERS)}")
    steps = opts["steps"]
    if not isinstance(steps, int) or isinstance(steps, bool) or not 1 <= steps <= cfg["diffusion"]["steps"]:
        raise ValueError(f"eval.sampler.steps must be a whole number from 1 to diffusion.steps "
                         f"({cfg['diffusion']['steps']}); got {steps!r}")
    if opts["kind"] == "ddim" and cfg["diffusion"]["steps"] % steps:
        raise ValueError(f"the DDIM sampler needs eval.sampler.steps dividing diffusion.steps "
                         f"({cfg['diffusion']['steps']}), as the official 'ddimN' respacing; got {steps}")
    g = opts["guidance"]
    if not (g == 0.0 or g >= 1.0):
        raise ValueError(f"eval.sampler.guidance must be 0 (unconditional), 1 (no guidance) or above 1; got {g}")
    return opts


class SDM(Method):
    """SDM (Wang et al., 2022): a diffusion U-Net whose decoder is modulated by the label map."""

    name = "sdm"
    display_name = "SDM"
    description = ("SDM (Wang et al., 2022): denoising diffusion, SPADE-GroupNorm decoder, classifier-free "
                   "guidance; many network evaluations per image")
    stages = STAGES
    networks = ("unet",)
    ema_networks = ()
    generator_networks = ("unet",)
    multimodal = True

    def __init__(self, cfg: Mapping[str, Any], data: DataInfo):
        super().__init__(cfg, data)
        model, diff = cfg["model"], cfg["diffusion"]
        h, w = data.image_size
        use_instance = model.get("use_instance")
        self.use_instance = data.has_instance if use_instance is None else bool(use_instance)
        self.semantic_nc = data.semantic_nc(self.use_instance)
        # the official image_size is the width (512 for 512x256 Cityscapes): it picks the default channel
        # multipliers and, with attention_resolutions, the attention levels
        mult = model.get("channel_mult") or DEFAULT_CHANNEL_MULT.get(w)
        if mult is None:
            raise ValueError(f"SDM has no default model.channel_mult for {w} px wide images (the official table "
                             f"covers {sorted(DEFAULT_CHANNEL_MULT)}); set model.channel_mult")
        down = 2 ** (len(mult) - 1)
        if h % down or w % down:
            raise ValueError(f"SDM's U-Net halves the image {len(mult) - 1} times; {h}x{w} is not a multiple of "
                             f"{down}: pick another crop size or a shorter model.channel_mult")
        self.unet = SDMUNet(
            self.semantic_nc, w, model_channels=model["model_channels"], num_res_blocks=model["num_res_blocks"],
            channel_mult=model.get("channel_mult"), attention_resolutions=tuple(model["attention_resolutions"]),
            num_head_channels=model["num_head_channels"], num_heads=model["num_heads"], dropout=model["dropout"],
            learn_sigma=model["learn_sigma"], resblock_updown=model["resblock_updown"],
            use_scale_shift_norm=model["use_scale_shift_norm"], norm_groups=model["norm_groups"],
            spade_hidden=model["spade_hidden"], use_checkpoint=model["use_checkpoint"])
        self.diffusion = GaussianDiffusion(diff["steps"], diff["noise_schedule"], model["learn_sigma"])
        self.drop_rate = float(diff["drop_rate"])
        if not 0.0 <= self.drop_rate < 1.0:
            raise ValueError(f"diffusion.drop_rate must lie in [0, 1); got {self.drop_rate}")
        self.ema_decay = float(model["ema_decay"])
        self.netEMA = copy.deepcopy(self.unet).requires_grad_(False)
        self.sampler = sampler_options(cfg)

    # -- inputs --------------------------------------------------------------------------------------------
    def semantics(self, batch: Mapping[str, Any]) -> Tensor:
        return semantic_input(dict(batch), self.data, self.use_instance)

    # -- training ------------------------------------------------------------------------------------------
    def configure_optimizers(self, stage: str) -> dict[str, torch.optim.Optimizer]:
        opt = self.cfg["optimizer"]
        lr = opt["lr"] if stage == "train" else opt["lr_finetune"]
        return {"unet": torch.optim.AdamW(self.unet.parameters(), lr=lr, betas=tuple(opt["betas"]),
                                          weight_decay=opt["weight_decay"])}

    def train_step(self, batch: dict[str, Any], ctx: StepContext) -> dict[str, float]:
        if ctx.stage == "finetune" and ctx.iteration == 0:
            self.netEMA.load_state_dict(_raw(self.unet).state_dict())  # the fine-tune's EMA starts anew
        x0 = batch["image"]
        seg = self.semantics(batch)
        if ctx.stage == "finetune" and self.drop_rate > 0:
            keep = (torch.rand(seg.shape[0], 1, 1, 1, device=seg.device) > self.drop_rate).to(seg.dtype)
            seg = seg * keep
        t = torch.randint(0, self.diffusion.num_timesteps, (x0.shape[0],), device=x0.device)
        noise = torch.randn_like(x0)
        with ctx.autocast():
            terms = self.diffusion.training_losses(lambda xt, tt: self.unet(xt, tt, seg), x0, t, noise)
        losses = {name: value.float().mean() for name, value in terms.items()}
        ctx.backward(losses, "unet")
        ctx.step("unet")
        self.update_ema()
        return {k: float(v.detach()) for k, v in losses.items()}

    @torch.no_grad()
    def update_ema(self) -> None:
        for target, source in zip(self.netEMA.parameters(), _raw(self.unet).parameters(), strict=True):
            target.mul_(self.ema_decay).add_(source.detach(), alpha=1 - self.ema_decay)

    # -- inference -----------------------------------------------------------------------------------------
    @property
    def nfe_per_image(self) -> int:
        """Network evaluations per generated image with this config's sampler."""
        return evaluations_per_image(self.sampler["steps"], self.sampler["guidance"])

    @torch.no_grad()
    def generate(self, batch: dict[str, Any], *, z: Tensor | None = None,
                 style: Tensor | None = None) -> Tensor:
        """Images for ``batch["label"]`` with ``eval.sampler``; ``z`` (``[B, 3, H, W]``) fixes the starting noise
        ``x_T``, otherwise it is drawn from the global RNG (as is the noise of every ancestral step)."""
        if style is not None:
            raise ValueError("SDM has no style encoder: its variety comes from the diffusion noise; pass z (the "
                             "starting noise) instead of style")
        seg = self.semantics(batch)
        b, _, h, w = seg.shape
        if z is not None and tuple(z.shape) != (b, 3, h, w):
            raise ValueError(f"z is SDM's starting noise x_T of shape {(b, 3, h, w)}; got {tuple(z.shape)}")
        s = self.sampler
        return sample(self.netEMA, seg, (b, 3, h, w), kind=s["kind"], steps=s["steps"], guidance=s["guidance"],
                      eta=s["eta"], num_timesteps=self.diffusion.num_timesteps,
                      schedule=self.cfg["diffusion"]["noise_schedule"], noise=z)

    def extra_info(self) -> dict[str, Any]:
        return {"semantic_nc": self.semantic_nc, "params_unet": count_parameters(self.unet),
                "ema": {"decay": self.ema_decay}, "sampler": dict(self.sampler),
                "nfe_per_image": self.nfe_per_image, "drop_rate_finetune": self.drop_rate}

    @classmethod
    def from_official(cls, path: str, cfg: Mapping[str, Any], data: DataInfo) -> SDM:
        """This method with a released SDM checkpoint (``ema_0.9999_best.pt`` or ``model.pt`` of
        WeilunWang/semantic-diffusion-model, fp32 or fp16) loaded into the U-Net and its EMA (eval mode).

        The layout is the official ``UNetModel``'s; the config must describe it (the paper preset: 256
        channels, 2 blocks, attention at 32/16/8, 64-channel heads, learned sigma) at the dataset's label
        channels; a mismatch fails naming the channel counts or the offending keys."""
        method = cls(cfg, data)
        try:
            state = official_state(read_official(path), method.unet)
        except ValueError as exc:
            from benchmark.checkpoint import CheckpointError

            raise CheckpointError(f"official checkpoint {path} does not fit: {exc}") from None
        load_state_strict(method.unet, state, path, hint=_OFFICIAL_HINT)
        method.netEMA.load_state_dict(method.unet.state_dict())
        return method.eval()


_OFFICIAL_HINT = ("the released SDM models are the paper preset (256 channels, 2 res blocks, attention at 32,16,8 "
                  "with 64-channel heads, learned sigma) at 256x256: load them with --preset paper")
