"""``tools.grade autograde --engine slurm`` on a one-node Slurm cluster gives the gradebook of the local engine.

The cluster is Debian's slurm-wlm and munge (installed by ``make slurm``, which ``make test`` runs; this test
installs nothing), started by tools/slurm_cluster.py in a temporary folder and stopped at the end. A small
course (the identity block) with three students: the model submission, the untouched release and the
``reads_solutions`` attack, graded by the real ``python -m tools.grade autograde`` with ``--jobs 2`` and then
with ``--engine slurm``; every graded cell's score must be the same. Then a task that fails and one cancelled at
the host's deadline are named, with no results file scored.
"""

from __future__ import annotations

import os

import nbformat
import pytest

from resnet_course.catalogue.adversarial import ADVERSARIES
from resnet_course.grading import engines, sandbox
from tests.needs_sandbox import grade_step
from tools import grade, slurm_cluster
from tools.notebooks import exercises, source_notebooks
from tools.release import stage_course

try:
    sandbox.check_available()
    WHY = slurm_cluster.unavailable()
except sandbox.SandboxUnavailable as exc:
    WHY = f"no sandbox here: {exc}"

pytestmark = pytest.mark.skipif(bool(WHY), reason=WHY)

ASSIGNMENT = "02_identity_block"
STUDENTS = ["model", "blank", "reads_solutions"]


def cell_scores(root) -> dict:
    """``{(student, notebook, graded cell): score}`` from the gradebook."""
    from nbgrader.api import Gradebook

    with Gradebook(grade.db_url(root)) as gb:
        return {
            (sub.student.id, nb.name, g.name): g.score
            for sub in gb.find_assignment(ASSIGNMENT).submissions
            for nb in sub.notebooks
            for g in nb.grades
        }


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    from tests.test_nbgrader_roundtrip import submission

    root = tmp_path_factory.mktemp("slurm_course")
    stage_course(root)

    def step(*args, extra_env=None):
        return grade_step(root, *args, env=extra_env, timeout=900)

    assert step("release")[0] == 0
    path = next(p for p in source_notebooks() if p.parent.name == ASSIGNMENT)
    exercise = exercises(path)[0]
    assert step("students", *STUDENTS)[0] == 0
    release = root / "notebooks" / ASSIGNMENT / path.name
    for student in STUDENTS:
        dest = root / "submitted" / student / ASSIGNMENT / path.name
        dest.parent.mkdir(parents=True)
        if student == "blank":
            nbformat.write(nbformat.read(str(release), as_version=4), str(dest))
        else:
            adversary = next((a for a in ADVERSARIES if a.id == student), None)
            nbformat.write(submission(release, path, adversary, [exercise]), str(dest))
    cluster = slurm_cluster.Cluster(tmp_path_factory.mktemp("cluster"))
    try:
        cluster.start()
    except RuntimeError as exc:
        cluster.stop()
        pytest.skip(f"the one-node Slurm cluster did not start: {exc}")
    pids = [p.pid for p in cluster.procs] + [cluster.munged_pid]
    try:
        local = step("autograde", "--jobs", "2")
        out = {"root": root, "local": local, "local_scores": cell_scores(root)}
        out["slurm"] = step("autograde", "--engine", "slurm", extra_env={"SLURM_CONF": cluster.env["SLURM_CONF"]})
        out["slurm_scores"] = cell_scores(root)
        os.environ["SLURM_CONF"] = cluster.env["SLURM_CONF"]  # for the engine run in this process below
        results = root / "failing_results"
        wrong = ["--memory-mb", "not-a-number"]  # grade_one stops at once (exit status 2), writing nothing
        out["failing"] = engines.Slurm(poll_seconds=0.5).grade(root, ["model"], [ASSIGNMENT], results, extra=wrong)
        out["failing_files"] = sorted(p.name for p in results.glob("*.json"))
        late = engines.Slurm(poll_seconds=0.5, deadline_seconds=1)
        out["late"] = late.grade(root, ["model"], [ASSIGNMENT], root / "late_results")
        out["late_files"] = sorted(p.name for p in (root / "late_results").glob("*.json"))
    finally:
        os.environ.pop("SLURM_CONF", None)
        cluster.stop()
    out["alive"] = [pid for pid in pids if os.path.exists(f"/proc/{pid}") and _running(pid)]
    return out


def _running(pid: int) -> bool:
    try:
        return open(f"/proc/{pid}/stat").read().split(") ")[1][0] != "Z"
    except (OSError, IndexError):
        return False


def test_slurm_grades_as_the_local_engine(graded):
    status, text = graded["slurm"]
    assert "submitted Slurm job array" in text and "as one Slurm job array" in text, text[-3000:]
    assert graded["local_scores"], graded["local"][1][-3000:]
    assert graded["slurm_scores"] == graded["local_scores"], text[-3000:]
    assert status == graded["local"][0], (graded["local"][1][-2000:], text[-2000:])
    for student in STUDENTS:
        assert f"{student}: " in text and "graded cells pass" in text, text[-3000:]


def test_the_scores_are_right(graded):
    totals = {}
    for (student, _, _), score in graded["slurm_scores"].items():
        totals[student] = totals.get(student, 0) + score
    assert totals == {"model": 10, "blank": 0, "reads_solutions": 0}, totals


def test_a_failed_task_is_named_and_scores_nothing(graded):
    assert list(graded["failing"]) == ["model"] and "exit status 2" in graded["failing"]["model"], graded["failing"]
    assert graded["failing_files"] == []


def test_a_task_past_the_deadline_is_cancelled_and_named(graded):
    assert "deadline" in graded["late"].get("model", ""), graded["late"]
    assert graded["late_files"] == []


def test_the_daemons_are_stopped(graded):
    assert graded["alive"] == [], graded["alive"]
