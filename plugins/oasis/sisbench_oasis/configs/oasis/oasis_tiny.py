# Schönfeld et al. 2021, OASIS, on 2 CPU cores: the paper's code path at reduced widths (the 64 px image size
# comes from the dataset's tiny preset). Tries: docs/tuning/oasis.md of the SISBench checkout.
_base_ = ["../_base_/methods/oasis.py"]
# model.ngf, model.spade_hidden: reduced widths, so a run takes minutes on 2 cores.
# model.norm_G: BatchNorm, not SyncBatchNorm: identical in one process, and the tiny preset never runs distributed.
# model.init_gain: Xavier gain 1, not the official 0.02: under spectral norm 0.02-gain weights are ~1e-3, and
# Adam's steps keep re-randomising their directions for longer than this whole run.
# model.ema_decay: 0.99, so the EMA averages over ~100 of the run's iterations, not 10,000.
model = dict(ngf=8, norm_G="batch", spade_hidden=16, init_gain=1.0, ema_decay=0.99)
# netD.ndf: reduced width.
netD = dict(ndf=16)
# optimizer.lr_G, optimizer.lr_D: 10x the official rates, same ratio: D's N+1 logits come from an unnormalised
# 1x1 conv on spectral-normed (bounded) features, and confident logits need that layer to grow to O(1), which
# takes thousands of steps at the official rates.
optimizer = dict(lr_G=1e-3, lr_D=4e-3)
# train.iters, train.batch_size: 600 iterations at batch 4: more steps for the same images.
train = dict(iters=600, batch_size=4)
