"""SISBench and its plugins installed as wheels, used from a directory outside the checkout.

Each test builds the wheels it needs (sisbench from an sdist of a copy of the checkout, so MANIFEST.in and the
build hook are exercised; a plugin from its own directory) and installs them with ``--no-deps`` into a fresh
virtual environment under ``tmp_path``. The environment borrows the third-party packages (torch, mmengine,
...) of the interpreter running the tests through a ``.pth`` line appended after its own site-packages, so
nothing is downloaded; ``pip check`` then confirms that the wheels' requirements are met there. Its own
site-packages comes first on ``sys.path``, so ``benchmark``, ``methods`` and ``metrics`` are the wheel's,
which each test asserts. Commands run as a user runs them: ``python -m benchmark ...`` with the working
directory an empty temporary directory.

``test_checkout_plugins`` does the same for every distribution under ``plugins/`` (e.g. ``sisbench-oasis``):
``list`` shows its methods from their entry points, its own tests pass against the installed wheel, and
``run`` trains, generates, evaluates and reports it beside SPADE.
"""

from __future__ import annotations

import json
import os
import shutil
import site
import subprocess
import sys
import tarfile
import textwrap
import tomllib
import zipfile
from pathlib import Path

import pytest

from tests.conftest import ROOT

#: what an sdist of sisbench holds (pyproject.toml, MANIFEST.in): copied to build from a clean tree
SOURCE_MEMBERS = ("pyproject.toml", "README.md", "MANIFEST.in", "benchmark", "methods", "metrics", "configs",
                  "results/published")
PLUGIN_DIRS = sorted(p.parent for p in (ROOT / "plugins").glob("*/pyproject.toml"))
TINY_DATA = ["--set", "data.num_train=16", "--set", "data.num_val=6", "--set", "train.batch_size=4"]
TIMEOUT = 1200  # seconds per command; a loaded 2-core machine imports torch slowly


def run(cmd: list[str], cwd: Path, env: dict[str, str] | None = None, check: bool = True,
        timeout: int = TIMEOUT) -> subprocess.CompletedProcess:
    proc = subprocess.run([str(c) for c in cmd], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    if check and proc.returncode != 0:
        raise AssertionError(f"{' '.join(map(str, cmd))} exited with {proc.returncode}\n--- stdout\n"
                             f"{proc.stdout[-6000:]}\n--- stderr\n{proc.stderr[-6000:]}")
    return proc


def build_wheel(source: Path, out: Path) -> Path:
    """``pip wheel`` of a source directory, with the running environment's build backend (no download)."""
    out.mkdir(parents=True, exist_ok=True)
    run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--no-index", "-w", out,
         source], cwd=out)
    (wheel,) = out.glob("*.whl")
    return wheel


def _copy_source(dst: Path) -> Path:
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info", "build", "_data")
    for member in SOURCE_MEMBERS:
        src = ROOT / member
        if src.is_dir():
            shutil.copytree(src, dst / member, ignore=ignore)
        else:
            (dst / member).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dst / member)
    return dst


@pytest.fixture(scope="session")
def sisbench_wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """checkout copy -> sdist -> wheel, as a release would be built."""
    base = tmp_path_factory.mktemp("sisbench-build")
    source = _copy_source(base / "source")
    code = "import setuptools.build_meta as b, sys; print(b.build_sdist(sys.argv[1]))"
    name = run([sys.executable, "-c", code, base / "sdist"], cwd=source).stdout.strip().splitlines()[-1]
    with tarfile.open(base / "sdist" / name) as tar:  # extraction filters exist from Python 3.11.4 on
        tar.extractall(base / "unpacked", **({"filter": "data"} if hasattr(tarfile, "data_filter") else {}))
    (unpacked,) = (base / "unpacked").iterdir()
    return build_wheel(unpacked, base / "wheel")


def make_env(root: Path, wheels: list[Path]) -> Path:
    """A fresh virtual environment holding ``wheels``; third-party packages come from the running one."""
    run([sys.executable, "-m", "venv", "--without-pip", root], cwd=root.parent)
    python = root / "bin" / "python"
    (purelib,) = {Path(p) for p in (root / "lib").glob("python*/site-packages")}
    # appended after the environment's own site-packages: the wheels installed here shadow any other copy
    (purelib / "_sisbench_test_base.pth").write_text("\n".join(site.getsitepackages()) + "\n")
    # --ignore-installed: the same version is visible from the borrowed site-packages (under tox, the wheel
    # tox installed); without it pip would call it installed and skip it
    run([sys.executable, "-m", "pip", "--python", python, "install", "--no-deps", "--no-index", "--ignore-installed",
         *wheels], cwd=root.parent)
    check = run([sys.executable, "-m", "pip", "--python", python, "check"], cwd=root.parent, check=False)
    ours = [line for line in check.stdout.splitlines() if line.lower().startswith("sisbench")]
    assert not ours, f"the installed wheels' requirements are not met: {ours}"
    return python


def user_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "SISBENCH_CONFIG_PATH")}
    env.update(extra)
    return env


def assert_from_env(python: Path, cwd: Path, modules: tuple[str, ...] = ("benchmark", "methods", "metrics")) -> None:
    code = "import importlib, sys; print('\\n'.join(importlib.import_module(m).__file__ for m in sys.argv[1:]))"
    files = run([python, "-c", code, *modules], cwd=cwd, env=user_env()).stdout.split()
    env_root = python.parent.parent.resolve()
    for module, file in zip(modules, files, strict=True):
        assert Path(file).resolve().is_relative_to(env_root), f"{module} imported from {file}, not the wheel"


# -- sisbench alone --------------------------------------------------------------------------------------

@pytest.mark.slow
def test_wheel_carries_configs_protocols_published_numbers_and_package_data(sisbench_wheel):
    names = set(zipfile.ZipFile(sisbench_wheel).namelist())
    configs = [p.relative_to(ROOT / "configs").as_posix() for p in (ROOT / "configs").rglob("*.py")]
    assert configs and {f"benchmark/_data/configs/{c}" for c in configs} <= names
    assert any(n.startswith("benchmark/_data/configs/protocols/") for n in names)
    published = [p.name for p in (ROOT / "results" / "published").glob("*.csv")]
    assert published and {f"benchmark/_data/published/{c}" for c in published} <= names
    # package data at any depth (JSON tables, CSVs, weights such as metrics/segmenters/weights/*.safetensors)
    data = [p.relative_to(ROOT).as_posix() for pkg in ("benchmark", "methods", "metrics")
            for p in (ROOT / pkg).rglob("*") if p.suffix in (".json", ".csv", ".safetensors")]
    assert set(data) <= names
    assert not any(n.startswith(("tests/", "configs/", "results/")) or "__pycache__" in n for n in names)


@pytest.mark.slow
def test_installed_wheel_works_from_any_directory(sisbench_wheel, tmp_path):
    python = make_env(tmp_path / "env", [sisbench_wheel])
    cwd = tmp_path / "elsewhere"
    cwd.mkdir()
    probe = textwrap.dedent("""
        import json
        import benchmark, methods, metrics
        from benchmark import resources
        from benchmark.config import load_config
        from benchmark.registry import PROTOCOLS
        from benchmark.report.tables import load_published
        from metrics.protocols import PROTOCOL_CONFIG_DIR
        from metrics.segmenters.train import shipped_checkpoint
        cfg = load_config("pix2pixhd", "cityscapes", "paper",
                          extra_files=["configs/pix2pixhd/variants/pix2pixhd_cityscapes_1024p.py"])
        print(json.dumps({"configs": str(resources.builtin_config_dir()), "protocols": str(PROTOCOL_CONFIG_DIR),
                          "published": str(resources.published_dir()), "checkout": resources.source_checkout(),
                          "crop": cfg["data"]["crop_size"], "n_published": len(load_published()),
                          "protocol_ids": PROTOCOLS.names(),
                          "modules": [m.__file__ for m in (benchmark, methods, metrics)],
                          "segmenter": str(shipped_checkpoint("synthetic-v1"))}))
    """)
    got = json.loads(run([python, "-c", probe], cwd=cwd, env=user_env()).stdout.splitlines()[-1])
    bundle = (python.parent.parent / "lib").resolve()
    assert all(Path(f).resolve().is_relative_to(bundle) for f in got["modules"]), got["modules"]
    # package data: the synthetic-v1 segmenter that ships inside metrics/
    assert Path(got["segmenter"]).is_file() and Path(got["segmenter"]).resolve().is_relative_to(bundle)
    for key in ("configs", "protocols", "published"):
        assert Path(got[key]).is_relative_to(bundle) and "_data" in got[key], (key, got[key])
    assert got["checkout"] is None and got["crop"] == 1024 and got["n_published"] > 0
    assert "synthetic-v1" in got["protocol_ids"] and "coco_stuff-spade-legacy" in got["protocol_ids"]
    listed = run([python, "-m", "benchmark", "list"], cwd=cwd, env=user_env()).stdout
    assert "spade" in listed and "synthetic-v1" in listed and "has no tiny preset" not in listed
    shown = run([python, "-m", "benchmark", "config", "--method", "spade"], cwd=cwd, env=user_env()).stdout
    rows = [" ".join(line.split()) for line in shown.splitlines() if line.startswith("#")]
    assert f"# 1. built-in {got['configs']}" in rows
    assert "# method preset spade/spade_tiny.py <- built-in" in rows


# -- a plugin distribution -------------------------------------------------------------------------------

PLUGIN_PYPROJECT = """\
[build-system]
requires = ["setuptools>=77"]
build-backend = "setuptools.build_meta"

[project]
name = "sisbench-toyplug"
version = "0.1.0"
requires-python = ">=3.11"
dependencies = ["sisbench"]

[project.entry-points."sisbench.methods"]
toyplug = "sisbench_toyplug.method:PluginToy"
notiny = "sisbench_toyplug.method:NoTiny"

[project.entry-points."sisbench.configs"]
toyplug = "sisbench_toyplug.configs"

[tool.setuptools]
packages = ["sisbench_toyplug"]

[tool.setuptools.package-data]
sisbench_toyplug = ["configs/**/*.py"]
"""

PLUGIN_METHODS = '''

class PluginToy(ToyMethod):
    """A plugin method whose configs ship in its own package."""

    name = "toyplug"
    description = "toy plugin method (tests/test_install.py)"


class NoTiny(ToyMethod):
    """A plugin method that ships no configs at all."""

    name = "notiny"
    description = "toy plugin method without configs (tests/test_install.py)"
'''


def write_toy_plugin(root: Path) -> Path:
    """A plugin distribution: two methods (the test suite's toy method) and a config package for one of them.

    Its tiny preset inherits from its own ``_base_`` and from the built-in tiny schedule (across layers)."""
    pkg = root / "sisbench_toyplug"
    (pkg / "configs" / "toyplug").mkdir(parents=True)
    (pkg / "configs" / "_base_" / "methods").mkdir(parents=True)
    (root / "pyproject.toml").write_text(PLUGIN_PYPROJECT)
    (pkg / "__init__.py").write_text('"""A throwaway SISBench plugin."""\n')
    (pkg / "method.py").write_text((ROOT / "tests" / "toy.py").read_text() + PLUGIN_METHODS)
    (pkg / "configs" / "_base_" / "methods" / "toyplug.py").write_text("model = dict(noise=True, width=3)\n")
    (pkg / "configs" / "toyplug" / "toyplug_tiny.py").write_text(
        '_base_ = ["../_base_/methods/toyplug.py", "../_base_/schedules/tiny.py"]\n'
        "train = dict(iters=5, log_interval=1)\n")
    return root


@pytest.fixture(scope="module")
def plugin_env(sisbench_wheel, tmp_path_factory) -> tuple[Path, Path]:
    base = tmp_path_factory.mktemp("toyplug")
    wheel = build_wheel(write_toy_plugin(base / "source"), base / "wheel")
    python = make_env(base / "env", [sisbench_wheel, wheel])
    cwd = base / "elsewhere"
    cwd.mkdir()
    assert_from_env(python, cwd, ("benchmark", "sisbench_toyplug"))
    return python, cwd


@pytest.mark.slow
def test_plugin_wheel_is_listed_with_its_config_layer_and_missing_presets(plugin_env):
    python, cwd = plugin_env
    listed = run([python, "-m", "benchmark", "list"], cwd=cwd, env=user_env()).stdout
    assert "toyplug" in listed and "[entry point 'toyplug' (sisbench_toyplug.method:PluginToy)" in listed
    plugin_dir = (python.parent.parent / "lib").resolve()
    layer = next(line for line in listed.splitlines() if line.strip().startswith("2. plugin 'toyplug'"))
    assert str(plugin_dir) in layer and "sisbench-toyplug 0.1.0" in layer
    # the method without configs is listed with the reason, not a traceback
    missing = next(line for line in listed.splitlines() if "notiny has no tiny preset" in line)
    assert "notiny/notiny_tiny.py not found in the config search path (built-in " in missing
    assert "plugin 'toyplug' " in missing
    assert "Traceback" not in listed and "toyplug has no tiny preset" not in listed


@pytest.mark.slow
def test_plugin_config_resolves_its_own_and_builtin_bases(plugin_env):
    python, cwd = plugin_env
    shown = run([python, "-m", "benchmark", "config", "--method", "toyplug"], cwd=cwd, env=user_env()).stdout
    rows = [" ".join(line.split()) for line in shown.splitlines() if line.startswith("#")]
    assert "# method preset toyplug/toyplug_tiny.py <- plugin 'toyplug'" in rows
    assert "# _base_ _base_/methods/toyplug.py <- plugin 'toyplug'" in rows
    assert "# _base_ _base_/schedules/tiny.py <- built-in" in rows
    assert "# dataset _base_/datasets/synthetic.py <- built-in" in rows
    assert "iters=5" in shown and "width=3" in shown


@pytest.mark.slow
def test_plugin_method_without_a_preset_fails_in_one_sentence(plugin_env, tmp_path):
    python, cwd = plugin_env
    proc = run([python, "-m", "benchmark", "train", "--method", "notiny", "--out", tmp_path], cwd=cwd,
               env=user_env(), check=False)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    (line,) = proc.stderr.strip().splitlines()
    assert line.startswith("error: no tiny preset for method 'notiny': notiny/notiny_tiny.py not found in the "
                           "config search path (built-in ")
    assert "plugin 'toyplug'" in line and not (tmp_path / "runs").exists()


@pytest.mark.slow
def test_plugin_method_runs_end_to_end_with_a_user_config_dir(plugin_env, tiny_segmenter, tmp_path):
    python, cwd = plugin_env
    user = tmp_path / "user-configs" / "toyplug"
    user.mkdir(parents=True)
    (user / "toyplug_tiny.py").write_text('_base_ = ["../_base_/methods/toyplug.py"]\ntrain = dict(iters=4)\n')
    out = tmp_path / "out"
    run([python, "-m", "benchmark", "run", "--methods", "toyplug", "--dataset", "synthetic", "--iters", "2",
         "--out", out, "--segmenter-checkpoint", tiny_segmenter, "--no-progress", *TINY_DATA],
        cwd=cwd, env=user_env(SISBENCH_CONFIG_PATH=str(user.parent)))
    (run_dir,) = (out / "runs" / "synthetic" / "toyplug").iterdir()
    dumped = (run_dir / "config.py").read_text()
    assert "SISBENCH_CONFIG_PATH (replaces plugin 'toyplug')" in dumped
    assert json.loads((run_dir / "metrics.json").read_text())["metrics"]["mIoU"] is not None
    assert json.loads((run_dir / "manifest.json").read_text())["git"]["commit"] is None  # a wheel has none
    assert (out / "synthetic" / "table.md").is_file() and (out / "index.html").is_file()
    # the papers' tables come from the published CSVs inside the wheel
    assert "published" in (out / "tables" / "spade_table1.md").read_text()


# -- the plugins that live in this repository -------------------------------------------------------------

def plugin_methods(wheel: Path) -> list[str]:
    with zipfile.ZipFile(wheel) as zf:
        (name,) = [n for n in zf.namelist() if n.endswith(".dist-info/entry_points.txt")]
        text = zf.read(name).decode()
    methods, section = [], None
    for line in text.splitlines():
        line = line.strip()
        if line.startswith("["):
            section = line.strip("[]")
        elif section == "sisbench.methods" and "=" in line:
            methods.append(line.split("=", 1)[0].strip())
    return methods


@pytest.mark.plugins
@pytest.mark.slow
@pytest.mark.parametrize("plugin", PLUGIN_DIRS, ids=[p.name for p in PLUGIN_DIRS])
def test_checkout_plugins(plugin, sisbench_wheel, tiny_segmenter, tmp_path):
    """plugins/<name>: its wheel beside sisbench's in a fresh environment; list, its tests, run."""
    backend = tomllib.loads((plugin / "pyproject.toml").read_text())["build-system"]["build-backend"]
    assert backend.split(".")[0] in ("setuptools",), f"{plugin}: build backend {backend} is not in the test env"
    source = tmp_path / "source"
    shutil.copytree(plugin, source, ignore=shutil.ignore_patterns("__pycache__", "*.egg-info", "build"))
    wheel = build_wheel(source, tmp_path / "wheel")
    methods = plugin_methods(wheel)
    assert methods, f"{plugin} registers no method through the sisbench.methods entry point"
    python = make_env(tmp_path / "env", [sisbench_wheel, wheel])
    cwd = tmp_path / "elsewhere"
    cwd.mkdir()
    listed = run([python, "-m", "benchmark", "list"], cwd=cwd, env=user_env()).stdout
    for name in methods:
        line = next((x for x in listed.splitlines() if x.strip().startswith(f"{name} ")), "")
        assert f"[entry point '{name}'" in line, f"`list` does not show {name} from its entry point:\n{listed}"
        assert f"{name} has no tiny preset" not in listed
    assert "plugins that failed to load" not in listed, listed
    if (plugin / "tests").is_dir():  # its own tests against the installed wheels (importlib: no source on the path)
        run([python, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--import-mode=importlib", "-o", "pythonpath=",
             plugin / "tests"], cwd=cwd, env=user_env())
    out = tmp_path / "out"
    run([python, "-m", "benchmark", "run", "--methods", ",".join([*methods, "spade"]), "--dataset", "synthetic",
         "--iters", "2", "--out", out, "--segmenter-checkpoint", tiny_segmenter, "--no-progress", *TINY_DATA],
        cwd=cwd, env=user_env())
    for name in [*methods, "spade"]:
        (run_dir,) = (out / "runs" / "synthetic" / name).iterdir()
        assert (run_dir / "metrics.json").is_file(), name
        assert name in (out / "synthetic" / "table.md").read_text().lower()  # rows say e.g. "SPADE"


# -- the suite itself ------------------------------------------------------------------------------------

@pytest.mark.skipif(os.environ.get("SISBENCH_TEST_INSTALLED") != "1",
                    reason="set by tox, whose test environment holds the sisbench wheel")
def test_suite_runs_against_the_installed_wheel():
    """Under tox the suite must import the installed wheel, not the checkout (which pytest's rootdir and
    ``pythonpath`` would put first on sys.path)."""
    import benchmark
    import methods
    import metrics
    from benchmark import resources

    for module in (benchmark, methods, metrics):  # (tox's environment itself may lie inside the checkout)
        package_dir = Path(module.__file__).resolve().parent
        assert package_dir != ROOT / module.__name__ and "site-packages" in package_dir.parts, module.__file__
    assert resources.source_checkout() is None
    assert resources.builtin_config_dir() == Path(benchmark.__file__).resolve().parent / "_data" / "configs"
