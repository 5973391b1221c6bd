"""Grade one student's submission of one assignment: a submission folder in, a results file out.

    python -m resnet_course.grading.grade_one submitted/<student> [--assignment A ...] --course COURSE --out R.json

``submitted/<student>/<A>/`` holds the student's notebooks of assignment ``A`` (default: every assignment
folder there); ``COURSE`` is the course folder (its ``notebooks/<A>/`` release names the graded cells; its
``nbgrader_config.py`` gives the cell time limits). The notebooks are copied into a private scratch
folder and run in ONE sandbox (one Python, so TensorFlow starts once per student); the judge
(``judge``) checks every exercise from this process. The results file holds, per notebook, each cell's outputs from the sandbox (untrusted, shown
as feedback only) and each graded cell's verdict from the judge, plus what the sandbox did (exit,
seconds, peak memory, limits hit) and the judge's peak memory. ``tools.grade autograde`` writes them into nbgrader's gradebook.
``--unsandboxed`` runs the notebooks as a plain child process (same judge; no isolation): the results
file and the output say so.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import sys
import tempfile
import threading
import time
from pathlib import Path

from resnet_course.grading import judge as judging
from resnet_course.grading import sandbox
from resnet_course.grading.paths import CODE_ROOT

SOLUTION_TIMEOUT_DEFAULT = 600
EXPERIMENT_TAG = "experiment"  # a cell the score does not depend on (training runs, plots): not run while grading


def nbgrader_meta(cell) -> dict:
    return (cell.get("metadata") or {}).get("nbgrader") or {}


def graded_exercises(release_nb: Path) -> list[tuple[str, str]]:
    """``[(grade_id, exercise)]`` of the graded code cells of a release notebook (``<exercise>_tests``)."""
    nb = json.loads(release_nb.read_text())
    out = []
    for cell in nb["cells"]:
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


def job_cells(nb: dict, timeout) -> list[dict]:
    cells = []
    for index, cell in enumerate(nb.get("cells", [])):
        if cell.get("cell_type") != "code":
            continue
        meta = nbgrader_meta(cell)
        source = cell.get("source", "")
        source = "".join(source) if isinstance(source, list) else str(source)
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
            }
        )
    return cells


def grade(
    student: Path,
    assignments: list[str],
    course: Path,
    limits: sandbox.Limits | None = None,
    sandboxed: bool = True,
    call_timeout: float = 300.0,
    run_experiments: bool = False,
    uniform_timeout: float | None = None,
) -> dict:
    """Run a student's submissions of ``assignments`` (``student/<assignment>/*.ipynb``) in one sandbox and judge
    every graded cell; the results (see the module doc), notebooks keyed ``<assignment>/<notebook file>``."""
    limits = limits or sandbox.Limits()
    start = time.time()
    # Reading nbgrader_config.py imports nbgrader (seconds): ``tools.grade autograde`` reads it once for the class.
    timeout = (lambda cell: uniform_timeout) if uniform_timeout else cell_timeout(course)[0]
    results = {"student": student.name, "sandboxed": sandboxed, "notebooks": {}}
    scratch = Path(tempfile.mkdtemp(prefix="resnet-grading-"))
    try:
        (scratch / "submission").mkdir()
        job = {
            "scratch": "/scratch" if sandboxed else str(scratch),
            "output_cap": 100_000,
            "run_experiments": run_experiments,
            "notebooks": [],
        }
        plan = {}
        for assignment in assignments:
            release = course / "notebooks" / assignment
            for path in sorted((student / assignment).glob("*.ipynb")):
                key = f"{assignment}/{path.name}"
                if not (release / path.name).is_file() or path.is_symlink():
                    continue
                try:
                    nb = json.loads(path.read_text())
                    cells = job_cells(nb, timeout)
                except Exception as exc:  # noqa: BLE001 - an unreadable notebook is reported, not run
                    results["notebooks"][key] = {"error": f"not a readable notebook ({type(exc).__name__})"}
                    continue
                (scratch / "submission" / assignment).mkdir(exist_ok=True)
                shutil.copyfile(path, scratch / "submission" / key)
                exercises = graded_exercises(release / path.name)
                plan[key] = exercises
                job["notebooks"].append({"file": key, "cells": cells, "exercises": [e for _, e in exercises]})
        (scratch / "job.json").write_text(json.dumps(job))
        results["sandbox"] = run_and_judge(scratch, job, plan, limits, sandboxed, call_timeout, results)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    results["seconds"] = round(time.time() - start, 1)
    results["judge_peak_memory_bytes"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    return results


def run_and_judge(
    scratch: Path, job: dict, plan: dict, limits, sandboxed: bool, call_timeout: float, results: dict
) -> dict:
    req_r, req_w = os.pipe()
    resp_r, resp_w = os.pipe()
    inside = job["scratch"]
    python = sys.executable
    argv = [python, "-m", "resnet_course.grading.server", f"{inside}/job.json", str(req_r), str(resp_w)]
    run = sandbox.start(scratch, argv, limits, pass_fds=(req_r, resp_w), sandboxed=sandboxed)
    os.close(req_r)
    os.close(resp_w)
    requests = os.fdopen(req_w, "wb", buffering=0)
    responses = os.fdopen(resp_r, "rb", buffering=0)
    channel = judging.Channel(requests, responses, scratch, inside)
    warming = threading.Thread(target=judging.warm_up, daemon=True)
    warming.start()
    try:
        channel.read(limits.wall_seconds + 5)  # the notebooks ran
    except judging.SandboxGone as exc:
        channel.dead = f"the notebooks did not finish running: {exc}"
    warming.join()
    for name, exercises in plan.items():
        verdicts = {grade_id: judging.judge(channel, name, exercise, call_timeout) for grade_id, exercise in exercises}
        results["notebooks"].setdefault(name, {})["verdicts"] = verdicts
    try:
        requests.write(b'{"quit": true}\n')
        requests.close()
    except OSError:
        pass
    try:
        run.process.wait(timeout=10)
    except Exception:  # noqa: BLE001
        pass
    report = run.finish()
    for name in plan:
        path = scratch / "run" / f"{name.replace('/', '__')}.json"
        try:
            if path.is_symlink() or path.stat().st_size > 50 << 20:
                raise ValueError("not a plain file of reasonable size")
            results["notebooks"][name]["cells"] = json.loads(path.read_text())["cells"]
        except Exception:  # noqa: BLE001 - no outputs from a sandbox that died
            results["notebooks"][name]["cells"] = []
    responses.close()
    return report


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
    args = parser.parse_args(argv)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")  # the judge's TensorFlow: no start-up logs on stderr
    if not args.unsandboxed:
        try:
            sandbox.check_available()
        except sandbox.SandboxUnavailable as exc:
            raise SystemExit(f"cannot grade in a sandbox: {exc}") from None
    limits = sandbox.Limits(wall_seconds=args.wall_seconds, memory_bytes=args.memory_mb * 2**20)
    student = args.student.resolve()
    names = args.assignment or sorted(p.name for p in student.iterdir() if p.is_dir())
    results = grade(
        student,
        names,
        args.course.resolve(),
        limits,
        sandboxed=not args.unsandboxed,
        run_experiments=args.run_experiments,
        uniform_timeout=args.cell_timeout,
    )
    args.out.write_text(json.dumps(results, indent=1))
    if args.unsandboxed:
        print("UNSANDBOXED: the student's code ran with your rights (--unsandboxed)")
    passed = sum(v["passed"] for nb in results["notebooks"].values() for v in nb.get("verdicts", {}).values())
    total = sum(len(nb.get("verdicts", {})) for nb in results["notebooks"].values())
    print(f"{student.name}: {passed}/{total} graded cells pass, {results['seconds']:.1f} s -> {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
