"""The ``<dataset>-spade-legacy`` protocols: the papers' own segmenters, as SPADE scored with them.

SPADE (Park et al., CVPR 2019, Sec. 4 "Evaluation metrics") scores generated images with the
segmenters its predecessors used, named with their checkpoints in NVlabs/SPADE issue #39: DeepLabV2
ResNet-101 MSC (kazuto1011/deeplab-pytorch) on COCO-Stuff, UperNet101 (CSAILVision/semantic-
segmentation-pytorch) on ADE20K and ADE20K-outdoor, DRN-D-105 (fyu/drn) on Cityscapes. This module holds
what the three backends (:mod:`.deeplabv2`, :mod:`.upernet`, :mod:`.drn`) share and plugs them into the
harness:

- :class:`LegacySegmenter`: the harness's :class:`~metrics.segmenters.Segmenter` with ``predict`` =
  argmax of the backend's ``class_scores`` (its original normalisation, scales and output resizing);
- checkpoint resolution through :func:`metrics.base.resolve_weights` (local path, cache, or download where
  the network allows; sha256 recorded) with one offline sentence naming ``--segmenter-checkpoint``;
- :func:`check_state_dict_layout`, which names missing, unexpected and mis-shaped keys before the
  ``strict=True`` load;
- the ResNet bottleneck whose key names both the CSAIL ResNet and DRN use;
- the segmenter kinds (``spade-deeplabv2``, ``spade-upernet101``, ``spade-drn-d-105``) and the four
  protocols as ``Protocol.from_dict`` data; importing this module registers both
  (``docs/legacy_protocol.md``).
"""

from __future__ import annotations

import importlib
import os
from abc import abstractmethod
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, ClassVar

import torch
from torch import Tensor, nn

from benchmark.registry import PROTOCOLS
from metrics.base import resolve_weights
from metrics.protocols import Protocol
from metrics.segmenters import Segmenter, SegmenterSpec, register_segmenter_kind

#: How a user hands a legacy segmenter its checkpoint when it cannot be downloaded.
CHECKPOINT_HINT = "pass it with --segmenter-checkpoint PATH (config key protocol.segmenter_checkpoint)"


def fetch_checkpoint(filename: str, source: str | os.PathLike | None, url: str | None,
                     sha256: str | None = None,
                     cache_dir: str | os.PathLike | None = None) -> tuple[Path, str]:
    """A local copy of the original checkpoint ``filename`` and its sha256.

    ``source``: a local file (or None: ``url`` downloaded once into ``cache_dir``, torch hub's checkpoint
    folder by default). ``sha256``: the expected digest or a prefix of it. Offline, the error is one sentence
    naming ``--segmenter-checkpoint``.
    """
    fix = f"download {filename} where the network allows and {CHECKPOINT_HINT}"
    return resolve_weights(source, url=url, sha256=sha256, cache_dir=cache_dir,
                           what=f"segmenter checkpoint {filename}", fix=fix)


def load_state_dict_file(path: str | os.PathLike) -> dict[str, Tensor]:
    """A checkpoint file as the state dict it holds (``weights_only=True``, on CPU), unchanged."""
    state = torch.load(path, map_location="cpu", weights_only=True)
    if not isinstance(state, dict) or not all(isinstance(v, Tensor) for v in state.values()):
        raise ValueError(f"{path} does not hold a plain state dict (name -> tensor)")
    # Returned as loaded: its ``_metadata`` (module versions) steers BatchNorm's legacy-key handling.
    return state


def check_state_dict_layout(module: nn.Module, state_dict: Mapping[str, Tensor], what: str,
                            optional_suffixes: Sequence[str] = ()) -> None:
    """Raise ``ValueError`` naming every missing, unexpected or mis-shaped key of ``state_dict``.

    ``optional_suffixes`` name buffers the original training code kept but inference never reads (e.g.
    BatchNorm's ``num_batches_tracked``, absent from files written before torch 0.4.1): they may be
    missing (the modules accept that), never mis-shaped.
    """
    expected = {k: tuple(v.shape) for k, v in module.state_dict().items()}
    given = {k: tuple(v.shape) for k, v in state_dict.items()}
    missing = sorted(k for k in expected.keys() - given.keys() if not k.endswith(tuple(optional_suffixes)))
    unexpected = sorted(given.keys() - expected.keys())
    mismatched = sorted(f"{k} {given[k]} != {expected[k]}" for k in expected.keys() & given.keys()
                        if given[k] != expected[k])
    problems = [f"{label} ({len(keys)}): {', '.join(keys[:5])}{', ...' if len(keys) > 5 else ''}"
                for label, keys in (("missing", missing), ("unexpected", unexpected),
                                    ("wrong shape", mismatched)) if keys]
    if problems:
        raise ValueError(f"{what} does not have the original layout: " + "; ".join(problems))


class LegacySegmenter(Segmenter):
    """A paper's segmenter: ``predict`` is the argmax of :meth:`class_scores`, resized to the input.

    Inputs are RGB images in [-1, 1] (float ``[B, 3, H, W]``); outputs are the network's own class ids
    (the protocol's label mapping takes the dataset's ids there).
    """

    num_classes: ClassVar[int]

    @classmethod
    @abstractmethod
    def from_checkpoint(cls, path: str | os.PathLike | None = None, *, sha256: str | None = None,
                        cache_dir: str | os.PathLike | None = None, **options: Any) -> LegacySegmenter:
        """Build the network and load the original checkpoint unchanged (``strict=True``)."""

    @abstractmethod
    def class_scores(self, images: Tensor) -> Tensor:
        """Per-class scores ``[B, C, h, w]`` whose argmax is the prediction (h, w may differ from H, W)."""

    @abstractmethod
    def pooled_features(self, images: Tensor) -> Tensor:
        """Global-average-pooled backbone features ``[B, D]``."""

    @torch.no_grad()
    def predict(self, images: Tensor) -> Tensor:
        _check_images(images)
        pred = self.class_scores(images).argmax(dim=1)
        if pred.shape[-2:] != images.shape[-2:]:
            # A prediction made at another resolution is scored at the image's; nearest keeps the ids.
            pred = nn.functional.interpolate(pred[:, None].float(), size=images.shape[-2:], mode="nearest")
            pred = pred[:, 0].long()
        return pred

    @torch.no_grad()
    def features(self, images: Tensor) -> Tensor:
        _check_images(images)
        return self.pooled_features(images)


class SingleFileLegacySegmenter(LegacySegmenter):
    """A legacy segmenter whose weights are one original checkpoint file (DeepLabV2, DRN-D-105)."""

    checkpoint_file: ClassVar[str]
    #: where the file downloads from (None: no direct link; the file must be given by path)
    checkpoint_url: ClassVar[str | None] = None

    @classmethod
    def from_checkpoint(cls, path: str | os.PathLike | None = None, *, sha256: str | None = None,
                        cache_dir: str | os.PathLike | None = None, **options: Any) -> SingleFileLegacySegmenter:
        """Load the original file (``None``: the cache, or a download where there is a link)."""
        file, digest = fetch_checkpoint(cls.checkpoint_file, path, cls.checkpoint_url, sha256, cache_dir)
        model = cls(**options)
        model.load_original_state_dict(load_state_dict_file(file))
        model.checkpoint_hash = digest
        return model

    def load_original_state_dict(self, state: dict[str, Tensor]) -> None:
        """Check the layout, then load strictly (BatchNorm's ``num_batches_tracked`` may be absent)."""
        check_state_dict_layout(self, state, self.checkpoint_file, optional_suffixes=("num_batches_tracked",))
        self.load_state_dict(state, strict=True)


def _check_images(images: Tensor) -> None:
    if images.ndim != 4 or images.shape[1] != 3 or not images.is_floating_point():
        raise ValueError(f"expected float RGB images [B, 3, H, W] in [-1, 1], got {images.dtype} "
                         f"{tuple(images.shape)}")


def to_unit_range(images: Tensor) -> Tensor:
    """[-1, 1] -> [0, 1], the range of the original loaders' images before their normalisation."""
    return (images + 1) / 2


def freeze(module: nn.Module) -> None:
    """Evaluation mode, no gradients: the legacy segmenters are fixed measuring instruments."""
    module.eval()
    module.requires_grad_(False)


class Bottleneck(nn.Module):
    """ResNet bottleneck with the key names of CSAILVision's ``resnet.py`` and fyu/drn's ``drn.py``.

    Both follow torchvision's layout: ``conv1`` (1x1), ``conv2`` (3x3, carries the stride and the
    dilation), ``conv3`` (1x1, x4 channels), each followed by ``bnN``; ``downsample`` is
    ``Sequential(conv 1x1, bn)`` when the shape changes.
    """

    expansion = 4

    def __init__(self, inplanes: int, planes: int, stride: int = 1, dilation: int = 1,
                 norm: type[nn.BatchNorm2d] = nn.BatchNorm2d):
        super().__init__()
        out = planes * self.expansion
        self.conv1 = nn.Conv2d(inplanes, planes, 1, bias=False)
        self.bn1 = norm(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride=stride, padding=dilation, dilation=dilation,
                               bias=False)
        self.bn2 = norm(planes)
        self.conv3 = nn.Conv2d(planes, out, 1, bias=False)
        self.bn3 = norm(out)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = (nn.Sequential(nn.Conv2d(inplanes, out, 1, stride=stride, bias=False), norm(out))
                           if stride != 1 or inplanes != out else None)

    def forward(self, x: Tensor) -> Tensor:
        residual = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        return self.relu(out + residual)


# ---------------------------------------------------------------------------------------------------------
# Segmenter kinds and protocols.

#: segmenter kind -> "module:Class" of its backend (imported on first use).
SEGMENTER_KINDS: dict[str, str] = {
    "spade-deeplabv2": "metrics.segmenters.deeplabv2:DeepLabV2Segmenter",
    "spade-upernet101": "metrics.segmenters.upernet:UperNet101Segmenter",
    "spade-drn-d-105": "metrics.segmenters.drn:DRND105Segmenter",
}


def segmenter_class(kind: str) -> type[LegacySegmenter]:
    """The backend class of a legacy segmenter kind."""
    try:
        module, name = SEGMENTER_KINDS[kind].split(":")
    except KeyError:
        raise ValueError(f"unknown legacy segmenter kind {kind!r}; valid: "
                         f"{', '.join(sorted(SEGMENTER_KINDS))}") from None
    return getattr(importlib.import_module(module), name)


def build_legacy_segmenter(spec: SegmenterSpec, *, num_classes: int, checkpoint: Path | None = None,
                           cache_dir: str | os.PathLike | None = None, device: torch.device | str = "cpu",
                           **_: Any) -> LegacySegmenter:
    """Segmenter factory for the ``spade-*`` kinds (see :func:`metrics.segmenters.build_segmenter`).

    ``checkpoint`` (``--segmenter-checkpoint``) overrides ``spec.checkpoint``; ``spec.sha256`` is checked;
    ``spec.options`` go to the backend's constructor.
    """
    cls = segmenter_class(spec.kind)
    if cls.num_classes != num_classes:
        raise ValueError(f"{spec.kind} predicts {cls.num_classes} classes, the protocol's labels have "
                         f"{num_classes}")
    segmenter = cls.from_checkpoint(checkpoint or spec.checkpoint, sha256=spec.sha256,
                                    cache_dir=None if cache_dir is None else Path(cache_dir) / "checkpoints",
                                    **spec.kwargs)
    return segmenter.to(device)


_FID_NOTE = ("FID as SPADE: the TF-ported Inception's pool features (torch-fidelity inception-v3-compat, "
             "weights-inception-2015-12-05-6726825d.pth) of the generated images vs the real val images at "
             "the same resolution")

#: The four protocols in :meth:`metrics.protocols.Protocol.from_dict` form.
LEGACY_PROTOCOLS: tuple[dict[str, Any], ...] = (
    # version 2: mIoU averages over the classes present in the ground truth, as kazuto1011's
    # libs/utils/metric.py scores() does (version 1 averaged over ground truth or prediction)
    dict(id="coco_stuff-spade-legacy", version=2, dataset="coco_stuff", split="val", resolution=(256, 256),
         num_images=5000, resize_filter="bicubic", label_mapping="identity", averaging="present_gt",
         description="SPADE Table 1, COCO-Stuff: DeepLabV2 ResNet-101 MSC (kazuto1011) + FID",
         segmenter=dict(kind="spade-deeplabv2", name="deeplabv2_resnet101_msc-cocostuff164k-100000"),
         notes=("182 COCO-Stuff ids predicted directly (255 unlabeled is ignored)",
                "MSC scales 1, 0.5, 0.75 fused by max; caffe BGR mean (104.008, 116.669, 122.675)",
                _FID_NOTE)),
    # version 2: mIoU over all 150 classes, absent ones counting 0, as CSAIL's eval.py
    # (iou = intersection / (union + 1e-10); iou.mean()); version 1 left absent classes out
    dict(id="ade20k-spade-legacy", version=2, dataset="ade20k", split="val", resolution=(256, 256),
         num_images=2000, resize_filter="bicubic", label_mapping="ade20k_150", averaging="all_classes",
         description="SPADE Table 1, ADE20K: UperNet101 (CSAILVision, ade20k-resnet101-upernet) + FID",
         segmenter=dict(kind="spade-upernet101", name="ade20k-resnet101-upernet"),
         notes=("ADE20K 'other' (raw 0) ignored, classes 1..150 are UperNet's outputs 0..149",
                "CSAIL eval.py test scales: short side 300, 375, 450, 525, 600 (max 1000, multiple of 32), "
                "softmax averaged", _FID_NOTE)),
    dict(id="ade20k_outdoor-spade-legacy", version=2, dataset="ade20k_outdoor", split="val",
         resolution=(256, 256), num_images=None, resize_filter="bicubic", label_mapping="ade20k_150",
         averaging="all_classes",
         description="SPADE Table 1, ADE20K-outdoor: UperNet101 (as ADE20K) + FID on the outdoor val subset",
         segmenter=dict(kind="spade-upernet101", name="ade20k-resnet101-upernet"),
         notes=("the outdoor subset of the ADE20K val split, whole", _FID_NOTE)),
    # fyu/drn segment.py: np.nanmean(per_class_iu(hist)), i.e. classes in ground truth or prediction
    dict(id="cityscapes-spade-legacy", version=1, dataset="cityscapes", split="val", resolution=(256, 512),
         num_images=500, resize_filter="bicubic", label_mapping="cityscapes_35_to_19",
         averaging="present_gt_or_pred",
         description="SPADE Table 1, Cityscapes: DRN-D-105 (fyu/drn), single scale + FID",
         segmenter=dict(kind="spade-drn-d-105", name="drn-d-105_ms_cityscapes",
                        options={"input_size": "generated"}),
         notes=("35 label ids -> DRN's 19 train ids",
                "OASIS #18: options.input_size='full' upsamples the 256x512 images to 1024x2048 before DRN",
                _FID_NOTE)),
)


def legacy_protocols() -> list[Protocol]:
    """The four legacy protocols as :class:`~metrics.protocols.Protocol` objects."""
    return [Protocol.from_dict(d) for d in LEGACY_PROTOCOLS]


def _register() -> None:
    for kind in SEGMENTER_KINDS:
        register_segmenter_kind(kind, build_legacy_segmenter)
    for protocol in legacy_protocols():
        if protocol.id not in PROTOCOLS._entries:
            PROTOCOLS.add(protocol, name=protocol.id, description=protocol.description)


_register()
