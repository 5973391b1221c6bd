"""Grading without root (issue 24): the sandbox as an ordinary user, and cgroup v2's whole-tree kill.

An instructor on a JupyterHub or a cluster's login node is an ordinary user. ``tests/ordinary_user.py`` runs a
command as one (uid 4242, no capabilities); there the sandbox is made in a user namespace of its own (bwrap
``--unshare-user``). Asserted: the guarantees ``make autograde`` prints, the same view and isolation as with root,
nothing left running, and a small class graded by the real ``python -m tools.grade autograde --jobs 2`` with the
model submission at full marks and the attacks at 0. cgroup v2 is tested in a cgroup2 hierarchy this test mounts
(this machine mounts cgroup v1, whose controllers a v2 mount cannot have: there only the kill can be shown).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import uuid
from pathlib import Path

import nbformat
import pytest

from resnet_course.grading import sandbox
from tests import ordinary_user
from tests.test_sandboxed_autograde import ATTACKS as SANDBOX_ATTACKS
from tools.notebooks import ROOT, exercises, source_notebooks
from tools.release import nbgrader_env, stage_course

MISSING = ordinary_user.available()
pytestmark = pytest.mark.skipif(bool(MISSING), reason=str(MISSING))
MARKER = f"resnet-rootless-{uuid.uuid4().hex}"


def as_user(code: str, timeout: float = 300, **env) -> subprocess.CompletedProcess:
    argv = [sys.executable, "-c", textwrap.dedent(code) + f"\n# {MARKER}\n"]
    full = dict(PYTHONPATH=str(ROOT), TF_CPP_MIN_LOG_LEVEL="3", **env)
    return subprocess.run(
        ordinary_user.command(argv, env=full), capture_output=True, text=True, timeout=timeout, cwd="/tmp"
    )


def test_an_ordinary_user_gets_a_sandbox_and_is_told_what_holds():
    proc = as_user(f"""
        import os, sys, textwrap
        from resnet_course.grading import sandbox
        print('grader uid', os.getuid())
        sandbox.check_available()
        for name, holds, how in sandbox.guarantees():
            print('guarantee', holds, name, '|', how)
        inside = textwrap.dedent('''
            import os, socket
            print('uid inside', os.getuid())
            for path in ('/course/public_tests.py', '/tmp/../etc/passwd', '/scratch/x', '{ROOT}/zz'):
                try:
                    open(path, 'a').write('x')
                    print('wrote', path)
                except OSError as exc:
                    print('refused', path)
            try:
                socket.create_connection(('1.1.1.1', 53), timeout=2)
                print('network')
            except OSError:
                print('no network')
            if os.fork() == 0:
                import time
                time.sleep(600)
            print('forked')
        ''') + '# {MARKER}'
        box = sandbox.start([sys.executable, '-c', inside], sandbox.Limits(scratch_bytes=2**24, wall_seconds=60))
        box.process.wait(timeout=120)
        report = box.finish()
        print(report['stdout'])
        print('stderr', report['stderr'][-500:])
        bomb = 'import os, time\\nmade = 0\\nfor _ in range(500):\\n    try:\\n        if os.fork() == 0:\\n'
        bomb += '            time.sleep(20)\\n            os._exit(0)\\n        made += 1\\n    except OSError:\\n'
        bomb += '        break\\nprint("forked", made)\\n# {MARKER}\\n'
        box = sandbox.start([sys.executable, '-c', bomb], sandbox.Limits(scratch_bytes=2**20, pids=64))
        box.process.wait(timeout=120)
        print(box.finish()['stdout'])
        """)
    out = proc.stdout
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert f"grader uid {ordinary_user.USER}" in out, out
    assert "uid inside 65534" in out and "forked" in out, out
    assert "wrote /course" not in out and "wrote /tmp/../etc" not in out and "no network" in out, out
    assert not (ROOT / "zz").exists()  # (where the course is below /tmp, the sandbox's own /tmp takes that write)
    assert int(out.split("forked ")[-1].split()[0]) < 64, out  # RLIMIT_NPROC in its own user namespace
    assert "guarantee True own mount" in out and "guarantee True the whole process tree" in out, out
    assert "guarantee False its own uid on the host" in out, out  # said, not hidden: the host sees one uid
    assert "guarantee True per-user kernel objects" in out, out
    left = subprocess.run(["pgrep", "-f", MARKER], capture_output=True, text=True).stdout.split()
    assert left == [], f"left running: {left}"


def test_cgroup_v2_kills_the_whole_tree(tmp_path):
    """In a cgroup2 hierarchy: the sandbox gets a v2 group, ``cgroup.kill`` ends every process of it, including
    a double-forked one in a new session, and missing controllers are reported, not faked."""
    mount = tmp_path / "cgroup2"
    mount.mkdir()
    if subprocess.run(["mount", "-t", "cgroup2", "none", str(mount)], capture_output=True).returncode != 0:
        pytest.skip("cannot mount a cgroup2 hierarchy here")
    try:
        parent = mount / f"grading-{uuid.uuid4().hex[:6]}"
        parent.mkdir()
        os.environ["RESNET_GRADING_CGROUP"] = str(parent)
        code = f"""
import os, time
if os.fork() == 0:
    os.setsid()
    if os.fork() == 0:
        time.sleep(600)
    os._exit(0)
print('ready', flush=True)
time.sleep(600)
# {MARKER}
"""
        box = sandbox.start([sys.executable, "-c", code], sandbox.Limits(scratch_bytes=2**20))
        assert box.groups is not None and box.groups.version == 2, box.groups
        assert box.groups.paths[0].parent == parent
        deadline = 0
        while "ready" not in box.stdout.text() and deadline < 200:
            import time

            time.sleep(0.1)
            deadline += 1
        assert len(box.groups.pids()) >= 3, box.groups.pids()
        report = box.finish()
        assert report["cgroups_missing"] and all(("not delegated" in m) for m in report["cgroups_missing"]), report
        left = subprocess.run(["pgrep", "-f", MARKER], capture_output=True, text=True).stdout.split()
        assert left == [], f"left running: {left}"
        assert not list(parent.iterdir()) or all(p.is_file() for p in parent.iterdir())
    finally:
        os.environ.pop("RESNET_GRADING_CGROUP", None)
        for group in sorted(mount.rglob("*"), reverse=True):
            if group.is_dir():
                group.rmdir()
        subprocess.run(["umount", str(mount)])


# Every attack the sandboxed autograde grades as root: without root they must score 0 too.
ATTACKS = SANDBOX_ATTACKS


@pytest.fixture
def reachable_tmp():
    """A temporary folder the ordinary user can reach (pytest's own lie below root's 0700 folder)."""
    import shutil
    import tempfile

    folder = Path(tempfile.mkdtemp(prefix="resnet-rootless-"))
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


def test_an_ordinary_user_grades_a_class_in_sandboxes(reachable_tmp):
    tmp_path = reachable_tmp
    from resnet_course.catalogue.adversarial import ADVERSARIES
    from resnet_course.catalogue.hostile import HOSTILE_RUNTIME
    from tests.test_nbgrader_roundtrip import submission

    root = tmp_path / "course"
    root.mkdir()
    stage_course(root)
    assignment = "02_identity_block"
    path = next(p for p in source_notebooks() if p.parent.name == assignment)
    env = {k: v for k, v in nbgrader_env().items() if k not in ("RESNET_COURSE_FAST", "HOME")}

    def step(*args, timeout=1800):
        cmd = [sys.executable, "-m", "tools.grade", "--course", str(root), *args]
        proc = subprocess.run(
            ordinary_user.command(cmd, env=dict(env, PYTHONPATH=str(ROOT))),
            cwd=str(ROOT),
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        return proc.returncode, proc.stdout + proc.stderr

    subprocess.run(["chown", "-R", f"{ordinary_user.USER}:{ordinary_user.USER}", str(tmp_path)], check=True)
    tmp_path.chmod(0o755)
    assert step("release")[0] == 0
    students = ["model", "blank", *ATTACKS]
    assert step("students", *students)[0] == 0
    release = root / "notebooks" / assignment / path.name
    for student in students:
        dest = root / "submitted" / student / assignment / path.name
        dest.parent.mkdir(parents=True)
        adversary = next((a for a in ADVERSARIES + HOSTILE_RUNTIME if a.id == student), None)
        nb = (
            nbformat.read(str(release), as_version=4)
            if student == "blank"
            else submission(release, path, adversary, exercises(path)[:1])
        )
        nbformat.write(nb, str(dest))
    subprocess.run(["chown", "-R", f"{ordinary_user.USER}:{ordinary_user.USER}", str(root)], check=True)
    status, text = step("autograde", "--jobs", "2")
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{root / 'gradebook.db'}") as gb:
        table = {s.student.id: s.score for s in gb.find_assignment(assignment).submissions}
    assert table.get("model") == 10 and table.get("blank") == 0, (table, text[-3000:])
    for attack in ATTACKS:
        assert table.get(attack) == 0, (attack, table, text[-3000:])
    assert "guarantees" in text and "its own uid" in text, text[-3000:]
    results = json.loads((root / "grading_results" / "model.json").read_text())
    assert results["sandboxed"] is True
    left = subprocess.run(["pgrep", "-u", str(ordinary_user.USER)], capture_output=True, text=True).stdout.split()
    assert left == [], f"processes of the ordinary user left: {left}"
