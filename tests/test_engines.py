"""The Slurm engine's job script, without Slurm: each task grades its own line of the student list, quoted.

(tests/test_slurm.py runs the engine on a real one-node cluster.)"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from resnet_course.grading import engines, host


def test_each_task_runs_grade_one_for_its_student_with_its_uid(tmp_path, monkeypatch):
    course = tmp_path / "a course's $(folder)"
    results = course / "grading_results"
    (results / ".slurm").mkdir(parents=True)
    students = results / ".slurm" / "students.txt"
    students.write_text("alice\nbob o'neil; rm -rf $HOME\n")
    printer = tmp_path / "python"
    printer.write_text('#!/bin/sh\nprintf "[%s]\\n" "$@"\n')
    printer.chmod(0o755)
    monkeypatch.setattr(host.sys, "executable", str(printer))
    script = engines.Slurm().script(course, students, results, 1000, ["02_identity_block"], True, ["--x", "y z"])
    proc = subprocess.run(["bash", "-c", script], env={"SLURM_ARRAY_TASK_ID": "1", "PATH": "/usr/bin:/bin"})
    assert proc.returncode == 0
    args = (results / "bob o'neil; rm -rf $HOME.log").read_text().splitlines()
    assert args == [
        "[-m]",
        "[resnet_course.grading.grade_one]",
        f"[{course}/submitted/bob o'neil; rm -rf $HOME]",
        "[--course]",
        f"[{course}]",
        "[--out]",
        f"[{results}/bob o'neil; rm -rf $HOME.json]",
        "[--uid]",
        "[1002]",
        "[--assignment=02_identity_block]",
        "[--x]",
        "[y z]",
    ]
    assert (results / ".slurm" / "1.status").read_text() == "0\n"
    assert len((results / ".slurm" / "1.times").read_text().splitlines()) == 2


def test_a_missing_results_file_is_a_failure_never_a_pass(tmp_path):
    summary, problem = host.student_summary(tmp_path, "alice", 0)
    assert summary.startswith("FAILED") and "alice" not in summary and problem, (summary, problem)


def test_the_engines_by_name():
    assert engines.make("local", 3) == engines.Local(3)
    assert engines.make("slurm", mem_mb=100, cpus_per_task=None).mem_mb == 100
    with pytest.raises(ValueError):
        engines.make("kubernetes")


def test_a_placeholder_in_a_path_is_refused():
    with pytest.raises(ValueError):
        engines.grade_one_line(Path("/x/@STUDENT@"), Path("/r"), [])


def test_each_student_gets_its_share_of_the_cores_unless_the_instructor_chose(tmp_path, monkeypatch):
    for key in host.THREAD_VARIABLES:
        monkeypatch.delenv(key, raising=False)
    assert host.thread_env(2) == dict.fromkeys(host.THREAD_VARIABLES, "2")
    assert host.thread_env(0) == dict.fromkeys(host.THREAD_VARIABLES, "1")
    monkeypatch.setenv("OMP_NUM_THREADS", "4")
    assert "OMP_NUM_THREADS" not in host.thread_env(1)

    printer = tmp_path / "python"
    printer.write_text('#!/bin/sh\necho "$TF_NUM_INTRAOP_THREADS $OMP_NUM_THREADS"\n')
    printer.chmod(0o755)
    monkeypatch.setattr(host.sys, "executable", str(printer))
    results = tmp_path / "results"
    (results / ".slurm").mkdir(parents=True)
    (results / ".slurm" / "students.txt").write_text("alice\n")
    script = engines.Slurm(cpus_per_task=3).script(
        tmp_path, results / ".slurm" / "students.txt", results, 1000, ["02_identity_block"], True, None
    )
    env = {"SLURM_ARRAY_TASK_ID": "0", "PATH": "/usr/bin:/bin", "OMP_NUM_THREADS": "4"}
    assert subprocess.run(["bash", "-c", script], env=env).returncode == 0
    assert (results / "alice.log").read_text() == "3 4\n"
