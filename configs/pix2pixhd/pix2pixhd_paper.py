# pix2pixHD as published: batch 1, lr 2e-4 constant for 100 epochs then linearly to 0 over 100 more.
# The iteration count is 200 epochs of the dataset at batch 1; dataset files of this method set it.
_base_ = ["../_base_/methods/pix2pixhd.py"]
train = dict(
    batch_size=1,
    lr_schedule=dict(type="linear_decay", decay_fraction=0.5),
)
