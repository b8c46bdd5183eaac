"""The evaluation harness: generated images + a protocol -> metrics with full provenance.

:func:`evaluate` walks the protocol's evaluation split in dataset order (the first ``num_images``
samples), takes the generated image whose file stem matches each sample's, brings it to the protocol's
resolution, and in one pass

- runs the protocol's segmenter (predictions into a :class:`~metrics.segmentation.ConfusionMatrix`
  against the sample's label map, mapped and nearest-resized; pooled features for FD-seg),
- extracts Inception features (FID, KID, precision/recall),

with a tqdm bar (ETA) on a terminal. Every result also carries ``hardware`` (CPU, GPU, threads, device,
platform) and 95% intervals from a bootstrap over the evaluation images (``ci95``, ``ci95_interval``,
``ci95_method``; :mod:`metrics.bootstrap`), and its provenance names the segmenter's sha256 and pin
(``segmenter_sha256``, ``segmenter_pinned_sha256``, ``segmenter_checkpoint``, ``segmenter_override``)
and ``num_images_overridden``: rows that differ in them are different rows.

Reference-set features come from the on-disk :class:`~metrics.fid.FeatureCache` or are computed once.
Every registered metric the protocol lists then reads the shared :class:`~metrics.base.EvalState`.
:func:`evaluate_real` is the oracle row: the real evaluation images in place of generated ones.

Offline without Inception weights, a protocol with ``fallback_extractor="fd-seg"`` reports FD-seg and
records the fallback and its reason; any other protocol fails with one sentence naming
``--inception-weights``.
"""

from __future__ import annotations

import hashlib
import os
import platform
import sys
import time
from collections.abc import Callable, Iterable, Mapping
from importlib import metadata
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from PIL import Image
from torch import Tensor
from tqdm import tqdm

from benchmark.io import atomic_write_json
from benchmark.registry import METRICS
from benchmark.resources import cache_root
from benchmark.user_error import UserError
from metrics.base import DIVERSITY, INCEPTION, SEGMENTER, TEXTURE, EvalState, ProtocolError, WeightsUnavailable
from metrics.bootstrap import DEFAULT_RESAMPLES, PerImageCounts, bootstrap_ci95
from metrics.diversity import KEY_LPIPS, DiversitySamples, load_lpips, per_map_lpips
from metrics.fid import (
    KEY_FD_SEG,
    KEY_FID,
    UNOFFICIAL_SUFFIX,
    FeatureCache,
    feature_statistics,
    frechet_distance,
    inception_features,
    load_inception,
    to_uint8,
)
from metrics.images import load_image
from metrics.protocols import Protocol, get_protocol
from metrics.segmentation import IGNORE_INDEX, ConfusionMatrix, get_label_mapping, resize_labels
from metrics.segmenters import Segmenter, build_segmenter
from metrics.texture import (
    CHECKERBOARD_FEATURES,
    KEY_CHECKERBOARD,
    KEY_TEXTURE,
    KEY_TEXTURE_MAX,
    TextureCounts,
    checkerboard_from_totals,
    per_class_ratios,
    texture_from_totals,
    texture_max_from_totals,
)

#: a directory of generated images (``<stem>.png``), or an iterable of ``(stem, image)`` with images
#: float ``[3, H, W]`` in ``[-1, 1]`` or uint8 ``[3, H, W]``
ImageSource = str | os.PathLike | Iterable[tuple[str, Tensor]]

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg")
#: how many offending files an error message names
LISTED_FILES = 5


class EvaluationInputError(UserError, ValueError):
    """Generated images (or an image count) the protocol cannot score: unreadable or truncated files, images
    of another size than the label maps' or the protocol's, fewer than two images."""


class UnreadableImage(EvaluationInputError):
    """One generated image file that cannot be decoded."""

    def __init__(self, path: Path, reason: str):
        super().__init__(f"{path} cannot be read as an image ({reason})")
        self.path, self.reason = Path(path), reason


def resize_images(images: Tensor, size: tuple[int, int], resize_filter: str) -> Tensor:
    """Float images ``[B, 3, h, w]`` in [-1, 1] to ``size`` with the protocol's filter (antialiased as PIL)."""
    if tuple(images.shape[-2:]) == tuple(size):
        return images
    if resize_filter == "nearest":
        return F.interpolate(images, size=size, mode="nearest")
    out = F.interpolate(images, size=size, mode=resize_filter, align_corners=False, antialias=True)
    return out.clamp(-1, 1)


def _as_float_image(image: Tensor, stem: str) -> Tensor:
    if image.dim() != 3 or image.shape[0] != 3:
        raise ValueError(f"generated image {stem!r} has shape {tuple(image.shape)}, expected [3, H, W]")
    return image.float() / 127.5 - 1 if image.dtype == torch.uint8 else image.float()


def image_lookup(generated: ImageSource) -> tuple[Callable[[str], Tensor], set[str]]:
    """``(get(stem) -> image, stems)`` for a directory or an iterable of ``(stem, image)``."""
    if isinstance(generated, (str, os.PathLike)):
        root = Path(generated)
        if not root.is_dir():
            raise FileNotFoundError(f"generated image directory {root} does not exist")
        files: dict[str, Path] = {}
        for path in sorted(root.iterdir()):
            if path.suffix.lower() in IMAGE_EXTENSIONS:
                if path.stem in files:
                    raise ValueError(f"{root} holds two images with stem {path.stem!r}: "
                                     f"{files[path.stem].name}, {path.name}")
                files[path.stem] = path

        def read(stem: str) -> Tensor:
            try:
                return load_image(files[stem])
            except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as exc:
                # PIL: UnidentifiedImageError (not an image), "image file is truncated", a broken PNG chunk
                raise UnreadableImage(files[stem], f"{type(exc).__name__}: {exc}") from exc

        return read, set(files)
    images = {}
    for stem, image in generated:
        if stem in images:
            raise ValueError(f"the generated images hold stem {stem!r} twice")
        images[stem] = image.detach().cpu()
    return (lambda stem: _as_float_image(images[stem], stem)), set(images)


def _expected_size(size: tuple[int, ...], label_size: tuple[int, ...], resolution: tuple[int, ...]) -> bool:
    """Whether a generated image of ``size`` (H, W) may be scored: at its label map's size (what a method
    generates; the protocol resizes it), at the protocol's ``resolution``, or larger than it at its aspect
    ratio (an official repository's output, downscaled). A smaller image of another size would be upscaled and
    scored as if it were a full-resolution result."""
    if size in (tuple(label_size), tuple(resolution)):
        return True
    (h, w), (rh, rw) = size, resolution
    return h >= rh and w >= rw and abs(w / h - rw / rh) <= 0.01 * rw / rh


def _stem(sample: Mapping[str, Any], index: int) -> str:
    path = sample.get("path")
    return Path(path).stem if path else f"{index:06d}"


def _sample_digest(sample: Mapping[str, Any]) -> bytes:
    """Content hash of one real sample: its image file's bytes, else its pixels."""
    path = sample.get("path")
    h = hashlib.sha256()
    if path and Path(path).is_file():
        h.update(Path(path).read_bytes())
    else:
        h.update(to_uint8(sample["image"]).numpy().tobytes())
    return h.digest()


def metric_library_versions() -> dict[str, str | None]:
    """Versions of the libraries a metric value depends on (None: not installed)."""
    out: dict[str, str | None] = {"python": platform.python_version()}
    for dist in ("torch", "torchvision", "torch-fidelity", "numpy", "scipy", "mmsegmentation", "mmcv", "sisbench"):
        try:
            out[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            out[dist] = None
    out["torch"] = torch.__version__
    return out


def _fd(generated: Tensor, reference: Tensor) -> float:
    """The Frechet distance FID and FD-seg report (reference statistics first, as the metrics)."""
    return frechet_distance(*feature_statistics(reference), *feature_statistics(generated))


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def hardware(device: torch.device | str) -> dict[str, Any]:
    """Where the numbers were computed: ``{"cpu", "gpu", "threads", "device", "platform"}`` (the shape of
    the run manifest's ``hardware``)."""
    device = torch.device(device)
    gpu = torch.cuda.get_device_name(device) if device.type == "cuda" and torch.cuda.is_available() else None
    return {"cpu": _cpu_model(), "gpu": gpu, "threads": torch.get_num_threads(), "device": str(device),
            "platform": platform.platform()}


class _Extractors:
    """The segmenter and Inception network a protocol needs, and why any is unavailable.

    ``strict``: a missing network the protocol cannot do without raises (evaluation); otherwise it is
    recorded in ``unavailable`` (throughput measurements).
    """

    def __init__(self, protocol: Protocol, metric_names: list[str], *, num_classes: int,
                 data_cfg: Mapping[str, Any], device: torch.device, cache_dir: Path,
                 inception_weights: str | os.PathLike | None, segmenter_checkpoint: str | os.PathLike | None,
                 segmenter: Segmenter | None, strict: bool = True, diversity: DiversitySamples | str | None = None,
                 lpips_weights: str | os.PathLike | None = None):
        self.metric_names = list(metric_names)
        self.unavailable: dict[str, str] = {}
        self.lpips = None
        self.lpips_record: dict[str, Any] | None = None
        self.diversity = diversity if isinstance(diversity, DiversitySamples) else None
        self.fallback: dict[str, str] | None = None
        self.inception = None
        self.inception_record: dict[str, Any] | None = None
        requires = {name: METRICS.get(name).requires for name in self.metric_names}
        if protocol.fid_extractor and any(INCEPTION in r for r in requires.values()):
            try:
                self.inception, self.inception_record = load_inception(
                    inception_weights or protocol.inception_weights, device=device)
            except WeightsUnavailable as exc:
                if protocol.fallback_extractor == "fd-seg":
                    self.fallback = {"extractor": "fd-seg", "reported_as": "FD-seg", "reason": str(exc)}
                    if "fd_seg" not in self.metric_names:
                        self.metric_names.append("fd_seg")
                elif strict:
                    raise
                self._mark(requires, INCEPTION, str(exc))
        elif not protocol.fid_extractor:
            self._mark(requires, INCEPTION, f"protocol {protocol.id} has no FID extractor")
        self.segmenter = segmenter
        if self.segmenter is None and self.needs(SEGMENTER):
            if protocol.segmenter is None:
                raise ValueError(f"protocol {protocol.id} lists segmenter metrics but names no segmenter")
            try:
                self.segmenter = build_segmenter(protocol.segmenter, num_classes=num_classes, data_cfg=data_cfg,
                                                 checkpoint=segmenter_checkpoint, cache_dir=cache_dir,
                                                 device=device)
            except WeightsUnavailable as exc:
                if strict:
                    raise
                self._mark({n: METRICS.get(n).requires for n in self.metric_names}, SEGMENTER, str(exc))
        if self.segmenter is not None:
            self.segmenter = self.segmenter.eval().to(device)
        # LPIPS diversity is optional: any reason it cannot be measured is recorded, never raised
        if any(DIVERSITY in r for r in requires.values()):
            if isinstance(diversity, str):
                self._mark(requires, DIVERSITY, diversity)
            elif diversity is None:
                self._mark(requires, DIVERSITY, "no samples per label map were given (`run` and `evaluate "
                                                "--checkpoint` generate them for a multimodal method)")
            else:
                try:
                    self.lpips, self.lpips_record = load_lpips(protocol.lpips_backbone, lpips_weights,
                                                               device=device)
                except WeightsUnavailable as exc:
                    self._mark(requires, DIVERSITY, str(exc))

    def _mark(self, requires: Mapping[str, tuple[str, ...]], extractor: str, reason: str) -> None:
        for name, req in requires.items():
            if extractor in req:
                self.unavailable[name] = reason

    @property
    def active(self) -> list[str]:
        return [n for n in self.metric_names if n not in self.unavailable]

    def needs(self, extractor: str) -> bool:
        return any(extractor in METRICS.get(n).requires for n in self.active)


def evaluate(protocol: str | Protocol, *, generated: ImageSource, data_cfg: Mapping[str, Any],
             device: torch.device | str = "cpu", cache_dir: str | os.PathLike | None = None, seed: int = 0,
             inception_weights: str | os.PathLike | None = None,
             segmenter_checkpoint: str | os.PathLike | None = None, num_images: int | None = None,
             batch_size: int = 16, out_path: str | os.PathLike | None = None,
             segmenter: Segmenter | None = None, resamples: int = DEFAULT_RESAMPLES,
             progress: bool | None = None, diversity: DiversitySamples | str | None = None,
             lpips_weights: str | os.PathLike | None = None) -> dict[str, Any]:
    """Evaluate generated images under ``protocol``; returns ``{"metrics": {...}, "provenance": {...},
    "hardware": {...}, "ci95": {...}, "ci95_interval": {...}, "ci95_method": str}``.

    ``generated``: a directory of ``<stem>.png`` whose stems match the evaluation split's sample file
    stems, or an iterable of ``(stem, image)``. ``num_images`` overrides the protocol's count (recorded:
    such numbers are not the protocol's). ``cache_dir`` holds reference features and trained segmenters
    (default ``results/cache``). ``segmenter`` replaces the protocol's network (tests, benchmarks).
    With ``out_path`` the result is also written there as JSON (atomically). ``resamples``: bootstrap
    resamples of the 95% intervals (:mod:`metrics.bootstrap`; 0: none). ``progress``: a tqdm bar with the
    ETA on stderr (None: on a terminal only). ``diversity``: K samples per label map for LPIPS diversity
    (:class:`~metrics.diversity.DiversitySamples`), or the sentence why there are none (``"n/a: ..."`` for a
    method with one image per map); ``lpips_weights``: a local LPIPS backbone file. What could not be
    measured is listed under ``not_measured`` (metric key -> sentence).
    """
    lookup, stems = image_lookup(generated)
    return _run(get_protocol(protocol), lookup=lookup, stems=stems, data_cfg=data_cfg, device=device,
                cache_dir=cache_dir, seed=seed, inception_weights=inception_weights,
                segmenter_checkpoint=segmenter_checkpoint, num_images=num_images, batch_size=batch_size,
                out_path=out_path, segmenter=segmenter, oracle=False, resamples=resamples, progress=progress,
                diversity=diversity, lpips_weights=lpips_weights)


def evaluate_real(protocol: str | Protocol, *, data_cfg: Mapping[str, Any], device: torch.device | str = "cpu",
                  cache_dir: str | os.PathLike | None = None, seed: int = 0,
                  inception_weights: str | os.PathLike | None = None,
                  segmenter_checkpoint: str | os.PathLike | None = None, num_images: int | None = None,
                  batch_size: int = 16, out_path: str | os.PathLike | None = None,
                  segmenter: Segmenter | None = None, resamples: int = DEFAULT_RESAMPLES,
                  progress: bool | None = None) -> dict[str, Any]:
    """The oracle row: the real evaluation images evaluated exactly as generated ones would be.

    Where the reference set is the evaluation split itself, the oracle's FID / FD-seg are ~0 by
    construction; its segmentation scores are the ceiling a generator can reach under the protocol.
    """
    return _run(get_protocol(protocol), lookup=None, stems=None, data_cfg=data_cfg, device=device,
                cache_dir=cache_dir, seed=seed, inception_weights=inception_weights,
                segmenter_checkpoint=segmenter_checkpoint, num_images=num_images, batch_size=batch_size,
                out_path=out_path, segmenter=segmenter, oracle=True, resamples=resamples, progress=progress,
                diversity="n/a: the real images hold one image per label map")


def _run(protocol: Protocol, *, lookup: Callable[[str], Tensor] | None, stems: set[str] | None,
         data_cfg: Mapping[str, Any], device: torch.device | str, cache_dir: str | os.PathLike | None, seed: int,
         inception_weights: str | os.PathLike | None, segmenter_checkpoint: str | os.PathLike | None,
         num_images: int | None, batch_size: int, out_path: str | os.PathLike | None,
         segmenter: Segmenter | None, oracle: bool, resamples: int = DEFAULT_RESAMPLES,
         progress: bool | None = None, diversity: DiversitySamples | str | None = None,
         lpips_weights: str | os.PathLike | None = None) -> dict[str, Any]:
    from benchmark.datasets import build_dataset

    start = time.time()
    device = torch.device(device)
    cache_dir = Path(cache_dir) if cache_dir is not None else cache_root()
    torch.manual_seed(seed)
    info, mapping = _dataset_and_mapping(protocol, data_cfg)
    num_classes = mapping.num_classes or info.num_classes
    resolution = tuple(protocol.resolution or info.image_size)
    unknown = [m for m in protocol.metrics if m not in METRICS]
    if unknown:
        raise ValueError(f"protocol {protocol.id} lists unknown metrics {unknown}; registered: {METRICS.names()}")
    eval_set = build_dataset(data_cfg, protocol.split, train=False)
    limit = num_images if num_images is not None else protocol.num_images
    n = len(eval_set) if limit is None else min(limit, len(eval_set))
    if n < 2:
        if limit is not None and limit < 2 and len(eval_set) >= 2:
            raise EvaluationInputError(f"--num-images {limit}: the metrics need at least 2 evaluation images; give "
                                       f"--num-images 2 or more (the {protocol.split} split of {info.name} holds "
                                       f"{len(eval_set)})")
        raise EvaluationInputError(f"the {protocol.split} split of {info.name} holds {len(eval_set)} images; the "
                                   f"metrics need at least 2")

    ex = _Extractors(protocol, list(protocol.metrics), num_classes=num_classes, data_cfg=data_cfg, device=device,
                     cache_dir=cache_dir, inception_weights=inception_weights,
                     segmenter_checkpoint=segmenter_checkpoint, segmenter=segmenter, diversity=diversity,
                     lpips_weights=lpips_weights)

    confusion = ConfusionMatrix(num_classes, IGNORE_INDEX, device=device) if ex.needs(SEGMENTER) else None
    per_image = PerImageCounts(num_classes, IGNORE_INDEX) if confusion is not None else None
    bar = tqdm(total=n, desc=f"evaluate {protocol.id}", unit="img", file=sys.stderr,
               disable=None if progress is None else not progress)
    texture = TextureCounts(num_classes) if ex.needs(TEXTURE) else None
    gen_feats: dict[str, list[Tensor]] = {INCEPTION: [], SEGMENTER: []}
    fingerprint = hashlib.sha256()
    missing: list[str] = []
    unreadable: list[UnreadableImage] = []
    wrong_size: list[tuple[str, tuple[int, ...], tuple[int, ...]]] = []  # (stem, size, label maps' size)
    used: set[str] = set()
    resized = 0
    for lo in range(0, n, batch_size):
        samples = [eval_set[i] for i in range(lo, min(lo + batch_size, n))]
        images, labels, reals = [], [], []
        for offset, sample in enumerate(samples):
            stem = _stem(sample, lo + offset)
            fingerprint.update(_sample_digest(sample))
            if lookup is None:
                image = sample["image"].float()
            elif stem not in stems:
                missing.append(stem)
                continue
            else:
                try:
                    image = lookup(stem)
                except UnreadableImage as exc:
                    unreadable.append(exc)
                    continue
                used.add(stem)
                size, label_size = tuple(image.shape[-2:]), tuple(sample["label"].shape[-2:])
                if not _expected_size(size, label_size, resolution):
                    wrong_size.append((stem, size, label_size))
                    continue
            if tuple(image.shape[-2:]) != resolution:
                resized += 1
                image = resize_images(image[None], resolution, protocol.resize_filter)[0]
            images.append(image)
            labels.append(mapping.apply(sample["label"], info.ignore_index))
            if texture is not None:
                reals.append(resize_images(sample["image"].float()[None], resolution, protocol.resize_filter)[0])
        if missing or unreadable or wrong_size or not images:  # refused below: no network work from here on
            continue
        batch = torch.stack(images).to(device)
        target = torch.stack([resize_labels(lab, batch.shape[-2:]) for lab in labels])
        if ex.needs(SEGMENTER):
            pred, feats = ex.segmenter.predict_with_features(batch)
            target = target.to(device)
            confusion.update(pred, target)  # checks the ids first
            per_image.update(pred, target)
            gen_feats[SEGMENTER].append(feats.float().cpu())
        if ex.needs(INCEPTION):
            gen_feats[INCEPTION].append(inception_features(ex.inception, to_uint8(batch)))
        if texture is not None:
            # both sides as 8-bit images: the generated ones are read back from PNGs
            texture.update(to_uint8(batch.cpu()), to_uint8(torch.stack(reals)), target)
        bar.update(len(images))
    bar.close()
    if unreadable:
        shown = "; ".join(f"{e.path.name} ({e.reason})" for e in unreadable[:LISTED_FILES])
        more = f" and {len(unreadable) - LISTED_FILES} more" if len(unreadable) > LISTED_FILES else ""
        raise EvaluationInputError(f"{len(unreadable)} generated image file{'s' if len(unreadable) > 1 else ''} in "
                                   f"{unreadable[0].path.parent} cannot be read: {shown}{more}; generate them again "
                                   f"(or remove the folder and rerun)")
    if wrong_size:
        def fmt(hw: tuple[int, ...]) -> str:
            return " x ".join(str(v) for v in hw)

        label_sizes = sorted({fmt(ls) for _, _, ls in wrong_size})
        shown = ", ".join(f"{stem} ({fmt(size)})" for stem, size, _ in wrong_size[:LISTED_FILES])
        more = f" and {len(wrong_size) - LISTED_FILES} more" if len(wrong_size) > LISTED_FILES else ""
        raise EvaluationInputError(
            f"{len(wrong_size)} of {n} generated images have a size other than the expected "
            f"{' or '.join(label_sizes)} (H x W, the label maps') or {fmt(resolution)} (protocol {protocol.id}'s "
            f"resolution, or larger at its aspect ratio): {shown}{more}; generate them at the label maps' size "
            f"instead of rescaling them")
    if missing:
        raise FileNotFoundError(f"{len(missing)} of {n} evaluation images have no generated image with the same "
                                f"file stem (first: {', '.join(missing[:5])}); generate the whole "
                                f"'{protocol.split}' split")

    state = EvalState(protocol=protocol, seed=seed, confusion=confusion)
    state.features = {k: torch.cat(v) for k, v in gen_feats.items() if v}
    if texture is not None:
        state.features[TEXTURE] = texture.counts()
        state.features[CHECKERBOARD_FEATURES] = texture.checkerboard()
    if ex.needs(DIVERSITY):
        state.features[DIVERSITY] = per_map_lpips(ex.lpips, ex.diversity, device=device, progress=progress)
    reference_record: dict[str, Any] = {}
    extractors: dict[str, Callable[[Tensor], Tensor]] = {}
    if INCEPTION in state.features:
        extractors[INCEPTION] = lambda b: inception_features(ex.inception, to_uint8(b))
    if SEGMENTER in state.features:
        extractors[SEGMENTER] = lambda b: ex.segmenter.features(b).float().cpu()
    if extractors:
        same_split = protocol.reference_split == protocol.split
        ref_set = eval_set if same_split else build_dataset(data_cfg, protocol.reference_split, train=False)
        n_ref = n if same_split else (len(ref_set) if num_images is None else min(num_images, len(ref_set)))
        if same_split:
            ref_digest = fingerprint.hexdigest()
        else:
            h = hashlib.sha256()
            for i in range(n_ref):
                h.update(_sample_digest(ref_set[i]))
            ref_digest = h.hexdigest()
        cache = FeatureCache(cache_dir)
        for name, extract in extractors.items():
            weights = (ex.inception_record or {}).get("weights_sha256") if name == INCEPTION \
                else ex.segmenter.checkpoint_hash
            key = {"protocol": protocol.id, "version": protocol.version, "dataset": info.name,
                   "split": protocol.reference_split, "num_images": n_ref, "files_sha256": ref_digest,
                   "extractor": name, "weights_sha256": weights, "resolution": list(resolution),
                   "resize_filter": protocol.resize_filter}
            if name == SEGMENTER and weights is None:
                # random weights (tests): nothing identifies them across processes, so no caching
                feats, hit = _reference_features(ref_set, n_ref, resolution, protocol.resize_filter, extract,
                                                 batch_size, device), False
                path = None
            else:
                feats, hit = cache.get_or_compute(key, lambda ex_=extract: _reference_features(
                    ref_set, n_ref, resolution, protocol.resize_filter, ex_, batch_size, device))
                path = str(cache.path(key))
            state.reference[name] = feats
            reference_record[name] = {"split": protocol.reference_split, "num_images": n_ref,
                                      "files_sha256": ref_digest, "cache": path, "cache_hit": hit}

    metrics: dict[str, Any] = {}
    for name in ex.active:
        metrics.update(METRICS.get(name)().compute(state))

    paired = protocol.reference_split == protocol.split  # then the reference rows are the same images
    fd_features = {key: (state.features[ext], state.reference[ext], paired)
                   for key, ext in ((KEY_FD_SEG, SEGMENTER), (KEY_FID, INCEPTION))
                   if ext in state.features and ext in state.reference}
    per_item = {KEY_LPIPS: state.features[DIVERSITY]} if DIVERSITY in state.features else {}
    per_image_totals = {} if TEXTURE not in state.features else {
        KEY_TEXTURE: (state.features[TEXTURE], texture_from_totals),
        KEY_TEXTURE_MAX: (state.features[TEXTURE], texture_max_from_totals),
        KEY_CHECKERBOARD: (state.features[CHECKERBOARD_FEATURES], checkerboard_from_totals)}
    if resamples > 0:
        intervals = bootstrap_ci95(num_images=n, counts=None if per_image is None else per_image.counts(),
                                   averaging=protocol.averaging, fd_features=fd_features, metrics=metrics,
                                   distance=_fd, resamples=resamples, seed=seed, per_item=per_item,
                                   per_image_totals=per_image_totals)
    else:
        intervals = {"ci95": {}, "ci95_interval": {}, "ci95_method": "not bootstrapped (resamples=0)"}
    seg_pin = None if ex.segmenter is None else (ex.segmenter.pin or {})
    if ex.inception_record is not None and not ex.inception_record["official_weights"]:
        # not torch-fidelity's file: these numbers must never sit in an FID column
        rename = {k: k + UNOFFICIAL_SUFFIX for name in ex.active if INCEPTION in METRICS.get(name).requires
                  for k in METRICS.get(name).keys}
        metrics = {rename.get(k, k): v for k, v in metrics.items()}
        for part in ("ci95", "ci95_interval"):
            intervals[part] = {rename.get(k, k): v for k, v in intervals[part].items()}

    provenance = {
        "protocol_id": protocol.id, "protocol_version": protocol.version, "protocol": protocol.to_dict(),
        "oracle": oracle, "dataset": info.name, "split": protocol.split, "num_images": n,
        "protocol_num_images": protocol.num_images,
        "num_images_overridden": num_images is not None and num_images != protocol.num_images,
        "resolution": list(resolution), "resize_filter": protocol.resize_filter, "images_resized": resized,
        "generated_images_unused": 0 if stems is None else len(stems - used),
        "label_mapping": mapping.name, "num_classes": num_classes, "seed": seed,
        "metrics_computed": ex.active, "metrics_unavailable": ex.unavailable,
        "fid_extractor": protocol.fid_extractor if ex.inception is not None else None,
        "fallback": ex.fallback, "inception": ex.inception_record,
        "diversity": None if ex.lpips_record is None else {
            **ex.lpips_record, "samples_per_map": protocol.lpips_samples, "maps": len(ex.diversity.stems),
            "pairs": "all pairs of each map's samples", "directory": str(ex.diversity.directory)},
        "texture_per_class": None if TEXTURE not in state.features else {
            str(c): round(r, 4) for c, r in per_class_ratios(state.features[TEXTURE]).items()},
        "segmenter": None if ex.segmenter is None else {
            **(protocol.segmenter.to_dict() if protocol.segmenter and segmenter is None else {"kind": "given"}),
            **ex.segmenter.describe()},
        # keys the tables match rows on (with protocol_id, protocol_version, num_images_overridden)
        "segmenter_sha256": None if ex.segmenter is None else ex.segmenter.checkpoint_hash,
        "segmenter_pinned_sha256": None if seg_pin is None else seg_pin.get("sha256"),
        "segmenter_checkpoint": None if seg_pin is None else seg_pin.get("checkpoint"),
        "segmenter_override": bool(seg_pin and seg_pin.get("override")),
        "inception_official": None if ex.inception_record is None else ex.inception_record["official_weights"],
        "reference": reference_record, "versions": metric_library_versions(), "device": str(device),
        "seconds": round(time.time() - start, 2),
    }
    not_measured = {key: reason for name, reason in ex.unavailable.items() for key in METRICS.get(name).keys
                    if name in protocol.metrics}
    result = {"metrics": metrics, "provenance": provenance, "hardware": hardware(device), **intervals,
              "not_measured": not_measured}
    if out_path is not None:
        atomic_write_json(out_path, result)
    return result


@torch.no_grad()
def _reference_features(dataset: Any, n: int, resolution: tuple[int, int], resize_filter: str,
                        extract: Callable[[Tensor], Tensor], batch_size: int, device: torch.device) -> Tensor:
    out = []
    for lo in range(0, n, batch_size):
        images = [dataset[i]["image"].float() for i in range(lo, min(lo + batch_size, n))]
        batch = torch.stack([resize_images(im[None], resolution, resize_filter)[0] for im in images])
        # the generated side is read back from 8-bit PNGs: quantise the real side the same way
        batch = to_uint8(batch).float() / 127.5 - 1
        out.append(extract(batch.to(device)))
    return torch.cat(out)


def _dataset_and_mapping(protocol: Protocol, data_cfg: Mapping[str, Any]) -> tuple[Any, Any]:
    """The dataset's DataInfo and the protocol's label mapping, refusing a protocol of another dataset."""
    from benchmark.datasets import dataset_info

    info = dataset_info(data_cfg)
    if info.name != protocol.dataset:
        raise ProtocolError(f"protocol {protocol.id} is for dataset {protocol.dataset!r}, not {info.name!r}; "
                            f"pick a {info.name} protocol (see `python -m benchmark list`)")
    mapping = get_label_mapping(protocol.label_mapping)
    mapping.check(info.num_classes)
    return info, mapping


def preflight(protocol: str | Protocol, *, data_cfg: Mapping[str, Any], device: torch.device | str = "cpu",
              cache_dir: str | os.PathLike | None = None, inception_weights: str | os.PathLike | None = None,
              segmenter_checkpoint: str | os.PathLike | None = None) -> dict[str, Any]:
    """Make sure ``protocol`` can score ``data_cfg``'s images before anything is trained: the dataset matches,
    the segmenter loads (a ``trained`` one with ``auto_train`` is trained now) and the Inception weights load
    or the protocol's fallback applies. Raises the same one-sentence errors :func:`evaluate` would."""

    protocol = get_protocol(protocol)
    info, mapping = _dataset_and_mapping(protocol, data_cfg)
    ex = _Extractors(protocol, list(protocol.metrics), num_classes=mapping.num_classes or info.num_classes,
                     data_cfg=data_cfg, device=torch.device(device),
                     cache_dir=Path(cache_dir) if cache_dir is not None else cache_root(),
                     inception_weights=inception_weights, segmenter_checkpoint=segmenter_checkpoint, segmenter=None)
    return {"protocol": protocol.id, "metrics": ex.active, "fallback": ex.fallback,
            "segmenter_sha256": None if ex.segmenter is None else ex.segmenter.checkpoint_hash}


def metric_throughput(protocol: str | Protocol, *, data_cfg: Mapping[str, Any], device: torch.device | str = "cpu",
                      cache_dir: str | os.PathLike | None = None, batch_size: int = 8, num_batches: int = 3,
                      inception_weights: str | os.PathLike | None = None,
                      segmenter_checkpoint: str | os.PathLike | None = None,
                      segmenter: Segmenter | None = None) -> dict[str, Any]:
    """Images per second of each of the protocol's metrics (its feature extractor's forward pass on random
    images at the protocol's resolution; the first batch warms up and is not timed).

    Returns ``{"images_per_second": {metric: float}, "unavailable": {metric: reason}, "device": ...}``.
    """
    from benchmark.datasets import dataset_info

    protocol = get_protocol(protocol)
    device = torch.device(device)
    info = dataset_info(data_cfg)
    mapping = get_label_mapping(protocol.label_mapping)
    ex = _Extractors(protocol, list(protocol.metrics), num_classes=mapping.num_classes or info.num_classes,
                     data_cfg=data_cfg, device=device,
                     cache_dir=Path(cache_dir) if cache_dir is not None else cache_root(),
                     inception_weights=inception_weights, segmenter_checkpoint=segmenter_checkpoint,
                     segmenter=segmenter, strict=False)
    resolution = tuple(protocol.resolution or info.image_size)
    gen = torch.Generator().manual_seed(0)
    batch = (torch.rand(batch_size, 3, *resolution, generator=gen) * 2 - 1).to(device)
    runs = {INCEPTION: (lambda: inception_features(ex.inception, to_uint8(batch))) if ex.needs(INCEPTION) else None,
            SEGMENTER: (lambda: ex.segmenter.predict_with_features(batch)) if ex.needs(SEGMENTER) else None}
    speed: dict[str, float] = {}
    for name, fn in runs.items():
        if fn is None:
            continue
        fn()
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        t = time.perf_counter()
        for _ in range(num_batches):
            fn()
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        speed[name] = batch_size * num_batches / (time.perf_counter() - t)
    per_metric = {m: speed[r] for m in ex.active for r in METRICS.get(m).requires if r in speed}
    return {"images_per_second": per_metric, "unavailable": ex.unavailable, "device": str(device),
            "batch_size": batch_size, "resolution": list(resolution)}
