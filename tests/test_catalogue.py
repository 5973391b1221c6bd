"""Every mutant fails its public test with its specific message; every variant passes.

The entries run once, through ``tools.mutation_score.evaluate`` (what ``make mutants``
runs); the last test builds the mutation score table from those outcomes.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from resnet_course.catalogue.mutants import MUTANTS, VARIANTS
from tools.mutation_score import course_exercises, evaluate, table

OUTCOMES: dict = {}  # (exercise, id, mutant) -> Outcome, filled by the tests below


def test_catalogue_is_large_enough():
    assert len(MUTANTS) >= 40 and len(VARIANTS) >= 10
    ids = [(e.exercise, e.id) for e in MUTANTS + VARIANTS]
    assert len(ids) == len(set(ids)), "catalogue ids must be unique"
    for exercise in course_exercises():
        assert any(e.exercise == exercise for e in MUTANTS), (
            f"no mutant for {exercise}: add some to resnet_course/catalogue/mutants.py"
        )
        assert any(e.exercise == exercise for e in VARIANTS), (
            f"no variant for {exercise}: add one to resnet_course/catalogue/mutants.py"
        )


def _run(entry, mutant: bool):
    outcome = evaluate(entry, mutant)
    OUTCOMES[(entry.exercise, entry.id, mutant)] = outcome
    return outcome


@pytest.mark.parametrize("entry", MUTANTS, ids=lambda e: f"{e.exercise}-{e.id}")
def test_mutant_fails_with_its_message(entry):
    outcome = _run(entry, mutant=True)
    assert outcome.ok, f"{entry.id} ({entry.what}): {outcome.detail}"


@pytest.mark.parametrize("entry", VARIANTS, ids=lambda e: f"{e.exercise}-{e.id}")
def test_variant_passes(entry):
    outcome = _run(entry, mutant=False)
    assert outcome.ok, f"{entry.id} ({entry.what}): {outcome.detail}"


def test_mutation_score_is_100_percent_for_every_exercise():
    """The table `make mutants` prints, from the outcomes above (entries not run yet run now)."""
    outcomes = [
        OUTCOMES.get((e.exercise, e.id, mutant)) or _run(e, mutant)
        for entries, mutant in ((MUTANTS, True), (VARIANTS, False))
        for e in entries
    ]
    text, ok = table(outcomes)
    print(text)
    assert ok, text
    guide = Path(__file__).resolve().parents[1] / "docs" / "maintainers.md"
    assert f"```\n{text}\n```" in guide.read_text(), (
        f"docs/maintainers.md shows a stale mutation score table; replace it with:\n{text}"
    )
