"""Run a command as an ordinary (non-root) user on this machine, for the tests of grading without root.

This machine's Python lives under /root (mode 700), which an ordinary user cannot enter. ``command`` wraps
``argv`` in a root-made bubblewrap namespace that shows the same file system, except that /root is a tmpfs
holding only the Python installation (read-only), then drops to ``uid`` with setpriv: inside, the user is
as unprivileged as on any other machine (no capabilities, no_new_privs) and can make user namespaces of its
own, which is what the rootless sandbox needs. Nothing of the host changes.

By default the user is uid 4242 with no account (gid 4242, no supplementary groups, HOME=/tmp). ``account``
gives the arguments for a real account instead (made with ``useradd``): its uid, primary gid, supplementary
groups, home folder and name, as a login on a shared machine or a JupyterHub's spawner would set them.
"""

from __future__ import annotations

import grp
import os
import pwd
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


def account(name: str) -> dict:
    """``command``'s keyword arguments for the real account ``name``: uid, gid, groups, home and user."""
    entry = pwd.getpwnam(name)
    groups = sorted(set(os.getgrouplist(name, entry.pw_gid)) | {g.gr_gid for g in grp.getgrall() if name in g.gr_mem})
    return {"uid": entry.pw_uid, "gid": entry.pw_gid, "groups": groups, "home": entry.pw_dir, "user": name}


def command(
    argv: list[str],
    uid: int = USER,
    env: dict | None = None,
    *,
    gid: int | None = None,
    groups: list[int] = (),
    home: str = "/tmp",
    user: str | None = None,
    cwd: str | None = None,
) -> list[str]:
    """``argv`` as ``uid`` (group ``gid``, default ``uid``; supplementary ``groups``, default none), with HOME,
    USER and LOGNAME set, in ``cwd`` if given."""
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
    name = user or f"u{uid}"
    cmd += ["--setenv", "HOME", home, "--setenv", "USER", name, "--setenv", "LOGNAME", name]
    cmd += ["--chdir", cwd] if cwd else []
    gid = uid if gid is None else gid
    grouping = ["--groups", ",".join(str(g) for g in groups)] if groups else ["--clear-groups"]
    return cmd + [
        "--",
        "/usr/bin/setpriv",
        "--reuid",
        str(uid),
        "--regid",
        str(gid),
        *grouping,
        "--inh-caps=-all",
        "--bounding-set=-all",
        "--no-new-privs",
        "--",
        *argv,
    ]
