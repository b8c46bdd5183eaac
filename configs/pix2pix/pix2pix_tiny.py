# pix2pix on 2 CPU cores: the paper's code path at 1/4 width (the U-Net depth follows the tiny image size).
_base_ = ["../_base_/methods/pix2pix.py"]
# Widths 16 (the first landing ran 8 wide for 300 iterations); 32 was no better per second
# (2,000 iterations on the previous synthetic data, v2: 68.8 against 67.2 mIoU at 4x the time).
model = dict(ngf=16, ndf=16)
# Measured (seed 0, protocol synthetic-v1, oracle mIoU 82.6): mIoU 61.0 / 61.6 / 65.7 / 66.4 at 500 / 1,000 /
# 1,500 / 2,000 iterations of batch 8 (FD-seg 2.5 at the end); 2.9 GFLOP and ~0.04 s per iteration on 2 idle
# cores. The samples follow the layout with a faint checkerboard texture (transposed convolutions).
train = dict(iters=2000)
