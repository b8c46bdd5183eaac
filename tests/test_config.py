"""Config resolution: presets, _base_ inheritance, --set overrides, the dumped config."""

from __future__ import annotations

import pytest

from benchmark.config import ConfigError, config_hash, dump_config, load_config


def test_presets_resolve_and_differ():
    tiny = load_config("spade", "synthetic", "tiny")
    paper = load_config("spade", "synthetic", "paper")
    assert tiny["method"] == "spade" and tiny["preset"] == "tiny"
    assert tiny["model"]["ngf"] < paper["model"]["ngf"] == 64
    assert config_hash(tiny) != config_hash(paper)
    assert config_hash(tiny) == config_hash(load_config("spade", "synthetic", "tiny"))


def test_set_changes_one_key_and_unknown_keys_fail():
    cfg = load_config("spade", "synthetic", "tiny", ["model.ngf=24", "train.iters=7"])
    assert cfg["model"]["ngf"] == 24 and cfg["train"]["iters"] == 7
    with pytest.raises(ConfigError, match="no key 'model.ngff'"):
        load_config("spade", "synthetic", "tiny", ["model.ngff=24"])
    with pytest.raises(ConfigError, match="no key 'modle'"):
        load_config("spade", "synthetic", "tiny", ["modle.ngf=24"])
    with pytest.raises(ConfigError, match="key=value"):
        load_config("spade", "synthetic", "tiny", ["model.ngf"])
    with pytest.raises(ConfigError, match="unknown preset"):
        load_config("spade", "synthetic", "huge")


def test_dump_marks_non_defaults(tmp_path):
    cfg = load_config("spade", "synthetic", "tiny", ["model.ngf=24"])
    dump_config(cfg, tmp_path / "config.py")
    text = (tmp_path / "config.py").read_text()
    assert "#   model.ngf = 24   (default:" in text
    from mmengine.config import Config

    again = Config.fromfile(str(tmp_path / "config.py"))
    assert again["model"]["ngf"] == 24


def test_extra_config_file_is_merged_before_set(tmp_path):
    from benchmark.config import CONFIG_ROOT

    variant = CONFIG_ROOT / "pix2pixhd" / "variants" / "pix2pixhd_cityscapes_2048p.py"
    cfg = load_config("pix2pixhd", "cityscapes", "paper", ["model.ngf=16"], extra_files=[variant])
    assert cfg["model"]["netG"] == "local" and cfg["data"]["crop_size"] == 2048
    assert cfg["model"]["ngf"] == 16
    assert any("variants" in f for f in cfg["_meta_"]["files"])
    with pytest.raises(ConfigError, match="--config .*no such file"):
        load_config("spade", "synthetic", "tiny", extra_files=[tmp_path / "nope.py"])
