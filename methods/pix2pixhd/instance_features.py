"""pix2pixHD's instance-level feature embedding (Wang et al., CVPR 2018, Sec. 3.4): the feature encoder E,
instance-wise average pooling over regions, and the per-class k-means clusters sampled at inference (the
official ``encode_features.py``; :func:`methods.pix2pixhd.method.fit_feature_clusters` runs them on a method).
The decisions are listed in :mod:`methods.pix2pixhd`."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch import Tensor, nn

from methods.nn.global_generator import conv_block, output_block, upsample_block


class FeatureEncoder(nn.Module):
    """The instance-level feature encoder E (Sec. 3.4): an encoder-decoder on the real image (official
    ``Encoder``: conv7x7, ``n_downsampling`` stride-2 convs, as many transposed convs, conv7x7, tanh)
    whose output is average-pooled within every region of ``groups`` (official instance-wise pooling)."""

    def __init__(self, input_nc: int = 3, feat_num: int = 3, nef: int = 16, n_downsampling: int = 4,
                 norm: str = "instance"):
        super().__init__()
        layers = conv_block(input_nc, nef, norm, kernel=7)
        for i in range(n_downsampling):
            layers += conv_block(nef * 2**i, nef * 2**(i + 1), norm, kernel=3, stride=2)
        for i in range(n_downsampling, 0, -1):
            layers += upsample_block(nef * 2**i, nef * 2**(i - 1), norm)
        layers += output_block(nef, feat_num)
        self.model = nn.Sequential(*layers)

    def forward(self, image: Tensor, groups: Tensor) -> Tensor:
        return region_average(self.model(image), groups)


def region_index(groups: Tensor) -> tuple[Tensor, int]:
    """``[B, H, W]`` region ids -> per-pixel index of (sample, region) in ``0..B*n-1``, and ``n``."""
    _, inverse = torch.unique(groups, return_inverse=True)
    n = int(inverse.max()) + 1
    offset = torch.arange(groups.shape[0], device=groups.device).view(-1, 1, 1) * n
    return inverse + offset, n


def region_average(features: Tensor, groups: Tensor) -> Tensor:
    """Replace each channel of ``features [B, C, H, W]`` by its mean over every region of ``groups
    [B, H, W]`` within each sample (differentiable; the official loop over instances, vectorised)."""
    index, n = region_index(groups)
    b, c = features.shape[:2]
    flat = features.permute(0, 2, 3, 1).reshape(-1, c)
    sums = flat.new_zeros(b * n, c).index_add_(0, index.flatten(), flat)
    counts = torch.bincount(index.flatten(), minlength=b * n).clamp(min=1).to(flat.dtype)
    means = sums / counts.unsqueeze(1)
    return means[index].permute(0, 3, 1, 2)


def region_map(label: Tensor, instance: Tensor | None, num_classes: int, ignore_index: int | None) -> Tensor:
    """Region ids for instance-wise pooling: one region per (instance, label) pair, or per label when
    there is no instance map (the official ``--label_feat``). Ignored pixels get label ``num_classes``."""
    label = label.long()
    if ignore_index is not None:
        label = label.masked_fill(label == ignore_index, num_classes)
    if instance is None:
        return label
    return instance.long() * (num_classes + 1) + label


def region_features(features: Tensor, groups: Tensor, label: Tensor,
                    num_classes: int) -> tuple[Tensor, Tensor, Tensor]:
    """Per region of each sample: its pooled feature ``[R, C]``, its class ``[R]`` and its area as a fraction
    of the image ``[R]``; regions of class ``num_classes`` (ignored pixels) are dropped."""
    index, n = region_index(groups)
    b, c, h, w = features.shape
    flat_index = index.flatten()
    counts = torch.bincount(flat_index, minlength=b * n)
    sums = features.new_zeros(b * n, c).index_add_(0, flat_index, features.permute(0, 2, 3, 1).reshape(-1, c))
    classes = torch.full((b * n,), num_classes, dtype=torch.long, device=label.device)
    classes[flat_index] = label.flatten().long()
    keep = (counts > 0) & (classes < num_classes)
    feats = sums[keep] / counts[keep].unsqueeze(1).to(sums.dtype)
    return feats, classes[keep], counts[keep].to(torch.float64) / (h * w)


#: the official ``KMeans(n_clusters=..., random_state=0)`` with the defaults of the scikit-learn it ran on
#: (n_init = 10 before scikit-learn 1.4, which changed the default to "auto", one run for k-means++)
KMEANS_N_INIT = 10
KMEANS_RANDOM_STATE = 0


def cluster_features(features: Sequence[Tensor], classes: Sequence[Tensor], areas: Sequence[Tensor],
                     num_classes: int, n_clusters: int = 10, min_area: float = 1 / 64,
                     seed: int = KMEANS_RANDOM_STATE) -> dict[int, np.ndarray]:
    """scikit-learn k-means centres per class of region features (the official ``encode_features.py``).

    The official script keeps regions whose pixel count exceeds half of ``H*W // 32``, i.e. an area above
    1/64 of the image (``min_area``); classes without such regions get no centres; a class with fewer
    regions than ``n_clusters`` gets one centre per region (``min(n, n_clusters)``, as the official call).
    Features are float64, as the official numpy arrays.
    """
    from sklearn.cluster import KMeans

    feats = torch.cat(list(features)).double().cpu().numpy()
    cls = torch.cat(list(classes)).cpu().numpy()
    area = torch.cat(list(areas)).double().cpu().numpy()
    centres: dict[int, np.ndarray] = {}
    for c in range(num_classes):
        selected = feats[(cls == c) & (area > min_area)]
        if len(selected):
            k = min(len(selected), n_clusters)
            fit = KMeans(n_clusters=k, n_init=KMEANS_N_INIT, random_state=seed).fit(selected)
            centres[c] = fit.cluster_centers_
    return centres
