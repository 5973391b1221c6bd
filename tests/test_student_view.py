"""What the student sees: the check command, clean installs, quiet notebooks, figures, progress."""

from __future__ import annotations

import os
import subprocess
import sys
import tomllib

import nbformat

from tools import check_notebook
from tools.notebooks import RELEASE, ROOT, SOURCE, nbgrader_meta, solved, source_notebooks


def release_notebooks():
    return [RELEASE / p.parent.name / p.name for p in source_notebooks()]


# --------------------------------------------------------------------------- make check / ./check
def test_changed_locked_cells_are_put_back_exactly_as_released():
    for path in release_notebooks():
        nb = nbformat.read(str(path), as_version=4)
        locked = [c for c in nb.cells if nbgrader_meta(c).get("locked") and "checksum" in nbgrader_meta(c)]
        assert locked, path
        for cell in locked:
            cell.source += "\nprint('edited')"
        assert len(check_notebook.changed_locked_cells(nb)) == len(locked)
        assert check_notebook.put_back_originals(nb, SOURCE / path.parent.name / path.name) == [], path
        assert check_notebook.changed_locked_cells(nb) == [], path


def test_check_reports_a_locked_edit_and_still_runs_the_tests(tmp_path):
    """The README's check command: only the course's report, exit 1, both the edit and the failure."""
    folder = tmp_path / "02_identity_block"
    folder.mkdir()
    nb = solved(RELEASE / "02_identity_block/identity_block.ipynb", SOURCE / "02_identity_block/identity_block.ipynb")
    for cell in nb.cells:
        if nbgrader_meta(cell).get("grade_id") == "identity_block":
            cell.source = cell.source.replace("layers.Conv2D", "layers.Conv2d", 1)
        if nbgrader_meta(cell).get("grade_id") == "identity_block_tests":
            cell.source = 'print("all good")'
    path = folder / "identity_block.ipynb"
    nbformat.write(nb, str(path))
    before = path.read_bytes()
    env = dict(os.environ)
    env.pop("RESNET_COURSE_FAST", None)
    proc = subprocess.run([str(ROOT / "check"), str(path)], cwd=tmp_path, env=env, capture_output=True, text=True,
                          timeout=600)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert proc.stderr == "", proc.stderr
    out = proc.stdout
    assert "1 locked cell(s) were changed" in out and 'print("all good")' in out, out
    assert "FAIL  identity_block_tests (10 points)" in out and "Conv2d" in out and "in your code, line" in out, out
    assert "Traceback" not in out and "make:" not in out, out
    assert path.read_bytes() == before and sorted(p.name for p in folder.iterdir()) == ["identity_block.ipynb"]


def test_make_check_runs_the_check_script():
    text = (ROOT / "Makefile").read_text()
    assert "\t@./check $(NB)" in text
    assert os.access(ROOT / "check", os.X_OK)


# --------------------------------------------------------------------------- make setup
def test_pyproject_uses_the_current_license_format():
    """A TOML-table license makes setuptools print a deprecation box three times during `make setup`."""
    meta = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert isinstance(meta["project"]["license"], str)
    assert "setuptools>=77" in meta["build-system"]["requires"]      # SPDX strings need setuptools 77
    # Modules at the root, declared as such: setuptools then installs the editable copy through a plain
    # .pth entry, without its "Editable installation" box.
    assert meta["tool"]["setuptools"]["package-dir"] == {"": "."}
