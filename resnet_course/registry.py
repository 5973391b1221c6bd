"""Every exercise of the course, in course order, from the ``EXERCISES`` of the checks modules.

Adding an exercise: an ``Exercise`` entry in its notebook's ``checks/<notebook>.py`` (with
its visible and hidden checks), plus the notebook itself. ``public_tests.__all__``,
``tools.make_fixtures``, ``tools.mutation_score``, the catalogue and the tests read this.
"""

from __future__ import annotations

import importlib
import pkgutil

from . import checks
from .exercise import Exercise

CHECK_MODULES = tuple(
    f"{checks.__name__}.{info.name}" for info in pkgutil.iter_modules(checks.__path__) if info.name not in checks.SHARED
)


def _collect() -> dict[str, Exercise]:
    entries = [e for name in CHECK_MODULES for e in importlib.import_module(name).EXERCISES]
    entries.sort(key=lambda e: e.notebook)  # stable: a module's own order within its notebook
    names = [e.name for e in entries]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise ValueError(f"exercises declared twice: {duplicates}")
    return {e.name: e for e in entries}


EXERCISES = _collect()


def exercise(name: str) -> Exercise:
    """The entry of exercise ``name`` (a ``KeyError`` naming the known ones otherwise)."""
    try:
        return EXERCISES[name]
    except KeyError:
        raise KeyError(f"no exercise {name!r}; the course has {list(EXERCISES)}") from None


def names() -> list[str]:
    return list(EXERCISES)


def check_names() -> list[str]:
    """``<name>_test`` and ``<name>_hidden_test`` of every exercise: what ``public_tests`` exports."""
    return [f"{n}{suffix}" for n in EXERCISES for suffix in ("_test", "_hidden_test")]


def fixture_files() -> dict[str, list[Exercise]]:
    """Each fixtures file and the exercises whose expected values it holds."""
    files: dict[str, list[Exercise]] = {}
    for e in EXERCISES.values():
        if e.fixtures is not None:
            files.setdefault(e.fixtures.file, []).append(e)
    return files
