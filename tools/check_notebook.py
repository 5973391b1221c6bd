"""Check my notebook before I submit it: run it as the grader does and list the graded cells that fail.

Usage (from the repository root)::

    python -m tools.check_notebook notebooks/02_identity_block/identity_block.ipynb
    ./check notebooks/02_identity_block/identity_block.ipynb      # the same, from any shell
    make check NB=notebooks/02_identity_block/identity_block.ipynb
    python -m tools.check_notebook                 # every notebook in notebooks/

The notebook runs from top to bottom in a fresh kernel, in its own folder and in fast
mode, through nbgrader's ``Validator`` (what ``nbgrader validate`` does, with the
course's configuration); the file itself is not changed. The exit status is 0 when
every graded cell passes and 1 otherwise, unlike ``nbgrader validate``, which exits
with 0 even when tests fail (``make check`` reports the same, but GNU make turns any failure into
its own status 2 and an error line; ``./check`` keeps the 1). A changed locked cell is reported and,
as the grader does, replaced by its original for the run, so the tests still say how the answers do. Your notebook holds the visible tests only: the hidden
tests run when your instructor grades, so passing here is necessary for full marks,
not a guarantee.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
from contextlib import contextmanager
from pathlib import Path

import nbformat

from .measured import without_markers
from .notebooks import RELEASE, ROOT, SOURCE, nbgrader_meta, read, source_notebooks

ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
ERROR_LINE = re.compile(r"^[A-Za-z_][\w.]*(Error|Exception|Exit|Interrupt|Failure)\b")


def course_config(course: Path = ROOT):
    from traitlets.config.loader import PyFileConfigLoader

    return PyFileConfigLoader("nbgrader_config.py", path=str(course)).load_config()


def _validator(config):
    from nbgrader.preprocessors import CheckCellMetadata, ClearOutput, Execute, IgnorePattern
    from nbgrader.validator import Validator
    from traitlets import List

    class CourseValidator(Validator):
        """nbgrader's Validator, which also drops the stderr lines autograding ignores (IgnorePattern)."""

        preprocessors = List([CheckCellMetadata, ClearOutput, Execute, IgnorePattern])

    return CourseValidator(config=config)


def error_message(raw: str) -> str:
    """The part of a cell's error output a learner needs: from the exception's name to the end."""
    lines = ANSI.sub("", raw).rstrip().splitlines()
    starts = [i for i, line in enumerate(lines) if ERROR_LINE.match(line)]
    return "\n".join(lines[starts[-1] :] if starts else lines[-10:])


@contextmanager
def kernel_stderr_silenced():
    """The kernel inherits this process's stderr, where TensorFlow logs its start-up; hide those lines."""
    sys.stderr.flush()
    saved = os.dup(2)
    with open(os.devnull, "w") as devnull:
        os.dup2(devnull.fileno(), 2)
    try:
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


HIDDEN = re.compile(r"^[ \t]*### BEGIN HIDDEN TESTS.*?### END HIDDEN TESTS[ \t]*\n?", re.S | re.M)


def changed_locked_cells(nb) -> list:
    """The locked cells whose source no longer matches the checksum the release recorded."""
    from nbgrader import utils

    return [
        c
        for c in nb.cells
        if utils.is_locked(c)
        and "checksum" in nbgrader_meta(c)
        and utils.compute_checksum(c) != nbgrader_meta(c)["checksum"]
    ]


MARKDOWN_IMAGE = re.compile(r"(!\[[^\]]*\]\()([^)\s]+)(\))")  # the links nbgrader_config's EmbedImages embeds
IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".gif", ".svg"}


def as_released(markdown: str) -> str:
    """A source markdown cell's text as the release holds it: each local image is a cell attachment, and the
    results markers are gone."""

    def link(match):
        target = match.group(2)
        if "://" in target or target.startswith("attachment:") or Path(target).suffix.lower() not in IMAGE_SUFFIXES:
            return match.group(0)
        return f"{match.group(1)}attachment:{Path(target).name}{match.group(3)}"

    return MARKDOWN_IMAGE.sub(link, without_markers(markdown))


def put_back_originals(nb, source_path: Path) -> list:
    """Put back the original of every changed locked cell, as the grader does; the cells it could not restore.

    The original is the source notebook's cell of the same ``grade_id`` without its hidden tests, which is what
    the release holds; it counts as the original only when its checksum is the one the release recorded.
    """
    from nbgrader import utils

    originals = {nbgrader_meta(c).get("grade_id"): c for c in read(source_path).cells} if source_path.is_file() else {}
    left = []
    for cell in changed_locked_cells(nb):
        original = originals.get(nbgrader_meta(cell).get("grade_id"))
        if original is not None:
            edited = cell.source
            cell.source = (
                HIDDEN.sub("", original.source).rstrip("\n")
                if cell.cell_type == "code"
                else as_released(original.source)
            )
            if utils.compute_checksum(cell) == nbgrader_meta(cell)["checksum"]:
                continue
            cell.source = edited
        left.append(cell)
    return left


def source_of(nb, path: Path) -> Path:
    """The source notebook ``nb`` (read from ``path``) was released from: the one of the same assignment folder
    and name, else the one that holds its graded cells (a copy saved elsewhere, or renamed)."""
    same = SOURCE / path.parent.name / path.name
    if same.is_file():
        return same
    ids = {nbgrader_meta(c).get("grade_id") for c in nb.cells if nbgrader_meta(c).get("grade")} - {None}
    for candidate in source_notebooks():
        if ids and ids <= {nbgrader_meta(c).get("grade_id") for c in read(candidate).cells}:
            return candidate
    return same


def check(path: Path, config=None) -> tuple[bool, list[str]]:
    """Run one notebook; ``(passed, report lines)``.

    A changed locked cell is reported and, as the grader does, replaced by its original before the run, so the
    learner also learns what the graded cells say about their answers.
    """
    nb = nbformat.read(str(path), as_version=4)
    graded = [c for c in nb.cells if nbgrader_meta(c).get("grade") and c.cell_type == "code"]
    total = sum(float(nbgrader_meta(c).get("points", 0)) for c in graded)
    report = []
    changed = changed_locked_cells(nb)
    release = source_of(nb, path)
    target, kept = path, []
    if changed:
        report.append(
            f"  {len(changed)} locked cell(s) were changed; the grader puts back the original, so your edit "
            "does not count. Undo it (copy the cell from a fresh copy of the notebook):"
        )
        report += [
            f"    - {cell.source.splitlines()[0] if cell.source.strip() else '(empty cell)'}" for cell in changed
        ]
        kept = put_back_originals(nb, release)
        report.append(
            "  The tests below ran with the original cells put back"
            + (f", except {len(kept)} the check could not restore." if kept else ".")
        )
        target = path.with_name(f".check-{path.name}")
        nbformat.write(nb, str(target))
    try:
        with kernel_stderr_silenced():
            validator = _validator(config if config is not None else course_config())
            validator.ignore_checksums = bool(changed)
            results = validator.validate(str(target))
    finally:
        if target != path:
            target.unlink(missing_ok=True)
    if results.get("type_changed"):
        cells = results["type_changed"]
        report.append(
            f"  {len(cells)} locked cell(s) changed type; the grader puts back the original. Undo it "
            "(copy the cell from a fresh copy of the notebook):"
        )
        report += [f"    - {cell['source'].splitlines()[0] if cell['source'] else '(empty cell)'}" for cell in cells]
        return False, report
    if release.is_file():
        present = {nbgrader_meta(c).get("grade_id") for c in graded}
        report += [
            f"  note: the graded cell {name} is not in your notebook (deleted?); the grader puts it back and runs it"
            for name in (nbgrader_meta(c).get("grade_id") for c in read(release).cells if nbgrader_meta(c).get("grade"))
            if name not in present
        ]
    # A changed graded cell that could not be put back did not run as released: it fails, whatever it printed.
    unrestored = [cell for cell in kept if cell in graded]
    failed = [f for f in results.get("failed", []) if all(f["source"] != c.source.strip() for c in unrestored)]
    lost = 0.0
    for cell in unrestored:
        points = float(nbgrader_meta(cell).get("points", 0))
        lost += points
        report.append(f"  FAIL  {nbgrader_meta(cell).get('grade_id', '?')} ({points:g} points)")
        report.append("        this graded cell was changed and could not be put back, so it did not run as released")
    for item in failed:
        cell = next((c for c in graded if c.source.strip() == item["source"]), None)
        name = nbgrader_meta(cell).get("grade_id", "?") if cell else "a graded cell"
        points = float(nbgrader_meta(cell).get("points", 0)) if cell else 0.0
        lost += points
        report.append(f"  FAIL  {name} ({points:g} points)")
        report += [f"        {line}" for line in error_message(item["raw_error"]).splitlines()]
    failing = len(failed) + len(unrestored)
    if failing:
        report.append(
            f"  {failing} of {len(graded)} graded cells fail: {total - lost:g} of {total:g} points "
            "from the visible tests. Fix them before you submit."
        )
    else:
        report.append(
            f"  all {len(graded)} graded cells pass ({total:g} of {total:g} points from the visible tests; "
            "the hidden tests run when your instructor grades)"
        )
    return not failing and not changed, report


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("notebooks", nargs="*", type=Path, help="default: every notebook in notebooks/")
    args = parser.parse_args(argv)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    paths = args.notebooks or sorted(RELEASE.glob("*/*.ipynb"))
    missing = [p for p in paths if not p.is_file()]
    if missing:
        raise SystemExit(f"no such notebook: {', '.join(map(str, missing))}")
    config = course_config()
    ok = True
    for path in paths:
        print(path)
        passed, report = check(path.resolve(), config)
        print("\n".join(report))
        ok &= passed
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
