# Your own data: <root>/<split>/{images,labels[,instances]} (+ <root>/dataset.json); see
# benchmark/datasets/folder.py. Set root (or --data-root); num_classes etc. may come from dataset.json.
data = dict(
    type="folder",
    root=None,
    seed=0,
    splits=("train", "val"),
    eval_split="val",
    num_classes=None,          # None: from dataset.json
    ignore_index=None,
    class_names=None,
    palette=None,
    preprocess="resize_and_crop",
    load_size=286,
    crop_size=256,
    aspect_ratio=1.0,
    flip=True,
    use_instance=True,         # used when <root>/<first split>/instances exists
    limit=None,
    train_images=None,         # your images in the training split, for paper schedules in epochs (None: not known)
)
presets = dict(
    tiny=dict(data=dict(load_size=72, crop_size=64)),
    paper=dict(data=dict(load_size=286, crop_size=256)),
)
