"""The hidden test's guard: refuse a notebook that replaced the grader's tools, reload the course's modules from disk, then run the hidden check."""

from __future__ import annotations

import importlib
import pkgutil
import sys

from . import checks
from .harness import failure, guarded

# --------------------------------------------------------------------------- the grader's tools
# What a notebook must not replace: the library functions and classes the tests compute with.
# Their state when this module is first imported (the setup cell, before any learner code) is
# kept; a reload (see hidden_test) keeps the first snapshot.
LIBRARY_NAMESPACES = (
    "numpy",
    "numpy.random",
    "numpy.testing",
    "numpy.linalg",
    "keras",
    "keras.ops",
    "keras.layers",
    "keras.models",
    "keras.applications",
    "keras.initializers",
)
# The course's modules, dependencies first: hidden_test reloads them in this order (this module itself is
# reloaded before, by test_utils.hidden_test), so nothing a notebook assigned to them survives. The checks
# modules are found on disk: the shared ones first, then one per notebook, then the registry and the facades.
_BASE = (
    "config",
    "paths",
    "exercise",
    "keras_internals",
    "fast",
    "data",
    "plots",
    "backgrounds",
    "shifts",
    "weights",
    "pretrained",
    "standin",
    "cifar",
    "harness",
    "expected",
    "graph",
)
_NOTEBOOK_CHECKS = sorted(i.name for i in pkgutil.iter_modules(checks.__path__) if i.name not in checks.SHARED)
COURSE_MODULES = (
    tuple(f"resnet_course.{name}" for name in _BASE)
    + tuple(f"resnet_course.checks.{name}" for name in (*checks.SHARED, *_NOTEBOOK_CHECKS))
    + ("resnet_course.registry", "resnets_utils", "test_utils", "public_tests")
)


def _callables(module) -> dict:
    return {name: value for name, value in vars(module).items() if callable(value) and not name.startswith("__")}


def _snapshot(snapshot: dict) -> dict:
    """Add the namespaces imported since the last call to ``snapshot`` (first state wins)."""
    for name in LIBRARY_NAMESPACES:
        if name not in snapshot and name in sys.modules:
            snapshot[name] = _callables(sys.modules[name])
    return snapshot


_LIBRARY_SNAPSHOT = _snapshot(globals().get("_LIBRARY_SNAPSHOT", {}))


def _defined_in_notebook(value) -> bool:
    """Whether a function or class was written in the notebook (or an interactive session)."""
    return getattr(value, "__module__", None) == "__main__"


def tampering(namespace: dict | None = None) -> list[str]:
    """What code in the notebook replaced among the grader's tools, as short descriptions.

    Checked: the callables of numpy and Keras that the tests use (``LIBRARY_NAMESPACES``),
    against their state when this module was first imported, and for functions written in
    the notebook; the functions of the course's own modules; and, when ``namespace`` (the
    notebook's globals) is given, the test functions' names in it. A deliberate attack on
    Python itself (the import system, builtins, Keras's classes) is out of reach of any
    check that runs in the learner's own kernel; the instructor sees such code in the
    submission.
    """
    problems = []
    for module_name, before in _snapshot(_LIBRARY_SNAPSHOT).items():
        module = sys.modules.get(module_name)
        if module is None:
            continue
        now = vars(module)
        for name, value in before.items():
            if name in now and now[name] is not value:
                problems.append(f"{module_name}.{name} was replaced")
        problems += [
            f"{module_name}.{name} is a function written in the notebook"
            for name, value in now.items()
            if name not in before and _defined_in_notebook(value)
        ]
    for module_name in COURSE_MODULES:
        module = sys.modules.get(module_name)
        if module is not None:
            problems += [
                f"{module_name}.{name} was replaced by a function written in the notebook"
                for name, value in vars(module).items()
                if _defined_in_notebook(value)
            ]
    if namespace is not None:
        tests = sys.modules.get("public_tests")
        names = set(getattr(tests, "__all__", ())) | {"hidden_test"}
        problems += [
            f"`{name}` was redefined in the notebook"
            for name in sorted(names)
            if callable(namespace.get(name)) and _defined_in_notebook(namespace[name])
        ]
    return problems


def expect_untampered(exercise: str, namespace: dict | None = None) -> None:
    """Fail when the notebook replaced any of the grader's tools (see ``tampering``)."""
    __tracebackhide__ = True
    problems = tampering(namespace)
    if problems:
        raise failure(
            exercise,
            "the tests need numpy, Keras and the course's test functions as installed",
            "nothing redefined or monkeypatched",
            "; ".join(problems[:4]) + (" ..." if len(problems) > 4 else ""),
            "remove the lines that replace these functions, restart the kernel and run all cells again",
        )


def hidden_test(exercise: str, target, namespace: dict | None = None) -> None:
    """Run ``public_tests.<exercise>_hidden_test(target)`` with test code that the notebook cannot have changed.

    The hidden part of a graded cell calls ``test_utils.hidden_test`` as
    ``importlib.reload(importlib.import_module("test_utils")).hidden_test("<exercise>", <exercise>)``:
    the reload restores the facade from disk, which reloads this module and calls this function with the
    notebook's globals (``namespace``). It refuses a notebook that replaced the grader's tools (numpy,
    Keras, the test functions) and reloads the course's modules, so nothing the notebook assigned to
    them is used, before the fresh-configuration re-check.
    """
    __tracebackhide__ = True
    with guarded(exercise):
        expect_untampered(exercise, sys._getframe(1).f_globals if namespace is None else namespace)
        for name in COURSE_MODULES:
            importlib.reload(importlib.import_module(name))
    getattr(sys.modules["public_tests"], f"{exercise}_hidden_test")(target)
