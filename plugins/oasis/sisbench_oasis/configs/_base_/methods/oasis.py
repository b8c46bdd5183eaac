# OASIS (Schönfeld et al., ICLR 2021): every option, once, with the official boschresearch/OASIS defaults
# (config.py; dataset defaults set in the per-dataset files).
model = dict(
    ngf=64,                  # official channels_G: generator widths 16, 16, 16, 8, 4, 2, 1 x ngf
    z_dim=64,                # 3D noise channels
    use_3d_noise=True,       # official no_3dnoise=False
    noise_mode="image",      # image (official: one vector per image, replicated) | region | pixel
    norm_G="syncbatch",      # SPADE's parameter-free norm: syncbatch | batch | instance
    spectral_norm_G=True,    # official no_spectral_norm=False (G and D)
    spade_hidden=128,        # SPADE's shared embedding width (hard-coded 128 in the official code)
    spade_kernel=3,          # official spade_ks
    init_type="xavier",      # official init_networks: xavier-normal, gain 0.02
    init_gain=0.02,
    use_ema=True,            # official no_EMA=False: evaluate an EMA of the generator
    ema_decay=0.9999,        # official EMA_decay (ADE20K, COCO-Stuff; 0.999 on Cityscapes)
    ema_stat_batches=51,     # train-mode forwards that re-estimate the EMA generator's BatchNorm statistics
)
# The official widths 128, 128, 256, 256, 512, 512 (decoder down to 64) are ndf = 64 (its channels_D is unused).
netD = dict(ndf=64, spectral_norm=True)
loss = dict(
    lambda_labelmix=10.0,        # LabelMix weight (official lambda_labelmix; 5 on Cityscapes); 0 disables it
    class_balancing=True,        # official no_balancing_inloss=False
    unweighted_classes=None,     # label channels weighing 0 in the N+1 loss; None: the don't-care channel
    add_vgg_loss=False,          # official add_vgg_loss: OASIS trains without a perceptual loss
    lambda_vgg=10.0,             # official lambda_vgg, used only with add_vgg_loss=True
    vgg_weights="imagenet",      # imagenet | random | path to a timm/torchvision vgg19 state dict
)
optimizer = dict(type="Adam", lr_G=1e-4, lr_D=4e-4, betas=(0.0, 0.999))
# The official training keeps its learning rates constant; OASIS keeps its own EMA generator (netEMA), so the
# trainer's EMA stays off.
train = dict(lr_schedule=dict(type="constant"), ema=dict(enabled=False))
