"""What the student sees: the check command, clean installs, quiet notebooks, figures, progress."""

from __future__ import annotations

import os
import subprocess

import nbformat
import pytest
import tomllib

from resnet_course.harness import unwrapped
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
    proc = subprocess.run(
        [str(ROOT / "check"), str(path)], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600
    )
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert proc.stderr == "", proc.stderr
    out = proc.stdout
    assert "1 locked cell(s) were changed" in out and 'print("all good")' in out, out
    assert (
        "FAIL  identity_block_tests (10 points)" in out and "Conv2d" in out and "in your code, line" in unwrapped(out)
    ), out
    assert "Traceback" not in out and "make:" not in out, out
    assert path.read_bytes() == before and sorted(p.name for p in folder.iterdir()) == ["identity_block.ipynb"]


@pytest.mark.parametrize("restorable", [True, False], ids=["copy elsewhere", "unknown notebook"])
def test_check_never_passes_a_graded_cell_it_did_not_run_as_released(tmp_path, restorable):
    """A copy saved outside notebooks/ under another name still has its graded cell put back (found by its
    grade ids); where no source notebook holds it, the changed graded cell counts as failed, not as passed."""
    nb = solved(RELEASE / "02_identity_block/identity_block.ipynb", SOURCE / "02_identity_block/identity_block.ipynb")
    for cell in nb.cells:
        if nbgrader_meta(cell).get("grade_id") == "identity_block_tests":
            cell.source = 'print("ok")'
            if not restorable:
                cell.metadata["nbgrader"]["grade_id"] = "renamed_identity_block_tests"
    path = tmp_path / "elsewhere" / "my copy.ipynb"
    path.parent.mkdir()
    nbformat.write(nb, str(path))
    passed, report = check_notebook.check(path)
    text = "\n".join(report)
    assert not passed and "1 locked cell(s) were changed" in text, text
    if restorable:
        assert "ran with the original cells put back." in text and "all 1 graded cells pass" in text, text
    else:
        assert "FAIL  renamed_identity_block_tests (10 points)" in text and "0 of 10 points" in text, text
        assert "did not run as released" in text and "all 1 graded cells pass" not in text, text


def test_make_check_runs_the_check_script():
    text = (ROOT / "Makefile").read_text()
    assert "\t@./check $(NB)" in text
    assert os.access(ROOT / "check", os.X_OK)


# --------------------------------------------------------------------------- make setup
def test_pyproject_uses_the_current_license_format():
    """A TOML-table license makes setuptools print a deprecation box three times during `make setup`."""
    meta = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert isinstance(meta["project"]["license"], str)
    assert "setuptools>=77" in meta["build-system"]["requires"]  # SPDX strings need setuptools 77
    # Modules at the root, declared as such: setuptools then installs the editable copy through a plain
    # .pth entry, without its "Editable installation" box.
    assert meta["tool"]["setuptools"]["package-dir"] == {"": "."}


# --------------------------------------------------------------------------- no stderr, no plumbing
def _run_cells(sources, cwd, env):
    from nbclient import NotebookClient

    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(s) for s in sources] + [
        nbformat.v4.new_code_cell("import time; time.sleep(0.5)")
    ]
    saved = dict(os.environ)
    os.environ.update(env)
    os.environ.pop("PYTEST_CURRENT_TEST", None)  # with it, ipykernel does not forward descriptor 2 to the notebook
    try:
        NotebookClient(nb, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(cwd)}}).execute()
    finally:
        os.environ.clear()
        os.environ.update(saved)
    return [o for c in nb.cells for o in c.outputs]


def _stderr(outputs):
    return "".join(o.get("text", "") for o in outputs if o.output_type == "stream" and o.name == "stderr")


def test_a_bare_tensorflow_import_writes_to_stderr():
    """The control for the next test: with TensorFlow's logs on, its start-up does reach the notebook."""
    outputs = _run_cells(["import tensorflow"], ROOT, {"TF_CPP_MIN_LOG_LEVEL": "0"})
    assert _stderr(outputs), outputs


def test_every_setup_cell_starts_tensorflow_quietly_first():
    for path in release_notebooks():
        nb = nbformat.read(str(path), as_version=4)
        setup = [c.source for c in nb.cells if c.cell_type == "code" and "setup" in c.metadata.get("tags", [])]
        code = [ln for ln in setup[0].splitlines() if ln.strip() and not ln.startswith("#")]
        assert code[:2] == ["import resnets_utils", "resnets_utils.start_tensorflow_quietly()"], path


def test_a_setup_cell_runs_without_stderr_in_a_fresh_kernel():
    """Even with TensorFlow's logs switched on, the setup cell (the one importing most) shows no stderr."""
    path = RELEASE / "07_cifar10" / "cifar10.ipynb"
    nb = nbformat.read(str(path), as_version=4)
    setup = [c.source for c in nb.cells if c.cell_type == "code" and "setup" in c.metadata.get("tags", [])]
    outputs = _run_cells(setup[:1], path.parent, {"TF_CPP_MIN_LOG_LEVEL": "0"})
    assert _stderr(outputs) == "", _stderr(outputs)


def test_stderr_still_works_after_the_quiet_start():
    outputs = _run_cells(
        [
            "import resnets_utils; resnets_utils.start_tensorflow_quietly()",
            "import sys; print('visible', file=sys.stderr)",
        ],
        ROOT,
        {"TF_CPP_MIN_LOG_LEVEL": "0"},
    )
    assert _stderr(outputs) == "visible\n"


def test_report_metric_prints_nothing_and_hands_the_value_to_the_runner(tmp_path, capsys, monkeypatch):
    import resnets_utils

    monkeypatch.delenv(resnets_utils.METRICS_ENV, raising=False)
    resnets_utils.report_metric("parameters", 168)
    monkeypatch.setenv(resnets_utils.METRICS_ENV, str(tmp_path / "m.txt"))
    resnets_utils.report_metric("accuracy", 0.91234567)
    resnets_utils.report_metric("parameters", 168.0)
    assert capsys.readouterr().out == ""
    from tools.run_course import key_metric

    assert (tmp_path / "m.txt").read_text() == "accuracy = 0.9123\nparameters = 168\n"
    assert key_metric(tmp_path / "m.txt") == "parameters = 168"
    assert key_metric(tmp_path / "missing.txt") == "-"


def test_no_notebook_prints_plumbing():
    for path in source_notebooks() + release_notebooks():
        text = path.read_text(encoding="utf-8")
        assert "Key metric" not in text, path


def test_the_course_runner_names_the_cell_and_the_time(monkeypatch):
    import io

    import nbformat.v4 as v4

    from tools import run_course

    clock = iter([100.0, 101.0, 109.0, 110.0, 111.0, 111.0, 111.0])
    monkeypatch.setattr(run_course.time, "time", lambda: next(clock))
    stream = io.StringIO()
    with run_course.Progress("04_resnet50", 2, course_start=40.0, stream=stream) as progress:
        cell = v4.new_code_cell("# train\nhistory = model.fit(train_data, epochs=EPOCHS)")
        progress.cell_started(cell, 0)
        progress.cell_completed(cell, 0)
        assert "04_resnet50: cell 2/2" in progress.line()
    out = stream.getvalue()
    assert (
        out
        == "  cell 1/2 took 8 s (notebook 10 s, course 1 min 11 s): history = model.fit(train_data, epochs=EPOCHS)\n"
    )


def test_the_course_runner_logs_a_long_cell_when_it_has_run(tmp_path, monkeypatch, capsys):
    """Through a real kernel: the line comes when the cell has finished, with its real duration."""
    import nbformat

    from tools import run_course

    monkeypatch.setattr(run_course, "LOG_CELLS_FROM", 0.5)
    path = tmp_path / "nb" / "slow.ipynb"
    path.parent.mkdir()
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("import time\ntime.sleep(1.5)")])
    nbformat.write(nb, str(path))
    seconds, _, status, _ = run_course.run_notebook(path, tmp_path / "out" / "slow.ipynb", timeout=60)
    assert status == "ok"
    line = next(ln for ln in capsys.readouterr().out.splitlines() if "cell 1/1 took" in ln)
    assert line.startswith("  cell 1/1 took 1 s") or line.startswith("  cell 1/1 took 2 s"), line


# --------------------------------------------------------------------------- live progress
def test_fit_verbosity_is_a_bar_for_people_and_one_line_per_epoch_headless(monkeypatch):
    import resnets_utils

    for var in ("RESNET_COURSE_HEADLESS", "NBGRADER_EXECUTION"):
        monkeypatch.delenv(var, raising=False)
    assert resnets_utils.fit_verbosity() == 1 and not resnets_utils.headless()
    monkeypatch.setenv("NBGRADER_EXECUTION", "autograde")
    assert resnets_utils.fit_verbosity() == 2
    monkeypatch.delenv("NBGRADER_EXECUTION")
    monkeypatch.setenv("RESNET_COURSE_HEADLESS", "1")
    assert resnets_utils.fit_verbosity() == 2
    monkeypatch.setenv("RESNET_COURSE_HEADLESS", "0")
    assert resnets_utils.fit_verbosity() == 1


def test_training_cells_choose_their_verbosity():
    import re

    for name in (
        "04_resnet50/resnet50.ipynb",
        "06_transfer_learning/transfer_learning.ipynb",
        "07_cifar10/cifar10.ipynb",
    ):
        nb = nbformat.read(str(SOURCE / name), as_version=4)
        fits = [c.source for c in nb.cells if c.cell_type == "code" and re.search(r"\.fit\(", c.source)]
        assert fits, name
        for source in fits:
            assert "verbose=resnets_utils.fit_verbosity()" in source, source


# --------------------------------------------------------------------------- free check cells
def test_every_free_check_cell_catches_errors():
    for path in source_notebooks():
        nb = nbformat.read(str(path), as_version=4)
        cells = nb.cells
        for i, cell in enumerate(cells):
            meta = nbgrader_meta(cell)
            if not (meta.get("solution") and cell.cell_type == "code"):
                continue
            j = next(
                k
                for k in range(i + 1, len(cells))
                if nbgrader_meta(cells[k]).get("grade_id") == f"{meta['grade_id']}_tests"
            )
            free = [c for c in cells[i + 1 : j] if c.cell_type == "code" and not nbgrader_meta(c).get("locked")]
            assert free, meta["grade_id"]
            for c in free:
                assert c.source.startswith(
                    f'from test_utils import free_check\nwith free_check("{meta["grade_id"]}"):'
                ), c.source


def test_free_check_shows_the_graded_message_and_run_all_reaches_the_graded_cell(tmp_path):
    """A typo in the answer: the free check prints the learner's line and the exception, none of our frames, and
    does not stop Run All; the graded cell then fails with the course's message."""
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError

    release = RELEASE / "02_identity_block" / "identity_block.ipynb"
    nb = solved(release, SOURCE / "02_identity_block" / "identity_block.ipynb")
    answer = next(c for c in nb.cells if nbgrader_meta(c).get("grade_id") == "identity_block")
    answer.source = answer.source.replace("layers.Conv2D", "layers.Conv2d", 1)
    graded = next(i for i, c in enumerate(nb.cells) if nbgrader_meta(c).get("grade_id") == "identity_block_tests")
    try:
        NotebookClient(
            nb, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(release.parent)}}
        ).execute()
    except CellExecutionError:
        pass
    errors = [i for i, c in enumerate(nb.cells) if any(o.output_type == "error" for o in c.get("outputs", []))]
    assert errors and errors[0] == graded, errors
    free = nb.cells[graded - 1]
    text = "".join(o.get("text", "") for o in free.outputs if o.output_type == "stream")
    assert (
        "AssertionError: identity_block: this check raised AttributeError: module 'keras.layers' has no attribute "
        "'Conv2d' (in your code, line" in unwrapped(text)
    ), text
    assert "test_utils" not in text and "Traceback" not in text and "site-packages" not in text, text
    assert not [o for o in free.outputs if o.output_type == "stream" and o.name == "stderr"]
    shown = "\n".join(o.evalue for o in nb.cells[graded].outputs if o.output_type == "error")
    assert "identity_block: calling identity_block(" in shown and "Conv2d" in shown, shown


def test_free_check_passes_quietly_and_names_an_unimplemented_function(capsys):
    import test_utils

    with test_utils.free_check("demo"):
        print("fine")
    assert capsys.readouterr().out == "fine\n"
    with test_utils.free_check("demo"):
        raise NotImplementedError()
    out = capsys.readouterr().out
    assert "AssertionError: demo: the function is not implemented yet" in out and "hint:" in out


# --------------------------------------------------------------------------- plots in fast mode
def test_a_one_epoch_history_is_a_centred_point_with_a_note(tmp_path):
    import matplotlib

    matplotlib.use("Agg")
    import resnets_utils

    fig = resnets_utils.plot_history({"loss": [0.7], "accuracy": [0.5]})
    for ax in fig.axes:
        assert ax.get_xlim() == (0, 2) and list(ax.get_xticks()) == [1]
        assert any("one epoch" in t.get_text() for t in ax.texts)
    fig.savefig(tmp_path / "one.png")
    fig = resnets_utils.plot_history({"loss": [0.7, 0.5, 0.4]})
    ax = fig.axes[0]
    assert not ax.texts and all(float(t).is_integer() for t in ax.get_xticks())


# --------------------------------------------------------------------------- figures travel with the notebook
def test_release_notebooks_carry_every_figure_as_an_attachment():
    """However the course is opened (Lab at notebooks/, a folder handed out alone, nbgrader's feedback, GitHub),
    a release notebook shows its figures: each is embedded, byte for byte the file the source links."""
    import base64
    import re

    from nbgrader.utils import compute_checksum

    image = re.compile(r"!\[[^\]]*\]\(([^)\s]+)\)")
    embedded = 0
    for source_path in source_notebooks():
        source = nbformat.read(str(source_path), as_version=4)
        release = nbformat.read(str(RELEASE / source_path.parent.name / source_path.name), as_version=4)
        links = [t for c in source.cells if c.cell_type == "markdown" for t in image.findall(c.source)]
        assert all(
            not t.startswith("attachment:") and not c.get("attachments")
            for c in source.cells
            for t in image.findall(c.source)
        ), "source notebooks link images/, they carry no attachments"
        targets = [t for c in release.cells if c.cell_type == "markdown" for t in image.findall(c.source)]
        assert len(targets) == len(links) and all(t.startswith("attachment:") for t in targets), targets
        for cell in release.cells:
            for target in image.findall(cell.source) if cell.cell_type == "markdown" else []:
                name = target[len("attachment:") :]
                link = next(t for t in links if t.endswith("/" + name))
                data = base64.b64decode(cell.attachments[name]["image/png"])
                assert data == (source_path.parent / link).resolve().read_bytes(), name
                embedded += 1
            if "checksum" in nbgrader_meta(cell):
                assert compute_checksum(cell) == nbgrader_meta(cell)["checksum"]
    assert embedded >= 8  # the figures of notebooks 1 to 7 (nb04 shows its stage table as text)


def test_feedback_html_shows_the_figures():
    import re

    from nbconvert import HTMLExporter

    html, _ = HTMLExporter().from_filename(str(RELEASE / "02_identity_block" / "identity_block.ipynb"))
    sources = re.findall(r'<img alt="the identity block" src="([^"]{0,30})', html)
    assert sources and sources[0].startswith("data:image/png;base64,"), sources


# --------------------------------------------------------------------------- no run metadata
def test_run_metadata_is_found_and_stripped(tmp_path):
    from tools import release

    nb = nbformat.v4.new_notebook()
    cell = nbformat.v4.new_code_cell("1 + 1")
    cell.metadata["execution"] = {"iopub.execute_input": "2026-11-21T04:50:56.517604Z"}
    cell.outputs = [nbformat.v4.new_output("execute_result", {"text/plain": "2"}, execution_count=1)]
    nb.cells = [cell]
    nbformat.write(nb, str(tmp_path / "a.ipynb"))
    assert len(release.run_metadata(tmp_path, release=True)) == 2
    assert release.strip_run_metadata(tmp_path) == 1
    assert release.run_metadata(tmp_path) == [] and release.strip_run_metadata(tmp_path) == 0


def test_no_notebook_carries_run_metadata_and_the_release_no_outputs():
    from tools import release

    assert release.run_metadata(SOURCE) == []
    assert release.run_metadata(RELEASE, release=True) == []


# --------------------------------------------------------------------------- the student's Lab
def test_the_students_lab_hides_the_instructor_tools_and_keeps_validate(monkeypatch):
    import json

    from tools import lab

    monkeypatch.setenv("JUPYTER_CONFIG_PATH", "/elsewhere")
    cmd, env = lab.command()
    assert env["JUPYTER_CONFIG_PATH"].split(os.pathsep) == [str(lab.STUDENT_CONFIG), "/elsewhere"]
    assert f"--ServerApp.root_dir={RELEASE}" in cmd and cmd[1:4] == ["-m", "jupyter", "lab"]
    page = json.loads((lab.STUDENT_CONFIG / "labconfig" / "page_config.json").read_text())["disabledExtensions"]
    for plugin in ("create-assignment", "formgrader", "menu", "course-list"):
        assert page[f"@jupyter/nbgrader:{plugin}"] is True
    assert "@jupyter/nbgrader:validate-assignment" not in page
    cmd, env = lab.command(instructor=True, extra=["--no-browser"])
    assert env.get("JUPYTER_CONFIG_PATH") == "/elsewhere" and f"--ServerApp.root_dir={ROOT}" in cmd
    assert cmd[-1] == "--no-browser"
    text = (ROOT / "Makefile").read_text()
    assert "\t@$(PY) -m tools.lab $(LAB_ARGS)" in text and "\t@$(PY) -m tools.lab --instructor $(LAB_ARGS)" in text


def test_the_course_runner_records_results_in_one_file_per_mode(tmp_path, monkeypatch):
    import json

    from tools import run_course

    monkeypatch.setattr(run_course, "ROOT", tmp_path)
    (tmp_path / "docs").mkdir()
    run_course.record_results("fast", [("02_identity_block/identity_block.ipynb", 12.34, "params = 1", "ok")], "d1")
    run_course.record_results("fast", [("01_residual_learning/residual_learning.ipynb", 5.0, "-", "ok")], "d2")
    data = json.loads((tmp_path / "docs" / "results-fast.json").read_text())
    assert data["command"] == "make course-fast"
    assert [(e["notebook"], e["seconds"], e["measured"]) for e in data["notebooks"]] == [
        ("01_residual_learning/residual_learning.ipynb", 5.0, "d2"),
        ("02_identity_block/identity_block.ipynb", 12.3, "d1"),
    ]
