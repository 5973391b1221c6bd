"""Generated artefacts are reproducible: figures, fixtures and the student notebooks (the dataset: test_dataset.py)."""

from __future__ import annotations

from resnet_course.expected import load_fixtures
from resnet_course.registry import EXERCISES
from tools import make_figures, make_fixtures, release
from tools.notebooks import RELEASE, exercises, source_notebooks


def test_figures_redraw_identically():
    assert make_figures.differences() == []


def test_fixtures_regenerate_from_the_reference_solutions():
    for path, make in make_fixtures.files().items():
        assert make_fixtures.differences(make(), load_fixtures(path)) == [], path.name


def test_student_notebooks_are_up_to_date_and_leak_nothing(capsys):
    assert release.main(["--check"]) == 0, capsys.readouterr().out
    assert release.leaks(RELEASE) == []


def test_every_exercise_has_a_public_test_and_a_stub():
    import nbformat

    import public_tests

    names = [name for path in source_notebooks() for name in exercises(path)]
    assert names == list(EXERCISES), "the registry (resnet_course/checks/*.py EXERCISES) and the notebooks differ"
    for path in source_notebooks():
        student = RELEASE / path.parent.name / path.name
        text = nbformat.read(str(student), as_version=4)
        for name in exercises(path):
            assert callable(getattr(public_tests, f"{name}_test")), name
            cell = next(c for c in text.cells if c.get("metadata", {}).get("nbgrader", {}).get("grade_id") == name)
            assert "raise NotImplementedError()" in cell.source and "# YOUR CODE HERE" in cell.source


def test_every_image_a_notebook_shows_exists():
    import re

    import nbformat

    for path in source_notebooks() + [RELEASE / p.parent.name / p.name for p in source_notebooks()]:
        for cell in nbformat.read(str(path), as_version=4).cells:
            if cell.cell_type == "markdown":
                for target in re.findall(r"!\[[^\]]*\]\(([^)\s]+)\)", cell.source):
                    if target.startswith("attachment:"):  # release notebooks carry their figures
                        assert target[len("attachment:") :] in cell.get("attachments", {}), f"{path.name}: {target}"
                        continue
                    assert (path.parent / target).resolve().is_file(), f"{path.name}: missing image {target}"


def test_grading_can_skip_the_experiment_and_free_check_cells():
    """Grading skips the cells tagged ``experiment`` and the free checks; no other cell may need what they define."""
    import nbformat

    from tools.notebooks import experiment_leaks, read

    for path in source_notebooks():
        assert experiment_leaks(read(path)) == [], path.name
    broken = nbformat.v4.new_notebook()
    broken.cells = [
        nbformat.v4.new_code_cell("data = load()"),
        nbformat.v4.new_code_cell("def f(data):\n    return data\nprint(data)"),
    ]
    broken.cells[0].metadata["tags"] = ["experiment"]
    assert experiment_leaks(broken) == ["cell 1 reads data, bound only by cells grading skips"]
    broken.cells[0].metadata["tags"] = []
    assert experiment_leaks(broken) == []
    broken.cells[0].source = 'from test_utils import free_check\nwith free_check("f"):\n    data = load()'
    assert experiment_leaks(broken) == ["cell 1 reads data, bound only by cells grading skips"]
    assert sum("experiment" in c.metadata.get("tags", []) for p in source_notebooks() for c in read(p).cells) >= 20


def test_source_notebooks_have_unique_cell_ids():
    """nbformat renames a repeated cell id with only a warning, so a copied cell would get a random id at every
    read, and nbgrader's cell of that id would change from one read to the next."""
    import json

    for path in source_notebooks():
        ids = [cell.get("id") for cell in json.loads(path.read_text(encoding="utf-8"))["cells"]]
        repeated = sorted({i for i in ids if ids.count(i) > 1})
        assert repeated == [] and None not in ids, f"{path.name}: repeated or missing cell ids {repeated}"
