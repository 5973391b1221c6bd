"""The course is a real distribution: a wheel built from the repository, installed into a fresh virtual
environment, brings the modules, the datasets and the fixtures, and a notebook copied alone into an empty
folder runs against it (what a JupyterHub image for nbgrader's exchange, or a Colab first cell, needs).

No internet: the wheel is built without build isolation (setuptools from requirements.txt) and installed
without dependencies; the fresh environment sees the test environment's packages (TensorFlow, Keras,
nbclient) through a path entry, but not its editable install of the course, nor the checkout.
"""

from __future__ import annotations

import os
import subprocess
import sys
import sysconfig
import venv

import nbformat

from tools.notebooks import RELEASE, SOURCE, solved

NOTEBOOK = "02_identity_block/identity_block.ipynb"  # the quickest notebook of the course

RUN = """
import sys
from pathlib import Path

import nbformat
from nbclient import NotebookClient

import resnet_course
import resnets_utils

assert Path(resnet_course.__file__).is_relative_to(Path(sys.prefix)), resnet_course.__file__
assert resnets_utils.DATASET_DIR.is_relative_to(Path(sys.prefix)), resnets_utils.DATASET_DIR
nb = nbformat.read("identity_block.ipynb", as_version=4)
nb.cells.append(nbformat.v4.new_code_cell(
    "import sys, resnet_course; print('KERNEL', resnet_course.__file__.startswith(sys.prefix), sys.prefix)"))
NotebookClient(nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": "."}}).execute()
text = "".join(o.get("text", "") for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", []))
print("KERNEL" in text and "KERNEL True" in text, "PASSES", text.count("[PASS]"))
"""


def test_a_wheel_installed_in_a_fresh_venv_runs_a_notebook_copied_alone(tmp_path):
    root = SOURCE.parent
    wheels = tmp_path / "wheels"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            str(root),
            "--no-deps",
            "--no-build-isolation",
            "--no-index",
            "-q",
            "-w",
            str(wheels),
        ],
        check=True,
        cwd=tmp_path,
        capture_output=True,
    )
    (wheel,) = wheels.glob("resnet_course-*.whl")
    _same_files_as_the_top_level_datasets(wheel, root / "datasets")

    env_dir = tmp_path / "venv"
    venv.EnvBuilder(with_pip=False, system_site_packages=True).create(env_dir)
    python = env_dir / "bin" / "python"
    purelib = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    # The test environment's packages, after the fresh environment's own (a plain path: its .pth files,
    # the editable install of the course among them, are not read).
    (tmp_path / "venv" / purelib.split(str(env_dir) + "/", 1)[1] / "test_env.pth").write_text(
        sysconfig.get_paths()["purelib"] + "\n"
    )
    subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(python), "install", "--no-deps", "--no-index", "-q", str(wheel)],
        check=True,
        capture_output=True,
    )

    folder = tmp_path / "student"
    folder.mkdir()
    nbformat.write(solved(RELEASE / NOTEBOOK, SOURCE / NOTEBOOK), str(folder / "identity_block.ipynb"))
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env.update(RESNET_COURSE_FAST="1", PYTHONNOUSERSITE="1")
    proc = subprocess.run([str(python), "-c", RUN], cwd=folder, env=env, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    # the kernel imported the wheel's copy; the visible check (the release has no hidden part) passed
    assert proc.stdout.startswith("True PASSES") and int(proc.stdout.split("PASSES")[1]) == 1, proc.stdout[-2000:]
    assert sorted(p.name for p in folder.iterdir()) == ["identity_block.ipynb"]


def _same_files_as_the_top_level_datasets(wheel, datasets):
    """The wheel's ``resnet_course/datasets/`` holds exactly the files of the checkout's top-level ``datasets/``
    (the folder the classic assignment's readers open), byte for byte (sha256)."""
    import hashlib
    import zipfile

    with zipfile.ZipFile(wheel) as archive:
        packed = {
            name.split("/")[-1]: hashlib.sha256(archive.read(name)).hexdigest()
            for name in archive.namelist()
            if name.startswith("resnet_course/datasets/") and not name.endswith("/")
        }
    top = {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(datasets.iterdir()) if p.is_file()}
    assert "train_signs.h5" in top and packed == top, (sorted(packed), sorted(top))
