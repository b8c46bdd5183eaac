# Protocols of the embedded `synthetic` dataset (see docs: PROTOCOLS.md).
protocols = [
    dict(
        id="synthetic-v1",
        version=1,
        dataset="synthetic",
        description="synthetic: SISBench-trained DeepLabV3 (mIoU, accu, FD-seg) + FID/KID/PR where Inception "
                    "weights are present",
        split="val",
        resolution=(64, 64),
        num_images=None,
        resize_filter="bicubic",
        # Trained on the real training images the first time it is needed (minutes on a CPU), then reused.
        segmenter=dict(kind="trained", options=dict(auto_train=True)),
        # mIoU over the classes present in ground truth or prediction (mmseg IoUMetric's nanmean)
        averaging="present_gt_or_pred",
        label_mapping="identity",
        metrics=("segmentation", "fd_seg", "fid", "kid", "precision_recall", "lpips_diversity"),
        fid_extractor="inception-v3-compat",
        reference_split="val",
        fallback_extractor="fd-seg",
        kid_subset_size=100,
    ),
]
