"""Every mutant fails its public test with its specific message; every variant passes."""

from __future__ import annotations

import pytest

import public_tests
from tests.catalogue import MUTANTS, VARIANTS, Entry
from tools.notebooks import exercises, load_solution, source_notebooks


def build(entry: Entry):
    """The exercise function after applying the entry's edits to the reference solution cell."""
    def edit(code: str) -> str:
        for old, new in entry.edits:
            assert old in code, f"{entry.id}: edit target not found in the {entry.exercise} solution: {old!r}"
            code = code.replace(old, new)
        return code

    overrides = None
    if entry.extra.get("blocks") == "course":
        overrides = {"identity_block": load_solution("identity_block"),
                     "convolutional_block": load_solution("convolutional_block")}
    if entry.extra.get("resnet") == "course":      # the learner's own ResNet50 of the ResNet-50 notebook
        overrides = {"ResNet50": load_solution("ResNet50")}
    return load_solution(entry.exercise, edit=edit, overrides=overrides)


def run_test(entry: Entry, fn):
    getattr(public_tests, f"{entry.exercise}_test")(fn)


@pytest.fixture(autouse=True)
def short_timeouts(monkeypatch):
    monkeypatch.setattr(public_tests, "BLOCK_TIMEOUT", 5.0)


def test_catalogue_is_large_enough():
    assert len(MUTANTS) >= 15 and len(VARIANTS) >= 5
    ids = [(e.exercise, e.id) for e in MUTANTS + VARIANTS]
    assert len(ids) == len(set(ids)), "catalogue ids must be unique"
    for exercise in [name for path in source_notebooks() for name in exercises(path)]:
        assert any(e.exercise == exercise for e in MUTANTS), exercise
        assert any(e.exercise == exercise for e in VARIANTS), exercise


@pytest.mark.parametrize("entry", MUTANTS, ids=lambda e: f"{e.exercise}-{e.id}")
def test_mutant_fails_with_its_message(entry, capsys):
    fn = build(entry)
    with pytest.raises(AssertionError) as info:
        run_test(entry, fn)
    message = str(info.value)
    assert entry.message in message, f"{entry.id} ({entry.what}) failed with another message:\n{message}"
    assert message.startswith(entry.exercise + ":"), message
    assert "[PASS]" not in capsys.readouterr().out


@pytest.mark.parametrize("entry", VARIANTS, ids=lambda e: f"{e.exercise}-{e.id}")
def test_variant_passes(entry, capsys):
    run_test(entry, build(entry))
    assert "[PASS]" in capsys.readouterr().out
