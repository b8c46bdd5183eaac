# SPADE on Cityscapes (official data/cityscapes_dataset.py): 512x256 images, num_upsampling_layers
# "more" (the dataset's DataInfo.spade_upsampling), and batch 16 in the paper preset.
presets = dict(paper=dict(train=dict(batch_size=16)))
