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
