# Chen & Koltun 2017, CRN, on 2 CPU cores: the paper preset's code path with narrow modules (the 64 px image
# size, hence the number of modules, comes from the dataset's tiny preset). Tries: docs/tuning/crn.md.
_base_ = ["../_base_/methods/crn.py"]
# model.num_outputs: 1, as the official 512p and 1024p models: with k outputs each trains only on the pixels it
# wins, and the scored output 0 learns far less in a short run, at twice the compute.
# model.widths: narrow modules, so a run takes minutes on 2 cores.
model = dict(num_outputs=1, widths=(32, 32, 32, 16, 16))
# loss.vgg_weights: random VGG19 weights, so the preset runs offline; the manifest records the choice.
loss = dict(vgg_weights="random")
# optimizer.lr: 1e-3, not TF Adam's 1e-4: the regression loss has no adversary to destabilise, and 1e-4 learns
# too little in 400 iterations.
optimizer = dict(lr=1e-3)
# train.iters: 400 iterations, where the curve flattens at this width.
train = dict(iters=400)
