# `<dataset>-trained-deeplabv3`: for datasets with no public segmenter, SISBench trains a DeepLabV3 on the
# real training images (`python -m benchmark segmenter train --dataset D [--protocol P]`); the checkpoint's
# sha256 is recorded with every number. Two sizes, each its own protocol (numbers of the two never mix):
# - `<dataset>-trained-deeplabv3`: the full DeepLabV3 R50-D8 + ASPP, mmseg's recipe (SGD, 40k iterations,
#   batch 16); for GPUs: hours on one.
# - `<dataset>-trained-deeplabv3-cpu`: the synthetic-v1 network and recipe (ResNet-18 at 16 base channels,
#   output stride 4, AdamW, 600 iterations, batch 16): minutes on a laptop's CPU at the tiny preset's 64 px;
#   the default of `folder` (your own data).
# `segmenter train --iters/--batch-size/--crop` replace the iterations, batch and crop of either; the batch
# is capped at the training split's size. Neither trains on first use: `segmenter train` does, and prints
# the network's real-image val mIoU (the oracle). Offline without Inception weights FID/KID/PR fall back to
# FD-seg (as synthetic-v1).
_full = dict(
    kind="trained",
    options=dict(auto_train=False, iters=40000, batch_size=16, depth=50, stem_channels=64, base_channels=64,
                 head_channels=256, aux_channels=128, output_stride=8, aspp_dilations=(1, 6, 12, 18),
                 optimizer="sgd", lr=0.01, weight_decay=5e-4),
)
# the SegmenterTraining defaults: synthetic-v1's segmenter (metrics/segmenters/train.py)
_cpu = dict(kind="trained", options=dict(auto_train=False))
_metrics = ("segmentation", "fd_seg", "fid", "kid", "precision_recall", "texture")


def _protocol(dataset, resolution, num_images, what, split="val", cpu=False):
    return dict(
        id=f"{dataset}-trained-deeplabv3" + ("-cpu" if cpu else ""),
        version=1,
        dataset=dataset,
        description=f"{what}: SISBench-trained "
                    + ("small DeepLabV3 R18 (CPU recipe)" if cpu else "DeepLabV3 R50-D8 (GPU recipe)")
                    + " (mIoU, accu, FD-seg) + FID on val, FD-seg offline",
        split=split,
        resolution=resolution,
        num_images=num_images,
        segmenter=_cpu if cpu else _full,
        # mIoU over the classes present in ground truth or prediction (mmseg IoUMetric's nanmean)
        averaging="present_gt_or_pred",
        label_mapping="identity",
        metrics=_metrics,
        reference_split=split,
        fallback_extractor="fd-seg",
    )


_datasets = [
    ("coco_stuff", (256, 256), 5000, "COCO-Stuff val 5,000 at 256x256", "val"),
    ("ade20k", (256, 256), 2000, "ADE20K val 2,000 at 256x256", "val"),
    ("ade20k_outdoor", (256, 256), None, "ADE20K-outdoor val at 256x256", "val"),
    ("cityscapes", (256, 512), 500, "Cityscapes val 500 at 256x512", "val"),
    ("celebamask_hq", (256, 256), None, "CelebAMask-HQ test split at 256x256", "test"),
    # a custom folder dataset: evaluated at its own image size, on its whole val split
    ("folder", None, None, "custom folder dataset", "val"),
]
protocols = [_protocol(d, r, n, w, split=s, cpu=cpu) for d, r, n, w, s in _datasets for cpu in (False, True)]
