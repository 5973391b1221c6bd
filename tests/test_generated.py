"""Generated artefacts are reproducible: dataset, figures, fixtures and the student notebooks."""

from __future__ import annotations

from tools import make_dataset, make_figures, make_fixtures, release
from tools.notebooks import RELEASE, source_notebooks, exercises
from test_utils import load_fixtures
import resnets_utils


def test_dataset_regenerates_identically():
    X_train, Y_train, X_test, Y_test, _ = resnets_utils.load_dataset()
    fresh = make_dataset.build()
    assert (fresh["train"][0] == X_train).all() and (fresh["train"][1] == Y_train.ravel()).all()
    assert (fresh["test"][0] == X_test).all() and (fresh["test"][1] == Y_test.ravel()).all()


def test_gestures_dataset_regenerates_identically():
    X_train, Y_train, X_test, Y_test, classes = resnets_utils.load_dataset(name="gestures")
    fresh = make_dataset.build_gestures()
    assert X_train.shape == (60, 64, 64, 3) and X_test.shape == (100, 64, 64, 3)
    assert list(classes) == [0, 1, 2, 3] and resnets_utils.GESTURE_NAMES == make_dataset.GESTURE_NAMES
    assert (fresh["train"][0] == X_train).all() and (fresh["train"][1] == Y_train.ravel()).all()
    assert (fresh["test"][0] == X_test).all() and (fresh["test"][1] == Y_test.ravel()).all()


def test_figures_redraw_identically():
    assert make_figures.differences() == []


def test_fixtures_regenerate_from_the_reference_solutions():
    for path, make in make_fixtures.files().items():
        assert make_fixtures.differences(make(), load_fixtures(path)) == [], path.name


def test_student_notebooks_are_up_to_date_and_leak_nothing(capsys):
    assert release.main(["--check"]) == 0, capsys.readouterr().out
    assert release.leaks(RELEASE) == []


def test_every_exercise_has_a_public_test_and_a_stub():
    import public_tests
    import nbformat

    names = [name for path in source_notebooks() for name in exercises(path)]
    assert names == ["unit_forward", "gradient_norms", "build_cnn", "identity_block", "convolutional_block", "ResNet50",
                     "batchnorm_forward", "freeze_batchnorm", "load_pretrained", "build_transfer_model",
                     "start_fine_tuning", "preactivation_block", "grad_cam"]
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
                    if target.startswith("attachment:"):     # release notebooks carry their figures
                        assert target[len("attachment:"):] in cell.get("attachments", {}), f"{path.name}: {target}"
                        continue
                    assert (path.parent / target).resolve().is_file(), f"{path.name}: missing image {target}"
