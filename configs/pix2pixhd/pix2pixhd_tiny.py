# Wang et al. 2018, pix2pixHD, on 2 CPU cores: the paper preset's code path (global generator, 2-scale LSGAN
# discriminator, feature matching + VGG) at 1/4 width. Tries: docs/tuning/pix2pixhd.md.
_base_ = ["../_base_/methods/pix2pixhd.py"]
# model.ngf, model.ndf, model.nef: 1/4 width, so a run takes minutes on 2 cores.
# model.n_downsample_global, model.n_downsample_E: fewer downsamplings for 64 px images.
# model.n_blocks_global, model.n_blocks_local: fewer residual blocks, for the same reason as the widths.
model = dict(ngf=16, n_downsample_global=3, n_blocks_global=3, n_blocks_local=1, nef=4, n_downsample_E=2,
             ndf=16)
# loss.vgg_weights: random VGG19 weights, so the preset runs offline; the manifest records the choice.
# loss.vgg_last_layer: relu1_1 alone: with a random VGG it is a bank of 3x3 filters, a filtered pixel loss that
# pulls the transposed convolutions' checkerboard towards the real images', at half the VGG's cost.
# loss.lambda_vgg: a random VGG's features are small; the weight makes the term count against the GAN terms.
loss = dict(vgg_weights="random", vgg_last_layer="relu1_1", lambda_vgg=30000.0)
# train.iters: 1,200 iterations; longer runs did not score higher at this width.
train = dict(iters=1200)
