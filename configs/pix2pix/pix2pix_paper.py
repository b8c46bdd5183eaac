# pix2pix as published: batch 1, lr 2e-4 for 100 epochs then linearly to 0 over 100 more (the PyTorch
# reference's options/train_options.py: --niter 100 --niter_decay 100; the project follows that code).
# The paper (Isola et al. 2017, Sec. 6.2) trained Cityscapes labels->photo for 200 epochs at batch 1 with
# the Lua code, whose train.lua keeps the rate constant for its niter epochs; the PyTorch port decays over
# the second half. The authors never trained pix2pix on ADE20K or COCO-Stuff (nor does SPADE's Table 1
# include it): no primary source gives those schedules, so the same 200 epochs apply to every dataset.
# Epochs become iterations from data.train_images (benchmark/schedule.py): 595,000 on Cityscapes.
_base_ = ["../_base_/methods/pix2pix.py"]
train = dict(
    batch_size=1,
    epochs=dict(constant=100, decay=100),
)
