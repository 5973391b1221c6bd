"""One catalogue entry (a mutant or a variant of an exercise's reference solution) and its two constructors."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Entry:
    exercise: str
    id: str
    edits: tuple = ()
    message: str = ""            # mutants: text the failure message must contain
    what: str = ""
    extra: dict = field(default_factory=dict)


def _m(exercise, id, what, message, *edits, **extra):
    return Entry(exercise, id, tuple(edits), message, what, extra)


def _v(exercise, id, what, *edits, **extra):
    return Entry(exercise, id, tuple(edits), "", what, extra)
