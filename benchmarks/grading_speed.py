"""Where a student's grading time goes, sandbox included, and students per hour at 1 and N jobs.

    python -m benchmarks.grading_speed [--assignments A ...] [--students 2] [--jobs 1 2] [--engine local slurm]

Builds a temporary course as tests/test_nbgrader_roundtrip.py does (release, then the model submission:
the release answered with the reference solutions), copies the model submission to ``--students``
students, and runs the real ``python -m tools.grade autograde --jobs J`` for each J (engine ``local``) and
``--engine slurm`` on a one-node Slurm cluster started for it (tools/slurm_cluster.py; root, Debian's slurm-wlm
and munge). Prints, per run: the seconds per student (from each student's results file), students per hour,
core-seconds per student-course (from a cgroup v1 ``cpuacct`` group holding the run, and for Slurm its
daemons, where this machine has one and the benchmark runs as root; else from the waited-for children's rusage,
for Slurm each task's ``times``, which misses processes killed before their parent waited for them), and, for
the first student, the split: the
notebooks' cells in the sandbox (per notebook), the judge's checks (per exercise), the sandbox's peak memory;
then one line per run side by side. Quiet machines only: the numbers are what this machine did while it ran.
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


def task_seconds(work: Path) -> float:
    """The CPU seconds the Slurm tasks' shells counted for their children (``times``' second line)."""
    total = 0.0
    for path in work.glob("*.times"):
        lines = path.read_text().split("\n")
        for part in (lines[1] if len(lines) > 1 else "").split():
            minutes, _, seconds = part.rstrip("s").partition("m")
            total += float(minutes or 0) * 60 + float(seconds or 0)
    return total


CPUACCT = Path("/sys/fs/cgroup/cpuacct")


class CpuGroup:
    """A cgroup v1 cpuacct group: every process moved in, and their descendants, counted (None without one)."""

    def __init__(self, pids=()):
        self.path = CPUACCT / f"resnet-grading-speed-{os.getpid()}"
        self.path.mkdir()
        self.moved = list(pids)
        for pid in self.moved:
            self.add(pid)

    @classmethod
    def make(cls, pids=()):
        try:
            return cls(pids) if os.geteuid() == 0 and (CPUACCT / "cpuacct.usage").exists() else None
        except OSError:
            return None

    def add(self, pid: int) -> None:
        (self.path / "cgroup.procs").write_text(str(pid))

    def seconds(self) -> float:
        return int((self.path / "cpuacct.usage").read_text()) / 1e9

    def close(self) -> None:
        for pid in self.moved:  # the daemons that outlive the run go back
            try:
                (CPUACCT / "cgroup.procs").write_text(str(pid))
            except OSError:
                pass
        for _ in range(50):
            try:
                self.path.rmdir()
                return
            except OSError:
                time.sleep(0.1)


def run(root: Path, jobs: int, engine: str = "local", extra_env: dict | None = None, daemons=()) -> dict:
    from tools.notebooks import ROOT
    from tools.release import nbgrader_env

    env = nbgrader_env()
    env.pop("RESNET_COURSE_FAST", None)
    env.update(extra_env or {})
    shutil.rmtree(root / "grading_results", ignore_errors=True)
    group = CpuGroup.make(daemons)
    start = time.time()
    used = resource.getrusage(resource.RUSAGE_CHILDREN)
    proc = subprocess.run(
        [sys.executable, "-m", "tools.grade", "--course", str(root), "autograde"]
        + (["--engine", "slurm"] if engine == "slurm" else ["--jobs", str(jobs)]),
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        preexec_fn=(lambda: group.add(0)) if group else None,  # the autograde moves itself in before it starts
    )
    total = time.time() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)  # every waited-for descendant: grade_one, both sandboxes
    cpu = (after.ru_utime + after.ru_stime) - (used.ru_utime + used.ru_stime)
    cpu += task_seconds(root / "grading_results" / ".slurm") if engine == "slurm" else 0.0
    how = "rusage"
    if group:
        cpu, how = group.seconds(), "cpuacct"
        group.close()
    results = {p.stem: json.loads(p.read_text()) for p in sorted((root / "grading_results").glob("*.json"))}
    return {
        "label": "slurm" if engine == "slurm" else f"--jobs {jobs}",
        "jobs": jobs,
        "total": total,
        "cpu": cpu,
        "cpu_how": how,
        "results": results,
        "status": proc.returncode,
        "text": proc.stdout[-3000:],
    }


def summarise(run_: dict) -> str:
    results = run_["results"]
    per_student = [r["seconds"] for r in results.values()]
    lines = [
        f"{run_['label']}: {len(results)} students in {run_['total']:.0f} s "
        f"(import by nbgrader included) = {3600 * len(results) / run_['total']:.0f} students per hour, "
        f"{run_['cpu'] / max(len(results), 1):.0f} core-seconds per student-course ({run_['cpu_how']}); "
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
            + f"; the judge's peak memory (its own sandbox) {first.get('judge_peak_memory_bytes', 0) / 2**20:.0f} MB"
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


def measured(result: dict) -> dict:
    print(summarise(result), flush=True)
    if result["status"] not in (0, 1):
        print(result["text"])
    return result


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--assignments", nargs="*", default=[], help="default: the whole course")
    parser.add_argument("--students", type=int, default=2)
    parser.add_argument("--jobs", type=int, nargs="+", default=[1, 2], help="the local engine's --jobs")
    parser.add_argument("--engine", nargs="+", choices=("local", "slurm"), default=["local"])
    args = parser.parse_args(argv)
    os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")
    runs = []
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "course"
        root.mkdir()
        build_course(root, args.assignments, args.students)
        for engine in args.engine:
            if engine == "local":
                runs += [measured(run(root, jobs)) for jobs in args.jobs]
                continue
            from tools import slurm_cluster

            why = slurm_cluster.unavailable()
            if why:
                print(f"slurm: not measured ({why})")
                continue
            with slurm_cluster.Cluster(Path(tmp) / "cluster") as cluster:
                daemons = [p.pid for p in cluster.procs] + [cluster.munged_pid]  # their work is the engine's cost
                runs.append(measured(run(root, 0, "slurm", {"SLURM_CONF": cluster.env["SLURM_CONF"]}, daemons)))
    print("side by side:")
    for r in runs:
        n = max(len(r["results"]), 1)
        print(
            f"  {r['label']:>9}: {3600 * len(r['results']) / r['total']:6.0f} students per hour, "
            f"{r['cpu'] / n:6.0f} core-seconds per student-course ({r['cpu_how']})"
        )
    print(f"load average (1, 5, 15 min) at the end: {os.getloadavg()}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
