# Cityscapes gtFine, 35 label ids + instance maps; SPADE's fixed resize to 512x256 with flip
# (benchmark/datasets/cityscapes.py). The official tree or pix2pixHD's, detected; in pix2pixHD's, val
# reads test_* (it ships train and test only).
data = dict(
    type="cityscapes",
    root=None,                 # holds leftImg8bit/ + gtFine/, or train_img/ + train_label/ + train_inst/
                               # (pix2pixHD's datasets/cityscapes); or the directory holding that folder
    seed=0,
    splits=("train", "val"),
    eval_split="val",
    preprocess="fixed",        # resize to crop_size x crop_size / aspect_ratio, no crop
    load_size=512,
    crop_size=512,
    aspect_ratio=2.0,
    flip=True,
    use_instance=True,
    limit=None,
    train_images=2975,         # gtFine train (Cordts et al. 2016: 2,975 / 500 / 1,525)
)
presets = dict(
    tiny=dict(data=dict(load_size=128, crop_size=128)),      # 128x64
    paper=dict(data=dict(load_size=512, crop_size=512)),     # 512x256
)
