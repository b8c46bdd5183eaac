"""Registries: validation at registration, clear lookups, entry-point plugins, `list`."""

from __future__ import annotations

import sys
import textwrap

import pytest

from benchmark import registry
from benchmark.cli import main
from benchmark.registry import METHODS, Registry, RegistryError
from methods.base import Method


def test_duplicate_and_wrong_base_are_rejected(toy_method):
    with pytest.raises(RegistryError, match="'toy' is already registered"):
        METHODS.add(toy_method)

    class NotAMethod:
        name = "nope"

    with pytest.raises(RegistryError, match="not a subclass of methods.base.Method"):
        METHODS.add(NotAMethod)
    with pytest.raises(RegistryError, match="invalid"):
        Registry("thing").add(object(), name="a b")


def test_unknown_name_lists_the_valid_ones():
    with pytest.raises(RegistryError) as err:
        METHODS.get("spaed")
    assert "unknown method 'spaed'" in str(err.value) and "spade" in str(err.value)


def test_cli_unknown_method_is_one_sentence(capsys):
    assert main(["run", "--methods", "spade,nosuch", "--dataset", "synthetic"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: unknown method 'nosuch'; valid methods:") and "spade" in err
    assert "\n" not in err
    assert main(["train", "--method", "spade", "--dataset", "nodata"]) == 2
    assert "unknown dataset 'nodata'; valid datasets:" in capsys.readouterr().err


def _install_plugin(tmp_path, monkeypatch, module_body: str, entry: str) -> None:
    pkg = tmp_path / "site"
    (pkg / "myplugin").mkdir(parents=True)
    (pkg / "myplugin" / "__init__.py").write_text(textwrap.dedent(module_body))
    dist = pkg / "myplugin-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: myplugin\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text(f"[sisbench.methods]\n{entry}\n")
    monkeypatch.syspath_prepend(str(pkg))


def test_entry_point_plugin_is_listed(tmp_path, monkeypatch, capsys):
    _install_plugin(tmp_path, monkeypatch, """
        import torch
        from methods.base import Method

        class Painter(Method):
            '''A colour-per-class painter from an external package.'''
            name = "painter"
    """, "painter = myplugin:Painter")
    try:
        registry.load_entry_points()
        assert issubclass(METHODS.get("painter"), Method)
        assert main(["list"]) == 0
        out = capsys.readouterr().out
        assert "painter" in out and "entry point 'painter'" in out
    finally:
        METHODS.remove("painter")
        sys.modules.pop("myplugin", None)


def test_broken_plugin_is_reported_not_fatal(tmp_path, monkeypatch, capsys):
    _install_plugin(tmp_path, monkeypatch, "raise ImportError('needs libfoo')\n", "broken = myplugin:Broken")
    try:
        registry.load_entry_points()
        assert main(["list"]) == 0
        out = capsys.readouterr().out
        assert "failed to load" in out and "needs libfoo" in out
        assert "spade" in out
    finally:
        registry.PLUGIN_ERRORS.clear()
        sys.modules.pop("myplugin", None)
