"""What both benchmarks share: one measurement per fresh Python process."""

from __future__ import annotations

import json
import os
import subprocess
import sys


class MeasurementFailed(RuntimeError):
    """A measuring process exited with an error; the message holds the end of its stderr."""


def measure_in_fresh_process(module: str, args: list[str]) -> dict:
    """Run ``python -m <module> <args>`` in a new interpreter and return the JSON object it prints last.

    A fresh process per measurement keeps one configuration's graphs, caches and
    memory from helping or hurting the next one.
    """
    proc = subprocess.run(
        [sys.executable, "-m", module, *args],
        capture_output=True,
        text=True,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"},
    )
    if proc.returncode != 0:
        raise MeasurementFailed(proc.stderr[-2000:])
    return json.loads(proc.stdout.strip().splitlines()[-1])
