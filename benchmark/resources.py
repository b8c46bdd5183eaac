"""Where SISBench's own files are: the built-in configs, the protocol configs, the published numbers, the cache.

Every lookup of a file that ships with SISBench goes through this module; nothing else computes a path from
``__file__``.

Decisions:

- The checkout's top-level ``configs/`` and ``results/published/`` stay the places developers edit (the
  design card fixes the top level). A wheel cannot install top-level data folders next to the packages, so
  the build hook (:mod:`benchmark._build`) copies each folder of :data:`BUNDLED` into the wheel as
  ``benchmark/_data/<name>/``. Files inside the packages (e.g. segmenter weights under ``metrics/``) ship as
  ordinary package data and are found next to their module.
- Lookup order: ``benchmark/_data/<name>`` when it exists (a wheel or ``pip install .``), else the folder in
  the checkout the code is imported from (an editable install, or running from the source tree). A checkout
  never holds ``benchmark/_data`` (the hook writes only into the build directory), so code and data always
  come from the same place: an editable install reads the files being edited, a wheel reads its own copy.
- Plain filesystem paths, not ``importlib.resources`` traversables: mmengine reads configs by path and
  resolves ``_base_`` relative to the file, and a wheel is always installed unpacked.
- Writable files never go into the installed package or the source tree: caches live in
  ``$SISBENCH_CACHE`` or ``~/.cache/sisbench`` (:func:`cache_root`).
"""

from __future__ import annotations

import os
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent
#: where a wheel carries the top-level data folders
BUNDLE_DIR = PACKAGE_DIR / "_data"
#: bundle name -> the folder in a checkout it is copied from (read by the build hook too)
BUNDLED = {"configs": "configs", "published": "results/published"}


class ResourceError(FileNotFoundError):
    """A file that ships with SISBench is missing (a broken or partial installation)."""


def source_checkout() -> Path | None:
    """The checkout this code runs from (editable install or source tree), or None for an installed wheel."""
    if BUNDLE_DIR.is_dir():
        return None
    root = PACKAGE_DIR.parent
    if (root / "pyproject.toml").is_file() and all((root / src).is_dir() for src in BUNDLED.values()):
        return root
    return None


def data_dir(name: str) -> Path:
    """The directory of the bundled folder ``name`` (a key of :data:`BUNDLED`)."""
    if name not in BUNDLED:
        raise KeyError(f"unknown SISBench data folder {name!r}; valid: {', '.join(BUNDLED)}")
    bundled = BUNDLE_DIR / name
    if bundled.is_dir():
        return bundled
    checkout = source_checkout()
    if checkout is not None:
        return checkout / BUNDLED[name]
    raise ResourceError(f"SISBench's {BUNDLED[name]}/ folder is missing: neither {bundled} (an installed wheel) "
                        f"nor {PACKAGE_DIR.parent / BUNDLED[name]} (a checkout) exists; reinstall sisbench")


def builtin_config_dir() -> Path:
    """The built-in config tree (``configs/`` of the checkout, ``benchmark/_data/configs`` of a wheel)."""
    return data_dir("configs")


def protocol_config_dir() -> Path:
    """The built-in evaluation protocols (``configs/protocols/*.py``)."""
    return builtin_config_dir() / "protocols"


def published_dir() -> Path:
    """The papers' published numbers (``results/published/*.csv``)."""
    return data_dir("published")


def cache_root() -> Path:
    """Where generated datasets, trained segmenters and reference features are kept: ``$SISBENCH_CACHE`` or
    ``~/.cache/sisbench`` (never the source tree or the installed package)."""
    env = os.environ.get("SISBENCH_CACHE")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "sisbench"
