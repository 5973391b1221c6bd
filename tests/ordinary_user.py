"""Run a command as an ordinary (non-root) user on this machine, for the tests of grading without root.

This machine's Python lives under /root (mode 700), which an ordinary user cannot enter. ``command`` wraps
``argv`` in a root-made bubblewrap namespace that shows the same file system, except that /root is a tmpfs
holding only the Python installation (read-only), then drops to ``uid`` with setpriv: inside, the user is
as unprivileged as on any other machine (no capabilities, no_new_privs) and can make user namespaces of its
own, which is what the rootless sandbox needs. Nothing of the host changes.
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

USER = 4242  # an uid with no account: what a JupyterHub's or a cluster's instructor is to this machine


def python_roots() -> list[Path]:
    return sorted({Path(sys.base_prefix).resolve(), Path(sys.prefix).resolve()})


def available() -> str | None:
    if os.geteuid() != 0:
        return "these tests make an ordinary user, which needs root"
    if not shutil.which("bwrap") or not Path("/usr/bin/setpriv").exists():
        return "bubblewrap or setpriv is missing (make sandbox)"
    return None


def command(argv: list[str], uid: int = USER, env: dict | None = None) -> list[str]:
    cmd = [shutil.which("bwrap"), "--dev-bind", "/", "/"]  # recursive: /proc and /dev as they are (a new proc
    # mount here would make the user namespaces inside unable to mount theirs)
    hidden = [r for r in python_roots() if str(r).startswith("/root")]
    if hidden:
        cmd += ["--perms", "0755", "--tmpfs", "/root"]
        made = {Path("/root")}
        for root in hidden:
            for parent in reversed(root.parents[:-1]):
                if parent not in made:
                    cmd += ["--perms", "0755", "--dir", str(parent)]
                    made.add(parent)
            cmd += ["--ro-bind", str(root), str(root)]
    for key, value in (env or {}).items():
        cmd += ["--setenv", key, value]
    cmd += ["--setenv", "HOME", "/tmp", "--setenv", "USER", f"u{uid}"]
    return cmd + [
        "--",
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
        *argv,
    ]
