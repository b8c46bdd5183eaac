# SLNP-GAN on 2 CPU cores: the paper's code path at reduced widths; G0 32 px, G1 64 px (the 64 px image
# size comes from the dataset's tiny preset). About 0.13 s per main iteration on 2 cores: 1000 iterations
# train in about 2-3 minutes.
_base_ = ["../_base_/methods/slnp.py"]
model = dict(ngf0=16, max_mult=4, emb_dim=32, ngf1=32, n_blocks_G1=2, att_dim=32,
             region_size=8)    # 8 x 8 attention regions at 64 px (16 px regions would leave a 4 x 4 grid)
noise_prior = dict(nf=16, max_mult=4)
netD = dict(ndf=16, n_layers=3)
train = dict(iters=1000, stages=dict(noise_prior=dict(iters=200)))
