# OASIS on 2 CPU cores: the paper's code path at reduced widths (the 64 px image size comes from the dataset's
# tiny preset). BatchNorm rather than SyncBatchNorm: identical in one process, and the tiny preset never runs
# distributed.
_base_ = ["../_base_/methods/oasis.py"]
model = dict(ngf=8, norm_G="batch", spade_hidden=16,
             # Xavier gain 1, not the official 0.02: under spectral norm 0.02-gain weights are ~1e-3, and Adam's
             # steps (1e-4 .. 4e-4 per weight) keep re-randomising their directions for the first thousands of
             # iterations -- longer than this whole run (300 iterations at batch 8 and the official rates:
             # mIoU 4.7 at gain 0.02 (`run`, EMA generator), 16.5 at gain 1 (G; 13.9 its EMA)).
             init_gain=1.0,
             ema_decay=0.99)      # the EMA averages over ~100 of the run's iterations, not 10,000
netD = dict(ndf=16)
# 10x the official rates, same ratio: D's N+1 logits come from an unnormalised 1x1 conv on spectral-normed
# (bounded) features, so confident logits need that layer to grow to O(1), thousands of steps at 4e-4.
# Batch 4: more steps for the same images. mIoU of G after 2,000 training images (gain 1, seed 0, the
# synthetic-v1 segmenter on the 100 val images): official rates, batch 8: 15.1; 4x, batch 8: 42.9; 4x, batch 4:
# 56.1; 10x, batch 8: 54.4; 10x, batch 4: 64.6.
optimizer = dict(lr_G=1e-3, lr_D=4e-3)
# Measured: `python -m benchmark run --methods oasis --dataset synthetic [--seed 1]`, 600 iterations at batch 4
# (2,400 images), protocol synthetic-v1 (oracle mIoU 82.70): seed 0 mIoU 67.84, accu 82.20, FD-seg 2.14; seed 1
# mIoU 69.86, accu 84.32, FD-seg 1.42. Training: 0.48 CPU-s per iteration on one thread (4.8 CPU-min for the
# run); wall 637 s / 754 s with one thread at nice 10 on the shared 2-core machine at load ~7.
train = dict(iters=600, batch_size=4)
