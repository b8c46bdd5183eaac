# OASIS on COCO-Stuff (official set_dataset_default_lm, scripts/train_coco.sh): 256x256, batch 32,
# lambda_labelmix 10, EMA 0.9999, 100 epochs of 118,287 images = 369,600 iterations.
presets = dict(paper=dict(train=dict(batch_size=32, iters=369600)))
