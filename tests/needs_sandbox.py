"""The skip mark of the tests that grade in real sandboxes: skipped, with the reason, where bubblewrap cannot run."""

from __future__ import annotations

import pytest

from resnet_course.grading import sandbox

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
