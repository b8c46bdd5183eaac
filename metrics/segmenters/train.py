"""SISBench's own segmenter: the built-in DeepLabV3 at a small depth, trained on a dataset's real images.

For datasets without a public segmenter (the embedded ``synthetic`` set, CelebAMask-HQ, custom folders)
the segmentation score needs a network trained on the real training images. :func:`train_segmenter`
trains one (cross-entropy with the ignore index, auxiliary FCN head at weight 0.4 as mmseg, AdamW or SGD
with mmseg's poly learning-rate decay), measures its mIoU on the real validation images (the oracle
mIoU), and writes ``segmenter.safetensors`` beside ``segmenter.json`` (dataset, data config, model and
training config, sha256 of the weights, val mIoU). Both are written atomically; a finished segmenter for
the same data config and training config is reused, never retrained.

Decisions:

- **Shipped, not trained at first use** (``synthetic-v1``): a network trained on each machine differs per
  machine (CPU kernels and thread counts change the float order), so two users' numbers would not be
  comparable, and training took 16 minutes on a 2-core machine. The protocol's network ships inside the
  package (``metrics/segmenters/weights/<name>/``, spec ``checkpoint="builtin:<name>"``) and is pinned by
  sha256 in the protocol. The shipped form is :func:`export_segmenter`'s: the auxiliary head dropped
  (training only) and the weights stored as float16 (half the bytes; loaded back to float32). Its oracle
  mIoU and its agreement with the float32 network are recorded in its ``segmenter.json``.
- ``segmenter train`` still trains the protocol's network from scratch and
  :func:`compare_with_shipped` says how close the copy is (sha256 of the exported copy, else the val
  mIoU of both and the pixel agreement of their predictions on the val split).
- **Pins**: a file other than the protocol's pinned one is refused unless ``--segmenter-checkpoint`` names
  it; then the row records it (``Segmenter.pin``). A ``*-trained-*`` protocol, whose network each user
  trains, is pinned on first use: ``<cache>/segmenters/pins.json`` records the sha256 of the first
  segmenter evaluation loaded for a data + training config, and a different file found there later (a
  retraining) is refused the same way.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, Dataset
from tqdm import tqdm

from benchmark.io import atomic_path, atomic_write_json
from metrics.base import WeightsUnavailable, sha256_file
from metrics.segmentation import IGNORE_INDEX, ConfusionMatrix
from metrics.segmenters import SegmenterSpec
from metrics.segmenters.deeplabv3 import DeepLabV3Config, DeepLabV3Segmenter, read_checkpoint

WEIGHTS_FILE = "segmenter.safetensors"
RECORD_FILE = "segmenter.json"
PINS_FILE = "pins.json"
#: ``SegmenterSpec.checkpoint`` prefix of a network shipped inside the package
BUILTIN_PREFIX = "builtin:"
SHIPPED_DIR = Path(__file__).resolve().parent / "weights"


@dataclass(frozen=True)
class SegmenterTraining:
    """Model size and optimisation of a trained segmenter.

    The defaults are tuned for ``synthetic`` at 64 px: measured val mIoU 0.827 (accu 0.941) after 600
    iterations, 442 s on 2 shared CPU cores with ``OMP_NUM_THREADS=1`` (0.43 s/iteration unloaded).
    """

    iters: int = 600
    batch_size: int = 16
    depth: int = 18
    stem_channels: int = 32
    base_channels: int = 16
    head_channels: int = 64
    aux_channels: int = 32
    #: 4 (stages strides 1, 1, 1, 1) or 8 (mmseg's D8: 1, 2, 1, 1); 64-px images need 4 to keep borders
    output_stride: int = 4
    aspp_dilations: tuple[int, ...] = (1, 2, 4, 6)
    optimizer: str = "adamw"
    #: AdamW at 1e-2 collapses small models onto the majority class; 3e-3 does not
    lr: float = 3e-3
    weight_decay: float = 1e-4
    aux_weight: float = 0.4
    seed: int = 0
    #: train on random ``crop`` x ``crop`` windows of the training images (None: the images as loaded);
    #: evaluation always sees whole images (the network is fully convolutional)
    crop: int | None = None

    def model_config(self, num_classes: int) -> DeepLabV3Config:
        if self.output_stride not in (4, 8):
            raise ValueError(f"output_stride must be 4 or 8, got {self.output_stride}")
        return DeepLabV3Config(
            num_classes=num_classes, depth=self.depth, stem_channels=self.stem_channels,
            base_channels=self.base_channels, strides=(1, 1, 1, 1) if self.output_stride == 4 else (1, 2, 1, 1),
            dilations=(1, 1, 2, 4), head_channels=self.head_channels, aspp_dilations=tuple(self.aspp_dilations),
            aux_head=self.aux_weight > 0, aux_channels=self.aux_channels)

    def to_dict(self) -> dict[str, Any]:
        # ``crop`` is left out at None: segmenters trained before the option keep their folder (hash)
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()
                if not (k == "crop" and v is None)}


#: below this real-image val mIoU (percent) a segmenter is too weak to rank methods: it gets most of an
#: average class wrong on the real photos themselves, so a method's mIoU mostly measures the segmenter's
#: mistakes (the papers' segmenters score 60-80 on real images; SISBench's synthetic-v1 one 82.6)
WEAK_ORACLE_MIOU = 50.0
#: file beside the segmenter folders that says which segmenter a protocol uses for a dataset
CHOICE_SUFFIX = ".current.json"


def oracle_warning(val_miou: float) -> str | None:
    """One sentence when a segmenter's real-image val mIoU (a fraction) is too weak to rank methods."""
    if 100 * val_miou >= WEAK_ORACLE_MIOU:
        return None
    return (f"warning: this segmenter scores {100 * val_miou:.1f} mIoU on the real validation images, below "
            f"{WEAK_ORACLE_MIOU:.0f}, so differences between methods mostly measure its own mistakes and do not "
            f"rank them; train it longer (--iters) or on more images before comparing methods")


def _hash_json(obj: Any) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()


def segmenter_dir(out_dir: str | os.PathLike, data_cfg: Mapping[str, Any], training: SegmenterTraining) -> Path:
    """Where the segmenter of ``data_cfg`` trained with ``training`` lives: keyed by both configs' hash."""
    data = {k: v for k, v in dict(data_cfg).items() if not (k == "name" and v is None)}  # folders as before
    key = _hash_json({"data": data, "training": training.to_dict()})[:16]
    return Path(out_dir) / f"{data_cfg.get('type', 'dataset')}-{key}"


def _poly_lr(base: float, it: int, total: int, power: float = 0.9, min_lr: float = 1e-4) -> float:
    # mmseg's PolyLR with eta_min 1e-4 (as its schedules), relative to the base rate
    return (base - base * min_lr) * (1 - it / total) ** power + base * min_lr


def evaluate_segmenter(segmenter: DeepLabV3Segmenter, dataset: Dataset, *, ignore_index: int | None,
                       batch_size: int = 32, device: torch.device | str = "cpu") -> dict[str, Any]:
    """mIoU / accuracy of ``segmenter`` on a dataset's real images (its own label ids)."""
    cm = ConfusionMatrix(segmenter.num_classes, IGNORE_INDEX, device=device)
    segmenter.eval()
    for batch in DataLoader(dataset, batch_size=batch_size, shuffle=False, num_workers=0):
        labels = batch["label"].to(device)
        if ignore_index is not None:
            labels = torch.where(labels == ignore_index, torch.full_like(labels, IGNORE_INDEX), labels)
        cm.update(segmenter.predict(batch["image"].to(device)), labels)
    return cm.compute()


def effective_batch_size(training: SegmenterTraining, num_images: int) -> int:
    """The batch a segmenter trains with: the configured one, capped at the training split's size."""
    return max(1, min(training.batch_size, num_images))


def random_crop(images: torch.Tensor, labels: torch.Tensor, size: int,
                generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """One random ``size`` x ``size`` window of a batch (the same for every image; a side shorter than
    ``size`` is kept whole)."""
    h, w = images.shape[-2:]
    ch, cw = min(size, h), min(size, w)
    top = int(torch.randint(0, h - ch + 1, (1,), generator=generator))
    left = int(torch.randint(0, w - cw + 1, (1,), generator=generator))
    return images[..., top:top + ch, left:left + cw], labels[..., top:top + ch, left:left + cw]


def fit_segmenter(train_set: Dataset, num_classes: int, ignore_index: int | None, training: SegmenterTraining,
                  *, device: torch.device | str = "cpu", log_every: int = 0,
                  progress: bool = False) -> DeepLabV3Segmenter:
    """Train a small DeepLabV3 on ``train_set`` (samples with ``image`` in [-1, 1] and ``label``).

    ``progress``: a tqdm bar with the ETA (on stderr); ``log_every``: also print the loss every N iterations.
    """
    torch.manual_seed(training.seed)
    segmenter = DeepLabV3Segmenter(training.model_config(num_classes), name="sisbench-deeplabv3").to(device)
    model = segmenter.model.train()
    params = [p for p in model.parameters() if p.requires_grad]
    if training.optimizer == "adamw":
        opt: torch.optim.Optimizer = torch.optim.AdamW(params, lr=training.lr, weight_decay=training.weight_decay)
    elif training.optimizer == "sgd":
        opt = torch.optim.SGD(params, lr=training.lr, momentum=0.9, weight_decay=training.weight_decay)
    else:
        raise ValueError(f"optimizer must be 'adamw' or 'sgd', got {training.optimizer!r}")
    if len(train_set) == 0:
        raise ValueError("the training split holds no images to train a segmenter on")
    batch_size = effective_batch_size(training, len(train_set))
    loader = DataLoader(train_set, batch_size=batch_size, shuffle=True, drop_last=True, num_workers=0,
                        generator=torch.Generator().manual_seed(training.seed))
    crop_rng = torch.Generator().manual_seed(training.seed + 1)
    it, epoch = 0, 0
    ignore = IGNORE_INDEX if ignore_index is None else ignore_index
    bar = tqdm(total=training.iters, desc="train segmenter", unit="it", file=sys.stderr, disable=not progress)
    while it < training.iters:
        if hasattr(train_set, "set_epoch"):
            train_set.set_epoch(epoch)
        for batch in loader:
            if it >= training.iters:
                break
            for group in opt.param_groups:
                group["lr"] = _poly_lr(training.lr, it, training.iters)
            images, labels = batch["image"], batch["label"]
            if training.crop is not None:
                images, labels = random_crop(images, labels, training.crop, crop_rng)
            x = segmenter.preprocess(images.to(device))
            y = labels.to(device)
            main, aux = model.forward_train(x)
            loss = F.cross_entropy(F.interpolate(main, size=y.shape[1:], mode="bilinear", align_corners=False),
                                   y, ignore_index=ignore)
            if aux is not None:
                loss = loss + training.aux_weight * F.cross_entropy(
                    F.interpolate(aux, size=y.shape[1:], mode="bilinear", align_corners=False), y,
                    ignore_index=ignore)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            it += 1
            bar.update()
            if log_every and it % log_every == 0:
                bar.set_postfix(loss=f"{loss.item():.4f}")
                if not progress:
                    print(f"segmenter iter {it}/{training.iters} loss {loss.item():.4f}", flush=True)
        epoch += 1
    bar.close()
    return segmenter.eval()


def train_segmenter(data_cfg: Mapping[str, Any], out_dir: str | os.PathLike, *,
                    training: SegmenterTraining | None = None, device: torch.device | str = "cpu",
                    log_every: int = 0, progress: bool = False, **overrides: Any) -> Path:
    """Train (or reuse) SISBench's segmenter for ``data_cfg``; returns the ``segmenter.safetensors`` path.

    ``training`` (or keyword ``overrides`` of its fields: ``iters``, ``batch_size``, ``depth``,
    ``base_channels``, ``seed``, ...) sets the model and optimisation. The result is reused when
    ``segmenter.json`` for the same data and training config exists.
    """
    from benchmark.datasets import build_dataset, dataset_info

    training = training or SegmenterTraining()
    if overrides:
        training = SegmenterTraining(**{**asdict(training), **overrides})
    folder = segmenter_dir(out_dir, data_cfg, training)
    weights = folder / WEIGHTS_FILE
    if (folder / RECORD_FILE).is_file() and weights.is_file():
        record = json.loads((folder / RECORD_FILE).read_text())
        if record.get("sha256") == sha256_file(weights):
            return weights
    info = dataset_info(data_cfg)
    start = time.time()
    train_set = build_dataset(data_cfg, "train")
    segmenter = fit_segmenter(train_set, info.num_classes, info.ignore_index, training,
                              device=device, log_every=log_every, progress=progress)
    seconds = time.time() - start
    val_split = "val"  # never the evaluation's test split (CelebAMask-HQ): the record is a val score
    val_set = build_dataset(data_cfg, val_split, train=False)
    oracle_reason = None
    if getattr(val_set, "has_photos", True):
        scores = evaluate_segmenter(segmenter, val_set, ignore_index=info.ignore_index, device=device)
    else:  # label maps without photos: nothing real to score the segmenter on
        scores = {"mIoU": None, "accu": None, "per_class_iou": None}
        oracle_reason = (f"split '{val_split}' holds label maps without photos; put its photos beside them to "
                         f"measure the oracle")
    from safetensors.torch import save_file

    with atomic_path(weights) as tmp:
        save_file({k: v.detach().cpu().contiguous() for k, v in segmenter.model.state_dict().items()}, str(tmp))
    atomic_write_json(folder / RECORD_FILE, {
        "dataset": info.name, "data_cfg": dict(data_cfg), "training": training.to_dict(),
        "model": segmenter.cfg.to_dict(), "sha256": sha256_file(weights), "val_split": val_split,
        "val_mIoU": scores["mIoU"], "val_accu": scores["accu"], "val_per_class_iou": scores["per_class_iou"],
        "train_seconds": round(seconds, 1), "device": str(device), "torch": torch.__version__,
        "train_images": len(train_set), "batch_size_used": effective_batch_size(training, len(train_set)),
        "oracle": {"val_mIoU": scores["mIoU"], "weak_below_mIoU": WEAK_ORACLE_MIOU / 100,
                   "too_weak_to_rank": None if scores["mIoU"] is None else 100 * scores["mIoU"] < WEAK_ORACLE_MIOU},
        "oracle_reason": oracle_reason})
    return weights


def load_trained_segmenter(weights: str | os.PathLike, *, sha256: str | None = None) -> DeepLabV3Segmenter:
    """A segmenter written by :func:`train_segmenter` or :func:`export_segmenter` (its ``segmenter.json``
    must sit beside it); float16 weights are loaded back into the float32 network."""
    weights = Path(weights)
    if not weights.is_file():
        raise WeightsUnavailable(f"segmenter checkpoint {weights} does not exist; pass a file written by "
                                 f"`python -m benchmark segmenter train` with --segmenter-checkpoint PATH")
    record_path = weights.with_name(RECORD_FILE)
    if not record_path.is_file():
        raise WeightsUnavailable(f"{weights} has no {RECORD_FILE} beside it (the model config lives there); "
                                 f"pass a checkpoint written by `segmenter train`")
    record = json.loads(record_path.read_text())
    digest = sha256_file(weights)
    if sha256 and not digest.startswith(sha256):
        raise WeightsUnavailable(f"{weights} has sha256 {digest[:12]}..., the protocol pins {sha256}")
    segmenter = DeepLabV3Segmenter(DeepLabV3Config.from_dict(record["model"]), checkpoint_hash=digest,
                                   name="sisbench-deeplabv3")
    state = {k: v.float() if v.is_floating_point() else v for k, v in read_checkpoint(weights).items()}
    segmenter.model.load_state_dict(state)
    return segmenter.eval()


# -- the shipped network ----------------------------------------------------------------------------------

def builtin_checkpoint(reference: str) -> Path:
    """The file a ``"builtin:<name>"`` checkpoint reference names (inside the installed package)."""
    name = reference[len(BUILTIN_PREFIX):]
    if not name or "/" in name or name.startswith("."):
        raise ValueError(f"invalid built-in segmenter reference {reference!r}; write 'builtin:<name>'")
    return SHIPPED_DIR / name / WEIGHTS_FILE


def export_segmenter(weights: str | os.PathLike, out_dir: str | os.PathLike, *,
                     dtype: torch.dtype = torch.float16, extra: Mapping[str, Any] | None = None) -> Path:
    """The shipped form of a trained segmenter: no auxiliary head (training only), floating tensors as
    ``dtype``; ``segmenter.safetensors`` + ``segmenter.json`` (the source's record with the model config
    updated, ``source_sha256`` and ``stored_dtype`` added, and ``extra``). Returns the weights path.

    The bytes depend only on the tensors (safetensors orders them itself), so an identical network
    exports to an identical sha256.
    """
    from safetensors.torch import save_file

    weights = Path(weights)
    record = json.loads(weights.with_name(RECORD_FILE).read_text())
    state = {k: v for k, v in read_checkpoint(weights).items() if not k.startswith("auxiliary_head.")}
    state = {k: (v.to(dtype) if v.is_floating_point() else v).contiguous() for k, v in state.items()}
    out = Path(out_dir) / WEIGHTS_FILE
    out.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(out) as tmp:
        save_file(state, str(tmp))
    model = {**record["model"], "aux_head": False}
    atomic_write_json(out.with_name(RECORD_FILE), {
        **{k: v for k, v in record.items() if k != "sha256"}, "model": model, "sha256": sha256_file(out),
        "source_sha256": record["sha256"], "stored_dtype": str(dtype).replace("torch.", ""), **dict(extra or {})})
    return out


@torch.no_grad()
def prediction_agreement(a: DeepLabV3Segmenter, b: DeepLabV3Segmenter, dataset: Dataset, *,
                         batch_size: int = 32, device: torch.device | str = "cpu") -> float:
    """Fraction of pixels on which two segmenters predict the same class (a dataset's images)."""
    same = total = 0
    for batch in DataLoader(dataset, batch_size=batch_size, shuffle=False, num_workers=0):
        images = batch["image"].to(device)
        pa, pb = a.to(device).predict(images), b.to(device).predict(images)
        same += int((pa == pb).sum())
        total += pa.numel()
    return same / total


def compare_with_shipped(weights: str | os.PathLike, shipped: str | os.PathLike, data_cfg: Mapping[str, Any], *,
                         device: torch.device | str = "cpu",
                         scratch: str | os.PathLike | None = None) -> dict[str, Any]:
    """How close a freshly trained segmenter is to the shipped one.

    The copy is exported the shipped way (:func:`export_segmenter`, into ``scratch``, default beside
    ``weights``); equal sha256 means the very same network. Otherwise both are scored on the real val
    images (mIoU, accuracy) and their predictions compared pixel by pixel.
    """
    from benchmark.datasets import build_dataset, dataset_info

    weights, shipped = Path(weights), Path(shipped)
    shipped_record = json.loads(shipped.with_name(RECORD_FILE).read_text())
    dtype = getattr(torch, shipped_record.get("stored_dtype", "float32"))
    copy = export_segmenter(weights, Path(scratch) if scratch is not None else weights.parent / "exported",
                            dtype=dtype)
    out: dict[str, Any] = {"shipped": str(shipped), "shipped_sha256": sha256_file(shipped),
                           "copy": str(copy), "copy_sha256": sha256_file(copy)}
    out["identical"] = out["shipped_sha256"] == out["copy_sha256"]
    if out["identical"]:
        return out
    info = dataset_info(data_cfg)
    val = build_dataset(data_cfg, "val", train=False)
    a, b = load_trained_segmenter(shipped).to(device), load_trained_segmenter(copy).to(device)
    for name, seg in (("shipped", a), ("copy", b)):
        scores = evaluate_segmenter(seg, val, ignore_index=info.ignore_index, device=device)
        out[f"{name}_val_mIoU"], out[f"{name}_val_accu"] = scores["mIoU"], scores["accu"]
    out["pixel_agreement"] = prediction_agreement(a, b, val, device=device)
    return out


def format_comparison(c: Mapping[str, Any]) -> str:
    """One line for ``segmenter train``: the copy against the shipped network."""
    if c["identical"]:
        return f"identical to the shipped segmenter {c['shipped']} (sha256 {c['shipped_sha256'][:12]})"
    return (f"differs from the shipped segmenter (sha256 {c['copy_sha256'][:12]} vs {c['shipped_sha256'][:12]}): "
            f"val mIoU {100 * c['copy_val_mIoU']:.2f} vs shipped {100 * c['shipped_val_mIoU']:.2f}, accu "
            f"{100 * c['copy_val_accu']:.2f} vs {100 * c['shipped_val_accu']:.2f}, the two agree on "
            f"{100 * c['pixel_agreement']:.2f}% of val pixels; evaluation keeps using the shipped one (pass "
            f"--segmenter-checkpoint {c['copy']} to score with the copy)")


# -- protocols ----------------------------------------------------------------------------------------------

def protocol_training(spec: SegmenterSpec) -> tuple[SegmenterTraining, bool]:
    """The training settings a ``trained`` segmenter spec names, and whether it may train on first use."""
    options = spec.kwargs
    auto_train = bool(options.pop("auto_train", False))
    known = {f.name for f in fields(SegmenterTraining)}
    if set(options) - known:
        raise ValueError(f"unknown trained-segmenter options {sorted(set(options) - known)}; valid: {sorted(known)}")
    return SegmenterTraining(**options), auto_train


def choice_path(out_dir: str | os.PathLike, data_cfg: Mapping[str, Any], training: SegmenterTraining) -> Path:
    """The file that says which segmenter a protocol (its default ``training``) uses for ``data_cfg``: written
    by ``segmenter train`` (whatever its --iters/--batch-size/--crop), read by evaluation."""
    return Path(out_dir) / (segmenter_dir(out_dir, data_cfg, training).name + CHOICE_SUFFIX)


def train_for_protocol(protocol: Any, data_cfg: Mapping[str, Any], *, cache_dir: str | os.PathLike,
                       device: torch.device | str = "cpu", log_every: int = 0, progress: bool = False,
                       iters: int | None = None, batch_size: int | None = None, crop: int | None = None) -> Path:
    """Train (or reuse) the segmenter a ``trained`` protocol evaluates with, where evaluation looks for it
    (``<cache_dir>/segmenters/``); ``protocol`` is a protocol id or instance. What ``segmenter train`` runs.

    ``iters``, ``batch_size``, ``crop`` replace the protocol's settings (``segmenter train --iters
    --batch-size --crop``); the network trained with them becomes the one evaluation uses for this protocol
    and data (:func:`choice_path`; its sha256 goes into every record, so rows scored with another segmenter
    never merge). For a protocol whose network ships with SISBench this trains a copy (compare it with
    :func:`compare_with_shipped`); evaluation keeps using the shipped file."""
    from metrics.protocols import get_protocol

    protocol = get_protocol(protocol)
    if protocol.segmenter is None or protocol.segmenter.kind != "trained":
        raise ValueError(f"protocol {protocol.id} does not use a segmenter SISBench trains")
    default, _ = protocol_training(protocol.segmenter)
    given = {k: v for k, v in (("iters", iters), ("batch_size", batch_size), ("crop", crop)) if v is not None}
    for key, value in given.items():
        if int(value) < 1:
            raise ValueError(f"--{key.replace('_', '-')} must be a positive whole number, got {value}")
    training = SegmenterTraining(**{**asdict(default), **given})
    out_dir = Path(cache_dir) / "segmenters"
    weights = train_segmenter(data_cfg, out_dir, training=training, device=device, log_every=log_every,
                              progress=progress)
    if not (protocol.segmenter.checkpoint or "").startswith(BUILTIN_PREFIX):
        atomic_write_json(choice_path(out_dir, data_cfg, default), {
            "protocol": protocol.id, "protocol_version": protocol.version, "weights": str(weights),
            "sha256": sha256_file(weights), "training": training.to_dict(),
            "chosen_at": time.strftime("%Y-%m-%dT%H:%M:%S%z")})
    return weights


def shipped_checkpoint(protocol: Any) -> Path | None:
    """The shipped weights file of a protocol whose network ships with SISBench (else None)."""
    from metrics.protocols import get_protocol

    spec = get_protocol(protocol).segmenter
    if spec is None or not (spec.checkpoint or "").startswith(BUILTIN_PREFIX):
        return None
    return builtin_checkpoint(spec.checkpoint)


def _first_use_pin(pins_path: Path, key: str, digest: str, source: Path) -> dict[str, Any]:
    """The pin of ``key`` in ``pins.json``, written now (this file's digest) if there is none."""
    pins = json.loads(pins_path.read_text()) if pins_path.is_file() else {}
    if key not in pins:
        pins[key] = {"sha256": digest, "file": str(source), "pinned_at": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
        atomic_write_json(pins_path, pins)
    return pins[key]


def _train_hint(spec: SegmenterSpec, data_cfg: Mapping[str, Any]) -> tuple[str, str]:
    """The options of the `segmenter train` command that trains ``spec`` for ``data_cfg`` (its protocol where
    that is not the dataset's default, and the data root) and a note on how long it takes."""
    from metrics.protocols import PROTOCOLS, default_protocol

    name = str(data_cfg.get("type"))
    ids = [p for p in PROTOCOLS.names() if PROTOCOLS.get(p).dataset == name and PROTOCOLS.get(p).segmenter == spec]
    hint = ""
    try:
        default = default_protocol(name)
    except ValueError:
        default = None
    if ids and default not in ids:
        hint += f" --protocol {ids[0]}"
    if data_cfg.get("root"):
        hint += f" --data-root {data_cfg['root']}"
    note = ""
    if ids and ids[0].endswith("-cpu"):
        note = " (minutes on a CPU)"
    elif ids and f"{ids[0]}-cpu" in PROTOCOLS:
        note = f" (the full DeepLabV3: hours on a GPU; --protocol {ids[0]}-cpu trains in minutes on a CPU)"
    return hint, note


def build_trained_segmenter(spec: SegmenterSpec, *, num_classes: int, data_cfg: Mapping[str, Any] | None,
                            checkpoint: Path | None = None, cache_dir: str | os.PathLike | None = None,
                            device: torch.device | str = "cpu", **_: Any) -> nn.Module:
    """Segmenter kind ``trained``: the given checkpoint, the shipped one (``builtin:``), the cached one, or
    (``auto_train``) a new one. A cached one is pinned on first use (see the module docstring); the
    protocol's own ``sha256`` pin is checked by :func:`metrics.segmenters.build_segmenter`."""
    training, auto_train = protocol_training(spec)
    source = checkpoint or spec.checkpoint
    pin_record = None
    if isinstance(source, str) and source.startswith(BUILTIN_PREFIX):
        source = builtin_checkpoint(source)
        if not source.is_file():
            raise WeightsUnavailable(f"the shipped segmenter {source} is missing from the installed package; "
                                     f"reinstall sisbench, or pass --segmenter-checkpoint PATH")
    elif source is None:
        if data_cfg is None or cache_dir is None:
            raise WeightsUnavailable("a trained segmenter needs the data config and a cache directory, or "
                                     "--segmenter-checkpoint PATH")
        out_dir = Path(cache_dir) / "segmenters"
        source = segmenter_dir(out_dir, data_cfg, training) / WEIGHTS_FILE
        chosen = choice_path(out_dir, data_cfg, training)
        if chosen.is_file():  # `segmenter train` with its own --iters/--batch-size/--crop
            picked = Path(json.loads(chosen.read_text()).get("weights", ""))
            if picked.is_file():
                source = picked
        if not source.is_file():
            if not auto_train:
                name = data_cfg.get("type")
                raise WeightsUnavailable(
                    f"no trained segmenter for dataset {name!r} at {source.parent}; run `python -m benchmark "
                    "segmenter train --dataset {}{}`{} or pass --segmenter-checkpoint PATH".format(
                        name, *_train_hint(spec, data_cfg)))
            source = train_segmenter(data_cfg, out_dir, training=training, device=device)
        if spec.sha256 is None:
            pins = out_dir / PINS_FILE
            pin_record = _first_use_pin(pins, source.parent.name, sha256_file(source), source)
            pin_record = {**pin_record, "pins_file": str(pins)}
    elif spec.sha256 is None and data_cfg is not None and cache_dir is not None:
        # a named file: compared with the first-use pin if there is one (never pinned itself)
        pins = Path(cache_dir) / "segmenters" / PINS_FILE
        key = segmenter_dir(Path(cache_dir) / "segmenters", data_cfg, training).name
        known = json.loads(pins.read_text()).get(key) if pins.is_file() else None
        if known is not None:
            pin_record = {**known, "pins_file": str(pins), "named": True}
    segmenter = load_trained_segmenter(source)
    if pin_record is not None and pin_record.get("named"):
        segmenter.pin = {"sha256": pin_record["sha256"], "source": "first use",
                         "matches": segmenter.checkpoint_hash == pin_record["sha256"],
                         "pins_file": pin_record["pins_file"], "pinned_at": pin_record["pinned_at"]}
    elif pin_record is not None:
        if segmenter.checkpoint_hash != pin_record["sha256"]:
            raise WeightsUnavailable(
                f"{source} has sha256 {segmenter.checkpoint_hash[:12]}..., but this protocol's segmenter was "
                f"pinned to {pin_record['sha256'][:12]}... on first use ({pin_record['pins_file']}); pass "
                f"--segmenter-checkpoint {source} to score with the new file (the row records it), or remove "
                f"its entry from {PINS_FILE} to pin the new one")
        segmenter.pin = {"sha256": pin_record["sha256"], "source": "first use", "matches": True,
                         "pins_file": pin_record["pins_file"], "pinned_at": pin_record["pinned_at"]}
    if segmenter.num_classes != num_classes:
        raise ValueError(f"trained segmenter {source} predicts {segmenter.num_classes} classes, the protocol's "
                         f"labels have {num_classes}")
    return segmenter.to(device)
