"""Mutation score: the wrong implementations the tests catch and the correct ones they accept.

The catalogue (``resnet_course/catalogue/mutants.py``) edits the reference solutions read from the
source notebooks. A mutant (a wrong implementation) is caught when its exercise's
public test fails with the mutant's specific text in a message of the course's
format: ``<exercise>: <what was checked>``, then ``expected:``, ``got:`` and
``hint:`` lines. A variant (a correct implementation written differently) is accepted
when it passes the public test and the hidden test. The table has one row per graded
exercise of the course (found in the source notebooks); an exercise without a mutant
or without a variant counts as a failure, and so does any score below 100 %.

Usage (from the repository root)::

    python -m tools.mutation_score        # make mutants; exit status 1 below 100 %
    python -m tools.mutation_score -v     # also every entry with its outcome and hint
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
from dataclasses import dataclass

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from .notebooks import load_solution  # noqa: E402

BLOCK_TIMEOUT = 5.0  # seconds; enough to build a block, short for the mutant that never returns
HIDDEN_SEED = 7  # the variants' hidden test runs on this fresh configuration


@dataclass(frozen=True)
class Outcome:
    entry: object  # a resnet_course.catalogue.mutants.Entry
    mutant: bool
    ok: bool  # mutant caught / variant accepted
    detail: str  # why not, or the failure message of a caught mutant

    @property
    def hint(self) -> str:
        return next(
            (
                line.split("hint:", 1)[1].strip()
                for line in self.detail.splitlines()
                if line.strip().startswith("hint:")
            ),
            "",
        )


def course_exercises() -> list[str]:
    """Every graded exercise of the course, in course order (the registry; tests/test_generated.py
    checks that it matches the source notebooks)."""
    from resnet_course.registry import names

    return names()


def build(entry):
    """The exercise function after applying the entry's edits to the reference solution cell."""

    def edit(code: str) -> str:
        for old, new in entry.edits:
            if old not in code:
                raise LookupError(f"{entry.id}: edit target not found in the {entry.exercise} solution: {old!r}")
            code = code.replace(old, new)
        return code

    overrides = None
    if entry.extra.get("blocks") == "course":
        overrides = {
            "identity_block": load_solution("identity_block"),
            "convolutional_block": load_solution("convolutional_block"),
        }
    if entry.extra.get("resnet") == "course":  # the learner's own ResNet50 of the ResNet-50 notebook
        overrides = {"ResNet50": load_solution("ResNet50")}
    return load_solution(entry.exercise, edit=edit, overrides=overrides)


def format_problems(exercise: str, message: str) -> list[str]:
    """What a failure message lacks of the course's format."""
    problems = [] if message.startswith(f"{exercise}: ") else [f"does not start with '{exercise}: '"]
    for field in ("expected:", "got:", "hint:"):
        if not any(line.strip().startswith(field) for line in message.splitlines()[1:]):
            problems.append(f"has no '{field}' line")
    return problems


def evaluate(entry, mutant: bool, block_timeout: float = BLOCK_TIMEOUT) -> Outcome:
    """Run one catalogue entry through its exercise's tests (a block may take ``block_timeout`` seconds)."""
    from resnet_course.checks.common import time_limits
    from resnet_course.harness import unwrapped
    from resnet_course.registry import exercise

    checks = exercise(entry.exercise)
    out = io.StringIO()
    try:
        with time_limits(block=block_timeout), contextlib.redirect_stdout(out):
            fn = build(entry)  # the ResNet-50 notebook's setup prints its mode
            checks.test(fn)
            if not mutant:
                checks.hidden_test(fn, seed=HIDDEN_SEED)
    except AssertionError as exc:
        message = str(exc)
        if not mutant:
            return Outcome(entry, mutant, False, f"rejected: {message}")
        problems = format_problems(entry.exercise, message)
        if unwrapped(entry.message) not in unwrapped(message):
            problems.append(f"does not contain {entry.message!r}")
        if "[PASS]" in out.getvalue():
            problems.append("a [PASS] line was printed before the failure")
        if problems:
            return Outcome(entry, mutant, False, f"message {'; '.join(problems)}:\n{message}")
        return Outcome(entry, mutant, True, message)
    except Exception as exc:  # noqa: BLE001 - a broken entry or a crash in a test is a failure of the score
        return Outcome(entry, mutant, False, f"error: {type(exc).__name__}: {exc}")
    if mutant:
        return Outcome(entry, mutant, False, "not caught: the public test passed")
    if out.getvalue().count("[PASS]") < 2:
        return Outcome(entry, mutant, False, "the tests printed no [PASS] line")
    return Outcome(entry, mutant, True, "")


def table(outcomes: list[Outcome], names: list[str] | None = None) -> tuple[str, bool]:
    """The score table and whether it is 100 % with every exercise covered."""
    names = names or course_exercises()
    rows = [("exercise", "mutants caught", "variants accepted")]
    ok = True
    totals = [0, 0, 0, 0]
    for name in names + sorted({o.entry.exercise for o in outcomes} - set(names)):
        mine = [o for o in outcomes if o.entry.exercise == name]
        m = [o.ok for o in mine if o.mutant]
        v = [o.ok for o in mine if not o.mutant]
        ok &= bool(m) and bool(v) and all(m) and all(v) and name in names
        counts = [sum(m), len(m), sum(v), len(v)]
        totals = [a + b for a, b in zip(totals, counts)]
        note = "" if name in names else "  (not an exercise of the course)"
        rows.append((name + note, f"{counts[0]}/{counts[1]}", f"{counts[2]}/{counts[3]}"))
    rows.append(("total", f"{totals[0]}/{totals[1]}", f"{totals[2]}/{totals[3]}"))
    widths = [max(len(r[i]) for r in rows) for i in range(3)]
    lines = ["  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths))) for r in rows]
    lines.insert(1, "-" * len(lines[0]))
    lines.insert(len(lines) - 1, "-" * len(lines[0]))
    score = (totals[0] + totals[2]) / max(totals[1] + totals[3], 1)
    lines.append(
        f"mutation score {100 * score:.1f} %"
        + (
            ""
            if ok
            else "  -- FAILED: every exercise needs at least one "
            "mutant and one variant, every mutant caught and every variant accepted"
        )
    )
    return "\n".join(lines), ok


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-v", "--verbose", action="store_true", help="list every entry with its outcome and hint")
    args = parser.parse_args(argv)
    from resnet_course.catalogue.mutants import MUTANTS, VARIANTS

    outcomes = []
    for entries, mutant in ((MUTANTS, True), (VARIANTS, False)):
        for entry in entries:
            outcome = evaluate(entry, mutant)
            outcomes.append(outcome)
            if args.verbose or not outcome.ok:
                kind = "mutant " if mutant else "variant"
                status = ("caught" if mutant else "accepted") if outcome.ok else "FAILED"
                text = (
                    f"hint: {outcome.hint}"
                    if outcome.ok and mutant
                    else outcome.detail.splitlines()[0]
                    if outcome.detail
                    else ""
                )
                print(f"{kind} {entry.exercise}/{entry.id}: {status}  {text}")
    text, ok = table(outcomes)
    print(text)
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
