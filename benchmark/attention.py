"""``generate --save-attention``: SLNP-GAN's region-to-instance attention, as arrays and as pictures."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch
from matplotlib import colormaps

from benchmark.io import atomic_path
from benchmark.pipeline import checked_dataset, eval_split, fixed_batch
from benchmark.trainer import to_device
from benchmark.visualize import colorize, save_image


def attention_heatmaps(weights: torch.Tensor, region_size: int, max_instances: int) -> list[tuple[int, torch.Tensor]]:
    """For one image: ``(instance, [3, H, W] heat map in [-1, 1])`` for the most attended instances.

    ``weights`` is ``[gh, gw, T]``: how much each region's query attends to each instance."""
    total = weights.sum(dim=(0, 1))
    order = torch.argsort(total, descending=True)[:max_instances]
    cmap = colormaps["magma"]
    maps = []
    for t in order.tolist():
        if float(total[t]) <= 0:
            continue
        w = weights[..., t]
        w = w / w.max().clamp_min(1e-12)
        rgb = torch.from_numpy(cmap(w.cpu().numpy())[..., :3]).float().permute(2, 0, 1)
        rgb = rgb.repeat_interleave(region_size, 1).repeat_interleave(region_size, 2)
        maps.append((t, rgb * 2 - 1))
    return maps


@torch.no_grad()
def save_attention(method: Any, cfg: Mapping[str, Any], out_dir: Path, num_images: int = 8,
                   max_instances: int = 4) -> int:
    """Write ``<stem>.npz`` (the raw attention record) and ``<stem>.png`` (label | image | heat maps of the
    most attended instances) for the first ``num_images`` label maps of the evaluation split."""
    dataset = checked_dataset(cfg["data"], eval_split(cfg), train=False)
    batch = to_device(fixed_batch(dataset, min(num_images, len(dataset))), next(method.parameters()).device)
    torch.manual_seed(int(cfg.get("eval", {}).get("seed", 0)))
    images, att = method.generate(batch, return_attention=True)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    labels = colorize(batch["label"], method.data)
    for i, path in enumerate(batch["path"]):
        stem = Path(path).stem
        record = {k: (v[i].cpu().numpy() if torch.is_tensor(v) else np.asarray(v)) for k, v in att.items()}
        with atomic_path(out_dir / f"{stem}.npz") as tmp, open(tmp, "wb") as fh:
            np.savez_compressed(fh, **record)
        tiles = [labels[i].cpu(), images[i].float().cpu()]
        for _, heat in attention_heatmaps(att["weights"][i], int(att["region_size"]), max_instances):
            tiles.append(heat[:, :images.shape[-2], :images.shape[-1]])
        save_image(torch.cat(tiles, dim=-1), out_dir / f"{stem}.png")
    return len(batch["path"])
