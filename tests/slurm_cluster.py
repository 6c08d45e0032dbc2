"""A one-node Slurm cluster on loopback for the tests (pytest fixture ``slurm_cluster``).

Debian's ``slurmctld``, ``slurmd``, ``slurm-client`` and ``munge`` (installed by ``.ci/run``)
run a real cluster in a few seconds: ``munged`` with ``/etc/munge/munge.key`` (created, 1 KiB
random, mode 400, owner munge, when missing), a ``slurm.conf`` in a temp dir (state, spool,
logs and pid files there too; free ports instead of the default 6817/6818, so a system
Slurm or a second test session does not collide), ``slurmctld -D`` and ``slurmd -D`` as our
own child processes, ``SLURM_CONF`` exported for the clients (``sbatch``, ``srun``...). The
fixture waits until ``sinfo`` shows the node idle and stops both daemons at the end of the
session. It skips with the reason when it cannot run (not root, packages missing); a
cluster that should start and does not is an error with the daemons' log tails.

The settings are the ones verified in /work/shared/reference/stack.md: proctrack/linuxproc
(no cgroups in containers), task/none, cons_tres with CR_Core (each job gets whole cores,
so two 1-CPU jobs run at once on 2 cores), no accounting (``sacct`` is off), a short
``KillWait`` so ``scancel`` escalates to SIGKILL quickly.
"""
from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

MUNGE_KEY = Path("/etc/munge/munge.key")
DAEMONS = ("munged", "slurmctld", "slurmd")
CLIENTS = ("sinfo", "sbatch", "srun", "squeue", "scancel", "scontrol")


def _sbin(name: str) -> str | None:
    return shutil.which(name) or shutil.which(name, path="/usr/sbin:/sbin")


def unavailable_reason() -> str | None:
    """Why a loopback cluster cannot start here, or ``None`` when it can try."""
    if not hasattr(os, "geteuid") or os.geteuid() != 0:
        return "the Slurm tests start slurmctld/slurmd/munged and need root"
    missing = [n for n in (*DAEMONS, *CLIENTS, "munge") if _sbin(n) is None]
    if missing:
        return (f"Slurm/munge not installed (missing {', '.join(missing)}); "
                "apt-get install -y slurmctld slurmd slurm-client munge")
    return None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _tail(path: Path, n: int = 15) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-n:])
    except OSError:
        return "(no log)"


def _munge_works() -> bool:
    try:
        token = subprocess.run(["munge", "-n"], capture_output=True, timeout=10, check=True)
        subprocess.run(["unmunge"], input=token.stdout, capture_output=True, timeout=10,
                       check=True)
    except (OSError, subprocess.SubprocessError):
        return False
    return True


def ensure_munge(log: Path) -> subprocess.Popen[bytes] | None:
    """A working munged: reuse a running one, else start ours (returned, to stop later)."""
    if _munge_works():
        return None
    user = pwd.getpwnam("munge")
    if not MUNGE_KEY.exists():
        MUNGE_KEY.parent.mkdir(parents=True, exist_ok=True)
        MUNGE_KEY.write_bytes(os.urandom(1024))
    os.chown(MUNGE_KEY, user.pw_uid, user.pw_gid)
    MUNGE_KEY.chmod(0o400)
    for d in (Path("/run/munge"), Path("/var/log/munge"), Path("/var/lib/munge")):
        d.mkdir(parents=True, exist_ok=True)
        os.chown(d, user.pw_uid, user.pw_gid)
    # -F: stay in the foreground, so the Popen handle is the daemon and we can stop it.
    with open(log, "ab") as f:
        proc = subprocess.Popen(["runuser", "-u", "munge", "--", _sbin("munged") or "munged",
                                 "-F"], stdout=f, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL)
    deadline = time.time() + 15
    while time.time() < deadline:
        if _munge_works():
            return proc
        if proc.poll() is not None:
            break
        time.sleep(0.2)
    proc.kill()
    raise RuntimeError(f"munged did not start:\n{_tail(log)}")


@dataclass
class SlurmCluster:
    """A running loopback cluster.

    Attributes:
        root: Temp dir with slurm.conf, state, spool and logs.
        conf: The slurm.conf (exported as ``SLURM_CONF``).
        node: The node (this host's short name).
        cpus: CPUs of the node.
        partition: The default partition.
    """

    root: Path
    conf: Path
    node: str
    cpus: int
    partition: str = "debug"
    procs: list[subprocess.Popen[bytes]] = field(default_factory=list)

    @classmethod
    def write(cls, root: Path) -> SlurmCluster:
        node = socket.gethostname().split(".")[0]
        cpus = os.cpu_count() or 1
        for d in ("state", "spool"):
            (root / d).mkdir(parents=True, exist_ok=True)
        # Slurm marks a node invalid when it has less memory than configured: claim 80 %.
        mem_mb = int(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**20 * 0.8)
        conf = root / "slurm.conf"
        conf.write_text("\n".join([
            "ClusterName=cmtest",
            f"SlurmctldHost={node}(127.0.0.1)",
            f"SlurmctldPort={_free_port()}",
            f"SlurmdPort={_free_port()}",
            "AuthType=auth/munge",
            "SlurmUser=root",
            "ProctrackType=proctrack/linuxproc",
            "TaskPlugin=task/none",
            "SelectType=select/cons_tres",
            "SelectTypeParameters=CR_Core",
            "JobAcctGatherType=jobacct_gather/none",
            "AccountingStorageType=accounting_storage/none",
            "MpiDefault=none",
            "ReturnToService=2",
            "KillWait=3",
            "MinJobAge=600",
            "SchedulerParameters=sched_interval=2",
            f"StateSaveLocation={root / 'state'}",
            f"SlurmdSpoolDir={root / 'spool'}",
            f"SlurmctldPidFile={root / 'slurmctld.pid'}",
            f"SlurmdPidFile={root / 'slurmd.pid'}",
            f"SlurmctldLogFile={root / 'slurmctld.log'}",
            f"SlurmdLogFile={root / 'slurmd.log'}",
            f"NodeName={node} NodeAddr=127.0.0.1 CPUs={cpus} RealMemory={mem_mb} State=UNKNOWN",
            f"PartitionName=debug Nodes={node} Default=YES MaxTime=INFINITE State=UP",
            "",
        ]))
        return cls(root, conf, node, cpus)

    @property
    def env(self) -> dict[str, str]:
        return {"SLURM_CONF": str(self.conf)}

    def sinfo_state(self) -> str:
        out = subprocess.run(["sinfo", "-h", "-N", "-o", "%t"], capture_output=True,
                             text=True, timeout=10, env={**os.environ, **self.env})
        return out.stdout.strip()

    def start(self, timeout: float = 60.0) -> None:
        env = {**os.environ, **self.env}
        for daemon in ("slurmctld", "slurmd"):
            log = self.root / f"{daemon}.out"
            with open(log, "ab") as f:
                # -D: foreground, so we own the process; -f: our config only.
                self.procs.append(subprocess.Popen(
                    [_sbin(daemon) or daemon, "-D", "-f", str(self.conf)], env=env, stdout=f,
                    stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL))
        deadline = time.time() + timeout
        state = ""
        while time.time() < deadline:
            dead = [p for p in self.procs if p.poll() is not None]
            if dead:
                break
            try:
                state = self.sinfo_state()
            except (OSError, subprocess.SubprocessError):
                state = ""
            if state == "idle":
                return
            time.sleep(0.5)
        self.stop()
        raise RuntimeError(
            f"the loopback Slurm cluster did not become idle (sinfo: {state!r})\n"
            f"slurmctld.log:\n{_tail(self.root / 'slurmctld.log')}\n"
            f"slurmd.log:\n{_tail(self.root / 'slurmd.log')}")

    def stop(self) -> None:
        # Jobs first (their processes are slurmd's children), then the daemons we started.
        subprocess.run(["scancel", "--full", "--user", "root"], capture_output=True,
                       timeout=20, env={**os.environ, **self.env}, check=False)
        for proc in reversed(self.procs):
            if proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(10)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
        self.procs.clear()


_SESSION: dict[str, object] = {}


@pytest.fixture(scope="session")
def slurm_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SlurmCluster]:
    """A running one-node Slurm cluster; ``SLURM_CONF`` points at it while the session runs.

    Test modules import this fixture; a module-level cache makes every importer share one
    cluster per session (pytest would otherwise set up one per importing module).
    """
    reason = unavailable_reason()
    if reason:
        pytest.skip(reason)
    if "cluster" not in _SESSION:
        root = tmp_path_factory.mktemp("slurm")
        _SESSION["munged"] = ensure_munge(root / "munged.log")
        cluster = SlurmCluster.write(root)
        _SESSION["old_conf"] = os.environ.get("SLURM_CONF")
        os.environ["SLURM_CONF"] = str(cluster.conf)
        try:
            cluster.start()
        except BaseException:
            _stop_session()
            raise
        _SESSION["cluster"] = cluster
    yield _SESSION["cluster"]  # type: ignore[misc]
    _stop_session()


def _stop_session() -> None:
    """Stop the session's cluster and our munged, once; restore ``SLURM_CONF``."""
    cluster = _SESSION.pop("cluster", None)
    if isinstance(cluster, SlurmCluster):
        cluster.stop()
    munged = _SESSION.pop("munged", None)
    if isinstance(munged, subprocess.Popen):
        munged.terminate()
        munged.wait(10)
    if "old_conf" in _SESSION:
        old = _SESSION.pop("old_conf")
        if old is None:
            os.environ.pop("SLURM_CONF", None)
        else:
            os.environ["SLURM_CONF"] = str(old)
