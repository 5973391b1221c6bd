"""Time budgets per notebook: reading and working time (estimated), run time (measured), one sitting each.

    python -m tools.budgets

Each notebook's first cell states "**Time:** about N minutes to read and work through". Nobody timed students,
so N is an estimate from what the student meets in the released notebook, by a model stated here once:

- prose (markdown, without the instructor's answers appendix and HTML comments) at ``WORDS_PER_MINUTE``,
  slower than the 200 to 250 words a minute of ordinary non-fiction because it carries formulas and figures;
- given code (non-blank, non-comment lines of code cells that are neither an exercise nor a graded test) at
  ``CODE_LINES_PER_MINUTE``: read, run, look at the output;
- ``MINUTES_PER_EXERCISE`` for each graded function: read its specification, write it, run its free check, fix.

The stated N must be within ``TOLERANCE`` of the estimate (tests/test_budgets.py), so adding a section without
updating the time fails. A notebook fits one sitting when its estimate plus its full-mode run time
(``docs/results-full.json``) is at most ``SITTING_MINUTES``. This prints the table and exits 1 on a problem.
"""

from __future__ import annotations

import json
import re
import sys
from dataclasses import dataclass
from pathlib import Path

from .notebooks import ROOT, nbgrader_meta, read, source_notebooks

WORDS_PER_MINUTE = 150
CODE_LINES_PER_MINUTE = 10
MINUTES_PER_EXERCISE = 10
TOLERANCE = 0.15  # the stated minutes may be this far off the estimate either way
SITTING_MINUTES = 90  # one lab session
STATED = re.compile(r"\*\*Time:\*\* about (\d+) minutes to read and work through")
COMMENT = re.compile(r"<!--.*?-->", re.S)


@dataclass(frozen=True)
class Budget:
    notebook: str  # e.g. "05_batchnorm/batchnorm.ipynb"
    words: int
    code_lines: int
    exercises: int
    stated: int | None  # minutes, from the first cell; None when the sentence is missing
    full_seconds: float | None  # run time in full mode, from docs/results-full.json

    @property
    def estimate(self) -> float:
        """Reading and working minutes by the module's model."""
        return (
            self.words / WORDS_PER_MINUTE
            + self.code_lines / CODE_LINES_PER_MINUTE
            + self.exercises * MINUTES_PER_EXERCISE
        )

    @property
    def sitting(self) -> float:
        """Minutes for one pass through the notebook: reading and working plus the full-mode run."""
        return self.estimate + (self.full_seconds or 0) / 60


def budget(path: Path, full_seconds: dict[str, float] | None = None) -> Budget:
    """The budget of one source notebook (its released form: no solutions, tests or answers counted)."""
    nb = read(path)
    words = code_lines = exercises = 0
    for cell in nb.cells:
        meta = nbgrader_meta(cell)
        if cell.cell_type == "markdown":
            if not cell.get("id", "").endswith("answers"):
                words += len(COMMENT.sub(" ", cell.source).split())
        elif cell.cell_type == "code":
            if meta.get("solution"):
                exercises += 1
            elif not meta.get("grade"):
                code_lines += sum(
                    1 for line in cell.source.splitlines() if line.strip() and not line.lstrip().startswith("#")
                )
    name = f"{path.parent.name}/{path.name}"
    stated = STATED.search(nb.cells[0].source) if nb.cells else None
    return Budget(
        name, words, code_lines, exercises, int(stated[1]) if stated else None, (full_seconds or {}).get(name)
    )


def recorded_seconds(root: Path = ROOT) -> dict[str, float]:
    """``{notebook: seconds}`` from ``docs/results-full.json``."""
    results = json.loads((root / "docs" / "results-full.json").read_text())
    return {entry["notebook"]: entry["seconds"] for entry in results["notebooks"]}


def problems(budgets: list[Budget]) -> list[str]:
    out = []
    for b in budgets:
        if b.stated is None:
            out.append(
                f"{b.notebook}: the first cell does not say '**Time:** about N minutes to read and work through'"
            )
        elif abs(b.stated - b.estimate) > TOLERANCE * b.estimate:
            out.append(
                f"{b.notebook}: states about {b.stated} minutes to read and work through; the estimate is "
                f"{b.estimate:.0f} ({b.words} words, {b.code_lines} lines of given code, {b.exercises} exercises): "
                f"write about {5 * round(b.estimate / 5)} minutes"
            )
        if b.full_seconds is None:
            out.append(f"{b.notebook}: no full-mode run time in docs/results-full.json (make course)")
        elif b.sitting > SITTING_MINUTES:
            out.append(
                f"{b.notebook}: {b.sitting:.0f} minutes with its full-mode run, more than one sitting "
                f"({SITTING_MINUTES}): split it or cut it"
            )
    return out


def main(argv=None) -> int:
    if sys.argv[1:] if argv is None else argv:
        print("usage: python -m tools.budgets")
        return 2
    seconds = recorded_seconds()
    budgets = [budget(p, seconds) for p in source_notebooks()]
    print(
        f"{'notebook':<50} {'words':>6} {'code':>5} {'ex':>3} {'estimate':>9} {'stated':>7} {'run':>6} {'sitting':>8}"
    )
    for b in budgets:
        run = f"{b.full_seconds / 60:.1f}" if b.full_seconds is not None else "-"
        print(
            f"{b.notebook:<50} {b.words:>6} {b.code_lines:>5} {b.exercises:>3} {b.estimate:>9.0f} "
            f"{b.stated if b.stated is not None else '-':>7} {run:>6} {b.sitting:>8.0f}"
        )
    print("minutes; estimate: reading and working (tools/budgets.py's model), run: full mode, sitting: both")
    found = problems(budgets)
    for line in found:
        print(line)
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
