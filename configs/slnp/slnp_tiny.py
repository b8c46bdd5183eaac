# SLNP-GAN on 2 CPU cores: the paper's code path at reduced widths; G0 32 px, G1 64 px (the 64 px image
# size comes from the dataset's tiny preset), the paper's optimizer (AMM) at the rates below.
_base_ = ["../_base_/methods/slnp.py"]
model = dict(ngf0=16, max_mult=4, emb_dim=32, ngf1=32, n_blocks_G1=2, att_dim=32,
             region_size=8)    # 8 x 8 attention regions at 64 px (16 px regions would leave a 4 x 4 grid)
noise_prior = dict(nf=16, max_mult=4)
netD = dict(ndf=16, n_layers=3)
# Tuning (protocol synthetic-v1, 100 val images, oracle mIoU 82.6; --eval-every for the curves):
# - Learning rates G 1e-5, D 1e-5 with the paper's AMM (alpha 0.9 kept; the paper preset keeps G 1e-4, D 4e-4).
#   AMM adds a momentum of alpha to Adam's normalised step (P_t = alpha P_{t-1} + eta m_hat / sqrt(v_hat)), so
#   its steady step is eta / (1 - alpha) = 10 eta: at the paper's rates the effective steps are 1e-3 (G) and
#   4e-3 (D). At eta 1e-5 both take Adam's 1e-4-sized steps. Measured, seeds 0 / 1 / 2, mIoU at 500 / 1,000 /
#   1,500 / 2,000 main iterations (`run --methods slnp --seed S --set optimizer.lr_G=1e-5 --set
#   optimizer.lr_D=1e-5 --eval-every 500`):
#     seed 0: 48.8 / 56.9 / 63.7 / 64.2;  seed 1: 42.7 / 58.6 / 49.5 / 60.0;  seed 2: 49.5 / 51.0 / 62.3 / 62.4
#   -> 62.2 +- 5.2 (t, 95%), 75% of the oracle; FD-seg 3.2 / 4.0 / 3.0. The samples follow the layout, sharper
#   than before, with no border artifacts.
#   Earlier settings, for the record: G 1e-4 and D 4e-4 (the paper's): the game oscillated, seed 0 went 22.4 /
#   43.7 / 50.0 / 58.6 and seeds 0 / 1 / 2 ended at 58.6 / 40.3 / 50.0; G 1e-4, D 1e-4: 52.8 / 54.3 / 46.4, and
#   seeds 1 and 2 drew a saturated bar along the bottom edge under roads; G 2e-5, D 2e-5 (seed 0): 57.5 / 59.8 /
#   48.2 / 64.2, less steady; x4 the paper's rates: 31.2. The paper's Adam (AMM with alpha 0) at G 1e-4, D 4e-4:
#   70.9 (seed 0; the report's Adam-vs-AMM sweep).
# - iterations: 200 noise-prior + 2,000 main at batch 8 (17,600 images); 3,000 (at G 1e-4, D 1e-4) ended lower
#   (seed 0: 43.0).
# - ~0.07 s per main iteration (6.9 GFLOP) on 2 idle cores: about 2.5 minutes of training.
# The generator nearly ignores z at this budget (the paper has no term tying z to the image).
optimizer = dict(lr_G=1e-5, lr_D=1e-5)
train = dict(iters=2000, stages=dict(noise_prior=dict(iters=200)))
