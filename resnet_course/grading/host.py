"""The trusted host's side of ``make autograde``: grade students in parallel, then let nbgrader import the results.

``grade_class`` runs ``grade_one`` for every student, ``jobs`` at a time (one sandbox each), printing
progress with an ETA; a student whose grading fails is named, the others go on. nbgrader then runs
its usual ``autograde`` on the host with ``ImportSandboxRun`` in place of its Execute preprocessor
(see ``nbgrader_config.py``): it writes the sandbox's outputs into the ordinary cells and each graded
cell's output from the judge's verdict, so SaveAutoGrades, feedback and export work unchanged and
only this process writes the gradebook. Scores, outputs or metadata the student's run wrote for
graded cells are never read.
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import subprocess
import sys
import time
from pathlib import Path

import nbformat
from nbformat.v4 import new_markdown_cell, new_output
from nbgrader.coursedir import CourseDirectory
from nbgrader.preprocessors import NbGraderPreprocessor
from traitlets import Unicode

from resnet_course import config
from resnet_course.grading import records
from resnet_course.grading.inert import make_inert
from resnet_course.grading.intake import read_report

RESULTS_ENV = "RESNET_GRADING_RESULTS"  # the folder of <student>.json results nbgrader imports
INTAKE_ENV = "RESNET_GRADING_INTAKE"  # the intake's clean copy: its <student>/intake.json go into the feedback
GRADE_ONE_SECONDS = 3 * 3600  # one student's grade_one, sandbox and judge: killed after this, reported
PER_JOB_BYTES = 7 * 2**30  # what one student's grading may hold (notebooks' sandbox 4 GB + judge's 3 GB)
OUTPUT_TYPES = ("stream", "display_data", "error")
DEFAULT_UIDS = (2_000_000_000, 100_000_000)
GRACE_SECONDS = 600  # a student's grade_one past its sandboxes' own limits is killed (a host-side step's limit)


def uid_block(students: int) -> int:
    """The first of ``2 * students`` uids for this run: a random block of ``RESNET_GRADING_UIDS`` (no uid of the
    machine's users), so that no two students, in this run or another, share a uid and its kernel objects."""
    text = config.value(config.GRADING_UIDS_ENV)
    first, count = (int(x) for x in text.split(":")) if text else DEFAULT_UIDS
    blocks = max(1, count // max(2 * students, 1))
    return first + secrets.randbelow(blocks) * 2 * students


def load_results(path: Path) -> records.StudentResults:
    """A results file of ``grade_one``, validated (``records.RecordError`` or ``OSError`` otherwise)."""
    if path.is_symlink():
        raise OSError(f"{path} is a symbolic link")
    return records.parse(records.StudentResults, json.loads(path.read_text()))


def default_jobs() -> int:
    """As many students at a time as the machine holds: one per core, and the memory for each."""
    cores = _cores()
    try:
        available = next(
            int(line.split()[1]) * 1024 for line in open("/proc/meminfo") if line.startswith("MemAvailable:")
        )
    except (OSError, StopIteration):
        available = PER_JOB_BYTES
    return max(1, min(cores, available // PER_JOB_BYTES))


THREAD_VARIABLES = ("TF_NUM_INTRAOP_THREADS", "TF_NUM_INTEROP_THREADS", "OMP_NUM_THREADS")


def thread_env(threads: int) -> dict[str, str]:
    """TensorFlow's (and OpenMP's) thread counts for ``threads`` cores per student, where the instructor set none:
    with one student per core, each sandbox's and judge's default pools (one thread per core of the machine)
    would only contend (``python -m benchmarks.grading_speed --students 4``: 61 -> 57 core-seconds per
    student-course at ``--jobs 2``, Slurm 65 -> 52)."""
    return {key: str(max(1, threads)) for key in THREAD_VARIABLES if key not in os.environ}


def _cores() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def _fmt(seconds: float) -> str:
    seconds = int(seconds)
    return f"{seconds // 3600}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}"


def grade_class(
    course: Path,
    students: list[str],
    assignments: list[str],
    results: Path,
    jobs: int,
    sandboxed: bool = True,
    extra: list[str] | None = None,
    submissions: Path | None = None,
    timeout: float = GRADE_ONE_SECONDS,
) -> dict[str, str]:
    """Grade ``students`` (``jobs`` at a time) from ``submissions/<student>`` (default: ``course/submitted``;
    ``tools.grade autograde`` passes the intake's clean copy); ``{student: problem}`` for those whose grading
    failed or met a grader fault (the instructor must grade them again). A student's grading still running
    after ``timeout`` seconds (at most its sandboxes' wall-time limit and a grace period) is killed and named."""
    submissions = submissions or course / "submitted"
    timeout = min(timeout, wall_limit(extra) + GRACE_SECONDS)
    results.mkdir(parents=True, exist_ok=True)
    waiting, running, problems, done = list(students), {}, {}, 0
    first_uid = uid_block(len(students))
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", **thread_env(_cores() // max(1, jobs)))
    start = time.time()
    while waiting or running:
        while waiting and len(running) < jobs:
            student = waiting.pop(0)
            out = results / f"{student}.json"
            out.unlink(missing_ok=True)
            uid = first_uid + 2 * students.index(student)
            cmd = grade_one_command(course, student, out, uid, assignments, sandboxed, extra, submissions)
            log = (results / f"{student}.log").open("wb")
            running[student] = (
                subprocess.Popen(
                    cmd,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    env=env,
                    start_new_session=True,
                ),
                time.time(),
                log,
            )
        time.sleep(0.2)
        for student, (proc, began, log) in list(running.items()):
            killed = False
            if proc.poll() is None:
                if time.time() - began < timeout:
                    continue
                try:
                    os.killpg(proc.pid, signal.SIGKILL)  # its sandbox dies with it (--die-with-parent)
                except ProcessLookupError:
                    pass
                proc.wait()
                killed = True
            log.close()
            del running[student]
            done += 1
            if killed:
                (results / f"{student}.json").unlink(missing_ok=True)
                summary = "FAILED (killed at the time limit)"
                problems[student] = f"its grading did not finish in {timeout:g} s: killed (graded 0 where nothing ran)"
            else:
                summary, problem = student_summary(results, student, proc.returncode)
                if problem:
                    problems[student] = problem
            progress(done, len(students), student, summary, time.time() - began, start)
    return problems


def grade_one_command(
    course: Path,
    student: str,
    out: Path,
    uid: int | str,
    assignments: list[str],
    sandboxed: bool,
    extra: list[str] | None,
    submissions: Path | None = None,
) -> list[str]:
    """The command that grades one student (``grade_one``) from ``submissions/<student>`` (default: the course's
    ``submitted/``; ``tools.grade autograde`` gives the intake's clean copy), as every engine runs it."""
    folder = (submissions or course / "submitted") / student
    cmd = [sys.executable, "-m", "resnet_course.grading.grade_one", str(folder)]
    cmd += ["--course", str(course), "--out", str(out), "--uid", str(uid)] + [f"--assignment={a}" for a in assignments]
    return cmd + ([] if sandboxed else ["--unsandboxed"]) + list(extra or [])


def student_summary(results: Path, student: str, returncode: int | None, why: str = "") -> tuple[str, str]:
    """A graded student's summary line and its problem ('' when none) from ``grade_one``'s exit status and its
    validated results file; a missing or invalid file is a failure, never a pass."""
    log = results / f"{student}.log"
    try:
        data = load_results(results / f"{student}.json") if returncode in (0, 3) else None
    except (OSError, ValueError) as exc:
        data, problem = None, f"its results file is not valid ({str(exc)[:200]})"
    else:
        problem = why or f"its grading stopped (exit status {returncode})"
    if data is None:
        tail = log.read_text(errors="replace")[-500:] if log.is_file() else f"(no log {log})"
        return "FAILED (graded 0 where nothing ran)", f"{problem}: {tail.strip()}"
    verdicts = [v for nb in data.notebooks.values() for v in nb.verdicts.values()]
    summary, problem = f"{sum(v.passed for v in verdicts)}/{len(verdicts)} graded cells pass", ""
    if data.faults:
        problem = "GRADER FAULT, grade again: " + "; ".join(data.faults)[:400]
        summary += f"; {len(data.faults)} grader fault(s)"
    for what, flag in (
        ("killed at the wall-time limit", "killed_at_wall_time"),
        ("hit the memory limit", "memory_limit_hit"),
    ):
        if data.sandbox.get(flag):
            summary += f"; its sandbox {what}"
    return summary, problem


def progress(done: int, total: int, student: str, summary: str, seconds: float, start: float) -> None:
    elapsed = time.time() - start
    eta = elapsed / done * (total - done)
    print(
        f"[{done}/{total}] {student}: {summary} ({seconds:.1f} s); elapsed {_fmt(elapsed)}, ETA {_fmt(eta)}",
        flush=True,
    )


def wall_limit(extra: list[str] | None) -> float:
    from resnet_course.grading.sandbox import Limits

    args = list(extra or [])
    if "--wall-seconds" in args:
        return float(args[args.index("--wall-seconds") + 1])
    return Limits.wall_seconds


# --------------------------------------------------------------------------- nbgrader import
def _clean_outputs(outputs) -> list:
    """The sandbox's outputs of an ordinary cell, reduced to plain text and PNG (shown as feedback only)."""
    clean = []
    for out in outputs if isinstance(outputs, list) else []:
        if not isinstance(out, dict) or out.get("output_type") not in OUTPUT_TYPES:
            continue
        kind = out["output_type"]
        if kind == "stream":
            clean.append(
                new_output(
                    "stream",
                    name="stdout" if out.get("name") != "stderr" else "stderr",
                    text=str(out.get("text", ""))[:200_000],
                )
            )
        elif kind == "display_data":
            data = {
                k: str(v)[:2_000_000]
                for k, v in dict(out.get("data") or {}).items()
                if k in ("text/plain", "image/png")
            }
            if data:
                clean.append(new_output("display_data", data=data))
        else:
            clean.append(
                new_output(
                    "error",
                    ename=str(out.get("ename", "Error"))[:100],
                    evalue=str(out.get("evalue", ""))[:2000],
                    traceback=[str(t)[:5000] for t in list(out.get("traceback") or [])[:5]],
                )
            )
    return clean


def verdict_outputs(verdict: dict | None, grade_id: str) -> list:
    """A graded cell's outputs from the judge's verdict: what the checks printed, and the failure as an error."""
    if not isinstance(verdict, dict):
        message = (
            f"{grade_id[: -len('_tests')] if grade_id.endswith('_tests') else grade_id}: this cell was not "
            "graded (the grader has no verdict for it)\n    hint:     show this message to the course staff"
        )
        verdict = {"passed": False, "output": "", "message": message}
    outputs = []
    if verdict.get("output"):
        outputs.append(new_output("stream", name="stdout", text=str(verdict["output"])))
    if not verdict.get("passed"):
        message = str(verdict.get("message") or "the checks failed")
        outputs.append(
            new_output("error", ename="CheckFailure", evalue=message, traceback=[f"AssertionError: {message}"])
        )
    return outputs


def _markdown_text(text: str) -> str:
    """Plain text in markdown: every ASCII punctuation character escaped, so a file name is never markup."""
    return "".join("\\" + ch if ch in "!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~" else ch for ch in text)


def intake_notice(report: dict, assignment) -> str:
    """A markdown cell for the top of the student's notebook: what the grader refused to read, and why."""
    lines = [item for key in (assignment, "") for item in report.get(key, []) if isinstance(item, dict)]
    if not lines:
        return ""
    items = "\n".join(
        f"- {_markdown_text(repr(str(i.get('path', ''))))}: {_markdown_text(str(i.get('reason', '')))}"
        for i in lines[:50]
    )
    return (
        "**The grader did not read these files of your submission** (only regular files with a simple name are "
        "graded; links, pipes, sockets, devices and files that are too large are refused):\n\n" + items
    )


class ImportSandboxRun(NbGraderPreprocessor):
    """nbgrader's Execute replaced: outputs from the sandbox's run, graded cells from the judge's verdicts."""

    results = Unicode("", help="folder of <student>.json files written by resnet_course.grading.grade_one").tag(
        config=True
    )

    intake = Unicode("", help="the intake's clean copy (grading_intake/): its refusals are shown in the notebook").tag(
        config=True
    )

    def preprocess(self, nb, resources):
        info = resources.get("nbgrader", {})
        student, assignment, notebook = info.get("student"), info.get("assignment"), info.get("notebook")
        notice = intake_notice(
            read_report(Path(self.intake or config.value(INTAKE_ENV) or "."), str(student)), assignment
        )
        if notice:
            nb.cells.insert(0, new_markdown_cell(notice))
        path = Path(self.results or config.value(RESULTS_ENV)) / f"{student}.json"
        notices: list[str] = []
        try:
            data = load_results(path)
            run = data.notebooks.get(f"{assignment}/{notebook}.ipynb", records.NotebookResult())
            if run.error:
                notices.append(f"{notebook}.ipynb: {run.error}")
        except (OSError, ValueError) as exc:
            self.log.warning("no grading results for %s (%s: %s): every graded cell gets 0", student, path, exc)
            run = records.NotebookResult()
        by_id = {}
        for cell in run.cells:
            if isinstance(cell.id, str):
                by_id.setdefault(cell.id, cell.outputs)
        first = True
        for cell in nb.cells:
            if cell.cell_type != "code":
                continue
            meta = cell.metadata.get("nbgrader", {})
            cell.execution_count = None
            if meta.get("grade") and not meta.get("solution"):
                verdict = run.verdicts.get(meta.get("grade_id"))
                cell.outputs = verdict_outputs(
                    records.dump(verdict) if verdict else None, str(meta.get("grade_id", ""))
                )
            else:
                cell.outputs = _clean_outputs(by_id.get(cell.get("id")))
            if first and notices:  # a notebook the grader could not read: said where the student reads first
                text = "".join(f"grader: {line}\n" for line in notices)
                cell.outputs.insert(0, new_output("stream", name="stdout", text=text))
            first = False
        # Last: nothing of the student's markdown, raw cells, attachments, outputs or metadata can run
        # where the autograded notebook is shown (formgrader, feedback); see resnet_course/grading/inert.py.
        coursedir = CourseDirectory(config=self.config)
        release = Path(coursedir.format_path(coursedir.release_directory, ".", str(assignment))) / f"{notebook}.ipynb"
        try:
            release_nb = nbformat.read(str(release), as_version=4)
        except (OSError, ValueError, TypeError):
            release_nb = None  # the submission's own kernelspec and language_info, checked
        make_inert(nb, release_nb)
        return nb, resources


class RefuseInKernelGrading(NbGraderPreprocessor):
    """nbgrader's own autograde, outside ``make autograde``: refused (it would grade inside the student's kernel)."""

    def preprocess(self, nb, resources):
        raise RuntimeError(
            "this course grades only through `make autograde` (python -m tools.grade autograde): the students' "
            "notebooks run in sandboxes and a judge outside them decides the scores (docs/grading.md); a plain "
            "`nbgrader autograde` would run the hidden tests inside the student's own kernel"
        )
