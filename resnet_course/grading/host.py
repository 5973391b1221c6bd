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
import subprocess
import sys
import time
from pathlib import Path

import nbformat
from nbformat.v4 import new_output
from nbgrader.coursedir import CourseDirectory
from nbgrader.preprocessors import NbGraderPreprocessor
from traitlets import Unicode

from resnet_course import config
from resnet_course.grading.inert import make_inert

RESULTS_ENV = "RESNET_GRADING_RESULTS"  # the folder of <student>.json results nbgrader imports
PER_JOB_BYTES = 5 * 2**30  # what one student's grading may hold (sandbox 4 GB + judge)
OUTPUT_TYPES = ("stream", "display_data", "error")


def default_jobs() -> int:
    """As many students at a time as the machine holds: one per core, and the memory for each."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    try:
        available = next(
            int(line.split()[1]) * 1024 for line in open("/proc/meminfo") if line.startswith("MemAvailable:")
        )
    except (OSError, StopIteration):
        available = PER_JOB_BYTES
    return max(1, min(cores, available // PER_JOB_BYTES))


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
) -> dict[str, str]:
    """Grade ``students`` (``jobs`` at a time); ``{student: problem}`` for those whose grading failed."""
    results.mkdir(parents=True, exist_ok=True)
    waiting, running, problems, done = list(students), {}, {}, 0
    start = time.time()
    while waiting or running:
        while waiting and len(running) < jobs:
            student = waiting.pop(0)
            out = results / f"{student}.json"
            out.unlink(missing_ok=True)
            cmd = [
                sys.executable,
                "-m",
                "resnet_course.grading.grade_one",
                str(course / "submitted" / student),
                "--course",
                str(course),
                "--out",
                str(out),
            ] + [f"--assignment={a}" for a in assignments]
            cmd += ([] if sandboxed else ["--unsandboxed"]) + (extra or [])
            log = (results / f"{student}.log").open("wb")
            running[student] = (
                subprocess.Popen(
                    cmd, stdout=log, stderr=subprocess.STDOUT, env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
                ),
                time.time(),
                log,
            )
        time.sleep(0.2)
        for student, (proc, began, log) in list(running.items()):
            if proc.poll() is None:
                continue
            log.close()
            del running[student]
            done += 1
            summary = ""
            if proc.returncode != 0 or not (results / f"{student}.json").is_file():
                tail = (results / f"{student}.log").read_text(errors="replace")[-500:]
                problems[student] = f"its grading stopped (exit status {proc.returncode}): {tail.strip()}"
                summary = "FAILED (graded 0 where nothing ran)"
            else:
                data = json.loads((results / f"{student}.json").read_text())
                verdicts = [v for nb in data["notebooks"].values() for v in nb.get("verdicts", {}).values()]
                box = data.get("sandbox", {})
                summary = f"{sum(v['passed'] for v in verdicts)}/{len(verdicts)} graded cells pass"
                for what, flag in (
                    ("killed at the wall-time limit", "killed_at_wall_time"),
                    ("hit the memory limit", "memory_limit_hit"),
                ):
                    if box.get(flag):
                        summary += f"; its sandbox {what}"
            elapsed = time.time() - start
            eta = elapsed / done * (len(students) - done)
            print(
                f"[{done}/{len(students)}] {student}: {summary} ({time.time() - began:.1f} s); "
                f"elapsed {_fmt(elapsed)}, ETA {_fmt(eta)}",
                flush=True,
            )
    return problems


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


class ImportSandboxRun(NbGraderPreprocessor):
    """nbgrader's Execute replaced: outputs from the sandbox's run, graded cells from the judge's verdicts."""

    results = Unicode("", help="folder of <student>.json files written by resnet_course.grading.grade_one").tag(
        config=True
    )

    def preprocess(self, nb, resources):
        info = resources.get("nbgrader", {})
        student, assignment, notebook = info.get("student"), info.get("assignment"), info.get("notebook")
        path = Path(self.results or config.value(RESULTS_ENV)) / f"{student}.json"
        try:
            data = json.loads(path.read_text())
            run = data["notebooks"].get(f"{assignment}/{notebook}.ipynb", {})
        except (OSError, ValueError, KeyError, AttributeError):
            self.log.warning("no grading results for %s (%s): every graded cell gets 0", student, path)
            run = {}
        by_id = {}
        for cell in run.get("cells", []) if isinstance(run.get("cells"), list) else []:
            if isinstance(cell, dict) and isinstance(cell.get("id"), str):
                by_id.setdefault(cell["id"], cell.get("outputs"))
        verdicts = run.get("verdicts") if isinstance(run.get("verdicts"), dict) else {}
        for cell in nb.cells:
            if cell.cell_type != "code":
                continue
            meta = cell.metadata.get("nbgrader", {})
            cell.execution_count = None
            if meta.get("grade") and not meta.get("solution"):
                cell.outputs = verdict_outputs(verdicts.get(meta.get("grade_id")), str(meta.get("grade_id", "")))
            else:
                cell.outputs = _clean_outputs(by_id.get(cell.get("id")))
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
