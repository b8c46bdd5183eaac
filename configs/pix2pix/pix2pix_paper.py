# pix2pix as published: batch 1, 100 epochs at lr 2e-4 then 100 epochs of linear decay to 0.
_base_ = ["../_base_/methods/pix2pix.py"]
train = dict(
    batch_size=1,
    iters=595000,          # 200 epochs of Cityscapes' 2975 training pairs at batch 1
    lr_schedule=dict(type="linear_decay", decay_fraction=0.5),
)
