"""The code keeps one style: ruff's formatter and linter, as configured in pyproject.toml, find nothing to change."""

from __future__ import annotations

import subprocess
import sys

from tools.notebooks import ROOT


def _ruff(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "ruff", *args], cwd=ROOT, capture_output=True, text=True, timeout=300)


def test_ruff_check_finds_nothing():
    proc = _ruff("check", "--no-cache", ".")
    assert proc.returncode == 0, f"run `ruff check --fix .`:\n{proc.stdout}{proc.stderr}"


def test_ruff_format_would_change_nothing():
    proc = _ruff("format", "--check", "--no-cache", ".")
    assert proc.returncode == 0, f"run `ruff format .`:\n{proc.stdout}{proc.stderr}"
