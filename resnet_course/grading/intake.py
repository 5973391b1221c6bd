"""Read every submission as data before anything is graded: a clean copy of ``submitted/`` in ``grading_intake/``.

``submitted/<student>/<assignment>/...`` is walked with directory file descriptors opened ``O_NOFOLLOW``: no
symbolic link is ever followed (a link, even to a folder, is refused), only regular files with one link are
read (``lstat`` says regular, then the file is opened ``O_NOFOLLOW | O_NONBLOCK`` and ``fstat`` on the
descriptor must say the same file, regular), so a FIFO, a socket or a device is never opened for reading and
never blocks. Names (student ids, assignment folders, files) must match ``NAME``; sizes, counts and depth are
bounded (``Limits``). What is accepted is copied into ``grading_intake/<student>/<assignment>/`` (created fresh,
written only by the grader); everything refused is a ``Refusal`` with its reason, kept in the ``IntakeReport``
and written to ``grading_intake/<student>/intake.json`` (``{assignment: [{"path", "reason"}]}``, the student's
own refusals under ``""``) so that the grader can show it in the student's feedback.

A file with several links shared between students' folders (a hard link to a classmate's notebook) is kept only
in the folder that held it before the last link was made (the folder's mtime is older than the file's ctime):
the bystander keeps its work, the student who linked it gets nothing. When that cannot be told, it is refused
everywhere.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import stat
from dataclasses import asdict, dataclass, field
from pathlib import Path

NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")
INTAKE_DIR = "grading_intake"
REPORT = "intake.json"
TIMESTAMP = "timestamp.txt"  # nbgrader's submission time, kept when small and regular
# Jupyter's and Python's own leftovers: never read, never copied, not a refusal (nbgrader ignores them too).
IGNORED = re.compile(r"^(\.ipynb_checkpoints|__pycache__|\.DS_Store|.*\.pyc)$")
DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0)
FILE_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0)


@dataclass(frozen=True)
class Limits:
    notebook_bytes: int = 20 * 2**20  # one file (a notebook or any other file)
    student_bytes: int = 100 * 2**20  # everything a student submitted
    entries: int = 200  # files and folders of one student
    depth: int = 4  # folders below an assignment folder
    timestamp_bytes: int = 100


@dataclass(frozen=True)
class Refusal:
    student: str
    assignment: str | None  # None: the student's own folder (a file beside the assignment folders, a limit)
    path: str  # relative to submitted/<student>/ ("" for the whole folder)
    reason: str

    def describe(self) -> str:
        """One line for the instructor: every name shown with repr, never raw."""
        where = "/".join(["submitted", self.student] + ([self.path] if self.path else []))
        return f"{where!r}: {self.reason}"


@dataclass(frozen=True)
class IntakeReport:
    root: Path  # the clean copy (grading_intake/)
    accepted: tuple = ()  # (student, assignment, path) of every file copied
    refusals: tuple = ()  # Refusal
    students: tuple = ()  # every valid student id with a folder (graded or not)

    def refused(self, student: str) -> list[Refusal]:
        return [r for r in self.refusals if r.student == student]

    def notebooks(self, student: str, assignment: str) -> list[str]:
        return sorted(p for s, a, p in self.accepted if (s, a) == (student, assignment) and p.endswith(".ipynb"))


@dataclass
class _File:
    student: str
    assignment: str
    path: str  # relative to the assignment folder
    data: bytes
    ident: tuple  # (st_dev, st_ino)
    nlink: int
    ctime_ns: int
    folder_mtime_ns: int


@dataclass
class _Student:
    name: str
    files: list = field(default_factory=list)
    refusals: list = field(default_factory=list)
    entries: int = 0
    size: int = 0
    over: str = ""  # a per-student limit was exceeded: nothing of the student is kept


def _kind(mode: int) -> str:
    for test, name in (
        (stat.S_ISLNK, "a symbolic link (never followed)"),
        (stat.S_ISFIFO, "a FIFO (named pipe)"),
        (stat.S_ISSOCK, "a socket"),
        (stat.S_ISCHR, "a character device"),
        (stat.S_ISBLK, "a block device"),
        (stat.S_ISDIR, "a folder"),
        (stat.S_ISREG, "a file"),
    ):
        if test(mode):
            return name
    return "not a regular file"


def _read_regular(dir_fd: int, name: str, limit: int) -> tuple[bytes | None, os.stat_result | None, str]:
    """The bytes of a regular file ``name`` of ``dir_fd`` (at most ``limit``), or None and why not."""
    try:
        before = os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
    except OSError as exc:
        return None, None, f"cannot be read ({type(exc).__name__})"
    if not stat.S_ISREG(before.st_mode):
        return None, before, _kind(before.st_mode)
    if before.st_size > limit:
        return None, before, f"too large ({before.st_size} bytes; the limit is {limit})"
    try:
        fd = os.open(name, FILE_FLAGS, dir_fd=dir_fd)
    except OSError as exc:
        return None, before, f"cannot be opened without following a link ({type(exc).__name__})"
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode) or (st.st_dev, st.st_ino) != (before.st_dev, before.st_ino):
            return None, st, f"changed while it was read ({_kind(st.st_mode)})"
        if st.st_size > limit:
            return None, st, f"too large ({st.st_size} bytes; the limit is {limit})"
        chunks, size = [], 0
        while size <= limit:
            chunk = os.read(fd, min(1 << 20, limit + 1 - size))
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
        if size > limit:
            return None, st, f"too large (more than {limit} bytes)"
        return b"".join(chunks), st, ""
    finally:
        os.close(fd)


def _scan(fd: int) -> list[os.DirEntry]:
    with os.scandir(fd) as it:
        return sorted(it, key=lambda e: e.name)


def _walk_assignment(student: _Student, assignment: str, fd: int, rel: str, depth: int, limits: Limits) -> None:
    folder_mtime = os.fstat(fd).st_mtime_ns
    for entry in _scan(fd):
        name = entry.name
        path = f"{rel}{name}"
        if IGNORED.match(name):
            continue
        student.entries += 1
        if student.entries > limits.entries:
            student.over = f"too many files and folders (more than {limits.entries}): nothing of it is graded"
            return

        def refuse(reason: str, path: str = path) -> None:
            student.refusals.append(Refusal(student.name, assignment, f"{assignment}/{path}", reason))

        st = _named_entry(entry, refuse)
        if st is None:
            continue
        if stat.S_ISDIR(st.st_mode):
            if depth >= limits.depth:
                refuse(f"folders nested too deep (more than {limits.depth} below the assignment folder)")
                continue
            try:
                sub = os.open(name, DIR_FLAGS, dir_fd=fd)
            except OSError as exc:
                refuse(f"a folder that cannot be opened without following a link ({type(exc).__name__})")
                continue
            try:
                _walk_assignment(student, assignment, sub, f"{path}/", depth + 1, limits)
            finally:
                os.close(sub)
            if student.over:
                return
            continue
        limit = limits.timestamp_bytes if (path == TIMESTAMP) else limits.notebook_bytes
        data, st, why = _read_regular(fd, name, limit)
        if data is None:
            refuse(why)
            continue
        if path == TIMESTAMP and not _valid_timestamp(data):
            refuse("not a timestamp nbgrader can read")
            continue
        student.size += len(data)
        if student.size > limits.student_bytes:
            student.over = f"too large in all (more than {limits.student_bytes} bytes): nothing of it is graded"
            return
        student.files.append(
            _File(
                student.name, assignment, path, data, (st.st_dev, st.st_ino), st.st_nlink, st.st_ctime_ns, folder_mtime
            )
        )


def _named_entry(entry, refuse):
    """The entry's own status (a link is not followed), or None once refused: a name the grader does not accept,
    or an entry that cannot be read."""
    if not NAME.match(entry.name):
        refuse("a name the grader does not accept (letters, digits, '.', '_', '-'; at most 100 characters)")
        return None
    try:
        return entry.stat(follow_symlinks=False)
    except OSError as exc:
        refuse(f"cannot be read ({type(exc).__name__})")
        return None


def _valid_timestamp(data: bytes) -> bool:
    try:
        from nbgrader.utils import parse_utc

        parse_utc(data.decode("ascii").strip())
        return True
    except Exception:  # noqa: BLE001 - any failure: nbgrader would fail on it too
        return False


def _walk_student(name: str, fd: int, limits: Limits) -> _Student:
    student = _Student(name)
    for entry in _scan(fd):
        if IGNORED.match(entry.name):
            continue
        student.entries += 1
        assignment = entry.name if NAME.match(entry.name) else None

        def refuse(reason: str, assignment=assignment, path: str = entry.name) -> None:
            student.refusals.append(Refusal(name, assignment, path, reason))

        st = _named_entry(entry, refuse)
        if st is None:
            continue
        if not stat.S_ISDIR(st.st_mode):
            refuse(f"{_kind(st.st_mode)}, not an assignment folder (submitted/<student>/<assignment>/)")
            continue
        try:
            sub = os.open(entry.name, DIR_FLAGS, dir_fd=fd)
        except OSError as exc:
            refuse(f"a folder that cannot be opened without following a link ({type(exc).__name__})")
            continue
        try:
            _walk_assignment(student, entry.name, sub, "", 0, limits)
        finally:
            os.close(sub)
        if student.over:
            break
    return student


def _shared(students: list[_Student]) -> None:
    """Files with several links: kept only where they were before the last link was made, else refused."""
    places: dict[tuple, list[_File]] = {}
    for student in students:
        for f in student.files:
            if f.nlink != 1:
                places.setdefault(f.ident, []).append(f)
    by_name = {s.name: s for s in students}
    for files in places.values():
        nlink = files[0].nlink
        owners = [f for f in files if f.folder_mtime_ns < f.ctime_ns]
        keep = owners[0] if len(files) == nlink and len(owners) == 1 else None
        for f in files:
            if f is keep:
                continue
            others = sorted({g.student for g in files if g.student != f.student})
            reason = f"a hard link ({nlink} names for one file"
            reason += f", shared with {', '.join(map(repr, others))})" if others else ")"
            by_name[f.student].files.remove(f)
            by_name[f.student].refusals.append(Refusal(f.student, f.assignment, f"{f.assignment}/{f.path}", reason))


def _remove(path: Path) -> None:
    """Remove a previous clean copy, never following a link in it."""
    if path.is_symlink() or (path.exists() and not path.is_dir()):
        path.unlink()
    elif path.exists():
        shutil.rmtree(path)


def _write(root_fd: int, parts: list[str], data: bytes, mode: int = 0o644) -> None:
    fd = os.dup(root_fd)
    try:
        for part in parts[:-1]:
            try:
                os.mkdir(part, 0o755, dir_fd=fd)
            except FileExistsError:
                pass
            sub = os.open(part, DIR_FLAGS, dir_fd=fd)
            os.close(fd)
            fd = sub
        out = os.open(parts[-1], os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, mode, dir_fd=fd)
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(out, view) :]
        finally:
            os.close(out)
    finally:
        os.close(fd)


def intake(
    course: Path, limits: Limits | None = None, submitted: str = "submitted", out: str = INTAKE_DIR
) -> IntakeReport:
    """Read ``course/submitted`` as data and write the clean copy to ``course/grading_intake`` (see the module doc)."""
    limits = limits or Limits()
    course = Path(course)
    root = course / out
    _remove(root)
    students, refusals = [], []
    try:
        course_fd = os.open(course, os.O_RDONLY | os.O_DIRECTORY)
    except OSError as exc:
        raise SystemExit(f"cannot read the course folder {str(course)!r}: {exc}") from None
    try:
        try:
            top = os.open(submitted, DIR_FLAGS, dir_fd=course_fd)
        except FileNotFoundError:
            top = None
        except OSError as exc:
            raise SystemExit(f"{submitted}/ must be a folder, not a link ({exc})") from None
        if top is not None:
            try:
                for entry in _scan(top):
                    name = entry.name
                    if not NAME.match(name):
                        refusals.append(Refusal(name, None, "", "not a student id the grader accepts"))
                        continue
                    try:
                        st = entry.stat(follow_symlinks=False)
                        if not stat.S_ISDIR(st.st_mode):
                            refusals.append(Refusal(name, None, "", f"{_kind(st.st_mode)}, not a student's folder"))
                            continue
                        fd = os.open(name, DIR_FLAGS, dir_fd=top)
                    except OSError as exc:
                        refusals.append(Refusal(name, None, "", f"cannot be opened without following a link ({exc})"))
                        continue
                    try:
                        students.append(_walk_student(name, fd, limits))
                    finally:
                        os.close(fd)
            finally:
                os.close(top)
    finally:
        os.close(course_fd)
    _shared(students)
    os.mkdir(root, 0o700)
    accepted = []
    root_fd = os.open(root, DIR_FLAGS)
    try:
        for student in students:
            if student.over:
                student.refusals.append(Refusal(student.name, None, "", student.over))
                student.files = []
            os.mkdir(student.name, 0o755, dir_fd=root_fd)
            for f in student.files:
                _write(root_fd, [student.name, f.assignment, *f.path.split("/")], f.data)
                accepted.append((student.name, f.assignment, f.path))
            report: dict[str, list] = {}
            for r in student.refusals:
                report.setdefault(r.assignment or "", []).append({"path": r.path, "reason": r.reason})
            _write(root_fd, [student.name, REPORT], json.dumps(report, indent=1).encode())
            refusals += student.refusals
    finally:
        os.close(root_fd)
    return IntakeReport(root, tuple(accepted), tuple(refusals), tuple(s.name for s in students))


def read_report(intake_root: Path, student: str) -> dict:
    """``{assignment: [{"path", "reason"}]}`` the intake wrote for ``student`` ({} when none)."""
    path = Path(intake_root) / student / REPORT
    try:
        if path.is_symlink() or path.stat().st_size > 5 << 20:
            return {}
        data = json.loads(path.read_text())
        return data if isinstance(data, dict) else {}
    except (OSError, ValueError):
        return {}


def as_dict(refusal: Refusal) -> dict:
    return asdict(refusal)
