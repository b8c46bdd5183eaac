# SPADE at the published architecture (ngf 64, ndf 64) and schedule: batch 32 (8 GPUs in the paper),
# Adam TTUR. Epochs: 200 on Cityscapes and ADE20K with the learning rate decaying linearly to 0 after
# epoch 100 (--niter 100 --niter_decay 100), 100 on COCO-Stuff (configs/spade/spade_coco_stuff.py).
# Sources: COCO-Stuff's 100 epochs is stated by the authors in NVlabs/SPADE issue #51; the 200 (100 + 100)
# epochs for Cityscapes and ADE20K follow the paper's appendix (arXiv:1903.07291v2) as recalled, NOT confirmed
# against a stored copy of it: treat them as unverified until checked. ADE20K-outdoor, a subset of ADE20K,
# has no number of its own in the paper: ADE20K's applies; CelebAMask-HQ and the synthetic data have no
# primary source: the same applies.
# Epochs become iterations from data.train_images (benchmark/schedule.py): 126,200 on ADE20K (631 batches
# of 32 per epoch).
_base_ = ["../_base_/methods/spade.py"]
train = dict(batch_size=32, epochs=dict(constant=100, decay=100))
