# pix2pix on 2 CPU cores: the paper's code path at 1/8 width (the U-Net depth follows the tiny image size).
_base_ = ["../_base_/methods/pix2pix.py"]
model = dict(ngf=8, ndf=8)
