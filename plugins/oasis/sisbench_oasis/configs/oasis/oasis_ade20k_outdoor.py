# OASIS on ADE20K-outdoor: the official code has no mode of its own for it; the paper trains it as ADE20K
# (batch 32, 200 epochs, lambda_labelmix 10, EMA 0.9999). Its image list was never published (the authors'
# subset had "very close to 10k" training images, boschresearch/OASIS issue #23) and SISBench selects outdoor
# scenes by its own rule, so data.train_images is unknown until the data is read: train.iters stays at 200
# epochs of 10,000 images (200 x 312 = 62,400); `--set data.train_images=N` derives it from your selection.
presets = dict(paper=dict(train=dict(iters=62400)))
