# SPADE at the published architecture (ngf 64, ndf 64) and schedule: batch 32 (8 GPUs in the paper),
# Adam TTUR, linear learning-rate decay over the second half of training.
_base_ = ["../_base_/methods/spade.py"]
train = dict(batch_size=32)
