# pix2pix (Isola et al., CVPR 2017): the official junyanz/pytorch-CycleGAN-and-pix2pix defaults for
# --model pix2pix (netG unet_256, netD basic, norm batch, gan_mode vanilla, lambda_L1 100, lr 2e-4, beta1 0.5).
model = dict(
    ngf=64,
    ndf=64,
    num_downs=None,        # None: log2 of the image's short side (unet_256 -> 8, unet_128 -> 7)
    n_layers_D=3,          # 3: the 70x70 PatchGAN
    dropout=0.5,           # in the num_downs - 5 intermediate ngf*8 decoder blocks
    init_gain=0.02,        # conv weights N(0, 0.02), BatchNorm weights N(1, 0.02)
    inference="paper",     # paper: test-time dropout + per-image BatchNorm statistics; eval: running stats
    use_instance=False,    # the paper's input is the label map alone
)
loss = dict(
    gan_mode="vanilla",    # cross-entropy on logits
    lambda_l1=100.0,
    d_loss_weight=0.5,     # the official code halves the discriminator's loss
)
optimizer = dict(type="Adam", lr=2e-4, betas=(0.5, 0.999))
