"""A sandbox: bubblewrap namespaces, cgroup limits, rlimits, a wall-time kill, bounded output.

Used twice per student: for the student's notebooks (``server``) and for the judge that checks them.
A sandbox sees, read-only: /usr (the system), the Python installation and the virtualenv, and
``/course`` holding only the course's public modules (``resnets_utils.py``, ``test_utils.py``,
``public_tests.py``) and this package (``datasets/``, ``fixtures/``); read-write only tmpfs mounts of its
own and of a fixed size: ``/tmp`` and, for the notebooks, ``/scratch``. No folder of the host is writable
in it, so no host process ever opens a path the sandbox could change. It runs as an unprivileged uid of
its own (``Limits.uid``: one per student and role, so no kernel object keyed by uid is shared), in new
PID, network (loopback only), IPC, UTS and cgroup namespaces, in a new session, and dies with its
parent. Its process tree sits in a memory cgroup and a pids cgroup of its own; CPU seconds and file
sizes are capped by rlimits; at the wall-time limit or at the end every process of its cgroup is
killed. What it prints is read through a bounded reader.
"""

from __future__ import annotations

import os
import resource
import shutil
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from resnet_course import config
from resnet_course.config import ONEDNN_ENV
from resnet_course.grading.cgroups import Groups, make_groups
from resnet_course.grading.paths import CODE_ROOT
from resnet_course.pretrained import course_cache_dir

NOBODY = 65534
TMP_BYTES = 256 * 2**20  # the sandbox's /tmp (a tmpfs)
SCRATCH_BYTES = 512 * 2**20  # the notebooks' /scratch (a tmpfs): the submission, and what the notebooks write
PUBLIC_FILES = ("resnets_utils.py", "test_utils.py", "public_tests.py")
PUBLIC_DIRS = ("resnet_course",)  # the package: datasets/, fixtures/, the checks the visible tests use, grading/


# setpriv's drop to the unprivileged user, then the command: what the availability probe and every sandbox run.
def drop_to(uid: int) -> tuple:
    return (
        "/usr/bin/setpriv",
        "--reuid",
        str(uid),
        "--regid",
        str(uid),
        "--clear-groups",
        "--inh-caps=-all",
        "--bounding-set=-all",
        "--no-new-privs",
        "--",
    )


DROP_TO_NOBODY = drop_to(NOBODY)
# The system's programs and libraries, read-only, as every bwrap command here shows them.
SYSTEM_VIEW = (
    "--ro-bind",
    "/usr",
    "/usr",
    "--symlink",
    "usr/bin",
    "/bin",
    "--symlink",
    "usr/lib",
    "/lib",
    "--symlink",
    "usr/lib64",
    "/lib64",
)


class SandboxUnavailable(RuntimeError):
    """bubblewrap is missing or cannot create its namespaces here."""


@dataclass
class Limits:
    memory_bytes: int = 4 * 2**30  # the whole tree (cgroup memory + swap); a whole course peaks near 3 GB
    pids: int = 256  # processes and threads
    cpu_seconds: int = 1800  # RLIMIT_CPU of each process
    file_bytes: int = 512 * 2**20  # RLIMIT_FSIZE: the largest file it may write
    wall_seconds: float = 1800.0  # then the whole tree is killed
    output_bytes: int = 1_000_000  # of the sandbox's own stdout/stderr kept by the host
    uid: int = NOBODY  # the unprivileged uid (and gid) it runs as on the host
    scratch_bytes: int = 0  # a /scratch tmpfs of this size (0: none)


def bwrap() -> str | None:
    return shutil.which("bwrap")


def rootless() -> bool:
    """Whether sandboxes are made without root: in a user namespace of their own (bwrap ``--unshare-user``)."""
    return os.geteuid() != 0


def _isolation() -> tuple:
    """How a sandbox leaves the grader's user: as root, setpriv drops to the sandbox's own uid on the host;
    without root, bwrap maps the grader's uid to 65534 in a new user namespace that cannot make another."""
    if rootless():
        return ("--unshare-user", "--uid", str(NOBODY), "--gid", str(NOBODY), "--disable-userns")
    return ()


def check_available() -> None:
    """Raise ``SandboxUnavailable`` with what to do when bubblewrap cannot run here."""
    exe = bwrap()
    if exe is None:
        raise SandboxUnavailable(
            "bubblewrap (bwrap) is not installed; install it with `apt-get install -y bubblewrap` "
            "(see docs/grading.md), or grade without a sandbox with --unsandboxed (students' code "
            "then runs with your rights)"
        )
    if not rootless() and not Path("/usr/bin/setpriv").exists():
        raise SandboxUnavailable("setpriv (util-linux) is missing: apt-get install -y util-linux")
    proc = subprocess.run(
        [
            exe,
            *_isolation(),
            "--unshare-pid",
            "--unshare-net",
            "--die-with-parent",
            *SYSTEM_VIEW,
            "--proc",
            "/proc",
            "--",
            *(() if rootless() else DROP_TO_NOBODY),
            "/bin/true",
        ],
        capture_output=True,
        text=True,
    )
    if proc.returncode != 0:
        fix = (
            " (without root the sandbox needs unprivileged user namespaces: sysctl kernel.unprivileged_userns_clone=1"
            " and user.max_user_namespaces > 0, or an AppArmor profile that allows bwrap; or grade as root)"
            if rootless()
            else ""
        )
        raise SandboxUnavailable(f"bubblewrap cannot create its namespaces here: {proc.stderr.strip()[:300]}{fix}")


def guarantees() -> list[tuple[str, bool, str]]:
    """What holds for a sandbox on this machine: ``(guarantee, holds, how)``; printed once by ``make autograde``."""
    from resnet_course.grading import cgroups

    groups = cgroups.make_groups(Limits())
    missing = " ".join(groups.missing) if groups else "memory pids"
    if groups:
        groups.remove()
    version = f"cgroup v{groups.version}" if groups else None
    memory = "memory" not in missing
    pids = "pids" not in missing
    return [
        ("own mount, PID, network, IPC and UTS namespaces; nothing of the host writable", True, "bubblewrap"),
        (
            "the whole process tree ends with the sandbox",
            True,
            "PID namespace, --die-with-parent" + (f", {version}" if groups else ""),
        ),
        ("memory limit per sandbox", memory, version if memory else "only RLIMIT_AS (address space, 4 x the limit)"),
        ("process limit per sandbox", True, version if pids else "RLIMIT_NPROC of its own uid"),
        (
            "its own uid on the host, shared with no other sandbox",
            not rootless(),
            "a uid of RESNET_GRADING_UIDS per student"
            if not rootless()
            else "no: the host sees the grader's uid (uid 65534 in a user namespace of its own; nothing of the "
            "grader's is writable in it)",
        ),
        (
            "per-user kernel objects (the key ring) of its own",
            True,
            "its own uid" if not rootless() else "its own user namespace",
        ),
    ]


class BoundedReader(threading.Thread):
    """Reads a pipe to its end, keeping the first ``cap`` bytes."""

    def __init__(self, stream, cap: int):
        super().__init__(daemon=True)
        self.stream, self.cap, self.kept, self.total = stream, cap, bytearray(), 0
        self.start()

    def run(self):
        for chunk in iter(lambda: self.stream.read(65536), b""):
            self.total += len(chunk)
            room = self.cap - len(self.kept)
            if room > 0:
                self.kept += chunk[:room]

    def text(self) -> str:
        tail = f"\n... {self.total - len(self.kept)} more bytes not kept ...\n" if self.total > len(self.kept) else ""
        return self.kept.decode(errors="replace") + tail


def _python_roots() -> list[Path]:
    roots = {Path(sys.base_prefix).resolve(), Path(sys.prefix).resolve()}
    return sorted(roots)


def command(argv: list[str], limits: Limits | None = None) -> list[str]:
    """The bwrap command line that runs ``argv`` (paths inside the sandbox) as described in the module doc."""
    limits = limits or Limits()
    cmd = [
        bwrap() or "bwrap",
        *_isolation(),
        "--unshare-ipc",
        "--unshare-pid",
        "--unshare-net",
        "--unshare-uts",
        "--unshare-cgroup-try",
        "--die-with-parent",
        "--new-session",
        "--hostname",
        "sandbox",
        *SYSTEM_VIEW,
        "--symlink",
        "usr/sbin",
        "/sbin",
        "--proc",
        "/proc",
        "--dev",
        "/dev",
        "--perms",
        "1777",
        "--size",
        str(TMP_BYTES),
        "--tmpfs",
        "/tmp",
    ]
    for extra in (
        "/etc/ld.so.cache",
        "/etc/localtime",
        "/sys/devices/system/cpu",
        "/sys/fs/cgroup/cpu",
        "/sys/fs/cgroup/cpuset",
    ):
        if Path(extra).exists():
            cmd += ["--ro-bind", extra, extra]
    made = set()
    for root in _python_roots():
        if str(root).startswith("/usr"):
            continue
        for parent in reversed(root.parents[:-1]):  # bwrap would make them 0700 like /root
            if parent not in made:
                cmd += ["--perms", "0755", "--dir", str(parent)]
                made.add(parent)
        cmd += ["--ro-bind", str(root), str(root)]
    cmd += ["--perms", "0755", "--dir", "/course"]
    for name in PUBLIC_FILES:
        cmd += ["--ro-bind", str(CODE_ROOT / name), f"/course/{name}"]
    for name in PUBLIC_DIRS:
        if (CODE_ROOT / name).is_dir():
            cmd += ["--ro-bind", str(CODE_ROOT / name), f"/course/{name}"]
    cache = course_cache_dir()
    if cache.is_dir():
        cmd += ["--ro-bind", str(cache), "/weights"]
    if limits.scratch_bytes:
        cmd += ["--perms", "0777", "--size", str(limits.scratch_bytes), "--tmpfs", "/scratch", "--chdir", "/scratch"]
    else:
        cmd += ["--chdir", "/tmp"]
    # bwrap's own root is an unbounded tmpfs, which a user namespace's user may write: read-only it is, so that
    # only the sized /tmp and /scratch take writes.
    cmd += ["--remount-ro", "/"]
    cmd += [
        "--clearenv",
        "--setenv",
        "HOME",
        "/tmp",
        "--setenv",
        "PYTHONPATH",
        "/course",
        "--setenv",
        "PATH",
        f"{Path(sys.executable).parent}:/usr/bin:/bin",
        "--setenv",
        "KERAS_HOME",
        "/tmp/.keras",
        "--setenv",
        "MPLBACKEND",
        "Agg",
        "--setenv",
        "MPLCONFIGDIR",
        "/tmp",
        "--setenv",
        "TF_CPP_MIN_LOG_LEVEL",
        "3",
        "--setenv",
        "PYTHONDONTWRITEBYTECODE",
        "1",
        "--setenv",
        "TF_ENABLE_ONEDNN_OPTS",
        config.value(ONEDNN_ENV) or "1",
        "--setenv",
        "NBGRADER_EXECUTION",
        "autograde",
        "--setenv",
        "RESNET_COURSE_CACHE",
        "/weights",
    ]
    for key in ("RESNET_COURSE_WEIGHTS", "OMP_NUM_THREADS", "TF_NUM_INTRAOP_THREADS", "TF_NUM_INTEROP_THREADS"):
        if key in os.environ:
            cmd += ["--setenv", key, os.environ[key]]
    # bwrap runs as root without a user namespace (so that the uid below is a real, unprivileged uid on
    # the host too, and the kernel checks every file access as that user); setpriv drops to it with no
    # capabilities, no supplementary groups and no way to regain privileges.
    # Without root the host's RLIMIT_NPROC would count the grader's own processes; inside its user namespace
    # prlimit sets it for the sandbox's uid 65534 there, which only the sandbox's processes count against.
    inside = ("/usr/bin/prlimit", f"--nproc={limits.pids}", "--") if rootless() else drop_to(limits.uid)
    return cmd + ["--", *inside] + argv


@dataclass
class Run:
    """A running sandbox: its process, its groups, its output readers and what happened."""

    process: subprocess.Popen
    groups: Groups | None
    stdout: BoundedReader
    stderr: BoundedReader
    started: float = field(default_factory=time.time)
    killed_at_wall_time: bool = False

    def finish(self) -> dict:
        """Kill whatever is left of the tree and say what happened."""
        if self.process.poll() is None:
            self.process.kill()
        left = self.groups.kill_all() if self.groups else 0
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            pass
        self.stdout.join(timeout=5)
        self.stderr.join(timeout=5)
        report = {
            "exit_status": self.process.returncode,
            "seconds": round(time.time() - self.started, 1),
            "killed_at_wall_time": self.killed_at_wall_time,
            "processes_killed_at_end": left,
            "peak_memory_bytes": self.groups.peak_memory() if self.groups else None,
            "memory_limit_hit": self.groups.oom_killed() if self.groups else None,
            "cgroups_missing": self.groups.missing if self.groups else ["memory", "pids"],
            "stdout": self.stdout.text()[-4000:],
            "stderr": self.stderr.text()[-4000:],
        }
        if self.groups:
            self.groups.remove()
        return report


def start(argv: list[str], limits: Limits, pass_fds=(), sandboxed: bool = True, cwd: Path | None = None) -> Run:
    """Start ``argv`` in a sandbox (or, unsandboxed, as a plain child in ``cwd`` with the same limits)."""
    groups = make_groups(limits)

    def child():
        os.setsid() if not sandboxed else None
        if groups:
            groups.join()
        resource.setrlimit(resource.RLIMIT_CPU, (limits.cpu_seconds, limits.cpu_seconds))
        resource.setrlimit(resource.RLIMIT_FSIZE, (limits.file_bytes, limits.file_bytes))
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
        if sandboxed and not rootless():  # counted for its own uid once setpriv drops to it
            resource.setrlimit(resource.RLIMIT_NPROC, (limits.pids, limits.pids))
        if groups is None or any(m.startswith("memory") for m in groups.missing):
            resource.setrlimit(resource.RLIMIT_AS, (limits.memory_bytes * 4, limits.memory_bytes * 4))

    if sandboxed:
        full = command(argv, limits)
        env = None
    else:
        full = argv
        env = dict(
            os.environ,
            PYTHONPATH=str(CODE_ROOT),
            NBGRADER_EXECUTION="autograde",
            TF_CPP_MIN_LOG_LEVEL="3",
            MPLBACKEND="Agg",
        )
    process = subprocess.Popen(
        full,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        pass_fds=pass_fds,
        preexec_fn=child,
        env=env,
        cwd="/" if sandboxed else cwd,
    )
    run = Run(
        process,
        groups,
        BoundedReader(process.stdout, limits.output_bytes),
        BoundedReader(process.stderr, limits.output_bytes),
    )

    def watchdog():
        if _wait(process, limits.wall_seconds):
            return
        run.killed_at_wall_time = True
        process.kill()
        if groups:
            groups.kill_all()

    threading.Thread(target=watchdog, daemon=True).start()
    return run


def _wait(process: subprocess.Popen, seconds: float) -> bool:
    try:
        process.wait(timeout=seconds)
        return True
    except subprocess.TimeoutExpired:
        return False
