# OASIS on ADE20K-outdoor: the official code has no mode of its own for it; the paper trains it as ADE20K
# (batch 32, lambda_labelmix 10, EMA 0.9999, 200 epochs). The authors' subset had "very close to 10k" training
# images (boschresearch/OASIS issue #23), so 200 epochs are 200 x 312 = 62,400 iterations; SISBench selects
# outdoor scenes by its own rule, so set train.iters to 200 x (its training images // 32) for exact epochs.
presets = dict(paper=dict(train=dict(batch_size=32, iters=62400)))
