# Adaptive-normalization hybrid on 2 CPU cores: the paper's code path at reduced widths (the 64 px image
# size comes from the dataset's tiny preset). BatchNorm rather than SyncBatchNorm: identical in one
# process, and the tiny preset never runs distributed.
_base_ = ["../_base_/methods/adanorm.py"]
model = dict(ngf=16, norm_G="batch", spade_hidden=32)
netD = dict(ndf=16)
netE = dict(ngf=8)
# Random VGG19 weights, chosen explicitly: the tiny preset must run offline, where the ImageNet weights
# cannot be downloaded. A random VGG still gives a multi-scale feature loss; the manifest records the
# choice (AdaNormHybrid.extra_info()["vgg_weights"]).
loss = dict(vgg_weights="random")
