"""nbgrader's exchange for real (issue 24): an instructor and three students, real Unix accounts, one assignment.

The machine is set up as nbgrader's docs describe a shared server (and a JupyterHub whose users are Unix
accounts): every account has a private group (``useradd``'s user private groups) and a home of mode 0700; the
students also share a group ``rc-stud-<tag>`` (as a hub's students usually do), which must not let one read
another; the exchange is one folder made by root, mode 1777 (world-writable, as nbgrader's docs ask, and sticky,
so nobody removes another's course folder); nbgrader itself makes ``<course>/outbound`` (0755), ``inbound``
(2733: setgid, so a submission's folder gets the instructor's group, and unlistable) and ``feedback`` (0711).
The course folder is in the instructor's home. Students use ``jupyter/exchange/nbgrader_config.py`` (what a
hub's administrator installs in /etc/jupyter; here in each ~/.jupyter/), whose ``PrivateSubmit`` closes a
submission's folder to the other students (nbgrader leaves it 0777 and relies on its random name).

Every command runs as the user who would run it (``tests/ordinary_user.py``: uid, gid, groups and HOME of the
account, no capabilities), in this order: the instructor releases (``python -m tools.grade release``, then
``nbgrader release_assignment``); each student fetches into its home, answers (the model answer, nothing, and
the ``reads_solutions`` attack with a cell that also tries the others' submissions, the instructor's source/ and
gradebook.db) and submits; the instructor collects, grades (``python -m tools.grade autograde --jobs 2``: the
rootless sandbox, the instructor not being root), writes and releases the feedback; each student fetches its
feedback. The attacker also submits its notebook in the model student's name (``nbgrader submit --student``),
later than that student: the course's ``OwnedCollect`` must not collect it. Asserted: the scores (10, 0, 0),
each student got exactly its own feedback page, a student's open()
of another's submission, of the instructor's source/ and gradebook.db, and its listing of ``inbound/`` and
``feedback/`` in the exchange fail with PermissionError, and no process of these accounts is left. The
accounts and their homes are removed at the end, also when the test fails.
"""

from __future__ import annotations

import grp
import json
import os
import pwd
import shutil
import signal
import subprocess
import sys
import tempfile
import textwrap
import uuid
from pathlib import Path

import nbformat
import pytest

from tests import ordinary_user
from tools.notebooks import ROOT, exercises, source_notebooks
from tools.release import stage_course

MISSING = ordinary_user.available() or (None if shutil.which("useradd") else "useradd is missing")
pytestmark = pytest.mark.skipif(bool(MISSING), reason=str(MISSING))

ASSIGNMENT = "02_identity_block"
TAG = uuid.uuid4().hex[:6]
INSTRUCTOR = f"rc-instr-{TAG}"
STUDENTS = {f"rc-s1-{TAG}": "model", f"rc-s2-{TAG}": "blank", f"rc-s3-{TAG}": "attack"}
STUDENT_GROUP = f"rc-stud-{TAG}"
SITE_CONFIG = ROOT / "jupyter" / "exchange" / "nbgrader_config.py"
PROBE = textwrap.dedent("""
    import json, os, sys
    seen = {}
    for path in json.loads(sys.argv[1]):
        try:
            os.listdir(path) if os.path.isdir(path) else open(path, 'rb').read(1)
            seen[path] = 'read'
        except OSError as exc:
            seen[path] = type(exc).__name__
    print(json.dumps(seen))
""")


def sh(*argv: str) -> None:
    subprocess.run(argv, check=True, capture_output=True, text=True)


def pids_of(name: str) -> list[str]:
    return subprocess.run(["pgrep", "-u", name], capture_output=True, text=True).stdout.split()


def run(name: str, *argv: str, cwd: Path | None = None, stdin: str | None = None, timeout: float = 600):
    """``argv`` as the account ``name``, in ``cwd`` (default: its home), with a login's environment."""
    who = ordinary_user.account(name)
    env = {"PATH": f"{Path(sys.executable).parent}:/usr/bin:/bin", "LANG": "C.UTF-8", "TF_CPP_MIN_LOG_LEVEL": "3"}
    if name == INSTRUCTOR:
        env["PYTHONPATH"] = str(ROOT)  # the course's tools (python -m tools.grade), as the course's repository
    cmd = ordinary_user.command(list(argv), env=env, cwd=str(cwd or who["home"]), **who)
    proc = subprocess.run(
        cmd, env={"PATH": "/usr/bin:/bin"}, input=stdin, capture_output=True, text=True, timeout=timeout
    )
    return proc.returncode, proc.stdout + proc.stderr


def nbgrader(name: str, *args: str, cwd: Path | None = None):
    return run(name, sys.executable, "-m", "nbgrader", *args, cwd=cwd)


def probe(name: str, paths: list[str]) -> dict:
    status, out = run(name, sys.executable, "-c", PROBE, json.dumps(paths))
    assert status == 0, out
    return json.loads(out.strip().splitlines()[-1])


def attack_cell(paths: list[str]) -> nbformat.NotebookNode:
    """A cell that tries to read ``paths`` from inside the notebook's run (the grading sandbox) and says how it went."""
    return nbformat.v4.new_code_cell(
        textwrap.dedent(f"""
        import os
        for path in {paths!r}:
            try:
                os.listdir(path) if os.path.isdir(path) else open(path, 'rb').read(1)
                print('ATTACK-READ', path)
            except OSError as exc:
                print('ATTACK-DENIED', path, type(exc).__name__)
    """)
    )


@pytest.fixture(scope="module")
def hub():
    base = Path(tempfile.mkdtemp(prefix="rc-exchange-"))
    base.chmod(0o755)
    made = []
    try:
        sh("groupadd", STUDENT_GROUP)
        made.append(("group", STUDENT_GROUP))
        (base / "home").mkdir(mode=0o755)
        for name in (INSTRUCTOR, *STUDENTS):
            extra = ["-G", STUDENT_GROUP] if name in STUDENTS else []
            sh("useradd", "-m", "-d", str(base / "home" / name), "-U", "-s", "/bin/sh", *extra, name)
            made.append(("user", name))
            (base / "home" / name).chmod(0o700)  # Debian's useradd makes it 0755 (HOME_MODE unset, UMASK 022)
        exchange = base / "srv" / "nbgrader" / "exchange"  # stands for /srv/nbgrader/exchange
        exchange.mkdir(parents=True)
        for folder in (exchange, *exchange.parents):
            if folder == base:
                break
            folder.chmod(0o755)
        exchange.chmod(0o1777)
        yield {"base": base, "exchange": exchange}
    finally:
        for kind, name in reversed(made):
            if kind == "user":
                for pid in pids_of(name):  # processes this test started as that account, by their id
                    try:
                        os.kill(int(pid), signal.SIGKILL)
                    except ProcessLookupError:
                        pass
                subprocess.run(["userdel", "-r", name], capture_output=True)
            else:
                subprocess.run(["groupdel", name], capture_output=True)
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture(scope="module")
def term(hub):
    """The whole exchange, from release to fetched feedback; what each step said, and what the probes found."""
    from resnet_course.catalogue.adversarial import ADVERSARIES
    from tests.test_nbgrader_roundtrip import submission

    exchange, out = hub["exchange"], {}
    home = {name: Path(pwd.getpwnam(name).pw_dir) for name in (INSTRUCTOR, *STUDENTS)}
    course = home[INSTRUCTOR] / "course"
    course.mkdir()
    stage_course(course)
    for folder in (course / "source").iterdir():
        if folder.is_dir() and folder.name != ASSIGNMENT:
            shutil.rmtree(folder)
    with (course / "nbgrader_config.py").open("a") as f:
        f.write(f"\n# The machine's exchange (tests/test_exchange.py)\nc.Exchange.root = {str(exchange)!r}\n")
    for name in STUDENTS:
        config = home[name] / ".jupyter"
        config.mkdir()
        (config / "nbgrader_config.py").write_text(
            SITE_CONFIG.read_text() + f"\nc.Exchange.root = {str(exchange)!r}  # tests/test_exchange.py\n"
        )
    for name in (INSTRUCTOR, *STUDENTS):
        sh("chown", "-R", f"{name}:{name}", str(home[name]))

    def step(key, status_text):
        out[key] = status_text
        assert status_text[0] == 0, f"{key} failed:\n{status_text[1][-3000:]}"

    grade = [sys.executable, "-m", "tools.grade", "--course", str(course)]
    step("release", run(INSTRUCTOR, *grade, "release", cwd=course))
    step("students", run(INSTRUCTOR, *grade, "students", *STUDENTS, cwd=course))
    step("release_assignment", nbgrader(INSTRUCTOR, "release_assignment", ASSIGNMENT, cwd=course))

    source = next(p for p in source_notebooks() if p.parent.name == ASSIGNMENT)
    inbound = exchange / "resnet-course" / "inbound"
    reads_solutions = next(a for a in ADVERSARIES if a.id == "reads_solutions")
    for name, kind in STUDENTS.items():
        step(f"fetch {name}", nbgrader(name, "fetch_assignment", ASSIGNMENT))
        fetched = home[name] / ASSIGNMENT / source.name
        nb = nbformat.read(str(fetched), as_version=4)
        if kind == "model":
            nb = submission(fetched, source, None, [])
        elif kind == "attack":
            nb = submission(fetched, source, reads_solutions, exercises(source)[:1])
            targets = [str(p) for p in sorted(inbound.glob(f"*/{source.name}"))]
            targets += [str(course / "source" / ASSIGNMENT / source.name), str(course / "gradebook.db")]
            answer = next(
                i for i, c in enumerate(nb.cells) if c.get("metadata", {}).get("nbgrader", {}).get("solution")
            )
            nb.cells.insert(answer + 1, attack_cell(targets))
        edited = nbformat.writes(nb)
        step(f"edit {name}", run(name, "/bin/sh", "-c", 'cat > "$1"', "sh", str(fetched), stdin=edited))
        step(f"submit {name}", nbgrader(name, "submit", ASSIGNMENT))
        if kind == "attack":  # and the same notebook in the model student's name, later than its own submission
            step("forged submit", nbgrader(name, "submit", ASSIGNMENT, "--student", next(iter(STUDENTS))))

    owned = {name: pwd.getpwnam(name).pw_uid for name in STUDENTS}
    submissions = {
        name: [p for p in sorted(inbound.glob(f"{name}+{ASSIGNMENT}+*")) if p.stat().st_uid == owned[name]]
        for name in STUDENTS
    }
    forged = [p for p in inbound.iterdir() if p.stat().st_uid != owned[p.name.split("+")[0]]]
    step("collect", nbgrader(INSTRUCTOR, "collect", ASSIGNMENT, cwd=course))
    out["autograde"] = run(INSTRUCTOR, *grade, "autograde", "--jobs", "2", cwd=course, timeout=1800)
    step("feedback", run(INSTRUCTOR, *grade, "feedback", cwd=course))
    step("release_feedback", nbgrader(INSTRUCTOR, "release_feedback", ASSIGNMENT, cwd=course))
    for name in STUDENTS:
        step(f"fetch_feedback {name}", nbgrader(name, "fetch_feedback", ASSIGNMENT))

    probes = {}
    for name in STUDENTS:
        others = [str(p / source.name) for other, found in submissions.items() if other != name for p in found]
        others += [
            str(p / "submission_secret.txt") for other, found in submissions.items() if other != name for p in found
        ]
        others += [str(home[o] / ASSIGNMENT / source.name) for o in STUDENTS if o != name]
        private = [
            str(course / "source" / ASSIGNMENT / source.name),
            str(course / "gradebook.db"),
            str(inbound),
            str(exchange / "resnet-course" / "feedback"),
        ]
        probes[name] = probe(name, others + private)
    left = {name: pids_of(name) for name in (INSTRUCTOR, *STUDENTS)}
    return {
        "course": course,
        "home": home,
        "out": out,
        "submissions": submissions,
        "probes": probes,
        "left": left,
        "source": source,
        "forged": forged,
    }


def test_scores_model_full_blank_and_attack_zero(term):
    from nbgrader.api import Gradebook

    status, text = term["out"]["autograde"]
    with Gradebook(f"sqlite:///{term['course'] / 'gradebook.db'}") as gb:
        table = {s.student.id: s.score for s in gb.find_assignment(ASSIGNMENT).submissions}
    model, blank, attack = STUDENTS
    assert table == {model: 10, blank: 0, attack: 0}, (table, text[-3000:])
    assert status == 0, text[-3000:]
    assert "sandbox guarantees" in text and "its own uid" in text, text[-3000:]
    results = json.loads((term["course"] / "grading_results" / f"{model}.json").read_text())
    assert results["sandboxed"] is True


def test_the_attack_read_nothing_while_graded(term):
    attack = next(n for n, kind in STUDENTS.items() if kind == "attack")
    graded = term["course"] / "autograded" / attack / ASSIGNMENT / term["source"].name
    cell = next(c for c in nbformat.read(str(graded), as_version=4).cells if "ATTACK-DENIED" in c.source)
    said = "".join(o.get("text", "") for o in cell.get("outputs", []))
    assert "ATTACK-DENIED" in said and "ATTACK-READ" not in said, said


def test_every_student_fetched_its_own_feedback_only(term):
    pages = {}
    for name in STUDENTS:
        found = sorted((term["home"][name] / ASSIGNMENT / "feedback").glob("*/*.html"))
        assert len(found) == 1, (name, found, term["out"][f"fetch_feedback {name}"][1][-2000:])
        pages[name] = found[0].read_bytes()
    for name in STUDENTS:
        own = term["course"] / "feedback" / name / ASSIGNMENT / f"{term['source'].stem}.html"
        assert pages[name] == own.read_bytes(), f"{name} did not get its own feedback"
    assert len(set(pages.values())) == len(STUDENTS), "two students got the same page"


def test_a_student_cannot_read_the_others_or_the_instructor(term):
    for name, seen in term["probes"].items():
        assert seen and all(v == "PermissionError" for v in seen.values()), (name, seen)


def test_the_submissions_were_collected_from_the_exchange(term):
    for name, found in term["submissions"].items():
        assert len(found) == 1, (name, found)
        assert found[0].stat().st_gid == grp.getgrnam(INSTRUCTOR).gr_gid, (
            "inbound's setgid gives the instructor's group"
        )
        assert found[0].stat().st_mode & 0o7777 == 0o770, "PrivateSubmit closes the folder to the other students"
        assert (term["course"] / "submitted" / name / ASSIGNMENT / term["source"].name).is_file()


def test_a_submission_in_another_students_name_is_not_collected(term):
    """``nbgrader submit --student`` lets a student submit in another's name; the course's OwnedCollect ignores it."""
    model = next(iter(STUDENTS))
    assert [p.name.split("+")[0] for p in term["forged"]] == [model], term["forged"]
    assert "Not collected" in term["out"]["collect"][1] and str(term["forged"][0]) in term["out"]["collect"][1]
    collected = (term["course"] / "submitted" / model / ASSIGNMENT / term["source"].name).read_text()
    assert "ATTACK-DENIED" not in collected, "the forged submission replaced the model student's"


def test_no_process_of_these_accounts_is_left(term):
    assert term["left"] == {name: [] for name in (INSTRUCTOR, *STUDENTS)}, term["left"]
