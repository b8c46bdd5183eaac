"""Diversity of a multimodal method: mean LPIPS between images generated from the same label map.

Multimodal methods (SPADE with its encoder, the adaptive-normalization hybrid, CRN's k outputs, SLNP-GAN's
noise, OASIS's 3D noise) are compared in their papers by how different the images of one label map are:
the mean LPIPS distance (Zhang et al., CVPR 2018) between images generated with different noise
(OASIS, ICLR 2021, Sec. 4.2 and its diversity table; BicycleGAN and MUNIT before it).

Decisions:

- **Implementation**: torchmetrics' LPIPS (``torchmetrics.functional.image.lpips``, maintained; it ships the
  LPIPS v0.1 linear layers, ``lpips_models/<net>.pth``), with the backbone's ImageNet weights from
  torchvision's release file: downloaded into torch hub's ``checkpoints/`` where the network allows and
  checked against the hash in its name, or a local file (``--lpips-weights FILE``). Offline without them
  the metric is *not measured*, with one sentence in the record (``not_measured``), never computed with
  another network.
- **What the protocol fixes** (:class:`~metrics.protocols.Protocol` fields): the backbone
  (``lpips_backbone``, ``"alex"`` as the LPIPS authors recommend for a distance), the samples per label
  map (``lpips_samples`` = K), the maps (the first ``lpips_maps`` of the evaluation split, in dataset
  order; None: every evaluated map) and the pairs: all K(K-1)/2 pairs of one map's samples, averaged per
  map, then over maps. Images are scored at their generated size, in [-1, 1], as LPIPS expects.
- **Speed**: each image passes the backbone once; its unit-normalised layer features are reused for all
  of its pairs (the library's forward runs the backbone on both images of every pair). The distance of a
  pair is then the library's own arithmetic (``_normalize_tensor``, the linear layers,
  ``_spatial_average``), checked against the library's call in ``tests/test_metrics_diversity.py``.
- **Uncertainty**: the per-map means are what the bootstrap resamples (``ci95``).
- A method that produces one image per label map records ``LPIPS`` as null with "n/a: ..." under
  ``not_measured``; so does the oracle row.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import combinations
from pathlib import Path
from typing import Any, ClassVar

import torch
from torch import Tensor, nn

from benchmark.registry import METRICS
from metrics.base import DIVERSITY, EvalState, Metric, WeightsUnavailable, resolve_weights
from metrics.images import load_image

KEY_LPIPS = "LPIPS"
BACKBONES = ("alex", "vgg", "squeeze")
#: LPIPS backbone -> torchvision builder and the weights enum whose release file it loads
_TORCHVISION = {"alex": ("alexnet", "AlexNet_Weights"), "vgg": ("vgg16", "VGG16_Weights"),
                "squeeze": ("squeezenet1_1", "SqueezeNet1_1_Weights")}
LPIPS_WEIGHTS_HINT = "pass it with --lpips-weights FILE"


@dataclass(frozen=True)
class DiversitySamples:
    """K generated images per label map: ``<directory>/<stem>_<k>.png`` for ``k < samples``."""

    directory: Path
    samples: int
    stems: tuple[str, ...]

    def paths(self, stem: str) -> list[Path]:
        return [self.directory / f"{stem}_{k}.png" for k in range(self.samples)]


def backbone_url(backbone: str) -> str:
    """torchvision's release file of the LPIPS backbone (its name carries a sha256 prefix)."""
    import torchvision

    if backbone not in _TORCHVISION:
        raise ValueError(f"unknown LPIPS backbone {backbone!r}; valid: {', '.join(BACKBONES)}")
    return getattr(torchvision.models, _TORCHVISION[backbone][1]).IMAGENET1K_V1.url


def load_lpips(backbone: str = "alex", weights: str | os.PathLike | None = None, *,
               cache_dir: str | os.PathLike | None = None,
               device: torch.device | str = "cpu") -> tuple[nn.Module, dict[str, Any]]:
    """torchmetrics' LPIPS network with torchvision's backbone weights, and its provenance record.

    ``weights``: a local backbone file (a torchvision state dict); None: the release file, downloaded once
    into ``cache_dir`` (torch hub's ``checkpoints/``) and checked against the hash in its name. Raises
    :class:`WeightsUnavailable` (one sentence naming ``--lpips-weights``) when neither is possible.
    """
    import torchmetrics
    import torchvision
    from torchmetrics.functional.image.lpips import _NoTrainLpips

    url = backbone_url(backbone)
    prefix = re.search(r"-([0-9a-f]{8,})\.pth$", url)
    name = url.rsplit("/", 1)[-1]
    path, digest = resolve_weights(weights, url=url, sha256=None if weights else prefix.group(1),
                                   cache_dir=cache_dir, what=f"LPIPS backbone weights {name}",
                                   fix=f"download {name} where the network allows and {LPIPS_WEIGHTS_HINT}")
    # pretrained=True: the library's v0.1 linear layers; pnet_rand=True: its backbone built without weights
    model = _NoTrainLpips(pretrained=True, net=backbone, pnet_rand=True)
    builder = getattr(torchvision.models, _TORCHVISION[backbone][0])
    reference = builder(weights=None)
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
        reference.load_state_dict(state, strict=True)
    except Exception as exc:
        raise WeightsUnavailable(f"LPIPS backbone weights {path} are not torchvision's {_TORCHVISION[backbone][0]} "
                                 f"state dict ({type(exc).__name__}); {LPIPS_WEIGHTS_HINT}") from None
    _copy_backbone(model.net, reference.features)
    model = model.eval().requires_grad_(False).to(device)
    record = {"implementation": f"torchmetrics {torchmetrics.__version__} LPIPS (v0.1 linear layers)",
              "backbone": backbone, "backbone_file": name, "backbone_sha256": digest,
              "official_backbone": digest.startswith(prefix.group(1))}
    return model, record


def _copy_backbone(net: nn.Module, features: nn.Sequential) -> None:
    """Put torchvision's ``features`` layers into the library's slices (they index the same layers)."""
    copied = 0
    for slice_ in net.children():
        for index, layer in slice_.named_children():
            layer.load_state_dict(features[int(index)].state_dict())
            copied += sum(1 for _ in layer.parameters())
    expected = sum(1 for _ in features.parameters())
    if copied != expected:
        raise RuntimeError(f"LPIPS backbone: copied {copied} of {expected} parameter tensors")


@torch.no_grad()
def lpips_features(model: nn.Module, images: Tensor) -> list[Tensor]:
    """Unit-normalised backbone features of images in [-1, 1] (one tensor per LPIPS layer)."""
    from torchmetrics.functional.image.lpips import _normalize_tensor

    outs = model.net(model.scaling_layer(images))
    return [_normalize_tensor(o) for o in outs]


@torch.no_grad()
def pair_distances(model: nn.Module, feats: Sequence[Tensor], pairs: Sequence[tuple[int, int]]) -> Tensor:
    """LPIPS of each ``(i, j)`` pair of images whose :func:`lpips_features` are ``feats``."""
    from torchmetrics.functional.image.lpips import _spatial_average

    i = torch.tensor([p[0] for p in pairs])
    j = torch.tensor([p[1] for p in pairs])
    total = 0
    for layer, lin in zip(feats, model.lins, strict=True):
        total = total + _spatial_average(lin((layer[i] - layer[j]) ** 2), keep_dim=True)
    return total.flatten()


def load_samples(paths: Sequence[Path]) -> Tensor:
    missing = [p.name for p in paths if not p.is_file()]
    if missing:
        raise FileNotFoundError(f"diversity samples missing: {', '.join(missing[:5])}; generate them with "
                                f"`python -m benchmark generate ... --num-samples K`")
    return torch.stack([load_image(p) for p in paths])


@torch.no_grad()
def per_map_lpips(model: nn.Module, source: DiversitySamples, *, device: torch.device | str = "cpu",
                  progress: bool | None = None) -> Tensor:
    """Mean LPIPS over all pairs of each map's K samples: float64 ``[maps]``."""
    import sys

    from tqdm import tqdm

    if source.samples < 2:
        raise ValueError(f"LPIPS diversity needs at least 2 samples per label map, the protocol asks {source.samples}")
    pairs = list(combinations(range(source.samples), 2))
    out = []
    for stem in tqdm(source.stems, desc="LPIPS diversity", unit="map", file=sys.stderr,
                     disable=None if progress is None else not progress):
        images = load_samples(source.paths(stem)).to(device)
        out.append(pair_distances(model, lpips_features(model, images), pairs).double().mean().cpu())
    return torch.stack(out)


@METRICS.register("lpips_diversity")
class LPIPSDiversity(Metric):
    """Mean LPIPS between images generated from the same label map (all pairs of K samples; diversity)."""

    name: ClassVar[str] = "lpips_diversity"
    requires: ClassVar[tuple[str, ...]] = (DIVERSITY,)
    keys: ClassVar[tuple[str, ...]] = (KEY_LPIPS,)

    def compute(self, state: EvalState) -> dict[str, Any]:
        per_map = state.features.get(DIVERSITY)
        if per_map is None or per_map.numel() == 0:
            raise ValueError("LPIPS diversity needs the per-map distances of the samples (EvalState.features)")
        return {KEY_LPIPS: float(per_map.double().mean())}
