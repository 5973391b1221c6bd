"""Open the course in JupyterLab: the student's Lab (``make lab``) or the instructor's (``make lab-instructor``).

Usage (from anywhere; extra arguments go to ``jupyter lab``)::

    python -m tools.lab                      # the student notebooks (notebooks/), student tools only
    python -m tools.lab --instructor         # the repository root, with nbgrader's instructor tools

The student's Lab serves ``notebooks/`` and hides nbgrader's instructor tools (the Create Assignment
sidebar, the Nbgrader menu and formgrader, the course and exchange lists) while keeping its Validate
button. It does so with a JupyterLab page config in ``jupyter/student/labconfig/page_config.json``,
put first on ``JUPYTER_CONFIG_PATH`` for this server only: your own Jupyter settings and any other
Lab you start are unchanged. The instructor's Lab runs from the repository root, where nbgrader finds
``nbgrader_config.py``, with every extension.
"""

from __future__ import annotations

import os
import sys

from .notebooks import RELEASE, ROOT

STUDENT_CONFIG = ROOT / "jupyter" / "student"


def command(instructor: bool = False, extra: list[str] | None = None) -> tuple[list[str], dict]:
    """The ``jupyter lab`` command line and environment of the student's or the instructor's Lab."""
    env = dict(os.environ)
    root = ROOT if instructor else RELEASE
    if not instructor:
        path = env.get("JUPYTER_CONFIG_PATH")
        env["JUPYTER_CONFIG_PATH"] = os.pathsep.join([str(STUDENT_CONFIG)] + ([path] if path else []))
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    options = [f"--ServerApp.root_dir={root}"]
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        options.append("--ServerApp.allow_root=True")  # containers and CI machines run as root
    return [sys.executable, "-m", "jupyter", "lab", *options, *(extra or [])], env


def main(argv=None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    instructor = "--instructor" in args
    args = [a for a in args if a != "--instructor"]
    cmd, env = command(instructor, args)
    os.execvpe(cmd[0], cmd, env)
    return 0  # not reached


if __name__ == "__main__":
    raise SystemExit(main())
