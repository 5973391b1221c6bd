"""nbgrader configuration for the course (run nbgrader from the repository root).

Layout: instructor notebooks (solutions + hidden tests) in ``source/<assignment>/``;
``nbgrader generate_assignment`` writes the student versions to ``notebooks/``.
Grading folders (submitted/, autograded/, feedback/) and gradebook.db are git-ignored.
"""

c = get_config()  # noqa: F821 - provided by nbgrader

c.CourseDirectory.course_id = "resnet-course"
c.CourseDirectory.source_directory = "source"
c.CourseDirectory.release_directory = "notebooks"
c.CourseDirectory.ignore = [".ipynb_checkpoints", "*.pyc", "__pycache__", "feedback", ".*"]

# Student notebooks: nbgrader's standard stub, so every unsolved exercise raises NotImplementedError.
c.ClearSolutions.code_stub = {"python": "# YOUR CODE HERE\nraise NotImplementedError()"}

# Execution during autograde/validate. NBGRADER_EXECUTION is set then, which puts the
# notebooks in fast mode (see resnets_utils.fast_mode). A cell may run for 10 minutes;
# a student's infinite loop is interrupted at that point and the rest of the notebook is
# still graded.
c.Execute.kernel_name = "python3"
c.Execute.timeout = 600
c.Execute.interrupt_on_timeout = True
c.Execute.startup_timeout = 120

# nbgrader gives a graded cell 0 points when it wrote anything to stderr. TensorFlow and
# absl log to stderr (the setup cell quiets most of it); drop those lines, never others.
c.IgnorePattern.enabled = True
c.IgnorePattern.pattern = (r"(?m)^(WARNING: All log messages before absl::InitializeLog|"
                           r"[IWE]\d{4} [\d:. ]+\d+ \S+:\d+\]|\d{4}-\d\d-\d\d [\d:.]+: [IWE] tensorflow/)")

# A deleted graded (test) cell is put back from the gradebook, so it is graded, not skipped.
c.OverwriteCells.add_missing_cells = True

# Keep feedback readable when a student prints a lot.
c.LimitOutput.max_lines = 200
c.LimitOutput.max_traceback = 50
