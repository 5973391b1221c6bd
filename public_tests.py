"""Checks for the course's exercises: ``<exercise>_test(target)`` and ``<exercise>_hidden_test(target, seed=None)``.

A facade: the checks live in ``resnet_course/checks/<notebook>.py`` and are listed in
``resnet_course.registry``; this module gives notebooks and graders their names.

Each visible test takes the learner's function, runs it on fixed inputs and raises an
``AssertionError`` whose message says what was checked, expected vs got, and a hint;
when everything holds it prints one ``[PASS]`` line. The hidden tests re-check on fresh
random configurations; the hidden part of each graded cell runs them through
``test_utils.hidden_test``, which refuses a notebook that replaced the tests' tools and
reloads the course's modules (this one too) from disk first.
"""

from __future__ import annotations

from resnet_course.checks.batchnorm import BN_CONFIGS  # noqa: F401 - re-exported
from resnet_course.checks.common import BATCH  # noqa: F401 - re-exported
from resnet_course.checks.convolutional_block import CONV_CONFIGS, SUMMARY_CONFIGS  # noqa: F401 - re-exported
from resnet_course.checks.identity_block import IDENTITY_CONFIGS  # noqa: F401 - re-exported
from resnet_course.checks.residual_learning import CHAIN_CONFIGS, CNN_CONFIGS, UNIT_CONFIGS  # noqa: F401 - re-exported
from resnet_course.checks.resnet50 import RESNET_CONFIGS  # noqa: F401 - re-exported
from resnet_course.registry import EXERCISES, check_names

CONFIGS = [
    "BN_CONFIGS",
    "BATCH",
    "CONV_CONFIGS",
    "SUMMARY_CONFIGS",
    "IDENTITY_CONFIGS",
    "CHAIN_CONFIGS",
    "CNN_CONFIGS",
    "UNIT_CONFIGS",
    "RESNET_CONFIGS",
]

for _exercise in EXERCISES.values():
    globals()[f"{_exercise.name}_test"] = _exercise.test
    globals()[f"{_exercise.name}_hidden_test"] = _exercise.hidden_test
del _exercise

__all__ = check_names() + CONFIGS
