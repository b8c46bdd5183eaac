# CelebAMask-HQ, 19 face-part classes combined once from the per-part masks; CelebA's train/val/test
# partition, evaluated on test (benchmark/datasets/celebamask_hq.py).
data = dict(
    type="celebamask_hq",
    root=None,                 # CelebAMask-HQ/ (CelebA-HQ-img/, CelebAMask-HQ-mask-anno/, the mapping
                               # file) or the directory the archive was unpacked in
    seed=0,
    splits=("train", "val", "test"),
    eval_split="test",
    partition_file=None,       # None: list_eval_partition.txt in CelebAMask-HQ/ or in root (CelebA's)
    label_cache=None,          # None: $SISBENCH_CACHE/celebamask_hq/<hash of root>
    preprocess="resize_and_crop",
    load_size=256,             # faces are aligned: resize and flip, no random crop
    crop_size=256,
    aspect_ratio=1.0,
    flip=True,
    use_instance=False,
    limit=None,
    train_images=24183,        # CelebA-HQ images in CelebA's train partition (MaskGAN, CVPR 2020, Sec. 3: 24,183)
)
presets = dict(
    tiny=dict(data=dict(load_size=64, crop_size=64)),
    paper=dict(data=dict(load_size=256, crop_size=256)),
)
