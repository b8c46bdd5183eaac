"""What every metric plugin provides, and the weight files metrics depend on.

One pass over the evaluation images (:mod:`metrics.evaluate`) runs each feature extractor once and fills
an :class:`EvalState`; each registered :class:`Metric` then turns that state into named numbers. A metric
declares what it ``requires`` ("inception", "segmenter"); when a requirement is unavailable the harness
leaves the metric out and records why.
"""

from __future__ import annotations

import hashlib
import os
import urllib.error
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from torch import Tensor

from benchmark.user_error import WeightsUnavailable
from metrics.errors import ProtocolError as ProtocolError  # re-exported: plugins import it from here

if TYPE_CHECKING:
    from metrics.confusion import ConfusionMatrix
    from metrics.protocols import Protocol

#: extractor names used as keys of :attr:`EvalState.features`
INCEPTION = "inception"
SEGMENTER = "segmenter"
DIVERSITY = "diversity"
TEXTURE = "texture"


@dataclass
class EvalState:
    """What the pass over the generated and reference images produced, shared by every metric.

    ``features[name]`` holds the generated images' features of extractor ``name`` (``[N, D]``; for
    ``"diversity"`` the mean LPIPS of each map's samples, ``[maps]``; for ``"texture"`` the per-image region
    energies of :class:`metrics.texture.TextureCounts`, ``[N, 3, C]``) and ``reference[name]`` the reference
    set's; ``confusion`` the segmenter's confusion matrix.
    """

    protocol: Protocol
    seed: int
    features: dict[str, Tensor] = field(default_factory=dict)
    reference: dict[str, Tensor] = field(default_factory=dict)
    confusion: ConfusionMatrix | None = None


class Metric(ABC):
    """A metric plugin. Subclasses set ``name``, ``requires``, ``keys`` and a one-line docstring."""

    name: ClassVar[str]
    #: extractors the metric needs: a subset of ("inception", "segmenter", "diversity", "texture")
    requires: ClassVar[tuple[str, ...]] = ()
    #: result keys the metric returns (exported constants of its module)
    keys: ClassVar[tuple[str, ...]] = ()

    @abstractmethod
    def compute(self, state: EvalState) -> dict[str, Any]:
        """Return ``{key: value}`` for every key in ``keys``."""


def sha256_file(path: str | os.PathLike, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            h.update(block)
    return h.hexdigest()


def resolve_weights(source: str | os.PathLike | None, *, url: str | None, sha256: str | None,
                    cache_dir: str | os.PathLike | None, what: str, fix: str) -> tuple[Path, str]:
    """A local weight file for ``what`` and its sha256.

    ``source`` is a local path (or None, or a URL); otherwise ``url`` is downloaded once into
    ``cache_dir`` (torch hub's checkpoint folder by default). ``sha256`` (the full digest or the prefix
    that model zoos put in file names) is checked. Offline, raises :class:`WeightsUnavailable` with one
    sentence naming ``fix`` (the flag or config key that supplies the file).
    """
    if source is not None and not str(source).startswith(("http://", "https://")):
        path = Path(source).expanduser()
        if not path.is_file():
            raise WeightsUnavailable(f"{what}: no file at {path}; {fix}")
    else:
        url = str(source) if source is not None else url
        if url is None:
            raise WeightsUnavailable(f"{what}: no checkpoint path or URL is known; {fix}")
        import torch.hub

        folder = Path(cache_dir) if cache_dir is not None else Path(torch.hub.get_dir()) / "checkpoints"
        path = folder / url.rsplit("/", 1)[-1]
        if not path.is_file():
            folder.mkdir(parents=True, exist_ok=True)
            try:
                torch.hub.download_url_to_file(url, str(path), progress=False)
            except (urllib.error.URLError, OSError, RuntimeError) as exc:
                path.unlink(missing_ok=True)
                reason = getattr(exc, "reason", exc)
                raise WeightsUnavailable(f"{what}: cannot download {url} ({reason}); {fix}") from None
    digest = sha256_file(path)
    if sha256 and not digest.startswith(sha256.lower()):
        raise WeightsUnavailable(f"{what}: {path} has sha256 {digest[:12]}..., expected {sha256}; "
                                 f"the file is corrupt or another checkpoint; {fix}")
    return path, digest
