"""Style images for style-guided generation (``generate --style``)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".webp")


def load_style_image(path: str | Path, data_cfg: Mapping[str, Any]) -> torch.Tensor:
    """One style image ``[1, 3, H, W]`` in ``[-1, 1]`` at the dataset's generation size.

    ``path`` is an image file, or a directory whose first image (sorted by name) is used.
    """
    path = Path(path)
    if path.is_dir():
        files = sorted(p for p in path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
        if not files:
            raise FileNotFoundError(f"--style {path}: the directory holds no image ({', '.join(IMAGE_SUFFIXES)})")
        path = files[0]
    if not path.is_file():
        raise FileNotFoundError(f"--style {path}: no such file; pass an image or a directory of images")
    try:
        img = Image.open(path).convert("RGB")
    except (UnidentifiedImageError, OSError) as exc:
        raise FileNotFoundError(f"--style {path}: not a readable image ({exc})") from exc
    size = data_cfg.get("crop_size") or data_cfg.get("image_size") or 256
    h, w = (size, size) if isinstance(size, int) else tuple(size)
    img = img.resize((w, h), Image.BICUBIC)
    arr = torch.from_numpy(np.asarray(img, dtype=np.float32)).permute(2, 0, 1) / 127.5 - 1.0
    return arr.unsqueeze(0)
