"""Locks that let any number of processes, on one machine or several sharing a filesystem, write one ``--out``.

:class:`FileLock` is a lock file created with ``O_CREAT | O_EXCL`` (atomic on local filesystems and NFS v3+)
holding ``{host, pid, started, heartbeat}``, kept under ``fcntl.flock`` by its holder and touched every
:data:`HEARTBEAT_S` seconds. A lock is stale -- and taken over -- when its holder is gone: on the same host
the flock is free and the pid is not alive; on another host its heartbeat is older than :data:`STALE_S`.
Released, the file is removed: nothing is left behind.

:class:`RunLock` guards one run directory (``<run_dir>.lock`` beside it, so a lock never makes a run
directory appear): one process at a time trains, generates and scores a run. :func:`directory_lock`
guards what is written for a whole results directory (the oracle, tables, figures, ``index.html``).
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import json
import os
import socket
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

try:
    import fcntl
except ImportError:  # not POSIX: the pid and the heartbeat alone tell a stale lock
    fcntl = None  # type: ignore[assignment]

HEARTBEAT_S = 30.0
STALE_S = 300.0
POLL_S = 1.0


class LockBusy(RuntimeError):
    """The lock is held by a live process (and the caller chose not to wait)."""

    def __init__(self, path: Path, holder: dict[str, Any]):
        self.path, self.holder = path, holder
        super().__init__(f"{path} is held by {describe(holder)}")


def describe(holder: dict[str, Any]) -> str:
    if not holder:
        return "another process"
    return f"pid {holder.get('pid')} on {holder.get('host')} since {holder.get('started')}"


def _now() -> str:
    return _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds")


def _pid_alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's live process
    return True


def _read(fd: int) -> dict[str, Any]:
    try:
        data = os.pread(fd, 65536, 0)
        holder = json.loads(data.decode("utf-8"))
        return holder if isinstance(holder, dict) else {}
    except (OSError, ValueError):
        return {}  # being written: the holder is the one that just created it


class FileLock:
    """An exclusive lock file at ``path`` (see the module docstring); a context manager.

    ``wait``: poll until a live holder releases it (``on_wait`` is told once, with the holder), else raise
    :class:`LockBusy`. ``timeout``: give up waiting after this many seconds (:class:`LockBusy`)."""

    def __init__(self, path: Path, *, wait: bool = True, timeout: float | None = None, poll: float = POLL_S,
                 on_wait: Callable[[dict[str, Any]], None] | None = None):
        self.path = Path(path)
        self.wait, self.timeout, self.poll, self.on_wait = wait, timeout, poll, on_wait
        self._fd: int | None = None
        self._stop = threading.Event()
        self._beat: threading.Thread | None = None
        self.took_over: dict[str, Any] | None = None  # the stale holder this lock replaced, if any
        self.waited = False

    # -- acquiring ------------------------------------------------------------------------------------
    def acquire(self) -> FileLock:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        start, told = time.monotonic(), False
        while True:
            if self._try_create():
                return self
            holder = self._take_over_if_stale()
            if holder is None:
                continue  # it was stale (or vanished): try to create it again at once
            if not self.wait or (self.timeout is not None and time.monotonic() - start > self.timeout):
                raise LockBusy(self.path, holder)
            if not told and self.on_wait is not None:
                self.on_wait(holder)
            told, self.waited = True, True
            time.sleep(self.poll)

    def _try_create(self) -> bool:
        try:
            fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_RDWR, 0o644)
        except FileExistsError:
            return False
        if fcntl is not None:
            # blocking: a process judging the (still empty) new file holds its flock for a moment at most
            with contextlib.suppress(OSError):  # no flock on this filesystem: the pid and heartbeat decide
                fcntl.flock(fd, fcntl.LOCK_EX)
        self._fd = fd
        self._write(started=_now())
        self._stop.clear()
        self._beat = threading.Thread(target=self._heartbeat, name=f"lock-heartbeat {self.path.name}",
                                      daemon=True)
        self._beat.start()
        return True

    def _take_over_if_stale(self) -> dict[str, Any] | None:
        """None when the lock at ``path`` was stale and is now gone (or vanished by itself); else its holder."""
        try:
            fd = os.open(self.path, os.O_RDWR)
        except FileNotFoundError:
            return None
        try:
            free = True
            if fcntl is not None:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    free = False  # its holder is alive on this host (or shares flock with us over NFS)
                except OSError:
                    pass  # no flock on this filesystem: the pid and the heartbeat decide
            holder = _read(fd)
            if not free or not self._stale(holder, fd):
                return holder
            try:
                if os.fstat(fd).st_ino != os.stat(self.path).st_ino:
                    return None  # replaced meanwhile by a new holder: look again
            except FileNotFoundError:
                return None
            # we hold the flock of the stale file: no one else can judge it stale and remove a newer one
            os.unlink(self.path)
            self.took_over = holder
            return None
        finally:
            os.close(fd)

    @staticmethod
    def _stale(holder: dict[str, Any], fd: int) -> bool:
        try:
            age = time.time() - os.fstat(fd).st_mtime
        except OSError:
            age = 0.0
        if not holder:
            return age > STALE_S  # empty: its creator is writing it now (or died right after creating it)
        if holder.get("host") == socket.gethostname():
            return not _pid_alive(int(holder.get("pid") or 0)) or age > STALE_S
        return age > STALE_S

    # -- holding --------------------------------------------------------------------------------------
    def _write(self, **fields: Any) -> None:
        assert self._fd is not None
        holder = {"host": socket.gethostname(), "pid": os.getpid(), "started": fields.get("started"),
                  "heartbeat": _now()}
        if fields.get("started") is None:
            holder["started"] = _read(self._fd).get("started")
        data = json.dumps(holder).encode("utf-8")
        os.ftruncate(self._fd, 0)
        os.pwrite(self._fd, data, 0)
        os.utime(self._fd)

    def _heartbeat(self) -> None:
        while not self._stop.wait(HEARTBEAT_S):
            with contextlib.suppress(OSError, AssertionError):
                self._write()

    def release(self) -> None:
        if self._fd is None:
            return
        self._stop.set()
        if self._beat is not None:
            self._beat.join(timeout=5)
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.path)  # while we hold the flock: no one can have replaced it
        os.close(self._fd)
        self._fd = None

    @property
    def held(self) -> bool:
        return self._fd is not None

    def __enter__(self) -> FileLock:
        return self.acquire()

    def __exit__(self, *exc: object) -> None:
        self.release()


def run_lock_path(run_dir: Path) -> Path:
    run_dir = Path(run_dir)
    return run_dir.with_name(run_dir.name + ".lock")


class RunLock(FileLock):
    """The lock of one run directory: ``<run_dir>.lock`` beside it."""

    def __init__(self, run_dir: Path, **kwargs: Any):
        self.run_dir = Path(run_dir)
        super().__init__(run_lock_path(self.run_dir), **kwargs)


DIRECTORY_LOCK = ".sisbench.lock"


@contextlib.contextmanager
def directory_lock(out: Path, **kwargs: Any) -> Iterator[FileLock]:
    """Hold ``<out>/.sisbench.lock`` while the oracle, the tables and the report are written."""
    with FileLock(Path(out) / DIRECTORY_LOCK, **kwargs) as lock:
        yield lock
