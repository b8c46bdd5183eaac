# SPADE (Park et al., CVPR 2019): every option, once, with the official NVlabs/SPADE defaults.
model = dict(
    ngf=64,                      # generator width (blocks 16, 16, 16, 8, 4, 2, 1 x ngf)
    num_upsampling_layers=None,  # normal | more | most; None: the dataset's DataInfo.spade_upsampling
    norm_G="syncbatch",          # SPADE's parameter-free norm: syncbatch | batch | instance
    spectral_norm_G=True,        # spectral norm on the residual blocks' convs (official norm_G "spectral...")
    spade_hidden=128,            # SPADE's shared embedding width (hard-coded 128 in the official code)
    spade_kernel=3,              # SPADE's conv kernel (paper Table 4)
    use_vae=False,               # image encoder + KL: multimodal / style-guided synthesis
    z_dim=256,
    use_instance=None,           # instance-edge channel; None: the dataset's DataInfo.has_instance
    init_type="xavier",          # normal | xavier | xavier_uniform | kaiming | orthogonal
    init_gain=0.02,
)
netD = dict(ndf=64, n_layers=4, num_D=2, norm="instance", spectral_norm=True)
netE = dict(ngf=64, norm="instance", spectral_norm=True)
loss = dict(
    gan_mode="hinge",            # hinge | lsgan | vanilla
    lambda_feat=10.0,            # discriminator feature matching; 0 disables it
    lambda_vgg=10.0,             # VGG19 perceptual loss; 0 disables it
    lambda_kld=0.05,             # KL of the VAE encoder (use_vae only)
    vgg_weights="imagenet",      # imagenet | random | path to a timm/torchvision vgg19 state dict
    vgg_last_layer=None,         # None: relu1_1..relu5_1 as the paper; e.g. "relu2_1" cuts the loss there (CPU presets)
)
# TTUR; betas (0, 0.9) as the official scripts (the paper's 0.999 is a typo per the authors).
optimizer = dict(type="Adam", lr_G=1e-4, lr_D=4e-4, betas=(0.0, 0.9))
