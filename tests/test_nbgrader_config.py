"""nbgrader_config.py: the settings the course relies on."""

from __future__ import annotations

import re

from traitlets.config import Config

from tools.notebooks import ROOT


def load_config() -> Config:
    config = Config()
    exec((ROOT / "nbgrader_config.py").read_text(), {"get_config": lambda: config})
    return config


def test_course_layout_and_execution_settings():
    c = load_config()
    assert c.CourseDirectory.source_directory == "source"
    assert c.CourseDirectory.release_directory == "notebooks"
    assert c.Execute.kernel_name == "python3"
    assert c.Execute.timeout >= 300
    assert c.OverwriteCells.add_missing_cells is True
    assert c.IgnorePattern.enabled is True
    assert "NotImplementedError" in c.ClearSolutions.code_stub["python"]


TF_LOG_LINES = [
    "WARNING: All log messages before absl::InitializeLog() is called are written to STDERR",
    "I0000 00:00:1795225142.172087    1957 port.cc:153] oneDNN custom operations are on. You may see slightly",
    "E0000 00:00:1795225142.172087    1957 cuda_executor.cc:1228] INTERNAL: CUDA Runtime error",
    "2026-11-21 01:40:12.345678: I tensorflow/core/platform/cpu_feature_guard.cc:210] This TensorFlow binary",
]
STUDENT_LINES = [
    "Traceback (most recent call last):",
    "UserWarning: my own warning",
    "AssertionError: identity_block: the function returned None",
    "I0000 is my favourite number",
]


def test_stderr_pattern_drops_tensorflow_logs_only():
    pattern = load_config().IgnorePattern.pattern  # nbgrader calls re.search(pattern, output.text)
    for line in TF_LOG_LINES:
        assert re.search(pattern, line), line
        assert re.search(pattern, "some earlier text\n" + line + "\n"), line
    for line in STUDENT_LINES:
        assert not re.search(pattern, line), line
