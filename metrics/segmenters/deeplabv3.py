"""DeepLabV3 (Chen et al. 2017, "Rethinking Atrous Convolution for Semantic Image Segmentation") in pure
PyTorch, laid out exactly as mmsegmentation's so its model-zoo checkpoints load without mmcv.

Architecture as mmseg's ``configs/_base_/models/deeplabv3_r50-d8.py``:

- backbone ``ResNetV1c``: deep stem (three 3x3 convs, 32-32-64 channels, then max-pool), "pytorch" style
  blocks (stride in the 3x3 conv), output stride 8 (stage strides 1, 2, 1, 1; dilations 1, 1, 2, 4 with
  ``contract_dilation``: a dilated stage's first block uses half the dilation);
- ``ASPPHead`` on stage 4: image pooling + four branches (1x1 and 3x3 with dilations 12, 24, 36), 3x3
  bottleneck to 512 channels, dropout 0.1, 1x1 classifier;
- ``FCNHead`` auxiliary head on stage 3 (one 3x3 conv to 256, dropout, classifier), used in training only.

Every conv-BN-ReLU is named as mmcv's ``ConvModule`` (``conv``, ``bn``), so checkpoint keys
(``backbone.stem.0.weight``, ``backbone.layer1.0.conv1.weight``, ``decode_head.aspp_modules.1.conv.weight``,
``decode_head.image_pool.1.bn.running_mean``, ``auxiliary_head.convs.0.conv.weight``, ...) match 1:1.

Inference follows mmseg's test pipeline: uint8 RGB, keep-ratio bilinear resize to the config's test scale
(mmcv's ``imrescale``), normalisation by the config's mean/std, whole-image or sliding-window inference,
logits resized bilinearly to the resized image and then to the input size, argmax.

The same code builds SISBench's own small segmenter (ResNet-18 blocks, narrow widths, small ASPP rates)
through :class:`DeepLabV3Config`.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from metrics.base import resolve_weights
from metrics.segmenters import Segmenter, SegmenterSpec

#: mmseg's ImageNet normalisation of 0-255 RGB input (``SegDataPreProcessor`` with ``bgr_to_rgb=True``)
IMAGENET_MEAN = (123.675, 116.28, 103.53)
IMAGENET_STD = (58.395, 57.12, 57.375)


@dataclass(frozen=True)
class DeepLabV3Config:
    """Architecture and inference settings. Defaults: mmseg's DeepLabV3 R101-D8."""

    num_classes: int
    depth: int = 101
    stem_channels: int = 64
    base_channels: int = 64
    strides: tuple[int, ...] = (1, 2, 1, 1)
    dilations: tuple[int, ...] = (1, 1, 2, 4)
    contract_dilation: bool = True
    head_channels: int = 512
    aspp_dilations: tuple[int, ...] = (1, 12, 24, 36)
    aux_head: bool = True
    aux_channels: int = 256
    dropout: float = 0.1
    align_corners: bool = False
    mean: tuple[float, float, float] = IMAGENET_MEAN
    std: tuple[float, float, float] = IMAGENET_STD
    #: mmseg ``Resize(scale=(long, short), keep_ratio=True)`` of the test pipeline; None: no resize
    test_scale: tuple[int, int] | None = None
    #: "whole" or "slide" (with ``crop_size`` and ``stride``, (h, w) each)
    test_mode: str = "whole"
    crop_size: tuple[int, int] | None = None
    stride: tuple[int, int] | None = None

    def __post_init__(self) -> None:
        if self.depth not in _ARCH:
            raise ValueError(f"DeepLabV3 depth {self.depth} is not one of {sorted(_ARCH)}")
        if self.test_mode not in ("whole", "slide"):
            raise ValueError(f"test_mode must be 'whole' or 'slide', got {self.test_mode!r}")
        if self.test_mode == "slide" and (self.crop_size is None or self.stride is None):
            raise ValueError("sliding-window inference needs crop_size and stride")

    def to_dict(self) -> dict[str, Any]:
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> DeepLabV3Config:
        known = {f.name for f in fields(cls)}
        unknown = set(d) - known
        if unknown:
            raise ValueError(f"unknown DeepLabV3Config keys: {', '.join(sorted(unknown))}")
        return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in d.items()})


class ConvModule(nn.Sequential):
    """conv -> BN -> ReLU, named ``conv``/``bn`` as mmcv's ConvModule."""

    def __init__(self, cin: int, cout: int, kernel: int, *, padding: int = 0, dilation: int = 1):
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, kernel, padding=padding, dilation=dilation, bias=False)
        self.bn = nn.BatchNorm2d(cout)
        self.activate = nn.ReLU(inplace=True)


class BasicBlock(nn.Module):
    expansion = 1

    def __init__(self, inplanes: int, planes: int, stride: int = 1, dilation: int = 1,
                 downsample: nn.Module | None = None):
        super().__init__()
        # As mmseg: only the first 3x3 conv is dilated.
        self.conv1 = nn.Conv2d(inplanes, planes, 3, stride, padding=dilation, dilation=dilation, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample

    def forward(self, x: Tensor) -> Tensor:
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        identity = x if self.downsample is None else self.downsample(x)
        return self.relu(out + identity)


class Bottleneck(nn.Module):
    expansion = 4

    def __init__(self, inplanes: int, planes: int, stride: int = 1, dilation: int = 1,
                 downsample: nn.Module | None = None):
        super().__init__()
        self.conv1 = nn.Conv2d(inplanes, planes, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride, padding=dilation, dilation=dilation, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv3 = nn.Conv2d(planes, planes * 4, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(planes * 4)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample

    def forward(self, x: Tensor) -> Tensor:
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        identity = x if self.downsample is None else self.downsample(x)
        return self.relu(out + identity)


_ARCH: dict[int, tuple[type[BasicBlock] | type[Bottleneck], tuple[int, ...]]] = {
    18: (BasicBlock, (2, 2, 2, 2)), 34: (BasicBlock, (3, 4, 6, 3)), 50: (Bottleneck, (3, 4, 6, 3)),
    101: (Bottleneck, (3, 4, 23, 3)), 152: (Bottleneck, (3, 8, 36, 3)),
}


class ResNetV1c(nn.Module):
    """mmseg's ResNetV1c (deep stem, strided-conv shortcuts); returns the four stage outputs."""

    def __init__(self, cfg: DeepLabV3Config):
        super().__init__()
        block, blocks = _ARCH[cfg.depth]
        half = cfg.stem_channels // 2
        self.stem = nn.Sequential(
            nn.Conv2d(3, half, 3, 2, 1, bias=False), nn.BatchNorm2d(half), nn.ReLU(inplace=True),
            nn.Conv2d(half, half, 3, 1, 1, bias=False), nn.BatchNorm2d(half), nn.ReLU(inplace=True),
            nn.Conv2d(half, cfg.stem_channels, 3, 1, 1, bias=False), nn.BatchNorm2d(cfg.stem_channels),
            nn.ReLU(inplace=True))
        self.maxpool = nn.MaxPool2d(3, 2, 1)
        inplanes = cfg.stem_channels
        for i, (n, stride, dilation) in enumerate(zip(blocks, cfg.strides, cfg.dilations, strict=True)):
            planes = cfg.base_channels * 2 ** i
            downsample = None
            if stride != 1 or inplanes != planes * block.expansion:
                downsample = nn.Sequential(nn.Conv2d(inplanes, planes * block.expansion, 1, stride, bias=False),
                                           nn.BatchNorm2d(planes * block.expansion))
            first = dilation // 2 if cfg.contract_dilation and dilation > 1 else dilation
            layers = [block(inplanes, planes, stride, first, downsample)]
            inplanes = planes * block.expansion
            layers += [block(inplanes, planes, 1, dilation) for _ in range(n - 1)]
            self.add_module(f"layer{i + 1}", nn.Sequential(*layers))
        self.out_channels = [cfg.base_channels * 2 ** i * block.expansion for i in range(4)]

    def forward(self, x: Tensor) -> list[Tensor]:
        x = self.maxpool(self.stem(x))
        outs = []
        for i in range(4):
            x = getattr(self, f"layer{i + 1}")(x)
            outs.append(x)
        return outs


class ASPPHead(nn.Module):
    """Atrous spatial pyramid pooling head (mmseg ``ASPPHead``)."""

    def __init__(self, cin: int, channels: int, dilations: tuple[int, ...], num_classes: int, dropout: float,
                 align_corners: bool):
        super().__init__()
        self.align_corners = align_corners
        self.image_pool = nn.Sequential(nn.AdaptiveAvgPool2d(1), ConvModule(cin, channels, 1))
        self.aspp_modules = nn.ModuleList(
            ConvModule(cin, channels, 1 if d == 1 else 3, padding=0 if d == 1 else d, dilation=d) for d in dilations)
        self.bottleneck = ConvModule((len(dilations) + 1) * channels, channels, 3, padding=1)
        self.dropout = nn.Dropout2d(dropout) if dropout > 0 else nn.Identity()
        self.conv_seg = nn.Conv2d(channels, num_classes, 1)

    def forward_features(self, x: Tensor) -> Tensor:
        pooled = F.interpolate(self.image_pool(x), size=x.shape[2:], mode="bilinear",
                               align_corners=self.align_corners)
        return self.bottleneck(torch.cat([pooled, *(m(x) for m in self.aspp_modules)], dim=1))

    def classify(self, feats: Tensor) -> Tensor:
        return self.conv_seg(self.dropout(feats))


class FCNHead(nn.Module):
    """mmseg's ``FCNHead`` as DeepLabV3 configs use it: one conv, no input concatenation."""

    def __init__(self, cin: int, channels: int, num_classes: int, dropout: float):
        super().__init__()
        self.convs = nn.Sequential(ConvModule(cin, channels, 3, padding=1))
        self.dropout = nn.Dropout2d(dropout) if dropout > 0 else nn.Identity()
        self.conv_seg = nn.Conv2d(channels, num_classes, 1)

    def forward(self, x: Tensor) -> Tensor:
        return self.conv_seg(self.dropout(self.convs(x)))


class DeepLabV3(nn.Module):
    """Backbone + ASPP decode head (+ FCN auxiliary head). Input: normalised images."""

    def __init__(self, cfg: DeepLabV3Config):
        super().__init__()
        self.cfg = cfg
        self.backbone = ResNetV1c(cfg)
        c = self.backbone.out_channels
        self.decode_head = ASPPHead(c[3], cfg.head_channels, cfg.aspp_dilations, cfg.num_classes, cfg.dropout,
                                    cfg.align_corners)
        self.auxiliary_head = FCNHead(c[2], cfg.aux_channels, cfg.num_classes, cfg.dropout) if cfg.aux_head else None
        self._init_weights()

    def _init_weights(self) -> None:
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
        # mmseg's zero_init_residual: every residual branch starts as the identity.
        for m in self.modules():
            if isinstance(m, (BasicBlock, Bottleneck)):
                nn.init.zeros_((m.bn3 if isinstance(m, Bottleneck) else m.bn2).weight)
        for head in (self.decode_head, self.auxiliary_head):
            if head is not None:
                nn.init.normal_(head.conv_seg.weight, std=0.01)

    def forward_features(self, x: Tensor) -> tuple[Tensor, list[Tensor]]:
        """Bottleneck features of the decode head and the backbone's stage outputs."""
        stages = self.backbone(x)
        return self.decode_head.forward_features(stages[3]), stages

    def forward(self, x: Tensor) -> Tensor:
        """Decode-head logits at 1/8 resolution."""
        feats, _ = self.forward_features(x)
        return self.decode_head.classify(feats)

    def forward_train(self, x: Tensor) -> tuple[Tensor, Tensor | None]:
        feats, stages = self.forward_features(x)
        aux = self.auxiliary_head(stages[2]) if self.auxiliary_head is not None else None
        return self.decode_head.classify(feats), aux


def mmseg_rescale_size(h: int, w: int, scale: tuple[int, int]) -> tuple[int, int]:
    """mmcv's ``rescale_size`` for a (long, short) scale with keep_ratio: the new (h, w)."""
    factor = min(max(scale) / max(h, w), min(scale) / min(h, w))
    return int(h * factor + 0.5), int(w * factor + 0.5)


class DeepLabV3Segmenter(Segmenter):
    """A :class:`DeepLabV3` with mmseg's test-time pre- and post-processing."""

    def __init__(self, cfg: DeepLabV3Config, checkpoint_hash: str | None = None, name: str = "deeplabv3"):
        super().__init__()
        self.cfg = cfg
        self.model = DeepLabV3(cfg)
        self.num_classes = cfg.num_classes
        self.checkpoint_hash = checkpoint_hash
        self.name = name
        self.register_buffer("mean", torch.tensor(cfg.mean).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(cfg.std).view(1, 3, 1, 1), persistent=False)

    def preprocess(self, images: Tensor) -> Tensor:
        """[-1, 1] RGB -> resized, normalised network input (as mmseg sees a uint8 image file)."""
        x = ((images.float().clamp(-1, 1) + 1) * 127.5).round()
        if self.cfg.test_scale is not None:
            size = mmseg_rescale_size(x.shape[2], x.shape[3], self.cfg.test_scale)
            if size != tuple(x.shape[2:]):
                # cv2's INTER_LINEAR (no antialiasing) on uint8, which rounds its output
                x = F.interpolate(x, size=size, mode="bilinear", align_corners=False).round().clamp(0, 255)
        return (x - self.mean) / self.std

    def _encode_decode(self, x: Tensor) -> tuple[Tensor, Tensor]:
        feats, _ = self.model.forward_features(x)
        logits = self.model.decode_head.classify(feats)
        logits = F.interpolate(logits, size=x.shape[2:], mode="bilinear", align_corners=self.cfg.align_corners)
        return logits, feats.mean(dim=(2, 3))

    def _inference(self, images: Tensor) -> tuple[Tensor, Tensor]:
        """Logits at the input size and pooled features."""
        x = self.preprocess(images)
        if self.cfg.test_mode == "whole":
            logits, pooled = self._encode_decode(x)
        else:
            logits, pooled = self._slide(x)
        if tuple(logits.shape[2:]) != tuple(images.shape[2:]):
            logits = F.interpolate(logits, size=images.shape[2:], mode="bilinear",
                                   align_corners=self.cfg.align_corners)
        return logits, pooled

    def _slide(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """mmseg's ``slide_inference``: overlapping crops, logits averaged. Features come from one pass
        over the whole image, as the mmseg backend computes them, so FD-seg does not depend on the
        backend."""
        (hs, ws), (hc, wc) = self.cfg.stride, self.cfg.crop_size
        b, _, h, w = x.shape
        h_grids = max(h - hc + hs - 1, 0) // hs + 1
        w_grids = max(w - wc + ws - 1, 0) // ws + 1
        preds = x.new_zeros((b, self.num_classes, h, w))
        count = x.new_zeros((b, 1, h, w))
        for hi in range(h_grids):
            for wi in range(w_grids):
                y2, x2 = min(hi * hs + hc, h), min(wi * ws + wc, w)
                y1, x1 = max(y2 - hc, 0), max(x2 - wc, 0)
                preds[:, :, y1:y2, x1:x2] += self._encode_decode(x[:, :, y1:y2, x1:x2])[0]
                count[:, :, y1:y2, x1:x2] += 1
        pooled = self.model.forward_features(x)[0].mean(dim=(2, 3))
        return preds / count, pooled

    @torch.no_grad()
    def logits(self, images: Tensor) -> Tensor:
        """Class scores ``[B, C, H, W]`` at the input size (mmseg's ``seg_logits``)."""
        return self._inference(images)[0]

    @torch.no_grad()
    def predict(self, images: Tensor) -> Tensor:
        return self._inference(images)[0].argmax(1)

    @torch.no_grad()
    def features(self, images: Tensor) -> Tensor:
        return self._inference(images)[1]

    @torch.no_grad()
    def predict_with_features(self, images: Tensor) -> tuple[Tensor, Tensor]:
        logits, pooled = self._inference(images)
        return logits.argmax(1), pooled

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "name": self.name, "config": self.cfg.to_dict()}


def load_mmseg_state_dict(model: DeepLabV3, state_dict: Mapping[str, Tensor]) -> None:
    """Load an mmseg ``EncoderDecoder`` state dict (``backbone.*``, ``decode_head.*``, ``auxiliary_head.*``)
    strictly; the auxiliary head's keys are dropped when the model has none (it plays no part in inference).
    """
    sd = {k.removeprefix("module."): v for k, v in state_dict.items()}
    if model.auxiliary_head is None:
        sd = {k: v for k, v in sd.items() if not k.startswith("auxiliary_head.")}
    missing, unexpected = model.load_state_dict(sd, strict=False)
    if missing or unexpected:
        raise ValueError(f"checkpoint does not fit DeepLabV3(depth={model.cfg.depth}, "
                         f"classes={model.cfg.num_classes}): missing {sorted(missing)[:5]} ({len(missing)}), "
                         f"unexpected {sorted(unexpected)[:5]} ({len(unexpected)})")


def read_checkpoint(path: str | os.PathLike) -> dict[str, Tensor]:
    """The state dict of a ``.pth`` (mmseg: under ``state_dict``) or ``.safetensors`` file, loaded safely."""
    path = Path(path)
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        return load_file(str(path))
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise ValueError(f"{path} cannot be loaded with weights_only=True ({type(exc).__name__}: "
                         f"{str(exc).splitlines()[0]}); re-save its state_dict alone with torch.save") from None
    sd = ckpt.get("state_dict", ckpt) if isinstance(ckpt, dict) else None
    if not isinstance(sd, dict) or not all(isinstance(v, Tensor) for v in sd.values()):
        raise ValueError(f"{path} holds no state dict of tensors")
    return sd


@dataclass(frozen=True)
class ZooEntry:
    """An mmsegmentation model-zoo DeepLabV3 R101-D8 checkpoint and its test-time settings."""

    url: str
    sha256: str
    num_classes: int
    test_scale: tuple[int, int]


_ZOO_ROOT = "https://download.openmmlab.com/mmsegmentation/v0.5/deeplabv3/"
MMSEG_ZOO: dict[str, ZooEntry] = {
    "deeplabv3_r101-d8_4xb4-160k_ade20k-512x512": ZooEntry(
        _ZOO_ROOT + "deeplabv3_r101-d8_512x512_160k_ade20k/"
        "deeplabv3_r101-d8_512x512_160k_ade20k_20200615_105816-b1f72b3b.pth", "b1f72b3b", 150, (2048, 512)),
    "deeplabv3_r101-d8_4xb2-80k_cityscapes-512x1024": ZooEntry(
        _ZOO_ROOT + "deeplabv3_r101-d8_512x1024_80k_cityscapes/"
        "deeplabv3_r101-d8_512x1024_80k_cityscapes_20200606_113503-9e428899.pth", "9e428899", 19, (2048, 1024)),
    "deeplabv3_r101-d8_4xb4-320k_coco-stuff164k-512x512": ZooEntry(
        _ZOO_ROOT + "deeplabv3_r101-d8_512x512_4x4_320k_coco-stuff164k/"
        "deeplabv3_r101-d8_512x512_4x4_320k_coco-stuff164k_20210709_155402-3cbca14d.pth", "3cbca14d", 171,
        (2048, 512)),
}


def build_mmseg_builtin(spec: SegmenterSpec, *, num_classes: int, checkpoint: Path | None = None,
                        cache_dir: str | os.PathLike | None = None, device: torch.device | str = "cpu",
                        **_: Any) -> DeepLabV3Segmenter:
    """Segmenter kind ``mmseg-builtin``: the zoo checkpoint ``spec.name`` in the built-in DeepLabV3."""
    try:
        zoo = MMSEG_ZOO[spec.name]
    except KeyError:
        raise ValueError(f"no mmseg zoo DeepLabV3 named {spec.name!r}; known: {', '.join(sorted(MMSEG_ZOO))}") from None
    cfg = DeepLabV3Config(num_classes=zoo.num_classes, test_scale=zoo.test_scale, **spec.kwargs)
    source = checkpoint or spec.checkpoint or zoo.url
    fix = (f"download {zoo.url.rsplit('/', 1)[-1]} elsewhere and pass --segmenter-checkpoint PATH "
           f"(config key protocol.segmenter_checkpoint)")
    path, digest = resolve_weights(source, url=zoo.url, sha256=spec.sha256 or zoo.sha256,
                                   cache_dir=None if cache_dir is None else Path(cache_dir) / "checkpoints",
                                   what=f"mmseg checkpoint {spec.name}", fix=fix)
    segmenter = DeepLabV3Segmenter(cfg, checkpoint_hash=digest, name=spec.name)
    load_mmseg_state_dict(segmenter.model, read_checkpoint(path))
    if segmenter.num_classes != num_classes:
        raise ValueError(f"{spec.name} predicts {segmenter.num_classes} classes, the protocol's labels have "
                         f"{num_classes}")
    return segmenter.to(device).eval()
