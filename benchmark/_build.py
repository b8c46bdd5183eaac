"""Build hook (``[tool.setuptools.cmdclass] build_py`` in pyproject.toml): bundle the top-level data folders.

``configs/`` and ``results/published/`` live at the top of the checkout, where developers edit them; a
wheel can only carry files inside its packages. ``build_py`` therefore copies each folder of
``benchmark.resources.BUNDLED`` into the build directory as ``benchmark/_data/<name>/``, where
:func:`benchmark.resources.data_dir` finds it after a non-editable install.

Decisions:

- The copy goes into the build directory only, never into the source tree, so a checkout has no
  ``benchmark/_data`` and an editable install keeps reading the live folders (the hook does nothing in
  editable mode).
- The previous copy in the build directory is removed first: setuptools reuses ``build/``, and a config
  deleted from ``configs/`` must not survive in the next wheel.
- The mapping is read from ``benchmark/resources.py`` by file path: setuptools imports this hook without
  the project on ``sys.path``, so ``import benchmark.resources`` would fail; resources.py is stdlib-only.
- A missing source folder (e.g. an sdist made without MANIFEST.in) stops the build instead of producing a
  wheel without configs. ``__pycache__`` directories are not copied.
"""

from __future__ import annotations

import importlib.util
import shutil
from pathlib import Path

from setuptools.command.build_py import build_py

HERE = Path(__file__).resolve().parent


def bundled_folders() -> dict[str, str]:
    """``benchmark.resources.BUNDLED`` read from its source file."""
    spec = importlib.util.spec_from_file_location("_sisbench_resources", HERE / "resources.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return dict(module.BUNDLED)


class BuildPy(build_py):
    """``build_py`` that also copies the top-level data folders into ``benchmark/_data/``."""

    def run(self) -> None:
        super().run()
        if getattr(self, "editable_mode", False):
            return
        root = HERE.parent  # the project root: this file is loaded from the source tree
        target_root = Path(self.build_lib) / "benchmark" / "_data"
        shutil.rmtree(target_root, ignore_errors=True)
        for name, source in bundled_folders().items():
            src = root / source
            if not src.is_dir():
                raise FileNotFoundError(f"cannot bundle {source}/ into the wheel: {src} does not exist "
                                        f"(an sdist needs it listed in MANIFEST.in)")
            shutil.copytree(src, target_root / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))

    def get_outputs(self, include_bytecode: bool = True) -> list[str]:
        outputs = list(super().get_outputs(include_bytecode))
        target_root = Path(self.build_lib) / "benchmark" / "_data"
        if target_root.is_dir() and not getattr(self, "editable_mode", False):
            outputs += [str(p) for p in sorted(target_root.rglob("*")) if p.is_file()]
        return outputs
