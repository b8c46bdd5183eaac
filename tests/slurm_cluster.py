"""A real one-node SLURM cluster for the tests (Debian's ``slurm-wlm`` and ``munge``; ../shared/design/SLURM.md).

:class:`SlurmCluster` starts its own ``munged`` (own key and socket), ``slurmctld`` and ``slurmd`` with a
``slurm.conf`` of its own under a state directory, on ports free at the time, and passes that file to every
SLURM command through ``SLURM_CONF`` (nothing under /etc is written). The daemons are stopped by their pid
files. The session fixture :func:`slurm_cluster` skips where the daemons are not installed (``.ci/run``
installs them), except under ``CI=true``, where it fails.

Run by hand: ``python -m tests.slurm_cluster DIR`` starts a cluster and prints ``export SLURM_CONF=...``;
``python -m tests.slurm_cluster --stop DIR`` stops it.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

DAEMONS = ("munged", "slurmctld", "slurmd")
CLIENTS = ("sbatch", "srun", "sinfo", "squeue", "scontrol", "scancel")
PARTITION = "debug"


def missing_programs() -> list[str]:
    """The SLURM and munge programs not on PATH (``/usr/sbin`` included)."""
    path = os.pathsep.join([os.environ.get("PATH", ""), "/usr/sbin", "/sbin"])
    return [p for p in (*DAEMONS, *CLIENTS) if shutil.which(p, path=path) is None]


def _program(name: str) -> str:
    path = os.pathsep.join([os.environ.get("PATH", ""), "/usr/sbin", "/sbin"])
    found = shutil.which(name, path=path)
    assert found, name
    return found


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _memory_mb() -> int:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal:"):
            return int(line.split()[1]) // 1024
    return 4096


class SlurmCluster:
    """One controller and one compute node on this machine, all state under ``root``.

    SLURM holds a requeued batch job for about two minutes before it may start again (its BeginTime);
    :meth:`release` lets it start now, as an administrator would (``scontrol update StartTime=now``)."""

    def __init__(self, root: Path):
        self.root = Path(root)
        self.host = socket.gethostname().split(".")[0]
        self.conf = self.root / "slurm.conf"
        self.socket = self.root / "munge" / "munge.socket"
        self.cpus = os.cpu_count() or 1
        self.partition = PARTITION

    # -- files ---------------------------------------------------------------------------------------

    def pid_file(self, daemon: str) -> Path:
        return self.root / f"{daemon}.pid"

    def log_file(self, daemon: str) -> Path:
        return self.root / "log" / f"{daemon}.log"

    def env(self) -> dict[str, str]:
        """What a process needs in its environment to use this cluster."""
        return {"SLURM_CONF": str(self.conf)}

    def _write_conf(self) -> None:
        r = self.root
        memory = max(1024, int(_memory_mb() * 0.8))
        lines = {
            "ClusterName": "sisbench",
            "SlurmctldHost": self.host,
            "SlurmctldPort": _free_port(),
            "SlurmdPort": _free_port(),
            "SlurmUser": "root",
            "SlurmdUser": "root",
            "AuthType": "auth/munge",
            "CredType": "cred/munge",
            "AuthInfo": f"socket={self.socket}",
            "StateSaveLocation": r / "state",
            "SlurmdSpoolDir": r / "spool",
            "SlurmctldLogFile": self.log_file("slurmctld"),
            "SlurmdLogFile": self.log_file("slurmd"),
            "SlurmctldPidFile": self.pid_file("slurmctld"),
            "SlurmdPidFile": self.pid_file("slurmd"),
            "ProctrackType": "proctrack/linuxproc",
            "TaskPlugin": "task/none",
            "SchedulerType": "sched/backfill",
            "SelectType": "select/cons_tres",
            "SelectTypeParameters": "CR_Core",
            "ReturnToService": 2,
            "MpiDefault": "none",
            "JobAcctGatherType": "jobacct_gather/none",
            "AccountingStorageType": "accounting_storage/none",
            "PlugStackConfig": r / "plugstack.conf",
            # a quick scheduler: jobs start (and requeued jobs start again) within a second or two
            "SchedulerParameters": "sched_interval=1,bf_interval=1",
            "MessageTimeout": 20,
            "KillWait": 10,  # SIGTERM to SIGKILL: a task checkpoints in well under a second
            "MinJobAge": 300,
        }
        text = "".join(f"{k}={v}\n" for k, v in lines.items())
        text += f"NodeName={self.host} NodeAddr=127.0.0.1 CPUs={self.cpus} RealMemory={memory} State=UNKNOWN\n"
        text += f"PartitionName={self.partition} Nodes={self.host} Default=YES MaxTime=INFINITE State=UP\n"
        self.conf.write_text(text)
        (r / "plugstack.conf").write_text("")

    # -- daemons -------------------------------------------------------------------------------------

    def _pid(self, daemon: str) -> int | None:
        path = self.pid_file(daemon)
        try:
            pid = int(path.read_text().split()[0])
        except (OSError, ValueError, IndexError):
            return None
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return None
        try:  # a daemon that exited but that nobody reaped (a zombie) is gone too
            if Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z":
                return None
        except (OSError, IndexError):
            pass
        return pid

    def _wait(self, what: str, ready, timeout: float = 60.0) -> None:
        deadline = time.time() + timeout
        while time.time() < deadline:
            if ready():
                return
            time.sleep(0.3)
        logs = {d: self.log_file(d).read_text()[-2000:] for d in DAEMONS if self.log_file(d).is_file()}
        raise RuntimeError(f"the test SLURM cluster under {self.root}: {what} did not happen in {timeout:.0f} s; "
                           f"logs: {logs}")

    def _run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        env = {**os.environ, **self.env()}
        return subprocess.run(list(args), env=env, capture_output=True, text=True, check=check, timeout=60)

    def start(self) -> SlurmCluster:
        for sub in ("state", "spool", "log", "munge"):
            (self.root / sub).mkdir(parents=True, exist_ok=True)
        os.chmod(self.root / "munge", 0o700)
        key = self.root / "munge" / "munge.key"
        if not key.is_file():
            key.write_bytes(os.urandom(1024))
            os.chmod(key, 0o400)
        self._write_conf()
        env = {**os.environ, **self.env()}
        subprocess.run([_program("munged"), "--force", f"--socket={self.socket}", f"--key-file={key}",
                        f"--pid-file={self.pid_file('munged')}", f"--log-file={self.log_file('munged')}",
                        f"--seed-file={self.root / 'munge' / 'munged.seed'}"], check=True, env=env, timeout=60)
        self._wait("munged writing its pid file", lambda: self._pid("munged") is not None)
        subprocess.run([_program("slurmctld")], check=True, env=env, timeout=60)
        self._wait("slurmctld writing its pid file", lambda: self._pid("slurmctld") is not None)
        subprocess.run([_program("slurmd")], check=True, env=env, timeout=60)
        self._wait("slurmd writing its pid file", lambda: self._pid("slurmd") is not None)
        self._wait("the node becoming idle", self._node_idle)
        return self

    def _node_idle(self) -> bool:
        out = self._run("sinfo", "-h", "-o", "%P %t", check=False).stdout.split()
        return len(out) >= 2 and out[1] == "idle"

    def stop(self) -> None:
        for daemon in ("slurmd", "slurmctld", "munged"):
            pid = self._pid(daemon)
            if pid is None:
                continue
            os.kill(pid, signal.SIGTERM)
            deadline = time.time() + 30
            while time.time() < deadline and self._pid(daemon) == pid:
                time.sleep(0.2)
            if self._pid(daemon) == pid:
                os.kill(pid, signal.SIGKILL)

    def release(self, job_id: str) -> None:
        """Let a held (requeued) job start now."""
        self._run("scontrol", "update", f"JobId={job_id}", "StartTime=now")

    def queue(self) -> dict[str, str]:
        """``{job id: squeue state}`` of every job in the queue (array tasks one by one)."""
        out = self._run("squeue", "-h", "-r", "-o", "%i|%T").stdout
        return dict(line.split("|", 1) for line in out.split())

    def running(self) -> bool:
        return all(self._pid(d) is not None for d in DAEMONS)


@pytest.fixture(scope="session")
def slurm_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SlurmCluster]:
    """A running one-node cluster for the session, ``SLURM_CONF`` set in this process's environment."""
    missing = missing_programs()
    if missing:
        why = (f"the SLURM tests need slurm-wlm and munge ({', '.join(missing)} not found); .ci/run installs them "
               f"(apt-get install slurm-wlm munge)")
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(why)
        pytest.skip(why)
    if os.geteuid() != 0:
        why = "the test SLURM cluster runs its daemons as root (SlurmUser=root); run the SLURM tests as root (CI does)"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(why)
        pytest.skip(why)
    # its own directory, not pytest's: another pytest session on this machine prunes old basetemps
    cluster = SlurmCluster(Path(tempfile.mkdtemp(prefix="sisbench-slurm-")))
    saved = os.environ.get("SLURM_CONF")
    try:
        cluster.start()
        os.environ.update(cluster.env())
        yield cluster
    finally:
        cluster.stop()
        shutil.rmtree(cluster.root, ignore_errors=True)
        if saved is None:
            os.environ.pop("SLURM_CONF", None)
        else:
            os.environ["SLURM_CONF"] = saved


def main(argv: list[str]) -> int:
    if argv[:1] == ["--stop"]:
        SlurmCluster(Path(argv[1])).stop()
        return 0
    cluster = SlurmCluster(Path(argv[0]).resolve()).start()
    print(f"export SLURM_CONF={cluster.conf}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
