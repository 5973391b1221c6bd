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

# Figures travel inside the student notebooks. The source notebooks link the figures of images/
# (`![...](../../images/x.png)`), which only resolve when Jupyter serves the repository root. While
# generating the release, EmbedImages turns every markdown image that is a local file into a cell
# attachment (`![...](attachment:x.png)`), before nbgrader computes checksums and records the cells
# in the gradebook. The figures then show in `make lab`, in a release folder handed out alone, in
# nbgrader's feedback HTML and on GitHub, and always match images/ at release time.
import base64  # noqa: E402
import re  # noqa: E402
from pathlib import Path  # noqa: E402

from nbgrader.converters import GenerateAssignment  # noqa: E402
from nbgrader.coursedir import CourseDirectory  # noqa: E402
from nbgrader.preprocessors import NbGraderPreprocessor  # noqa: E402

IMAGE_TYPES = {
    ".png": "image/png",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".gif": "image/gif",
    ".svg": "image/svg+xml",
}
MARKDOWN_IMAGE = re.compile(r"(!\[[^\]]*\]\()([^)\s]+)(\))")


class EmbedImages(NbGraderPreprocessor):
    """Replace each markdown image that is a local file by a cell attachment holding that file."""

    def preprocess(self, nb, resources):
        coursedir = CourseDirectory(config=self.config)
        info = resources.get("nbgrader", {})
        folder = Path(coursedir.format_path(coursedir.source_directory, ".", info.get("assignment", ".")))
        for cell in nb.cells:
            if cell.cell_type == "markdown":
                self._embed(cell, folder)
        return nb, resources

    @staticmethod
    def _embed(cell, folder: Path):
        def attach(match):
            target = match.group(2)
            path = (folder / target).resolve()
            kind = IMAGE_TYPES.get(path.suffix.lower())
            if "://" in target or target.startswith("attachment:") or kind is None:
                return match.group(0)
            if not path.is_file():
                raise FileNotFoundError(f"a markdown image links a missing file: {target} (from {folder})")
            data = path.read_text() if kind == "image/svg+xml" else base64.b64encode(path.read_bytes()).decode()
            cell.setdefault("attachments", {})[path.name] = {kind: data}
            return f"{match.group(1)}attachment:{path.name}{match.group(3)}"

        cell.source = MARKDOWN_IMAGE.sub(attach, cell.source)


c.GenerateAssignment.preprocessors = [EmbedImages] + list(GenerateAssignment.class_traits()["preprocessors"].default())

# Student notebooks start clean: no outputs, execution counts or run metadata (timestamps of a
# maintainer's run).
c.ClearOutput.remove_metadata_fields = {"collapsed", "scrolled", "execution", "ExecuteTime"}

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
c.IgnorePattern.pattern = (
    r"(?m)^(WARNING: All log messages before absl::InitializeLog|"
    r"[IWE]\d{4} [\d:. ]+\d+ \S+:\d+\]|\d{4}-\d\d-\d\d [\d:.]+: [IWE] tensorflow/)"
)

# A deleted graded (test) cell is put back from the gradebook, so it is graded, not skipped.
# nbgrader 0.9.6 has two bugs there that make a student's whole assignment fail to grade:
# it puts a deleted cell after the source cell that preceded it and raises KeyError when
# that cell is a locked cell that is neither a grade nor a solution cell (the markdown above
# every check cell here); and it raises KeyError on a duplicated cell, whose earlier copy
# DeduplicateIds has left with empty nbgrader metadata. CourseOverwriteCells puts a deleted
# cell before the next cell of the release that the submission still has (after the previous
# one, or at the end, if there is none) and turns the earlier copy into an ordinary cell.
from nbgrader.preprocessors import (  # noqa: E402
    CheckCellMetadata,
    ClearOutput,
    DeduplicateIds,
    OverwriteCells,
    OverwriteKernelspec,
)


class CourseOverwriteCells(OverwriteCells):
    """OverwriteCells that restores deleted grade cells next to any cell and survives duplicated cells."""

    def add_missing_grade_cells(self, nb, resources):
        source_nb = self.gradebook.find_notebook(self.notebook_id, self.assignment_id)
        source_cells = {cell.name: cell for cell in source_nb.source_cells}
        order = [cell.name for cell in source_nb.source_cells]
        grade_cells = {cell.name: cell for cell in source_nb.grade_cells}
        solution_ids = {cell.name for cell in source_nb.solution_cells}
        for position, name in enumerate(order):
            present = [cell.metadata.get("nbgrader", {}).get("grade_id") for cell in nb.cells]
            if name not in grade_cells or name in present:
                continue
            self.log.warning("Missing grade cell %s encountered, adding it back to the notebook", name)
            cell = self.missing_cell_transform(
                source_cells[name], grade_cells[name].max_score, is_solution=name in solution_ids
            )
            later = [present.index(n) for n in order[position + 1 :] if n in present]
            earlier = [present.index(n) + 1 for n in order[:position] if n in present]
            nb.cells.insert(later[0] if later else (earlier[-1] if earlier else len(nb.cells)), cell)
        return nb, resources

    def add_missing_task_cells(self, nb, resources):
        for cell in nb.cells:  # (a restored cell's metadata is a plain dict)
            metadata = cell["metadata"]
            if "nbgrader" in metadata and "grade_id" not in metadata["nbgrader"]:
                del metadata["nbgrader"]  # the earlier copy of a duplicated cell
        return super().add_missing_task_cells(nb, resources)


c.OverwriteCells.add_missing_cells = True
c.Autograde.sanitize_preprocessors = [
    ClearOutput,
    DeduplicateIds,
    OverwriteKernelspec,
    CourseOverwriteCells,
    CheckCellMetadata,
]

# Keep feedback readable when a student prints a lot.
c.LimitOutput.max_lines = 200
c.LimitOutput.max_traceback = 50

# Sandboxed grading (tools.grade autograde; docs/grading.md): the students' notebooks ran in sandboxes
# and a trusted judge checked every exercise; nbgrader's own execution is replaced by ImportSandboxRun,
# which writes those results into the notebooks, so the gradebook, feedback and export work as usual.
import os  # noqa: E402

if os.environ.get("RESNET_GRADING_RESULTS"):
    from nbconvert.preprocessors import ClearMetadataPreprocessor  # noqa: E402
    from nbgrader.preprocessors import AssignLatePenalties, IgnorePattern, LimitOutput, SaveAutoGrades  # noqa: E402

    from resnet_course.grading.host import ImportSandboxRun  # noqa: E402

    c.Autograde.autograde_preprocessors = [
        ImportSandboxRun,
        IgnorePattern,
        ClearMetadataPreprocessor,
        LimitOutput,
        SaveAutoGrades,
        AssignLatePenalties,
        CheckCellMetadata,
    ]
    c.ImportSandboxRun.results = os.environ["RESNET_GRADING_RESULTS"]
    c.ImportSandboxRun.intake = os.environ.get("RESNET_GRADING_INTAKE", "")
else:
    # The judge is the only route to a score: a plain `nbgrader autograde` would run the hidden tests inside the
    # student's own kernel, where its code can reach them. It refuses and says what to run instead.
    from resnet_course.grading.host import RefuseInKernelGrading  # noqa: E402

    c.Autograde.autograde_preprocessors = [RefuseInKernelGrading]

# Everything the instructor or a student opens is inert (docs/grading.md). ImportSandboxRun already
# stores every autograded notebook made inert (resnet_course/grading/inert.py); the pages that show it
# make it inert again, whoever wrote the file. formgrader's submission view and `nbgrader
# generate_feedback` both render with an HTMLExporter built from this file's configuration (formgrader
# reads the nbgrader_config.py of the folder its Jupyter server runs in; use `jupyter lab` from the course
# root): MakeInert runs on the notebook before it is rendered. Their templates (nbgrader's formgrade and
# feedback, on nbconvert's classic) pass markdown cells through unsanitised whatever sanitize_html says;
# sanitize_html=True still makes the classic template clean text/html and text/markdown outputs with
# bleach and leave out JavaScript and widget outputs, should anything else put such outputs there.
from resnet_course.grading.inert import MakeInert  # noqa: E402

c.HTMLExporter.preprocessors = [MakeInert]
c.HTMLExporter.sanitize_html = True

# nbgrader's exchange (docs/instructors.md, tests/test_exchange.py): any student can put a submission in another's
# name into inbound/ (`nbgrader submit --student bob`), and nbgrader 0.9.6's collect only warns ("cheating
# attempt?") and collects the newest, so a later forged submission replaces bob's. OwnedCollect collects, for each
# student, the newest submission whose folder that student owns, and logs an error for every other one.
import glob  # noqa: E402
import pwd  # noqa: E402
import stat  # noqa: E402

from nbgrader.exchange.default.collect import ExchangeCollect  # noqa: E402


class OwnedCollect(ExchangeCollect):
    """nbgrader's collect, ignoring the submissions whose folder is not owned by the student they name."""

    def init_src(self):
        super().init_src()  # the checks, the inbound path and the due date
        student = self.coursedir.student_id or "*"
        pattern = os.path.join(self.inbound_path, f"{student}+{self.coursedir.assignment_id}+*")
        by_student = {}
        for path in sorted(glob.glob(pattern)):
            record = self._path_to_record(path)
            info = os.lstat(path)  # the entry itself: a link a student planted belongs to that student
            try:
                owner = pwd.getpwuid(info.st_uid).pw_name
            except KeyError:
                owner = f"uid {info.st_uid}"
            if not stat.S_ISDIR(info.st_mode):
                owner = f"{owner} (not a folder)"
            if owner != record["username"]:
                self.log.error("Not collected: %s names %s but belongs to %s", path, record["username"], owner)
                continue
            by_student.setdefault(record["username"], []).append(record)
        self.src_records = []
        for records in by_student.values():  # as nbgrader chooses: the newest, or the newest before the due date
            records = self._sort_by_timestamp(records)
            if self.duedate is not None and self.before_duedate:
                records = [r for r in records if r["timestamp"] <= self.duedate] or records
            self.src_records.append(records[0])


c.ExchangeFactory.collect = OwnedCollect
