"""Every environment variable the course reads, in one table, read in one place (``value``).

Values are read when asked for (never cached at import), so a test or the course runner
can set a variable between two calls.
"""

from __future__ import annotations

import os
from dataclasses import dataclass


@dataclass(frozen=True)
class Variable:
    name: str
    doc: str


VARIABLES = {
    v.name: v
    for v in (
        Variable(
            "RESNET_COURSE_FAST",
            "1: fast mode (tiny epochs and subsets), 0: full mode; unset: follows NBGRADER_EXECUTION",
        ),
        Variable(
            "RESNET_COURSE_PUBLISHED", "1: full mode runs the published recipes at their full size (slow on a CPU)"
        ),
        Variable("RESNET_COURSE_HEADLESS", "1: no one watches the cells (set by tools.run_course and the tests)"),
        Variable(
            "RESNET_COURSE_METRICS", "a file report_metric appends 'name = value' lines to (set by tools.run_course)"
        ),
        Variable(
            "RESNET_COURSE_CACHE",
            "folder of the course's own checkpoints and the CIFAR-10 stand-in (default ~/.keras/resnet_course)",
        ),
        Variable(
            "RESNET_COURSE_WEIGHTS",
            "pretrained weights for notebook 6: 'imagenet', 'course' or unset (ImageNet "
            "when it can be had, else the course's checkpoint)",
        ),
        Variable(
            "RESNET_COURSE_CIFAR10",
            "a cifar-10-batches-py folder for notebook 7 (else the Keras cache, else the course's stand-in)",
        ),
        Variable("NBGRADER_EXECUTION", "set by nbgrader while it autogrades or validates: fast mode, headless"),
        Variable(
            "RESNET_GRADING_INTAKE",
            "the intake's clean copy of submitted/ whose refusals nbgrader shows in the feedback (set by tools.grade "
            "autograde; nbgrader_config.py)",
        ),
        Variable(
            "RESNET_GRADING_RESULTS",
            "the folder of <student>.json results nbgrader imports (set by tools.grade autograde; nbgrader_config.py)",
        ),
        Variable(
            "TF_ENABLE_ONEDNN_OPTS",
            "1: TensorFlow's oneDNN kernels (set by the Makefile, the tests and the setup cell; passed into the sandbox)",
        ),
        Variable(
            "RESNET_GRADING_UIDS",
            "FIRST:COUNT, the block of unused uids the grading sandboxes run as, two per student "
            "(default 2000000000:100000000)",
        ),
        Variable(
            "RESNET_GRADING_CGROUP",
            "a cgroup v2 folder delegated to the grader's user, where it makes each sandbox's group (default: its "
            "own group on a cgroup v2 machine when it may write there)",
        ),
    )
}
FAST_ENV, PUBLISHED_ENV, HEADLESS_ENV, METRICS_ENV, CACHE_ENV, WEIGHTS_ENV, CIFAR10_ENV, NBGRADER_ENV, *_ = VARIABLES
GRADING_RESULTS_ENV, ONEDNN_ENV, GRADING_UIDS_ENV, GRADING_CGROUP_ENV = list(VARIABLES)[-4:]

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


def value(name: str) -> str:
    """The variable's value, stripped ('' when unset); only names of the table."""
    if name not in VARIABLES:
        raise KeyError(f"{name} is not one of the course's variables (resnet_course.config.VARIABLES)")
    return os.environ.get(name, "").strip()


def flag(name: str, on: str, off: str):
    """The switch ``name`` as True, False or None (unset); any other value is an error naming ``on`` and ``off``."""
    text = value(name).lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    if text:
        raise ValueError(f"{name}={text!r}: use 1 ({on}) or 0 ({off})")
    return None
