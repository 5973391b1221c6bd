"""Hostile HTML in a submission stays inert in formgrader and in the feedback page, in a real (headless) Chromium.

A temporary course with one assignment (the identity block), two students graded by the real
``python -m tools.grade autograde --jobs 2`` and ``feedback``: ``victim`` (the model submission) and
``markdown_html`` (resnet_course/catalogue/adversarial.py's HOSTILE_PAGES: the model submission plus markdown,
raw, attachment and metadata payloads whose script would call alert(), set window.__pwned, PUT pwned.txt into
the course through the Jupyter server's API, ask for a terminal and request this test's loopback listener).
A Jupyter server with nbgrader's formgrader runs in the course folder (token-less, 127.0.0.1, debug log).
Opened: formgrader's view of the attacker's submission, its feedback HTML (file://, as a student opens it),
and formgrader's view again after the attacker's autograded notebook was replaced by the raw submission
(only the render-time MakeInert of nbgrader_config.py stands then). Then the positive control: the same
notebook exported by plain nbconvert, written into a page of the same server, must fire.

Needs bubblewrap (the sandboxed grading), Debian's chromium and chromedriver, and selenium; skipped with the
reason otherwise. About 3 minutes on 2 cores.
"""

from __future__ import annotations

import re
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import nbformat
import pytest

from resnet_course.catalogue.hostile import HOSTILE_MARKDOWN, HOSTILE_MARKER, HOSTILE_PAGES, HOSTILE_PROBE_PORT
from resnet_course.grading import sandbox
from tests.needs_sandbox import grade_step
from tests.test_browser import _free_port, _missing, browser  # noqa: F401 - the browser fixture
from tools import grade
from tools.notebooks import ROOT, exercises, source_notebooks
from tools.release import nbgrader_env, stage_course

try:
    sandbox.check_available()
    NO_SANDBOX = ""
except sandbox.SandboxUnavailable as exc:
    NO_SANDBOX = str(exc)

pytestmark = [
    pytest.mark.skipif(_missing() is not None, reason=str(_missing())),
    pytest.mark.skipif(bool(NO_SANDBOX), reason=f"no sandbox here: {NO_SANDBOX}"),
]

ASSIGNMENT, NOTEBOOK = "02_identity_block", "identity_block"
ATTACKER = HOSTILE_PAGES[0]
REQUESTS = ("PUT /api/contents", "POST /api/contents", "PATCH /api/contents", "POST /api/terminals")


class Listener:
    """A loopback TCP listener that records every connection (the page's requests to it)."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen()
        self.sock.settimeout(0.5)
        self.port, self.hits, self.stop = self.sock.getsockname()[1], [], threading.Event()
        threading.Thread(target=self._run, daemon=True).start()

    def _run(self):
        while not self.stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            conn.settimeout(1)
            try:
                self.hits.append(conn.recv(200).decode(errors="replace").split("\r\n")[0])
            except OSError:
                self.hits.append("(connected)")
            conn.close()

    def close(self):
        self.stop.set()
        self.sock.close()


def _step(root: Path, *args) -> str:
    status, text = grade_step(root, *args)
    assert status == 0, f"tools.grade {' '.join(args)} failed:\n{text[-6000:]}"
    return text


@pytest.fixture(scope="module")
def course(tmp_path_factory):
    from tests.test_nbgrader_roundtrip import submission

    root = tmp_path_factory.mktemp("hostile") / "course"
    root.mkdir()
    stage_course(root)
    _step(root, "release")
    _step(root, "students", "victim", ATTACKER.id)
    path = next(p for p in source_notebooks() if p.parent.name == ASSIGNMENT)
    exercise = exercises(path)[0]
    release = root / "notebooks" / ASSIGNMENT / path.name
    listener = Listener()
    for student, adversary in (("victim", None), (ATTACKER.id, ATTACKER)):
        dest = root / "submitted" / student / ASSIGNMENT / path.name
        dest.parent.mkdir(parents=True)
        text = nbformat.writes(submission(release, path, adversary, [exercise]))
        dest.write_text(text.replace(HOSTILE_PROBE_PORT, str(listener.port)))
    _step(root, "autograde", "--jobs", "2")
    _step(root, "feedback")
    yield {"root": root, "listener": listener}
    listener.close()


@pytest.fixture(scope="module")
def server(course):
    """A Jupyter server in the course folder (formgrader reads its nbgrader_config.py), no token, debug log."""
    root, port = course["root"], _free_port()
    state = root.parent / "server-state"
    state.mkdir()
    env = nbgrader_env(JUPYTER_RUNTIME_DIR=str(state / "runtime"), PYTHONPATH=str(ROOT))
    cmd = [
        sys.executable,
        "-m",
        "jupyter_server",
        f"--ServerApp.port={port}",
        "--ServerApp.ip=127.0.0.1",
        "--no-browser",
        "--IdentityProvider.token=",
        "--ServerApp.password=",
        f"--ServerApp.root_dir={root}",
        "--ServerApp.log_level=DEBUG",
        "--allow-root",  # (the sandboxed grading runs as root, so does this test)
    ]
    log_path = state / "server.log"
    log = log_path.open("w")
    proc = subprocess.Popen(cmd, cwd=root, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.time() + 300
        while True:
            try:
                urllib.request.urlopen(f"{url}/api/status", timeout=2)
                break
            except OSError:
                if proc.poll() is not None or time.time() > deadline:
                    pytest.fail(f"the Jupyter server did not start: {log_path.read_text()[-3000:]}")
                time.sleep(0.5)
        yield {"url": url, "log": log_path}
    finally:
        proc.terminate()
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


def _alerts(driver, wait: float) -> list[str]:
    """Accept every alert that opens within ``wait`` seconds of the last one; their texts."""
    from selenium.common.exceptions import TimeoutException
    from selenium.webdriver.support import expected_conditions
    from selenium.webdriver.support.ui import WebDriverWait

    texts = []
    while True:
        try:
            alert = WebDriverWait(driver, wait).until(expected_conditions.alert_is_present())
        except TimeoutException:
            return texts
        texts.append(alert.text)
        alert.accept()


def _visit(driver, url: str) -> dict:
    driver.get(url)
    alerts = _alerts(driver, 4)  # handlers fire on load; fetches and their alerts follow within a second
    return {
        "alerts": alerts,
        "pwned": driver.execute_script("return window.__pwned === undefined ? null : window.__pwned"),
        "text": driver.execute_script("return document.body ? document.body.innerText : ''"),
        "title": driver.title,
    }


def _state(course, server) -> dict:
    time.sleep(2)  # what a page sent has reached the server and the listener
    log = server["log"].read_text(errors="replace")
    return {
        "pwned_file": (course["root"] / "pwned.txt").exists(),
        "listener": list(course["listener"].hits),
        "requests": [line for line in log.splitlines() if any(r in line for r in REQUESTS)],
    }


@pytest.fixture(scope="module")
def pages(course, server, browser):  # noqa: F811 - the browser fixture
    from nbconvert import HTMLExporter
    from nbgrader.api import Gradebook

    root, url = course["root"], server["url"]
    with Gradebook(grade.db_url(root)) as gb:
        scores = {s.student.id: s.score for s in gb.find_assignment(ASSIGNMENT).submissions}
        submission_id = gb.find_submission_notebook(NOTEBOOK, ASSIGNMENT, ATTACKER.id).id
    seen = {"scores": scores}
    view = f"{url}/formgrader/submissions/{submission_id}/?index=0"
    seen["formgrader"] = _visit(browser, view)
    feedback = root / "feedback" / ATTACKER.id / ASSIGNMENT / f"{NOTEBOOK}.html"
    seen["feedback"] = _visit(browser, feedback.as_uri())
    seen["feedback_html"] = feedback.read_text()
    # Belt and braces: the raw submission where the autograded notebook was; only the render-time MakeInert stands.
    autograded = root / "autograded" / ATTACKER.id / ASSIGNMENT / f"{NOTEBOOK}.ipynb"
    raw = root / "submitted" / ATTACKER.id / ASSIGNMENT / f"{NOTEBOOK}.ipynb"
    stored = autograded.read_text()
    graded = nbformat.reads(stored, as_version=4)
    hostile = nbformat.reads(raw.read_text(), as_version=4)
    for cell in hostile.cells:  # keep the grade cells' metadata, so that formgrader renders it as before
        twin = next((c for c in graded.cells if c.get("id") == cell.get("id")), None)
        if twin is not None and "nbgrader" in twin.metadata:
            cell.metadata["nbgrader"] = twin.metadata["nbgrader"]
    autograded.write_text(nbformat.writes(hostile))
    seen["formgrader_raw"] = _visit(browser, view)
    autograded.write_text(stored)
    seen["after"] = _state(course, server)
    # The positive control: the same notebook, exported by plain nbconvert, in a page of the same origin.
    page = HTMLExporter(template_name="lab").from_notebook_node(hostile)[0]
    browser.get(f"{url}/formgrader/gradebook")  # an HTML page of the server (its API pages forbid scripts)
    browser.execute_script("document.open(); document.write(arguments[0]); document.close();", page)
    seen["control"] = {"alerts": _alerts(browser, 6)}
    seen["control"]["pwned"] = browser.execute_script("return window.__pwned === undefined ? null : window.__pwned")
    seen["control_state"] = _state(course, server)
    return seen


def test_victim_and_attacker_keep_full_marks(pages):
    assert pages["scores"] == {"victim": 10, ATTACKER.id: 10}, pages["scores"]


@pytest.mark.parametrize("page", ["formgrader", "feedback", "formgrader_raw"])
def test_page_is_inert(pages, page):
    seen = pages[page]
    assert seen["alerts"] == [], f"{page}: an alert opened"
    assert seen["pwned"] is None, f"{page}: window.__pwned was set"
    assert "Traceback" not in seen["text"] and "500" not in seen["title"], seen["text"][:2000]


@pytest.mark.parametrize("page", ["formgrader", "feedback", "formgrader_raw"])
def test_hostile_text_is_still_shown_as_text(pages, page):
    text = pages[page]["text"]
    for n in range(len(HOSTILE_MARKDOWN)):
        assert f"{HOSTILE_MARKER} {n}" in text, f"{page}: hostile cell {n} is gone"
    assert "<script>" in text and "onerror=" in text and f"{HOSTILE_MARKER} raw" in text


def test_feedback_file_has_no_student_script(pages):
    html = pages["feedback_html"]
    assert re.search(r"<script[^>]*>[^<]*__pwned", html) is None and "widget-state" not in html
    assert not re.search(r"<(iframe|object|embed|form|svg|math)\b", html)
    assert not re.search(r"<[^>]+\son\w+\s*=", html) and not re.search(r'<a\b[^>]*href="\s*javascript:', html)


def test_nothing_reached_the_server_or_the_listener(pages):
    after = pages["after"]
    assert not after["pwned_file"], "pwned.txt was written into the course"
    assert after["listener"] == [], after["listener"]
    assert after["requests"] == [], after["requests"]


def test_positive_control_fires(pages):
    """Unsanitised, the same payloads do all of it: so the checks above can fail."""
    control, state = pages["control"], pages["control_state"]
    assert control["pwned"] == 1 and "pwned" in control["alerts"], control
    assert state["pwned_file"], "the unsanitised page did not write pwned.txt through the API"
    assert state["listener"], "the unsanitised page did not reach the listener"
    assert any("PUT /api/contents/pwned.txt" in line for line in state["requests"]), state["requests"]


def test_server_log_is_readable(server):
    assert "formgrader" in server["log"].read_text(errors="replace").lower()
