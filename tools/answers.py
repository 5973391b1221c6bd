"""The solutions appendix: every notebook's "Questions to think about" with the instructor's answers.

The answers live once, in the source notebooks, in a markdown cell tagged ``answers`` right after the
questions. ``python -m tools.release`` removes those cells from the student notebooks (they carry no
nbgrader metadata, so nothing is graded by hand). After the deadline, an instructor can release either
this appendix or nbgrader's solution notebooks (``nbgrader generate_solution <assignment>``, which keep
the answers cells).

Usage (from the repository root)::

    python -m tools.answers                       # writes build/solutions/answers.md
    python -m tools.answers --output answers.md
"""

from __future__ import annotations

import argparse
import re
from pathlib import Path

from .measured import without_markers
from .notebooks import ROOT, read, source_notebooks
from .release import ANSWER_TAG

QUESTIONS_HEADING = re.compile(r"^##\s+\d+\s+·\s+Questions to think about\s*$", re.M)
ITEM = re.compile(r"^(\d+)\.\s", re.M)


def is_answer_cell(cell) -> bool:
    return cell.cell_type == "markdown" and ANSWER_TAG in cell.get("metadata", {}).get("tags", [])


def items(text: str) -> list[str]:
    """The numbered items ("1. ...") of a markdown text, each without its number."""
    starts = list(ITEM.finditer(text))
    return [
        text[m.end() : (starts[k + 1].start() if k + 1 < len(starts) else len(text))].strip()
        for k, m in enumerate(starts)
    ]


def questions_and_answers(path: Path) -> tuple[str, list[str], list[str]]:
    """(title, questions, answers) of one source notebook."""
    nb = read(path)
    title = nb.cells[0].source.splitlines()[0].lstrip("# ").strip()
    questions, answers = [], []
    for cell in nb.cells:
        if is_answer_cell(cell):
            answers += items(cell.source)
        elif cell.cell_type == "markdown":
            match = QUESTIONS_HEADING.search(cell.source)
            if match:
                questions += items(cell.source[match.end() :])
    return title, questions, answers


def appendix() -> str:
    parts = [
        "# Solutions appendix: answers to the questions to think about",
        "",
        "Release after the deadline. Generated from the source notebooks by `python -m tools.answers`.",
        "",
    ]
    for path in source_notebooks():
        title, questions, answers = questions_and_answers(path)
        parts += [f"## {title}", ""]
        for k, (question, answer) in enumerate(zip(questions, answers), start=1):
            parts += [f"**Question {k}.** {question}", "", f"**Answer.** {answer}", ""]
    return without_markers("\n".join(parts))  # released to students: no results markers, as in notebooks/


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", type=Path, default=ROOT / "build" / "solutions" / "answers.md")
    args = parser.parse_args(argv)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(appendix(), encoding="utf-8")
    print(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
