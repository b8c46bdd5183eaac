# `<dataset>-trained-deeplabv3`: for datasets with no public segmenter, SISBench trains a DeepLabV3
# (ResNet-50-D8 + ASPP) on the real training images (`python -m benchmark segmenter train`); the
# checkpoint's sha256 is recorded with every number. Not trained automatically: it takes GPU hours.
_segmenter = dict(
    kind="trained",
    options=dict(auto_train=False, iters=40000, batch_size=16, depth=50, stem_channels=64, base_channels=64,
                 head_channels=256, aux_channels=128, output_stride=8, aspp_dilations=(1, 6, 12, 18),
                 optimizer="sgd", lr=0.01, weight_decay=5e-4),
)
_metrics = ("segmentation", "fd_seg", "fid", "kid", "precision_recall", "texture")


def _protocol(dataset, resolution, num_images, what, split="val"):
    return dict(
        id=f"{dataset}-trained-deeplabv3",
        version=1,
        dataset=dataset,
        description=f"{what}: SISBench-trained DeepLabV3 R50-D8 (mIoU, accu, FD-seg) + FID on val",
        split=split,
        resolution=resolution,
        num_images=num_images,
        segmenter=_segmenter,
        # mIoU over the classes present in ground truth or prediction (mmseg IoUMetric's nanmean)
        averaging="present_gt_or_pred",
        label_mapping="identity",
        metrics=_metrics,
        reference_split=split,
    )


protocols = [
    _protocol("coco_stuff", (256, 256), 5000, "COCO-Stuff val 5,000 at 256x256"),
    _protocol("ade20k", (256, 256), 2000, "ADE20K val 2,000 at 256x256"),
    _protocol("ade20k_outdoor", (256, 256), None, "ADE20K-outdoor val at 256x256"),
    _protocol("cityscapes", (256, 512), 500, "Cityscapes val 500 at 256x512"),
    _protocol("celebamask_hq", (256, 256), None, "CelebAMask-HQ test split at 256x256", split="test"),
    # a custom folder dataset: evaluated at its own image size, on its whole val split
    _protocol("folder", None, None, "custom folder dataset"),
]
