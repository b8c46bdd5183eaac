# SPADE on COCO-Stuff: 100 epochs (arXiv:1903.07291v2, Appendix A; also quoted in NVlabs/SPADE#51). The
# appendix states the linear decay after epoch 100 only for Cityscapes and ADE20K, so here the rate stays
# constant; whether the authors decayed it over the second 50 epochs was asked in NVlabs/SPADE#51 and is
# unanswered. 100 epochs of 3,696 batches of 32 = 369,600 iterations.
presets = dict(paper=dict(train=dict(epochs=dict(constant=100, decay=0))))
