"""resnet_course/grading/intake.py: every submission read as data (fast, no TensorFlow, no nbgrader run).

Each kind of refused entry (symbolic links to files and folders, hard links, FIFOs, sockets, devices, bad
names, files too large, too many files, folders too deep), a FIFO that never blocks, the clean copy's
contents and the refusals' report, and the ``mv`` hint of ``tools.grade`` pasted into bash.
"""

from __future__ import annotations

import json
import os
import socket
import stat
import subprocess
import time
from pathlib import Path

import pytest

from resnet_course.grading import intake as intake_mod
from resnet_course.grading.intake import Limits, intake

A = "02_identity_block"
NB = "identity_block.ipynb"
CANARY = "CANARY-6f1d3a secret of the host"


@pytest.fixture
def course(tmp_path):
    root = tmp_path / "course"
    (root / "submitted").mkdir(parents=True)
    canary = tmp_path / "outside" / "secret.txt"
    canary.parent.mkdir()
    canary.write_text(CANARY)
    canary.chmod(0o600)
    return root, canary


def folder(root: Path, student: str) -> Path:
    path = root / "submitted" / student / A
    path.mkdir(parents=True)
    return path


def reasons(report, student: str) -> dict:
    return {r.path: r.reason for r in report.refused(student)}


def test_clean_copy_holds_regular_files_only_and_the_report(course):
    root, canary = course
    good = folder(root, "alice")
    (good / NB).write_text('{"cells": []}')
    (good / "timestamp.txt").write_text("2026-01-01 10:00:00.000000 UTC")
    (good / "data").mkdir()
    (good / "data" / "table.csv").write_text("a,b\n")
    (good / ".ipynb_checkpoints").mkdir()
    (good / ".ipynb_checkpoints" / "x.ipynb").symlink_to(canary)  # ignored, never read
    (good / "secret.txt").symlink_to(canary)
    report = intake(root)
    clean = root / "grading_intake" / "alice" / A
    assert sorted(str(p.relative_to(clean)) for p in clean.rglob("*")) == [
        "data",
        "data/table.csv",
        NB,
        "timestamp.txt",
    ]
    assert (clean / NB).read_text() == '{"cells": []}'
    assert not any(p.is_symlink() for p in (root / "grading_intake").rglob("*"))
    assert stat.S_IMODE((root / "grading_intake").stat().st_mode) == 0o700
    assert reasons(report, "alice") == {f"{A}/secret.txt": "a symbolic link (never followed)"}
    written = json.loads((root / "grading_intake" / "alice" / "intake.json").read_text())
    assert written == {A: [{"path": f"{A}/secret.txt", "reason": "a symbolic link (never followed)"}]}
    assert report.notebooks("alice", A) == [NB]
    assert CANARY not in "".join(p.read_text() for p in (root / "grading_intake").rglob("*") if p.is_file())


def test_links_fifos_sockets_and_devices_are_refused(course):
    root, canary = course
    victim = folder(root, "victim")
    (victim / NB).write_text("victim's work")
    time.sleep(0.05)  # (the hard link comes later than the victim's folder, as it would)
    f = folder(root, "links")
    (f / NB).symlink_to(canary)
    (f / "source.ipynb").symlink_to(root / "submitted" / "victim" / A / NB)
    os.mkfifo(f / "pipe.ipynb")
    os.mknod(f / "zero", stat.S_IFCHR | 0o600, os.makedev(1, 5))
    sock = socket.socket(socket.AF_UNIX)
    sock.bind(str(f / "s"))
    sock.close()
    h = folder(root, "hardlink")
    os.link(victim / NB, h / NB)
    (root / "submitted" / "folderlink").mkdir()
    (root / "submitted" / "folderlink" / A).symlink_to(victim, target_is_directory=True)
    (root / "submitted" / "studentlink").symlink_to(root / "submitted" / "victim", target_is_directory=True)
    report = intake(root)
    assert reasons(report, "links") == {
        f"{A}/{NB}": "a symbolic link (never followed)",
        f"{A}/source.ipynb": "a symbolic link (never followed)",
        f"{A}/pipe.ipynb": "a FIFO (named pipe)",
        f"{A}/zero": "a character device",
        f"{A}/s": "a socket",
    }
    assert reasons(report, "hardlink") == {f"{A}/{NB}": "a hard link (2 names for one file, shared with 'victim')"}
    assert reasons(report, "victim") == {}  # the bystander keeps its notebook
    assert (root / "grading_intake" / "victim" / A / NB).read_text() == "victim's work"
    assert reasons(report, "folderlink") == {
        A: "a symbolic link (never followed), not an assignment folder (submitted/<student>/<assignment>/)"
    }
    assert reasons(report, "studentlink") == {"": "a symbolic link (never followed), not a student's folder"}
    assert not (root / "grading_intake" / "links" / A).exists()
    assert not (root / "grading_intake" / "hardlink" / A).exists()
    assert "studentlink" not in report.students


def test_a_hard_link_to_a_file_outside_is_refused(course):
    root, canary = course
    f = folder(root, "mallory")
    os.link(canary, f / NB)
    report = intake(root)
    assert reasons(report, "mallory") == {f"{A}/{NB}": "a hard link (2 names for one file)"}


def test_a_fifo_never_blocks(course, tmp_path):
    root, _ = course
    f = folder(root, "fifo")
    os.mkfifo(f / NB)
    os.mkfifo(f / "timestamp.txt")
    script = (
        "import sys; from pathlib import Path; from resnet_course.grading.intake import intake; "
        f"r = intake(Path({str(root)!r})); print(len(r.refusals))"
    )
    proc = subprocess.run(
        [os.sys.executable, "-c", script], capture_output=True, text=True, timeout=60, env=dict(os.environ)
    )
    assert proc.returncode == 0 and proc.stdout.strip() == "2", proc.stderr


def test_names_are_validated(course):
    root, _ = course
    f = folder(root, "names")
    for name in ("x';touch PWNED;'.ipynb", "$(touch PWNED).ipynb", "-rf.ipynb", "a\nb.ipynb", "é.ipynb", "x" * 101):
        (f / name).write_text("{}")
    (f / NB).write_text("{}")
    (root / "submitted" / "bad id;rm").mkdir()
    (root / "submitted" / "names" / "stray.txt").write_text("x")
    report = intake(root)
    refused = reasons(report, "names")
    assert len(refused) == 7
    assert all("name the grader does not accept" in v for k, v in refused.items() if k != "stray.txt")
    assert refused["stray.txt"].endswith("not an assignment folder (submitted/<student>/<assignment>/)")
    assert reasons(report, "bad id;rm") == {"": "not a student id the grader accepts"}
    assert report.notebooks("names", A) == [NB]
    described = [r.describe() for r in report.refusals]
    assert all("\n" not in d for d in described) and any(
        "'submitted/names/02_identity_block/a\\nb.ipynb'" in d for d in described
    )


def test_size_count_and_depth_limits(course):
    root, _ = course
    big = folder(root, "big")
    (big / NB).write_bytes(b" " * 2000)
    (big / "small.txt").write_bytes(b"ok")
    many = folder(root, "many")
    for i in range(30):
        (many / f"f{i}.txt").write_text("x")
    total = folder(root, "total")
    for i in range(3):
        (total / f"part{i}.txt").write_bytes(b"y" * 900)
    deep = folder(root, "deep")
    (deep / NB).write_text("{}")
    nested = deep
    for i in range(6):
        nested = nested / f"d{i}"
    nested.mkdir(parents=True)
    stamp = folder(root, "stamp")
    (stamp / "timestamp.txt").write_text("not a date")
    report = intake(root, Limits(notebook_bytes=1000, student_bytes=2000, entries=20, depth=2))
    assert reasons(report, "big") == {f"{A}/{NB}": "too large (2000 bytes; the limit is 1000)"}
    assert (root / "grading_intake" / "big" / A / "small.txt").read_bytes() == b"ok"
    assert reasons(report, "many") == {"": "too many files and folders (more than 20): nothing of it is graded"}
    assert not (root / "grading_intake" / "many" / A).exists()
    assert reasons(report, "total") == {"": "too large in all (more than 2000 bytes): nothing of it is graded"}
    assert reasons(report, "deep") == {
        f"{A}/d0/d1/d2": "folders nested too deep (more than 2 below the assignment folder)"
    }
    assert (root / "grading_intake" / "deep" / A / NB).is_file()  # (empty folders are not copied)
    assert reasons(report, "stamp") == {f"{A}/timestamp.txt": "not a timestamp nbgrader can read"}


def test_the_previous_clean_copy_is_removed_without_following_links(course):
    root, canary = course
    (root / "grading_intake").mkdir()
    (root / "grading_intake" / "old").symlink_to(canary.parent, target_is_directory=True)
    intake(root)
    assert canary.read_text() == CANARY and not (root / "grading_intake" / "old").exists()
    (root / "grading_intake").rename(root / "moved")
    (root / "grading_intake").symlink_to(canary.parent, target_is_directory=True)
    intake(root)
    assert canary.read_text() == CANARY and (root / "grading_intake").is_dir()
    assert not (root / "grading_intake").is_symlink()


@pytest.mark.parametrize("name", ["x';touch PWNED;'.ipynb", "$(touch PWNED).ipynb", "a b`touch PWNED`.ipynb"])
def test_the_printed_mv_command_runs_no_hidden_command(tmp_path, name):
    from tools.grade import mv_hint

    rel = "submitted/alice/02_identity_block"
    (tmp_path / rel).mkdir(parents=True)
    (tmp_path / rel / name).write_text("{}")
    command = mv_hint(f"{rel}/{name}", f"{rel}/{NB}")
    subprocess.run(["bash", "-c", command], cwd=tmp_path, check=True, timeout=30)
    assert not list(tmp_path.rglob("PWNED")), command
    assert (tmp_path / rel / NB).is_file() and not (tmp_path / rel / name).exists()


def test_read_report_refuses_links(tmp_path):
    (tmp_path / "bob").mkdir()
    (tmp_path / "bob" / "intake.json").symlink_to(tmp_path / "elsewhere.json")
    (tmp_path / "elsewhere.json").write_text('{"a": []}')
    assert intake_mod.read_report(tmp_path, "bob") == {}
