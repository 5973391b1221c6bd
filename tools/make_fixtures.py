"""Make the expected values used by the checks from the reference solutions.

The reference solutions are run from the nbgrader source notebooks (never from
a copy). Which exercises have fixtures, their fixed configurations, seeds and keys,
and how their arrays are computed, is declared by each exercise's entry in its
checks module (``Exercise.fixtures``, collected by ``resnet_course.registry``):
Keras outputs with the shape-seeded initializer on fixed inputs, in inference and
training mode; the NumPy exercises' seeded random inputs beside their outputs.

Usage (from the repository root)::

    python -m tools.make_fixtures           # writes resnet_course/fixtures/*.npz
    python -m tools.make_fixtures --check   # recomputes and compares with the committed files
"""

from __future__ import annotations

import argparse
import functools
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402


def compute(exercises) -> dict[str, np.ndarray]:
    """The arrays of one fixtures file: every exercise's, from its reference solution."""
    from .notebooks import load_solution

    out: dict[str, np.ndarray] = {}
    for exercise in exercises:
        out.update(exercise.fixtures.make(load_solution(exercise.name), exercise))
    return out


def files() -> dict:
    """Each fixture file and the function that computes its arrays."""
    from resnet_course.paths import FIXTURES_DIR
    from resnet_course.registry import fixture_files

    return {FIXTURES_DIR / name: functools.partial(compute, exercises) for name, exercises in fixture_files().items()}


def differences(a: dict, b: dict, atol: float = 1e-5) -> list[str]:
    problems = [f"missing key {k}" for k in sorted(set(a) ^ set(b))]
    for k in sorted(set(a) & set(b)):
        if a[k].shape != b[k].shape or not np.allclose(a[k], b[k], atol=atol, rtol=1e-5):
            problems.append(f"{k} differs")
    return problems


def main(argv=None) -> int:
    from resnet_course.expected import load_fixtures

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="compare with the committed fixtures")
    args = parser.parse_args(argv)
    problems = []
    for path, make in files().items():
        fresh = make()
        if args.check:
            problems += [f"{path.name}: {p}" for p in differences(fresh, load_fixtures(path))]
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        np.savez_compressed(path, **fresh)
        print(f"wrote {path} ({len(fresh)} arrays)")
    if args.check:
        print("\n".join(problems) or "fixtures match the reference solutions")
    return 1 if problems else 0


if __name__ == "__main__":
    raise SystemExit(main())
