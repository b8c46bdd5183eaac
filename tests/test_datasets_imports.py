"""The dataset modules import each other without a circle: ``check`` (the data check) and ``paired`` (the
dataset machinery) share their records through ``common``; ``paired`` imports ``check``, never the reverse."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

import benchmark.datasets

PACKAGE = "benchmark.datasets"
DIRECTORY = Path(benchmark.datasets.__file__).parent
MODULES = sorted(p.stem for p in DIRECTORY.glob("*.py"))


def imported_dataset_modules(name: str) -> set[str]:
    """The modules of ``benchmark.datasets`` that ``name`` imports anywhere: at module level, under
    ``TYPE_CHECKING`` or inside functions (``__init__`` for the package itself)."""
    tree = ast.parse((DIRECTORY / f"{name}.py").read_text())
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            if node.module == PACKAGE:  # `from benchmark.datasets import x`: submodule x, or the package
                found |= {a.name if a.name in MODULES else "__init__" for a in node.names}
                continue
            targets = [node.module]
        else:
            continue
        for target in targets:
            if target == PACKAGE:
                found.add("__init__")
            elif target.startswith(PACKAGE + "."):
                found.add(target.split(".")[2])
    found.discard(name)
    return found


def test_check_and_paired_do_not_import_each_other():
    assert "paired" not in imported_dataset_modules("check")
    assert "__init__" not in imported_dataset_modules("check")  # the package imports paired
    assert imported_dataset_modules("common") == set()
    assert {"check", "common"} <= imported_dataset_modules("paired")


def test_dataset_modules_import_each_other_without_a_circle():
    graph = {name: imported_dataset_modules(name) for name in MODULES}
    done: set[str] = set()

    def visit(name: str, path: tuple[str, ...]) -> None:
        assert name not in path, f"import circle: {' -> '.join((*path, name))}"
        if name in done:
            return
        for target in sorted(graph[name]):
            visit(target, (*path, name))
        done.add(name)

    for name in MODULES:
        if name != "__init__":  # the package imports every plugin: it may be imported by none of them
            visit(name, ())


@pytest.mark.slow
@pytest.mark.parametrize("module", ["common", "check", "paired"])
def test_each_module_imports_alone(module):
    """In a fresh interpreter, with the package's ``__init__`` (which imports every dataset) bypassed, each
    module loads by itself, and ``check``/``common`` load without ``paired``."""
    code = f"""
import sys, types
import benchmark
package = types.ModuleType({PACKAGE!r})
package.__path__ = [{str(DIRECTORY)!r}]
sys.modules[{PACKAGE!r}] = package
import {PACKAGE}.{module}
loaded = sorted(m.split(".")[2] for m in sys.modules if m.startswith({PACKAGE!r} + "."))
print(",".join(loaded))
"""
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                            cwd=str(DIRECTORY.parent.parent))
    assert result.returncode == 0, result.stderr
    loaded = set(result.stdout.strip().split(","))
    assert module in loaded
    if module in ("common", "check"):
        assert "paired" not in loaded, loaded
