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


@pytest.mark.slow
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


@pytest.mark.slow
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


@pytest.mark.slow
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


@pytest.mark.slow
def test_the_registry_imports_no_plugin_layer():
    """benchmark.registry sits below the plugins: neither importing it nor validating with it imports
    metrics/, methods/ or the datasets (the import circle registry <-> metrics.base/protocols)."""
    import ast
    import subprocess
    from pathlib import Path

    tree = ast.parse(Path(registry.__file__).read_text())
    imported = {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    imported |= {n.module or "" for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
    above = sorted(m for m in imported if m.split(".")[0] in ("metrics", "methods")
                   or m.startswith("benchmark.datasets"))
    assert not above, f"benchmark/registry.py imports {above}"
    code = textwrap.dedent("""
        import sys
        from benchmark.registry import DATASETS, METHODS, METRICS, PROTOCOLS, RegistryError
        class Plain:
            name = "plain"
        for reg in (METHODS, DATASETS, METRICS, PROTOCOLS):
            try:
                reg.add(Plain)
            except RegistryError:
                pass
            else:
                raise SystemExit(f"{reg.kind} accepted a plain class")
        loaded = sorted(m for m in sys.modules if m.split(".")[0] in ("metrics", "methods")
                        or m.startswith("benchmark.datasets"))
        print(",".join(loaded))
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         cwd=Path(registry.__file__).resolve().parent.parent)
    assert out.stdout.strip() == ""


def test_protocols_registry_takes_protocol_instances_only():
    from metrics.protocols import Protocol, get_protocol

    protocol = get_protocol("synthetic-v1")
    with pytest.raises(RegistryError, match="not an instance of metrics.protocols.Protocol"):
        registry.PROTOCOLS.add(Protocol, name="a-class")
    with pytest.raises(RegistryError, match="already registered"):
        registry.PROTOCOLS.add(protocol, name=protocol.id)
