"""SLNP-GAN's noise prior (Zhang et al. 2020, Sec. 1.1, Figs. 3-4, Eqs. 3-7): a convolutional VAE on
the real images at G0's resolution; Z_np = Enc(Dec(z)). Trained in stage ``noise_prior``, then frozen. The
decisions are in docs/methods.md."""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor, nn

from methods.nn.losses import reparameterize
from methods.nn.norms import make_norm
from methods.slnp.blocks import num_doublings


class ResidualUnit(nn.Module):
    """Fig. 4's residual unit: three conv3x3 stride 1 (BN, ReLU between) and an identity connection."""

    def __init__(self, channels: int, norm: str = "batch"):
        super().__init__()
        layers: list[nn.Module] = []
        for i in range(3):
            layers += [nn.Conv2d(channels, channels, 3, padding=1), make_norm(norm, channels)]
            if i < 2:
                layers.append(nn.ReLU())
        self.body = nn.Sequential(*layers)

    def forward(self, x: Tensor) -> Tensor:
        return F.relu(x + self.body(x))


class NoisePriorVAE(nn.Module):
    """The convolutional VAE of the noise prior; ``noise_prior(n)`` gives Z_np = Enc(Dec(z))."""

    def __init__(self, image_size: tuple[int, int], nf: int = 64, z_dim: int = 256, max_mult: int = 8,
                 norm: str = "batch"):
        super().__init__()
        n = num_doublings(image_size)
        self.z_dim = z_dim
        self.bottom = (image_size[0] // 2 ** n, image_size[1] // 2 ** n)
        widths = [nf * min(2 ** i, max_mult) for i in range(n)]
        enc: list[nn.Module] = []
        for cin, cout in zip([3, *widths[:-1]], widths, strict=True):
            enc += [nn.Conv2d(cin, cout, 3, stride=2, padding=1), make_norm(norm, cout), nn.ReLU()]
        enc.append(ResidualUnit(widths[-1], norm))
        self.encoder = nn.Sequential(*enc)
        flat = widths[-1] * self.bottom[0] * self.bottom[1]
        self.fc_mu = nn.Linear(flat, z_dim)
        self.fc_logvar = nn.Linear(flat, z_dim)
        self.fc_dec = nn.Linear(z_dim, flat)
        dec: list[nn.Module] = [ResidualUnit(widths[-1], norm)]
        for cin, cout in zip(widths[::-1], [*widths[::-1][1:], nf], strict=True):
            dec += [nn.ConvTranspose2d(cin, cout, 4, stride=2, padding=1), make_norm(norm, cout), nn.ReLU()]
        dec += [nn.Conv2d(nf, 3, 3, padding=1), nn.Tanh()]
        self.decoder = nn.Sequential(*dec)
        self.bottom_nc = widths[-1]

    def encode(self, image: Tensor) -> tuple[Tensor, Tensor]:
        h = self.encoder(image).flatten(1)
        return self.fc_mu(h), self.fc_logvar(h)

    def decode(self, z: Tensor) -> Tensor:
        return self.decoder(self.fc_dec(z).view(-1, self.bottom_nc, *self.bottom))

    def forward(self, image: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """``(reconstruction, mu, logvar)`` of ``image``."""
        mu, logvar = self.encode(image)
        return self.decode(reparameterize(mu, logvar)), mu, logvar

    def noise_prior(self, z: Tensor, sample: bool = True) -> Tensor:
        """Z_np = Enc(Dec(z)) (Eqs. 3-4): a posterior sample (or its mean) of the decoded noise."""
        mu, logvar = self.encode(self.decode(z))
        return reparameterize(mu, logvar) if sample else mu
