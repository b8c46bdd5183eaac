"""DRN-D-105 on Cityscapes: the segmenter of SPADE's Cityscapes scores.

Yu, Koltun & Funkhouser, "Dilated Residual Networks", CVPR 2017, as implemented by fyu/drn (``drn.py``:
``DRN``/``drn_d_105``; ``segment.py``: ``DRNSeg``, ``fill_up_weights``, ``test_seg``), checkpoint
``drn-d-105_ms_cityscapes.pth`` (19 Cityscapes train ids; http://go.yf.io/drn-cityscapes-models) named in
NVlabs/SPADE issue #39. The file is a plain ``DRNSeg`` state dict and loads unchanged, ``strict=True``:

- ``base.0`` .. ``base.8`` = ``layer0`` .. ``layer8`` of ``DRN(Bottleneck, [1, 1, 3, 4, 23, 3, 1, 1],
  arch='D')`` (``DRNSeg`` keeps ``model.children()[:-2]``, dropping avgpool and fc): layer0 7x7 conv
  3->16, layer1 3x3 16->16, layer2 3x3/2 16->32 (conv-BN-ReLU triplets, keys ``N.{0,1}``), layer3/layer4
  bottlenecks with stride 2, layer5 (dilation 2) and layer6 (dilation 4) bottlenecks with stride 1,
  layer7 (3x3, dilation 2, 2048->512) and layer8 (3x3, 512->512) conv-BN-ReLU triplets; output stride 8;
- ``seg``: 1x1 conv 512 -> 19 with bias;
- ``up``: ``ConvTranspose2d(19, 19, 16, stride=8, padding=4, groups=19, bias=False)`` whose weight is the
  frozen bilinear kernel of ``fill_up_weights`` (stored in the checkpoint, loaded like any weight).

The checkpoint was trained with ``BatchNormSync`` (fyu/drn ``lib``), whose state dict has no
``num_batches_tracked``; torch's BatchNorm accepts its absence.

Input handling as ``test_seg``: RGB ``ToTensor`` in [0, 1], normalised with the Cityscapes ``info.json``
statistics, mean (0.29010, 0.32808, 0.28696) and std (0.18295, 0.18657, 0.18448); single scale (SPADE,
CLADE issue #3, and OASIS issue #5 all run without ``--ms``); prediction = argmax of the ``up`` output.

Evaluation resolution, raised in boschresearch/OASIS issue #18: ``input_size="generated"`` (the default;
OASIS, CLADE) feeds the generated 256x512 images as they are; ``input_size="full"`` upsamples them
bilinearly to 1024x2048, DRN's training resolution (the issue reports that this reproduces SPADE's mIoU),
and the full-resolution prediction is nearest-resized back to the image size for scoring.
"""

from __future__ import annotations

from typing import ClassVar

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from metrics.segmenters.legacy import (
    Bottleneck,
    SingleFileLegacySegmenter,
    freeze,
    to_unit_range,
)

CHECKPOINT_FILE = "drn-d-105_ms_cityscapes.pth"
#: ``datasets/cityscapes/info.json`` of fyu/drn (RGB order, for images in [0, 1]).
CITYSCAPES_MEAN = (0.29010095242892997, 0.32808144844279574, 0.28696394422942517)
CITYSCAPES_STD = (0.1829540508368939, 0.18656561047509476, 0.18447508988480435)
NUM_CLASSES = 19
FULL_SIZE = (1024, 2048)
#: (channels, blocks) of layer0..layer8 of ``drn_d_105``.
DRN_D_105 = ((16, 1), (16, 1), (32, 1), (64, 3), (128, 4), (256, 23), (512, 3), (512, 1), (512, 1))


def conv_layers(inplanes: int, channels: int, convs: int, stride: int = 1,
                dilation: int = 1) -> nn.Sequential:
    """``DRN._make_conv_layers``: ``convs`` x (3x3 conv, BN, ReLU); the first conv carries the stride."""
    modules: list[nn.Module] = []
    for i in range(convs):
        modules += [nn.Conv2d(inplanes if i == 0 else channels, channels, 3, stride=stride if i == 0 else 1,
                              padding=dilation, dilation=dilation, bias=False),
                    nn.BatchNorm2d(channels), nn.ReLU(inplace=True)]
    return nn.Sequential(*modules)


def bottleneck_layer(inplanes: int, planes: int, blocks: int, stride: int = 1,
                     dilation: int = 1) -> nn.Sequential:
    """``DRN._make_layer`` for Bottleneck with ``new_level=False``: every block uses ``dilation``."""
    layers = [Bottleneck(inplanes, planes, stride, dilation)]
    layers += [Bottleneck(planes * Bottleneck.expansion, planes, 1, dilation) for _ in range(1, blocks)]
    return nn.Sequential(*layers)


def drn_d_105_base() -> nn.Sequential:
    """``layer0`` .. ``layer8`` of ``drn_d_105`` as ``DRNSeg.base`` holds them."""
    (c0, _), (c1, n1), (c2, n2), (c3, n3), (c4, n4), (c5, n5), (c6, n6), (c7, n7), (c8, n8) = DRN_D_105
    layer0 = nn.Sequential(nn.Conv2d(3, c0, 7, padding=3, bias=False), nn.BatchNorm2d(c0),
                           nn.ReLU(inplace=True))
    return nn.Sequential(
        layer0,
        conv_layers(c0, c1, n1),
        conv_layers(c1, c2, n2, stride=2),
        bottleneck_layer(c2, c3, n3, stride=2),
        bottleneck_layer(c3 * 4, c4, n4, stride=2),
        bottleneck_layer(c4 * 4, c5, n5, dilation=2),
        bottleneck_layer(c5 * 4, c6, n6, dilation=4),
        conv_layers(c6 * 4, c7, n7, dilation=2),
        conv_layers(c7, c8, n8),
    )


def bilinear_up_kernel(kernel: int) -> Tensor:
    """The ``kernel`` x ``kernel`` bilinear filter ``fill_up_weights`` writes into ``DRNSeg.up``."""
    f = (kernel + 1) // 2
    c = (2 * f - 1 - f % 2) / (2.0 * f)
    ramp = 1 - (torch.arange(kernel, dtype=torch.float64) / f - c).abs()
    return (ramp[:, None] * ramp[None, :]).float()


class DRND105Segmenter(SingleFileLegacySegmenter):
    """``DRNSeg('drn_d_105', 19)`` in eval mode, single scale, Cityscapes train ids 0..18."""

    num_classes: ClassVar[int] = NUM_CLASSES
    checkpoint_file: ClassVar[str] = CHECKPOINT_FILE

    def __init__(self, input_size: str = "generated"):
        super().__init__()
        if input_size not in ("generated", "full"):
            raise ValueError(f"input_size must be 'generated' or 'full' (OASIS #18), not {input_size!r}")
        self.input_size = input_size
        self.base = drn_d_105_base()
        self.seg = nn.Conv2d(DRN_D_105[-1][0], NUM_CLASSES, 1, bias=True)
        self.up = nn.ConvTranspose2d(NUM_CLASSES, NUM_CLASSES, 16, stride=8, padding=4, groups=NUM_CLASSES,
                                     bias=False)
        with torch.no_grad():
            self.up.weight.copy_(bilinear_up_kernel(16).expand_as(self.up.weight))
        self.register_buffer("mean", torch.tensor(CITYSCAPES_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(CITYSCAPES_STD).view(1, 3, 1, 1), persistent=False)
        freeze(self)

    def normalize(self, images: Tensor) -> Tensor:
        """[-1, 1] RGB -> [0, 1] (-> 1024x2048 if ``input_size='full'``) -> ``info.json`` normalisation."""
        unit = to_unit_range(images)
        if self.input_size == "full":
            unit = F.interpolate(unit, size=FULL_SIZE, mode="bilinear", align_corners=False)
        return (unit - self.mean) / self.std

    def logits(self, x: Tensor) -> Tensor:
        """``DRNSeg.forward`` before its LogSoftmax (which does not change the argmax)."""
        return self.up(self.seg(self.base(x)))

    def class_scores(self, images: Tensor) -> Tensor:
        x = self.normalize(images)
        # The transposed conv returns 8 x ceil-stride size; crop to the input for sizes not divisible by 8.
        return self.logits(x)[..., : x.shape[-2], : x.shape[-1]]

    def pooled_features(self, images: Tensor) -> Tensor:
        return self.base(self.normalize(images)).mean(dim=(2, 3))

