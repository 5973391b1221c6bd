"""Every correct answer passes every hidden test: the reference solutions and the catalogue's variants, on many seeds.

    python -m tools.hidden_seeds [--seeds 1000] [--first 0] [EXERCISE ...]

A hidden test draws a fresh configuration (sizes, rates, weights) from its seed when an instructor grades; a
draw that fails a correct answer costs a full-marks student the exercise. This runs each exercise's hidden test
on the reference solution and on each variant of ``resnet_course.catalogue.mutants`` for seeds ``first`` to
``first + seeds - 1``, prints one line per exercise (answers, seeds, seconds, the failing seeds with their
messages) and exits 1 if any correct answer failed. The exercises that build ResNet-50s take seconds per seed:
give them fewer seeds, or a machine for the afternoon. tests/test_hidden_seeds.py runs a few seeds of each, and
the seeds that once failed.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import sys
import time


def answers(name: str) -> list[tuple[str, object]]:
    """``[(label, function)]``: the reference solution of exercise ``name`` and its variants."""
    from resnet_course.catalogue.mutants import VARIANTS

    from .mutation_score import build
    from .notebooks import load_solution

    return [("reference", load_solution(name))] + [(v.id, build(v)) for v in VARIANTS if v.exercise == name]


def failures(name: str, seeds, functions=None) -> list[tuple[str, int, str]]:
    """``[(answer, seed, message)]`` for every correct answer of ``name`` whose hidden test fails at a seed."""
    from resnet_course.registry import exercise

    test = exercise(name).hidden_test
    out = []
    for label, function in functions or answers(name):
        for seed in seeds:
            try:
                with contextlib.redirect_stdout(io.StringIO()):
                    test(function, seed=seed)
            except AssertionError as exc:
                out.append((label, seed, str(exc).splitlines()[0][:200]))
    return out


def main(argv=None) -> int:
    from resnet_course.registry import names

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("exercises", nargs="*", help="default: every exercise")
    parser.add_argument("--seeds", type=int, default=1000)
    parser.add_argument("--first", type=int, default=0)
    args = parser.parse_args(argv)
    bad = 0
    for name in args.exercises or names():
        start, functions = time.time(), answers(name)
        found = failures(name, range(args.first, args.first + args.seeds), functions)
        bad += len(found)
        print(
            f"{name}: {len(functions)} correct answers x {args.seeds} seeds in {time.time() - start:.0f} s, "
            f"{len(found)} failed" + "".join(f"\n  {label} seed {seed}: {message}" for label, seed, message in found),
            flush=True,
        )
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
