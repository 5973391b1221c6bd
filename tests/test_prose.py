"""Measured numbers in learner text cannot drift (tools/measured.py).

Every number marked ``<!-- results: MODE KEY -->`` in a source notebook's markdown must say what
``docs/results-MODE.json`` records; each notebook states its fast-mode run time that way; a deliberately stale
number, or a marker that marks no number, is reported.
"""

from __future__ import annotations

import json

import nbformat
import pytest

from tools import measured
from tools.notebooks import source_notebooks


def test_every_marked_number_says_what_its_results_file_records():
    assert measured.problems() == []


@pytest.mark.parametrize("path", source_notebooks(), ids=lambda p: p.parent.name)
def test_each_notebook_states_its_fast_mode_time_from_the_results_file(path):
    found, _ = measured.claims(path)
    assert any(c.mode == "fast" and c.key == "seconds" and c.cell == 0 for c in found), (
        f"{path.parent.name}: the header states no fast-mode time marked <!-- results: fast seconds -->"
    )


def _copy(tmp_path, text: str, results: dict):
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "results-fast.json").write_text(json.dumps(results))
    path = tmp_path / "07_cifar10" / "cifar10.ipynb"
    path.parent.mkdir()
    nbformat.write(nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell(text)]), str(path))
    return path


RESULTS = {
    "notebooks": [
        {
            "notebook": "07_cifar10/cifar10.ipynb",
            "seconds": 89.1,
            "key_metric": "test_accuracy_fine_tuned = 0.08",
            "metrics": {"test_accuracy_head_only": 0.1234, "test_accuracy_fine_tuned": 0.08},
        }
    ]
}


@pytest.mark.parametrize(
    "text, says",
    [
        ("It takes about 90 s<!-- results: fast seconds -->.", None),
        ("It takes about 2 minutes<!-- results: fast seconds -->.", None),
        ("It takes well under a minute: 30 s<!-- results: fast seconds -->.", "measured 89.1 s"),
        ("Fine-tuned: **8 %**<!-- results: fast test_accuracy_fine_tuned -->.", None),
        ("Fine-tuned: 9.0 %<!-- results: fast test_accuracy_fine_tuned -->.", "measured 8.000"),
        ("Fine-tuned: **9.0 %**<!-- results: fast test_accuracy_fine_tuned -->.", "measured 8.000"),
        ("Head only: 12.3 %<!-- results: fast test_accuracy_head_only -->.", None),
        ("Head only: 12 %<!-- results: fast test_accuracy_head_only -->.", None),
        ("Head only: 12.4 %<!-- results: fast test_accuracy_head_only -->.", "measured 12.340"),
        ("Loss 0.3<!-- results: fast loss -->.", "not 'loss'"),
        ("It takes about 90 s<!-- results: full seconds -->.", "no entry for the notebook"),
        ("A marker alone <!-- results: fast seconds --> marks nothing.", "without a number"),
    ],
)
def test_a_stale_or_broken_number_is_reported(tmp_path, text, says):
    problems = measured.problems([_copy(tmp_path, text, RESULTS)], root=tmp_path)
    if says is None:
        assert problems == []
    else:
        assert len(problems) == 1 and says in problems[0], problems


@pytest.mark.parametrize(
    "text, becomes",
    [
        ("Head only: **9.9 %**<!-- results: fast test_accuracy_head_only -->.", "Head only: **12.3 %**<!-- "),
        ("Fine-tuned: 9 %<!-- results: fast test_accuracy_fine_tuned -->.", "Fine-tuned: 8 %<!-- "),
        ("It takes about 10 s<!-- results: fast seconds --> in all.", "It takes about 89 s<!-- "),
        ("It takes about 80 s<!-- results: fast seconds --> in all.", "It takes about 80 s<!-- "),
        ("It takes about 5 minutes<!-- results: fast seconds -->.", "It takes about 1 minutes<!-- "),
    ],
)
def test_update_rewrites_only_the_stale_number(tmp_path, text, becomes):
    path = _copy(tmp_path, text, RESULTS)
    measured.update([path], root=tmp_path)
    after = nbformat.read(str(path), as_version=4).cells[0].source
    assert after.startswith(becomes), after
    assert measured.problems([path], root=tmp_path) == []


def test_the_course_runner_records_every_reported_metric(tmp_path, monkeypatch):
    from tools import run_course

    reported = tmp_path / "m.metrics"
    reported.write_text("accuracy_before = 0.42\ntest_accuracy = 0.5\ntest_accuracy = 0.983\n")
    assert run_course.metrics(reported) == {"accuracy_before": 0.42, "test_accuracy": 0.983}
    monkeypatch.setattr(run_course, "ROOT", tmp_path)
    (tmp_path / "docs").mkdir()
    row = ("04_resnet50/resnet50.ipynb", 600.0, "test_accuracy = 0.983", "ok", run_course.metrics(reported))
    run_course.record_results("full", [row], "d1")
    assert measured.recorded("full", tmp_path)["04_resnet50/resnet50.ipynb"] == {
        "seconds": 600.0,
        "accuracy_before": 0.42,
        "test_accuracy": 0.983,
    }


def test_the_release_gives_students_the_numbers_without_their_markers():
    from tools.notebooks import RELEASE

    for path in sorted(RELEASE.glob("*/*.ipynb")):
        text = "".join(c.source for c in nbformat.read(str(path), as_version=4).cells)
        assert not measured.LOOSE.search(text), path
