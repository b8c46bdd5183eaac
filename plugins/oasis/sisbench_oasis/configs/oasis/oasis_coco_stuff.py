# OASIS on COCO-Stuff (official set_dataset_default_lm num_epochs 100, scripts/train_coco.sh batch 32):
# 256x256, lambda_labelmix 10, EMA 0.9999, 100 epochs of 118,287 images = 369,600 iterations.
presets = dict(paper=dict(train=dict(epochs=dict(constant=100, decay=0))))
