"""Grade one student's submission of one assignment: a submission folder in, a results file out.

    python -m resnet_course.grading.grade_one submitted/<student> [--assignment A ...] --course COURSE --out R.json

``submitted/<student>/<A>/`` holds the student's notebooks of assignment ``A`` (default: every assignment
folder there); ``COURSE`` is the course folder (its ``notebooks/<A>/`` release names the graded cells; its
``nbgrader_config.py`` gives the cell time limits). The notebooks are read as data (regular files, no
links followed, sizes bounded) and sent through a pipe into ONE sandbox, which writes them into a tmpfs of
its own and runs them (one Python, so TensorFlow starts once per student); the judge, in a second sandbox
with another unprivileged uid, checks every exercise by calling the student's functions through pipes.
This process only starts both, feeds them and reads the judge's result: it never opens a path either
sandbox can write. The results file (``records.StudentResults``) holds, per notebook, each cell's outputs
from the sandbox (untrusted, shown as feedback only) and each graded cell's verdict from the judge, plus
what both sandboxes did (exit, seconds, peak memory, limits hit) and any grader fault.
``--unsandboxed`` runs both as plain child processes (no isolation): the results file and the output say so.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import os
import shutil
import stat
import sys
import tempfile
import threading
import time
from pathlib import Path

from resnet_course.grading import records, sandbox, wire
from resnet_course.grading.paths import CODE_ROOT

NOTEBOOK_CAP = 20 << 20  # one submitted notebook's bytes
RESULT_CAP = 256 << 20  # the judge's result (every cell's outputs included)
# The judge's sandbox: it holds reference networks and decodes the student's replies (capped by ``wire``).
JUDGE_LIMITS = sandbox.Limits(memory_bytes=3 * 2**30)
SOLUTION_TIMEOUT_DEFAULT = 600
EXPERIMENT_TAG = "experiment"  # a cell the score does not depend on (training runs, plots): not run while grading
# A free check cell runs the graded cell's visible check on the student's function (test_utils.free_check); the
# judge runs that check again for the score, so an unchanged free check cell is not run while grading.
FREE_CHECK_PREFIX = "from test_utils import free_check\nwith free_check("


def nbgrader_meta(cell) -> dict:
    return (cell.get("metadata") or {}).get("nbgrader") or {}


def graded_exercises(release_nb: dict) -> list[tuple[str, str]]:
    """``[(grade_id, exercise)]`` of the graded code cells of a release notebook (``<exercise>_tests``)."""
    out = []
    for cell in release_nb["cells"]:
        meta = nbgrader_meta(cell)
        if cell["cell_type"] == "code" and meta.get("grade") and not meta.get("solution"):
            grade_id = meta.get("grade_id", "")
            if grade_id.endswith("_tests"):
                out.append((grade_id, grade_id[: -len("_tests")]))
    return out


def cell_timeout(course: Path):
    """The course's per-cell time limit (nbgrader's ``Execute.timeout`` / ``Execute.timeout_func``), as a function
    of the cell, and the one limit for every cell when there is no ``timeout_func`` (else None)."""
    from traitlets.config.loader import PyFileConfigLoader

    try:
        config = PyFileConfigLoader("nbgrader_config.py", path=str(course)).load_config()
    except Exception:  # noqa: BLE001 - no readable configuration: nbgrader's default
        return (lambda cell: SOLUTION_TIMEOUT_DEFAULT), SOLUTION_TIMEOUT_DEFAULT
    execute = config.get("Execute", {})
    func = execute.get("timeout_func") if "timeout_func" in execute else None
    default = execute.get("timeout", SOLUTION_TIMEOUT_DEFAULT) if "timeout" in execute else SOLUTION_TIMEOUT_DEFAULT
    if callable(func):
        return (lambda cell: func(cell) or default), None
    return (lambda cell: default), float(default)


def _source(cell: dict) -> str:
    source = cell.get("source", "")
    return "".join(source) if isinstance(source, list) else str(source)


def free_checks(release_nb: dict) -> dict[str, str]:
    """``{cell id: source}`` of the release notebook's free check cells (see ``FREE_CHECK_PREFIX``)."""
    return {
        cell["id"]: _source(cell)
        for cell in release_nb["cells"]
        if cell["cell_type"] == "code" and cell.get("id") and _source(cell).startswith(FREE_CHECK_PREFIX)
    }


def job_cells(nb: dict, timeout, skip: dict[str, str] | None = None) -> list[dict]:
    """The sandbox's cells of a submitted notebook. A cell whose id and source are those of one of ``skip``'s
    free check cells (the release's, ``free_checks``) is marked so; a free check the student changed is run."""
    skip, cells = skip or {}, []
    for index, cell in enumerate(nb.get("cells", [])):
        if cell.get("cell_type") != "code":
            continue
        meta = nbgrader_meta(cell)
        source = _source(cell)
        graded = bool(meta.get("grade")) and not meta.get("solution")
        grade_id = str(meta.get("grade_id", ""))
        cells.append(
            {
                "index": index,
                "id": cell.get("id"),
                "source": source,
                "graded": graded,
                "exercise": grade_id[: -len("_tests")] if graded and grade_id.endswith("_tests") else None,
                "timeout": float(timeout(cell)),
                "experiment": EXPERIMENT_TAG in ((cell.get("metadata") or {}).get("tags") or []),
                "free_check": not graded and isinstance(cell.get("id"), str) and skip.get(cell["id"]) == source,
            }
        )
    return cells


def read_submission(path: Path, cap: int = NOTEBOOK_CAP) -> str:
    """A submitted notebook's text, read as data: a regular file opened without following links, never a FIFO,
    a device or a link, and at most ``cap`` bytes (``ValueError`` with the reason otherwise)."""
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise ValueError("not a regular file")
        if info.st_size > cap:
            raise ValueError(f"larger than {cap // 2**20} MB")
        data = os.read(fd, cap + 1)
        if len(data) > cap:
            raise ValueError(f"larger than {cap // 2**20} MB")
        return data.decode("utf-8")
    finally:
        os.close(fd)


def plan_student(student: Path, assignments: list[str], course: Path, timeout, run_experiments: bool):
    """The sandbox's ``Job``, the judge's exercises and the notebooks that could not be read (with why)."""
    notebooks, exercises, errors = [], [], {}
    for assignment in assignments:
        release = course / "notebooks" / assignment
        folder = student / assignment
        if folder.is_symlink() or not folder.is_dir():
            continue
        for path in sorted(folder.glob("*.ipynb")):
            key = f"{assignment}/{path.name}"
            if not (release / path.name).is_file():
                continue
            release_nb = json.loads((release / path.name).read_text())  # the course's: read once, trusted
            try:
                text = read_submission(path)
                cells = [
                    records.parse(records.CellJob, c)
                    for c in job_cells(json.loads(text), timeout, free_checks(release_nb))
                ]
            except (OSError, ValueError, TypeError, KeyError, AttributeError, RecursionError) as exc:
                errors[key] = f"not a readable notebook ({type(exc).__name__}: {str(exc)[:200]})"
                continue
            found = graded_exercises(release_nb)
            exercises += [records.Exercise(notebook=key, grade_id=g, name=e) for g, e in found]
            notebooks.append(records.NotebookJob(file=key, text=text, cells=cells, exercises=[e for _, e in found]))
    job = records.Job(notebooks=notebooks, run_experiments=run_experiments)
    return job, exercises, errors


def grade(
    student: Path,
    assignments: list[str],
    course: Path,
    limits: sandbox.Limits | None = None,
    sandboxed: bool = True,
    call_timeout: float = 300.0,
    run_experiments: bool = False,
    uniform_timeout: float | None = None,
    judge_limits: sandbox.Limits | None = None,
) -> records.StudentResults:
    """Run a student's submissions of ``assignments`` (``student/<assignment>/*.ipynb``) in one sandbox, judge
    every graded cell in another; the results (see the module doc), notebooks keyed ``<assignment>/<file>``."""
    limits = limits or sandbox.Limits()
    limits = dataclasses.replace(limits, scratch_bytes=limits.scratch_bytes or sandbox.SCRATCH_BYTES)
    judge_limits = judge_limits or dataclasses.replace(JUDGE_LIMITS, uid=limits.uid + 1)
    start = time.time()
    # Reading nbgrader_config.py imports nbgrader (seconds): ``tools.grade autograde`` reads it once for the class.
    timeout = (lambda cell: uniform_timeout) if uniform_timeout else cell_timeout(course)[0]
    job, exercises, errors = plan_student(student, assignments, course, timeout, run_experiments)
    plan = records.JudgePlan(
        exercises=exercises,
        call_timeout=call_timeout,
        wall_seconds=limits.wall_seconds,
        notebooks=[nb.file for nb in job.notebooks],
    )
    result, report, faults = run_and_judge(job, plan, limits, judge_limits, sandboxed)
    notebooks = {key: records.NotebookResult(error=why) for key, why in errors.items()}
    runs = {run.file: run.cells for run in result.runs} if result else {}
    for nb in job.notebooks:
        verdicts = (result.verdicts.get(nb.file, {}) if result else {}) or {}
        if result is None:
            verdicts = {e.grade_id: _unjudged(e.name, faults[-1]) for e in exercises if e.notebook == nb.file}
        notebooks[nb.file] = records.NotebookResult(cells=runs.get(nb.file, []), verdicts=verdicts)
    faults += [
        f"{k}/{g}: {v.message.splitlines()[0][:200]}"
        for k, n in notebooks.items()
        for g, v in n.verdicts.items()
        if v.fault
    ]
    return records.StudentResults(
        student=student.name,
        sandboxed=sandboxed,
        notebooks=notebooks,
        sandbox=report,
        seconds=round(time.time() - start, 1),
        judge_peak_memory_bytes=(result.peak_memory_bytes if result else 0),
        faults=faults,
    )


def _unjudged(name: str, why: str) -> records.Verdict:
    from resnet_course.harness import failure

    message = failure(
        name,
        "the grader could not check your notebook",
        "a verdict of the grader",
        why,
        "nothing is wrong with your work because of this; your instructor grades it again",
    )
    return records.Verdict(passed=False, output="", message=str(message), fault=True)


def run_and_judge(job, plan, limits, judge_limits, sandboxed: bool):
    """Start the notebooks' sandbox and the judge's, connected by pipes; the judge's ``JudgeResult`` (or None),
    both sandboxes' reports, and the grader faults (the judge ended without a result)."""
    req_r, req_w = wire.pipe()  # judge -> notebooks
    resp_r, resp_w = wire.pipe()  # notebooks -> judge
    plan_r, plan_w = wire.pipe()  # grade_one -> judge
    result_r, result_w = wire.pipe()  # judge -> grade_one
    scratch = None if sandboxed else Path(tempfile.mkdtemp(prefix="resnet-grading-"))
    inside = "/scratch" if sandboxed else str(scratch)
    python = sys.executable
    server = [python, "-m", "resnet_course.grading.server", inside, str(req_r), str(resp_w)]
    judge = [python, "-m", "resnet_course.grading.judge", str(plan_r), str(req_w), str(resp_r), str(result_w)]
    faults: list[str] = []
    owned = {req_r, req_w, resp_r, resp_w, plan_r, plan_w, result_r, result_w}  # what this process must close
    box = referee = None
    try:
        box = sandbox.start(server, limits, pass_fds=(req_r, resp_w), sandboxed=sandboxed, cwd=scratch)
        referee = sandbox.start(
            judge, judge_limits, pass_fds=(plan_r, req_w, resp_r, result_w), sandboxed=sandboxed, cwd=scratch
        )
        for fd in (req_r, resp_w, plan_r, resp_r, result_w):  # the sandboxes hold their ends now
            os.close(fd)
            owned.discard(fd)
        feeders = [
            threading.Thread(target=_feed, args=(fd, kind, body), daemon=True)
            for fd, kind, body in ((req_w, "job", records.dump(job)), (plan_w, "plan", records.dump(plan)))
        ]
        owned -= {req_w, plan_w}  # the feeders close them
        for thread in feeders:
            thread.start()
        result = None
        try:
            deadline = limits.wall_seconds + len(plan.exercises) * (plan.call_timeout + 60) + 120
            frame = wire.Reader(result_r, blob_cap=0, header_cap=RESULT_CAP).read(deadline)
            result = records.parse(records.JudgeResult, frame.body)
        except (wire.WireError, records.RecordError, OSError) as exc:
            faults.append(f"the judge ended without a result ({exc})")
        for thread in feeders:
            thread.join(timeout=5)
        _wait(referee.process, 30)
        _wait(box.process, 10)
        report = box.finish()
        judge_report = referee.finish()
        if result is None and judge_report.get("memory_limit_hit"):
            faults[-1] += "; it reached its memory limit"
        report["judge"] = {
            k: judge_report[k] for k in ("exit_status", "seconds", "peak_memory_bytes", "memory_limit_hit")
        }
        box = referee = None
        return result, report, faults
    finally:
        for started in (box, referee):  # only when something above failed: nothing may outlive this student
            if started is not None:
                with contextlib.suppress(Exception):
                    started.finish()
        for fd in owned:
            with contextlib.suppress(OSError):
                os.close(fd)
        if scratch is not None:
            shutil.rmtree(scratch, ignore_errors=True)  # unsandboxed only: the instructor's own temporary folder


def _feed(fd: int, kind: str, body: dict) -> None:
    with contextlib.suppress(OSError):
        wire.send(fd, kind, body)
    with contextlib.suppress(OSError):
        os.close(fd)


def _wait(process, seconds: float) -> None:
    with contextlib.suppress(Exception):
        process.wait(timeout=seconds)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("student", type=Path, help="the student's submission folder (submitted/<student>/)")
    parser.add_argument(
        "--assignment",
        action="append",
        help="an assignment to grade (repeat; default: every assignment folder the student has)",
    )
    parser.add_argument("--course", type=Path, default=CODE_ROOT)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--unsandboxed", action="store_true", help="no sandbox (student code runs with your rights)")
    parser.add_argument(
        "--run-experiments",
        action="store_true",
        help=f"also run the cells tagged {EXPERIMENT_TAG!r} (training runs; no score depends on them)",
    )
    parser.add_argument(
        "--cell-timeout",
        type=float,
        default=None,
        help="each cell's time limit in seconds (default: the course's nbgrader_config.py)",
    )
    parser.add_argument("--wall-seconds", type=float, default=sandbox.Limits.wall_seconds)
    parser.add_argument("--memory-mb", type=int, default=sandbox.Limits.memory_bytes // 2**20)
    parser.add_argument(
        "--uid",
        type=int,
        default=sandbox.NOBODY,
        help="the notebooks' sandbox runs as this uid, the judge's as the next one (tools.grade gives each student its own)",
    )
    args = parser.parse_args(argv)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")  # the judge's TensorFlow: no start-up logs on stderr
    if not args.unsandboxed:
        try:
            sandbox.check_available()
        except sandbox.SandboxUnavailable as exc:
            raise SystemExit(f"cannot grade in a sandbox: {exc}") from None
    limits = sandbox.Limits(wall_seconds=args.wall_seconds, memory_bytes=args.memory_mb * 2**20, uid=args.uid)
    student = args.student.resolve()
    names = args.assignment or sorted(p.name for p in student.iterdir() if p.is_dir() and not p.is_symlink())
    results = grade(
        student,
        names,
        args.course.resolve(),
        limits,
        sandboxed=not args.unsandboxed,
        run_experiments=args.run_experiments,
        uniform_timeout=args.cell_timeout,
    )
    args.out.write_text(json.dumps(records.dump(results), indent=1))
    if args.unsandboxed:
        print("UNSANDBOXED: the student's code ran with your rights (--unsandboxed)")
    verdicts = [v for nb in results.notebooks.values() for v in nb.verdicts.values()]
    print(
        f"{student.name}: {sum(v.passed for v in verdicts)}/{len(verdicts)} graded cells pass, "
        f"{results.seconds:.1f} s -> {args.out}"
    )
    for fault in results.faults:
        print(f"GRADER FAULT: {fault}")
    return 3 if results.faults else 0


if __name__ == "__main__":
    raise SystemExit(main())
