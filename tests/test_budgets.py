"""Each notebook's stated reading time follows tools/budgets.py's model, and each fits one sitting."""

from __future__ import annotations

import nbformat
import pytest

from tools import budgets
from tools.notebooks import source_notebooks


@pytest.mark.parametrize("path", source_notebooks(), ids=lambda p: p.parent.name)
def test_stated_time_matches_the_estimate_and_fits_a_sitting(path):
    assert budgets.problems([budgets.budget(path, budgets.recorded_seconds())]) == []


def _notebook(tmp_path, header: str, words: int = 1500, exercises: int = 1):
    cells = [nbformat.v4.new_markdown_cell(header), nbformat.v4.new_markdown_cell("word " * words)]
    for i in range(exercises):
        cell = nbformat.v4.new_code_cell("def f():\n    ### BEGIN SOLUTION\n    return 1\n    ### END SOLUTION")
        cell.metadata["nbgrader"] = {"solution": True, "grade": False, "grade_id": f"f{i}"}
        cells.append(cell)
    answers = nbformat.v4.new_markdown_cell("answer " * 5000)
    answers.id = "x-answers"
    path = tmp_path / "09_example" / "example.ipynb"
    path.parent.mkdir(parents=True)
    nbformat.write(nbformat.v4.new_notebook(cells=cells + [answers]), str(path))
    return path


def test_a_stale_time_is_reported_with_the_estimate(tmp_path):
    # 1502 words at 150 a minute and one exercise: 20 minutes; the answers appendix does not count
    path = _notebook(tmp_path, "**Time:** about 45 minutes to read and work through.")
    found = budgets.problems([budgets.budget(path, {"09_example/example.ipynb": 60})])
    assert len(found) == 1 and "estimate is 20" in found[0] and "write about 20 minutes" in found[0], found
    good = _notebook(tmp_path / "b", "**Time:** about 20 minutes to read and work through.")
    assert budgets.problems([budgets.budget(good, {"09_example/example.ipynb": 60})]) == []


def test_a_missing_time_a_missing_run_and_a_long_notebook_are_reported(tmp_path):
    path = _notebook(tmp_path, "# No time stated", words=12000, exercises=2)
    found = budgets.problems([budgets.budget(path, {})])
    assert any("does not say" in line for line in found), found
    assert any("no full-mode run time" in line for line in found), found
    found = budgets.problems([budgets.budget(path, {"09_example/example.ipynb": 600})])
    assert any("more than one sitting" in line for line in found), found
