"""Where a student's grading time goes, sandbox included, and students per hour at 1 and N jobs.

    python -m benchmarks.grading_speed [--assignments A ...] [--students 2] [--jobs 1 2]

Builds a temporary course as tests/test_nbgrader_roundtrip.py does (release, then the model submission:
the release answered with the reference solutions), copies the model submission to ``--students``
students, and runs the real ``python -m tools.grade autograde --jobs J`` for each J. Prints, per J: the
seconds per student (from each student's results file), students per hour, and, for the first student,
the split: the notebooks' cells in the sandbox (per notebook), the judge's checks (per exercise), the
sandbox's peak memory. Quiet machines only: the numbers are what this machine did while it ran.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import nbformat


def build_course(root: Path, names: list[str], students: int) -> None:
    from tools.notebooks import ROOT, solved, source_notebooks
    from tools.release import nbgrader_env, stage_course

    stage_course(root)
    env = nbgrader_env()
    for step in (["release"], ["students"] + [f"s{i}" for i in range(students)]):
        subprocess.run(
            [sys.executable, "-m", "tools.grade", "--course", str(root), *step],
            cwd=ROOT,
            env=env,
            check=True,
            capture_output=True,
        )
    for path in source_notebooks():
        if names and path.parent.name not in names:
            continue
        nb = solved(root / "notebooks" / path.parent.name / path.name, path)
        for i in range(students):
            dest = root / "submitted" / f"s{i}" / path.parent.name / path.name
            dest.parent.mkdir(parents=True, exist_ok=True)
            nbformat.write(nb, str(dest))


def run(root: Path, jobs: int) -> dict:
    from tools.notebooks import ROOT
    from tools.release import nbgrader_env

    env = nbgrader_env()
    env.pop("RESNET_COURSE_FAST", None)
    shutil.rmtree(root / "grading_results", ignore_errors=True)
    start = time.time()
    used = resource.getrusage(resource.RUSAGE_CHILDREN)
    proc = subprocess.run(
        [sys.executable, "-m", "tools.grade", "--course", str(root), "autograde", "--jobs", str(jobs)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
    )
    total = time.time() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)  # every waited-for descendant: grade_one, both sandboxes
    cpu = (after.ru_utime + after.ru_stime) - (used.ru_utime + used.ru_stime)
    results = {p.stem: json.loads(p.read_text()) for p in sorted((root / "grading_results").glob("*.json"))}
    return {
        "jobs": jobs,
        "total": total,
        "cpu": cpu,
        "results": results,
        "status": proc.returncode,
        "text": proc.stdout[-3000:],
    }


def summarise(run_: dict) -> str:
    results = run_["results"]
    per_student = [r["seconds"] for r in results.values()]
    lines = [
        f"--jobs {run_['jobs']}: {len(results)} students in {run_['total']:.0f} s "
        f"(import by nbgrader included) = {3600 * len(results) / run_['total']:.0f} students per hour, "
        f"{run_['cpu'] / max(len(results), 1):.0f} core-seconds per student-course; "
        f"seconds per student (grade_one) {', '.join(f'{s:.0f}' for s in per_student)}; graded cells passed "
        + ", ".join(
            f"{sum(v['passed'] for nb in r['notebooks'].values() for v in nb.get('verdicts', {}).values())}"
            f"/{sum(len(nb.get('verdicts', {})) for nb in r['notebooks'].values())}"
            for r in results.values()
        )
    ]
    first = next(iter(results.values()), None)
    if first:
        box = first.get("sandbox", {})
        lines.append(
            f"  first student: sandbox {box.get('seconds', 0):.0f} s, peak memory "
            f"{(box.get('peak_memory_bytes') or 0) / 2**20:.0f} MB"
            + ("; it hit the memory limit" if box.get("memory_limit_hit") else "")
            + f"; the judge (grade_one's own process) peak memory {first.get('judge_peak_memory_bytes', 0) / 2**20:.0f} MB"
        )
        slowest = sorted(
            (
                (c.get("seconds", 0), name, c.get("index"))
                for name, nb in first["notebooks"].items()
                for c in nb.get("cells", [])
            ),
            reverse=True,
        )[:5]
        lines.append("  slowest cells: " + ", ".join(f"{n.split('/')[0]} cell {i} {t:.1f} s" for t, n, i in slowest))
        for name, nb in first["notebooks"].items():
            cells = sum(c.get("seconds", 0) for c in nb.get("cells", []))
            checks = {k: v.get("seconds", 0) for k, v in nb.get("verdicts", {}).items()}
            lines.append(
                f"  {name}: cells {cells:.1f} s; checks " + ", ".join(f"{k} {v:.1f} s" for k, v in checks.items())
            )
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--assignments", nargs="*", default=[], help="default: the whole course")
    parser.add_argument("--students", type=int, default=2)
    parser.add_argument("--jobs", type=int, nargs="+", default=[1, 2])
    args = parser.parse_args(argv)
    os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        build_course(root, args.assignments, args.students)
        for jobs in args.jobs:
            result = run(root, jobs)
            print(summarise(result), flush=True)
            if result["status"] not in (0, 1):
                print(result["text"])
    print(f"load average (1, 5, 15 min) at the end: {os.getloadavg()}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
