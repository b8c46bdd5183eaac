"""Plugin registries: methods, datasets, metrics and evaluation protocols.

Built-in plugins register with a decorator when their module is imported; external packages add
plugins through entry points (groups ``sisbench.methods``, ``sisbench.datasets``, ``sisbench.metrics``,
``sisbench.protocols``). A plugin that fails to import is recorded in :data:`PLUGIN_ERRORS` and reported
by ``python -m benchmark list`` instead of breaking the command line.

Layering: this module sits *below* the plugins and imports none of them (``tests/test_registry.py``
checks). A registry validates what it receives against the plugin base its kind names by qualified name
(``"methods.base.Method"``): the check walks the object's MRO (or its type's, for instance kinds such as
protocols) and compares names, so it needs no import of the base -- a genuine subclass has already
imported it. Built-in plugin packages are imported by name, at the first lookup (:func:`load_builtins`).
"""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from importlib import metadata
from typing import Any, Generic, TypeVar

from benchmark.user_error import UserError

T = TypeVar("T")


class RegistryError(UserError, ValueError):
    """A plugin could not be registered or looked up."""


@dataclass(frozen=True)
class Entry(Generic[T]):
    name: str
    obj: T
    description: str
    source: str


class Registry(Generic[T]):
    """A name -> plugin mapping that validates what it receives.

    ``base``: the qualified name (``"package.module.Class"``) of the class every registered object must
    derive from (``instances=False``: classes) or be an instance of (``instances=True``); ``None`` accepts
    anything. ``check``: an extra callable run on every object (raise :class:`RegistryError` to refuse).
    """

    def __init__(self, kind: str, base: str | None = None, *, instances: bool = False,
                 check: Callable[[Any], None] | None = None):
        self.kind = kind
        self.base = base
        self.instances = instances
        self.check = check
        self._entries: dict[str, Entry[T]] = {}

    def _validate(self, key: str, obj: Any) -> None:
        if self.base is None:
            return
        if self.instances:
            ok = not inspect.isclass(obj) and self.base in _qualnames(type(obj))
            what = "an instance of"
        else:
            ok = inspect.isclass(obj) and self.base in _qualnames(obj)
            what = "a subclass of"
        if not ok:
            raise RegistryError(f"cannot register {key!r} as a {self.kind}: {obj!r} is not {what} {self.base}")

    def register(self, name: str | None = None, *, description: str | None = None,
                 source: str = "built-in") -> Callable[[T], T]:
        def decorator(obj: T) -> T:
            self.add(obj, name=name, description=description, source=source)
            return obj
        return decorator

    def add(self, obj: T, *, name: str | None = None, description: str | None = None,
            source: str = "built-in") -> T:
        key = name or getattr(obj, "name", None) or getattr(obj, "__name__", None)
        if not isinstance(key, str) or not key:
            raise RegistryError(f"cannot register {obj!r} as a {self.kind}: it has no name; pass name=...")
        if key != key.strip() or any(c in key for c in " ,/"):
            raise RegistryError(f"{self.kind} name {key!r} is invalid: use letters, digits, '_', '-' or '.'")
        self._validate(key, obj)
        if self.check is not None:
            self.check(obj)
        if key in self._entries:
            prev = self._entries[key]
            raise RegistryError(
                f"{self.kind} {key!r} is already registered (by {prev.source}); choose another name")
        desc = description or _first_line(getattr(obj, "description", None) or inspect.getdoc(obj) or "")
        self._entries[key] = Entry(key, obj, desc, source)
        return obj

    def remove(self, name: str) -> None:
        self._entries.pop(name, None)

    def get(self, name: str) -> T:
        load_builtins()
        try:
            return self._entries[name].obj
        except KeyError:
            valid = ", ".join(sorted(self._entries)) or "(none)"
            raise RegistryError(f"unknown {self.kind} {name!r}; valid {self.kind}s: {valid}") from None

    def entries(self) -> list[Entry[T]]:
        load_builtins()
        return [self._entries[k] for k in sorted(self._entries)]

    def names(self) -> list[str]:
        return [e.name for e in self.entries()]

    def __contains__(self, name: object) -> bool:
        load_builtins()
        return name in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())


def _first_line(text: str) -> str:
    return text.strip().splitlines()[0].strip() if text.strip() else ""


def _qualnames(cls: type) -> set[str]:
    """``module.QualName`` of every class in ``cls``'s MRO (what a base check compares, importing nothing)."""
    return {f"{c.__module__}.{c.__qualname__}" for c in inspect.getmro(cls)}


METHODS: Registry = Registry("method", "methods.base.Method")
DATASETS: Registry = Registry("dataset", "benchmark.datasets.base.SISDataset")
METRICS: Registry = Registry("metric", "metrics.base.Metric")
PROTOCOLS: Registry = Registry("protocol", "metrics.protocols.Protocol", instances=True)

ENTRY_POINT_GROUPS = {
    "sisbench.methods": METHODS,
    "sisbench.datasets": DATASETS,
    "sisbench.metrics": METRICS,
    "sisbench.protocols": PROTOCOLS,
}

# Modules whose import registers the built-in plugins.
BUILTIN_MODULES = (
    "benchmark.datasets",
    "methods",
    "metrics",
)

#: plugin source -> error message, for every plugin that failed to load.
PLUGIN_ERRORS: dict[str, str] = {}

_loaded = False


def load_builtins() -> None:
    """Import the built-in plugin modules and the entry-point plugins (once)."""
    global _loaded
    if _loaded:
        return
    _loaded = True
    for module in BUILTIN_MODULES:
        importlib.import_module(module)
    load_entry_points()


def load_entry_points() -> None:
    for group, registry in ENTRY_POINT_GROUPS.items():
        for ep in metadata.entry_points(group=group):
            source = f"entry point {ep.name!r} ({ep.value}) in group {group!r}"
            try:
                obj = ep.load()
                if ep.name in registry._entries and registry._entries[ep.name].obj is obj:
                    continue
                # A module that registers itself by decorator on import needs nothing more.
                if inspect.ismodule(obj):
                    continue
                registry.add(obj, name=ep.name, source=source)
            except Exception as exc:  # a broken plugin must not break the CLI
                PLUGIN_ERRORS[source] = f"{type(exc).__name__}: {exc}"
