"""Deterministic inputs for SPADE's official-parity fixture, shared by the test and the script that runs
the official NVlabs/SPADE code (outside this repository) to produce ``fixtures/spade_official_outputs.pt``.

Both sides call these functions with a network of the official layout: the same keys and shapes give the
same tensors, so the stored official outputs can be compared with ours without storing any weights.
"""

from __future__ import annotations

import math
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor, nn

#: power iterations that set the stored spectral-norm vectors: with random ones each sigma would
#: underestimate the top singular value and the activations would explode through the residual blocks
POWER_ITERATIONS = 30

#: name -> generator options (official option names); ``batch`` and the input seed complete a case
PARITY_CASES: dict[str, dict] = {
    "normal": dict(label_nc=5, ngf=4, crop_size=32, aspect_ratio=1.0, num_upsampling_layers="normal",
                   contain_dontcare_label=True, no_instance=False, use_vae=False, batch=2),
    "more": dict(label_nc=5, ngf=4, crop_size=128, aspect_ratio=2.0, num_upsampling_layers="more",
                 contain_dontcare_label=True, no_instance=False, use_vae=False, batch=1),
    "most": dict(label_nc=4, ngf=4, crop_size=128, aspect_ratio=1.0, num_upsampling_layers="most",
                 contain_dontcare_label=False, no_instance=True, use_vae=False, batch=1),
    "vae": dict(label_nc=5, ngf=4, crop_size=32, aspect_ratio=1.0, num_upsampling_layers="normal",
                contain_dontcare_label=True, no_instance=True, use_vae=True, z_dim=8, batch=2),
}


def semantic_nc(case: dict) -> int:
    return case["label_nc"] + int(case["contain_dontcare_label"]) + int(not case["no_instance"])


def official_style_state(net: nn.Module, seed: int = 0) -> dict[str, Tensor]:
    """Non-trivial weights for every entry of ``net``'s state dict, a function of keys and shapes only.

    Weights ~ N(0, 1/fan_in), biases ~ N(0, 0.1^2), BatchNorm running means ~ N(0, 0.2^2) and variances
    in [0.5, 1.5); spectral-norm vectors ``u``, ``v`` come from power iterations on a random unit ``v``,
    as a trained checkpoint's do, so the outputs are far from tanh's saturation.
    """
    gen = torch.Generator().manual_seed(seed)
    template = net.state_dict()
    state: dict[str, Tensor] = {}
    for key in sorted(template):
        shape = template[key].shape
        if key.endswith(("weight_u", "weight_v")):
            continue
        if key.endswith("num_batches_tracked"):
            state[key] = torch.tensor(7)
        elif key.endswith("running_var"):
            state[key] = 0.5 + torch.rand(shape, generator=gen)
        elif key.endswith("running_mean"):
            state[key] = 0.2 * torch.randn(shape, generator=gen)
        elif len(shape) >= 2:
            state[key] = torch.randn(shape, generator=gen) / math.sqrt(math.prod(shape[1:]))
        else:
            state[key] = 0.1 * torch.randn(shape, generator=gen)
    for key in sorted(k for k in template if k.endswith("weight_orig")):
        prefix = key[: -len("weight_orig")]
        w = state[key].flatten(1)
        v = F.normalize(torch.randn(w.shape[1], generator=gen), dim=0)
        for _ in range(POWER_ITERATIONS):
            u = F.normalize(w @ v, dim=0)
            v = F.normalize(w.t() @ u, dim=0)
        state[prefix + "weight_v"] = v
        state[prefix + "weight_u"] = F.normalize(w @ v, dim=0)
    return state


def semantic_map(case: dict, seed: int = 1) -> Tensor:
    """A one-hot map of blocky random regions (+ the regions' boundary channel when instances are used)."""
    gen = torch.Generator().manual_seed(seed)
    width = case["crop_size"]
    height = round(width / case["aspect_ratio"])
    classes = case["label_nc"] + int(case["contain_dontcare_label"])
    coarse = torch.randint(0, classes, (case["batch"], 1, max(height // 8, 1), max(width // 8, 1)),
                           generator=gen)
    labels = F.interpolate(coarse.float(), size=(height, width), mode="nearest").long()[:, 0]
    sem = F.one_hot(labels, classes).permute(0, 3, 1, 2).float()
    if not case["no_instance"]:
        edge = torch.zeros_like(labels, dtype=torch.bool)
        horiz = labels[:, :, 1:] != labels[:, :, :-1]
        vert = labels[:, 1:, :] != labels[:, :-1, :]
        edge[:, :, 1:] |= horiz
        edge[:, :, :-1] |= horiz
        edge[:, 1:, :] |= vert
        edge[:, :-1, :] |= vert
        sem = torch.cat([sem, edge.unsqueeze(1).float()], 1)
    return sem


def latent(case: dict, seed: int = 2) -> Tensor | None:
    if not case["use_vae"]:
        return None
    return torch.randn(case["batch"], case["z_dim"], generator=torch.Generator().manual_seed(seed))


def key_list(name: str) -> list[tuple[str, tuple[int, ...]]]:
    """``(key, shape)`` rows of an official state-dict listing under tests/fixtures/."""
    rows = []
    for line in (Path(__file__).parent / "fixtures" / name).read_text().splitlines():
        key, shape = line.split(" ", 1)
        rows.append((key, tuple(int(s) for s in shape.strip("[]").split(",") if s.strip())))
    return rows
