# OASIS on Cityscapes (official set_dataset_default_lm, CityscapesDataset, scripts/train_cityscapes.sh):
# 512x256, batch 20, lr G 4e-4, lambda_labelmix 5, EMA 0.999, 200 epochs of 2,975 images = 29,600 iterations.
# The official loader's don't-care channel is label id 0 ("unlabeled"): it weighs 0 in the N+1 loss.
# The learning rate, EMA and batch are the paper schedule's: they apply at the paper preset only, so the tiny
# preset keeps its own rates (oasis_tiny.py's lr_G / lr_D) on Cityscapes as on every dataset.
loss = dict(lambda_labelmix=5.0, unweighted_classes=[0])
presets = dict(paper=dict(optimizer=dict(lr_G=4e-4), model=dict(ema_decay=0.999), train=dict(batch_size=20)))
