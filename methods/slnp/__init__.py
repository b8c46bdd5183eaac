"""SLNP-GAN: image generation from semantic labels and a noise prior, with an attention refiner.

Zhang, Ni, Zhou & Hou, "Image generation based on semantic labels and noise prior" (融合语义标签和噪声先验的
图像生成), Journal of Computer Applications 2020. No public code. Two stages: ``noise_prior`` trains a VAE
whose Z_np = Enc(Dec(z)) feeds the generators (Sec. 1.1); ``main`` trains the global generator G0, the
attention refiner G1 and the two projection discriminators D0, D1 with the AMM optimizer (Secs. 1.2-1.4).

Every decision the paper leaves open, and where each value comes from, is in docs/methods.md (section
"SLNP-GAN"). Layout: :mod:`~methods.slnp.noise_prior` (the VAE), :mod:`~methods.slnp.generator` (G0),
:mod:`~methods.slnp.instances` (instance finding), :mod:`~methods.slnp.refiner` (G1),
:mod:`~methods.slnp.discriminator` (D0, D1), :mod:`~methods.slnp.blocks` (layers G0 and G1 share),
:mod:`~methods.slnp.method` (the method); the optimizer is :mod:`methods.optim.amm`.
"""

from methods.slnp.blocks import LabelResBlock, num_doublings
from methods.slnp.discriminator import ProjectionPatchDiscriminator
from methods.slnp.generator import G0Generator
from methods.slnp.instances import Instances, find_instances
from methods.slnp.method import SLNPGAN, class_histogram
from methods.slnp.noise_prior import NoisePriorVAE, ResidualUnit
from methods.slnp.refiner import AttentionRefiner

__all__ = ["SLNPGAN", "AttentionRefiner", "G0Generator", "Instances", "LabelResBlock", "NoisePriorVAE",
           "ProjectionPatchDiscriminator", "ResidualUnit", "class_histogram", "find_instances", "num_doublings"]
