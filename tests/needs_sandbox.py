"""The skip mark of the tests that grade in real sandboxes: skipped, with the reason, where bubblewrap cannot run."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from resnet_course.grading import sandbox
from resnet_course.harness import unwrapped

try:
    sandbox.check_available()
    REASON = ""
except sandbox.SandboxUnavailable as exc:
    REASON = str(exc)

SANDBOX = pytest.mark.skipif(bool(REASON), reason=f"no sandbox here: {REASON}")


def own_uids(count: int = 1000) -> tuple[int, int]:
    """A block of uids for one grading run of a test (give it as ``RESNET_GRADING_UIDS``), so that what its
    sandboxes leave can be told from another grading's on the same machine: ``(first, end)``."""
    import os

    first = 2_050_000_000 + os.getpid() % 10_000 * count
    return first, first + count


def processes_of_uids(uids: tuple[int, int]) -> list[str]:
    """The processes whose real uid is in ``[first, end)``."""
    from pathlib import Path

    left = []
    for status in Path("/proc").glob("[0-9]*/status"):
        try:
            uid = int(next(line.split()[1] for line in status.read_text().splitlines() if line.startswith("Uid:")))
        except (OSError, StopIteration, ValueError):
            continue
        if uids[0] <= uid < uids[1]:
            left.append(status.parent.name)
    return left


def grade_step(course, *args: str, env: dict | None = None, timeout: float = 3600) -> tuple[int, str]:
    """``python -m tools.grade --course <course> <args>`` as the Makefile runs it (in fast mode only through
    NBGRADER_EXECUTION, as nbgrader sets it); its exit status and what it printed."""
    import subprocess
    import sys

    from tools.notebooks import ROOT
    from tools.release import nbgrader_env

    full = nbgrader_env(**(env or {}))
    full.pop("RESNET_COURSE_FAST", None)
    proc = subprocess.run(
        [sys.executable, "-m", "tools.grade", "--course", str(course), *args],
        cwd=ROOT,
        env=full,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    return proc.returncode, proc.stdout + proc.stderr


def shown_text(path) -> str:
    """Everything a notebook shows (cell sources, stream text, error values and tracebacks), unwrapped for matching
    text."""
    cells = json.loads(Path(path).read_text())["cells"]
    parts = ["".join(c["source"]) if isinstance(c.get("source"), list) else str(c.get("source", "")) for c in cells]
    for out in (o for c in cells for o in c.get("outputs", [])):
        for key in ("text", "evalue", "traceback"):
            value = out.get(key, "")
            parts.append(
                "".join(value)
                if key == "text" and isinstance(value, list)
                else "\n".join(value)
                if isinstance(value, list)
                else str(value)
            )
    return unwrapped("\n".join(parts))
