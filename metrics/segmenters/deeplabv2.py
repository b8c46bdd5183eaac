"""DeepLabV2 ResNet-101 MSC on COCO-Stuff 164k: the segmenter of SPADE's COCO-Stuff scores.

Chen et al., "DeepLab: Semantic Image Segmentation with Deep Convolutional Nets, Atrous Convolution, and
Fully Connected CRFs", TPAMI 2018, as implemented by kazuto1011/deeplab-pytorch (``libs/models/resnet.py``,
``deeplabv2.py``, ``msc.py``; ``configs/cocostuff164k.yaml``; ``main.py test``), whose checkpoint
``deeplabv2_resnet101_msc-cocostuff164k-100000.pth`` (182 classes, release v1.0, "kept intact since
2019/02/23" per its README) SPADE used (NVlabs/SPADE issue #39). The modules below reproduce the original
key names, so that file loads unchanged with ``strict=True``:

- ``base.layer1.conv1.{conv,bn}`` (7x7 stride-2 stem) + ``MaxPool2d(3, 2, 1, ceil_mode=True)``;
- ``base.layer2..layer5.blockN.{reduce,conv3x3,increase,shortcut}.{conv,bn}``: MSRA bottlenecks with the
  stride on the 1x1 ``reduce`` conv; layer4/layer5 keep stride 1 with dilation 2/4 (output stride 8);
- ``base.aspp.c0..c3``: four 3x3 convs with dilation 6, 12, 18, 24 whose logits are summed;
- the ``base.`` prefix is the ``MSC`` wrapper: at test time logits of the image at scale 1 and of its
  bilinear 0.5x and 0.75x resizes are resized to the scale-1 logits' size and fused by a pixel-wise max.

Input handling as ``libs/datasets/base.py``: caffe style, BGR in 0..255 minus the mean
(B, G, R) = (104.008, 116.669, 122.675) from the config's ``IMAGE.MEAN``, no division by a std. Output as
``main.py test``: logits bilinearly resized (``align_corners=False``) to the label size, argmax. The 182
classes are the COCO-Stuff 164k ``stuffthingmaps`` ids 0..181 (255 unlabeled), so no label mapping is needed.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from metrics.segmenters.legacy import (
    SingleFileLegacySegmenter,
    freeze,
    to_unit_range,
)

CHECKPOINT_FILE = "deeplabv2_resnet101_msc-cocostuff164k-100000.pth"
CHECKPOINT_URL = f"https://github.com/kazuto1011/deeplab-pytorch/releases/download/v1.0/{CHECKPOINT_FILE}"
#: ``IMAGE.MEAN`` of ``configs/cocostuff164k.yaml``, in the BGR order the loader subtracts it.
MEAN_BGR = (104.008, 116.669, 122.675)
#: ``MSC`` test-time scales besides 1.0 (``DeepLabV2_ResNet101_MSC``).
MSC_SCALES = (0.5, 0.75)
ATROUS_RATES = (6, 12, 18, 24)
RESNET101_BLOCKS = (3, 4, 23, 3)
NUM_CLASSES = 182


class ConvBnReLU(nn.Sequential):
    """``_ConvBnReLU``: conv (no bias) -> BatchNorm (eps 1e-5) -> optional ReLU."""

    def __init__(self, in_ch: int, out_ch: int, kernel: int, stride: int, padding: int, dilation: int,
                 relu: bool = True):
        super().__init__()
        self.add_module("conv", nn.Conv2d(in_ch, out_ch, kernel, stride, padding, dilation, bias=False))
        self.add_module("bn", nn.BatchNorm2d(out_ch, eps=1e-5))
        if relu:
            self.add_module("relu", nn.ReLU())


class MSRABottleneck(nn.Module):
    """``_Bottleneck``: the stride sits on the first 1x1 conv (MSRA/caffe ResNet), the dilation on the 3x3."""

    def __init__(self, in_ch: int, out_ch: int, stride: int, dilation: int, downsample: bool):
        super().__init__()
        mid = out_ch // 4
        self.reduce = ConvBnReLU(in_ch, mid, 1, stride, 0, 1)
        self.conv3x3 = ConvBnReLU(mid, mid, 3, 1, dilation, dilation)
        self.increase = ConvBnReLU(mid, out_ch, 1, 1, 0, 1, relu=False)
        self.shortcut = (ConvBnReLU(in_ch, out_ch, 1, stride, 0, 1, relu=False) if downsample
                         else nn.Identity())

    def forward(self, x: Tensor) -> Tensor:
        return F.relu(self.increase(self.conv3x3(self.reduce(x))) + self.shortcut(x))


class ResLayer(nn.Sequential):
    """``_ResLayer``: ``block1`` downsamples (and carries the stride), ``block2..`` keep the shape."""

    def __init__(self, n_blocks: int, in_ch: int, out_ch: int, stride: int, dilation: int):
        super().__init__()
        for i in range(n_blocks):
            self.add_module(f"block{i + 1}", MSRABottleneck(in_ch if i == 0 else out_ch, out_ch,
                                                            stride if i == 0 else 1, dilation, i == 0))


class Stem(nn.Sequential):
    """``_Stem``: 7x7/2 conv and a 3x3/2 max pool with ``ceil_mode=True`` (unlike torchvision's ResNet)."""

    def __init__(self, out_ch: int = 64):
        super().__init__()
        self.add_module("conv1", ConvBnReLU(3, out_ch, 7, 2, 3, 1))
        self.add_module("pool", nn.MaxPool2d(3, 2, 1, ceil_mode=True))


class ASPP(nn.Module):
    """``_ASPP`` of DeepLabV2: parallel dilated 3x3 convs straight to logits, summed."""

    def __init__(self, in_ch: int, num_classes: int, rates: Sequence[int]):
        super().__init__()
        for i, rate in enumerate(rates):
            self.add_module(f"c{i}", nn.Conv2d(in_ch, num_classes, 3, 1, padding=rate, dilation=rate,
                                               bias=True))

    def forward(self, x: Tensor) -> Tensor:
        return sum(conv(x) for conv in self.children())


class DeepLabV2(nn.Sequential):
    """``DeepLabV2``: dilated ResNet-101 (output stride 8) + ASPP."""

    def __init__(self, num_classes: int = NUM_CLASSES, blocks: Sequence[int] = RESNET101_BLOCKS,
                 rates: Sequence[int] = ATROUS_RATES):
        super().__init__()
        self.add_module("layer1", Stem(64))
        self.add_module("layer2", ResLayer(blocks[0], 64, 256, 1, 1))
        self.add_module("layer3", ResLayer(blocks[1], 256, 512, 2, 1))
        self.add_module("layer4", ResLayer(blocks[2], 512, 1024, 1, 2))
        self.add_module("layer5", ResLayer(blocks[3], 1024, 2048, 1, 4))
        self.add_module("aspp", ASPP(2048, num_classes, rates))

    def backbone(self, x: Tensor) -> Tensor:
        """layer5 activations (2048 channels, stride 8), the input of the ASPP."""
        for name in ("layer1", "layer2", "layer3", "layer4", "layer5"):
            x = getattr(self, name)(x)
        return x


def msc_max_logits(base: nn.Module, x: Tensor, scales: Sequence[float] = MSC_SCALES) -> Tensor:
    """``MSC.forward`` in eval mode: pixel-wise max of the scale-1 logits and the resized others' logits.

    The resizes are the original's: ``F.interpolate(x, scale_factor=p)`` of the (normalised) input and
    ``F.interpolate(logits, size=...)`` back, both bilinear with ``align_corners=False``.
    """
    logits = base(x)
    fused = [logits]
    for p in scales:
        small = base(F.interpolate(x, scale_factor=p, mode="bilinear", align_corners=False))
        fused.append(F.interpolate(small, size=logits.shape[-2:], mode="bilinear", align_corners=False))
    return torch.stack(fused).max(dim=0).values


class DeepLabV2Segmenter(SingleFileLegacySegmenter):
    """DeepLabV2 ResNet-101 MSC, COCO-Stuff 164k (182 classes), as kazuto1011/deeplab-pytorch tests it.

    The module's own state dict is the checkpoint's: ``base.*`` (the MSC wrapper's attribute).
    ``scales`` defaults to the original MSC scales; ``()`` gives the single-scale network.
    """

    num_classes: ClassVar[int] = NUM_CLASSES
    checkpoint_file: ClassVar[str] = CHECKPOINT_FILE
    checkpoint_url: ClassVar[str | None] = CHECKPOINT_URL

    def __init__(self, scales: Sequence[float] = MSC_SCALES):
        super().__init__()
        self.base = DeepLabV2(NUM_CLASSES)
        self.scales = tuple(scales)
        self.register_buffer("mean_bgr", torch.tensor(MEAN_BGR).view(1, 3, 1, 1), persistent=False)
        freeze(self)

    def normalize(self, images: Tensor) -> Tensor:
        """[-1, 1] RGB -> caffe input: BGR in 0..255 minus ``MEAN_BGR``."""
        return to_unit_range(images).flip(1) * 255.0 - self.mean_bgr

    def class_scores(self, images: Tensor) -> Tensor:
        logits = msc_max_logits(self.base, self.normalize(images), self.scales)
        return F.interpolate(logits, size=images.shape[-2:], mode="bilinear", align_corners=False)

    def pooled_features(self, images: Tensor) -> Tensor:
        return self.base.backbone(self.normalize(images)).mean(dim=(2, 3))
