# COCO-Stuff 164k, 182 classes + unlabeled (255, don't care); SPADE's or the official layout, detected
# (benchmark/datasets/coco_stuff.py). SPADE: load 286 -> random crop 256 -> flip; test: resize to 256.
data = dict(
    type="coco_stuff",
    root=None,                 # the dataset folder or the directory holding it
    seed=0,
    splits=("train", "val"),
    eval_split="val",
    preprocess="resize_and_crop",
    load_size=286,
    crop_size=256,
    aspect_ratio=1.0,
    flip=True,
    use_instance=True,         # SPADE's train_inst/val_inst maps, when present
    limit=None,
    train_images=118287,       # COCO 2017 train, as cocostuff-164k's train2017 (SPADE Sec. 4 rounds: 118,000)
)
presets = dict(
    tiny=dict(data=dict(load_size=72, crop_size=64)),
    paper=dict(data=dict(load_size=286, crop_size=256)),
)
