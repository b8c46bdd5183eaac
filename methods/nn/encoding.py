"""Label-map encodings shared by every method: one-hot semantics and instance boundary maps."""

from __future__ import annotations

import torch
from torch import Tensor

from benchmark.datasets.base import DataInfo


def one_hot_labels(label: Tensor, num_classes: int, ignore_index: int | None = None,
                   dontcare_channel: bool = False) -> Tensor:
    """``[B, H, W]`` int labels -> ``[B, C, H, W]`` float one-hot.

    Pixels equal to ``ignore_index`` go to an extra last channel when ``dontcare_channel`` (SPADE's
    ``contain_dontcare_label``: the official code maps COCO's 255 to channel 182), else to no channel.
    """
    if label.dim() != 3:
        raise ValueError(f"label must be [B, H, W], got shape {tuple(label.shape)}")
    label = label.long()
    channels = num_classes + (1 if dontcare_channel else 0)
    if ignore_index is not None:
        ignored = label == ignore_index
        label = label.masked_fill(ignored, num_classes)
    else:
        ignored = None
    if int(label.min()) < 0 or int(label.max()) > num_classes:
        raise ValueError(f"label ids must lie in [0, {num_classes}) or equal the ignore index "
                         f"{ignore_index}; got min {int(label.min())}, max {int(label.max())}")
    out = torch.zeros(label.shape[0], num_classes + 1, *label.shape[1:], device=label.device)
    out.scatter_(1, label.unsqueeze(1), 1.0)
    if ignored is not None or not dontcare_channel:
        out = out[:, :channels]
    return out


def instance_edges(instance: Tensor) -> Tensor:
    """``[B, H, W]`` instance ids -> ``[B, 1, H, W]`` float boundary map (1 where a 4-neighbour differs).

    The same rule as pix2pixHD's and SPADE's ``get_edges``: a pixel is on a boundary when its right or
    lower neighbour has another id, and both pixels of each such pair are marked.
    """
    inst = instance.long()
    edge = torch.zeros_like(inst, dtype=torch.bool)
    horiz = inst[:, :, 1:] != inst[:, :, :-1]
    vert = inst[:, 1:, :] != inst[:, :-1, :]
    edge[:, :, 1:] |= horiz
    edge[:, :, :-1] |= horiz
    edge[:, 1:, :] |= vert
    edge[:, :-1, :] |= vert
    return edge.unsqueeze(1).float()


def semantic_input(batch: dict, data: DataInfo, use_instance: bool | None = None) -> Tensor:
    """The semantic map every SPADE-family method consumes: one-hot (+ don't care) (+ instance edges)."""
    sem = one_hot_labels(batch["label"], data.num_classes, data.ignore_index, data.contain_dontcare_label)
    inst = data.has_instance if use_instance is None else use_instance
    if inst:
        if "instance" not in batch:
            raise ValueError("this method uses instance maps but the batch has none; set use_instance=False")
        sem = torch.cat([sem, instance_edges(batch["instance"]).to(sem.dtype)], dim=1)
    return sem
