"""Submissions are data (issue 23): the hostile files of adversarial.py's HOSTILE_FILES, graded for real.

A temporary course with one assignment (the identity block), graded by the real ``python -m tools.grade
autograde --jobs 2``, then ``feedback`` and ``grades``: a full-marks ``victim`` (the model submission) and every
HOSTILE_FILES entry (symbolic links to a root-only canary file outside the course, to the victim's folder and
to the instructor's source/ notebook, a hard link to the victim's notebook, FIFOs, a socket, a device, a 60 MB
notebook, a name hiding a shell command, too many files). Asserted: the victim 10/10, every attack 0 with its
refusal shown to the instructor or in its feedback, grading finished for everyone, the canary's folder unchanged
and its text nowhere in what grading wrote, nothing else in the course changed, no sandbox process left, and the
printed ``mv`` command runs no hidden command.
"""

from __future__ import annotations

import hashlib
import os
import re
import secrets
import stat
import subprocess
import time
from pathlib import Path

import nbformat
import pytest

from resnet_course.catalogue.hostile import CANARY_FILE, HOSTILE_FILES, SHELL_NAME
from resnet_course.harness import unwrapped
from tests.needs_sandbox import SANDBOX, grade_step, own_uids, processes_of_uids, shown_text
from tools import grade
from tools.notebooks import ROOT, exercises, source_notebooks
from tools.release import stage_course

pytestmark = SANDBOX

ASSIGNMENT = "02_identity_block"
GRADING_WRITES = ("autograded", "feedback", "grading_intake", "grading_results", "gradebook.db", "grades.csv")
IDS = [a.id for a in HOSTILE_FILES]


def snapshot(folder: Path, skip=()) -> dict:
    """Every entry under ``folder`` without following a link or opening anything but a regular file."""
    out = {}
    for here, dirs, files in os.walk(folder):
        rel_here = Path(here).relative_to(folder)
        if rel_here.parts and rel_here.parts[0] in skip:
            continue
        for name in dirs + files:
            path = Path(here) / name
            rel = str(rel_here / name)
            if rel in skip:
                continue
            st = path.lstat()
            if stat.S_ISREG(st.st_mode):
                what = hashlib.sha256(path.read_bytes()).hexdigest()
            elif stat.S_ISLNK(st.st_mode):
                what = "-> " + os.readlink(path)
            else:
                what = stat.filemode(st.st_mode)[0]
            out[rel] = (what, st.st_uid, st.st_gid, stat.S_IMODE(st.st_mode))
    return out


def watched(folder: Path) -> dict:
    """The canary folder: content, owner, mode and mtime of each entry and of the folder."""
    info = {}
    for path in [folder, *sorted(folder.iterdir())]:
        st = path.lstat()
        content = hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else None
        info[path.name] = (content, st.st_uid, st.st_gid, stat.S_IMODE(st.st_mode), st.st_mtime_ns)
    return info


def text_under(folder: Path) -> str:
    return "".join(
        p.read_bytes().decode("utf-8", "replace") for p in folder.rglob("*") if p.is_file() and not p.is_symlink()
    )


@pytest.fixture(scope="module")
def course(tmp_path_factory):
    from tests.test_nbgrader_roundtrip import submission

    root = tmp_path_factory.mktemp("hostile")
    canary = tmp_path_factory.mktemp("canary")  # outside the course
    secret = f"CANARY-{secrets.token_hex(12)}"
    (canary / CANARY_FILE).write_text(secret)
    os.chown(canary / CANARY_FILE, 0, 0)
    (canary / CANARY_FILE).chmod(0o600)
    uids = own_uids()  # this run's sandboxes' uids: what they leave is told from another grading's
    stage_course(root)

    def step(*args):
        return grade_step(root, *args, env={"RESNET_GRADING_UIDS": f"{uids[0]}:{uids[1] - uids[0]}"})

    assert step("release")[0] == 0
    path = next(p for p in source_notebooks() if p.parent.name == ASSIGNMENT)
    exercise = exercises(path)[0]
    assert step("students", "victim", *IDS)[0] == 0
    release = root / "notebooks" / ASSIGNMENT / path.name
    folders = {}
    for student, adversary in [("victim", None), *((a.id, a) for a in HOSTILE_FILES)]:
        name = adversary.file_name(path.name) if adversary and adversary.file_name else path.name
        folders[student] = root / "submitted" / student / ASSIGNMENT
        folders[student].mkdir(parents=True)
        nbformat.write(submission(release, path, adversary, [exercise]), str(folders[student] / name))
    time.sleep(0.1)  # the links come after the victim's notebook, as they would
    context = {"course": root, "victim": folders["victim"], "canary": canary, "notebook": path.name}
    for adversary in HOSTILE_FILES:
        if adversary.plant:
            adversary.plant(folders[adversary.id], context)
    before, canary_before = snapshot(root, GRADING_WRITES), watched(canary)
    began = time.time()
    status, text = step("autograde", "--jobs", "2")
    seconds = time.time() - began
    feedback = step("feedback")
    grades = step("grades")
    return {
        "root": root,
        "canary": canary,
        "secret": secret,
        "status": status,
        "text": text,
        "seconds": seconds,
        "feedback": feedback,
        "grades": grades,
        "notebook": path.name,
        "before": before,
        "after": snapshot(root, GRADING_WRITES),
        "canary_before": canary_before,
        "canary_after": watched(canary),
        "left": processes_of_uids(uids),
    }


def scores(course) -> dict:
    from nbgrader.api import Gradebook

    with Gradebook(grade.db_url(course["root"])) as gb:
        return {s.student.id: (s.score, s.max_score) for s in gb.find_assignment(ASSIGNMENT).submissions}


def test_the_victim_scores_full_marks(course):
    assert scores(course)["victim"] == (10, 10), course["text"][-4000:]


def test_grading_finished_for_everyone_and_the_steps_ran(course):
    assert set(scores(course)) == {"victim", *IDS}, course["text"][-4000:]
    assert course["feedback"][0] == 0 and course["grades"][0] == 0, (course["feedback"], course["grades"])
    exported = (course["root"] / "grades.csv").read_text()
    assert all(student in exported for student in ["victim", *IDS]), exported
    assert course["seconds"] < 1800, course["seconds"]  # a FIFO or a device never blocked the run


@pytest.mark.parametrize("adversary", HOSTILE_FILES, ids=IDS)
def test_attack_scores_zero_and_isshown_text(course, adversary):
    assert scores(course)[adversary.id][0] == 0, course["text"][-4000:]
    lines = [line for line in course["text"].splitlines() if adversary.id in line]
    assert lines, f"make autograde does not name {adversary.id}"
    autograded = course["root"] / "autograded" / adversary.id / ASSIGNMENT / course["notebook"]
    html = course["root"] / "feedback" / adversary.id / ASSIGNMENT / course["notebook"].replace(".ipynb", ".html")
    for where, text, *_ in adversary.evidence:
        if where == "autograde":
            assert any(text in line for line in lines), (text, lines)
        else:
            assert unwrapped(text) in shown_text(autograded), f"{text!r} not in {adversary.id}'s autograded notebook"
            assert unwrapped(text) in unwrapped(html.read_text()), f"{text!r} not in {adversary.id}'s feedback"


def test_autograde_exits_1(course):
    print(course["text"])  # (shown with pytest -rP)
    assert course["status"] == 1, course["text"][-4000:]


def test_the_canary_never_leaks_and_never_changes(course):
    assert course["canary_before"] == course["canary_after"]
    for folder in ("autograded", "feedback", "grading_results", "grading_intake"):
        assert course["secret"] not in text_under(course["root"] / folder), folder
    assert course["secret"] not in course["text"]


def test_nothing_else_in_the_course_changed(course):
    assert course["before"] == course["after"], {
        k for k in set(course["before"]) | set(course["after"]) if course["before"].get(k) != course["after"].get(k)
    }
    assert not list(course["root"].rglob("PWNED")) and not (ROOT / "PWNED").exists()


def test_no_sandbox_process_is_left(course):
    assert course["left"] == [], course["left"]


def test_the_printed_mv_command_runs_no_hidden_command(course, tmp_path):
    line = next(line for line in course["text"].splitlines() if "shell_name" in line and "mv -- " in line)
    command = line[line.index("mv -- ") :]
    folder = tmp_path / "submitted" / "shell_name" / ASSIGNMENT
    folder.mkdir(parents=True)
    (folder / SHELL_NAME).write_text("{}")
    subprocess.run(["bash", "-c", command], cwd=tmp_path, check=True, timeout=30)
    assert not list(tmp_path.rglob("PWNED")), command
    assert (folder / course["notebook"]).is_file() and not (folder / SHELL_NAME).exists()
    assert re.search(r"mv -- '", command), command
