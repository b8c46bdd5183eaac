# Park et al. 2019, SPADE, on 2 CPU cores: the paper preset's code path at reduced widths (the 64 px image
# size comes from the dataset's tiny preset). Tries: docs/tuning/spade.md.
_base_ = ["../_base_/methods/spade.py"]
# model.ngf, model.spade_hidden: reduced widths, so a run takes minutes on 2 cores.
# model.norm_G: BatchNorm, not SyncBatchNorm: identical in one process, and the tiny preset never runs distributed.
# model.init_gain: Xavier gain 1, not the official 0.02: under spectral norm 0.02-gain weights are ~1e-3, and
# Adam's first steps keep re-randomising them for longer than this whole run.
model = dict(ngf=16, norm_G="batch", spade_hidden=32, init_gain=1.0)
# netD.ndf, netE.ngf: reduced widths, as the generator's.
netD = dict(ndf=16)
netE = dict(ngf=8)
# loss.vgg_weights: random VGG19 weights, so the preset runs offline; the manifest records the choice.
# loss.vgg_last_layer: relu2_1: the layers up to relu5_1 cost most of an iteration's FLOPs at 64 px.
# loss.lambda_vgg: a random VGG's features are small: at the paper's 10 the term is a fraction of a percent of
# G's loss and has no effect; at 10000 it counts, and it smooths the samples' fine texture.
loss = dict(vgg_weights="random", vgg_last_layer="relu2_1", lambda_vgg=10000.0)
# optimizer.lr_D: D at G's rate, 1e-4 (the paper's TTUR 4e-4 stays in the paper preset): at 4e-4 the samples
# carried more fine texture than the real images.
optimizer = dict(lr_D=1e-4)
# train.iters: 600 iterations at batch 8; twice as many did not score higher.
train = dict(iters=600)
