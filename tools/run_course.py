"""Run the course headless: execute every solution notebook in order.

Writes the executed notebooks and a results table (notebook, seconds, key
metric) to ``build/course/<mode>/``, and the measured results to the one committed results
file of the mode, ``docs/results-<mode>.json`` (a run of some notebooks updates their
entries only); notebooks and docs point there instead of copying numbers. ``<mode>`` is ``full``, ``fast``
(``RESNET_COURSE_FAST=1``) or ``published`` (``RESNET_COURSE_PUBLISHED=1``: full mode with
notebook 7 at the published size). Each notebook reports its key metric with
``resnets_utils.report_metric``, which appends ``name = value`` to the file the runner names in
``RESNET_COURSE_METRICS`` (students see nothing). While a notebook runs, the runner shows its
name, the code cell and the time so far; training prints one line per epoch (``RESNET_COURSE_HEADLESS``,
see ``resnets_utils.fit_verbosity``).

Usage (from the repository root)::

    python -m tools.run_course                 # full mode, what students run
    RESNET_COURSE_FAST=1 python -m tools.run_course
    RESNET_COURSE_PUBLISHED=1 python -m tools.run_course 07_cifar10   # the published size (slow)
    python -m tools.run_course 04_resnet50     # only the notebooks whose path contains this
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import threading
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError, CellTimeoutError

from resnets_utils import HEADLESS_ENV, METRICS_ENV

from .notebooks import ROOT, SOURCE, source_notebooks


def key_metric(metrics_file: Path) -> str:
    """The last metric the notebook reported (``resnets_utils.report_metric`` appends ``name = value``)."""
    lines = metrics_file.read_text(encoding="utf-8").splitlines() if metrics_file.is_file() else []
    return lines[-1].strip() if lines else "-"


def metrics(metrics_file: Path) -> dict[str, float]:
    """Every metric the notebook reported, the last value of each name (markers may cite any of them)."""
    lines = metrics_file.read_text(encoding="utf-8").splitlines() if metrics_file.is_file() else []
    found = {}
    for line in lines:
        name, _, value = line.partition(" = ")
        try:
            found[name.strip()] = float(value)
        except ValueError:
            continue
    return found


def _clock(seconds: float) -> str:
    return f"{seconds:.0f} s" if seconds < 60 else f"{int(seconds // 60)} min {seconds % 60:02.0f} s"


LOG_CELLS_FROM = 5.0  # seconds: in a log, each code cell that ran this long gets a line


class Progress:
    """Where the run is: notebook, code cell, its first line, and the time so far.

    On a terminal one status line is redrawn every second, also while a long cell runs; in a log
    (not a terminal) each cell that took 5 s or more gets one line when it ends.
    """

    def __init__(self, label: str, code_cells: int, course_start: float, stream=None):
        self.label, self.code_cells, self.course_start = label, code_cells, course_start
        self.stream = stream or sys.stdout
        self.live = self.stream.isatty()
        self.start = time.time()
        self.done = 0
        self.cell_start = self.start
        self.what = ""
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._tick, daemon=True) if self.live else None

    def __enter__(self):
        if self._thread:
            self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        if self._thread:
            self._thread.join()
            self.stream.write("\r\x1b[K")
            self.stream.flush()

    def line(self) -> str:
        now = time.time()
        return (
            f"  {self.label}: cell {min(self.done + 1, self.code_cells)}/{self.code_cells} "
            f"({_clock(now - self.cell_start)}), notebook {_clock(now - self.start)}, "
            f"course {_clock(now - self.course_start)}  {self.what}"
        )

    def _tick(self):
        while not self._stop.wait(1.0):
            width = shutil.get_terminal_size((100, 20)).columns - 1
            self.stream.write("\r\x1b[K" + self.line()[:width])
            self.stream.flush()

    def cell_started(self, cell, cell_index, **kwargs):
        if cell.cell_type == "code":
            self.cell_start = time.time()
            first = next((ln.strip() for ln in cell.source.splitlines() if ln.strip() and not ln.startswith("#")), "")
            self.what = first[:60]

    def cell_completed(self, cell, cell_index, **kwargs):
        if cell.cell_type == "code":
            took = time.time() - self.cell_start
            if not self.live and took >= LOG_CELLS_FROM:
                self.stream.write(
                    f"  cell {self.done + 1}/{self.code_cells} took {_clock(took)} (notebook "
                    f"{_clock(time.time() - self.start)}, course {_clock(time.time() - self.course_start)}): "
                    f"{self.what}\n"
                )
                self.stream.flush()
            self.done += 1


def run_notebook(
    path: Path, out_path: Path, timeout: int, course_start: float | None = None
) -> tuple[float, str, str, dict[str, float]]:
    nb = nbformat.read(str(path), as_version=4)
    code_cells = sum(1 for c in nb.cells if c.cell_type == "code")
    start = time.time()
    metrics_file = out_path.with_suffix(".metrics")
    metrics_file.parent.mkdir(parents=True, exist_ok=True)
    metrics_file.unlink(missing_ok=True)
    saved = {k: os.environ.get(k) for k in (METRICS_ENV, HEADLESS_ENV)}
    os.environ[METRICS_ENV] = str(metrics_file)  # the kernel inherits these
    os.environ[HEADLESS_ENV] = "1"
    status = "ok"
    try:
        with Progress(path.parent.name, code_cells, course_start or start) as progress:
            client = NotebookClient(
                nb,
                timeout=timeout,
                kernel_name="python3",
                resources={"metadata": {"path": str(path.parent)}},
                on_cell_start=progress.cell_started,
                on_cell_executed=progress.cell_completed,  # on_cell_complete fires when the cell is sent, not done
            )
            try:
                client.execute()
            except (CellExecutionError, CellTimeoutError) as exc:
                status = (
                    f"FAILED: {str(exc).strip().splitlines()[-1][:120] if str(exc).strip() else type(exc).__name__}"
                )
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
    seconds = time.time() - start
    nbformat.write(nb, str(out_path))
    metric, reported = key_metric(metrics_file), metrics(metrics_file)
    metrics_file.unlink(missing_ok=True)
    return seconds, metric, status, reported


COMMANDS = {
    "full": "make course",
    "fast": "make course-fast",
    "published": "RESNET_COURSE_PUBLISHED=1 python -m tools.run_course",
}


def results_file(mode: str) -> Path:
    """The committed results of a mode: ``docs/results-<mode>.json``."""
    return ROOT / "docs" / f"results-{mode}.json"


def record_results(mode: str, rows, when: str | None = None) -> Path:
    """Write ``rows`` (notebook, seconds, key metric, status, and optionally every reported metric) into the mode's
    results file, keeping the entries of notebooks this run did not execute; one entry per notebook, in course order."""
    path = results_file(mode)
    old = json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}
    entries = {e["notebook"]: e for e in old.get("notebooks", [])}
    when = when or time.strftime("%Y-%m-%d")
    for notebook, seconds, metric, status, *reported in rows:
        entries[notebook] = {
            "notebook": notebook,
            "seconds": round(seconds, 1),
            "key_metric": metric,
            "status": status,
            "measured": when,
        }
        if reported and reported[0]:
            entries[notebook]["metrics"] = {k: round(v, 4) for k, v in sorted(reported[0].items())}
    data = {"mode": mode, "command": COMMANDS[mode], "notebooks": [entries[k] for k in sorted(entries)]}
    path.write_text(json.dumps(data, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    return path


def main(argv=None) -> int:
    import resnets_utils

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("only", nargs="*", help="run only notebooks whose path contains one of these")
    parser.add_argument("--timeout", type=int, default=3600, help="seconds a cell may run")
    args = parser.parse_args(argv)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    mode = "fast" if resnets_utils.fast_mode() else "published" if resnets_utils.published_scale() else "full"
    out_dir = ROOT / "build" / "course" / mode
    notebooks = [p for p in source_notebooks() if not args.only or any(o in str(p) for o in args.only)]
    print(f"Running {len(notebooks)} notebooks in {mode} mode; executed copies go to {out_dir}")
    rows, total = [], time.time()
    for i, path in enumerate(notebooks, 1):
        rel = path.relative_to(SOURCE)
        print(f"[{i}/{len(notebooks)}] {rel}")
        seconds, metric, status, reported = run_notebook(path, out_dir / rel, args.timeout, total)
        print(f"  {status} in {seconds:.1f} s; {metric}")
        rows.append((str(rel), seconds, metric, status, reported))
    table = ["| notebook | seconds | key metric | status |", "|---|---:|---|---|"]
    table += [f"| {n} | {s:.1f} | {m} | {st} |" for n, s, m, st, _ in rows]
    table.append(f"| total | {time.time() - total:.1f} | | |")
    text = f"Course run, {mode} mode, {time.strftime('%Y-%m-%d %H:%M')}\n\n" + "\n".join(table) + "\n"
    (out_dir / "results.md").write_text(text)
    committed = record_results(mode, rows)
    print("\n" + text + f"\nwritten to {out_dir / 'results.md'} and {committed.relative_to(ROOT)}")
    return 0 if all(row[3] == "ok" for row in rows) else 1


if __name__ == "__main__":
    raise SystemExit(main())
