# CRN as published (demo_256p.py): batch 1, constant lr 1e-4 for 200 epochs.
_base_ = ["../_base_/methods/crn.py"]
train = dict(
    batch_size=1,
    iters=595000,          # 200 epochs of Cityscapes' 2975 training pairs at batch 1
    lr_schedule=dict(_delete_=True, type="constant"),
)
