"""What an exercise is, as data: the entry a notebook's checks module declares in its ``EXERCISES``.

``registry`` collects the entries of every checks module; tools, tests and the
``public_tests`` facade read them from there.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable


def fixture_key(*parts) -> str:
    """The key of an array in a fixtures file: ``fixture_key("identity_block", 0, "x") == "identity_block__0__x"``."""
    return "__".join(str(p) for p in parts)


@dataclass(frozen=True)
class Fixtures:
    """The expected values of an exercise's visible check, made from its reference solution.

    ``make(solution, exercise)`` returns the arrays (keys from ``exercise.key``) for the
    fixed ``configs``; the inputs of configuration ``i`` are drawn with ``exercise.seed(i)``.
    """

    file: str  # in fixtures/, e.g. "core_exercises.npz"
    make: Callable  # (reference solution, Exercise) -> {key: array}
    configs: tuple = ()
    seed: int | None = None  # configuration i draws its inputs with seed + i


@dataclass(frozen=True)
class Exercise:
    name: str  # the function; its solution cell's grade_id
    notebook: str  # the assignment folder, e.g. "02_identity_block"
    points: float  # what its graded cell `<name>_tests` is worth
    test: Callable  # `<name>_test(target)`: visible, in the graded cell
    hidden_test: Callable  # `<name>_hidden_test(target, seed=None)`: hidden part
    fixtures: Fixtures | None = None
    extra: dict = field(default_factory=dict)  # e.g. what its mutants are built with

    def key(self, *parts) -> str:
        """A fixture key of this exercise (``fixture_key(name, *parts)``)."""
        return fixture_key(self.name, *parts)

    def seed(self, index: int) -> int:
        """The seed of the inputs of fixed configuration ``index``."""
        if self.fixtures is None or self.fixtures.seed is None:
            raise ValueError(f"{self.name} draws no fixture inputs")
        return self.fixtures.seed + index
