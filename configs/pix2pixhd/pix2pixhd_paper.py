# pix2pixHD as published: batch 1, lr 2e-4 constant for 100 epochs then linearly to 0 over 100 more, on
# every dataset (official options/train_options.py: --niter 100 --niter_decay 100; base_options.py:
# --batchSize 1). Epochs become iterations per dataset from data.train_images (benchmark/schedule.py):
# 595,000 on Cityscapes' 2,975 training images, 4,042,000 on ADE20K's 20,210.
# SPADE's Table 1 pix2pixHD rows (COCO-Stuff, ADE20K, ADE20K-outdoor) were retrained by SPADE's authors
# with the released code; they published no schedule for them, so the official one applies here too.
_base_ = ["../_base_/methods/pix2pixhd.py"]
train = dict(
    batch_size=1,
    epochs=dict(constant=100, decay=100),
)
