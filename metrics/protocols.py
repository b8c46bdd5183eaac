"""Evaluation protocols: named, versioned objects that fix every choice a metric depends on.

A :class:`Protocol` states the dataset split, resolution, number of images, resize filter, segmenter
(kind, checkpoint, hash), label mapping, FID extractor and reference set, and the fallback extractor. The
built-in protocols are config files under ``configs/protocols/`` (each holds ``protocols = [dict(...)]``);
importing this module registers them in :data:`benchmark.registry.PROTOCOLS`. See PROTOCOLS.md.

Run configs may carry a ``protocol`` section: ``protocol = dict(name=None, inception_weights=None,
segmenter_checkpoint=None)``; ``name=None`` means :func:`default_protocol` of the dataset.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from benchmark.registry import PROTOCOLS
from benchmark.resources import protocol_config_dir
from metrics.confusion import AVERAGING_RULES, DEFAULT_AVERAGING
from metrics.label_mapping import LABEL_MAPPINGS
from metrics.segmenters import SegmenterSpec

PROTOCOL_CONFIG_DIR = protocol_config_dir()  # configs/protocols/ of the checkout or of an installed wheel

RESIZE_FILTERS = ("bicubic", "bilinear", "nearest")
FID_EXTRACTORS = ("inception-v3-compat",)
FALLBACK_EXTRACTORS = ("fd-seg",)
#: datasets whose default protocol is not found by the suffix rule of :func:`default_protocol`
DEFAULT_PROTOCOLS = {"synthetic": "synthetic-v1", "folder": "folder-trained-deeplabv3-cpu"}


@dataclass(frozen=True)
class Protocol:
    """One evaluation protocol. Numbers computed under different ids (or versions) are not comparable."""

    id: str
    version: int
    dataset: str
    description: str
    split: str = "val"
    #: (H, W) at which images are evaluated; None: the dataset's ``image_size``
    resolution: tuple[int, int] | None = None
    #: images evaluated (the first N of the split, in dataset order); None: the whole split
    num_images: int | None = None
    #: filter that brings an image of another size to ``resolution`` (antialiased like PIL)
    resize_filter: str = "bicubic"
    segmenter: SegmenterSpec | None = None
    label_mapping: str = "identity"
    #: which classes mIoU averages over (:data:`metrics.confusion.AVERAGING_RULES`): the legacy
    #: protocols follow their script, every other protocol the classes present in ground truth or prediction
    averaging: str = DEFAULT_AVERAGING
    #: registered metric plugins to compute
    metrics: tuple[str, ...] = ("segmentation", "fid", "kid", "precision_recall")
    fid_extractor: str | None = "inception-v3-compat"
    #: split whose real images are the FID reference set (OASIS: val; CLADE: train)
    reference_split: str = "val"
    #: used when Inception weights are unavailable (offline); None: that is an error
    fallback_extractor: str | None = None
    kid_subsets: int = 100
    kid_subset_size: int = 1000
    prc_neighborhood: int = 3
    #: default Inception weights file (``--inception-weights`` overrides)
    inception_weights: str | None = None
    #: LPIPS diversity (metric ``lpips_diversity``, :mod:`metrics.diversity`): backbone, samples per label
    #: map (all their pairs are scored) and maps (the first N of the split; None: every evaluated map)
    lpips_backbone: str = "alex"
    lpips_samples: int = 4
    lpips_maps: int | None = None
    notes: tuple[str, ...] = field(default_factory=tuple)

    def __post_init__(self) -> None:
        if self.version < 1:
            raise ValueError(f"protocol {self.id}: version must be >= 1")
        if self.resize_filter not in RESIZE_FILTERS:
            raise ValueError(f"protocol {self.id}: resize_filter {self.resize_filter!r} not in {RESIZE_FILTERS}")
        if self.fid_extractor not in (None, *FID_EXTRACTORS):
            raise ValueError(f"protocol {self.id}: fid_extractor {self.fid_extractor!r} not in {FID_EXTRACTORS}")
        if self.fallback_extractor not in (None, *FALLBACK_EXTRACTORS):
            raise ValueError(f"protocol {self.id}: fallback_extractor {self.fallback_extractor!r} "
                             f"not in {FALLBACK_EXTRACTORS}")
        if self.label_mapping not in LABEL_MAPPINGS:
            raise ValueError(f"protocol {self.id}: unknown label mapping {self.label_mapping!r}; "
                             f"valid: {', '.join(sorted(LABEL_MAPPINGS))}")
        if self.lpips_backbone not in ("alex", "vgg", "squeeze"):
            raise ValueError(f"protocol {self.id}: lpips_backbone {self.lpips_backbone!r} is not alex, vgg or squeeze")
        if self.lpips_samples < 2 or (self.lpips_maps is not None and self.lpips_maps < 1):
            raise ValueError(f"protocol {self.id}: LPIPS diversity needs lpips_samples >= 2 and lpips_maps >= 1")
        if self.averaging not in AVERAGING_RULES:
            raise ValueError(f"protocol {self.id}: unknown averaging rule {self.averaging!r}; "
                             f"valid: {', '.join(AVERAGING_RULES)}")
        needs_segmenter = {"segmentation", "fd_seg"} & set(self.metrics) or self.fallback_extractor == "fd-seg"
        if needs_segmenter and self.segmenter is None:
            raise ValueError(f"protocol {self.id}: its metrics need a segmenter, none is given")

    @property
    def name(self) -> str:
        return self.id

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["segmenter"] = None if self.segmenter is None else self.segmenter.to_dict()
        return {k: list(v) if isinstance(v, tuple) else v for k, v in d.items()}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Protocol:
        known = {f.name for f in fields(cls)}
        unknown = set(d) - known
        if unknown:
            raise ValueError(f"protocol {d.get('id')!r}: unknown keys {', '.join(sorted(unknown))}; "
                             f"valid keys: {', '.join(sorted(known))}")
        kw = {k: tuple(v) if isinstance(v, list) else v for k, v in d.items()}
        seg = kw.get("segmenter")
        if isinstance(seg, Mapping):
            seg = dict(seg)
            seg["options"] = tuple((k, tuple(v) if isinstance(v, list) else v)
                                   for k, v in sorted(dict(seg.get("options") or {}).items()))
            kw["segmenter"] = SegmenterSpec(**seg)
        return cls(**kw)


def load_protocol_configs(directory: Path = PROTOCOL_CONFIG_DIR) -> list[Protocol]:
    """Every protocol defined in ``directory/*.py`` (``protocols = [dict(...), ...]``)."""
    from mmengine.config import Config

    out = []
    for path in sorted(directory.glob("*.py")):
        entries = Config.fromfile(str(path)).to_dict().get("protocols")
        if not isinstance(entries, list):
            raise ValueError(f"{path} defines no `protocols = [dict(...), ...]` list")
        out += [Protocol.from_dict(e) for e in entries]
    return out


def register_builtin_protocols() -> None:
    for protocol in load_protocol_configs():
        PROTOCOLS.add(protocol, name=protocol.id, description=protocol.description)


def get_protocol(name_or_protocol: str | Protocol) -> Protocol:
    """A registered protocol by id (an instance passes through)."""
    if isinstance(name_or_protocol, Protocol):
        return name_or_protocol
    return PROTOCOLS.get(name_or_protocol)


def default_protocol(dataset_name: str) -> str:
    """The protocol a dataset is evaluated under unless one is chosen.

    The papers' protocol (``<dataset>-spade-legacy``) where registered, else mmseg's DeepLabV3
    (``<dataset>-mmseg-deeplabv3``), else a segmenter SISBench trains (``<dataset>-trained-deeplabv3``);
    the embedded dataset uses ``synthetic-v1`` and a custom ``folder`` dataset the CPU-sized trained
    segmenter (``folder-trained-deeplabv3-cpu``: minutes on a laptop; ``--protocol folder-trained-deeplabv3``
    is the full one for GPUs).
    """
    if dataset_name in DEFAULT_PROTOCOLS:
        return DEFAULT_PROTOCOLS[dataset_name]
    for suffix in ("spade-legacy", "mmseg-deeplabv3", "trained-deeplabv3"):
        if f"{dataset_name}-{suffix}" in PROTOCOLS:
            return f"{dataset_name}-{suffix}"
    raise ValueError(f"no protocol is registered for dataset {dataset_name!r}; add one under configs/protocols/ "
                     f"(registered: {', '.join(PROTOCOLS.names())})")


register_builtin_protocols()
