"""Atomic file writes, process-owned temporary names, and paths that stay inside a results directory.

- :func:`atomic_path` / :func:`atomic_write`: a crash or an error never leaves a half-written checkpoint,
  image or table. The temporary file beside the target is named ``.<target>.<host>-<pid>-<random>.sisbench-tmp``
  so that one left by a killed process (``kill -9`` skips every cleanup) is recognised and removed by the next
  process writing into that directory (:func:`clean_stale_temps`). The written file gets the permissions
  ``open()`` would give it (``0o666`` less the umask), not ``mkstemp``'s ``0o600``.
- :func:`process_tag` / :func:`tag_is_stale`: the ``<host>-<pid>`` that marks a temporary file or folder as
  one process's own, and whether that process is gone.
- :func:`safe_component` / :func:`inside`: a name taken from a record or a config (dataset, method,
  protocol, run id) joined under a root, refused when it would leave it.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, BinaryIO

from benchmark.user_error import UserError

TMP_SUFFIX = ".sisbench-tmp"
#: a temporary file or folder whose owner cannot be checked (another host, or a name from before the
#: owner was part of it) is stale after this many seconds
STALE_AFTER_S = 24 * 3600
_TAGGED = re.compile(r"\.(?P<host>[A-Za-z0-9_]+)-(?P<pid>\d+)-[A-Za-z0-9_]+" + re.escape(TMP_SUFFIX) + "$")
#: ``tempfile.mkstemp(prefix=".<name>.", suffix=".tmp")``, the names of earlier versions
_LEGACY = re.compile(r"^\..+\.[a-z0-9_]{8}\.tmp$")
_SWEPT: set[str] = set()


class UnsafePathError(UserError, ValueError):
    """A name from a record or a config would put a file outside the directory it belongs in."""


def _host() -> str:
    return re.sub(r"[^A-Za-z0-9_]", "_", socket.gethostname()) or "host"


def process_tag() -> str:
    """``<host>-<pid>`` of this process: the owner part of its temporary names."""
    return f"{_host()}-{os.getpid()}"


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's live process
        return True
    except OSError:
        return False
    return True


def tag_is_stale(host: str, pid: int, path: Path) -> bool:
    """Whether the process ``<host>-<pid>`` that owns ``path`` is gone: on this host, it no longer runs;
    on another host (a shared file system), ``path`` is older than :data:`STALE_AFTER_S`."""
    if host == _host():
        return pid != os.getpid() and not pid_alive(pid)
    return _older_than(path, STALE_AFTER_S)


def _older_than(path: Path, seconds: float) -> bool:
    try:
        return time.time() - path.lstat().st_mtime > seconds
    except OSError:
        return False


def current_umask() -> int:
    """The process's umask, read without changing it where the system allows."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def default_mode(directory: bool = False) -> int:
    """The mode ``open()`` (``mkdir()`` for a directory) gives a new file under the current umask."""
    return (0o777 if directory else 0o666) & ~current_umask()


def clean_stale_temps(directory: str | os.PathLike) -> list[Path]:
    """Remove the temporary files that killed processes left in ``directory``; returns what was removed."""
    removed = []
    try:
        entries = list(os.scandir(directory))
    except OSError:
        return removed
    for entry in entries:
        name = entry.name
        if not name.startswith(".") or not (name.endswith(TMP_SUFFIX) or name.endswith(".tmp")):
            continue
        path = Path(entry.path)
        m = _TAGGED.search(name)
        if m:
            stale = tag_is_stale(m["host"], int(m["pid"]), path)
        else:
            stale = bool(_LEGACY.match(name)) and _older_than(path, STALE_AFTER_S)
        if stale and entry.is_file(follow_symlinks=False):
            try:
                path.unlink()
            except OSError:
                continue
            removed.append(path)
    return removed


def _sweep_once(directory: Path) -> None:
    key = str(directory.resolve())
    if key not in _SWEPT:
        _SWEPT.add(key)
        clean_stale_temps(directory)


@contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success it is renamed onto ``path`` (with the umask's
    permissions), else removed. The first write into a directory removes stale temporary files there."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    _sweep_once(path.parent)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.{process_tag()}-", suffix=TMP_SUFFIX, dir=path.parent)
    os.close(fd)
    try:
        yield Path(tmp)
        os.chmod(tmp, default_mode())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write(path: str | os.PathLike, write: Callable[[BinaryIO], Any]) -> None:
    with atomic_path(path) as tmp, open(tmp, "wb") as fh:
        write(fh)
        fh.flush()
        os.fsync(fh.fileno())


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    atomic_write(path, lambda fh: fh.write(text.encode("utf-8")))


def atomic_write_json(path: str | os.PathLike, obj: Any) -> None:
    atomic_write_text(path, json.dumps(obj, indent=2, sort_keys=True, default=str) + "\n")


def owned_dir(parent: Path, name: str, kind: str) -> Path:
    """A new, empty directory ``<parent>/<name>.<kind>-<host>-<pid>-<random>`` that belongs to this process;
    the ones of the same ``name`` and ``kind`` that dead processes left are removed first."""
    parent.mkdir(parents=True, exist_ok=True)
    clean_stale_dirs(parent, name, kind)
    path = Path(tempfile.mkdtemp(prefix=f"{name}.{kind}-{process_tag()}-", dir=parent))
    os.chmod(path, default_mode(directory=True))
    return path


def clean_stale_dirs(parent: Path, name: str, kind: str) -> list[Path]:
    """Remove ``<parent>/<name>.<kind>-<host>-<pid>-<random>`` folders whose process is gone."""
    pattern = re.compile(re.escape(f"{name}.{kind}-") + r"(?P<host>[A-Za-z0-9_]+)-(?P<pid>\d+)-[A-Za-z0-9_]+$")
    removed = []
    try:
        entries = list(os.scandir(parent))
    except OSError:
        return removed
    for entry in entries:
        m = pattern.match(entry.name)
        path = Path(entry.path)
        if m and entry.is_dir(follow_symlinks=False) and tag_is_stale(m["host"], int(m["pid"]), path):
            shutil.rmtree(path, ignore_errors=True)
            removed.append(path)
    return removed


def safe_component(name: Any, what: str, source: str | os.PathLike | None = None, fix: str | None = None) -> str:
    """``name`` if it is one plain path component (no separator, not ``.`` / ``..``, not absolute, not
    empty); else :class:`UnsafePathError`, one sentence naming ``what``, the ``source`` it came from and
    ``fix`` (default: fix or remove that file)."""
    origin = f" in {source}" if source is not None else ""
    fix = fix or "fix or remove that file"
    if not isinstance(name, str):
        raise UnsafePathError(f"the {what} {name!r}{origin} is not a name (a {type(name).__name__}); {fix}")
    bad = (not name or name in (".", "..") or "/" in name or "\\" in name or "\0" in name
           or os.path.isabs(name) or (os.altsep is not None and os.altsep in name))
    if bad:
        raise UnsafePathError(f"the {what} {name!r}{origin} is not a plain file name (empty, '.', '..', a path "
                              f"separator or an absolute path) and would write outside the results directory; "
                              f"{fix}")
    return name


def inside(root: str | os.PathLike, *parts: Any, what: str = "name", source: str | os.PathLike | None = None,
           fix: str | None = None) -> Path:
    """``root / part / ...`` where every part is a :func:`safe_component`; the result lies inside ``root``."""
    path = Path(root)
    for part in parts:
        path = path / safe_component(part, what, source, fix)
    return path
