"""SPADE's preprocessing, shared by every dataset: resize, random crop and flip of image/label/instance.

Two modes, as in NVlabs/SPADE ``data/base_dataset.py``:

- ``resize_and_crop`` (COCO-Stuff, ADE20K, CelebAMask-HQ, custom folders): resize to
  ``load_size x load_size``, then crop ``crop_size x crop_size`` at a random position. At test time
  SPADE sets ``load_size = crop_size``, so the crop is the whole image; :class:`PairTransform` does the
  same whenever ``train`` is False.
- ``fixed`` (Cityscapes): resize to ``crop_size`` wide and ``round(crop_size / aspect_ratio)`` high;
  no crop.

Training flips horizontally with probability 1/2 unless ``flip`` is False. Images resize bicubic; label
and instance maps resize nearest, so no id is ever invented. Every random draw comes from the generator
the caller passes, so a sample is a pure function of (seed, epoch, index).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from PIL import Image

PREPROCESS_MODES = ("resize_and_crop", "fixed")


@dataclass(frozen=True)
class Params:
    """One draw of the random augmentation: crop corner (x, y) in the resized image and flip."""

    x: int
    y: int
    flip: bool


@dataclass(frozen=True)
class PairTransform:
    """Resize/crop/flip applied identically to an image and its label (and instance) map."""

    preprocess: str
    load_size: int
    crop_size: int
    aspect_ratio: float
    flip: bool
    train: bool

    def __post_init__(self) -> None:
        if self.preprocess not in PREPROCESS_MODES:
            raise ValueError(f"data.preprocess={self.preprocess!r} is not one of "
                             f"{', '.join(PREPROCESS_MODES)}")
        if self.preprocess == "resize_and_crop" and self.load_size < self.crop_size:
            raise ValueError(f"data.load_size ({self.load_size}) must be at least data.crop_size "
                             f"({self.crop_size}) for preprocess='resize_and_crop'")
        if self.crop_size < 1 or self.aspect_ratio <= 0:
            raise ValueError("data.crop_size must be positive and data.aspect_ratio greater than 0")

    @classmethod
    def from_cfg(cls, cfg: Mapping[str, Any], train: bool) -> PairTransform:
        return cls(preprocess=str(cfg["preprocess"]), load_size=int(cfg["load_size"]),
                   crop_size=int(cfg["crop_size"]), aspect_ratio=float(cfg["aspect_ratio"]),
                   flip=bool(cfg["flip"]), train=train)

    @property
    def output_size(self) -> tuple[int, int]:
        """(H, W) of every transformed sample."""
        if self.preprocess == "fixed":
            return round(self.crop_size / self.aspect_ratio), self.crop_size
        return self.crop_size, self.crop_size

    @property
    def _resize_to(self) -> tuple[int, int]:
        """(W, H) the full image is resized to before cropping (PIL order)."""
        if self.preprocess == "fixed":
            h, w = self.output_size
            return w, h
        size = self.load_size if self.train else self.crop_size
        return size, size

    def draw(self, rng: np.random.Generator) -> Params:
        """Draw crop position and flip (nothing at test time)."""
        if not self.train:
            return Params(0, 0, False)
        w, h = self._resize_to
        out_h, out_w = self.output_size
        x = int(rng.integers(0, w - out_w + 1))
        y = int(rng.integers(0, h - out_h + 1))
        # The flip coin is drawn even when flipping is off, so turning it off leaves the crops unchanged.
        flip = bool(rng.random() < 0.5)
        return Params(x, y, flip and self.flip)

    def _apply(self, img: Image.Image, params: Params, resample: Image.Resampling) -> Image.Image:
        size = self._resize_to
        if img.size != size:
            img = img.resize(size, resample)
        out_h, out_w = self.output_size
        if (out_w, out_h) != size:
            img = img.crop((params.x, params.y, params.x + out_w, params.y + out_h))
        if params.flip:
            img = img.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
        return img

    def image(self, img: Image.Image, params: Params) -> torch.Tensor:
        """RGB PIL image -> float32 [3, H, W] in [-1, 1]."""
        arr = np.asarray(self._apply(img.convert("RGB"), params, Image.Resampling.BICUBIC), dtype=np.float32)
        return torch.from_numpy(arr.transpose(2, 0, 1).copy()) / 127.5 - 1.0

    def label(self, img: Image.Image, params: Params) -> np.ndarray:
        """Label or instance map (any integer PIL mode) -> integer array [H, W], resized nearest."""
        return np.asarray(self._apply(img, params, Image.Resampling.NEAREST))
