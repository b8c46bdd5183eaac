# SLNP-GAN at the paper's architecture: G0 128 px, G1 256 px (the image size comes from the dataset's
# paper preset). The paper gives no batch size or iteration counts (one 16 GB P100, ~170 h); the noise
# prior's iterations are the project's choice.
_base_ = ["../_base_/methods/slnp.py"]
train = dict(stages=dict(noise_prior=dict(iters=20000)))
