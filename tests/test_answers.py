"""The answers to the "Questions to think about": in the source notebooks and the appendix, never in notebooks/."""

from __future__ import annotations

import nbformat

from tools import answers
from tools.notebooks import RELEASE, nbgrader_meta, read, source_notebooks


def test_every_question_has_an_answer_in_the_source_notebooks():
    total = 0
    for path in source_notebooks():
        _, questions, replies = answers.questions_and_answers(path)
        assert questions, f"{path.name}: no questions found"
        assert len(replies) == len(questions), f"{path.name}: {len(questions)} questions, {len(replies)} answers"
        assert all(len(reply) > 80 for reply in replies), path.name
        total += len(questions)
    assert total == 25


def test_answer_cells_are_not_nbgrader_cells_so_nothing_is_graded_by_hand():
    for path in source_notebooks():
        cells = [c for c in read(path).cells if answers.is_answer_cell(c)]
        assert len(cells) == 1, path.name
        assert nbgrader_meta(cells[0]) == {}, path.name


def test_no_answer_text_appears_in_the_student_notebooks():
    for path in source_notebooks():
        _, _, replies = answers.questions_and_answers(path)
        student = RELEASE / path.parent.name / path.name
        text = student.read_text(encoding="utf-8")
        released = nbformat.read(str(student), as_version=4)
        assert not any(answers.is_answer_cell(c) for c in released.cells), student.name
        assert "Answers to the questions" not in text, student.name
        for reply in replies:
            probe = " ".join(reply.split())[:60]
            assert probe not in " ".join(c.source for c in released.cells), f"{student.name}: leaks {probe!r}"


def test_the_appendix_lists_every_question_with_its_answer():
    text = answers.appendix()
    assert text.count("**Question ") == 25 and text.count("**Answer.**") == 25
    assert "<!--" not in text
    assert "71,552" in text and "1,180,160" in text and "459 steps" in text
