# Isola et al. 2017, pix2pix, on 2 CPU cores: the paper preset's code path at 1/4 width (the U-Net depth
# follows the tiny image size). Tries: docs/tuning/pix2pix.md.
_base_ = ["../_base_/methods/pix2pix.py"]
# model.ngf, model.ndf: 1/4 width; twice that was no better per second of training.
model = dict(ngf=16, ndf=16)
# loss.lambda_l1: 3000, not 100: at the paper's weight the outermost stride-2 transposed convolution left a
# one-pixel checkerboard in the samples at this budget; a heavier pixel loss pulls it towards the real images.
loss = dict(lambda_l1=3000.0)
# train.iters: 2,000 iterations; a pix2pix iteration is cheap.
train = dict(iters=2000)
