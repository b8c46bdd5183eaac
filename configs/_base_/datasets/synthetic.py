# The embedded dataset: procedural landscapes, 10 classes (benchmark/datasets/synthetic.py).
# Generated once into a cache directory keyed by the generation parameters; nothing is downloaded.
data = dict(
    type="synthetic",
    root=None,                 # cache base; None: $SISBENCH_CACHE/synthetic or ~/.cache/sisbench/synthetic
    seed=0,                    # augmentation seed: crop/flip of sample i in epoch e come from (seed, e, i)
    splits=("train", "val"),
    eval_split="val",
    generator_seed=0,          # which landscapes are generated
    render_size=64,            # generated images are render_size x render_size
    num_train=400,
    num_val=100,
    preprocess="resize_and_crop",
    load_size=72,
    crop_size=64,
    aspect_ratio=1.0,
    flip=True,
    use_instance=False,
    limit=None,                # use only the first N samples of each split
    train_images=None,         # None: num_train (the generated split's size)
)
# data.render_size, data.load_size, data.crop_size: 64 px (load 72, crop 64, as SPADE's 286 -> 256), so the tiny
# presets train in minutes on 2 CPU cores; the paper preset renders the papers' 256 px.
# data.num_train, data.num_val: 400 training and 100 evaluation images, what a tiny run sees and scores in minutes.
presets = dict(
    tiny=dict(data=dict(render_size=64, num_train=400, num_val=100, load_size=72, crop_size=64)),
    paper=dict(data=dict(render_size=256, num_train=2000, num_val=500, load_size=286, crop_size=256)),
)
