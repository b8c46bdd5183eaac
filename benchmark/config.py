"""Configuration: mmengine Config files with ``_base_`` inheritance, presets, ``--set`` overrides, and the
config search path that lets plugins and users add configs.

A run's config is merged from these files, later ones winning (each may use ``_base_``):

1. ``_base_/schedules/<preset>.py``          -- iterations, batch size, cadences, AMP, EMA
2. ``_base_/datasets/<dataset>.py``          -- the ``data`` section
3. ``<method>/<method>_<preset>.py``         -- ``model``, ``optimizer``, ``loss``, ...
4. ``<method>/<method>_<dataset>.py``        -- optional dataset-specific settings of a method

then each ``--config FILE`` and ``--set key=value``. Any file may hold ``presets = dict(tiny=dict(...),
paper=dict(...))``: the chosen preset's entry is merged over that file's own content (a dataset's image size
differs between the CPU and GPU presets, say). ``--set`` changes one existing key; a key the config does not
have is an error, so a typo never passes silently. The resolved config is dumped with every run, the
non-default keys and the file each part came from recorded.

The search path. The paths above are relative to one *config tree*, the union of these layers, a later
layer's file of the same relative path winning:

1. the built-in configs (``configs/`` of the checkout; ``benchmark/_data/configs`` of a wheel, see
   :mod:`benchmark.resources`);
2. each installed plugin's config package, declared by an entry point of group ``sisbench.configs`` whose
   value is an importable package, e.g. ``oasis = "sisbench_oasis.configs"``; its directory holds
   ``<method>/<method>_<preset>.py`` and optionally ``_base_/...``. Plugins are ordered by entry-point name;
3. the directories of ``$SISBENCH_CONFIG_PATH`` (``os.pathsep``-separated), left to right;
4. the ``--config-dir DIR`` options, in the order given.

Decisions:

- One union tree rather than a lookup per file, so that ``_base_`` resolves across layers with mmengine's
  own rules: a plugin's ``oasis/oasis_tiny.py`` may say ``_base_ = ["../_base_/methods/oasis.py"]`` (its
  own package) or ``["../_base_/methods/spade.py"]`` (the built-in one), and a ``--config-dir`` that
  replaces ``_base_/methods/spade.py`` changes every config built on it. The tree is materialised in a
  temporary directory for each resolution (the built-in tree is ~50 small files; copying takes
  milliseconds), so mmengine never needs patching. Only config files (``.py``, ``.json``, ``.yaml``) are
  copied. Consequence: a file cannot extend the file it replaces (its ``_base_`` would be itself); add
  keys with ``--config FILE`` instead.
- Later wins, in every list alike (plugins, ``$SISBENCH_CONFIG_PATH``, ``--config-dir``), and the command
  line wins over the environment. ``python -m benchmark config`` prints the search path and which layer
  each file came from; ``list`` prints the search path, every file a layer replaces, and methods without a
  tiny preset.
- A ``--config-dir`` or ``$SISBENCH_CONFIG_PATH`` entry that is not a directory is an error (a typo must not
  fall back silently to the built-in files). A plugin entry point that cannot be resolved is skipped and
  reported (by ``list``, and in the error naming a missing file), so one broken plugin does not stop the
  others.
- ``--config FILE`` is read from its own location; a name that is not an existing file is looked up in the
  tree (``--config pix2pixhd/variants/pix2pixhd_cityscapes_1024p.py``, also spelled ``configs/...``), so
  the README's commands work with a wheel install from any directory.
"""

from __future__ import annotations

import ast
import copy
import hashlib
import importlib.util
import json
import os
import posixpath
import shutil
import tempfile
import traceback
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

from mmengine.config import Config

from benchmark.resources import builtin_config_dir
from benchmark.schedule import apply_epochs
from benchmark.user_error import ConfigError

PRESETS = ("tiny", "paper")
#: the built-in config tree (kept for callers that read one built-in file directly)
CONFIG_ROOT = builtin_config_dir()
ENTRY_POINT_GROUP = "sisbench.configs"
ENV_VAR = "SISBENCH_CONFIG_PATH"
CONFIG_SUFFIXES = (".py", ".json", ".yaml", ".yml")


# -- the search path -----------------------------------------------------------------------------------

@dataclass(frozen=True)
class ConfigLayer:
    """One directory of the config search path."""

    kind: str            # "built-in", "plugin", "SISBENCH_CONFIG_PATH" or "--config-dir"
    root: Path
    name: str = ""       # a plugin's entry-point name
    origin: str = ""     # a plugin's entry point and distribution

    @property
    def label(self) -> str:
        return f"plugin {self.name!r}" if self.kind == "plugin" else self.kind

    def __str__(self) -> str:
        return f"{self.label} {self.root}"


@dataclass
class ConfigSearchPath:
    """The layers of the config tree, lowest first, and the plugin entry points that could not be used."""

    layers: list[ConfigLayer]
    problems: dict[str, str] = field(default_factory=dict)

    def files(self) -> dict[str, list[ConfigLayer]]:
        """Relative path -> every layer holding it, lowest first (the last one wins)."""
        out: dict[str, list[ConfigLayer]] = {}
        for layer in self.layers:
            for rel in _config_files_under(layer.root):
                out.setdefault(rel, []).append(layer)
        return dict(sorted(out.items()))

    def find(self, rel: str) -> ConfigLayer | None:
        """The layer whose ``rel`` wins, or None."""
        for layer in reversed(self.layers):
            if (layer.root / rel).is_file():
                return layer
        return None

    def shadowed(self) -> list[tuple[str, ConfigLayer, list[ConfigLayer]]]:
        """``(rel, winner, replaced layers)`` for every file present in more than one layer."""
        return [(rel, layers[-1], layers[:-1]) for rel, layers in self.files().items() if len(layers) > 1]

    def describe(self) -> str:
        text = "; ".join(str(layer) for layer in self.layers)
        if self.problems:
            text += "; plugin config entries that failed to load: " + "; ".join(
                f"{source}: {err}" for source, err in self.problems.items())
        return text

    def not_found(self, rel: str) -> str:
        return f"{rel} not found in the config search path ({self.describe()})"

    def tree(self) -> Path:
        """The union of the layers as one directory (a temporary copy, reused while the files are unchanged)."""
        winners = {rel: layers[-1].root / rel for rel, layers in self.files().items()}
        digest = hashlib.sha256()
        for rel, path in winners.items():
            digest.update(rel.encode() + b"\0" + path.read_bytes() + b"\0")
        key = digest.hexdigest()
        cached = _TREES.get(key)
        if cached is None or not Path(cached.name).is_dir():
            while len(_TREES) >= 8:  # a long test session builds many trees; keep the recent ones
                _TREES.pop(next(iter(_TREES))).cleanup()
            cached = tempfile.TemporaryDirectory(prefix="sisbench-configs-")
            for rel, path in winners.items():
                target = Path(cached.name) / rel
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(path, target)
            _TREES[key] = cached
        return Path(cached.name)


#: content hash of a union tree -> its temporary copy. Creating directories is slow on some file systems
#: (~4 ms each measured here), and every config resolution needs the tree.
_TREES: dict[str, tempfile.TemporaryDirectory] = {}


def _config_files_under(root: Path) -> list[str]:
    out = []
    for path in root.rglob("*"):
        rel = path.relative_to(root)
        if path.suffix not in CONFIG_SUFFIXES or not path.is_file():
            continue
        if any(part == "__pycache__" or part.startswith(".") for part in rel.parts) or path.name == "__init__.py":
            continue
        out.append(rel.as_posix())
    return sorted(out)


def plugin_entry_points() -> list[metadata.EntryPoint]:
    """The installed ``sisbench.configs`` entry points, ordered by name (the order of their layers)."""
    seen: dict[tuple[str, str], metadata.EntryPoint] = {}
    for ep in metadata.entry_points(group=ENTRY_POINT_GROUP):
        seen.setdefault((ep.name, ep.value), ep)
    return [seen[key] for key in sorted(seen)]


def _plugin_layers(ep: metadata.EntryPoint) -> list[ConfigLayer]:
    if ":" in ep.value:
        raise ConfigError(f"the value must name a package (e.g. mypkg.configs), not an object: {ep.value!r}")
    spec = importlib.util.find_spec(ep.value)
    if spec is None:
        raise ConfigError(f"package {ep.value!r} is not importable")
    if not spec.submodule_search_locations:
        raise ConfigError(f"{ep.value!r} is a module, not a package directory of configs")
    dist = getattr(ep, "dist", None)
    origin = f"{ENTRY_POINT_GROUP}: {ep.name} = {ep.value}"
    if dist is not None:
        origin += f" ({dist.metadata['Name']} {dist.version})"
    dirs = [Path(p) for p in spec.submodule_search_locations if Path(p).is_dir()]
    if not dirs:
        raise ConfigError(f"package {ep.value!r} has no directory on disk")
    return [ConfigLayer("plugin", d.resolve(), ep.name, origin) for d in dirs]


def config_search_path(config_dirs: Sequence[str | os.PathLike] = (),
                       env: Mapping[str, str] | None = None) -> ConfigSearchPath:
    """The built-in configs, each plugin's config package, ``$SISBENCH_CONFIG_PATH``, then ``config_dirs``."""
    env = os.environ if env is None else env
    search = ConfigSearchPath([ConfigLayer("built-in", builtin_config_dir())])
    for ep in plugin_entry_points():
        source = f"entry point {ep.name!r} ({ep.value}) in group {ENTRY_POINT_GROUP!r}"
        try:
            search.layers += _plugin_layers(ep)
        except Exception as exc:  # a broken plugin must not break the others
            search.problems[source] = str(exc) if isinstance(exc, ConfigError) else f"{type(exc).__name__}: {exc}"
    for entry in (env.get(ENV_VAR) or "").split(os.pathsep):
        if entry.strip():
            path = Path(entry).expanduser()
            if not path.is_dir():
                raise ConfigError(f"{ENV_VAR} entry {entry!r} is not a directory; fix or remove it "
                                  f"({ENV_VAR}={env.get(ENV_VAR)!r})")
            search.layers.append(ConfigLayer(ENV_VAR, path.resolve()))
    for entry in config_dirs or ():
        path = Path(entry).expanduser()
        if not path.is_dir():
            raise ConfigError(f"--config-dir {entry}: no such directory")
        search.layers.append(ConfigLayer("--config-dir", path.resolve()))
    return search


# -- which files make a config -------------------------------------------------------------------------

@dataclass(frozen=True)
class ConfigSource:
    """One file merged into a config: its role, its path in the tree and the layer it came from."""

    role: str                      # "schedule", "dataset", "method preset", "method-dataset", "--config"
    rel: str                       # relative path in the config tree (a --config file outside it: its path)
    layer: ConfigLayer | None      # None: a --config file outside the tree
    replaced: tuple[ConfigLayer, ...] = ()   # lower layers holding the same file
    bases: tuple[ConfigSource, ...] = ()     # the files its ``_base_`` names, resolved in the tree
    #: read from the union tree (its ``_base_`` resolved there); False: a --config file named by its path,
    #: read where it is
    in_tree: bool = True

    @property
    def path(self) -> Path:
        return self.layer.root / self.rel if self.layer is not None else Path(self.rel)

    def display(self) -> str:
        """``configs/<rel>`` for a built-in file, else the file's absolute path."""
        if self.layer is not None and self.layer.kind == "built-in":
            return f"configs/{self.rel}"
        return str(self.path)

    def to_dict(self) -> dict[str, Any]:
        return {"role": self.role, "file": self.rel, "layer": None if self.layer is None else self.layer.label,
                "path": str(self.path), "replaces": [layer.label for layer in self.replaced],
                "bases": [b.to_dict() for b in self.bases]}


def _base_names(path: Path) -> list[str]:
    """The ``_base_`` entries of a Python config (for the provenance record; mmengine does the loading)."""
    if path.suffix != ".py":
        return []
    try:
        tree = ast.parse(path.read_text())
    except (OSError, SyntaxError, ValueError):
        return []
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == "_base_" for t in node.targets):
            try:
                value = ast.literal_eval(node.value)
            except ValueError:
                return []
            return [value] if isinstance(value, str) else [v for v in value if isinstance(v, str)]
    return []


def _source(search: ConfigSearchPath, role: str, rel: str, depth: int = 0) -> ConfigSource:
    holders = [layer for layer in search.layers if (layer.root / rel).is_file()]
    layer = holders[-1]
    bases = []
    if depth < 16:  # mmengine reports cycles itself; this only bounds the record
        for name in _base_names(layer.root / rel):
            base_rel = posixpath.normpath(posixpath.join(posixpath.dirname(rel), name))
            if not os.path.isabs(name) and not base_rel.startswith("../") and search.find(base_rel) is not None:
                bases.append(_source(search, "_base_", base_rel, depth + 1))
    return ConfigSource(role, rel, layer, tuple(holders[:-1]), tuple(bases))


def config_sources(method: str, dataset: str, preset: str, search: ConfigSearchPath) -> list[ConfigSource]:
    """The files a config of ``method`` on ``dataset`` at ``preset`` is merged from, in merge order."""
    if preset not in PRESETS:
        raise ConfigError(f"unknown preset {preset!r}; valid presets: {', '.join(PRESETS)}")
    required = [
        ("schedule", f"_base_/schedules/{preset}.py", f"no schedule for preset {preset!r}"),
        ("dataset", f"_base_/datasets/{dataset}.py", f"no config for dataset {dataset!r}"),
        ("method preset", f"{method}/{method}_{preset}.py", f"no {preset} preset for method {method!r}"),
    ]
    out = []
    for role, rel, what in required:
        if search.find(rel) is None:
            raise ConfigError(f"{what}: {search.not_found(rel)}; a plugin ships it in its `{ENTRY_POINT_GROUP}` "
                              f"config package, or pass --config-dir DIR with DIR/{rel}")
        out.append(_source(search, role, rel))
    optional = f"{method}/{method}_{dataset}.py"
    if search.find(optional) is not None:
        out.append(_source(search, "method-dataset", optional))
    return out


def missing_preset(method: str, search: ConfigSearchPath, preset: str = "tiny") -> str | None:
    """None when ``method`` has a ``preset`` config in the search path, else why not (for ``list``)."""
    rel = f"{method}/{method}_{preset}.py"
    if search.find(rel) is not None:
        return None
    return f"{method} has no {preset} preset: {search.not_found(rel)}"


def _extra_source(extra: str | os.PathLike, search: ConfigSearchPath) -> ConfigSource:
    path = Path(extra).expanduser()
    if path.is_file():  # read where it is; named after the layer it lies in, if any
        path = path.resolve()
        for layer in reversed(search.layers):
            if path.is_relative_to(layer.root):
                return ConfigSource("--config", path.relative_to(layer.root).as_posix(), layer, in_tree=False)
        return ConfigSource("--config", str(path), None, in_tree=False)
    rel = Path(extra).as_posix()
    for candidate in (rel, rel[len("configs/"):] if rel.startswith("configs/") else None):
        if candidate and search.find(candidate) is not None:
            return _source(search, "--config", candidate)
    raise ConfigError(f"--config {extra}: no such file, and {search.not_found(rel)}")


# -- loading -------------------------------------------------------------------------------------------

def _load_error(exc: BaseException, path: Path) -> str:
    """The Python error a config file raised while loading, on one line: a bare exception (mmengine's lazy
    import placeholders raise ``RuntimeError()`` when a config calls an imported function) gets the line of the
    config that raised it and what to do instead."""
    text = " ".join(str(exc).split())
    if text:
        return f"{type(exc).__name__}: {text}"
    frames = traceback.extract_tb(exc.__traceback__)
    lines = [f for f in frames if Path(f.filename).resolve() == Path(path).resolve()]
    where = f" at line {lines[-1].lineno} ({(lines[-1].line or '').strip()})" if lines else ""
    text = f"{type(exc).__name__} with no message{where}"
    if frames and Path(frames[-1].filename).parts[-2:] == ("config", "lazy.py"):
        text += ("; mmengine loads a config's imports as placeholders that cannot be called, so compute the value "
                 "without calling an imported function")
    return text


def _load_file(path: Path, preset: str, display: str | None = None) -> dict[str, Any]:
    try:
        cfg = Config.fromfile(str(path)).to_dict()
    except Exception as exc:  # mmengine raises OSError, SyntaxError, KeyError ...; name the file, not a temp copy
        raise ConfigError(f"config {display or path} could not be read: {_load_error(exc, path)}") from exc
    presets = cfg.pop("presets", None) or {}
    if preset in presets:
        cfg = merge(cfg, presets[preset])
    return cfg


def _load_sources(sources: Sequence[ConfigSource], preset: str, search: ConfigSearchPath) -> dict[str, Any]:
    cfg: dict[str, Any] = {}
    tree = search.tree()
    for src in sources:
        path = tree / src.rel if src.in_tree else src.path
        try:
            cfg = merge(cfg, _load_file(path, preset, src.display()))
        except ConfigError as exc:  # paths in the temporary tree are paths in the config tree
            message = str(exc).replace(str(tree) + os.sep, "")
            if isinstance(exc.__cause__, FileNotFoundError):  # a _base_ that no layer holds
                message += f" (config search path: {search.describe()})"
            raise ConfigError(message) from exc.__cause__
    return cfg


def merge(base: Mapping[str, Any], other: Mapping[str, Any]) -> dict[str, Any]:
    """Recursive dict merge; ``other`` wins; a dict holding ``_delete_=True`` replaces instead."""
    out = copy.deepcopy(dict(base))
    for key, value in other.items():
        if isinstance(value, Mapping) and value.get("_delete_"):
            out[key] = {k: copy.deepcopy(v) for k, v in value.items() if k != "_delete_"}
        elif isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            out[key] = merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def parse_override(item: str) -> tuple[str, Any]:
    """``"model.ngf=32"`` -> ``("model.ngf", 32)``; values are Python literals, else strings."""
    if "=" not in item:
        raise ConfigError(f"--set {item!r} is not of the form key=value (e.g. --set model.ngf=32)")
    key, raw = item.split("=", 1)
    key = key.strip()
    try:
        value = ast.literal_eval(raw.strip())
    except (ValueError, SyntaxError):
        value = raw.strip()
    return key, value


def apply_overrides(cfg: dict[str, Any], overrides: Sequence[str]) -> list[tuple[str, Any, Any]]:
    """Apply ``--set`` overrides in place; return ``(key, old, new)`` for each."""
    changed = []
    for item in overrides:
        key, value = parse_override(item)
        node = cfg
        parts = key.split(".")
        for i, part in enumerate(parts[:-1]):
            if not isinstance(node, dict) or part not in node:
                raise ConfigError(f"--set {key}: the config has no key {'.'.join(parts[:i + 1])!r}; "
                                  f"see the run's config.py or `python -m benchmark config` for valid keys")
            node = node[part]
        if not isinstance(node, dict) or parts[-1] not in node:
            near = sorted(node) if isinstance(node, dict) else []
            hint = f" (keys there: {', '.join(near)})" if near else ""
            raise ConfigError(f"--set {key}: the config has no key {key!r}{hint}")
        old = node[parts[-1]]
        if isinstance(old, tuple) and isinstance(value, list):
            value = tuple(value)
        node[parts[-1]] = value
        changed.append((key, old, value))
    return changed


def load_config(method: str, dataset: str, preset: str = "tiny", overrides: Sequence[str] = (),
                extra_files: Sequence[str | os.PathLike] = (), config_dirs: Sequence[str | os.PathLike] = (),
                search: ConfigSearchPath | None = None) -> Config:
    """Resolve the config of ``method`` on ``dataset`` at ``preset``, then ``extra_files`` (``--config``,
    e.g. a variant such as pix2pixhd/variants/pix2pixhd_cityscapes_1024p.py), then ``--set``.

    ``config_dirs`` are the ``--config-dir`` layers (see the module docstring); ``search`` replaces the
    whole search path. ``cfg["_meta_"]`` records the files, their layers and the overrides.
    """
    search = search if search is not None else config_search_path(config_dirs)
    sources = config_sources(method, dataset, preset, search)
    sources += [_extra_source(extra, search) for extra in extra_files]
    cfg = _load_sources(sources, preset, search)
    cfg["method"] = method
    cfg["dataset"] = dataset
    cfg["preset"] = preset
    changed = apply_overrides(cfg, overrides)
    apply_epochs(cfg, {key for key, _, _ in changed})   # paper schedules in epochs -> train.iters
    resolved = Config(cfg)
    resolved["_meta_"] = {"files": [src.display() for src in sources],
                          "sources": [src.to_dict() for src in sources],
                          "search_path": [str(layer) for layer in search.layers],
                          "search_path_problems": dict(search.problems),
                          "overrides": [[k, _plain(o), _plain(n)] for k, o, n in changed]}
    return resolved


def load_data_config(dataset: str, preset: str = "tiny", overrides: Sequence[str] = (),
                     config_dirs: Sequence[str | os.PathLike] = (),
                     search: ConfigSearchPath | None = None) -> dict[str, Any]:
    """The ``data`` section of a dataset at a preset, with ``--set data.<key>=...`` overrides."""
    search = search if search is not None else config_search_path(config_dirs)
    rel = f"_base_/datasets/{dataset}.py"
    if search.find(rel) is None:
        raise ConfigError(f"no config for dataset {dataset!r}: {search.not_found(rel)}; a dataset plugin ships it "
                          f"in its `{ENTRY_POINT_GROUP}` config package, or pass --config-dir DIR with DIR/{rel}")
    cfg = _load_sources([_source(search, "dataset", rel)], preset, search)
    apply_overrides(cfg, overrides)
    return cfg["data"]


def format_provenance(cfg: Config | Mapping[str, Any]) -> list[str]:
    """Where a resolved config came from, as lines for a ``#`` comment block: the search path, then each
    file (and its ``_base_`` files) with the layer that supplied it, then the ``--set`` overrides."""
    meta = cfg.get("_meta_", {}) or {}
    lines = ["Config search path (a later layer wins for a file of the same relative path):"]
    lines += [f"  {i}. {layer}" for i, layer in enumerate(meta.get("search_path", []), 1)]
    for source, err in (meta.get("search_path_problems") or {}).items():
        lines.append(f"  (skipped {source}: {err})")
    lines.append("Files merged, in order (file <- layer; a _base_ line is merged before the file above it):")
    rows: list[tuple[str, str, str]] = []

    def add(src: Mapping[str, Any], indent: str) -> None:
        where = src["layer"] or "outside the config tree"
        if src.get("replaces"):
            where += f" (replaces {', '.join(src['replaces'])})"
        rows.append((indent + src["role"], src["file"] if src["layer"] else src["path"], where))
        for base in src.get("bases", []):  # a file's _base_ files, merged before it
            add(base, indent + "  ")

    for src in meta.get("sources", []):
        add(src, "  ")
    roles = [r for r, _, _ in rows]
    if cfg.get("method") and not any(r.strip() == "method-dataset" for r in roles):
        rows.append(("  method-dataset", f"{cfg['method']}/{cfg['method']}_{cfg['dataset']}.py", "(none)"))
    width = max((len(r) for r, _, _ in rows), default=0)
    fwidth = max((len(f) for _, f, _ in rows), default=0)
    lines += [f"{r:<{width}}  {f:<{fwidth}}  <- {w}" for r, f, w in rows]
    overrides = meta.get("overrides", [])
    lines.append("--set overrides:" + ("" if overrides else " none"))
    lines += [f"  {k} = {n!r}   (default: {o!r})" for k, o, n in overrides]
    return lines


def _plain(value: Any) -> Any:
    return json.loads(json.dumps(value, default=str))


def to_plain(cfg: Config | Mapping[str, Any]) -> dict[str, Any]:
    """A JSON-able plain dict of the config without its ``_meta_`` record."""
    d = cfg.to_dict() if isinstance(cfg, Config) else dict(cfg)
    d.pop("_meta_", None)
    return _plain(d)


#: top-level config key listing options added after runs were recorded, with the values that reproduce those
#: runs (``{"model.upsample_mode": "nearest"}``): while a config holds such a value the key is left out of its
#: identity, so adding an option to a method keeps every finished run's id (and seed group).
RUN_ID_DEFAULTS = "run_id_defaults"


def run_identity(cfg: Config | Mapping[str, Any], exclude: Sequence[str] = ("run",)) -> dict[str, Any]:
    """What determines a run's result, as a plain dict: the config without ``exclude`` and without the keys of
    its ``run_id_defaults`` that hold their listed value."""
    d = to_plain(cfg)
    for key in exclude:
        d.pop(key, None)
    defaults = d.pop(RUN_ID_DEFAULTS, None) or {}
    if isinstance(d.get("data"), dict) and d["data"].get("name", "") is None:
        del d["data"]["name"]  # a dataset without a name of its own: run ids as before data.name existed
    for dotted, value in defaults.items():
        *parents, last = str(dotted).split(".")
        node: Any = d
        for part in parents:
            node = node.get(part) if isinstance(node, dict) else None
        if isinstance(node, dict) and last in node and node[last] == _plain(value):
            del node[last]
    return d


def config_hash(cfg: Config | Mapping[str, Any], exclude: Sequence[str] = ("run",)) -> str:
    """A stable hash of what determines a run's result (:func:`run_identity`: the ``run`` section, e.g.
    output paths, and options still at their ``run_id_defaults`` value left out)."""
    return hashlib.sha256(json.dumps(run_identity(cfg, exclude), sort_keys=True).encode()).hexdigest()


def dump_config(cfg: Config, path: Path) -> None:
    """Write the resolved config as a Python config file, its provenance and non-default keys at the top."""
    from benchmark.io import atomic_write_text

    meta = cfg.get("_meta_", {})
    lines = ["# Resolved SISBench config.", f"# Built from: {', '.join(meta.get('files', []))}"]
    overrides = meta.get("overrides", [])
    if overrides:
        lines.append("# Non-default keys (changed with --set):")
        lines += [f"#   {k} = {n!r}   (default: {o!r})" for k, o, n in overrides]
    else:
        lines.append("# Non-default keys: none (every value is the preset's default).")
    if meta.get("sources"):
        lines += ["#"] + [f"# {line}" for line in format_provenance(cfg)]
    body = Config(to_plain(cfg)).pretty_text
    atomic_write_text(path, "\n".join(lines) + "\n\n" + body + "\n")
