"""The instances SLNP-GAN's attention refiner attends over (Zhang et al. 2020, Sec. 1.2.2): one per
instance id where an instance map is given, else one per class present. The decisions are in docs/methods.md."""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor


@dataclass
class Instances:
    """A partition of each image into instances (or classes), padded to ``T`` per batch.

    ``index``: ``[B, H, W]`` long, the instance of each pixel in ``0..T-1``, -1 for none;
    ``classes``: ``[B, T]`` long, each instance's class channel (0 for padding);
    ``present``: ``[B, T]`` bool, False for the padding of images with fewer instances.
    """

    index: Tensor
    classes: Tensor
    present: Tensor

    def masks(self) -> Tensor:
        """``[B, T, H, W]`` float binary masks."""
        t = self.classes.shape[1]
        return F.one_hot(self.index + 1, t + 1)[..., 1:].permute(0, 3, 1, 2).float()


def find_instances(onehot: Tensor, instance: Tensor | None) -> Instances:
    """The instances of a batch: connected by instance id where ``instance`` is given, else by class.

    ``onehot`` is the ``[B, C, H, W]`` label map (pixels in no channel belong to no instance); an
    instance's class is the majority class of its pixels.
    """
    has_class = onehot.sum(1) > 0
    pixel_class = onehot.argmax(1)
    keys = pixel_class if instance is None else instance.long()
    indices, classes = [], []
    for b in range(onehot.shape[0]):
        valid = has_class[b]
        ids, inverse = torch.unique(keys[b][valid], return_inverse=True)
        index = torch.full_like(keys[b], -1)
        index[valid] = inverse
        counts = torch.zeros(len(ids), onehot.shape[1], device=onehot.device)
        counts.index_put_((inverse, pixel_class[b][valid]), torch.ones_like(inverse, dtype=counts.dtype),
                          accumulate=True)
        indices.append(index)
        classes.append(counts.argmax(1))
    t = max(1, max(len(c) for c in classes))
    present = torch.zeros(len(classes), t, dtype=torch.bool, device=onehot.device)
    padded = torch.zeros(len(classes), t, dtype=torch.long, device=onehot.device)
    for b, c in enumerate(classes):
        present[b, :len(c)] = True
        padded[b, :len(c)] = c
    return Instances(torch.stack(indices), padded, present)
