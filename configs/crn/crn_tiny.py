# CRN on 2 CPU cores: the paper's code path with narrow modules (the 64 px image size, hence the number of
# modules, comes from the dataset's tiny preset; 5 modules at 64x64 or 64x128) and k = 3 outputs.
_base_ = ["../_base_/methods/crn.py"]
model = dict(num_outputs=3, widths=(32, 32, 32, 16, 16))
# Random VGG19 weights, chosen explicitly: the tiny preset must run offline, where the ImageNet weights
# cannot be downloaded. A random VGG still gives a multi-scale feature loss; the manifest records the
# choice (CRN.extra_info()["vgg_weights"]).
loss = dict(vgg_weights="random")
