"""Reading an image file as the metrics see it: float ``[3, H, W]`` in ``[-1, 1]``.

Its own module because both the harness (:mod:`metrics.evaluate`) and the diversity samples
(:mod:`metrics.diversity`) read images, and the harness imports the diversity metric.
"""

from __future__ import annotations

import os

import numpy as np
import torch
from PIL import Image
from torch import Tensor


def load_image(path: str | os.PathLike) -> Tensor:
    """An image file as float ``[3, H, W]`` in [-1, 1]."""
    with Image.open(path) as im:
        arr = np.asarray(im.convert("RGB"), dtype=np.uint8)
    return torch.from_numpy(arr.copy()).permute(2, 0, 1).float() / 127.5 - 1
