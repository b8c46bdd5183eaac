"""Paper schedules in epochs, turned into iterations once, when a config is resolved.

The papers state their schedules in epochs over a dataset (pix2pix, pix2pixHD and SPADE: ``niter`` epochs
at the initial learning rate, then ``niter_decay`` epochs of linear decay to 0; CRN: a constant rate). A
paper config says so as ``train.epochs = dict(constant=C, decay=D)``; each dataset config states the size
of its official training split as ``data.train_images``. :func:`apply_epochs` (called by
:func:`benchmark.config.load_config` after the ``--set`` overrides) derives ``train.iters`` and
``train.lr_schedule`` from the two and records how in ``train.epochs_derivation``.

Decisions:

- an epoch is ``floor(N / train.batch_size)`` iterations, the trainer's epoch (its sampler drops the last
  partial batch; the official loaders keep it, a difference of under one batch per epoch);
- ``N`` is ``data.train_images``, or ``data.num_train`` for generated data (the synthetic dataset), and at
  most ``data.limit`` when that is set (an epoch is a pass over the images actually used);
- ``train.batch_size`` is per process: with ``W`` data-parallel processes each iteration consumes
  ``W x batch_size`` images, so the derived iterations then cover ``W`` times the epochs (recorded);
- ``decay = 0`` gives a constant learning rate, otherwise ``linear_decay`` over the last
  ``D / (C + D)`` of training;
- ``--iters`` / ``--set train.iters=...`` win over the derived count (the decay fraction still applies to
  the given length); the derivation says so;
- a dataset whose size is unknown before it is read (``data.train_images`` None: a user folder, or
  ADE20K-outdoor, whose image list was never published) keeps the preset's ``train.iters``; the
  derivation says why and how to fix it (``--set data.train_images=N``).
"""

from __future__ import annotations

from collections.abc import Mapping, Set
from typing import Any

from benchmark.user_error import ConfigError


def train_images(data: Mapping[str, Any]) -> tuple[int | None, str]:
    """The number of training images an epoch passes over, and which key it came from."""
    if data.get("train_images") is not None:
        n, source = int(data["train_images"]), "data.train_images"
    elif data.get("num_train") is not None:
        n, source = int(data["num_train"]), "data.num_train"
    else:
        return None, "data.train_images is None"
    if data.get("limit") is not None and int(data["limit"]) < n:
        n, source = int(data["limit"]), "data.limit"
    return n, source


def apply_epochs(cfg: dict[str, Any], overridden: Set[str] = frozenset()) -> None:
    """Turn ``train.epochs`` into ``train.iters`` and ``train.lr_schedule`` in place (see the module
    docstring); ``overridden`` holds the config keys the user set (``train.iters`` among them wins)."""
    train = cfg.get("train") or {}
    epochs = train.get("epochs")
    if not epochs:
        return
    constant, decay = int(epochs.get("constant", 0)), int(epochs.get("decay", 0))
    if constant < 0 or decay < 0 or constant + decay == 0:
        raise ConfigError(f"train.epochs must hold non-negative constant and decay epochs, not both 0; "
                            f"got {dict(epochs)}")
    total = constant + decay
    fraction = decay / total
    train["lr_schedule"] = dict(type="linear_decay", decay_fraction=fraction) if decay else dict(type="constant")
    n, source = train_images(cfg.get("data") or {})
    record: dict[str, Any] = {"epochs": total, "constant": constant, "decay": decay, "decay_fraction": fraction}
    if n is None:
        record["not_derived"] = (f"the dataset's training-set size is unknown before it is read ({source}); "
                                 f"train.iters = {train['iters']} is the preset's; --set data.train_images=N "
                                 f"derives it from the epochs")
        train["epochs_derivation"] = record
        return
    batch = int(train["batch_size"])
    per_epoch = n // batch
    if per_epoch < 1:
        raise ConfigError(f"{source} = {n} images is fewer than one batch (train.batch_size = {batch}); "
                            f"lower train.batch_size")
    derived = total * per_epoch
    record.update(train_images=n, train_images_from=source, batch_size=batch, iters_per_epoch=per_epoch,
                  iters=derived, per_process=True)
    if "train.iters" in overridden:
        record["iters_overridden"] = int(train["iters"])
    else:
        train["iters"] = derived
    train["epochs_derivation"] = record
