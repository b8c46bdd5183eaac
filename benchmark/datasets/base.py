"""What every dataset plugin provides: a :class:`DataInfo` and samples in one batch format.

A sample (and, collated, a batch) is a dict:

- ``label``: int64 ``[H, W]`` (batched ``[B, H, W]``), class ids ``0..num_classes-1``; pixels nobody labelled
  carry ``info.ignore_index`` (the don't-care label).
- ``image``: float32 ``[3, H, W]`` in ``[-1, 1]``.
- ``instance`` (only when ``info.has_instance``): int64 ``[H, W]`` instance ids.
- ``path``: the image file the sample came from (str).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any, ClassVar

from torch.utils.data import Dataset


@dataclass(frozen=True)
class DataInfo:
    """Facts about a dataset that methods and metrics configure themselves from."""

    name: str
    num_classes: int
    ignore_index: int | None = None
    class_names: tuple[str, ...] = ()
    palette: tuple[tuple[int, int, int], ...] = ()
    has_instance: bool = False
    image_size: tuple[int, int] = (256, 256)  # (H, W) of the images a method generates
    #: SPADE's ``num_upsampling_layers`` for this dataset ("normal", "more" or "most")
    spade_upsampling: str = "normal"
    #: whether the don't-care label gets a channel of its own in the one-hot input (SPADE's
    #: ``contain_dontcare_label``); True for datasets with an ignore index.
    contain_dontcare_label: bool = False
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def aspect_ratio(self) -> float:
        return self.image_size[1] / self.image_size[0]

    @property
    def label_nc(self) -> int:
        """Channels of the one-hot label map: classes plus the don't-care channel if any."""
        return self.num_classes + (1 if self.contain_dontcare_label else 0)

    def semantic_nc(self, use_instance: bool | None = None) -> int:
        """Channels of the semantic input: one-hot labels (+ don't care) (+ instance edge map)."""
        inst = self.has_instance if use_instance is None else use_instance
        return self.label_nc + (1 if inst else 0)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["image_size"] = list(self.image_size)
        d["palette"] = [list(p) for p in self.palette]
        d["class_names"] = list(self.class_names)
        return d


class SISDataset(Dataset):
    """Base class of dataset plugins.

    Subclasses set ``name`` and ``description`` and implement ``__init__(cfg, split, ...)``,
    ``__len__``, ``__getitem__`` (returning the sample dict above) and ``info``.
    ``check()`` validates the files before any training starts and raises
    :class:`benchmark.datasets.check.DataCheckError` naming every offending file.
    """

    name: ClassVar[str]
    description: ClassVar[str] = ""

    @classmethod
    def resolve_cfg(cls, cfg: Mapping[str, Any]) -> dict[str, Any]:
        """The data config with the dataset's defaults filled in (unknown keys rejected)."""
        return dict(cfg)

    @classmethod
    def data_info(cls, cfg: Mapping[str, Any]) -> DataInfo:
        """The DataInfo of a resolved config, computed without scanning the files."""
        raise NotImplementedError

    @property
    def info(self) -> DataInfo:
        raise NotImplementedError

    def set_epoch(self, epoch: int) -> None:
        """Select the random augmentation of ``epoch``; datasets without any ignore it."""

    def check(self) -> None:
        """Validate the dataset's files; raise DataCheckError listing every problem."""
        raise NotImplementedError
