"""The instructor's nbgrader workflow: one command per step.

Run from the repository root, which is the course folder (``nbgrader_config.py``,
``source/``, and the git-ignored ``gradebook.db``, ``submitted/``, ``autograded/``,
``feedback/``). ``--course DIR`` runs the same steps in another folder holding
``nbgrader_config.py`` and ``source/`` (the test suite uses a temporary one).

Usage::

    python -m tools.grade release                    # make assign: notebooks/ + gradebook.db
    python -m tools.grade students alice bob         # make students ADD="alice bob"
    python -m tools.grade students --roster r.csv    # make students ROSTER=r.csv (nbgrader's CSV: id,first_name,...)
    python -m tools.grade autograde [ASSIGNMENT ...] [--jobs N] [--unsandboxed] [--run-experiments]  # make autograde
    python -m tools.grade autograde --engine slurm [--mem MB] [--cpus-per-task C] [--partition P]  # ENGINE=slurm
    python -m tools.grade k8s-job [--image I] [--parallelism P] [--out job.yaml]  # a Kubernetes Indexed Job
    python -m tools.grade feedback [ASSIGNMENT ...]  # make feedback: feedback/<student>/<assignment>/*.html
    python -m tools.grade grades [--to grades.csv]   # make grades: every score as CSV

``autograde`` first reads ``submitted/`` as data into a clean copy, ``grading_intake/``
(``resnet_course.grading.intake``: links, FIFOs, devices, odd names and oversized files are
refused and printed), then checks the names of the notebooks there (nbgrader silently
skips a renamed one) and prints what to do about each problem; it then grades the
students in parallel (``--jobs N``; default: what the machine holds), each with
``python -m resnet_course.grading.grade_one``: the student's notebooks run in a sandbox
(bubblewrap; refused when it is missing, unless ``--unsandboxed``) in fast mode, without
the cells tagged ``experiment`` (training runs no score depends on; ``--run-experiments``) and the
unchanged free check cells (the judge runs their check), and a
trusted judge runs the checks outside it (docs/grading.md). One ``nbgrader autograde``
per assignment then imports the results into the gradebook on this host. It prints
progress with an ETA, the scores and the grading seconds per student, and exits with 1
when a submission needs the instructor's attention or a student's grading failed.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import re
import shlex
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import nbformat

from . import k8s
from .notebooks import ROOT
from .release import assignments, nbgrader_env, remove_answer_cells

FAILED = re.compile(r"There was an error processing assignment '([^']+)' for student '([^']+)'")


NBGRADER_SECONDS = 3 * 3600  # any nbgrader step: killed after this (a hung step is reported, never waited for)


def nbgrader(course: Path, *args: str, env: dict | None = None,
             timeout: float | None = NBGRADER_SECONDS) -> subprocess.CompletedProcess:
    """Run ``nbgrader <args>`` in ``course`` with the course's configuration, killed (with its children) after
    ``timeout`` seconds: then the return code is None and stderr says so."""
    proc = subprocess.Popen([sys.executable, "-m", "nbgrader", *args], cwd=course, env=env or nbgrader_env(),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        out, err = proc.communicate(timeout=timeout)
        return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)
    except subprocess.TimeoutExpired:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        out, err = proc.communicate()
        return subprocess.CompletedProcess(proc.args, None, out, f"{err}\nkilled: it did not finish in {timeout:g} s")


def shown(path) -> str:
    """A path for the instructor's eyes: as is when made of safe characters only, else quoted with repr."""
    return str(path) if re.fullmatch(r"[A-Za-z0-9._/<>-]+", str(path)) else repr(str(path))


def mv_hint(src: str, dest: str) -> str:
    """A ``mv`` command to paste into a shell: every name quoted (a file name is the student's, so it is data)."""
    return f"mv -- {shlex.quote(src)} {shlex.quote(dest)}"


def _require(proc: subprocess.CompletedProcess, what: str) -> None:
    if proc.returncode != 0:
        raise SystemExit(f"{what} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")


def db_url(course: Path) -> str:
    return f"sqlite:///{course / 'gradebook.db'}"


# --------------------------------------------------------------------------- steps
def release(course: Path) -> int:
    """Release every assignment to notebooks/ and record it (cells, points, checksums) in the gradebook."""
    for name in assignments(course / "source"):
        _require(nbgrader(course, "generate_assignment", name, "--force"), f"nbgrader generate_assignment {name}")
        remove_answer_cells(course / "notebooks" / name)        # the questions' answers are instructor material
        print(f"released {name} -> notebooks/{name}/")
    return 0


def students(course: Path, ids: list[str], roster: Path | None) -> int:
    """Add students to the gradebook, from ids or from a roster CSV, in one nbgrader call."""
    if roster is None and not ids:
        raise SystemExit("give student ids (students alice bob) or a roster (students --roster roster.csv)")
    with tempfile.TemporaryDirectory() as tmp:
        if roster is None:
            roster = Path(tmp) / "students.csv"
            with roster.open("w", newline="") as f:
                csv.writer(f).writerows([["id"]] + [[i] for i in ids])
        _require(nbgrader(course, "db", "student", "import", str(Path(roster).resolve())), "nbgrader db student import")
    print(f"gradebook: {len(_student_ids(course))} students")
    return 0


def check_submissions(course: Path, folder: str = "submitted") -> list[str]:
    """Problems with the names or the format of the submitted notebooks, each with what to do.

    ``folder`` is what is read: ``autograde`` passes the intake's clean copy (``grading_intake``); the messages
    and the commands they suggest name ``submitted/``, where the instructor fixes things."""
    problems = []
    known = set(assignments(course / "source"))
    read = course / folder
    for path in sorted(p for p in read.glob("*/*") if p.is_dir() and not p.is_symlink()):
        assignment = path.name
        rel = Path("submitted") / path.relative_to(read)
        if assignment not in known:
            problems.append(f"{shown(rel)}/: no assignment is called {assignment!r} ({', '.join(sorted(known))}); "
                            f"move the student's files to the right assignment folder")
            continue
        expected = sorted(p.name for p in (course / "source" / assignment).glob("*.ipynb"))
        found = sorted(p.name for p in path.glob("*.ipynb"))
        for name in found:
            try:
                nbformat.read(str(path / name), as_version=4)
            except Exception as exc:  # noqa: BLE001 - any reading error is reported the same way
                problems.append(f"{shown(rel / name)}: not a readable notebook ({type(exc).__name__}); nbgrader cannot "
                                "grade it; ask the student to submit the file again")
        for name in sorted(set(found) - set(expected)):
            missing = [e for e in expected if e not in found]
            if missing:
                problems.append(f"{shown(rel / name)}: not a notebook of {assignment} (it expects {', '.join(expected)}), "
                                f"so nbgrader skips it and {missing[0]} scores 0. If it is the student's work, rename "
                                f"it and grade again: {mv_hint(str(rel / name), str(rel / missing[0]))}")
            else:
                problems.append(f"{shown(rel / name)}: not a notebook of {assignment}; nbgrader grades "
                                f"{', '.join(expected)} and ignores this file")
    return problems


def refusal_problems(course: Path, report) -> list[str]:
    """The intake's refusals as problems for the instructor (names with repr; a rename hint for a notebook whose
    only fault is its name)."""
    problems = []
    for r in report.refusals:
        line = r.describe() + ("" if "nothing of it is graded" in r.reason else ": refused, not graded")
        expected = sorted(p.name for p in (course / "source" / (r.assignment or "-")).glob("*.ipynb"))
        if r.assignment and "name the grader does not accept" in r.reason and r.path.endswith(".ipynb") and expected:
            have = report.notebooks(r.student, r.assignment)
            missing = [e for e in expected if e not in have]
            if missing and r.path.count("/") == 1:
                rel = f"submitted/{r.student}/{r.path}"
                line += (f". If it is the student's notebook, rename it and grade again: "
                         f"{mv_hint(rel, f'submitted/{r.student}/{r.assignment}/{missing[0]}')}")
        problems.append(line)
    return problems


def autograde(course: Path, names: list[str] | None = None, env: dict | None = None, jobs: int | None = None,
              sandboxed: bool = True, run_experiments: bool = False, nbgrader_seconds: float = NBGRADER_SECONDS,
              engine=None) -> int:
    """Grade every submission of the given assignments (default: all that have submissions).

    Each student is graded by ``resnet_course.grading.grade_one`` (a sandbox for the notebooks, a trusted
    judge for the checks), ``jobs`` students at a time, or on ``engine`` (``resnet_course.grading.engines``:
    one Slurm job array); nbgrader then imports the results on this host.
    """
    from resnet_course.grading import engines, grade_one, host, sandbox
    from resnet_course.grading import intake as intake_mod

    if sandboxed:
        try:
            sandbox.check_available()
        except sandbox.SandboxUnavailable as exc:
            raise SystemExit(f"autograde refused: {exc}") from None
        print("sandbox guarantees on this machine:")
        for name, holds, how in sandbox.guarantees():
            print(f"  [{'yes' if holds else 'NO '}] {name} ({how})")
    else:
        print("UNSANDBOXED (--unsandboxed): the students' notebooks run with your rights, outside any sandbox; "
              "the checks still run outside the students' Python")
    report = intake_mod.intake(course)  # every submission read as data; grading reads only this clean copy
    clean = report.root
    problems = refusal_problems(course, report) + check_submissions(course, intake_mod.INTAKE_DIR)
    if problems:
        print(f"{len(problems)} submission problem(s) need your attention:")
        print("\n".join(f"  - {p}" for p in problems))
    known = assignments(course / "source")
    names = names or [a for a in known if any(clean.glob(f"*/{a}")) or any(r.assignment == a for r in report.refusals)]
    if not names:
        print("nothing to grade: put submissions at submitted/<student>/<assignment>/<notebook>.ipynb")
        return 1 if problems else 0
    people = sorted(s for s in report.students if any(report.notebooks(s, name) for name in names))
    # what a student submitted that nbgrader will not see (every notebook refused): 0, and the instructor is told
    refused = [(s, name) for s in report.students for name in names if not report.notebooks(s, name)
               and ((clean / s / name).is_dir() or any(r.assignment in (name, None) for r in report.refused(s)))]
    engine = engine or engines.Local(jobs or host.default_jobs())
    results = course / "grading_results"
    print(f"grading {len(people)} students, {engine.describe()}" + ("" if sandboxed else " (UNSANDBOXED)"))
    start = time.time()
    extra = ["--run-experiments"] if run_experiments else []
    _, uniform = grade_one.cell_timeout(course)  # read once here, not once per student
    extra += ["--cell-timeout", str(uniform)] if uniform else []
    if run_experiments:
        print("running the cells tagged 'experiment' too (--run-experiments): slower, no score depends on them")
    crashed = engine.grade(course, people, names, results, sandboxed, extra, submissions=clean)
    graded_in = time.time() - start
    failed, hung = [], []
    env = dict(env or nbgrader_env(), **{host.RESULTS_ENV: str(results), host.INTAKE_ENV: str(clean)})
    for name in names:
        if not any(report.notebooks(s, name) for s in report.students):
            continue  # nothing nbgrader could read (it would stop with "No notebooks were matched")
        proc = nbgrader(course, "autograde", name, "--force", f"--CourseDirectory.submitted_directory={intake_mod.INTAKE_DIR}",
                        env=env, timeout=nbgrader_seconds)
        failed += FAILED.findall(proc.stdout + proc.stderr)
        if proc.returncode is None:
            hung.append(f"nbgrader autograde {name} did not finish in {nbgrader_seconds:g} s: killed; "
                        "its students may have no score")
        elif proc.returncode != 0 and not FAILED.search(proc.stdout + proc.stderr):
            _require(proc, f"nbgrader autograde {name}")
    zero_refused(course, refused)
    for student, problem in crashed.items():
        print(f"  - {shown(student)}: {problem[:300]}")
    for line in hung:
        print(f"  - {line}")
    for student, assignment in sorted(refused):
        print(f"  - {shown(f'submitted/{student}/{assignment}')}/: no notebook of it could be read (see the refusals "
              "above): every cell scores 0")
    for assignment, student in failed:
        command = " ".join([f"{host.RESULTS_ENV}=grading_results", "nbgrader", "autograde", shlex.quote(assignment),
                            "--student", shlex.quote(student), "--force",
                            f"--CourseDirectory.submitted_directory={intake_mod.INTAKE_DIR}"])
        print(f"  - nbgrader could not grade {shown(f'submitted/{student}/{assignment}')}/ (see the messages above, or "
              f"run `{command}` in the course folder for nbgrader's log)")
    seconds = {}
    for student in people:
        try:
            seconds[student] = json.loads((results / f"{student}.json").read_text())["seconds"]
        except (OSError, ValueError, KeyError):
            seconds[student] = 0.0
    print(score_table(course, seconds))
    print(f"{len(people)} students in {graded_in:.0f} s, {engine.describe()} "
          f"({3600 * len(people) / max(graded_in, 1e-9):.0f} students per hour)" + ("" if sandboxed else "; UNSANDBOXED"))
    return 1 if problems or failed or crashed or hung or refused else 0


def zero_refused(course: Path, pairs: list[tuple[str, str]]) -> None:
    """Give 0 to every graded cell of the (student, assignment) pairs nbgrader could not see (all refused), as
    nbgrader does for a missing notebook, and remove what an earlier run autograded for them."""
    if not pairs:
        return
    import shutil
    import warnings

    from nbgrader.api import Gradebook
    from sqlalchemy.exc import SAWarning

    with Gradebook(db_url(course)) as gb, warnings.catch_warnings():
        warnings.simplefilter("ignore", SAWarning)  # nbgrader's own autoflush notes on a new submission
        for student, assignment in pairs:
            gb.update_or_create_student(student)
            submission = gb.update_or_create_submission(assignment, student)
            for notebook in submission.notebooks:
                for grade in notebook.grades:
                    grade.auto_score = 0
                    grade.needs_manual_grade = False
            gb.db.commit()
    for student, assignment in pairs:
        old = course / "autograded" / student / assignment
        if old.is_symlink():
            old.unlink()
        elif old.is_dir():
            shutil.rmtree(old)


def feedback(course: Path, names: list[str] | None = None) -> int:
    """Write HTML feedback for every autograded submission."""
    names = names or [a for a in assignments(course / "source") if any((course / "autograded").glob(f"*/{a}"))]
    for name in names:
        _require(nbgrader(course, "generate_feedback", name, "--force"), f"nbgrader generate_feedback {name}")
    pages = sorted((course / "feedback").glob("*/*/*.html"))
    print(f"{len(pages)} feedback pages in feedback/<student>/<assignment>/")
    return 0


def grades(course: Path, to: str = "grades.csv") -> int:
    """Export every score to a CSV file (nbgrader export) and print the table."""
    _require(nbgrader(course, "export", "--to", to), "nbgrader export")
    print(score_table(course))
    print(f"wrote {to}")
    return 0


# --------------------------------------------------------------------------- gradebook
def _student_ids(course: Path) -> list[str]:
    from nbgrader.api import Gradebook

    with Gradebook(db_url(course)) as gb:
        return sorted(s.id for s in gb.students)


def scores(course: Path) -> dict[tuple[str, str], tuple[float, float]]:
    """``{(student, assignment): (score, max_score)}`` for every submission in the gradebook."""
    from nbgrader.api import Gradebook

    out = {}
    with Gradebook(db_url(course)) as gb:
        for assignment in gb.assignments:
            for submission in assignment.submissions:
                out[(submission.student.id, assignment.name)] = (submission.score, submission.max_score)
    return out


def score_table(course: Path, seconds: dict | None = None) -> str:
    table = scores(course)
    names = sorted({a for _, a in table})
    people = sorted({s for s, _ in table})
    header = ["student"] + names + ["total"] + (["grading seconds"] if seconds else [])
    rows = [header]
    for student in people:
        cells = [table.get((student, a)) for a in names]
        total = (sum(c[0] for c in cells if c), sum(c[1] for c in cells if c))
        row = [student] + [f"{c[0]:g}/{c[1]:g}" if c else "-" for c in cells] + [f"{total[0]:g}/{total[1]:g}"]
        if seconds:
            row.append(f"{seconds.get(student, 0.0):.1f}")
        rows.append(row)
    widths = [max(len(r[i]) for r in rows) for i in range(len(header))]
    return "\n".join("  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip() for row in rows)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--course", type=Path, default=ROOT, help="course folder (default: the repository root)")
    sub = parser.add_subparsers(dest="step", required=True)
    sub.add_parser("release", help="release every assignment and record it in the gradebook")
    p = sub.add_parser("students", help="add students to the gradebook")
    p.add_argument("ids", nargs="*")
    p.add_argument("--roster", type=Path, help="CSV file with an 'id' column (nbgrader db student import)")
    for step in ("autograde", "feedback"):
        p = sub.add_parser(step)
        p.add_argument("assignments", nargs="*", help="default: every assignment with submissions")
    p = sub.choices["autograde"]
    p.add_argument("--jobs", type=int, default=None, help="students graded at a time (default: what the machine holds)")
    p.add_argument("--unsandboxed", action="store_true",
                   help="run the students' notebooks without the sandbox (when bubblewrap is missing; said in the output)")
    p.add_argument("--run-experiments", action="store_true",
                   help="also run the cells tagged 'experiment' (training runs and their plots; no score depends on them)")
    p.add_argument("--engine", choices=("local", "slurm"), default="local",
                   help="local: --jobs at a time on this machine; slurm: one Slurm job array, one task per student")
    p.add_argument("--mem", type=int, default=None, help="Slurm: MB per student (default: what one student needs)")
    p.add_argument("--cpus-per-task", type=int, default=None, help="Slurm: cores per student (default 1)")
    p.add_argument("--partition", default=None, help="Slurm: the partition (default: the cluster's default)")
    sub.add_parser("grades").add_argument("--to", default="grades.csv", help="CSV file, relative to the course")
    p = sub.add_parser("k8s-job", help="print (or write) a Kubernetes Indexed Job that grades every student")
    k8s.add_arguments(p)
    args = parser.parse_args(argv)
    course = args.course.resolve()
    if not (course / "nbgrader_config.py").is_file():
        raise SystemExit(f"{course} is not a course folder (no nbgrader_config.py)")
    if args.step == "release":
        return release(course)
    if args.step == "students":
        return students(course, args.ids, args.roster)
    if args.step == "autograde":
        from resnet_course.grading import engines

        engine = engines.make(args.engine, args.jobs, mem_mb=args.mem, cpus_per_task=args.cpus_per_task,
                              partition=args.partition)
        return autograde(course, args.assignments, sandboxed=not args.unsandboxed,
                         run_experiments=args.run_experiments, engine=engine)
    if args.step == "k8s-job":
        return k8s.main(course, args)
    if args.step == "feedback":
        return feedback(course, args.assignments)
    return grades(course, args.to)


if __name__ == "__main__":
    raise SystemExit(main())
