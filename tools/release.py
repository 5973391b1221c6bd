"""Generate the student notebooks in ``notebooks/`` from the nbgrader source notebooks.

Runs ``nbgrader generate_assignment`` for every assignment folder of ``source/``
(solutions become ``raise NotImplementedError()`` stubs, hidden tests are removed,
cells are locked and checksummed). The output is byte-stable.

Usage (from the repository root)::

    python -m tools.release            # regenerate notebooks/
    python -m tools.release --check    # fail if notebooks/ is stale or leaks solution text, or if
                                       # source/ or notebooks/ carry run metadata
    python -m tools.release --strip    # remove run metadata (execution timestamps) from source/
"""

from __future__ import annotations

import argparse
import filecmp
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import nbformat

from .measured import without_markers
from .notebooks import ROOT, SOURCE

LEAK_MARKERS = ("### BEGIN SOLUTION", "### END SOLUTION", "### BEGIN HIDDEN TESTS", "_hidden_test")


def assignments(source: Path = SOURCE) -> list[str]:
    """The assignment folders of ``source`` (by default the course's ``source/``), in course order."""
    return sorted(p.name for p in source.iterdir() if p.is_dir() and not p.name.startswith("."))


def nbgrader_env(**extra: str) -> dict:
    """Environment for running nbgrader: quiet TensorFlow, and this Python's bin/ first on PATH
    (nbgrader runs the ``alembic`` command of its environment, also when the venv is not activated)."""
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", **extra)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    return env


def generate(course_root: Path, names: list[str]) -> None:
    """Run nbgrader generate_assignment in ``course_root`` (which holds nbgrader_config.py and source/)."""
    env = nbgrader_env()
    for name in names:
        cmd = [sys.executable, "-m", "nbgrader", "generate_assignment", name, "--force", "--no-db", "--log-level=WARN"]
        proc = subprocess.run(cmd, cwd=course_root, env=env, capture_output=True, text=True)
        if proc.returncode != 0:
            raise SystemExit(f"nbgrader generate_assignment {name} failed:\n{proc.stdout}\n{proc.stderr}")
        remove_answer_cells(course_root / "notebooks" / name)


ANSWER_TAG = "answers"  # markdown cells with this tag hold the answers to "Questions to think about"


def remove_answer_cells(folder: Path) -> None:
    """Delete the cells tagged ``answers`` from every notebook under ``folder`` (a generated release).

    The answers are instructor material: they stay in source/ and in the solutions appendix
    (``python -m tools.answers``). They carry no nbgrader metadata, so the gradebook never lists
    them and nothing is graded by hand.
    """
    import nbformat

    for path in sorted(folder.rglob("*.ipynb")):
        nb = nbformat.read(str(path), as_version=4)
        kept = [cell for cell in nb.cells if ANSWER_TAG not in cell.get("metadata", {}).get("tags", [])]
        if len(kept) != len(nb.cells):
            nb.cells = kept
            nbformat.write(nb, str(path))


def stage_course(dest: Path) -> None:
    """Copy what nbgrader needs to generate the release into ``dest``."""
    shutil.copy2(ROOT / "nbgrader_config.py", dest / "nbgrader_config.py")
    shutil.copytree(SOURCE, dest / "source", ignore=shutil.ignore_patterns(".ipynb_checkpoints", "__pycache__"))
    for path in (dest / "source").glob("*/*.ipynb"):  # the results markers stay in the source (tools.measured)
        nb = nbformat.read(str(path), as_version=4)
        for cell in nb.cells:
            if cell.cell_type == "markdown":
                cell.source = without_markers(cell.source)
        nbformat.write(nb, str(path))
    shutil.copytree(ROOT / "images", dest / "images")  # embedded as attachments (nbgrader_config.EmbedImages)


def leaks(folder: Path) -> list[str]:
    found = []
    for nb in sorted(folder.rglob("*.ipynb")):
        text = nb.read_text(encoding="utf-8")
        found += [f"{nb.relative_to(folder)}: contains {m!r}" for m in LEAK_MARKERS if m in text]
    return found


RUN_METADATA = ("execution", "ExecuteTime")


def run_metadata(folder: Path, release: bool = False) -> list[str]:
    """Notebooks of ``folder`` whose cells carry run metadata (execution timestamps), and, for a release,
    outputs or execution counts: what a maintainer's run leaves behind and a student should not get."""
    import nbformat

    found = []
    for path in sorted(folder.rglob("*.ipynb")):
        if ".ipynb_checkpoints" in path.parts:
            continue
        cells = nbformat.read(str(path), as_version=4).cells
        if any(key in cell.get("metadata", {}) for cell in cells for key in RUN_METADATA):
            found.append(f"{path.relative_to(folder)}: cells carry execution timestamps (run metadata)")
        if release and any(
            cell.get("outputs") or cell.get("execution_count") for cell in cells if cell.cell_type == "code"
        ):
            found.append(f"{path.relative_to(folder)}: code cells carry outputs or execution counts")
    return found


def strip_run_metadata(folder: Path = SOURCE) -> int:
    """Remove run metadata from every notebook of ``folder`` (JSON layout kept); the number of files changed."""
    import nbformat

    changed = 0
    for path in sorted(folder.rglob("*.ipynb")):
        nb = nbformat.read(str(path), as_version=4)
        dropped = [cell.metadata.pop(key) for cell in nb.cells for key in RUN_METADATA if key in cell.metadata]
        if dropped:
            nbformat.write(nb, str(path))
            changed += 1
    return changed


def compare(fresh: Path, committed: Path) -> list[str]:
    problems = []
    fresh_files = {p.relative_to(fresh) for p in fresh.rglob("*") if p.is_file()}
    committed_files = (
        {p.relative_to(committed) for p in committed.rglob("*") if p.is_file()} if committed.exists() else set()
    )
    for rel in sorted(fresh_files - committed_files):
        problems.append(f"missing in notebooks/: {rel}")
    for rel in sorted(committed_files - fresh_files):
        problems.append(f"not generated from source/: notebooks/{rel}")
    for rel in sorted(fresh_files & committed_files):
        if not filecmp.cmp(fresh / rel, committed / rel, shallow=False):
            problems.append(f"stale: notebooks/{rel} differs from what source/ generates")
    return problems


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="compare a fresh release with notebooks/")
    parser.add_argument("--strip", action="store_true", help="only remove run metadata from source/ notebooks")
    args = parser.parse_args(argv)
    if args.strip:
        print(f"removed run metadata from {strip_run_metadata()} source notebook(s)")
        return 0
    with tempfile.TemporaryDirectory() as tmp:
        course = Path(tmp)
        stage_course(course)
        generate(course, assignments())
        fresh = course / "notebooks"
        problems = leaks(fresh) + run_metadata(fresh, release=True)
        if args.check:
            problems += [f"source/{p}" for p in run_metadata(SOURCE)]
            problems += compare(fresh, ROOT / "notebooks")
            print("\n".join(problems) or "notebooks/ is up to date with source/")
            if problems:
                print(
                    "Run `python -m tools.release --strip` (run metadata in source/), then `python -m tools.release` "
                    "to regenerate notebooks/."
                )
            return 1 if problems else 0
        if problems:
            print("\n".join(problems))
            return 1
        target = ROOT / "notebooks"
        if target.exists():
            shutil.rmtree(target)
        shutil.copytree(fresh, target)
        print(f"wrote {sum(1 for _ in target.rglob('*.ipynb'))} student notebooks to {target}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
