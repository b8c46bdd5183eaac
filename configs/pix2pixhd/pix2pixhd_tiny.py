# pix2pixHD on 2 CPU cores: the paper's code path (global generator, 2-scale LSGAN discriminator,
# feature matching + VGG) at 1/8 width, with 3 downsamplings and 3 residual blocks for 64 px images.
_base_ = ["../_base_/methods/pix2pixhd.py"]
model = dict(ngf=8, n_downsample_global=3, n_blocks_global=3, n_blocks_local=1, nef=4, n_downsample_E=2,
             ndf=8)
# Random VGG19 weights: the tiny preset must run offline and the ImageNet file is a 548 MB download.
# The perceptual loss then only measures distances in a random feature space; the manifest records it.
loss = dict(vgg_weights="random")
