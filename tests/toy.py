"""A toy method and an in-memory dataset: the trainer's mechanics tested in milliseconds."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from benchmark.datasets.base import DataInfo, SISDataset
from methods.base import Method
from methods.nn.encoding import one_hot_labels


class ToyDataset(SISDataset):
    name = "toy"
    description = "random label maps with colour = class, flipped by the epoch-seeded augmentation"

    def __init__(self, n: int = 24, size: int = 8, num_classes: int = 3, seed: int = 0):
        g = torch.Generator().manual_seed(seed)
        self.labels = torch.randint(0, num_classes, (n, size, size), generator=g)
        colours = torch.linspace(-1, 1, num_classes)
        self.images = colours[self.labels].unsqueeze(1).expand(-1, 3, -1, -1).clone()
        self.images += 0.1 * torch.randn(self.images.shape, generator=g)
        self.num_classes, self.size, self.seed, self.epoch = num_classes, size, seed, 0

    @property
    def info(self) -> DataInfo:
        return DataInfo("toy", self.num_classes, image_size=(self.size, self.size))

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def check(self) -> None:
        pass

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, i: int) -> dict[str, Any]:
        flip = bool(torch.randint(0, 2, (1,), generator=torch.Generator().manual_seed(
            self.seed * 7919 + self.epoch * 104729 + i)))
        label, image = self.labels[i], self.images[i]
        if flip:
            label, image = label.flip(-1), image.flip(-1)
        return {"label": label, "image": image, "path": f"toy/{i:04d}.png"}


class ToyMethod(Method):
    """A 1x1-conv generator with noise against a 1x1-conv discriminator (BCE GAN + L1)."""

    name = "toy"
    description = "trainer test fixture"
    networks = ("netG", "netD")

    def __init__(self, cfg: Mapping[str, Any], data: DataInfo):
        super().__init__(cfg, data)
        self.netG = nn.Conv2d(data.num_classes + 1, 3, 1)
        self.netD = nn.Conv2d(data.num_classes + 3, 1, 1)
        self.nan_at = cfg.get("model", {}).get("nan_at")
        self.noise = cfg.get("model", {}).get("noise", True)
        self.register_buffer("seen_in_finalize", torch.zeros((), dtype=torch.long))

    def configure_optimizers(self, stage: str) -> dict[str, torch.optim.Optimizer]:
        return {"G": torch.optim.Adam(self.netG.parameters(), lr=1e-2),
                "D": torch.optim.Adam(self.netD.parameters(), lr=1e-2)}

    def _fake(self, batch: Mapping[str, Any]) -> torch.Tensor:
        sem = one_hot_labels(batch["label"], self.data.num_classes)
        z = torch.randn(sem.shape[0], 1, *sem.shape[2:], device=sem.device) if self.noise else \
            torch.zeros(sem.shape[0], 1, *sem.shape[2:], device=sem.device)
        return torch.tanh(self.netG(torch.cat([sem, z], 1))), sem

    def train_step(self, batch: dict[str, Any], ctx) -> dict[str, float]:
        with ctx.autocast():
            fake, sem = self._fake(batch)
            with ctx.frozen("netD"):
                g_gan = F.softplus(-self.netD(torch.cat([sem, fake], 1))).mean()
            g_l1 = F.l1_loss(fake, batch["image"])
        if self.nan_at is not None and ctx.iteration + 1 == self.nan_at:
            g_gan = g_gan * float("nan")
        ctx.backward({"G_GAN": g_gan, "G_L1": g_l1}, "G")
        ctx.step("G")
        with ctx.autocast():
            d_real = F.softplus(-self.netD(torch.cat([sem, batch["image"]], 1))).mean()
            d_fake = F.softplus(self.netD(torch.cat([sem, fake.detach()], 1))).mean()
        ctx.backward({"D_real": d_real, "D_fake": d_fake}, "D")
        ctx.step("D")
        losses = {"G_GAN": g_gan, "G_L1": g_l1, "D_real": d_real, "D_fake": d_fake}
        return {k: float(v.detach()) for k, v in losses.items()}

    def finalize(self, batches) -> None:
        self.seen_in_finalize.fill_(sum(len(b["path"]) for b in batches))

    @torch.no_grad()
    def generate(self, batch, *, z=None, style=None) -> torch.Tensor:
        return self._fake(batch)[0]
