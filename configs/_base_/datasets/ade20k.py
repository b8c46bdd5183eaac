# ADE20K (ADEChallengeData2016), 150 classes; raw 0 -> ignore 255, raw k -> k - 1 as in SPADE
# (benchmark/datasets/ade20k.py). SPADE: load 286 -> random crop 256 -> flip; test: resize to 256.
data = dict(
    type="ade20k",
    root=None,                 # ADEChallengeData2016 or the directory holding it; or SPADE's one folder
                               # of ADE_*.jpg + ADE_*.png
    seed=0,
    splits=("train", "val"),
    eval_split="val",
    preprocess="resize_and_crop",
    load_size=286,
    crop_size=256,
    aspect_ratio=1.0,
    flip=True,
    use_instance=False,
    limit=None,
    train_images=20210,        # ADEChallengeData2016 images/training (SceneParsing benchmark; SPADE Sec. 4: 20,210)
)
presets = dict(
    tiny=dict(data=dict(load_size=72, crop_size=64)),
    paper=dict(data=dict(load_size=286, crop_size=256)),
)
