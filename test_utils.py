"""Helpers of the course's checks: messages, safe calls, fixtures, graph inspection, the hidden test's guard.

A facade over ``resnet_course`` (``harness``, ``expected``, ``graph``, ``guard``) with the names
notebooks and graded cells use: ``free_check`` in free check cells and ``hidden_test`` in the
hidden part of every graded cell::

    importlib.reload(importlib.import_module("test_utils")).hidden_test("<exercise>", <exercise>)

The reload restores this module from disk; ``hidden_test`` then reloads the guard and lets it
refuse a notebook that replaced the grader's tools and reload every course module before the
fresh-configuration re-check.
"""

from __future__ import annotations

import importlib
import sys

from resnet_course import guard as _guard  # first import: snapshots numpy and Keras as the setup cell has them
from resnet_course.checks.common import BN_EPSILON
from resnet_course.expected import deterministic_initializer, fresh_seed, load_fixtures
from resnet_course.graph import KIND_NAMES, chain_back, chain_text, fused_activation, kind, kinds_with_fused
from resnet_course.guard import COURSE_MODULES, LIBRARY_NAMESPACES, expect_untampered, tampering
from resnet_course.harness import (
    CheckFailure,
    StudentTimeout,
    call_learner,
    describe,
    expect,
    failure,
    free_check,
    guarded,
    passed,
    short,
    time_limit,
)
from resnet_course.keras_internals import producer
from resnet_course.paths import FIXTURES, RESIDUAL_FIXTURES

__all__ = [
    "BN_EPSILON",
    "COURSE_MODULES",
    "CheckFailure",
    "FIXTURES",
    "KIND_NAMES",
    "LIBRARY_NAMESPACES",
    "RESIDUAL_FIXTURES",
    "StudentTimeout",
    "call_learner",
    "chain_back",
    "chain_text",
    "describe",
    "deterministic_initializer",
    "expect",
    "expect_untampered",
    "failure",
    "free_check",
    "fresh_seed",
    "fused_activation",
    "guarded",
    "hidden_test",
    "kind",
    "kinds_with_fused",
    "load_fixtures",
    "passed",
    "producer",
    "short",
    "tampering",
    "time_limit",
]


def hidden_test(exercise: str, target) -> None:
    """Run ``public_tests.<exercise>_hidden_test(target)`` with test code the notebook cannot have changed.

    The guard is reloaded from disk first (the notebook may have assigned to it), then checks the
    notebook's globals (the caller's) and reloads the course's modules (``guard.COURSE_MODULES``).
    """
    __tracebackhide__ = True
    guard = importlib.reload(_guard)
    guard.hidden_test(exercise, target, sys._getframe(1).f_globals)
