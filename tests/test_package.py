"""The package behind the three facades: one job per module, no way back to the facades or the tests."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from resnet_course import registry
from resnet_course.paths import PACKAGE
from tools.notebooks import exercises, nbgrader_meta, read, source_notebooks

ROOT = PACKAGE.parent
FACADES = ("public_tests", "test_utils", "resnets_utils")
MODULES = sorted(PACKAGE.rglob("*.py"))


def _imports(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module)
    return names


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(ROOT)))
def test_no_package_module_imports_a_facade_or_the_tests(path):
    bad = sorted(n for n in _imports(path) if n.split(".")[0] in FACADES + ("tests",))
    assert not bad, f"{path.relative_to(ROOT)} imports {bad}: import the package's own modules instead"


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(ROOT)))
def test_modules_stay_small(path):
    lines = len(path.read_text(encoding="utf-8").splitlines())
    assert lines <= 550, f"{path.relative_to(ROOT)} has {lines} lines (about 500 at most): split it by job"


@pytest.mark.parametrize("facade", FACADES)
def test_facades_are_thin(facade):
    lines = len((ROOT / f"{facade}.py").read_text(encoding="utf-8").splitlines())
    assert lines < 150, f"{facade}.py has {lines} lines: the code belongs in resnet_course/"


def test_keras_internals_are_used_in_one_module_only():
    private = ("keras.src", "_keras_history", "_inbound_nodes")
    users = sorted(
        str(p.relative_to(ROOT))
        for p in MODULES + [ROOT / f"{f}.py" for f in FACADES]
        if any(word in p.read_text(encoding="utf-8") for word in private)
    )
    assert users == ["resnet_course/keras_internals.py"], users


def test_environment_is_read_in_config_only():
    users = sorted(
        str(p.relative_to(ROOT))
        for p in MODULES
        if p.name != "adversarial.py"  # its attacks are student code, as text
        and ("os.environ.get(" in p.read_text(encoding="utf-8") or "os.getenv(" in p.read_text(encoding="utf-8"))
    )
    assert users == ["resnet_course/config.py"], users


def test_the_registry_matches_the_notebooks():
    """Each exercise's entry names its notebook and the points its graded cell is worth."""
    seen = []
    for path in source_notebooks():
        nb = read(path)
        points = {nbgrader_meta(c).get("grade_id"): nbgrader_meta(c).get("points") for c in nb.cells}
        for name in exercises(path):
            entry = registry.exercise(name)
            assert entry.notebook == path.parent.name, name
            assert entry.points == points[f"{name}_tests"], name
            seen.append(name)
    assert seen == registry.names()


def test_public_tests_exports_every_check_of_the_registry():
    import public_tests

    for entry in registry.EXERCISES.values():
        assert getattr(public_tests, f"{entry.name}_test") is entry.test
        assert getattr(public_tests, f"{entry.name}_hidden_test") is entry.hidden_test
        assert f"{entry.name}_test" in public_tests.__all__ and f"{entry.name}_hidden_test" in public_tests.__all__


def test_fixture_keys_are_unique_in_each_file():
    """Keys are spelled by Exercise.key only; two exercises sharing a file never overwrite each other."""
    for file, entries in registry.fixture_files().items():
        keys = [e.key(i, "x") for e in entries for i in range(len(e.fixtures.configs))]
        assert len(keys) == len(set(keys)), file


def test_the_hidden_test_reloads_every_module_a_check_can_use():
    """A module missing from guard.COURSE_MODULES would keep whatever a notebook assigned to it."""
    from resnet_course.guard import COURSE_MODULES

    modules = {".".join(p.relative_to(ROOT).with_suffix("").parts) for p in MODULES if p.name != "__init__.py"}
    expected = {m for m in modules if not m.startswith(("resnet_course.catalogue", "resnet_course.grading"))}
    expected -= {"resnet_course.guard"}  # grading runs outside the student's interpreter (the judge, the host)
    assert expected - set(COURSE_MODULES) == set(), "add them to resnet_course.guard.COURSE_MODULES"
