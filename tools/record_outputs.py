"""Store the expected outputs that nbval compares in the source notebooks.

nbval (``pytest --nbval-lax``) checks only the cells tagged ``nbval-check-output``
(deterministic cells: shapes, parameter counts) against the outputs stored in
the notebook. This script runs each source notebook in fast mode, keeps the
stdout of those cells and clears every other output, so the committed
notebooks stay small and diffable.

Usage (from the repository root)::

    python -m tools.record_outputs                 # every source notebook
    python -m tools.record_outputs 05_batchnorm    # only the notebooks whose path contains this
"""

from __future__ import annotations

import argparse
import os

import nbformat
from nbclient import NotebookClient

from .notebooks import source_notebooks

TAG = "nbval-check-output"


def record(path) -> int:
    nb = nbformat.read(str(path), as_version=4)
    NotebookClient(
        nb, timeout=1200, kernel_name="python3", record_timing=False, resources={"metadata": {"path": str(path.parent)}}
    ).execute()
    kept = 0
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        cell.metadata.pop("execution", None)  # no run timestamps in the source notebooks
        if TAG in cell.get("metadata", {}).get("tags", []):
            # nbval wants an execution count on a cell with stored outputs; it is deterministic.
            cell.outputs = [o for o in cell.outputs if o.get("output_type") == "stream" and o.get("name") == "stdout"]
            kept += 1
        else:
            cell.execution_count = None
            cell.outputs = []
    nbformat.write(nb, str(path))
    return kept


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("only", nargs="*", help="record only notebooks whose path contains one of these")
    args = parser.parse_args(argv)
    os.environ["RESNET_COURSE_FAST"] = "1"
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    for path in source_notebooks():
        if args.only and not any(o in str(path) for o in args.only):
            continue
        print(f"{path.relative_to(path.parents[1])}: recorded {record(path)} checked cells")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
