"""Segmentation networks that label generated images: one interface, pluggable kinds.

A protocol names its segmenter with a :class:`SegmenterSpec`; :func:`build_segmenter` hands the spec to
the factory registered for its ``kind``. Built-in kinds:

- ``trained``: SISBench's own DeepLabV3 trained on the dataset's real images (:mod:`.train`);
- ``mmseg-builtin``: an mmsegmentation model-zoo DeepLabV3 checkpoint run by the pure-PyTorch
  re-implementation in :mod:`.deeplabv3` (no mmcv needed);
- ``mmseg``: any mmseg config + checkpoint run through mmseg itself (:mod:`.mmseg_backend`, the ``seg``
  extra).

Other kinds (e.g. the papers' legacy segmenters) register with :func:`register_segmenter_kind`, giving a
factory or a lazy ``"module:function"`` path, so optional dependencies are imported only when used.
"""

from __future__ import annotations

import dataclasses
import importlib
import os
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from benchmark.user_error import WeightsUnavailable


@dataclass(frozen=True)
class SegmenterSpec:
    """Which segmenter a protocol uses.

    ``kind``: a registered segmenter kind. ``name``: what the kind builds (an mmseg zoo entry or config).
    ``checkpoint``: local path or URL (None: the kind's default); ``sha256``: the checkpoint's digest or
    its prefix. ``options``: kind-specific settings as ``(key, value)`` pairs (hashable, so the spec is).
    """

    kind: str
    name: str = ""
    checkpoint: str | None = None
    sha256: str | None = None
    options: tuple[tuple[str, Any], ...] = field(default_factory=tuple)

    @property
    def kwargs(self) -> dict[str, Any]:
        return dict(self.options)

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "name": self.name, "checkpoint": self.checkpoint, "sha256": self.sha256,
                "options": {k: list(v) if isinstance(v, tuple) else v for k, v in self.options}}


class Segmenter(nn.Module, ABC):
    """A segmentation network as the harness sees it.

    Inputs are RGB images in ``[-1, 1]`` (float ``[B, 3, H, W]``); each segmenter does its own input
    normalisation and resizing and returns predictions at the input's ``H x W``.
    """

    #: number of classes the network predicts
    num_classes: int
    #: sha256 of the checkpoint file the weights came from (None: random weights)
    checkpoint_hash: str | None = None
    #: the weights against the protocol's pin, set by :func:`build_segmenter`: ``{"sha256": pinned digest or
    #: None, "source": "protocol" | "first use" | None, "matches": bool | None, "checkpoint": the
    #: ``--segmenter-checkpoint`` path or None, "override": True when that file is not the pinned one}``
    pin: dict[str, Any] | None = None

    @abstractmethod
    def predict(self, images: Tensor) -> Tensor:
        """Class ids, int64 ``[B, H, W]``."""

    @abstractmethod
    def features(self, images: Tensor) -> Tensor:
        """Spatially pooled features ``[B, D]`` (for FD-seg)."""

    def predict_with_features(self, images: Tensor) -> tuple[Tensor, Tensor]:
        """Both at once; networks that can share the forward pass override this."""
        return self.predict(images), self.features(images)

    def describe(self) -> dict[str, Any]:
        """Provenance of this segmenter for the metrics record."""
        return {"class": type(self).__name__, "num_classes": self.num_classes,
                "checkpoint_sha256": self.checkpoint_hash, "pin": self.pin}


#: ``factory(spec, *, num_classes, data_cfg, checkpoint, cache_dir, device) -> Segmenter``
SegmenterFactory = Callable[..., Segmenter]

_KINDS: dict[str, SegmenterFactory | str] = {
    "trained": "metrics.segmenters.train:build_trained_segmenter",
    "mmseg-builtin": "metrics.segmenters.deeplabv3:build_mmseg_builtin",
    "mmseg": "metrics.segmenters.mmseg_backend:build_mmseg_segmenter",
}


def register_segmenter_kind(kind: str, factory: SegmenterFactory | str) -> None:
    """Register a segmenter kind: a factory, or ``"package.module:function"`` imported on first use."""
    if not kind or any(c in kind for c in " ,/"):
        raise ValueError(f"segmenter kind {kind!r} is invalid: use letters, digits, '_', '-' or '.'")
    if kind in _KINDS:
        raise ValueError(f"segmenter kind {kind!r} is already registered")
    if isinstance(factory, str) and ":" not in factory:
        raise ValueError(f"segmenter kind {kind!r}: a lazy factory is written 'module:function', got {factory!r}")
    _KINDS[kind] = factory


def digest_matches(digest: str, pinned: str) -> bool:
    """Whether a file's sha256 matches a pinned digest or prefix (``"+"``-joined parts: part by part)."""
    parts, pins = digest.split("+"), pinned.lower().split("+")
    return len(parts) == len(pins) and all(d.startswith(p) for d, p in zip(parts, pins, strict=True))


def segmenter_kinds() -> list[str]:
    return sorted(_KINDS)


def build_segmenter(spec: SegmenterSpec, *, num_classes: int, data_cfg: Mapping[str, Any] | None = None,
                    checkpoint: str | os.PathLike | None = None, cache_dir: str | os.PathLike | None = None,
                    device: torch.device | str = "cpu") -> Segmenter:
    """Build the segmenter ``spec`` names, in eval mode on ``device``.

    ``num_classes``: classes the protocol's label mapping produces; ``checkpoint`` overrides the spec's
    (``--segmenter-checkpoint``); ``cache_dir`` holds downloads and trained segmenters.

    Pins: where ``spec.sha256`` pins the protocol's file, the protocol's own file must match it (else
    :class:`~metrics.base.WeightsUnavailable`); a file named by ``checkpoint`` that does not match is
    used and recorded as an override in ``segmenter.pin`` (the metrics record carries it). A
    ``"+"``-joined digest (UperNet's encoder + decoder) matches part by part.
    """
    try:
        factory = _KINDS[spec.kind]
    except KeyError:
        raise ValueError(f"unknown segmenter kind {spec.kind!r}; valid kinds: {', '.join(segmenter_kinds())}") from None
    if isinstance(factory, str):
        module, func = factory.split(":")
        factory = getattr(importlib.import_module(module), func)
    explicit = checkpoint is not None
    # a named file is checked here, against the pin, not refused by the factory's own hash check
    factory_spec = dataclasses.replace(spec, sha256=None) if explicit else spec
    segmenter = factory(factory_spec, num_classes=num_classes, data_cfg=data_cfg,
                        checkpoint=None if checkpoint is None else Path(checkpoint), cache_dir=cache_dir,
                        device=device)
    if not isinstance(segmenter, Segmenter):
        raise TypeError(f"segmenter kind {spec.kind!r} returned {type(segmenter).__name__}, not a Segmenter")
    digest = segmenter.checkpoint_hash
    pin = dict(segmenter.pin or {"sha256": None, "source": None, "matches": None})
    if spec.sha256:
        matches = digest is not None and digest_matches(digest, spec.sha256)
        pin.update(sha256=spec.sha256, source="protocol", matches=matches)
        if not matches and not explicit:
            raise WeightsUnavailable(
                f"segmenter {spec.kind}:{spec.name or spec.checkpoint} has sha256 {str(digest)[:12]}..., the "
                f"protocol pins {spec.sha256[:12]}...; pass the file with --segmenter-checkpoint PATH to score "
                f"with it anyway (the row records it)")
    pin["checkpoint"] = str(checkpoint) if explicit else None
    pin["override"] = bool(explicit and pin["sha256"] is not None and not pin["matches"])
    segmenter.pin = pin
    if segmenter.num_classes != num_classes:
        raise ValueError(f"segmenter {spec.kind}:{spec.name} predicts {segmenter.num_classes} classes, "
                         f"the protocol's labels have {num_classes}")
    return segmenter.eval().to(device)
