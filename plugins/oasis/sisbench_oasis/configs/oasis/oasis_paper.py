# OASIS at the published architecture (ngf 64, ndf 64, z 64) and schedule: batch 32 (4 V100s in the paper),
# constant Adam TTUR, 200 epochs (official config.py num_epochs; scripts/train_ade20k.sh batch 32). Epochs
# become iterations from data.train_images (benchmark/schedule.py): 126,200 on ADE20K (631 batches of 32).
# Datasets with a file of their own (oasis_<dataset>.py) change the batch size or the epochs.
_base_ = ["../_base_/methods/oasis.py"]
train = dict(batch_size=32, epochs=dict(constant=200, decay=0))
