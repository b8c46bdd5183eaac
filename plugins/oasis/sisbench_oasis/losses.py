"""OASIS's losses: the class-balanced (N+1)-class cross-entropy and the LabelMix regulariser.

Schönfeld et al., ICLR 2021, Eq. (1)-(3) (the N+1 loss of the segmentation discriminator and its
generator counterpart, with class weights inverse to the classes' pixel frequencies) and Eq. (4)
(LabelMix). Formulas read (never copied) from boschresearch/OASIS ``models/losses.py`` and
``models/models.py``; every detail below is the official code's unless marked.

All functions take the label map as the one-hot ``[B, C, H, W]`` the generator sees and the
discriminator's logits ``[B, C + 1, H, W]`` with channel 0 the "fake" class and channel ``1 + k`` class k.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor


def class_balance_weights(label: Tensor, unweighted: Sequence[int] = ()) -> Tensor:
    """Per-pixel weights ``[B, H, W]``: pixel of class c gets ``B*H*W / (n_present * count_c)``.

    ``count_c`` is class c's pixel count over the whole batch and ``n_present`` the number of classes with
    pixels; the channels in ``unweighted`` (the don't-care label) are left out of both and weigh 0. The
    numerator counts every pixel, don't-care ones included (the official ``numel(label) / C``).
    """
    counts = label.sum(dim=(0, 2, 3))
    keep = torch.ones_like(counts, dtype=torch.bool)
    if len(unweighted):
        keep[list(unweighted)] = False
    counts = torch.where(keep, counts, torch.zeros_like(counts))
    present = (counts > 0).sum()
    # the official order of operations: 1 / count * numel / (n_present * C); absent classes weigh 0
    coefficients = torch.reciprocal(counts) * label.numel() / (present * label.shape[1])
    coefficients = torch.where(counts > 0, coefficients, torch.zeros_like(coefficients))
    return coefficients[label.argmax(dim=1)]


def n1_targets(label: Tensor, real: bool) -> Tensor:
    """Per-pixel targets ``[B, H, W]`` of the N+1 loss: class k -> ``k + 1`` for real, 0 ("fake") otherwise."""
    if real:
        return label.argmax(dim=1) + 1
    return torch.zeros(label.shape[0], *label.shape[2:], dtype=torch.long, device=label.device)


def n1_loss(logits: Tensor, label: Tensor, real: bool, balance: bool = True,
            unweighted: Sequence[int] = ()) -> Tensor:
    """The (N+1)-class cross-entropy, averaged over pixels.

    ``real=True``: each pixel must be classified as its class, weighted by :func:`class_balance_weights`
    (``balance=False``: weight 1) -- the discriminator's loss on real images and the generator's loss on
    fakes. ``real=False``: every pixel must be classified "fake", unweighted -- the discriminator's loss on
    fakes.
    """
    if logits.shape[1] != label.shape[1] + 1:
        raise ValueError(f"the discriminator gives {logits.shape[1]} channels for a {label.shape[1]}-channel "
                         f"label map; the N+1 loss needs N + 1 = {label.shape[1] + 1}")
    ce = F.cross_entropy(logits, n1_targets(label, real), reduction="none")
    if not real:
        return ce.mean()
    if not balance:
        return ce.mean()
    return (ce * class_balance_weights(label, unweighted)).mean()


def labelmix_mask(label: Tensor) -> Tensor:
    """LabelMix's binary mask ``[B, 1, H, W]``: every class present in the batch draws one fair bit (the
    same bit in every image of the batch), drawn in ascending class order with
    ``torch.randint(0, 2, (1,))`` as the official code, so a seed gives its bits.

    Deviation: the official ``generate_labelmix`` relabels its class map in place, so when class 0 draws 1
    its pixels are matched again as class 1 and take class 1's bit. There, channel 0 is the don't-care label;
    here class 0 is a real class, and each class keeps its own bit as the paper describes (Sec. 3.2).
    """
    classes = label.argmax(dim=1, keepdim=True)
    mask = torch.zeros_like(classes, dtype=label.dtype)
    for c in torch.unique(classes):
        bit = torch.randint(0, 2, (1,), device=label.device)
        mask[classes == c] = bit.to(label.dtype)
    return mask


def labelmix_images(mask: Tensor, fake: Tensor, real: Tensor) -> Tensor:
    """The mixed image: real where the mask is 1, fake where it is 0."""
    return mask * real + (1 - mask) * fake


def labelmix_loss(mask: Tensor, logits_mixed: Tensor, logits_fake: Tensor, logits_real: Tensor) -> Tensor:
    """LabelMix consistency (paper Eq. 4): ``MSE(D(mix(real, fake)), mix(D(real), D(fake)))`` on the logits,
    averaged over every element; no term is detached (the official loss)."""
    return F.mse_loss(mask * logits_real + (1 - mask) * logits_fake, logits_mixed)
