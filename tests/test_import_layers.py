"""No import circles between files: the packages' modules form layers.

Every ``import`` and ``from ... import`` of every module of ``benchmark``, ``methods``, ``metrics`` and the
plugins' ``sisbench_*`` packages is read with :mod:`ast` (imports inside functions and ``TYPE_CHECKING``
blocks included: a circle kept alive by a deferred import is still a circle), and the strongly connected
components of the file graph must all be single files. A circle is named file by file with the line of each
import that closes it, so the message says where to cut.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("benchmark", "methods", "metrics")


def package_dirs(root: Path = ROOT) -> list[Path]:
    dirs = [root / name for name in PACKAGES]
    dirs += sorted(p for p in root.glob("plugins/*/sisbench_*") if (p / "__init__.py").is_file())
    return dirs


def module_files(root: Path = ROOT) -> dict[str, Path]:
    """``{dotted module name: file}`` of every Python file of the packages (package data excluded)."""
    files: dict[str, Path] = {}
    for pkg in package_dirs(root):
        for path in sorted(pkg.rglob("*.py")):
            rel = path.relative_to(pkg.parent).with_suffix("")
            if "_data" in rel.parts or "__pycache__" in rel.parts:
                continue
            parts = list(rel.parts)
            if parts[-1] == "__init__":
                parts.pop()
            files[".".join(parts)] = path
    return files


def _resolve(name: str, files: dict[str, Path]) -> str | None:
    """The longest known module ``name`` (``a.b.c``, possibly an attribute of a module) refers to."""
    parts = name.split(".")
    while parts:
        if ".".join(parts) in files:
            return ".".join(parts)
        parts.pop()
    return None


def _targets(node: ast.Import | ast.ImportFrom, module: str, is_package: bool) -> list[str]:
    """The dotted names an import statement binds, one per imported name."""
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    if node.level:
        base = module.split(".") if is_package else module.split(".")[:-1]
        base = base[: len(base) - (node.level - 1)]
        prefix = ".".join(base + ([node.module] if node.module else []))
    else:
        prefix = node.module or ""
    return [f"{prefix}.{alias.name}" if alias.name != "*" else prefix for alias in node.names]


def import_graph(files: dict[str, Path]) -> dict[str, dict[str, int]]:
    """``{module: {imported module: line of the first such import}}`` (every name of a ``from`` import
    counts: ``from benchmark import compute, evaluation`` is two edges)."""
    graph: dict[str, dict[str, int]] = {m: {} for m in files}
    for module, path in files.items():
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for node in ast.walk(tree):
            if not isinstance(node, (ast.Import, ast.ImportFrom)):
                continue
            for target in _targets(node, module, path.name == "__init__.py"):
                found = _resolve(target, files)
                if found is not None and found != module:
                    graph[module].setdefault(found, node.lineno)
    return graph


def strongly_connected(graph: dict[str, dict[str, int]]) -> list[list[str]]:
    """Tarjan's strongly connected components, iteratively (no recursion limit)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[list[str]] = []
    for start in sorted(graph):
        if start in index:
            continue
        work = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, edges = work[-1]
            for nxt in edges:
                if nxt not in index:
                    index[nxt] = low[nxt] = len(index)
                    stack.append(nxt)
                    on_stack.add(nxt)
                    work.append((nxt, iter(sorted(graph[nxt]))))
                    break
                if nxt in on_stack:
                    low[node] = min(low[node], index[nxt])
            else:
                work.pop()
                if work:
                    parent = work[-1][0]
                    low[parent] = min(low[parent], low[node])
                if low[node] == index[node]:
                    component = []
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        component.append(member)
                        if member == node:
                            break
                    components.append(sorted(component))
    return components


def describe(component: list[str], graph: dict[str, dict[str, int]], files: dict[str, Path]) -> str:
    """The imports inside one circle, ``a (a.py:12) -> b`` each."""
    members = set(component)
    edges = [f"{src} ({files[src].relative_to(ROOT)}:{line}) -> {dst}"
             for src in component for dst, line in sorted(graph[src].items()) if dst in members]
    return f"circle {' <-> '.join(component)}: " + "; ".join(edges)


def test_walker_sees_every_kind_of_import(tmp_path):
    pkg = tmp_path / "benchmark"
    (pkg / "sub").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "sub" / "__init__.py").write_text("from . import c\n")
    (pkg / "a.py").write_text("from benchmark import b, sub\n")
    (pkg / "b.py").write_text("def f():\n    from .sub.c import g\n")
    (pkg / "sub" / "c.py").write_text("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import benchmark.a\n")
    files = module_files(tmp_path)
    graph = import_graph(files)
    assert graph["benchmark.a"] == {"benchmark.b": 1, "benchmark.sub": 1}
    assert graph["benchmark.b"] == {"benchmark.sub.c": 2}
    assert graph["benchmark.sub"] == {"benchmark.sub.c": 1}
    assert graph["benchmark.sub.c"] == {"benchmark.a": 3}
    circles = [c for c in strongly_connected(graph) if len(c) > 1]
    assert circles == [["benchmark.a", "benchmark.b", "benchmark.sub", "benchmark.sub.c"]]


def test_no_import_circles():
    files = module_files()
    assert len(files) > 100, f"found only {len(files)} modules under {ROOT}"
    graph = import_graph(files)
    circles = [c for c in strongly_connected(graph) if len(c) > 1]
    assert not circles, "\n".join(describe(c, graph, files) for c in circles)
