"""A sandbox's control groups: memory and process limits and the kill of its whole tree, on cgroup v1 and v2.

``make_groups(limits)`` picks what this machine has: cgroup v2 (one group with ``memory.max``,
``memory.swap.max``, ``pids.max``; the tree ends with ``cgroup.kill``) in ``RESNET_GRADING_CGROUP`` or the
grader's own group when it is delegated to the grader's user; cgroup v1 (a memory and a pids group) as root;
else none (the sandbox then falls back to rlimits, and says so). A controller that cannot be had is listed
in ``missing``, never faked.
"""

from __future__ import annotations

import os
import signal
import time
import uuid
from pathlib import Path

from resnet_course import config

ROOT = Path("/sys/fs/cgroup")


def _name() -> str:
    return f"resnet-grading-{os.getpid()}-{uuid.uuid4().hex[:8]}"


def _read(path: Path) -> str:
    try:
        return path.read_text()
    except OSError:
        return ""


class Groups:
    """What both versions share: the processes of the groups, their kill, and their removal."""

    version = 0
    paths: list[Path]
    missing: list[str]
    memory_limit: int

    def join(self) -> None:
        """Put the calling process in the groups (runs in the child before exec)."""
        for path in self.paths:
            (path / "cgroup.procs").write_text(str(os.getpid()))

    def pids(self) -> set[int]:
        out = set()
        for path in self.paths:
            out |= {int(p) for p in _read(path / "cgroup.procs").split()}
        return out

    def kill_all(self) -> int:
        """SIGKILL every process of the groups until none is left; how many were seen."""
        killed = 0
        for _ in range(100):
            left = self.pids()
            if not left:
                break
            killed += len(left)
            self._kill(left)
            time.sleep(0.05)
        return killed

    def _kill(self, pids: set[int]) -> None:
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass

    def remove(self) -> None:
        self.kill_all()
        for path in self.paths:
            for _ in range(40):
                try:
                    path.rmdir()
                    break
                except OSError:
                    time.sleep(0.05)


class V1(Groups):
    """A memory and a pids cgroup (v1) of one sandbox (root only)."""

    version = 1

    def __init__(self, limits, root: Path = ROOT):
        name, self.memory_limit = _name(), limits.memory_bytes
        self.paths, self.missing = [], []
        for controller, settings in (
            (
                "memory",
                {"memory.limit_in_bytes": limits.memory_bytes, "memory.memsw.limit_in_bytes": limits.memory_bytes},
            ),
            ("pids", {"pids.max": limits.pids}),
        ):
            path = root / controller / name
            try:
                path.mkdir()
                for key, value in settings.items():
                    if (path / key).exists():
                        (path / key).write_text(str(value))
                self.paths.append(path)
            except OSError as exc:
                self.missing.append(f"{controller} ({exc.strerror})")

    def peak_memory(self) -> int | None:
        for path in self.paths:
            if (path / "memory.max_usage_in_bytes").exists():
                return int(_read(path / "memory.max_usage_in_bytes") or 0)
        return None

    def oom_killed(self) -> bool:
        """Whether the memory group reached its limit (its failure counters, or its peak at the limit)."""
        for path in self.paths:
            for name in ("memory.failcnt", "memory.memsw.failcnt"):
                if int(_read(path / name) or 0) > 0:
                    return True
            for line in _read(path / "memory.oom_control").splitlines():
                if line.split()[:1] == ["oom_kill"] and int(line.split()[1]) > 0:
                    return True
        peak = self.peak_memory()
        return peak is not None and peak >= self.memory_limit - 2**20


class V2(Groups):
    """One cgroup v2 group of one sandbox, below ``parent`` (a group delegated to the grader's user)."""

    version = 2

    def __init__(self, limits, parent: Path):
        self.memory_limit, self.missing = limits.memory_bytes, []
        wanted = {
            "memory": {"memory.max": limits.memory_bytes, "memory.swap.max": 0},
            "pids": {"pids.max": limits.pids},
        }
        _delegate(parent, list(wanted))
        path = parent / _name()
        path.mkdir()
        self.paths = [path]
        available = set(_read(path / "cgroup.controllers").split())
        for controller, settings in wanted.items():
            if controller not in available:
                self.missing.append(f"{controller} (not delegated to {parent})")
                continue
            for key, value in settings.items():
                if (path / key).exists():
                    (path / key).write_text(str(value))

    def _kill(self, pids: set[int]) -> None:
        try:
            (self.paths[0] / "cgroup.kill").write_text("1")  # the kernel kills the whole tree, forks included
        except OSError:
            super()._kill(pids)

    def peak_memory(self) -> int | None:
        text = _read(self.paths[0] / "memory.peak")
        return int(text) if text.strip().isdigit() else None

    def oom_killed(self) -> bool:
        for line in _read(self.paths[0] / "memory.events").splitlines():
            key, _, count = line.partition(" ")
            if key in ("max", "oom_kill") and int(count or 0) > 0:
                return True
        return False


def _delegate(parent: Path, controllers: list[str]) -> None:
    """Enable ``controllers`` for the groups below ``parent``. cgroup v2 allows it only in a group without
    processes of its own: when the grader itself sits in ``parent``, it first moves into a leaf of its own."""
    control = parent / "cgroup.subtree_control"
    enabled = set(_read(control).split())
    have = set(_read(parent / "cgroup.controllers").split())
    todo = [c for c in controllers if c in have and c not in enabled]
    if not todo:
        return
    try:
        control.write_text(" ".join(f"+{c}" for c in todo))
    except OSError:
        leaf = parent / f"resnet-grader-{os.getpid()}"
        leaf.mkdir(exist_ok=True)
        for pid in _read(parent / "cgroup.procs").split():
            if int(pid) == os.getpid():
                (leaf / "cgroup.procs").write_text(pid)
        try:
            control.write_text(" ".join(f"+{c}" for c in todo))
        except OSError:
            pass  # reported as missing by the caller


def v2_parent() -> Path | None:
    """Where this process may create cgroup v2 groups: ``RESNET_GRADING_CGROUP``, or its own group on a v2 machine
    when that group is writable by it (systemd's delegation to a user); None where there is none."""
    configured = config.value(config.GRADING_CGROUP_ENV)
    if configured:
        return Path(configured)
    if not (ROOT / "cgroup.controllers").exists():
        return None
    own = next((line[3:] for line in _read(Path("/proc/self/cgroup")).splitlines() if line.startswith("0::")), "")
    path = ROOT / own.strip().lstrip("/")
    return path if os.access(path, os.W_OK) else None


def make_groups(limits) -> Groups | None:
    """The groups of one sandbox on this machine, or None (then only rlimits bound it)."""
    parent = v2_parent()
    if parent is not None:
        try:
            return V2(limits, parent)
        except OSError:
            return None
    if os.geteuid() == 0 and (ROOT / "memory").is_dir():
        return V1(limits)
    return None
