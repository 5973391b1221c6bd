"""Every graded exercise of the course: visible and hidden tests, points stated in the text, guarded tests.

The conventions (see docs/maintainers.md, "Writing a graded exercise"): the solution cell's grade_id
is the function's name; its graded cell ``<name>_tests`` states its points, calls
``<name>_test(<name>)`` and, between nbgrader's hidden-test markers, runs
``<name>_hidden_test`` through ``test_utils.hidden_test``.
"""

from __future__ import annotations

import re

import numpy as np
import pytest

import public_tests
import test_utils
from resnet_course.harness import MESSAGE_WIDTH, unwrapped
from tools.notebooks import exercises, nbgrader_meta, read, source_notebooks

HIDDEN = re.compile(r"### BEGIN HIDDEN TESTS\n(.*?)### END HIDDEN TESTS", re.S)
EXERCISES = [(path, name) for path in source_notebooks() for name in exercises(path)]


@pytest.mark.parametrize("path, name", EXERCISES, ids=[name for _, name in EXERCISES])
def test_graded_cell_has_visible_and_hidden_tests_and_states_its_points(path, name):
    nb = read(path)
    cells = [c for c in nb.cells if nbgrader_meta(c).get("grade_id") == f"{name}_tests"]
    assert len(cells) == 1, f"{path.name}: one graded cell {name}_tests expected, found {len(cells)}"
    cell, meta = cells[0], nbgrader_meta(cells[0])
    assert cell.cell_type == "code" and meta.get("grade") and meta.get("locked") and meta.get("points", 0) > 0
    points = f"{meta['points']:g} points"
    hidden = HIDDEN.search(cell.source)
    visible = HIDDEN.sub("", cell.source)
    assert cell.source.startswith(f"# Graded ({points})"), f"{name}_tests must start with '# Graded ({points})'"
    wide = [line for line in visible.splitlines() if len(line) > MESSAGE_WIDTH]
    assert not wide, f"{name}_tests: lines wider than a cell ({MESSAGE_WIDTH} columns): {wide}"
    assert f"{name}_test({name})" in visible, f"{name}_tests must call {name}_test({name}) visibly"
    assert hidden, f"{name}_tests needs hidden tests between nbgrader's markers"
    assert f'.hidden_test("{name}", {name})' in hidden.group(1) and "importlib.reload" in hidden.group(1), (
        f"{name}_tests: run the hidden test through test_utils.hidden_test (docs/maintainers.md, 'Writing a graded exercise')"
    )
    assert any(c.cell_type == "markdown" and f"`{name}`" in c.source and points in c.source for c in nb.cells), (
        f"{path.name}: the text must say that `{name}` is worth {points}"
    )
    assert callable(getattr(public_tests, f"{name}_test")) and callable(getattr(public_tests, f"{name}_hidden_test"))


# --------------------------------------------------------------------------- guards of the tests themselves
def _notebook_function(fn):
    fn.__module__ = "__main__"  # what a function written in a notebook cell looks like
    return fn


def test_failure_renders_without_a_traceback():
    exc = test_utils.failure("identity_block", "what was checked", 1, 2, "a hint")
    assert isinstance(exc, AssertionError)
    assert exc._render_traceback_() == [f"AssertionError: {exc}"]
    assert str(exc).splitlines() == [
        "identity_block: what was checked",
        "    expected: 1",
        "    got:      2",
        "    hint:     a hint",
    ]


def test_long_failure_lines_wrap_under_their_field():
    """A notebook wraps a long output line at column 0 and nbgrader's Validate dialog does not wrap it at all: the
    message wraps itself, each continuation under its field's value, and no word is lost."""
    hint = "leave the other arguments at their defaults, " * 5
    text = str(test_utils.failure("identity_block", "a check " * 15, "[" + ", ".join(["1.0"] * 40) + "]", 2, hint))
    lines = text.splitlines()
    assert all(len(line) <= MESSAGE_WIDTH for line in lines), text
    hint_at = next(i for i, line in enumerate(lines) if line.startswith("    hint:     "))
    assert len(lines) > hint_at + 1 and all(line.startswith(" " * 14) for line in lines[hint_at + 1 :]), text
    assert lines[1].startswith("    ") and not lines[1].startswith("    expected"), text  # the check's own line wraps
    assert unwrapped(text).endswith(unwrapped(hint)), text


def test_replaced_numpy_function_is_refused(monkeypatch):
    monkeypatch.setattr(np, "max", lambda *args, **kwargs: 0.0)
    assert "numpy.max was replaced" in test_utils.tampering()
    with pytest.raises(AssertionError, match="numpy.max was replaced"):
        public_tests.identity_block_test(lambda *args, **kwargs: None)


def test_test_functions_replaced_from_the_notebook_are_refused(monkeypatch):
    fake = _notebook_function(lambda *args, **kwargs: None)
    monkeypatch.setattr(public_tests, "identity_block_hidden_test", fake)
    notebook = {"identity_block_test": fake}
    with pytest.raises(AssertionError) as info:
        exec("hidden_test('identity_block', None)", {"hidden_test": test_utils.hidden_test, **notebook})
    assert "public_tests.identity_block_hidden_test was replaced" in str(info.value)
    assert "`identity_block_test` was redefined in the notebook" in str(info.value)


def test_learners_stderr_goes_to_stdout(capsys):
    """(Warnings too, in a notebook; the `noisy` submission of the round trip shows it.)"""
    import sys

    def noisy(*args, **kwargs):
        print("to stderr", file=sys.stderr)
        return None

    with pytest.raises(AssertionError, match="returned None"):
        public_tests.identity_block_test(noisy)
    captured = capsys.readouterr()
    assert captured.err == "" and "to stderr" in captured.out


def test_resnet50_from_keras_applications_is_refused():
    import keras

    def ResNet50(input_shape=(64, 64, 3), classes=6):
        return keras.applications.ResNet50(weights=None, input_shape=input_shape, classes=classes)

    with pytest.raises(AssertionError, match="made by keras.applications"):
        public_tests.ResNet50_test(ResNet50)


# --------------------------------------------------------------------------- broken answers, in process
# The round trip (test_nbgrader_roundtrip.py) grades such answers through nbgrader for a few
# exercises; here every exercise's visible and hidden tests meet each of them, in seconds.
BROKEN = {
    "raises": (lambda *args, **kwargs: (_ for _ in ()).throw(ValueError("a bug in my code")), "raised ValueError"),
    # (freeze_batchnorm and start_fine_tuning change the model in place, and build_cnn's first check is
    # its ValueError for a bad depth: for them None fails an earlier check, in the same format)
    "returns_none": (lambda *args, **kwargs: None, ""),
    "returns_numpy": (lambda *args, **kwargs: np.zeros((1, 4, 4, 3), dtype="float32"), ""),
}


@pytest.mark.parametrize("broken", sorted(BROKEN))
@pytest.mark.parametrize("path, name", EXERCISES, ids=[name for _, name in EXERCISES])
@pytest.mark.parametrize("which", ["test", "hidden_test"])
def test_broken_answer_fails_with_a_message_in_the_course_format(path, name, broken, which, capsys):
    from tools.mutation_score import format_problems

    fn, text = BROKEN[broken]
    with pytest.raises(AssertionError) as info:
        getattr(public_tests, f"{name}_{which}")(fn)
    message = str(info.value)
    assert not format_problems(name, message), (format_problems(name, message), message)
    assert unwrapped(text) in unwrapped(message), message
    assert "[PASS]" not in capsys.readouterr().out
