"""Images for people: colourised label maps, sample grids, PNG writing."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch import Tensor

from benchmark.datasets.base import DataInfo
from benchmark.io import atomic_path


def palette_for(info: DataInfo) -> np.ndarray:
    """``[num_classes + 1, 3]`` uint8 colours; the last row is the don't-care colour (black)."""
    n = info.num_classes
    if len(info.palette) >= n:
        pal = np.asarray(info.palette[:n], dtype=np.uint8)
    else:
        # A fixed, well-spread palette (the PASCAL VOC bit-interleaving scheme) for datasets without one.
        pal = np.zeros((n, 3), dtype=np.uint8)
        for i in range(n):
            c, r, g, b = i + 1, 0, 0, 0
            for j in range(8):
                r |= ((c >> 0) & 1) << (7 - j)
                g |= ((c >> 1) & 1) << (7 - j)
                b |= ((c >> 2) & 1) << (7 - j)
                c >>= 3
            pal[i] = (r, g, b)
    return np.concatenate([pal, np.zeros((1, 3), dtype=np.uint8)])


def colorize(label: Tensor, info: DataInfo) -> Tensor:
    """``[B, H, W]`` label ids -> ``[B, 3, H, W]`` float in ``[-1, 1]``."""
    pal = torch.from_numpy(palette_for(info)).to(label.device)
    ids = label.long().clone()
    ids[(ids < 0) | (ids >= info.num_classes)] = info.num_classes
    rgb = pal[ids].permute(0, 3, 1, 2).float()
    return rgb / 127.5 - 1.0


def to_uint8(image: Tensor) -> np.ndarray:
    """``[3, H, W]`` in ``[-1, 1]`` -> ``[H, W, 3]`` uint8."""
    arr = ((image.detach().float().clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)
    return arr.permute(1, 2, 0).cpu().numpy()


def save_image(image: Tensor, path: Path) -> None:
    """Write one ``[3, H, W]`` image in ``[-1, 1]`` as PNG, atomically."""
    with atomic_path(path) as tmp:
        Image.fromarray(to_uint8(image)).save(tmp, format="PNG")


def sample_grid(label: Tensor, real: Tensor, fakes: Sequence[Tensor], info: DataInfo, path: Path,
                max_rows: int = 8) -> None:
    """One row per sample: label | real | each generated image."""
    n = min(label.shape[0], max_rows)
    size = real.shape[-2:]
    cols = [colorize(label[:n], info).to(real.device), real[:n]]
    for fake in fakes:
        f = fake[:n]
        if f.shape[-2:] != size:
            f = torch.nn.functional.interpolate(f.float(), size=size, mode="bilinear", align_corners=False)
        cols.append(f.to(real.device).float())
    rows = [torch.cat([c[i] for c in cols], dim=-1) for i in range(n)]
    save_image(torch.cat(rows, dim=-2), path)
