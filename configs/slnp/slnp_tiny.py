# SLNP-GAN on 2 CPU cores: the paper's code path at reduced widths; G0 32 px, G1 64 px (the 64 px image
# size comes from the dataset's tiny preset), the paper's optimizer and rates (AMM, G 1e-4, D 4e-4).
_base_ = ["../_base_/methods/slnp.py"]
model = dict(ngf0=16, max_mult=4, emb_dim=32, ngf1=32, n_blocks_G1=2, att_dim=32,
             region_size=8)    # 8 x 8 attention regions at 64 px (16 px regions would leave a 4 x 4 grid)
noise_prior = dict(nf=16, max_mult=4)
netD = dict(ndf=16, n_layers=3)
# Tuning (protocol synthetic-v1, 100 val images, oracle mIoU 82.6; --eval-every for the curves):
# - D's learning rate 1e-4, G's (the paper's TTUR 4e-4 for D is kept in the paper preset). With D at 4e-4 the
#   game oscillates: seed 0 mIoU 22.4 / 43.7 / 50.0 / 58.6 at 500 / 1,000 / 1,500 / 2,000 main iterations,
#   and the final score was a draw from that swing: seeds 0 / 1 / 2 ended at 58.6 / 40.3 / 50.0 (mean 49.6),
#   and a 3,000-iteration run fell from 58.0 at 2,250 to 50.8. With D at 1e-4 the curves rise more steadily
#   (seed 1: 22.2 / 32.8 / 43.1 / 54.3); seeds 0 / 1 / 2 end at 52.8 / 54.3 / 46.4 (mean 51.2, 62% of the
#   oracle; `run --methods slnp --seed S --set optimizer.lr_D=1e-4 --eval-every 500`).
# - iterations: 200 noise-prior + 2,000 main at batch 8 (17,600 images). 3,000 with D at 1e-4 did not help:
#   seed 0 ended at 43.0 (the decay starts later, at 1,500).
# - learning rates x4 for both (G 4e-4, D 1.6e-3) trained worse at every point (2,000 it, seed 0: 31.2).
# - ~0.07 s per main iteration (6.9 GFLOP) on 2 idle cores: about 2.5 minutes of training.
# The samples follow the layout with smooth, blurry regions; the generator nearly ignores z at this budget
# (four z draws differ by ~4/255 per pixel, label maps by ~35/255).
optimizer = dict(lr_D=1e-4)
train = dict(iters=2000, stages=dict(noise_prior=dict(iters=200)))
