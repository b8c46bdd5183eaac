# pix2pixHD (Wang et al., CVPR 2018): the official NVIDIA/pix2pixHD defaults (options/base_options.py,
# train_options.py) for label2city_512p: global generator, ngf 64, 4 downsamplings, 9 residual blocks,
# 2 discriminators of 3 layers, instance norm, LSGAN, feature matching and VGG losses weighted 10.
model = dict(
    netG="global",          # global (G1) | local (G1 + local enhancers, the 2048x1024 model)
    ngf=64,                 # for netG=local: the local branch's width; G1 gets ngf * 2**n_local_enhancers
    n_downsample_global=4,
    n_blocks_global=9,
    n_local_enhancers=1,    # used by netG=local
    n_blocks_local=3,
    niter_fix_global=0,     # epochs (as the official option) training only the outermost local enhancer; then
                            # G's Adam starts afresh over all of G (official update_fixed_params)
    pretrained_global=None,  # netG=local: a trained global generator (.pth or .safetensors) to start G1 from
    norm="instance",        # instance | batch
    upsample="transpose",   # transpose: the official ConvTranspose3x3 s2 | nearest: nearest x2 + conv3x3
                            # (resize-convolution; no checkerboard, not the official layout)
    upsample_init="normal",  # normal: the official N(0, 0.02) | bilinear: transposed convs start as bilinear
                             # upsampling with a random channel mix (no checkerboard at initialisation)
    use_instance=None,      # instance boundary map as input; None: when the dataset has instance maps
    features="none",        # none | instance | label: encoded feature channels (official --instance_feat)
    feat_num=3,
    nef=16,
    n_downsample_E=4,
    n_clusters=10,          # k-means centres per class for sampling features at inference
    ndf=64,
    n_layers_D=3,
    num_D=2,
)
loss = dict(
    gan_mode="lsgan",       # least squares, summed over the discriminator scales
    lambda_feat=10.0,       # feature matching, per layer * (1 / num_D) * (4 / (n_layers_D + 1))
    lambda_vgg=10.0,        # the official code reuses lambda_feat for the VGG loss
    vgg_weights="imagenet",  # imagenet | a local VGG19 state-dict path | random
    vgg_last_layer=None,         # None: relu1_1..relu5_1 as the paper; e.g. "relu2_1" cuts the loss there (CPU presets)
    d_loss_weight=0.5,      # the official code halves the discriminator's loss
)
optimizer = dict(type="Adam", lr=2e-4, betas=(0.5, 0.999))
