# The outdoor scenes of ADE20K, chosen from sceneCategories.txt by a documented rule, or from a given list
# (benchmark/datasets/ade20k.py). Same preprocessing as ADE20K.
data = dict(
    type="ade20k_outdoor",
    root=None,                 # as for ade20k: ADEChallengeData2016 or the directory holding it
    seed=0,
    splits=("train", "val"),
    eval_split="val",
    outdoor_list=None,         # a file of image names replacing the scene rule (e.g. a published list)
    preprocess="resize_and_crop",
    load_size=286,
    crop_size=256,
    aspect_ratio=1.0,
    flip=True,
    use_instance=False,
    limit=None,
    train_images=None,         # unknown before the selection runs: the outdoor list was never published
)
presets = dict(
    tiny=dict(data=dict(load_size=72, crop_size=64)),
    paper=dict(data=dict(load_size=286, crop_size=256)),
)
