"""Paper schedules in epochs -> iterations (benchmark/schedule.py), per method and dataset, through
load_config as a run resolves them."""

from __future__ import annotations

import pytest

from benchmark.config import ConfigError, load_config
from benchmark.schedule import apply_epochs

# Official training-set sizes the dataset configs state (data.train_images).
SIZES = {"ade20k": 20210, "cityscapes": 2975, "coco_stuff": 118287, "celebamask_hq": 24183}


@pytest.mark.parametrize("dataset", sorted(SIZES))
def test_pix2pixhd_and_pix2pix_run_100_plus_100_epochs_at_batch_1(dataset):
    for method in ("pix2pixhd", "pix2pix"):
        cfg = load_config(method, dataset, "paper")
        train = cfg["train"]
        assert train["batch_size"] == 1
        assert train["iters"] == 200 * SIZES[dataset], (method, dataset)
        assert train["lr_schedule"] == dict(type="linear_decay", decay_fraction=0.5)
        d = train["epochs_derivation"]
        assert (d["train_images"], d["train_images_from"], d["iters_per_epoch"]) == (
            SIZES[dataset], "data.train_images", SIZES[dataset])


def test_cityscapes_gives_the_595000_iterations_of_200_epochs():
    assert load_config("pix2pixhd", "cityscapes", "paper")["train"]["iters"] == 595000
    assert load_config("pix2pix", "cityscapes", "paper")["train"]["iters"] == 595000


@pytest.mark.parametrize("dataset", sorted(SIZES))
def test_crn_runs_200_epochs_at_a_constant_rate(dataset):
    train = load_config("crn", dataset, "paper")["train"]
    assert train["iters"] == 200 * SIZES[dataset]
    assert train["lr_schedule"] == dict(type="constant")


@pytest.mark.parametrize("dataset, epochs, decay_fraction", [
    ("ade20k", 200, 0.5), ("cityscapes", 200, 0.5), ("coco_stuff", 100, 0.0), ("celebamask_hq", 200, 0.5)])
def test_spade_epochs_per_dataset(dataset, epochs, decay_fraction):
    train = load_config("spade", dataset, "paper")["train"]
    batch = train["batch_size"]
    assert batch == (16 if dataset == "cityscapes" else 32)
    assert train["iters"] == epochs * (SIZES[dataset] // batch)
    expected = dict(type="linear_decay", decay_fraction=decay_fraction) if decay_fraction else dict(type="constant")
    assert train["lr_schedule"] == expected


def test_spade_ade20k_and_coco_numbers():
    assert load_config("spade", "ade20k", "paper")["train"]["iters"] == 126200      # 200 x 631
    assert load_config("spade", "coco_stuff", "paper")["train"]["iters"] == 369600  # 100 x 3696


def test_pix2pixhd_2048p_variant_runs_50_plus_50_epochs():
    cfg = load_config("pix2pixhd", "cityscapes", "paper",
                      extra_files=["configs/pix2pixhd/variants/pix2pixhd_cityscapes_2048p.py"])
    assert cfg["train"]["iters"] == 100 * 2975 and cfg["model"]["niter_fix_global"] == 10


def test_synthetic_uses_num_train_and_limit_caps_the_epoch():
    train = load_config("pix2pixhd", "synthetic", "paper")["train"]
    assert train["iters"] == 200 * 2000 and train["epochs_derivation"]["train_images_from"] == "data.num_train"
    train = load_config("pix2pixhd", "ade20k", "paper", ["data.limit=100"])["train"]
    assert train["iters"] == 200 * 100 and train["epochs_derivation"]["train_images_from"] == "data.limit"


def test_overrides_win_and_epochs_can_be_changed():
    train = load_config("pix2pixhd", "ade20k", "paper", ["train.iters=5000"])["train"]
    assert train["iters"] == 5000 and train["epochs_derivation"]["iters_overridden"] == 5000
    assert train["lr_schedule"]["decay_fraction"] == 0.5
    train = load_config("pix2pixhd", "ade20k", "paper", ["train.epochs.decay=0"])["train"]
    assert train["iters"] == 100 * 20210 and train["lr_schedule"] == dict(type="constant")
    train = load_config("spade", "ade20k", "paper", ["train.batch_size=16"])["train"]
    assert train["iters"] == 200 * (20210 // 16)


def test_unknown_sizes_keep_the_preset_iterations_and_say_why():
    train = load_config("pix2pixhd", "ade20k_outdoor", "paper")["train"]
    assert train["iters"] == 200000 and "data.train_images" in train["epochs_derivation"]["not_derived"]
    train = load_config("pix2pixhd", "ade20k_outdoor", "paper", ["data.train_images=5000"])["train"]
    assert train["iters"] == 200 * 5000


def test_tiny_presets_and_methods_without_published_epochs_are_untouched():
    for method in ("spade", "slnp", "adanorm", "pix2pixhd", "pix2pix", "crn"):
        assert "epochs_derivation" not in load_config(method, "synthetic", "tiny")["train"]
    for method in ("slnp", "adanorm"):        # their papers give no schedule in epochs
        assert "epochs_derivation" not in load_config(method, "ade20k", "paper")["train"]


def test_bad_schedules_are_one_sentence_errors():
    with pytest.raises(ConfigError, match="fewer than one batch"):
        load_config("spade", "synthetic", "paper", ["data.limit=8"])
    cfg = {"train": {"epochs": {"constant": 0, "decay": 0}, "batch_size": 1, "iters": 1}, "data": {}}
    with pytest.raises(ConfigError, match="train.epochs"):
        apply_epochs(cfg)
