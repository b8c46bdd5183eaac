# Xu & Tan 2022, adaptive normalization, on 2 CPU cores: the paper preset's code path at reduced widths and
# 64 px. What was tried on the way, with its numbers: docs/tuning/adanorm.md.
_base_ = ["../_base_/methods/adanorm.py"]
# model.ngf, model.spade_hidden: reduced widths, so a run takes minutes on 2 cores.
# model.norm_G: BatchNorm, not SyncBatchNorm: identical in one process, and the tiny preset never runs distributed.
# model.init_gain: Xavier gain 1, not 0.02: spectral-normed 0.02-gain weights are re-randomised by Adam's first
# steps for longer than this whole run.
# model.padding_mode: reflect, not zeros: the core runs at 16x16, where zero borders drew frames and streaks.
model = dict(ngf=16, norm_G="batch", spade_hidden=32, init_gain=1.0, padding_mode="reflect")
# netD.ndf, netE.ngf: reduced widths, as the generator's.
netD = dict(ndf=16)
netE = dict(ngf=8)
# loss.vgg_weights: random VGG19 weights, so the preset runs offline; the manifest records the choice.
# loss.vgg_last_layer: relu2_1, as SPADE's tiny preset: the deeper layers cost most of the loss's compute.
# loss.lambda_vgg: a random VGG's features are small; at the paper's 10 the term would have no effect.
# loss.lambda_kld: 0.01, not 0.05: at this budget the style code otherwise carries too little for style-guided
# synthesis to show.
loss = dict(vgg_weights="random", vgg_last_layer="relu2_1", lambda_vgg=2000.0, lambda_kld=0.01)
# train.iters: 1,200 iterations; at 600 most samples were still hazy.
train = dict(iters=1200)
