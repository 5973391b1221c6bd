"""Read the nbgrader source notebooks: find exercises and run their reference solutions.

The solutions live once, in ``source/<assignment>/<notebook>.ipynb``, in the
autograded-answer cell whose ``grade_id`` is the exercise's name. Tests and
fixture scripts get the reference implementation from there, never from a copy.
"""

from __future__ import annotations

import types
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parent.parent
SOURCE = ROOT / "source"
RELEASE = ROOT / "notebooks"


def source_notebooks() -> list[Path]:
    """All source notebooks, in course order (assignment folders are numbered)."""
    return sorted(p for p in SOURCE.glob("*/*.ipynb") if ".ipynb_checkpoints" not in p.parts)


def read(path: Path):
    return nbformat.read(str(path), as_version=4)


def nbgrader_meta(cell) -> dict:
    return cell.get("metadata", {}).get("nbgrader", {})


def exercises(path: Path) -> list[str]:
    """grade_ids of the autograded-answer (solution) code cells of a notebook."""
    return [
        nbgrader_meta(c)["grade_id"]
        for c in read(path).cells
        if c.cell_type == "code" and nbgrader_meta(c).get("solution")
    ]


def find_exercise(name: str):
    """``(path, notebook, cell index)`` of the source notebook's solution cell with ``grade_id == name``."""
    hits = []
    for path in source_notebooks():
        nb = read(path)
        for i, cell in enumerate(nb.cells):
            meta = nbgrader_meta(cell)
            if cell.cell_type == "code" and meta.get("solution") and meta.get("grade_id") == name:
                hits.append((path, nb, i))
    if len(hits) != 1:
        raise LookupError(
            f"expected one solution cell with grade_id={name!r}, found {len(hits)}: {[(str(p), i) for p, _, i in hits]}"
        )
    return hits[0]


def setup_code(nb) -> str:
    """Source of the notebook's cells tagged ``setup`` (its imports and given objects)."""
    return "\n\n".join(
        c.source for c in nb.cells if c.cell_type == "code" and "setup" in c.get("metadata", {}).get("tags", [])
    )


def load_solution(name: str, edit=None, overrides=None):
    """The reference implementation of exercise ``name``, run from its source notebook.

    The notebook's ``setup`` cells run first in a fresh namespace, then the
    solution cell. ``edit`` (a function of the cell's source) changes the code
    first, e.g. to make a mutant; ``overrides`` replaces names of the setup
    namespace, e.g. the blocks a ResNet50 is built from.
    """
    path, nb, index = find_exercise(name)
    ns = types.ModuleType(f"setup_{name}").__dict__
    exec(compile(setup_code(nb), f"{path.name}:setup", "exec"), ns)
    ns.update(overrides or {})
    code = nb.cells[index].source
    exec(compile(edit(code) if edit else code, f"{path.name}:{name}", "exec"), ns)
    return ns[name]


SOLUTION_DELIMITERS = ("### BEGIN SOLUTION", "### END SOLUTION")


def solution_source(cell_source: str) -> str:
    """A solution cell's code without nbgrader's solution delimiter lines."""
    return "\n".join(line for line in cell_source.splitlines() if line.strip() not in SOLUTION_DELIMITERS)


def solved(release_path: Path, source_path: Path):
    """The student notebook with every exercise answered by the reference solution (a model submission)."""
    nb = read(release_path)
    answers = {
        nbgrader_meta(c).get("grade_id"): solution_source(c.source)
        for c in read(source_path).cells
        if nbgrader_meta(c).get("solution")
    }
    for cell in nb.cells:
        gid = nbgrader_meta(cell).get("grade_id")
        if nbgrader_meta(cell).get("solution") and gid in answers:
            cell.source = answers[gid]
    return nb


def _names(source: str) -> tuple[set[str], set[str]]:
    """(names a cell binds, global names it reads), by its syntax; inside a function its parameters are not reads."""
    import ast

    from IPython.core.inputtransformer2 import TransformerManager

    bound, read = set(), set()

    def visit(node, params: frozenset):
        if isinstance(node, ast.Name):
            if isinstance(node.ctx, ast.Load):
                if node.id not in params:
                    read.add(node.id)
            else:
                bound.add(node.id)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            bound.update((alias.asname or alias.name).split(".")[0] for alias in node.names)
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            bound.add(node.name)
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
            params = params | {a.arg for a in ast.walk(node.args) if isinstance(a, ast.arg)}
        for child in ast.iter_child_nodes(node):
            visit(child, params)

    visit(ast.parse(TransformerManager().transform_cell(source)), frozenset())
    return bound, read


def _skipped_while_grading(cell) -> bool:
    """Whether grading skips the cell: tagged ``experiment``, or a free check (run again by the judge)."""
    from resnet_course.grading.grade_one import EXPERIMENT_TAG, FREE_CHECK_PREFIX

    return EXPERIMENT_TAG in cell.get("metadata", {}).get("tags", []) or cell.source.startswith(FREE_CHECK_PREFIX)


def experiment_leaks(nb) -> list[str]:
    """Why skipping the notebook's ``experiment`` and free check cells (as grading does) would break another
    cell, if it would: a cell that is run reads a name only skipped cells bind, or an nbgrader or setup cell is
    tagged ``experiment``."""
    problems, only_skipped, kept = [], set(), set()
    cells = [(i, c) for i, c in enumerate(nb.cells) if c.cell_type == "code"]
    for i, cell in cells:
        tags = cell.get("metadata", {}).get("tags", [])
        bound, _ = _names(cell.source)
        if _skipped_while_grading(cell):
            only_skipped |= bound
            if "experiment" in tags and (nbgrader_meta(cell) or "setup" in tags):
                problems.append(f"cell {i} is tagged 'experiment' but is an nbgrader or setup cell")
        else:
            kept |= bound
    for i, cell in cells:
        if not _skipped_while_grading(cell):
            leaked = sorted(_names(cell.source)[1] & (only_skipped - kept))
            if leaked:
                problems.append(f"cell {i} reads {', '.join(leaked)}, bound only by cells grading skips")
    return problems
