"""pix2pixHD: coarse-to-fine generator, multiscale discriminators, instance-level feature embedding.

Wang, Liu, Zhu, Tao, Kautz, Catanzaro, "High-Resolution Image Synthesis and Semantic Manipulation with
Conditional GANs", CVPR 2018. Layouts follow the official NVIDIA/pix2pixHD code (``models/networks.py``,
``models/pix2pixHD_model.py``, ``train.py``, ``encode_features.py``) so that its ``latest_net_G.pth``
loads with ``strict=True`` and gives the official outputs (tests/test_pix2pixhd.py pins this).

Layout: :mod:`methods.nn.global_generator` (G1, shared blocks), :mod:`methods.pix2pixhd.networks` (the
local enhancer, initialisation, official weights), :mod:`methods.pix2pixhd.instance_features` (encoder E,
instance-wise pooling, k-means), :mod:`methods.pix2pixhd.method` (the method, fitting its feature clusters).

- Global generator G1 (Sec. 3.2, Fig. 3): reflect-pad conv7x7 -> ``n_downsample_global`` stride-2 conv3x3
  -> ``n_blocks_global`` residual blocks -> as many ConvTranspose3x3 upsamplings -> reflect-pad conv7x7
  -> tanh, each hidden conv followed by InstanceNorm and ReLU; one ``Sequential`` named ``model``.
- Local enhancer G2: the global generator built at ``ngf * 2**n_local_enhancers`` without its last three
  layers (pad, conv7x7, tanh) runs on the input average-pooled ``n_local_enhancers`` times; each local
  branch ``model{n}_1`` (conv7x7 + one stride-2 downsampling) adds its features to the coarser output and
  ``model{n}_2`` (residual blocks + one upsampling, the last one also the output conv) refines them.
- Input (Sec. 3.3): one-hot labels + the instance boundary map; optionally ``feat_num`` channels of
  instance-wise average-pooled features from an image encoder E (Sec. 3.4), at inference sampled from
  k-means clusters of the training set's features per class.
- Discriminators: ``num_D`` PatchGANs (n_layers 3, InstanceNorm, no spectral norm) on the label input and
  the image concatenated; least-squares GAN loss summed over scales; feature matching (Eq. 4) weighted
  ``lambda_feat * (1/num_D) * (4/(n_layers+1))`` per layer; VGG19 perceptual loss * ``lambda_vgg``; the
  discriminator loss halved; Adam 2e-4, betas (0.5, 0.999); G updated before D on the same fake.

Decisions the paper or the official code leave open, taken here:

- ``niter_fix_global`` counts epochs, as the official code (an epoch: ``ctx.steps_per_epoch``
  iterations, which the trainer sets from the training split). While it runs, the G forward is built
  without the global part's parameters (``ctx.frozen``: ``requires_grad`` off), so they get no gradient and Adam skips
  them (the official optimizer holds only the outermost local branch and E). At its end the official
  ``update_fixed_params`` builds a new Adam over all of G (and E): every moment and step count starts
  afresh, the local branch's too. Here G's Adam is reset in place at the first iteration after the
  fixed epochs (``state.clear()``): the same parameters, betas and learning rate (the official new
  Adam gets ``opt.lr``, and its end-of-epoch ``update_learning_rate`` sets the decayed rate in the same
  step when the fix ends inside the decay), so the same arithmetic, with the trainer's schedulers and
  checkpoints keeping their one optimizer object.
- Discriminator: the shared :class:`methods.nn.discriminators.MultiscaleDiscriminator` (variant
  ``pix2pixhd``) drops the bias of convs followed by the affine-free InstanceNorm, which cancels it: the
  same function with fewer parameters; its keys are SPADE's, not the official ``scale{i}_layer{j}``
  (no official pix2pixHD discriminator is published).
- Instance-wise pooling groups pixels by (instance id, label), not by instance id alone: on Cityscapes,
  whose instance ids encode the class, this is the official grouping; on datasets whose instance maps
  give background stuff one shared id, it keeps classes apart.
- The class of a pooled region is its label (the official code decodes it from the Cityscapes id,
  ``id // 1000``); regions of the ignore label get zero features, and so do classes without clusters at
  inference (the official code leaves such pixels uninitialised).
- feature clusters: scikit-learn's ``KMeans`` as the official ``encode_features.py`` calls it,
  ``min(n_samples, n_clusters)`` centres per class over regions larger than 1/64 of the image,
  ``random_state=0`` and ``n_init=10`` (the default of the scikit-learn of the official code; since 1.4
  the default is one run), recorded in ``extra_info()["feature_clusters"]``. Cluster centres live in
  buffers, so checkpoints carry them. Until :func:`fit_feature_clusters` has run, sampled features are
  zeros (with a warning).
- ``generate(z=...)`` takes a ``[B, num_classes]`` integer tensor choosing the cluster of every region of
  each class (reproducible multimodal outputs); without it each region draws its own cluster, as the
  official ``sample_features``. ``style`` is an image whose encoded features are used instead (the
  official ``--use_encoded_image``).
- No fake-image pool: the official default ``pool_size`` is 0.
"""

from methods.nn.global_generator import GlobalGenerator, ResnetBlock, norm_layer
from methods.pix2pixhd.instance_features import (
    KMEANS_N_INIT,
    KMEANS_RANDOM_STATE,
    FeatureEncoder,
    cluster_features,
    region_average,
    region_features,
    region_map,
)
from methods.pix2pixhd.method import FEATURE_MODES, Pix2PixHD, fit_feature_clusters
from methods.pix2pixhd.networks import (
    GENERATORS,
    UPSAMPLE_INITS,
    UPSAMPLES,
    LocalEnhancer,
    build_generator,
    downsample_input,
    load_global_into_local,
    load_official_generator,
    pix2pixhd_init,
)

__all__ = ["FEATURE_MODES", "GENERATORS", "KMEANS_N_INIT", "KMEANS_RANDOM_STATE", "UPSAMPLES",
           "UPSAMPLE_INITS", "FeatureEncoder", "GlobalGenerator", "LocalEnhancer", "Pix2PixHD", "ResnetBlock",
           "build_generator", "cluster_features", "downsample_input", "fit_feature_clusters",
           "load_global_into_local", "load_official_generator", "norm_layer", "pix2pixhd_init", "region_average",
           "region_features", "region_map"]
