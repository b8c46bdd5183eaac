# Your own data (benchmark/datasets/folder.py): <root>/<split>/{images,labels[,instances]},
# <root>/<split>_{img,label[,inst]} (pix2pixHD's and SPADE's), or directories named per split below
# (SPADE's --image_dir/--label_dir/--instance_dir), e.g. --set data.splits.train.images=/data/photos.
# root (or --data-root) is a directory, optionally holding dataset.json, or the path of such a JSON file;
# num_classes etc. may come from dataset.json.
data = dict(
    type="folder",
    # the dataset's name in run paths (results/runs/<name>/...), tables and figure titles; None: the "name"
    # of dataset.json, else "folder" (left out of run ids while None)
    name=None,
    root=None,
    seed=0,
    # each split's directories; None: from dataset.json's "splits", else the tree under root. Relative
    # paths are relative to root's directory (the current directory without a root).
    splits=dict(
        train=dict(images=None, labels=None, instances=None),
        val=dict(images=None, labels=None, instances=None),
    ),
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
    use_instance=True,         # used when the first split has an instance directory
    limit=None,
    train_images=None,         # your images in the training split, for paper schedules in epochs (None: not known)
)
presets = dict(
    tiny=dict(data=dict(load_size=72, crop_size=64)),
    paper=dict(data=dict(load_size=286, crop_size=256)),
)
