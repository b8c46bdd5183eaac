# Adaptive-normalization hybrid (Xu & Tan 2022, seed 000): every option, once. Values the paper states
# are marked (paper); the others are the project's decisions (docs/methods.md, METHODS.md).
model = dict(
    ngf=64,                      # generator width: front ngf, 2 ngf, 4 ngf; core 4 ngf
    n_downsample=2,              # (paper) two downsampling and two upsampling layers
    core=("adanorm", "spade", "adanorm", "spade", "adanorm", "spade"),  # semantic-core residual blocks
    norm_G="syncbatch",          # (paper) synchronised BatchNorm; param-free norm of AdaNorm and SPADE
    spectral_norm_G=True,        # (paper) spectral norm on G's convs (not inside SPADE/AdaNorm)
    spade_hidden=128,            # SPADE's shared embedding width
    up_block="conv",             # each upsampling: conv = nearest x2 + conv3x3 + SPADE + ReLU; spade_resblock =
                                 # nearest x2 + SPADE residual block (as SPADE's generator)
    padding_mode="zeros",        # padding of G's 3x3 convs (front, core, upsampling): zeros | reflect
    upsample_mode="nearest",     # the decoder's x2 feature upsampling: nearest (as SPADE) | bilinear
    output_kernel=7,             # the output conv (reflect-padded): 7 (pix2pixHD's front/back) | 3 (SPADE's conv_img) | 5
    front_norm="instance",       # norm after each conv of G's front (conv7x7, strided convs): instance | batch | none
    z_dim=256,                   # style code from the VAE encoder
    use_instance=None,           # instance-edge channel; None: the dataset's DataInfo.has_instance
    init_type="xavier",          # SPADE's initialisation
    init_gain=0.02,
)
netD = dict(                     # (paper) pix2pixHD's multiscale discriminator, spectral norm
    ndf=64, n_layers=3, num_D=2, norm="instance", spectral_norm=True, variant="pix2pixhd")
netE = dict(ngf=64, norm="instance", spectral_norm=True)   # SPADE's ConvEncoder
loss = dict(
    gan_mode="hinge",            # (paper) hinge loss
    lambda_feat=10.0,            # feature matching (paper names it; weight as SPADE)
    lambda_vgg=10.0,             # perceptual loss (paper names it; weight as SPADE); 0 disables it
    lambda_kld=0.05,             # KL of the encoder (paper names it; weight as SPADE)
    vgg_weights="imagenet",      # imagenet | random | path to a timm/torchvision vgg19 state dict
    vgg_last_layer=None,         # None: relu1_1..relu5_1 as the paper; e.g. "relu2_1" cuts the loss there (CPU presets)
)
optimizer = dict(type="Adam", lr_G=1e-4, lr_D=4e-4, betas=(0.0, 0.999))   # (paper) Sec. 4.1
# Options added after runs were recorded, with the values those runs used: left out of a run's id while they
# hold them, so finished runs keep their ids (benchmark.config.run_identity).
run_id_defaults = {"model.upsample_mode": "nearest", "model.output_kernel": 7, "model.front_norm": "instance"}
