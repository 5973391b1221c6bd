# The course's commands. `make help` lists them.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
# TensorFlow turns its oneDNN kernels on by itself only on CPUs with AVX-512; on AVX2-only CPUs its
# fallback for the gradient of a 3x3 convolution on 2x2 maps with 512 channels (ResNet-50's last stage
# at 64x64) is 20 to 40 times slower, which halves training speed. Every command here asks for oneDNN.
export TF_ENABLE_ONEDNN_OPTS ?= 1

.DEFAULT_GOAL := help
.PHONY: help setup course course-fast test release check-release fixtures figures dataset calibrate bench bench-setup lab lab-instructor browser sandbox slurm clean \
        check assign students autograde feedback grades mutants

help:  ## list the commands
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-14s %s\n", $$1, $$2}'

$(STAMP): requirements.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	touch $(STAMP)

setup: $(STAMP)  ## create .venv and install requirements.txt (once)

course: setup  ## run every solution notebook in full mode; notebooks in build/course/, results in docs/results-full.json
	$(PY) -m tools.run_course

course-fast: setup  ## the same in fast mode (RESNET_COURSE_FAST=1), a few minutes; results in docs/results-fast.json
	RESNET_COURSE_FAST=1 $(PY) -m tools.run_course

sandbox:  ## install Debian's bubblewrap for sandboxed grading (as root; says so where it cannot)
	@tools/install_sandbox.sh

browser:  ## install Debian's chromium and chromium-driver for tests/test_browser.py (as root; says so where it cannot)
	@tools/install_browser.sh

slurm:  ## install Debian's slurm-wlm and munge for tests/test_slurm.py's one-node cluster (as root; says so where it cannot)
	@tools/install_slurm.sh

test: setup browser sandbox slurm  ## the whole test suite (what CI runs), including JupyterLab in a headless browser
	RESNET_COURSE_FAST=1 $(PY) -m pytest

release: setup  ## regenerate the student notebooks in notebooks/ from source/
	$(PY) -m tools.release

check-release: setup  ## fail if notebooks/ is stale
	$(PY) -m tools.release --check

fixtures: setup  ## rebuild resnet_course/fixtures/ from the reference solutions
	$(PY) -m tools.make_fixtures

figures: setup  ## redraw the block diagrams in images/
	$(PY) -m tools.make_figures

dataset: setup  ## rebuild resnet_course/datasets/ from the original photos (SOURCE=path/to/Sign-Language-Digits-Dataset)
	$(PY) -m tools.make_dataset $(if $(SOURCE),--source $(SOURCE))

calibrate: setup  ## linear baseline, augmentation levels on the validation signers, chosen recipe on the test split
	$(PY) -m tools.calibrate_dataset --linear --validation --recipe flips geometry photos --test

bench: setup  ## speed of the course's ResNet-50 vs keras.applications (about 8 minutes)
	$(PY) -m benchmarks.resnet50_speed

bench-setup: setup  ## what input pipeline, threads and eager execution do to training speed (about 14 minutes)
	$(PY) -m benchmarks.training_setup

lab: setup  ## open the student notebooks in JupyterLab (student tools only; LAB_ARGS= passes options)
	@$(PY) -m tools.lab $(LAB_ARGS)

lab-instructor: setup  ## JupyterLab at the repository root with nbgrader's instructor tools
	@$(PY) -m tools.lab --instructor $(LAB_ARGS)

# ---- students
check: setup  ## check a notebook before you submit it: make check NB=notebooks/02_identity_block/identity_block.ipynb
	@./check $(NB)

# ---- instructors (nbgrader, from the repository root; see docs/instructors.md)
assign: setup  ## release every assignment to notebooks/ and record it in gradebook.db
	$(PY) -m tools.grade release

students: setup  ## add students: make students ADD="alice bob" or ROSTER=roster.csv
	$(PY) -m tools.grade students $(ADD) $(if $(ROSTER),--roster $(ROSTER))

autograde: setup sandbox  ## grade submitted/<student>/<assignment>/ in sandboxes, JOBS=n at a time, ENGINE=slurm for one Slurm job array, EXPERIMENTS=1 to run the experiment cells too (docs/grading.md)
	$(PY) -m tools.grade autograde $(ASSIGNMENTS) $(if $(ENGINE),--engine $(ENGINE)) $(if $(JOBS),--jobs $(JOBS)) $(if $(UNSANDBOXED),--unsandboxed) $(if $(EXPERIMENTS),--run-experiments)

feedback: setup  ## HTML feedback in feedback/<student>/<assignment>/
	$(PY) -m tools.grade feedback $(ASSIGNMENTS)

grades: setup  ## export every score to grades.csv
	$(PY) -m tools.grade grades

# ---- maintainers
mutants: setup  ## mutation score per exercise: mutants caught and variants accepted (fails below 100%)
	RESNET_COURSE_FAST=1 $(PY) -m tools.mutation_score

clean:  ## remove build outputs (keeps .venv)
	rm -rf build .pytest_cache
