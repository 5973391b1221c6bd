"""Fast mode and what the student sees: one switch that shrinks epochs and data for CI and grading, a quiet TensorFlow start, training progress suited to where the notebook runs, the key metric handed to the course runner."""

from __future__ import annotations

import os

from . import config
from .config import FAST_ENV, HEADLESS_ENV, METRICS_ENV, PUBLISHED_ENV  # noqa: F401 - re-exported names


def fast_mode() -> bool:
    """Whether the notebooks should run in fast mode (tiny epochs and subsets).

    ``RESNET_COURSE_FAST=1`` turns fast mode on and ``RESNET_COURSE_FAST=0`` turns
    it off. When the variable is unset, fast mode follows ``NBGRADER_EXECUTION``,
    which nbgrader sets while it autogrades or validates a notebook.
    """
    flag = config.flag(FAST_ENV, "fast mode", "full mode")
    return bool(config.value(config.NBGRADER_ENV)) if flag is None else flag


def published_scale() -> bool:
    """Whether full mode should run the published recipes at their full size (opt-in; slow on a CPU).

    ``RESNET_COURSE_PUBLISHED=1`` asks for it; fast mode always wins over it.
    Only settings given a ``published`` value in ``course_setting`` change.
    """
    return bool(config.flag(PUBLISHED_ENV, "published sizes", "the course's full mode")) and not fast_mode()


def course_setting(full, fast, published=None):
    """Return ``fast`` in fast mode and ``full`` otherwise, e.g. ``EPOCHS = course_setting(10, 1)``.

    With ``published`` given, full mode returns it instead when ``RESNET_COURSE_PUBLISHED=1``
    (``published_scale()``): the size of a published recipe that the course scales down.
    """
    if fast_mode():
        return fast
    if published is not None and published_scale():
        return published
    return full


def report_metric(name: str, value: float) -> None:
    """Hand one measured number to the course runner (``tools.run_course``); prints nothing.

    The runner sets ``RESNET_COURSE_METRICS`` to a file; each call appends ``name = value`` to it.
    Elsewhere (a learner's session, grading) the call does nothing.
    """
    value = float(value)
    target = config.value(METRICS_ENV)
    if target:
        with open(target, "a", encoding="utf-8") as f:
            f.write(f"{name} = {int(value) if value.is_integer() else round(value, 4)}\n")


def start_tensorflow_quietly() -> None:
    """Import TensorFlow and Keras once, with their start-up logs kept off the notebook.

    While it loads, TensorFlow's C++ runtime writes to file descriptor 2 (absl's "All log messages before
    absl::InitializeLog() is called are written to STDERR", the oneDNN and CPU-instruction notices), which
    Jupyter shows as a red stderr box; ``TF_CPP_MIN_LOG_LEVEL`` does not reach all of them. The setup cell
    calls this first: the import runs with descriptor 2 (and ``sys.stderr``) pointed at /dev/null, then
    both are put back, so errors and warnings after start-up show as usual. An import that fails still
    raises its exception.
    """
    import contextlib
    import io
    import sys

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    # On CPUs without AVX-512, TensorFlow uses oneDNN only when asked; without it one gradient of ResNet-50's
    # last stage is 20 to 40 times slower (see the Makefile and docs/results.md).
    os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")
    if "tensorflow" in sys.modules and "keras" in sys.modules:
        return
    sys.stderr.flush()
    saved = os.dup(2)
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        with contextlib.redirect_stderr(io.StringIO()):
            import keras  # noqa: F401
            import tensorflow  # noqa: F401
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


def headless() -> bool:
    """Whether the notebook runs without anyone watching: the course runner, the tests or nbgrader."""
    return bool(config.flag(HEADLESS_ENV, "headless", "interactive")) or bool(config.value(config.NBGRADER_ENV))


def fit_verbosity() -> int:
    """``verbose=`` for ``model.fit``: a live progress bar (1) when a person runs the notebook,
    one line per epoch (2) in headless runs and grading, whose outputs are stored and read later."""
    return 2 if headless() else 1
