# CRN on 2 CPU cores: the paper's code path with narrow modules (the 64 px image size, hence the number of
# modules, comes from the dataset's tiny preset; 5 modules at 64x64 or 64x128) and one output.
_base_ = ["../_base_/methods/crn.py"]
# k = 1 output, as the official 512p and 1024p models (demo_256p.py's k = 9 is the diverse variant): with k = 3
# each output is trained on the pixels it wins only, and output 0, the one scored, reached 39.1 mIoU after
# 400 iterations (lr 1e-3) against 61.1 for k = 1; k = 3 also costs 172 GFLOP per iteration against 75.
model = dict(num_outputs=1, widths=(32, 32, 32, 16, 16))
# Random VGG19 weights, chosen explicitly: the tiny preset must run offline, where the ImageNet weights
# cannot be downloaded. A random VGG still gives a multi-scale feature loss; the manifest records the
# choice (CRN.extra_info()["vgg_weights"]).
loss = dict(vgg_weights="random")
# Learning rate 1e-3 (TF Adam's 1e-4 in the official code): the regression loss has no adversary to
# destabilise; the first landing's 1e-4, k = 3 and 300 iterations scored 13.0 mIoU (the review's table).
# Measured (seed 0, protocol synthetic-v1, oracle mIoU 82.6): mIoU 47.3 / 58.8 / 56.9 / 61.1 at 100 / 200 /
# 300 / 400 iterations of batch 8 (FD-seg 4.5 at the end); 74.8 GFLOP and ~0.28 s per iteration on 2 idle
# cores. The samples are smooth, layout-true landscapes (CRN regresses; it has no adversarial texture).
optimizer = dict(lr=1e-3)
train = dict(iters=400)
