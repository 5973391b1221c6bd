"""The sandboxed ``tools.grade autograde`` end to end on one small assignment, with the sandbox attacks.

A temporary course with one assignment (the identity block: one notebook, one exercise), graded by the
real ``python -m tools.grade autograde --jobs 2``: the model submission (the victim, graded beside the
attackers), the untouched release, the attacks of resnet_course/catalogue/adversarial.py's sandbox block and
every attack of its ``HOSTILE_RUNTIME`` block (what reaches the host: links planted in scratch, a full disk,
the key ring, replies that flood or bomb the judge). Asserted: scores, and the victim's exactly as when it is
graded alone; the course's files, the other students' submissions and the autograded notebooks of others
unchanged by any student; canary files owned by root outside the course unchanged (content, owner, mode);
no process of the students left; the host's loopback listener never reached; every student graded.
"""

from __future__ import annotations

import hashlib
import socket
import threading
from pathlib import Path

import nbformat
import pytest

from resnet_course.catalogue.adversarial import ADVERSARIES, SANDBOX_PROBE_PORT_ENV
from resnet_course.catalogue.hostile import HOSTILE_RUNTIME
from resnet_course.harness import unwrapped
from tests.needs_sandbox import SANDBOX, grade_step, own_uids, processes_of_uids, shown_text
from tools import grade
from tools.notebooks import ROOT, exercises, source_notebooks
from tools.release import stage_course

pytestmark = SANDBOX

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
    *(a.id for a in HOSTILE_RUNTIME),
)
EVIDENCE = {a.id: [text for where, text, *_ in a.evidence if where == "graded"] for a in HOSTILE_RUNTIME}


def canaries(folder: Path) -> dict:
    """Each canary's content hash, owner, mode and mtime (a folder outside the course that only root can read)."""
    return {
        str(p.relative_to(folder)): (
            hashlib.sha256(p.read_bytes()).hexdigest() if p.is_file() else "dir",
            p.lstat().st_uid,
            p.lstat().st_mode,
            p.lstat().st_mtime_ns,
        )
        for p in sorted([folder, *folder.rglob("*")])
    }


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
    canary = tmp_path_factory.mktemp("canary")  # outside the course, root's only
    (canary / "secret.txt").write_text("CANARY-do-not-leak")
    (canary / "folder").mkdir()
    (canary / "folder" / "inside.txt").write_text("CANARY-inside")
    for path in (canary / "secret.txt", canary / "folder" / "inside.txt"):
        path.chmod(0o600)
    canary.chmod(0o700)
    canaries_before = canaries(canary)
    stage_course(root)

    def step(*args, extra_env=None):
        return grade_step(root, *args, env=extra_env)

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
        adversary = next((a for a in ADVERSARIES + HOSTILE_RUNTIME if a.id == student), None)
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
    uids = own_uids()  # this run's own block: its processes can be told from another grading's
    status, text = step(
        "autograde",
        "--jobs",
        "2",
        extra_env={
            SANDBOX_PROBE_PORT_ENV: str(listener.getsockname()[1]),
            "RESNET_GRADING_UIDS": f"{uids[0]}:{uids[1] - uids[0]}",
        },
    )
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
        "left": processes_of_uids(uids),
        "canaries": (canaries_before, canaries(canary)),
        "canary_text": [str(p) for p in root.rglob("*") if p.is_file() and b"CANARY-" in p.read_bytes()],
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
    for text in EVIDENCE.get(attack, []):
        graded = course["root"] / "autograded" / attack / ASSIGNMENT
        found = " ".join(shown_text(p) for p in graded.glob("*.ipynb"))
        assert unwrapped(text) in found, f"{attack}: {text!r} not in its autograded notebook"


def test_the_victim_is_graded_exactly_as_alone(course):
    """Graded beside every attacker with two jobs, the model submission keeps every point and every verdict."""
    from resnet_course.grading.host import load_results

    results = load_results(course["root"] / "grading_results" / "model.json")
    verdicts = [v for nb in results.notebooks.values() for v in nb.verdicts.values()]
    assert verdicts and all(v.passed for v in verdicts) and not results.faults, results
    assert scores(course)["model"] == 10


def test_root_owned_canaries_outside_the_course_are_untouched(course):
    before, after = course["canaries"]
    assert before == after, "a canary outside the course changed (content, owner or mode)"
    assert course["canary_text"] == [], course["canary_text"]


def test_everyone_was_graded_and_the_judge_bombs_are_named(course):
    table = scores(course)
    assert set(table) == {"model", "blank", *ATTACKS}, table
    assert course["status"] == 1, "autograde must fail when it met a grader fault or a judge that ended"
    # the judge that met the bomb ended at its memory limit: a grader fault, named, and nobody else's
    assert "bombs_judge_model: GRADER FAULT" in course["text"], course["text"][-3000:]
    assert course["text"].count("GRADER FAULT") == 1, course["text"][-3000:]


def test_nothing_outside_the_sandboxes_changed(course):
    assert course["before"] == course["after"], "a course file changed during grading"
    assert course["submitted_before"] == course["submitted_after"], "a submission changed during grading"
    assert course["reached"] == [], "a student's code reached the host's loopback"
    assert not (ROOT / "zz_attack.pth").exists()


def test_no_student_process_is_left(course):
    # (another sandbox of another grading on this machine would also show here: run this file alone)
    assert course["left"] == [], course["left"]
