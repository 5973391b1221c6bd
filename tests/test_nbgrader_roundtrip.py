"""The instructor workflow end to end in a temporary course folder.

generate_assignment -> a model submission (reference solutions) and an untouched
release -> autograde -> the model scores full marks, the untouched release zero,
and nothing needs manual grading.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from tools.notebooks import source_notebooks, solved
from tools.release import assignments, nbgrader_env, stage_course

STUDENTS = {"model": "solution", "blank": "untouched"}


def nbgrader(course: Path, *args: str) -> subprocess.CompletedProcess:
    env = nbgrader_env()
    env.pop("RESNET_COURSE_FAST", None)          # autograde must follow NBGRADER_EXECUTION alone
    proc = subprocess.run([sys.executable, "-m", "nbgrader", *args], cwd=course, env=env,
                          capture_output=True, text=True, timeout=1800)
    assert proc.returncode == 0, f"nbgrader {' '.join(args)} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    return proc


@pytest.fixture(scope="module")
def graded_course(tmp_path_factory):
    course = tmp_path_factory.mktemp("course")
    stage_course(course)
    for student in STUDENTS:
        nbgrader(course, "db", "student", "add", student)
    for name in assignments():
        nbgrader(course, "generate_assignment", name, "--force")
    for path in source_notebooks():
        release = course / "notebooks" / path.parent.name / path.name
        for student, kind in STUDENTS.items():
            dest = course / "submitted" / student / path.parent.name / path.name
            dest.parent.mkdir(parents=True, exist_ok=True)
            nb = solved(release, path) if kind == "solution" else nbformat.read(str(release), as_version=4)
            nbformat.write(nb, str(dest))
    for name in assignments():
        nbgrader(course, "autograde", name, "--force")
    return course


def test_model_submission_scores_full_marks_and_blank_scores_zero(graded_course):
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{graded_course / 'gradebook.db'}") as gb:
        for name in assignments():
            model = gb.find_submission(name, "model")
            blank = gb.find_submission(name, "blank")
            assert model.max_score > 0
            assert model.score == model.max_score, f"{name}: model submission scored {model.score}/{model.max_score}"
            assert blank.score == 0, f"{name}: untouched release scored {blank.score}"
            assert not model.needs_manual_grade and not blank.needs_manual_grade


def test_autograded_notebooks_keep_student_files(graded_course):
    for path in source_notebooks():
        for student in STUDENTS:
            assert (graded_course / "submitted" / student / path.parent.name / path.name).is_file()
            assert (graded_course / "autograded" / student / path.parent.name / path.name).is_file()
