# Protocols of the embedded `synthetic` dataset (see docs: PROTOCOLS.md).
protocols = [
    dict(
        id="synthetic-v1",
        # version 2: the dataset's generator v3 (bit-identical on every CPU), the segmenter shipped and
        # pinned instead of trained on each machine, LPIPS diversity; version 1's numbers are not comparable
        version=2,
        dataset="synthetic",
        description="synthetic: SISBench's shipped DeepLabV3 (mIoU, accu, FD-seg) + FID/KID/PR where Inception "
                    "weights are present + LPIPS diversity of multimodal methods + texture and checkerboard "
                    "against the real images",
        split="val",
        resolution=(64, 64),
        num_images=None,
        resize_filter="bicubic",
        # The network ships inside the package (metrics/segmenters/weights/synthetic-v1/, float16, 2.3 MB),
        # pinned by sha256: it never trains at first use. `python -m benchmark segmenter train --dataset
        # synthetic` retrains it with these options (the SegmenterTraining defaults) and says how close the
        # copy is. Shipped: real-image val mIoU 82.58, accu 94.02 (float32 source: 82.58 / 94.02; the two
        # agree on 99.99% of val pixels); trained in 998 s on one thread of a 2-core AMD EPYC.
        segmenter=dict(kind="trained", checkpoint="builtin:synthetic-v1",
                       sha256="ba87d94fe3542cd664d600168355fde38faff69127c7aedfae81d3b71be71970"),
        # mIoU over the classes present in ground truth or prediction (mmseg IoUMetric's nanmean)
        averaging="present_gt_or_pred",
        label_mapping="identity",
        metrics=("segmentation", "fd_seg", "fid", "kid", "precision_recall", "lpips_diversity", "texture"),
        fid_extractor="inception-v3-compat",
        reference_split="val",
        fallback_extractor="fd-seg",
        kid_subset_size=100,
        # LPIPS diversity: AlexNet backbone, 4 samples per map (6 pairs), every evaluated map
        lpips_backbone="alex",
        lpips_samples=4,
        lpips_maps=None,
    ),
]
