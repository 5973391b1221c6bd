"""Run the course headless: execute every solution notebook in order.

Writes the executed notebooks and a results table (notebook, seconds, key
metric) to ``build/course/<mode>/``; ``<mode>`` is ``full``, ``fast``
(``RESNET_COURSE_FAST=1``) or ``published`` (``RESNET_COURSE_PUBLISHED=1``: full mode with
notebook 7 at the published size). Each notebook reports its key metric with
``resnets_utils.report_metric``, which prints ``Key metric: name = value``.

Usage (from the repository root)::

    python -m tools.run_course                 # full mode, what students run
    RESNET_COURSE_FAST=1 python -m tools.run_course
    RESNET_COURSE_PUBLISHED=1 python -m tools.run_course 07_cifar10   # the published size (slow)
    python -m tools.run_course 04_resnet50     # only the notebooks whose path contains this
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError, CellTimeoutError

from .notebooks import ROOT, SOURCE, source_notebooks

METRIC = re.compile(r"Key metric: (\S+) = ([-+0-9.eE]+)")


def key_metric(nb) -> str:
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            match = METRIC.search(out.get("text", "") if out.get("output_type") == "stream" else "")
            if match:
                return f"{match.group(1)} = {match.group(2)}"
    return "-"


def run_notebook(path: Path, out_path: Path, timeout: int) -> tuple[float, str, str]:
    nb = nbformat.read(str(path), as_version=4)
    code_cells = sum(1 for c in nb.cells if c.cell_type == "code")
    done = [0]
    start = time.time()

    def progress(cell, cell_index, **kwargs):
        if cell.cell_type == "code":
            done[0] += 1
            width = 30
            filled = width * done[0] // max(code_cells, 1)
            sys.stdout.write(f"\r  [{'#' * filled}{'.' * (width - filled)}] cell {done[0]}/{code_cells}"
                             f"  {time.time() - start:6.1f} s")
            sys.stdout.flush()

    client = NotebookClient(nb, timeout=timeout, kernel_name="python3",
                            resources={"metadata": {"path": str(path.parent)}}, on_cell_complete=progress)
    status = "ok"
    try:
        client.execute()
    except (CellExecutionError, CellTimeoutError) as exc:
        status = f"FAILED: {str(exc).strip().splitlines()[-1][:120] if str(exc).strip() else type(exc).__name__}"
    seconds = time.time() - start
    sys.stdout.write("\n")
    out_path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, str(out_path))
    return seconds, key_metric(nb), status


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
        seconds, metric, status = run_notebook(path, out_dir / rel, args.timeout)
        print(f"  {status} in {seconds:.1f} s; {metric}")
        rows.append((str(rel), seconds, metric, status))
    table = ["| notebook | seconds | key metric | status |", "|---|---:|---|---|"]
    table += [f"| {n} | {s:.1f} | {m} | {st} |" for n, s, m, st in rows]
    table.append(f"| total | {time.time() - total:.1f} | | |")
    text = f"Course run, {mode} mode, {time.strftime('%Y-%m-%d %H:%M')}\n\n" + "\n".join(table) + "\n"
    (out_dir / "results.md").write_text(text)
    print("\n" + text + f"\nwritten to {out_dir / 'results.md'}")
    return 0 if all(st == "ok" for *_, st in rows) else 1


if __name__ == "__main__":
    raise SystemExit(main())
