"""A one-node Slurm cluster on this machine, for tests/test_slurm.py and benchmarks/grading_speed.py.

    with slurm_cluster.Cluster(folder) as cluster:      # needs root, Debian's slurm-wlm and munge (make slurm)
        subprocess.run(["sbatch", ...], env=cluster.env)

It writes a minimal ``slurm.conf`` (this machine's CPUs and memory as node ``localhost``, partition ``debug``,
no accounting, free ports, every state and spool folder under ``folder``), starts ``munged`` with a key of its
own and ``slurmctld -D`` and ``slurmd -D`` as child processes, and waits until ``sinfo`` shows the node idle.
``cluster.env`` is the environment (``SLURM_CONF``) that the Slurm commands need. Leaving the block stops the
daemons it started (only those, by their process ids) and cancels what is left of its jobs.
``unavailable()`` says why it cannot run here ('' when it can).
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

DAEMONS = ("munged", "slurmctld", "slurmd", "sbatch", "squeue", "sinfo", "scancel")
SBIN = ("/usr/sbin", "/usr/bin", "/sbin", "/bin")


def which(name: str) -> str:
    return shutil.which(name) or next((f"{d}/{name}" for d in SBIN if Path(f"{d}/{name}").exists()), "")


def unavailable() -> str:
    """Why a one-node cluster cannot be started here ('' when it can)."""
    if os.geteuid() != 0:
        return "the one-node Slurm cluster needs root (slurmd starts every job's processes)"
    missing = [name for name in DAEMONS if not which(name)]
    if missing:
        return f"{', '.join(missing)} missing: install Debian's slurm-wlm and munge (make slurm, as root)"
    return ""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def memory_mb() -> int:
    total = next(int(line.split()[1]) for line in open("/proc/meminfo") if line.startswith("MemTotal:"))
    return total // 1024 - 512  # a little under the total, so slurmd never finds less than it was told


class Cluster:
    def __init__(self, folder: Path, start_seconds: float = 60):
        self.folder = Path(folder)
        self.start_seconds = start_seconds
        self.procs: list[subprocess.Popen] = []
        self.munged_pid = 0
        self.env = dict(os.environ, SLURM_CONF=str(self.folder / "slurm.conf"))

    def config(self) -> str:
        f = self.folder
        return "\n".join(
            [
                "ClusterName=resnet-test",
                "SlurmctldHost=localhost",
                f"SlurmctldPort={_free_port()}",
                f"SlurmdPort={_free_port()}",
                "SlurmUser=root",
                "SlurmdUser=root",
                "AuthType=auth/munge",
                "CredType=cred/munge",
                f"AuthInfo=socket={f / 'munge' / 'munge.socket'}",
                "ProctrackType=proctrack/linuxproc",
                "TaskPlugin=task/none",
                "SelectType=select/cons_tres",
                "SelectTypeParameters=CR_Core_Memory",
                "JobAcctGatherType=jobacct_gather/none",
                "AccountingStorageType=accounting_storage/none",
                "JobCompType=jobcomp/none",
                "MpiDefault=none",
                "ReturnToService=2",
                "SchedulerType=sched/backfill",
                "SlurmctldTimeout=30",
                "SlurmdTimeout=30",
                "MinJobAge=60",
                f"StateSaveLocation={f / 'state'}",
                f"SlurmdSpoolDir={f / 'spool'}",
                f"SlurmctldPidFile={f / 'slurmctld.pid'}",
                f"SlurmdPidFile={f / 'slurmd.pid'}",
                f"SlurmctldLogFile={f / 'slurmctld.log'}",
                f"SlurmdLogFile={f / 'slurmd.log'}",
                f"PlugStackConfig={f / 'plugstack.conf'}",
                f"NodeName=localhost NodeAddr=127.0.0.1 CPUs={os.cpu_count() or 1} RealMemory={memory_mb()} "
                "State=UNKNOWN",
                "PartitionName=debug Nodes=localhost Default=YES MaxTime=INFINITE State=UP",
                "",
            ]
        )

    def __enter__(self) -> Cluster:
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def _log(self, name: str) -> str:
        path = self.folder / name
        return path.read_text(errors="replace")[-1500:] if path.is_file() else f"(no {name})"

    def start(self) -> None:
        f = self.folder
        for sub in ("state", "spool", "munge"):
            (f / sub).mkdir(parents=True, exist_ok=True)
        (f / "munge").chmod(0o700)
        (f / "plugstack.conf").write_text("")
        (f / "slurm.conf").write_text(self.config())
        key = f / "munge" / "munge.key"
        key.write_bytes(os.urandom(1024))
        key.chmod(0o400)
        m = f / "munge"
        munged = [which("munged"), f"--key-file={key}", f"--socket={m / 'munge.socket'}", "--force"]
        munged += [f"--pid-file={m / 'munged.pid'}", f"--log-file={m / 'munged.log'}", f"--seed-file={m / 'seed'}"]
        proc = subprocess.run(munged, capture_output=True, text=True, timeout=30)  # it forks into the background
        if proc.returncode != 0:
            raise RuntimeError(f"munged did not start: {proc.stderr.strip()[-500:]}")
        self.munged_pid = int((m / "munged.pid").read_text().split()[0])
        for daemon in (["slurmctld", "-D", "-i"], ["slurmd", "-D", "-N", "localhost"]):
            log = (f / f"{daemon[0]}.out").open("wb")
            self.procs.append(
                subprocess.Popen([which(daemon[0]), *daemon[1:]], env=self.env, stdout=log, stderr=subprocess.STDOUT)
            )
            log.close()
        deadline = time.time() + self.start_seconds
        while time.time() < deadline:
            for proc, name in zip(self.procs, ("slurmctld", "slurmd")):
                if proc.poll() is not None:
                    raise RuntimeError(f"{name} stopped (status {proc.returncode}): {self._log(name + '.out')}")
            state = self.run("sinfo", "-h", "-n", "localhost", "-o", "%t").stdout.strip()
            if state == "idle":
                return
            time.sleep(0.5)
        raise RuntimeError(f"the node never became idle (sinfo: {state!r}): {self._log('slurmd.log')}")

    def run(self, *args: str) -> subprocess.CompletedProcess:
        return subprocess.run([which(args[0]), *args[1:]], env=self.env, capture_output=True, text=True, timeout=60)

    def stop(self) -> None:
        if self.procs and self.procs[0].poll() is None:
            self.run("scancel", "--full", "--partition=debug")
        for proc in reversed(self.procs):
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
        self.procs = []
        if self.munged_pid:
            try:
                os.kill(self.munged_pid, signal.SIGTERM)
                for _ in range(100):
                    os.kill(self.munged_pid, 0)
                    time.sleep(0.1)
            except ProcessLookupError:
                pass
            self.munged_pid = 0
