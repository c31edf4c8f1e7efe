"""A single-node SLURM cluster on localhost, built from Debian's packages, for the tests and by hand.

`python -m tests.slurm.cluster start|stop|status` (as root). Everything lives in one state folder
(BENCHSUITE_SLURM_STATE, default /tmp/benchsuite-slurm): the configs, a private MariaDB for slurmdbd, a private
munge socket, the daemons' logs and the pids of the daemons this harness started, which are the only processes
it ever stops. Client commands find the cluster through SLURM_CONF=<state>/etc/slurm.conf (`env` prints it).

The settings follow what was established on this machine (see issue 6): no systemd and no cgroups, so the
daemons run in the foreground under our control with proctrack/linuxproc and task/none; sacct (which submitit
reads job states from) needs slurmdbd backed by a database; short credential lifetimes and scheduler intervals
bring a requeued job back in seconds instead of minutes.
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import json
import os
import pwd
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

PACKAGES = (
    "munge",
    "slurmctld",
    "slurmd",
    "slurm-client",
    "slurmdbd",
    "mariadb-server-core",
    "mariadb-client-core",
)
DEFAULT_STATE = Path("/tmp/benchsuite-slurm")
CLUSTER_NAME = "benchsuite"
#: The default partition: its jobs may be preempted (requeued) by jobs of URGENT_PARTITION.
PARTITION = "local"
#: A higher-priority partition whose jobs preempt PARTITION's jobs (PreemptMode=REQUEUE), as on real clusters.
URGENT_PARTITION = "urgent"
#: CPUs the node declares: more than this small machine has, so that a handful of light test jobs run at once.
MIN_CPUS = 4
#: The daemons in start order; stop goes the other way.
DAEMONS = ("mariadbd", "munged", "slurmdbd", "slurmctld", "slurmd")
READY_TIMEOUT_S = 60.0


class ClusterError(RuntimeError):
    """A daemon did not come up or a command failed; the message names the daemon and its log file."""


class ClusterUnavailable(ClusterError):
    """The cluster cannot be built on this machine at all (not root, no apt-get, packages failed to install)."""


@dataclass
class Cluster:
    """The local cluster kept in `state`; start() is idempotent and stop() ends only the daemons it started."""

    state: Path = field(default_factory=lambda: Path(os.environ.get("BENCHSUITE_SLURM_STATE", DEFAULT_STATE)))
    partition: str = PARTITION
    urgent_partition: str = URGENT_PARTITION
    #: seconds the last start() took to bring the cluster up (0 when it was already running)
    start_seconds: float = field(default=0.0, init=False)
    _last_error: str = field(default="", init=False, repr=False)

    # ---- paths -------------------------------------------------------------------------------------------
    @property
    def conf(self) -> Path:
        return self.state / "etc" / "slurm.conf"

    @property
    def env(self) -> dict[str, str]:
        """What client commands (sbatch, sacct, scontrol inside jobs too) need to find this cluster."""
        return {"SLURM_CONF": str(self.conf)}

    def log(self, daemon: str) -> Path:
        return self.state / "log" / f"{daemon}.log"

    @property
    def _pids_file(self) -> Path:
        return self.state / "pids.json"

    @property
    def _munge_socket(self) -> Path:
        return self.state / "munge" / "munge.socket"

    @property
    def _db_socket(self) -> Path:
        return self.state / "mysql" / "mysqld.sock"

    # ---- public API --------------------------------------------------------------------------------------
    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        """Serialises start and stop between processes (two test sessions sharing one state folder)."""
        self.state.parent.mkdir(parents=True, exist_ok=True)
        with open(self.state.with_name(self.state.name + ".lock"), "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            yield

    def start(self) -> bool:
        """Bring the cluster up; returns False when it was already running (then nothing is touched)."""
        with self._locked():
            try:
                return self._start()
            except ClusterError:
                self._stop()  # leave no half-started cluster behind; the logs stay in the state folder
                raise

    def stop(self) -> None:
        """Cancel every job, wait for them to end, then stop the recorded daemons in reverse start order."""
        with self._locked():
            self._stop()

    def _start(self) -> bool:
        if self.running():
            self.start_seconds = 0.0
            return False
        began = time.monotonic()
        ensure_installed()
        self._stop()  # whatever is left of an earlier, half-started cluster
        self._prepare_state()
        nodename, cpus, memory = node_resources()
        ports = free_ports(4)
        password = secrets.token_hex(16)
        self._start_mariadb(ports[0], password)
        self._start_munged()
        self._write_configs(nodename, cpus, memory, ports, password)
        self._start_slurm_daemon("slurmdbd", ["/usr/sbin/slurmdbd", "-D"], self._slurmdbd_ready)
        self._run(["sacctmgr", "-i", "add", "cluster", CLUSTER_NAME], "slurmdbd")
        self._start_slurm_daemon("slurmctld", ["/usr/sbin/slurmctld", "-D", "-i", "-f", str(self.conf)],
                                 self._slurmctld_ready)
        self._start_slurm_daemon("slurmd", ["/usr/sbin/slurmd", "-D", "-f", str(self.conf)], self._node_idle)
        self._wait("slurmdbd", self._sacct_ready)
        self.start_seconds = time.monotonic() - began
        return True

    def _stop(self) -> None:
        pids = self._read_pids()
        if not pids:
            return
        leftover: ClusterError | None = None
        if all(name in pids and _alive(pids[name]) for name in ("munged", "slurmctld", "slurmd")):
            try:
                self.cancel_all()
            except ClusterError as error:  # still stop the daemons, then say which jobs may have survived
                leftover = error
        for name in reversed(DAEMONS):
            if name in pids:
                _terminate(pids[name], name)
        self._pids_file.unlink(missing_ok=True)
        if leftover is not None:
            raise leftover

    def running(self) -> bool:
        """True when every daemon recorded in the state folder is alive and the node answers."""
        pids = self._read_pids()
        if set(pids) != set(DAEMONS) or not all(_alive(pid, name) for name, pid in pids.items()):
            return False
        return self._node_state() is not None

    def status(self) -> dict[str, object]:
        pids = self._read_pids()
        return {
            "state": str(self.state),
            "daemons": {name: (pids[name] if name in pids and _alive(pids[name], name) else None)
                        for name in DAEMONS},
            "node": self._node_state() if pids else None,
            "jobs": self.jobs() if self.running() else [],
        }

    def jobs(self) -> list[str]:
        """Ids of the jobs slurmctld still knows as pending, running or completing."""
        out = self._client(["squeue", "-h", "-o", "%A"])
        return out.split() if out is not None else []

    def cancel_all(self, timeout_s: float = 60.0) -> None:
        """Cancel every job and wait until slurmctld has none left (their processes have been killed by then)."""
        deadline = time.monotonic() + timeout_s
        while (ids := self.jobs()) and time.monotonic() < deadline:
            self._client(["scancel", *ids])
            time.sleep(1.0)
        if self.jobs():
            raise ClusterError(f"jobs {self.jobs()} outlived scancel for {timeout_s:.0f} s; see {self.log('slurmd')}")

    # ---- state and configs -------------------------------------------------------------------------------
    def _prepare_state(self) -> None:
        # A fresh start wipes the old state: stale jobs and accounting rows would be mistaken for new ones.
        if self.state.exists():
            shutil.rmtree(self.state)
        slurm, munge = pwd.getpwnam("slurm"), pwd.getpwnam("munge")
        layout = {
            "etc": None, "log": None, "slurmd": None,
            "ctld": slurm, "run": slurm, "mysql": slurm, "munge": munge, "munge/lib": munge,
        }
        self.state.mkdir(parents=True, mode=0o755)
        self.state.chmod(0o755)
        for sub, owner in layout.items():
            path = self.state / sub
            path.mkdir(mode=0o755)
            path.chmod(0o700 if sub == "munge/lib" else 0o755)
            if owner is not None:
                os.chown(path, owner.pw_uid, owner.pw_gid)

    def _write_configs(self, nodename: str, cpus: int, memory: int, ports: list[int], password: str) -> None:
        _, ctld_port, slurmd_port, dbd_port = ports
        auth = f"AuthType=auth/munge\nAuthInfo=socket={self._munge_socket},cred_expire=10\n"
        slurm_conf = f"""# Written by tests/slurm/cluster.py; a fresh start rewrites it.
ClusterName={CLUSTER_NAME}
SlurmctldHost={nodename}(127.0.0.1)
SlurmUser=slurm
SlurmctldPort={ctld_port}
SlurmdPort={slurmd_port}
{auth}CredType=cred/munge
StateSaveLocation={self.state / "ctld"}
SlurmdSpoolDir={self.state / "slurmd"}
SlurmctldPidFile={self.state / "run" / "slurmctld.pid"}
SlurmdPidFile={self.state / "run" / "slurmd.pid"}
# no cgroups on this machine
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
SlurmdParameters=config_overrides
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
DefMemPerCPU={memory // cpus}
# fast turnaround: a requeued job waits for its credential to expire (cred_expire above) and the next pass
SchedulerType=sched/backfill
SchedulerParameters=sched_interval=2,bf_interval=2,sched_min_interval=100000
KillWait=5
MinJobAge=300
InactiveLimit=0
ReturnToService=2
JobRequeue=1
PreemptType=preempt/partition_prio
PreemptMode=REQUEUE
# a preempted job gets its --signal (submitit's USR2) at once, not only near its time limit
SlurmctldParameters=preempt_send_user_signal
AccountingStorageType=accounting_storage/slurmdbd
AccountingStorageHost=127.0.0.1
AccountingStoragePort={dbd_port}
# with auth/munge this names the munge socket for talking to slurmdbd (AuthInfo's socket is not used there)
AccountingStoragePass={self._munge_socket}
JobCompType=jobcomp/none
MpiDefault=none
SlurmctldDebug=info
SlurmdDebug=info
NodeName={nodename} NodeAddr=127.0.0.1 CPUs={cpus} RealMemory={memory} State=UNKNOWN
PartitionName={self.partition} Nodes={nodename} Default=YES MaxTime=INFINITE State=UP PriorityTier=1 GraceTime=30
PartitionName={self.urgent_partition} Nodes={nodename} MaxTime=INFINITE State=UP PriorityTier=2 PreemptMode=OFF
"""
        slurmdbd_conf = f"""# Written by tests/slurm/cluster.py; a fresh start rewrites it.
{auth}DbdHost={nodename}
DbdAddr=127.0.0.1
DbdPort={dbd_port}
SlurmUser=slurm
PidFile={self.state / "run" / "slurmdbd.pid"}
StorageType=accounting_storage/mysql
StorageHost=127.0.0.1
StoragePort={ports[0]}
StorageUser=slurm
StoragePass={password}
StorageLoc=slurm_acct_db
DebugLevel=info
"""
        self.conf.write_text(slurm_conf)
        dbd = self.conf.with_name("slurmdbd.conf")
        dbd.write_text(slurmdbd_conf)
        # slurmdbd refuses a config (it holds the password) that anyone but SlurmUser can read
        slurm = pwd.getpwnam("slurm")
        os.chown(dbd, slurm.pw_uid, slurm.pw_gid)
        dbd.chmod(0o600)

    # ---- daemons -----------------------------------------------------------------------------------------
    def _start_mariadb(self, port: int, password: str) -> None:
        datadir = self.state / "mysql" / "data"
        install = subprocess.run(
            ["mariadb-install-db", "--user=slurm", f"--datadir={datadir}", "--auth-root-authentication-method=socket",
             "--skip-test-db"],
            capture_output=True, text=True, check=False,
        )
        if install.returncode != 0:
            raise ClusterError(f"mariadb-install-db failed:\n{install.stdout}{install.stderr}")
        # mariadbd never daemonises itself: it runs in the background as our child, its own session leader
        self._spawn("mariadbd", [
            "/usr/sbin/mariadbd", "--no-defaults", "--user=slurm", f"--datadir={datadir}",
            f"--socket={self._db_socket}", "--bind-address=127.0.0.1", f"--port={port}",
            f"--pid-file={self.state / 'mysql' / 'mariadbd.pid'}", "--skip-name-resolve",
            # slurmdbd's recommended minimums (Slurm's accounting documentation)
            "--innodb-buffer-pool-size=128M", "--innodb-lock-wait-timeout=900",
        ])
        self._wait("mariadbd", lambda: self._sql("SELECT 1", quiet=True) is not None)
        # the account mariadb-install-db makes logs in through the socket only; slurmdbd comes over TCP
        self._sql(
            f"CREATE USER 'slurm'@'127.0.0.1' IDENTIFIED BY '{password}';"
            "GRANT ALL ON slurm_acct_db.* TO 'slurm'@'127.0.0.1';"
        )

    def _sql(self, statement: str, quiet: bool = False) -> str | None:
        result = subprocess.run(
            ["mariadb", "--no-defaults", f"--socket={self._db_socket}", "-u", "root", "-N", "-e", statement],
            capture_output=True, text=True, check=False,
        )
        if result.returncode != 0:
            if quiet:
                return None
            raise ClusterError(f"mariadb: {statement!r} failed: {result.stderr.strip()}; see {self.log('mariadbd')}")
        return result.stdout

    def _start_munged(self) -> None:
        key = Path("/etc/munge/munge.key")
        if not key.exists():
            self._run(["mungekey", "--create", f"--keyfile={key}"], "munged")
            munge = pwd.getpwnam("munge")
            os.chown(key, munge.pw_uid, munge.pw_gid)
            key.chmod(0o400)
        lib = self.state / "munge" / "lib"
        log = self.log("munged")
        log.touch(mode=0o600)
        munge = pwd.getpwnam("munge")
        os.chown(log, munge.pw_uid, munge.pw_gid)
        self._spawn("munged", [
            "/usr/sbin/munged", "-F", f"--socket={self._munge_socket}", f"--key-file={key}",
            f"--log-file={log}", f"--pid-file={lib / 'munged.pid'}", f"--seed-file={lib / 'munged.seed'}",
        ], user="munge")
        self._wait("munged", self._munge_ready)

    def _munge_ready(self) -> bool:
        encode = subprocess.run(["munge", "-n", f"--socket={self._munge_socket}"],
                                capture_output=True, check=False)
        if encode.returncode != 0:
            return False
        decode = subprocess.run(["unmunge", f"--socket={self._munge_socket}"], input=encode.stdout,
                                capture_output=True, check=False)
        return decode.returncode == 0

    def _start_slurm_daemon(self, name: str, argv: list[str], ready: Callable[[], bool]) -> None:
        self._spawn(name, argv)
        self._wait(name, ready)

    def _spawn(self, name: str, argv: list[str], user: str | None = None) -> None:
        with open(self.log(name), "ab") as out:
            process = subprocess.Popen(
                argv, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
                env={**os.environ, **self.env}, user=user, group=user, extra_groups=[] if user else None,
            )
        pids = self._read_pids()
        pids[name] = process.pid
        self._pids_file.write_text(json.dumps(pids, indent=1))

    def _wait(self, name: str, ready: Callable[[], bool]) -> None:
        deadline = time.monotonic() + READY_TIMEOUT_S
        while True:
            pid = self._read_pids().get(name)
            if pid is None or not _alive(pid):
                raise ClusterError(f"{name} exited while starting; see {self.log(name)}:\n{_tail(self.log(name))}")
            if ready():
                return
            if time.monotonic() > deadline:
                raise ClusterError(f"{name} did not become ready within {READY_TIMEOUT_S:.0f} s "
                                   f"(last check: {self._last_error or 'no answer'}); "
                                   f"see {self.log(name)}:\n{_tail(self.log(name))}")
            time.sleep(0.25)

    def _slurmdbd_ready(self) -> bool:
        return self._client(["sacctmgr", "-n", "-P", "list", "cluster"]) is not None

    def _slurmctld_ready(self) -> bool:
        out = self._client(["scontrol", "ping"])
        return out is not None and "UP" in out

    def _node_idle(self) -> bool:
        return self._node_state() == "idle"

    def _sacct_ready(self) -> bool:
        return self._client(["sacct", "-n", "-X", "-a"]) is not None

    def _node_state(self) -> str | None:
        out = self._client(["sinfo", "-h", "-N", "-o", "%T", "-p", self.partition])
        return out.strip().split("\n")[0] if out else None

    # ---- helpers -----------------------------------------------------------------------------------------
    def _client(self, argv: list[str]) -> str | None:
        """Runs a SLURM client command against this cluster; None when it fails (the caller decides)."""
        if not self.conf.exists():
            return None
        try:
            result = subprocess.run(argv, capture_output=True, text=True, check=False, timeout=30,
                                    env={**os.environ, **self.env})
        except (OSError, subprocess.TimeoutExpired) as error:
            self._last_error = f"{argv[0]}: {error}"
            return None
        if result.returncode != 0:
            self._last_error = f"{' '.join(argv)}: {result.stderr.strip()}"
            return None
        return result.stdout

    def _run(self, argv: list[str], daemon: str) -> None:
        result = subprocess.run(argv, capture_output=True, text=True, check=False, env={**os.environ, **self.env})
        if result.returncode != 0:
            raise ClusterError(f"{' '.join(argv)} failed ({result.stderr.strip()}); "
                               f"see {self.log(daemon)}:\n{_tail(self.log(daemon))}")

    def _read_pids(self) -> dict[str, int]:
        try:
            return {str(k): int(v) for k, v in json.loads(self._pids_file.read_text()).items()}
        except (OSError, ValueError):
            return {}


def ensure_installed() -> None:
    """Installs the missing Debian packages with apt-get; raises ClusterUnavailable where that cannot work."""
    if os.geteuid() != 0:
        raise ClusterUnavailable("the local SLURM cluster needs root (its daemons switch users and slurmd runs "
                                 "jobs as their submitter)")
    missing = [pkg for pkg in PACKAGES if not _installed(pkg)]
    if not missing:
        return
    if shutil.which("apt-get") is None:
        raise ClusterUnavailable(f"Debian packages {', '.join(missing)} are missing and there is no apt-get")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    install = ["apt-get", "install", "-y", "-q", "--no-install-recommends", *missing]
    result = subprocess.run(install, capture_output=True, text=True, env=env, check=False)
    if result.returncode != 0:  # a stale package index is the usual cause: refresh it once
        subprocess.run(["apt-get", "update", "-q"], capture_output=True, env=env, check=False)
        result = subprocess.run(install, capture_output=True, text=True, env=env, check=False)
    if result.returncode != 0:
        raise ClusterUnavailable(f"`{' '.join(install)}` failed:\n{result.stderr.strip()[-2000:]}")


def _installed(package: str) -> bool:
    result = subprocess.run(["dpkg-query", "-W", "-f=${Status}", package], capture_output=True, text=True,
                            check=False) if shutil.which("dpkg-query") else None
    return result is not None and result.returncode == 0 and result.stdout.endswith("installed")


def node_resources() -> tuple[str, int, int]:
    """The short hostname, the CPUs to declare and a RealMemory (MB) a little under what slurmd detects."""
    nodename = socket.gethostname().split(".")[0]
    detected = dict(item.split("=", 1) for item in
                    subprocess.run(["slurmd", "-C"], capture_output=True, text=True, check=True).stdout.split()
                    if "=" in item)
    cpus = max(MIN_CPUS, int(detected.get("CPUs", 1)))
    memory = int(int(detected.get("RealMemory", 4096)) * 0.9)
    return nodename, cpus, memory


def free_ports(count: int) -> list[int]:
    sockets = [socket.socket() for _ in range(count)]
    try:
        for sock in sockets:
            sock.bind(("127.0.0.1", 0))
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


def _alive(pid: int, name: str | None = None) -> bool:
    """Whether pid runs (not a zombie) and, given a name, is still that daemon rather than a reused pid."""
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)  # reap it if it is our child, so that it does not linger as a zombie
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    # /proc/PID/exe is unreadable once a daemon drops privileges; the command name in stat is not
    command, state = stat[stat.index("(") + 1:stat.rindex(")")], stat[stat.rindex(")") + 2]
    return state != "Z" and (name is None or command == name[:15])


def _terminate(pid: int, name: str, timeout_s: float = 20.0) -> None:
    if not _alive(pid, name):
        return
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout_s
    while _alive(pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    if _alive(pid):
        os.kill(pid, signal.SIGKILL)
        while _alive(pid):
            time.sleep(0.1)


def _tail(path: Path, lines: int = 15) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.slurm.cluster", description=__doc__.split("\n")[0])
    parser.add_argument("action", choices=["start", "stop", "status", "env"])
    args = parser.parse_args(argv)
    cluster = Cluster()
    try:
        if args.action == "start":
            took = f"started in {cluster.start_seconds:.1f} s" if cluster.start() else "already running"
            print(f"SLURM cluster in {cluster.state}: {took}; partitions {cluster.partition} (default), "
                  f"{cluster.urgent_partition}.\nexport SLURM_CONF={cluster.conf}")
        elif args.action == "stop":
            cluster.stop()
            print(f"SLURM cluster in {cluster.state}: stopped")
        elif args.action == "status":
            print(json.dumps(cluster.status(), indent=1))
        else:
            print(f"export SLURM_CONF={cluster.conf}")
    except ClusterError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
