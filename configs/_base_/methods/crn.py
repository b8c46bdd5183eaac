# CRN (Chen & Koltun, ICCV 2017): the official CQFIO/PhotographicImageSynthesis demo_256p.py settings.
model = dict(
    num_outputs=9,         # k diverse images per label map (9 at 256p; the official 512p/1024p use 1)
    start_height=4,        # the first module runs at 4 x (4 * aspect): 4x8 for 256x512, 4x4 for square
    widths=None,           # None: 1024 below 128 px height, 512 at 128-256, 128 at 512, 32 at 1024
    norm_eps=1e-12,        # TF slim.layer_norm's variance epsilon
    output_index=0,        # which of the k outputs generate() returns when no z is given
)
loss = dict(
    # pixels, relu1_2, relu2_2, relu3_2, relu4_2, relu5_2 (demo_256p.py's 1, 1/1.6, 1/2.3, 1/1.8, 1/2.8, 10/0.8)
    layer_weights=(1.0, 1 / 1.6, 1 / 2.3, 1 / 1.8, 1 / 2.8, 10 / 0.8),
    min_weight=0.999,      # sum over classes of the best output's error
    mean_weight=0.001,     # sum over classes of the mean error over the k outputs
    vgg_weights="imagenet",
    vgg_pool="avg",        # the official VGG averages where VGG19 takes maxima
)
optimizer = dict(type="Adam", lr=1e-4, betas=(0.9, 0.999))  # TF AdamOptimizer defaults
