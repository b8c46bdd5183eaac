# SLNP-GAN (Zhang et al. 2020, seed 002): every option, once. Values the paper states are marked (paper);
# the others are the project's decisions (docs/methods.md).
model = dict(
    g0_scale=2,            # (paper) G0 at half the output resolution: 128 px for 256 px images
    ngf0=64,               # G0 width at its output; x2 per halving of the resolution, up to max_mult
    max_mult=8,
    z_dim=256,             # noise prior Z_np (and VAE code) dimension
    emb_dim=128,           # (paper) D_emb: the label's global embedding G'
    ngf1=64,               # G1 trunk width. The paper gives none; Eq. 16 adds Enc(L1) to y0, so G1 starts at
                           # y0's width (ngf0 = 64) and keeps it: 0.76 M parameters against G0's 22.55 M
                           # (ADE20K), as pix2pixHD's local branch is small next to its global G (docs/methods.md)
    n_blocks_G1=3,         # G1 residual blocks, at y0's resolution (then upsampled to the output)
    att_dim=128,           # key / value / query width of G1's attention
    region_size=16,        # output pixels per attention region side: 16 x 16 regions at 256 px
    norm_G="batch",        # batch | syncbatch | instance (affine) in G0, G1
    use_instance=None,     # instances from the instance map (+ edge channel); None: DataInfo.has_instance
)
noise_prior = dict(
    nf=64,                 # VAE width at its first layer, x2 per halving up to max_mult
    max_mult=8,
    norm="batch",          # (paper, Fig. 4) BatchNorm
    lambda_kld=1.0,        # KL weight of the VAE loss (1: the plain negative ELBO)
    sample_posterior=True, # Z_np sampled from q(Z_np | Dec(z)); False: its mean
)
netD = dict(ndf=64, n_layers=4, spectral_norm=True)   # D0 and D1 share this architecture (paper)
loss = dict(
    gan_mode="vanilla",    # (paper, Eq. 18) cross-entropy GAN on logits
    lambda_feat=10.0,      # lambda of Eq. 20, feature matching on both scales
)
# (paper) AMM, G 1e-4, D 4e-4, beta 0.9/0.999, delta 1e-8, alpha 0.9. type="Adam" for the comparison.
optimizer = dict(type="AMM", lr_G=1e-4, lr_D=4e-4, lr_VAE=1e-4, betas=(0.9, 0.999), delta=1e-8, alpha=0.9)
