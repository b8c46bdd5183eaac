"""Config resolution: presets, _base_ inheritance, --set overrides, the dumped config, the search path."""

from __future__ import annotations

import os

import pytest

from benchmark.config import (
    CONFIG_ROOT,
    ConfigError,
    config_hash,
    dump_config,
    load_config,
    load_data_config,
    to_plain,
)


def test_presets_resolve_and_differ():
    tiny = load_config("spade", "synthetic", "tiny")
    paper = load_config("spade", "synthetic", "paper")
    assert tiny["method"] == "spade" and tiny["preset"] == "tiny"
    assert tiny["model"]["ngf"] < paper["model"]["ngf"] == 64
    assert config_hash(tiny) != config_hash(paper)
    assert config_hash(tiny) == config_hash(load_config("spade", "synthetic", "tiny"))


def test_options_at_their_run_id_default_keep_finished_runs_ids():
    """An option added to a method after runs were recorded (listed in ``run_id_defaults`` with the value
    those runs used) leaves run ids and seed groups unchanged while it holds that value."""
    from benchmark.results import config_group

    cfg = load_config("adanorm", "synthetic", "tiny")
    assert cfg["run_id_defaults"]["model.output_kernel"] == 7 == cfg["model"]["output_kernel"]
    # the config as recorded before the options existed: no keys, no run_id_defaults
    before = to_plain(cfg)
    for key in cfg["run_id_defaults"]:
        del before["model"][key.split(".")[1]]
    del before["run_id_defaults"]
    assert config_hash(cfg) == config_hash(before)
    assert config_group({**to_plain(cfg), "seed": 3}) == config_group(before)
    # another value is another experiment
    changed = load_config("adanorm", "synthetic", "tiny", ["model.output_kernel=3"])
    assert config_hash(changed) != config_hash(cfg)
    assert config_group(to_plain(changed)) != config_group(before)
    # a listed key the config lacks, or a nested path through a non-dict, is ignored
    assert config_hash({**before, "run_id_defaults": {"model.absent": 1, "seed.x": 2}}) == config_hash(before)


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
    variant = CONFIG_ROOT / "pix2pixhd" / "variants" / "pix2pixhd_cityscapes_2048p.py"
    cfg = load_config("pix2pixhd", "cityscapes", "paper", ["model.ngf=16"], extra_files=[variant])
    assert cfg["model"]["netG"] == "local" and cfg["data"]["crop_size"] == 2048
    assert cfg["model"]["ngf"] == 16
    assert any("variants" in f for f in cfg["_meta_"]["files"])
    with pytest.raises(ConfigError, match="--config .*no such file"):
        load_config("spade", "synthetic", "tiny", extra_files=[tmp_path / "nope.py"])


# -- the config search path ------------------------------------------------------------------------------

def write(path, text: str):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


@pytest.fixture
def fake_plugin(tmp_path, monkeypatch):
    """An importable config package ``fakeplug_configs`` declared by a real ``sisbench.configs`` entry point
    (the installed-distribution scan is replaced; resolving the package goes through importlib as usual)."""
    from importlib import metadata

    import benchmark.config as config

    root = tmp_path / "site"
    pkg = root / "fakeplug_configs"
    write(pkg / "_base_" / "methods" / "fakeplug.py", "model = dict(ngf=5, depth=2)\n")
    # its own base, and the built-in tiny schedule: _base_ resolves across layers
    write(pkg / "fakeplug" / "fakeplug_tiny.py",
          '_base_ = ["../_base_/methods/fakeplug.py", "../_base_/schedules/tiny.py"]\ntrain = dict(iters=11)\n')
    write(pkg / "spade" / "spade_synthetic.py", "model = dict(ngf=6)\n")  # a plugin may add to a built-in method
    monkeypatch.syspath_prepend(str(root))
    monkeypatch.delenv("SISBENCH_CONFIG_PATH", raising=False)
    eps = [metadata.EntryPoint("fakeplug", "fakeplug_configs", config.ENTRY_POINT_GROUP)]
    monkeypatch.setattr(config, "plugin_entry_points", lambda: eps)
    return pkg


def sources(cfg):
    return {s["role"]: (s["file"], s["layer"]) for s in cfg["_meta_"]["sources"]}


def test_plugin_layer_supplies_a_method_and_bases_across_layers(fake_plugin):
    cfg = load_config("fakeplug", "synthetic", "tiny")
    assert cfg["model"] == {"ngf": 5, "depth": 2} and cfg["train"]["iters"] == 11
    assert cfg["train"]["batch_size"] == 8  # the built-in schedule, inherited through the plugin's _base_
    got = sources(cfg)
    assert got["method preset"] == ("fakeplug/fakeplug_tiny.py", "plugin 'fakeplug'")
    assert got["schedule"] == ("_base_/schedules/tiny.py", "built-in")
    (preset,) = [s for s in cfg["_meta_"]["sources"] if s["role"] == "method preset"]
    assert [(b["file"], b["layer"]) for b in preset["bases"]] == [
        ("_base_/methods/fakeplug.py", "plugin 'fakeplug'"), ("_base_/schedules/tiny.py", "built-in")]
    spade = load_config("spade", "synthetic", "tiny")
    assert spade["model"]["ngf"] == 6 and sources(spade)["method-dataset"][1] == "plugin 'fakeplug'"


def test_later_layers_win_env_then_config_dir(fake_plugin, tmp_path, monkeypatch):
    env_a = tmp_path / "env_a"
    env_b = tmp_path / "env_b"
    cli = tmp_path / "cli"
    base = '_base_ = ["../_base_/methods/fakeplug.py"]\n'
    write(env_a / "fakeplug" / "fakeplug_tiny.py", base + "train = dict(iters=21)\n")
    write(env_b / "fakeplug" / "fakeplug_tiny.py", base + "train = dict(iters=22)\n")
    # replacing a base changes every config built on it, whichever layer the config itself came from
    write(env_b / "_base_" / "methods" / "fakeplug.py", "model = dict(ngf=7, depth=2)\n")
    monkeypatch.setenv("SISBENCH_CONFIG_PATH", os.pathsep.join([str(env_a), "", str(env_b)]))
    cfg = load_config("fakeplug", "synthetic", "tiny")
    assert cfg["train"]["iters"] == 22 and cfg["model"]["ngf"] == 7
    assert sources(cfg)["method preset"] == ("fakeplug/fakeplug_tiny.py", "SISBENCH_CONFIG_PATH")
    write(cli / "fakeplug" / "fakeplug_tiny.py", base + "train = dict(iters=33)\n")
    cfg = load_config("fakeplug", "synthetic", "tiny", config_dirs=[cli])
    assert cfg["train"]["iters"] == 33 and cfg["model"]["ngf"] == 7
    assert sources(cfg)["method preset"][1] == "--config-dir"
    assert [m.split(" ")[0] for m in cfg["_meta_"]["search_path"]] == [
        "built-in", "plugin", "SISBENCH_CONFIG_PATH", "SISBENCH_CONFIG_PATH", "--config-dir"]
    (preset,) = [s for s in cfg["_meta_"]["sources"] if s["role"] == "method preset"]
    assert preset["replaces"] == ["plugin 'fakeplug'", "SISBENCH_CONFIG_PATH", "SISBENCH_CONFIG_PATH"]
    # the built-in files are untouched by all of this
    assert load_config("spade", "synthetic", "tiny", config_dirs=[cli])["train"]["iters"] == 600


def test_bad_directories_and_missing_files_are_one_sentence(fake_plugin, tmp_path, monkeypatch):
    with pytest.raises(ConfigError, match=r"--config-dir .*nowhere: no such directory"):
        load_config("spade", "synthetic", "tiny", config_dirs=[tmp_path / "nowhere"])
    monkeypatch.setenv("SISBENCH_CONFIG_PATH", str(tmp_path / "gone"))
    with pytest.raises(ConfigError, match="SISBENCH_CONFIG_PATH entry .*gone.* is not a directory"):
        load_config("spade", "synthetic", "tiny")
    monkeypatch.delenv("SISBENCH_CONFIG_PATH")
    with pytest.raises(ConfigError) as err:
        load_config("fakeplug", "synthetic", "paper")
    message = str(err.value)
    assert message.startswith("no paper preset for method 'fakeplug': fakeplug/fakeplug_paper.py not found in the "
                              "config search path (built-in ")
    assert str(fake_plugin) in message and "\n" not in message
    write(tmp_path / "d" / "fakeplug" / "fakeplug_paper.py", '_base_ = ["../_base_/methods/absent.py"]\n')
    with pytest.raises(ConfigError, match=r"fakeplug_paper.py could not be read: .*_base_/methods/absent.py"):
        load_config("fakeplug", "synthetic", "paper", config_dirs=[tmp_path / "d"])
    with pytest.raises(ConfigError, match="no config for dataset 'nodata': _base_/datasets/nodata.py not found"):
        load_data_config("nodata", config_dirs=[tmp_path / "d"])


def test_a_broken_plugin_entry_is_skipped_and_reported(fake_plugin, monkeypatch):
    from importlib import metadata

    import benchmark.config as config

    eps = [metadata.EntryPoint("broken", "no_such_package.configs", config.ENTRY_POINT_GROUP),
           metadata.EntryPoint("fakeplug", "fakeplug_configs", config.ENTRY_POINT_GROUP)]
    monkeypatch.setattr(config, "plugin_entry_points", lambda: eps)
    search = config.config_search_path()
    assert [layer.label for layer in search.layers] == ["built-in", "plugin 'fakeplug'"]
    (source,) = search.problems
    assert "'broken'" in source and "ModuleNotFoundError" in search.problems[source]
    assert load_config("fakeplug", "synthetic", "tiny")["train"]["iters"] == 11
    with pytest.raises(ConfigError, match="failed to load: entry point 'broken'"):
        load_config("nothing", "synthetic", "tiny")


def test_config_named_by_its_place_in_the_tree(fake_plugin, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # not the checkout: the name is looked up in the search path
    for name in ("pix2pixhd/variants/pix2pixhd_cityscapes_1024p.py",
                 "configs/pix2pixhd/variants/pix2pixhd_cityscapes_1024p.py"):
        cfg = load_config("pix2pixhd", "cityscapes", "paper", extra_files=[name])
        assert cfg["data"]["crop_size"] == 1024
        assert sources(cfg)["--config"] == ("pix2pixhd/variants/pix2pixhd_cityscapes_1024p.py", "built-in")


@pytest.mark.slow
def test_config_command_prints_the_layer_of_every_file(fake_plugin, tmp_path, capsys):
    from benchmark.cli import main

    cli = tmp_path / "cli"
    write(cli / "_base_" / "datasets" / "synthetic.py", '_base_ = ["../../fakeplug/fakeplug_tiny.py"]\n'
          "data = dict(type='synthetic', root=None, num_train=3)\n")
    assert main(["config", "--method", "spade", "--config-dir", str(cli), "--set", "model.ngf=4"]) == 0
    out = capsys.readouterr().out
    lines = [" ".join(line.split()) for line in out.splitlines() if line.startswith("#")]
    assert "# 1. built-in " + str(CONFIG_ROOT) in lines
    assert f"# 2. plugin 'fakeplug' {fake_plugin}" in lines and f"# 3. --config-dir {cli}" in lines
    assert "# schedule _base_/schedules/tiny.py <- built-in" in lines
    assert "# dataset _base_/datasets/synthetic.py <- --config-dir (replaces built-in)" in lines
    assert "# _base_ fakeplug/fakeplug_tiny.py <- plugin 'fakeplug'" in lines  # a base from another layer
    assert "# method preset spade/spade_tiny.py <- built-in" in lines
    assert "# _base_ _base_/methods/spade.py <- built-in" in lines
    assert "# method-dataset spade/spade_synthetic.py <- plugin 'fakeplug'" in lines
    assert "# model.ngf = 4 (default: 6)" in lines
    from mmengine.config import Config

    body = "\n".join(line for line in out.splitlines())
    assert Config.fromstring(body, ".py")["data"]["num_train"] == 3  # the output is still a config file


@pytest.mark.slow
def test_list_shows_the_search_path_replaced_files_and_methods_without_presets(fake_plugin, toy_method, capsys):
    from benchmark.cli import main

    assert main(["list"]) == 0
    out = capsys.readouterr().out
    assert f"  2. plugin 'fakeplug' {fake_plugin}" in out
    (missing,) = [line for line in out.splitlines() if "! toy has no tiny preset" in line]
    assert missing.strip() == (f"! toy has no tiny preset: toy/toy_tiny.py not found in the config search path "
                               f"(built-in {CONFIG_ROOT}; plugin 'fakeplug' {fake_plugin})")
    assert "Traceback" not in out and "plugins that failed to load" not in out
    assert main(["train", "--method", "toy", "--out", "unused"]) == 2
    (err,) = capsys.readouterr().err.strip().splitlines()
    assert err.startswith("error: no tiny preset for method 'toy': toy/toy_tiny.py not found in the config search "
                          "path (built-in ")


@pytest.mark.slow
def test_list_names_files_a_layer_replaces(fake_plugin, tmp_path, capsys):
    from benchmark.cli import main

    write(tmp_path / "cli" / "spade" / "spade_tiny.py", "model = dict(ngf=2)\n")
    assert main(["list", "--config-dir", str(tmp_path / "cli")]) == 0
    assert "  spade/spade_tiny.py: --config-dir replaces built-in" in capsys.readouterr().out


def test_dumped_config_records_the_layers(fake_plugin, tmp_path):
    cfg = load_config("spade", "synthetic", "tiny")
    dump_config(cfg, tmp_path / "config.py")
    text = (tmp_path / "config.py").read_text()
    assert "# Built from: configs/_base_/schedules/tiny.py, configs/_base_/datasets/synthetic.py" in text
    assert str(fake_plugin / "spade" / "spade_synthetic.py") in text
    assert "<- plugin 'fakeplug'" in text
