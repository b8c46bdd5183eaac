# OASIS at the published architecture (ngf 64, ndf 64, z 64) and schedule: batch 32 (4 V100s in the paper),
# constant Adam TTUR. The iterations are ADE20K's: 200 epochs (official num_epochs) x 631 iterations of its
# 20,210 training images at batch 32 (drop_last); each dataset's file sets its own.
_base_ = ["../_base_/methods/oasis.py"]
train = dict(batch_size=32, iters=126200)
