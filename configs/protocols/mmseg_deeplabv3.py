# `<dataset>-mmseg-deeplabv3`: mmsegmentation's DeepLabV3 R101-D8 model-zoo checkpoints (run by the
# built-in re-implementation, no mmcv needed) + FID (inception-v3-compat) against the val set.
# Offline without Inception weights FID/KID/PR fall back to FD-seg (as synthetic-v1).
# A newer protocol than the papers': consistent, but not the papers' segmenters. mIoU averages over the
# classes present in ground truth or prediction, as mmseg's IoUMetric (np.nanmean over IoU = I / U).
_metrics = ("segmentation", "fid", "kid", "precision_recall", "texture")

protocols = [
    dict(
        id="coco_stuff-mmseg-deeplabv3",
        version=1,
        dataset="coco_stuff",
        description="COCO-Stuff val 5,000 at 256x256: mmseg DeepLabV3 R101-D8 (171 classes) + FID on val",
        split="val",
        resolution=(256, 256),
        num_images=5000,
        segmenter=dict(kind="mmseg-builtin", name="deeplabv3_r101-d8_4xb4-320k_coco-stuff164k-512x512"),
        averaging="present_gt_or_pred",
        label_mapping="coco_stuff_182_to_171",
        metrics=_metrics,
        reference_split="val",
        fallback_extractor="fd-seg",
    ),
    dict(
        id="ade20k-mmseg-deeplabv3",
        version=1,
        dataset="ade20k",
        description="ADE20K val 2,000 at 256x256: mmseg DeepLabV3 R101-D8 (150 classes) + FID on val",
        split="val",
        resolution=(256, 256),
        num_images=2000,
        segmenter=dict(kind="mmseg-builtin", name="deeplabv3_r101-d8_4xb4-160k_ade20k-512x512"),
        averaging="present_gt_or_pred",
        label_mapping="ade20k_150",
        metrics=_metrics,
        reference_split="val",
        fallback_extractor="fd-seg",
    ),
    dict(
        id="ade20k_outdoor-mmseg-deeplabv3",
        version=1,
        dataset="ade20k_outdoor",
        description="ADE20K-outdoor val subset at 256x256: ADE20K's mmseg DeepLabV3 R101-D8 + FID on val",
        split="val",
        resolution=(256, 256),
        num_images=None,
        segmenter=dict(kind="mmseg-builtin", name="deeplabv3_r101-d8_4xb4-160k_ade20k-512x512"),
        averaging="present_gt_or_pred",
        label_mapping="ade20k_150",
        metrics=_metrics,
        reference_split="val",
        fallback_extractor="fd-seg",
    ),
    dict(
        id="cityscapes-mmseg-deeplabv3",
        version=1,
        dataset="cityscapes",
        description="Cityscapes val 500 at 256x512: mmseg DeepLabV3 R101-D8 (19 train ids) + FID on val",
        split="val",
        resolution=(256, 512),
        num_images=500,
        segmenter=dict(kind="mmseg-builtin", name="deeplabv3_r101-d8_4xb2-80k_cityscapes-512x1024"),
        averaging="present_gt_or_pred",
        label_mapping="cityscapes_35_to_19",
        metrics=_metrics,
        reference_split="val",
        fallback_extractor="fd-seg",
    ),
]
