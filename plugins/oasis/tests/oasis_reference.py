"""Deterministic weights and inputs for OASIS's official-parity fixtures, shared by the tests and the script
that ran the official boschresearch/OASIS code outside this repository to write ``fixtures/oasis_official.pt``.

Both sides build the official state-dict layout (keys and shapes recorded in the fixture) and fill it with
:func:`reference_state`; the same keys and shapes give the same tensors, so the official outputs can be
compared with ours without storing millions of weights. Only torch is imported here.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor

#: power iterations that set the stored spectral-norm vectors: random ones would make each sigma an
#: underestimate and the activations explode through the residual blocks
POWER_ITERATIONS = 30

#: generator cases (official option names): one-hot channels, width, noise, size, norm, batch, mode
G_CASES: dict[str, dict] = {
    "G_square": dict(semantic_nc=6, channels_G=4, no_3dnoise=False, crop_size=64, aspect_ratio=1.0,
                     param_free_norm="syncbatch", batch=2, train=False, seed=11),
    "G_wide": dict(semantic_nc=5, channels_G=4, no_3dnoise=False, crop_size=64, aspect_ratio=2.0,
                   param_free_norm="batch", batch=1, train=False, seed=12),
    "G_nonoise_instance": dict(semantic_nc=6, channels_G=4, no_3dnoise=True, crop_size=64, aspect_ratio=1.0,
                               param_free_norm="instance", batch=2, train=False, seed=13),
    "G_train_mode": dict(semantic_nc=6, channels_G=4, no_3dnoise=False, crop_size=64, aspect_ratio=1.0,
                         param_free_norm="syncbatch", batch=2, train=True, seed=14),
}
#: discriminator cases: label channels (N; the network outputs N + 1), input size, batch, mode
D_CASES: dict[str, dict] = {
    "D_eval": dict(semantic_nc=6, height=64, width=64, batch=2, train=False, seed=21),
    "D_train_mode": dict(semantic_nc=6, height=64, width=64, batch=2, train=True, seed=22),
    "D_wide": dict(semantic_nc=4, height=64, width=128, batch=1, train=False, seed=23),
}
#: the two-iteration training case: official layout (channel 0 = don't care), EMA decay 0.9 so that two
#: updates move the EMA measurably; 2 extra batches for the final BatchNorm-statistics recomputation
TRAIN_CASE = dict(semantic_nc=6, channels_G=4, z_dim=64, crop_size=64, batch=2, lr_g=1e-4, lr_d=4e-4,
                  lambda_labelmix=10.0, EMA_decay=0.9, iterations=2, stat_batches=2, data_seed=31)


def reference_state(layout: Sequence[tuple[str, Sequence[int]]], seed: int = 0) -> dict[str, Tensor]:
    """Float64 tensors for every ``(key, shape)`` of an official state dict, a function of keys and shapes.

    Weights ~ N(0, 1/fan_in), biases ~ N(0, 0.1^2), BatchNorm running means ~ N(0, 0.2^2), variances in
    [0.5, 1.5); spectral-norm ``u``, ``v`` from power iterations on a random unit ``v``, as a trained
    checkpoint's are.
    """
    gen = torch.Generator().manual_seed(seed)
    shapes = {key: tuple(shape) for key, shape in layout}
    state: dict[str, Tensor] = {}
    for key in sorted(shapes):
        shape = shapes[key]
        if key.endswith(("weight_u", "weight_v")):
            continue
        if key.endswith("num_batches_tracked"):
            state[key] = torch.tensor(7)
        elif key.endswith("running_var"):
            state[key] = 0.5 + torch.rand(shape, generator=gen, dtype=torch.float64)
        elif key.endswith("running_mean"):
            state[key] = 0.2 * torch.randn(shape, generator=gen, dtype=torch.float64)
        elif len(shape) >= 2:
            state[key] = torch.randn(shape, generator=gen, dtype=torch.float64) / math.sqrt(math.prod(shape[1:]))
        else:
            state[key] = 0.1 * torch.randn(shape, generator=gen, dtype=torch.float64)
    for key in sorted(k for k in shapes if k.endswith("weight_orig")):
        prefix = key[: -len("weight_orig")]
        w = state[key].flatten(1)
        v = F.normalize(torch.randn(w.shape[1], generator=gen, dtype=torch.float64), dim=0)
        for _ in range(POWER_ITERATIONS):
            u = F.normalize(w @ v, dim=0)
            v = F.normalize(w.t() @ u, dim=0)
        state[prefix + "weight_v"] = v
        state[prefix + "weight_u"] = F.normalize(w @ v, dim=0)
    return state


def label_ids(batch: int, classes: int, height: int, width: int, seed: int, block: int = 8) -> Tensor:
    """``[B, H, W]`` int64 class ids in blocks of ``block`` pixels, every class present."""
    gen = torch.Generator().manual_seed(seed)
    coarse = torch.randint(0, classes, (batch, height // block, width // block), generator=gen)
    coarse.view(-1)[:classes] = torch.arange(classes)
    return coarse.repeat_interleave(block, 1).repeat_interleave(block, 2)


def one_hot(ids: Tensor, classes: int) -> Tensor:
    """``[B, H, W]`` ids -> float64 ``[B, C, H, W]`` one-hot (the official ``preprocess_input``)."""
    return F.one_hot(ids, classes).permute(0, 3, 1, 2).to(torch.float64)


def images(batch: int, height: int, width: int, seed: int) -> Tensor:
    """Float64 images in [-1, 1] with some spatial structure (smooth random fields)."""
    gen = torch.Generator().manual_seed(seed)
    coarse = torch.rand(batch, 3, max(height // 8, 1), max(width // 8, 1), generator=gen, dtype=torch.float64)
    return F.interpolate(coarse * 2 - 1, size=(height, width), mode="bilinear", align_corners=False)


def checksum(state: dict[str, Tensor]) -> Tensor:
    """Per-tensor double sums of absolute values, in key order (a compact fingerprint of a state dict)."""
    return torch.stack([state[k].double().abs().sum() for k in sorted(state)])


def official_layout(state: dict[str, Tensor]) -> list[tuple[str, list[int]]]:
    return [(k, list(v.shape)) for k, v in state.items()]
