# OASIS on 2 CPU cores (provisional; measured figures below once tuned).
_base_ = ["../_base_/methods/oasis.py"]
model = dict(ngf=16, norm_G="batch", spade_hidden=32, ema_decay=0.99)
netD = dict(ndf=16)
train = dict(iters=600)
