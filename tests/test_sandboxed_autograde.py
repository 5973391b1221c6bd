"""The sandboxed ``tools.grade autograde`` end to end on one small assignment, with the sandbox attacks.

A temporary course with one assignment (the identity block: one notebook, one exercise), graded by the
real ``python -m tools.grade autograde --jobs 2``: the model submission, the untouched release and the
attacks of resnet_course/catalogue/adversarial.py's sandbox block that target the first exercise of that notebook (the
whole-course version is tests/test_nbgrader_roundtrip.py). Asserted: scores; the course's files, the
other students' submissions and the autograded notebooks of others unchanged by any student; no
process of the students left; the host's loopback listener never reached.
"""

from __future__ import annotations

import hashlib
import socket
import subprocess
import sys
import threading
from pathlib import Path

import nbformat
import pytest

from resnet_course.catalogue.adversarial import ADVERSARIES, SANDBOX_PROBE_PORT_ENV
from resnet_course.grading import sandbox
from tools import grade
from tools.notebooks import ROOT, exercises, source_notebooks
from tools.release import nbgrader_env, stage_course

try:
    sandbox.check_available()
    AVAILABLE = ""
except sandbox.SandboxUnavailable as exc:
    AVAILABLE = str(exc)

pytestmark = pytest.mark.skipif(bool(AVAILABLE), reason=f"no sandbox here: {AVAILABLE}")

ASSIGNMENT = "02_identity_block"
GRADING_WRITES = ("submitted", "autograded", "feedback", "gradebook.db", "grading_results", "grading_intake")
ATTACKS = (
    "reads_solutions",
    "reads_frames",
    "disarms_checks",
    "writes_where_grading_reads",
    "lingers",
    "reaches_network",
    "kills_its_parent",
    "floods_output",
    "redefines_tests",
    "patches_numpy",
)


def tree_hashes(folder: Path, skip=()) -> dict:
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file() and not any(part in skip for part in p.parts)
    }


@pytest.fixture(scope="module")
def course(tmp_path_factory):
    from tests.test_nbgrader_roundtrip import submission

    root = tmp_path_factory.mktemp("sandboxed")
    stage_course(root)
    env = nbgrader_env()
    env.pop("RESNET_COURSE_FAST", None)

    def step(*args, extra_env=None):
        proc = subprocess.run(
            [sys.executable, "-m", "tools.grade", "--course", str(root), *args],
            cwd=ROOT,
            env=dict(env, **(extra_env or {})),
            capture_output=True,
            text=True,
            timeout=3600,
        )
        return proc.returncode, proc.stdout + proc.stderr

    assert step("release")[0] == 0
    path = next(p for p in source_notebooks() if p.parent.name == ASSIGNMENT)
    exercise = exercises(path)[0]
    students = ["model", "blank", *ATTACKS]
    assert step("students", *students)[0] == 0
    release = root / "notebooks" / ASSIGNMENT / path.name
    for student in students:
        dest = root / "submitted" / student / ASSIGNMENT / path.name
        dest.parent.mkdir(parents=True)
        if student == "blank":
            nbformat.write(nbformat.read(str(release), as_version=4), str(dest))
            continue
        adversary = next((a for a in ADVERSARIES if a.id == student), None)
        nbformat.write(submission(release, path, adversary, [exercise]), str(dest))
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    listener.settimeout(1)
    reached, stop = [], threading.Event()

    def listen():
        while not stop.is_set():
            try:
                reached.append(listener.accept())
            except OSError:
                pass

    threading.Thread(target=listen, daemon=True).start()
    before = tree_hashes(root, skip=GRADING_WRITES)
    submitted_before = tree_hashes(root / "submitted")
    status, text = step("autograde", "--jobs", "2", extra_env={SANDBOX_PROBE_PORT_ENV: str(listener.getsockname()[1])})
    stop.set()
    listener.close()
    return {
        "root": root,
        "status": status,
        "text": text,
        "exercise": exercise,
        "reached": reached,
        "before": before,
        "after": tree_hashes(root, skip=GRADING_WRITES),
        "submitted_before": submitted_before,
        "submitted_after": tree_hashes(root / "submitted"),
        "left": subprocess.run(["pgrep", "-u", str(sandbox.NOBODY)], capture_output=True, text=True).stdout,
    }


def scores(course) -> dict:
    from nbgrader.api import Gradebook

    with Gradebook(grade.db_url(course["root"])) as gb:
        return {s.student.id: s.score for s in gb.find_assignment(ASSIGNMENT).submissions}


def test_model_scores_full_marks_and_blank_zero(course):
    table = scores(course)
    assert table["model"] == 10 and table["blank"] == 0, (table, course["text"][-3000:])
    assert "students per hour" in course["text"] and "ETA" in course["text"], course["text"][-3000:]


@pytest.mark.parametrize("attack", ATTACKS)
def test_attack_scores_zero(course, attack):
    assert scores(course)[attack] == 0, course["text"][-3000:]


def test_nothing_outside_the_sandboxes_changed(course):
    assert course["before"] == course["after"], "a course file changed during grading"
    assert course["submitted_before"] == course["submitted_after"], "a submission changed during grading"
    assert course["reached"] == [], "a student's code reached the host's loopback"
    assert not (ROOT / "zz_attack.pth").exists()


def test_no_student_process_is_left(course):
    # (another sandbox of another grading on this machine would also show here: run this file alone)
    assert course["left"].split() == [], course["left"]
