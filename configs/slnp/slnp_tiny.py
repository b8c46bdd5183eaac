# Zhang et al. 2020, SLNP-GAN, on 2 CPU cores: the paper preset's code path at reduced widths; G0 32 px, G1
# 64 px (the 64 px image size comes from the dataset's tiny preset), the paper's optimizer (AMM).
# Tries: docs/tuning/slnp.md.
_base_ = ["../_base_/methods/slnp.py"]
# model.ngf0, model.ngf1, model.max_mult, model.emb_dim, model.att_dim: reduced widths, so a run takes minutes.
# model.n_blocks_G1: two refiner blocks, for the same reason.
# model.region_size: 8 px attention regions, an 8 x 8 grid at 64 px (16 px regions would leave 4 x 4).
model = dict(ngf0=16, max_mult=4, emb_dim=32, ngf1=32, n_blocks_G1=2, att_dim=32, region_size=8)
# noise_prior.nf, noise_prior.max_mult: the VAE at reduced width, as the generators.
noise_prior = dict(nf=16, max_mult=4)
# netD.ndf: reduced width, as the generators'.
# netD.n_layers: 3, so the 32 px D0 still ends on a patch map.
netD = dict(ndf=16, n_layers=3)
# optimizer.lr_G, optimizer.lr_D: 1e-5: AMM's momentum makes its steady step eta / (1 - alpha) = 10 eta, so the
# paper's rates take 1e-3 / 4e-3 steps, and at this budget that game oscillated; 1e-5 gives Adam-sized steps.
optimizer = dict(lr_G=1e-5, lr_D=1e-5)
# train.iters, train.stages.noise_prior.iters: 200 noise-prior + 2,000 main iterations; longer did not help.
train = dict(iters=2000, stages=dict(noise_prior=dict(iters=200)))
