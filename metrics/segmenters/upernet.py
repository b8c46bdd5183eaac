"""UperNet101 on ADE20K: the segmenter of SPADE's ADE20K and ADE20K-outdoor scores.

Xiao et al., "Unified Perceptual Parsing for Scene Understanding", ECCV 2018, as implemented by
CSAILVision/semantic-segmentation-pytorch (``mit_semseg/models/resnet.py``, ``models.py``;
``config/ade20k-resnet101-upernet.yaml``; ``eval.py``, ``mit_semseg/dataset.py``), checkpoint
``ade20k-resnet101-upernet/{encoder,decoder}_epoch_50.pth`` (150 classes). The two files load unchanged,
``strict=True``, into ``encoder`` and ``decoder``:

- encoder (``Resnet`` wrapper of ``resnet101``): deep stem ``conv1`` (3x3/2, 3->64), ``conv2`` (64->64),
  ``conv3`` (64->128) each with ``bnN``, max pool 3x3/2, then ``layer1..layer4`` of torchvision-style
  bottlenecks (3, 4, 23, 3 blocks, stride on the 3x3 conv); no dilation; it returns all four stages;
- decoder (``UPerNet``, ``fpn_dim=512``): PPM on conv5 (``ppm_pooling`` adaptive average pools 1, 2, 3, 6
  upsampled back *before* ``ppm_conv.N`` 1x1 conv-BN-ReLU, then ``ppm_last_conv``), FPN (``fpn_in.N``
  laterals, ``fpn_out.N.0`` 3x3 smoothing), fusion of P2..P5 at 1/4 resolution, ``conv_last``;
- every BatchNorm is the repository's ``SynchronizedBatchNorm2d``, whose state dict also holds
  ``_tmp_running_mean``, ``_tmp_running_var`` and ``_running_iter`` (training bookkeeping that inference
  never reads); :class:`SyncBatchNorm2d` keeps those keys so the files load strictly, and, like torch's own
  handling of ``num_batches_tracked``, accepts checkpoints that lack them.

Input handling as ``mit_semseg/dataset.py`` since PR #190 (Aug 2019, "Pretrained weights are converted
accordingly"): RGB in [0, 1], ImageNet mean (0.485, 0.456, 0.406) and std (0.229, 0.224, 0.225). The
pre-#190 files (``baseline-resnet101-upernet``, the ones linked in NVlabs/SPADE issue #39) expect BGR in
0..255 minus (102.9801, 115.9465, 122.7717): ``normalization="caffe-bgr"``.

Test time as ``eval.py`` with the config: for each short side in ``imgSizes`` (300, 375, 450, 525, 600),
scale = min(short / min(h, w), 1000 / max(h, w)), both sides rounded *up* to a multiple of 32, bilinear
resize (``antialias=True``, matching PIL's resize used there); decoder logits bilinearly resized to the
input size and soft-maxed; probabilities averaged over the scales; argmax. ``short_sides=()`` runs one pass
at the image's own size. The 150 outputs are ADE20K labels 1..150 (label 0, "other", is ignored: the
loader subtracts 1 and ignores -1).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from metrics.segmenters.legacy import (
    Bottleneck,
    LegacySegmenter,
    check_state_dict_layout,
    fetch_checkpoint,
    freeze,
    load_state_dict_file,
    to_unit_range,
)

MODEL_NAME = "ade20k-resnet101-upernet"
ENCODER_FILE = "encoder_epoch_50.pth"
DECODER_FILE = "decoder_epoch_50.pth"
CHECKPOINT_URL = f"http://sceneparsing.csail.mit.edu/model/pytorch/{MODEL_NAME}/"
NUM_CLASSES = 150
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
#: ``mit_semseg`` before PR #190: BGR 0..255 minus this mean, std 1.
CAFFE_MEAN_BGR = (102.9801, 115.9465, 122.7717)
#: ``DATASET.imgSizes``, ``imgMaxSize`` and ``padding_constant`` of ``ade20k-resnet101-upernet.yaml``.
TEST_SHORT_SIDES = (300, 375, 450, 525, 600)
TEST_MAX_SIZE = 1000
TEST_PADDING = 32
#: State-dict entries the original BatchNorms keep that inference never reads.
BOOKKEEPING_BUFFERS = ("num_batches_tracked", "_tmp_running_mean", "_tmp_running_var", "_running_iter")


class SyncBatchNorm2d(nn.BatchNorm2d):
    """Inference-only stand-in for ``mit_semseg.lib.nn.SynchronizedBatchNorm2d`` with its state-dict keys.

    The extra buffers hold the original's running sums (``_tmp_running_*``) and their weight
    (``_running_iter``); eval-mode BatchNorm reads only ``running_mean``/``running_var``.
    """

    def __init__(self, num_features: int):
        super().__init__(num_features)
        self.register_buffer("_tmp_running_mean", torch.zeros(num_features))
        self.register_buffer("_tmp_running_var", torch.ones(num_features))
        self.register_buffer("_running_iter", torch.ones(1))

    def _load_from_state_dict(self, state_dict, prefix, local_metadata, strict, missing_keys,
                              unexpected_keys, error_msgs):
        # Bookkeeping buffers absent from a converted or older file keep their initial values, as torch
        # does for a missing ``num_batches_tracked``.
        for name in ("_tmp_running_mean", "_tmp_running_var", "_running_iter"):
            state_dict.setdefault(prefix + name, getattr(self, name))
        super()._load_from_state_dict(state_dict, prefix, local_metadata, strict, missing_keys,
                                      unexpected_keys, error_msgs)


def conv_bn_relu(in_ch: int, out_ch: int, kernel: int = 3) -> nn.Sequential:
    """``conv3x3_bn_relu`` (and the 1x1 variants): keys ``0.weight``, ``1.*``."""
    return nn.Sequential(nn.Conv2d(in_ch, out_ch, kernel, padding=kernel // 2, bias=False),
                         SyncBatchNorm2d(out_ch), nn.ReLU(inplace=True))


class ResNetEncoder(nn.Module):
    """``Resnet(resnet101())``: deep-stem ResNet-101 returning the outputs of layer1..layer4."""

    def __init__(self, blocks: Sequence[int] = (3, 4, 23, 3)):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 64, 3, stride=2, padding=1, bias=False)
        self.bn1 = SyncBatchNorm2d(64)
        self.relu1 = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(64, 64, 3, padding=1, bias=False)
        self.bn2 = SyncBatchNorm2d(64)
        self.relu2 = nn.ReLU(inplace=True)
        self.conv3 = nn.Conv2d(64, 128, 3, padding=1, bias=False)
        self.bn3 = SyncBatchNorm2d(128)
        self.relu3 = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, stride=2, padding=1)
        inplanes = 128
        for i, (planes, n) in enumerate(zip((64, 128, 256, 512), blocks, strict=True)):
            stride = 1 if i == 0 else 2
            layer = []
            for b in range(n):
                layer.append(Bottleneck(inplanes, planes, stride if b == 0 else 1, norm=SyncBatchNorm2d))
                inplanes = planes * Bottleneck.expansion
            setattr(self, f"layer{i + 1}", nn.Sequential(*layer))

    def forward(self, x: Tensor) -> list[Tensor]:
        x = self.relu1(self.bn1(self.conv1(x)))
        x = self.relu2(self.bn2(self.conv2(x)))
        x = self.maxpool(self.relu3(self.bn3(self.conv3(x))))
        stages = []
        for i in range(1, 5):
            x = getattr(self, f"layer{i}")(x)
            stages.append(x)
        return stages


class UPerNetDecoder(nn.Module):
    """``UPerNet`` head (``fpn_dim=512``, ``fc_dim=2048``, pool scales 1, 2, 3, 6); returns logits at 1/4."""

    def __init__(self, num_classes: int = NUM_CLASSES, fc_dim: int = 2048, fpn_dim: int = 512,
                 pool_scales: Sequence[int] = (1, 2, 3, 6),
                 fpn_inplanes: Sequence[int] = (256, 512, 1024, 2048)):
        super().__init__()
        self.ppm_pooling = nn.ModuleList(nn.AdaptiveAvgPool2d(s) for s in pool_scales)
        self.ppm_conv = nn.ModuleList(conv_bn_relu(fc_dim, 512, kernel=1) for _ in pool_scales)
        self.ppm_last_conv = conv_bn_relu(fc_dim + len(pool_scales) * 512, fpn_dim)
        self.fpn_in = nn.ModuleList(conv_bn_relu(c, fpn_dim, kernel=1) for c in fpn_inplanes[:-1])
        self.fpn_out = nn.ModuleList(nn.Sequential(conv_bn_relu(fpn_dim, fpn_dim))
                                     for _ in fpn_inplanes[:-1])
        self.conv_last = nn.Sequential(conv_bn_relu(len(fpn_inplanes) * fpn_dim, fpn_dim),
                                       nn.Conv2d(fpn_dim, num_classes, 1))

    def forward(self, stages: Sequence[Tensor]) -> Tensor:
        conv5 = stages[-1]
        size = conv5.shape[-2:]
        ppm = [conv5] + [conv(F.interpolate(pool(conv5), size, mode="bilinear", align_corners=False))
                         for pool, conv in zip(self.ppm_pooling, self.ppm_conv, strict=True)]
        f = self.ppm_last_conv(torch.cat(ppm, 1))
        pyramid = [f]
        for i in reversed(range(len(stages) - 1)):
            lateral = self.fpn_in[i](stages[i])
            f = lateral + F.interpolate(f, size=lateral.shape[-2:], mode="bilinear", align_corners=False)
            pyramid.append(self.fpn_out[i](f))
        pyramid.reverse()
        out_size = pyramid[0].shape[-2:]
        fused = [pyramid[0]] + [F.interpolate(p, out_size, mode="bilinear", align_corners=False)
                                for p in pyramid[1:]]
        return self.conv_last(torch.cat(fused, 1))


def eval_sizes(height: int, width: int, short_sides: Sequence[int], max_size: int = TEST_MAX_SIZE,
               padding: int = TEST_PADDING) -> list[tuple[int, int]]:
    """The (h, w) of each test scale, as ``ValDataset.__getitem__``; ``()`` -> the image's own size."""
    if not short_sides:
        return [(height, width)]
    sizes = []
    for short in short_sides:
        scale = min(short / min(height, width), max_size / max(height, width))
        h, w = int(height * scale), int(width * scale)
        sizes.append((((h - 1) // padding + 1) * padding, ((w - 1) // padding + 1) * padding))
    return sizes


class UperNet101Segmenter(LegacySegmenter):
    """UperNet101, ADE20K (150 classes = labels 1..150), with CSAIL's multi-scale test by default."""

    num_classes: ClassVar[int] = NUM_CLASSES

    def __init__(self, short_sides: Sequence[int] = TEST_SHORT_SIDES, normalization: str = "imagenet-rgb"):
        super().__init__()
        if normalization not in ("imagenet-rgb", "caffe-bgr"):
            raise ValueError(f"normalization must be 'imagenet-rgb' or 'caffe-bgr', not {normalization!r}")
        self.encoder = ResNetEncoder()
        self.decoder = UPerNetDecoder()
        self.short_sides = tuple(short_sides)
        self.normalization = normalization
        if normalization == "imagenet-rgb":
            mean, std = torch.tensor(IMAGENET_MEAN), torch.tensor(IMAGENET_STD)
        else:
            mean, std = torch.tensor(CAFFE_MEAN_BGR), torch.ones(3)
        self.register_buffer("mean", mean.view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", std.view(1, 3, 1, 1), persistent=False)
        freeze(self)

    @classmethod
    def from_checkpoint(cls, path: str | os.PathLike | None = None, *, sha256: str | None = None,
                        cache_dir: str | os.PathLike | None = None, **options: Any) -> UperNet101Segmenter:
        """Load ``encoder_epoch_50.pth`` and ``decoder_epoch_50.pth`` from the directory ``path``.

        ``None``: the cache (``<cache>/ade20k-resnet101-upernet/``) or a download. ``sha256``:
        ``"<encoder digest or prefix>+<decoder digest or prefix>"``, the form of ``checkpoint_hash``.
        """
        expected = (None, None) if sha256 is None else tuple(sha256.split("+"))
        if len(expected) != 2:
            raise ValueError(f"UperNet101 sha256 is '<encoder>+<decoder>', got {sha256!r}")
        folder = Path(cache_dir or Path(torch.hub.get_dir()) / "checkpoints") / MODEL_NAME
        model = cls(**options)
        digests = []
        for part, filename, digest in zip(("encoder", "decoder"), (ENCODER_FILE, DECODER_FILE), expected,
                                          strict=True):
            file, found = fetch_checkpoint(f"{MODEL_NAME}/{filename}", None if path is None else
                                           Path(path) / filename, CHECKPOINT_URL + filename, digest, folder)
            model.load_original_state_dict(part, load_state_dict_file(file))
            digests.append(found)
        model.checkpoint_hash = "+".join(digests)
        return model

    def load_original_state_dict(self, part: str, state: dict[str, Tensor]) -> None:
        """Check and strictly load the ``encoder`` or ``decoder`` file."""
        module = {"encoder": self.encoder, "decoder": self.decoder}[part]
        check_state_dict_layout(module, state, f"{MODEL_NAME} {part}", optional_suffixes=BOOKKEEPING_BUFFERS)
        module.load_state_dict(state, strict=True)

    def normalize(self, unit: Tensor) -> Tensor:
        """[0, 1] RGB -> the network's input (see ``normalization``)."""
        if self.normalization == "caffe-bgr":
            unit = unit.flip(1) * 255.0
        return (unit - self.mean) / self.std

    def class_scores(self, images: Tensor) -> Tensor:
        height, width = images.shape[-2:]
        unit = to_unit_range(images)
        sizes = eval_sizes(height, width, self.short_sides)
        probs = torch.zeros(images.shape[0], NUM_CLASSES, height, width, device=images.device)
        for size in sizes:
            x = unit if size == (height, width) else F.interpolate(
                unit, size=size, mode="bilinear", align_corners=False, antialias=True)
            logits = self.decoder(self.encoder(self.normalize(x)))
            logits = F.interpolate(logits, size=(height, width), mode="bilinear", align_corners=False)
            probs += logits.softmax(dim=1) / len(sizes)
        return probs

    def pooled_features(self, images: Tensor) -> Tensor:
        return self.encoder(self.normalize(to_unit_range(images)))[-1].mean(dim=(2, 3))
