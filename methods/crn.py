"""CRN: Chen & Koltun, "Photographic Image Synthesis with Cascaded Refinement Networks", ICCV 2017.

Reference code: CQFIO/PhotographicImageSynthesis (TensorFlow; ``demo_256p.py``, ``demo_512p.py``,
``demo_1024p.py``, ``GTA_Diversity_256p.py``). Read, not copied.

No discriminator and no adversarial loss: a cascade of refinement modules trained with a feature-matching
(perceptual) loss, producing ``k`` diverse images per label map at once.

Generator (paper Sec. 3.2): the first module runs at 4 x (4 * aspect) (4x8 for Cityscapes' 256x512), each
next one at twice the resolution up to the output size. Module ``i`` takes
``concat(bilinear-upsampled features of module i-1, label map area-downsampled to its size)`` (the first
takes the label alone) and applies ``[conv3x3 -> layer norm -> LeakyReLU(0.2)] x 2``. A 1x1 convolution
maps the last features to ``3k`` channels: ``k`` images.

Loss (Sec. 3.3, 3.4): for each output ``u`` and each class ``p``,
``L_p(u) = sum_l lambda_l * mean_xy(M_p^l * mean_channels |Phi_l(I) - Phi_l(u)|)`` over ``l`` = pixels,
conv1_2, conv2_2, conv3_2, conv4_2, conv5_2 of VGG19, with ``M_p^l`` the label channel ``p`` area-resized
to layer ``l``'s size; then ``0.999 * sum_p min_u L_p(u) + 0.001 * sum_p mean_u L_p(u)``.

Decisions, matching the official code where the paper leaves room:

- Widths (``model.widths=None``): 1024 for modules below 128 px of height, 512 at 128 and 256, 128 at 512,
  32 at 1024, as the official 256p/512p/1024p scripts; ``model.widths`` lists one width per module instead.
- Convolutions have no bias (``slim.conv2d`` drops it when a normaliser follows); the head has one.
- Layer norm is TF's ``slim.layer_norm``: statistics over (H, W, C) of each sample, a per-channel gain and
  shift: exactly ``GroupNorm(1, C)``. Its epsilon is TF's 1e-12 (``model.norm_eps``), not PyTorch's 1e-5.
- Initialisation: Glorot-uniform convolutions and zero biases (TF slim's defaults), layer-norm gain 1,
  shift 0.
- Bilinear upsampling with ``align_corners=True`` (``tf.image.resize_bilinear(..., align_corners=True)``);
  the label is area-downsampled (``tf.image.resize_area``) from full resolution to each module's size,
  which equals the official recursive halving for the power-of-two factors used here.
- Output scale: the official head output ``r`` becomes an image by ``(r + 1) / 2 * 255`` and is compared
  with photos in [0, 255]; so ``r`` itself is already our [-1, 1] convention and the head has no tanh.
  ``generate`` clamps to [-1, 1], as the official script clips to [0, 255] before saving.
- Head channel ``c * k + j`` is colour ``c`` of image ``j`` (the official transpose/split layout).
- Loss units are the official ones: images in [0, 255], so the pixel term is ``127.5 |fake - real|`` in our
  [-1, 1] space. The VGG19 is torchvision's ImageNet network (``methods.nn.perceptual``), fed the
  ImageNet-normalised image, where the official code used MatConvNet's ``imagenet-vgg-verydeep-19.mat``
  (Caffe weights on mean-subtracted [0, 255] input). Its feature magnitudes differ, so the published layer
  weights 1, 1/1.6, 1/2.3, 1/1.8, 1/2.8, 10/0.8 (normalisers "collected at the 100th epoch" of the
  official run) balance the terms only approximately; they stay configurable (``loss.layer_weights``).
- The official VGG replaces max pooling with 2x2 average pooling (``build_net('pool')``);
  ``loss.vgg_pool="avg"`` does the same here, ``"max"`` keeps VGG19's own pooling. The layer outputs used
  are post-ReLU (``build_net('conv')`` applies the ReLU): relu1_2 .. relu5_2.
- Masks are the one-hot label map including the don't-care channel (the official "1 - sum" void channel).
- Batches larger than one (the paper trains at batch 1): the per-sample loss is averaged over the batch.
- The VGG is built on the first training step, so generating from a checkpoint never needs its weights.
- Adam (TF defaults: betas 0.9, 0.999, eps 1e-8), constant lr 1e-4, batch 1, 200 epochs (the official
  256p script); k = 9 at 256p, k = 1 at 512p and 1024p.
- ``generate`` returns output ``model.output_index`` (or, per sample, the integers in ``z``);
  ``generate_samples(batch, K)`` returns the first ``K`` of the ``k`` outputs.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from benchmark.datasets.base import DataInfo
from benchmark.registry import METHODS
from methods.base import Method, StepContext
from methods.nn.encoding import one_hot_labels
from methods.nn.init import init_weights
from methods.nn.perceptual import VGG19Features
from methods.optim import build_optimizer

#: the VGG19 layers of the official loss, after the pixel term (the official ``conv*_2`` include the ReLU)
VGG_LAYERS = ("relu1_2", "relu2_2", "relu3_2", "relu4_2", "relu5_2")
#: loss names logged per term: pixels first, then the VGG layers
TERM_NAMES = ("pixel",) + VGG_LAYERS
VGG_POOLING = ("avg", "max")


# --------------------------------------------------------------------------------------------------
# Generator
# --------------------------------------------------------------------------------------------------
def cascade_sizes(image_size: tuple[int, int], start_height: int = 4) -> list[tuple[int, int]]:
    """The resolutions of the refinement modules: ``start_height x start_height * aspect``, doubling to
    ``image_size`` (256x512 -> 4x8, 8x16, ..., 256x512; 64x64 -> 4x4, ..., 64x64)."""
    h, w = image_size
    levels = math.log2(h / start_height)
    if levels < 0 or levels != int(levels) or w * start_height % h:
        raise ValueError(f"image size {h}x{w} is not {start_height} x ({start_height} * aspect) times a power "
                         f"of two; CRN doubles the resolution from model.start_height={start_height}")
    start_w = w * start_height // h
    return [(start_height * 2 ** i, start_w * 2 ** i) for i in range(int(levels) + 1)]


def official_width(height: int) -> int:
    """Feature width of the official module at ``height``: 1024 below 128, 512 up to 256, 128 at 512,
    32 at 1024 (demo_256p/512p/1024p.py)."""
    if height < 128:
        return 1024
    if height <= 256:
        return 512
    return 128 if height <= 512 else 32


class RefinementModule(nn.Module):
    """``[conv3x3 (no bias) -> layer norm (GroupNorm(1, C)) -> LeakyReLU(0.2)] x 2`` (paper Sec. 3.2)."""

    def __init__(self, in_channels: int, width: int, norm_eps: float = 1e-12):
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, width, 3, padding=1, bias=False)
        self.norm1 = nn.GroupNorm(1, width, eps=norm_eps)
        self.conv2 = nn.Conv2d(width, width, 3, padding=1, bias=False)
        self.norm2 = nn.GroupNorm(1, width, eps=norm_eps)

    def forward(self, x: Tensor) -> Tensor:
        x = F.leaky_relu(self.norm1(self.conv1(x)), 0.2)
        return F.leaky_relu(self.norm2(self.conv2(x)), 0.2)


class CascadedRefinementNetwork(nn.Module):
    """The CRN generator: label map ``[B, C, H, W]`` -> ``k`` images ``[B, k, 3, H, W]`` (unbounded;
    [-1, 1] is the image range)."""

    def __init__(self, label_nc: int, image_size: tuple[int, int], num_outputs: int = 9,
                 widths: Sequence[int] | None = None, start_height: int = 4, norm_eps: float = 1e-12):
        super().__init__()
        self.sizes = cascade_sizes(image_size, start_height)
        if widths is None:
            widths = [official_width(h) for h, _ in self.sizes]
        if len(widths) != len(self.sizes):
            raise ValueError(f"model.widths has {len(widths)} entries for {len(self.sizes)} refinement modules "
                             f"at {[f'{h}x{w}' for h, w in self.sizes]}")
        self.widths = list(widths)
        self.num_outputs = num_outputs
        modules, prev = [], 0
        for width in self.widths:
            modules.append(RefinementModule(prev + label_nc, width, norm_eps))
            prev = width
        self.refine = nn.ModuleList(modules)
        self.head = nn.Conv2d(prev, 3 * num_outputs, 1)

    def forward(self, label: Tensor) -> Tensor:
        x = None
        for (h, w), module in zip(self.sizes, self.refine, strict=True):
            lab = label if label.shape[-2:] == (h, w) else F.interpolate(label, size=(h, w), mode="area")
            if x is not None:
                x = torch.cat([F.interpolate(x, size=(h, w), mode="bilinear", align_corners=True), lab], 1)
            else:
                x = lab
            x = module(x)
        out = self.head(x)
        b, _, h, w = out.shape
        # channel c * k + j is colour c of image j
        return out.view(b, 3, self.num_outputs, h, w).transpose(1, 2)


# --------------------------------------------------------------------------------------------------
# Loss
# --------------------------------------------------------------------------------------------------
def masked_errors(fake_feat: Tensor, real_feat: Tensor, label: Tensor) -> Tensor:
    """Per output and class: ``mean_xy(mask_c * mean_channels |fake - real|)``.

    ``fake_feat``: ``[B, k, C_f, h, w]``; ``real_feat``: ``[B, C_f, h, w]``; ``label``: one-hot
    ``[B, C, H, W]``, area-resized here to ``h x w``. Returns ``[B, k, C]``.
    """
    h, w = fake_feat.shape[-2:]
    mask = label if label.shape[-2:] == (h, w) else F.interpolate(label, size=(h, w), mode="area")
    err = (fake_feat.float() - real_feat.float().unsqueeze(1)).abs().mean(2)  # [B, k, h, w]
    return torch.einsum("bkhw,bchw->bkc", err, mask.float()) / (h * w)


def diversity_loss(content: Tensor, min_weight: float = 0.999, mean_weight: float = 0.001) -> Tensor:
    """``min_weight * sum_c min_k + mean_weight * sum_c mean_k`` of ``content [B, k, C]``, averaged over
    the batch (paper Eq. 5 with the official 0.999/0.001 mix): each class is charged to the output that
    renders it best, so the outputs are free to differ elsewhere."""
    per_sample = min_weight * content.min(1).values.sum(1) + mean_weight * content.mean(1).sum(1)
    return per_sample.mean()


def use_average_pooling(vgg: VGG19Features) -> None:
    """Swap VGG19's 2x2 max pooling for 2x2 average pooling, as the official CRN's VGG does."""
    for i, module in enumerate(vgg.features):
        if isinstance(module, nn.MaxPool2d):
            vgg.features[i] = nn.AvgPool2d(2, 2)


# --------------------------------------------------------------------------------------------------
# Method
# --------------------------------------------------------------------------------------------------
@METHODS.register()
class CRN(Method):
    """Cascaded Refinement Network (Chen & Koltun, ICCV 2017): k diverse outputs, masked VGG matching loss."""

    name = "crn"
    description = "CRN (Chen & Koltun 2017): cascaded refinement, k outputs, masked VGG19 diversity loss"
    networks = ("netG",)
    multimodal = True

    def __init__(self, cfg: Mapping[str, Any], data: DataInfo):
        super().__init__(cfg, data)
        m, loss = cfg["model"], cfg["loss"]
        self.netG = CascadedRefinementNetwork(data.label_nc, data.image_size, m["num_outputs"], m["widths"],
                                              m["start_height"], m["norm_eps"])
        init_weights(self.netG, "xavier_uniform")
        self.num_outputs = int(m["num_outputs"])
        # k = 1 (the official 512p / 1024p models, the tiny preset) gives one image per label map
        self.multimodal = self.num_outputs > 1
        self.max_samples = self.num_outputs
        self.output_index = int(m["output_index"])
        if not 0 <= self.output_index < self.num_outputs:
            raise ValueError(f"model.output_index={self.output_index} is not in [0, {self.num_outputs})")
        self.layer_weights = tuple(float(w) for w in loss["layer_weights"])
        if len(self.layer_weights) != len(TERM_NAMES):
            raise ValueError(f"loss.layer_weights needs {len(TERM_NAMES)} weights ({', '.join(TERM_NAMES)}); "
                             f"got {len(self.layer_weights)}")
        self.min_weight = float(loss["min_weight"])
        self.mean_weight = float(loss["mean_weight"])
        self.vgg_weights = loss["vgg_weights"]
        self.vgg_pool = loss["vgg_pool"]
        if self.vgg_pool not in VGG_POOLING:
            raise ValueError(f"unknown loss.vgg_pool {self.vgg_pool!r}; valid: {', '.join(VGG_POOLING)}")
        self.vgg: VGG19Features | None = None

    def configure_optimizers(self, stage: str) -> dict[str, torch.optim.Optimizer]:
        return {"G": build_optimizer(self.netG.parameters(), self.cfg["optimizer"], "G")}

    def label_map(self, batch: Mapping[str, Any]) -> Tensor:
        """The one-hot label map with the don't-care channel: the generator's input and the loss masks."""
        return one_hot_labels(batch["label"], self.data.num_classes, self.data.ignore_index,
                              self.data.contain_dontcare_label)

    def _feature_net(self, device: torch.device) -> VGG19Features:
        if self.vgg is None:
            vgg = VGG19Features(VGG_LAYERS, self.vgg_weights, normalize_input=True, option_name="loss.vgg_weights")
            if self.vgg_pool == "avg":
                use_average_pooling(vgg)
            self.vgg = vgg.to(device)
        return self.vgg

    def content_loss(self, fake: Tensor, real: Tensor, label: Tensor) -> tuple[Tensor, dict[str, float]]:
        """``[B, k, C]`` weighted masked errors of ``fake [B, k, 3, H, W]`` against ``real [B, 3, H, W]``
        in the official [0, 255] units, and each term's batch mean (summed over classes, mean over k)."""
        b, k = fake.shape[:2]
        vgg = self._feature_net(fake.device)
        with torch.no_grad():
            real_feats = vgg(real)
        fake_feats = vgg(fake.flatten(0, 1))
        fakes = [fake * 127.5] + [f.unflatten(0, (b, k)) for f in fake_feats]
        reals = [real * 127.5] + real_feats
        content, terms = None, {}
        for name, weight, f, r in zip(TERM_NAMES, self.layer_weights, fakes, reals, strict=True):
            term = masked_errors(f, r, label) * weight
            content = term if content is None else content + term
            terms[name] = float(term.detach().sum(2).mean())
        return content, terms

    def train_step(self, batch: dict[str, Any], ctx: StepContext) -> dict[str, float]:
        label = self.label_map(batch)
        with ctx.autocast():
            fake = self.netG(label)
            content, terms = self.content_loss(fake, batch["image"], label)
        loss = diversity_loss(content, self.min_weight, self.mean_weight)
        ctx.backward({"G_content": loss}, "G")
        ctx.step("G")
        return {"G_content": loss.item(), **{f"G_{k}": v for k, v in terms.items()}}

    @torch.no_grad()
    def generate_all(self, batch: dict[str, Any]) -> Tensor:
        """All ``k`` outputs ``[B, k, 3, H, W]``, clamped to [-1, 1]."""
        return self.netG(self.label_map(batch)).clamp(-1, 1)

    @torch.no_grad()
    def generate(self, batch: dict[str, Any], *, z: Tensor | None = None,
                 style: Tensor | None = None) -> Tensor:
        """Output ``model.output_index`` of each label map, or per sample the output index ``z[b]``
        (an integer tensor ``[B]`` or a scalar)."""
        if style is not None:
            raise ValueError("CRN takes no style image; its k outputs are chosen with z (an output index)")
        outputs = self.generate_all(batch)
        b, k = outputs.shape[:2]
        if z is None:
            index = torch.full((b,), self.output_index, dtype=torch.long, device=outputs.device)
        elif z.is_floating_point() or z.dim() > 1:
            raise ValueError(f"CRN's z selects one of its {k} outputs: an integer tensor [B] or a scalar; got "
                             f"{z.dtype} of shape {tuple(z.shape)}")
        else:
            index = z.to(outputs.device, torch.long).expand(b)
        if int(index.min()) < 0 or int(index.max()) >= k:
            raise ValueError(f"output index out of range [0, {k}): {index.tolist()}")
        return outputs[torch.arange(b, device=outputs.device), index]

    @torch.no_grad()
    def generate_samples(self, batch: dict[str, Any], num_samples: int) -> Tensor:
        """The first ``num_samples`` of the ``k`` outputs: ``[B, num_samples, 3, H, W]``."""
        if not 1 <= num_samples <= self.num_outputs:
            raise ValueError(f"CRN produces model.num_outputs={self.num_outputs} images per label map; "
                             f"--num-samples must be between 1 and {self.num_outputs}, got {num_samples}")
        return self.generate_all(batch)[:, :num_samples]

    def extra_info(self) -> dict[str, Any]:
        return {"vgg_weights": self.vgg.weights_source if self.vgg is not None else
                f"{self.vgg_weights} (requested; the VGG was not built: no training step ran)",
                "vgg_pool": self.vgg_pool, "num_outputs": self.num_outputs,
                "cascade": [f"{h}x{w}:{c}" for (h, w), c in zip(self.netG.sizes, self.netG.widths, strict=True)]}
