"""The course as a student sees it: JupyterLab in a real (headless) Chromium, started as `make lab` starts it.

For every release notebook: it opens, every figure has loaded (``naturalWidth > 0``), the setup cell runs
without stderr output, and a screenshot goes to ``build/browser/``. A filled-in copy of notebook 2 with a
known mistake runs with Run All, which reaches the graded cell and shows the course's message there. The
student's Lab has nbgrader's Validate button and not its instructor tools.

Needs Debian's ``chromium`` and ``chromium-driver`` (``make test`` installs them as root through
``tools/install_browser.sh``) and ``selenium`` (requirements.txt). Where no browser can be installed, the
test is skipped with a message saying so (pytest's ``-ra`` summary prints it).
"""

from __future__ import annotations

import hashlib
import json
import shutil
import socket
import subprocess
import tempfile
import time
import urllib.request
from pathlib import Path

import nbformat
import pytest

from resnet_course.harness import MESSAGE_WIDTH
from tools import lab
from tools.notebooks import RELEASE, ROOT, SOURCE, nbgrader_meta, solved, source_notebooks

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")
SHOTS = ROOT / "build" / "browser"
COPY = RELEASE / "02_identity_block" / "browser_test_copy.ipynb"  # git-ignored, removed after the test
INSTRUCTOR_PLUGINS = [
    "@jupyter/nbgrader:create-assignment",
    "@jupyter/nbgrader:formgrader",
    "@jupyter/nbgrader:menu",
    "@jupyter/nbgrader:course-list",
]


def _missing() -> str | None:
    if not CHROMIUM or not CHROMEDRIVER:
        return (
            "no browser: Debian's chromium and chromium-driver are not installed and could not be installed here "
            "(make test installs them as root with apt-get; see tools/install_browser.sh)"
        )
    try:
        import selenium  # noqa: F401
    except ImportError:
        return "selenium is not installed (it is in requirements.txt: run make setup)"
    return None


pytestmark = pytest.mark.skipif(_missing() is not None, reason=str(_missing()))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _hashes(folder: Path) -> dict:
    return {p: hashlib.sha256(p.read_bytes()).hexdigest() for p in folder.rglob("*") if p.is_file()}


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """JupyterLab started by the command `make lab` runs (tools.lab), headless on a free port, no token."""
    state = tmp_path_factory.mktemp("lab-state")
    settings = state / "settings" / "@jupyterlab" / "docmanager-extension"
    settings.mkdir(parents=True)
    (settings / "plugin.jupyterlab-settings").write_text(json.dumps({"autosave": False}))  # never write notebooks/
    before = _hashes(RELEASE)
    port = _free_port()
    cmd, env = lab.command(
        extra=[
            f"--ServerApp.port={port}",
            "--ServerApp.ip=127.0.0.1",
            "--no-browser",
            "--IdentityProvider.token=",
            "--ServerApp.password=",
            "--LabApp.expose_app_in_browser=True",
        ]
    )
    env.update(
        JUPYTERLAB_SETTINGS_DIR=str(state / "settings"),
        JUPYTERLAB_WORKSPACES_DIR=str(state / "workspaces"),
        JUPYTER_RUNTIME_DIR=str(state / "runtime"),
    )
    for key in ("RESNET_COURSE_FAST", "RESNET_COURSE_HEADLESS", "PYTEST_CURRENT_TEST"):
        env.pop(key, None)  # as a student's shell has it
    log = open(state / "server.log", "w")
    proc = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT, cwd=ROOT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.time() + 300  # a loaded machine takes a while to start a server
        while time.time() < deadline:
            try:
                urllib.request.urlopen(f"{url}/api/status", timeout=2)
                break
            except OSError:
                if proc.poll() is not None:
                    pytest.fail(f"JupyterLab exited: {(state / 'server.log').read_text()[-3000:]}")
                time.sleep(0.5)
        else:
            pytest.fail(f"JupyterLab did not start: {(state / 'server.log').read_text()[-3000:]}")
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()
        COPY.unlink(missing_ok=True)
        for folder in RELEASE.rglob(".ipynb_checkpoints"):
            shutil.rmtree(folder, ignore_errors=True)
        after = _hashes(RELEASE)
        assert after == before, "the browser test changed notebooks/"


@pytest.fixture(scope="module")
def browser():
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    profile = tempfile.mkdtemp(prefix="chromium-profile-")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in (
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-dev-shm-usage",
        f"--user-data-dir={profile}",
        "--window-size=1280,1400",
    ):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.set_script_timeout(240)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


def _wait(driver, script: str, timeout: float = 120, every: float = 0.25, *args):
    end = time.time() + timeout
    while time.time() < end:
        value = driver.execute_script(script, *args)
        if value:
            return value
        time.sleep(every)
    raise AssertionError(f"timed out after {timeout:g} s waiting for: {script}")


OPEN = """
const [path, done] = [arguments[0], arguments[arguments.length - 1]];
const app = window.jupyterapp;
(async () => {
  await app.commands.execute('application:close-all');
  const panel = await app.commands.execute('docmanager:open', {path});
  await panel.context.ready;
  await panel.sessionContext.ready;
  done(true);
})().catch(e => done('error: ' + e));
"""

RUN = """
const [index, done] = [arguments[0], arguments[arguments.length - 1]];
const app = window.jupyterapp;
(async () => {
  const panel = app.shell.currentWidget;
  panel.content.activeCellIndex = index;
  // not awaited: the command resolves only when the cells have run; the test polls for that itself
  app.commands.execute(index < 0 ? 'notebook:run-all-cells' : 'notebook:run-cell');
  done(true);
})().catch(e => done('error: ' + e));
"""

CELLS = """
const panel = window.jupyterapp.shell.currentWidget;
return panel.content.widgets.map(w => ({type: w.model.type, count: w.model.type === 'code' ? w.model.executionCount : null,
  outputs: w.model.type === 'code' ? w.model.outputs.toJSON() : [], id: (w.model.getMetadata('nbgrader') || {}).grade_id || null,
  tags: w.model.getMetadata('tags') || []}));
"""

DONE = """
const panel = window.jupyterapp.shell.currentWidget;
const kernel = panel.sessionContext.session && panel.sessionContext.session.kernel;
return panel.content.widgets[arguments[0]].model.executionCount !== null && kernel && kernel.status === 'idle';
"""

CLOSE = """
const done = arguments[arguments.length - 1];
const app = window.jupyterapp;
(async () => {
  const panel = app.shell.currentWidget;
  if (panel && panel.sessionContext) { await panel.sessionContext.shutdown(); panel.context.model.dirty = false; }
  await app.commands.execute('application:close-all');
  done(true);
})().catch(e => done('error: ' + e));
"""

IMAGES = """
const imgs = [...document.querySelectorAll('.jp-NotebookPanel:not(.lm-mod-hidden) .jp-Notebook img')];
return imgs.map(i => ({alt: i.alt, complete: i.complete, width: i.naturalWidth}));
"""

IMAGES_READY = """
const imgs = [...document.querySelectorAll('.jp-NotebookPanel:not(.lm-mod-hidden) .jp-Notebook img')];
if (imgs.length < arguments[0] || !imgs.every(i => i.complete)) return null;
return imgs.map(i => ({alt: i.alt, complete: i.complete, width: i.naturalWidth}));
"""


def _stderr(cell) -> str:
    return "".join(
        o.get("text", "") if isinstance(o.get("text"), str) else "".join(o.get("text", []))
        for o in cell["outputs"]
        if o.get("output_type") == "stream" and o.get("name") == "stderr"
    )


def _open(driver, url: str, rel: str):
    if not driver.execute_script("return !!window.jupyterapp"):
        driver.get(f"{url}/lab?reset")
        _wait(
            driver,
            "return window.jupyterapp && window.jupyterapp.shell && "
            "document.querySelector('#jp-main-dock-panel') !== null",
        )
    assert driver.execute_async_script(OPEN, rel) is True
    _wait(driver, "return document.querySelector('.jp-NotebookPanel:not(.lm-mod-hidden) .jp-Cell') !== null")


def _expected_images(path: Path) -> int:
    import re

    nb = nbformat.read(str(path), as_version=4)
    return sum(len(re.findall(r"!\[[^\]]*\]\(", c.source)) for c in nb.cells if c.cell_type == "markdown")


def test_the_students_lab_has_validate_and_not_the_instructor_tools(server, browser):
    _open(browser, server, "02_identity_block/identity_block.ipynb")
    active = browser.execute_script(
        "const a = window.jupyterapp; return Object.fromEntries(arguments[0].map(p => [p, a.hasPlugin(p) && "
        "a.isPluginActivated(p)]));",
        INSTRUCTOR_PLUGINS + ["@jupyter/nbgrader:validate-assignment"],
    )
    assert active.pop("@jupyter/nbgrader:validate-assignment") is True
    assert not any(active.values()), active
    _wait(
        browser,
        "return [...document.querySelectorAll('.jp-NotebookPanel-toolbar button, "
        ".jp-NotebookPanel-toolbar .jp-ToolbarButtonComponent')].some(b => b.textContent.includes('Validate'))",
        timeout=30,
    )
    menus = browser.execute_script(
        "return [...document.querySelectorAll('.lm-MenuBar-itemLabel')].map(e => e.textContent)"
    )
    assert "Nbgrader" not in menus and "Help" in menus, menus
    assert "Create Assignment" not in browser.execute_script("return document.body.innerText")
    assert browser.execute_async_script(CLOSE) is True


def test_every_release_notebook_shows_its_figures_and_a_quiet_setup_cell(server, browser):
    SHOTS.mkdir(parents=True, exist_ok=True)
    problems = []
    for source_path in source_notebooks():
        rel = f"{source_path.parent.name}/{source_path.name}"
        _open(browser, server, rel)
        expected = _expected_images(RELEASE / rel)
        for index in range(expected):  # bring each figure into view, so the browser loads it
            browser.execute_script(
                "const i = document.querySelectorAll('.jp-NotebookPanel:not(.lm-mod-hidden) "
                ".jp-Notebook img')[arguments[0]]; if (i) i.scrollIntoView();",
                index,
            )
        images = _wait(browser, IMAGES_READY, 30, 0.25, expected) if expected else browser.execute_script(IMAGES)
        if len(images) != expected or any(i["width"] == 0 for i in images):
            problems.append(f"{rel}: figures {images}, expected {expected} loaded")
        if expected:
            browser.execute_script(
                "document.querySelector('.jp-NotebookPanel:not(.lm-mod-hidden) .jp-Notebook img')"
                ".scrollIntoView({block: 'center'});"
            )
            time.sleep(0.3)
            browser.save_screenshot(str(SHOTS / f"{source_path.parent.name}-figure.png"))
        cells = browser.execute_script(CELLS)
        setup = next(i for i, c in enumerate(cells) if "setup" in c["tags"])
        assert browser.execute_async_script(RUN, setup) is True
        _wait(browser, DONE, 300, 0.25, setup)
        cell = browser.execute_script(CELLS)[setup]
        if _stderr(cell) or any(o.get("output_type") == "error" for o in cell["outputs"]):
            problems.append(f"{rel}: the setup cell wrote {cell['outputs']}")
        browser.execute_script(
            "const c = window.jupyterapp.shell.currentWidget.content.widgets[arguments[0]];c.node.scrollIntoView();",
            max(setup - 1, 0),
        )
        time.sleep(0.3)
        browser.save_screenshot(str(SHOTS / f"{source_path.parent.name}.png"))
        assert browser.execute_async_script(CLOSE) is True
    assert not problems, "\n".join(problems)


def test_a_mistake_in_notebook_2_reaches_the_graded_message(server, browser):
    nb = solved(
        RELEASE / "02_identity_block" / "identity_block.ipynb", SOURCE / "02_identity_block" / "identity_block.ipynb"
    )
    answer = next(c for c in nb.cells if nbgrader_meta(c).get("grade_id") == "identity_block")
    answer.source = answer.source.replace("layers.Conv2D", "layers.Conv2d", 1)
    nbformat.write(nb, str(COPY))
    try:
        _open(browser, server, f"02_identity_block/{COPY.name}")
        assert browser.execute_async_script(RUN, -1) is True
        cells = _wait(
            browser,
            "const cells = (() => {" + CELLS + "})();"
            "const g = cells.find(c => c.id === 'identity_block_tests');"
            "return g && g.count !== null && g.outputs.length ? cells : null;",
            300,
        )
        graded = next(c for c in cells if c["id"] == "identity_block_tests")
        errors = [o for o in graded["outputs"] if o.get("output_type") == "error"]
        assert errors and errors[0]["evalue"].startswith("identity_block: calling identity_block("), graded["outputs"]
        assert "Conv2d" in errors[0]["evalue"] and "in your code, line" in errors[0]["evalue"]
        _wait(
            browser,
            "return [...document.querySelectorAll('.jp-NotebookPanel:not(.lm-mod-hidden) .jp-OutputArea-output')]"
            ".some(e => e.innerText.includes('identity_block: calling identity_block('))",
            30,
        )
        text, overflow = browser.execute_script(
            "const e = [...document.querySelectorAll('.jp-NotebookPanel:not(.lm-mod-hidden) .jp-OutputArea-output')]"
            ".find(e => e.innerText.includes('identity_block: calling identity_block('));"
            "return [e.innerText, e.scrollWidth - e.clientWidth];"
        )
        lines = [line for line in text.splitlines() if line.strip()]
        assert len(lines) > 4 and all(len(line) <= MESSAGE_WIDTH for line in lines), text  # it wraps itself
        assert all(line.startswith("    ") for line in lines[1:]), text  # under its field, not at column 0
        assert overflow <= 1, f"the message is wider than its output area by {overflow} px"
        free = cells[[c["id"] for c in cells].index("identity_block_tests") - 1]
        assert "this check raised AttributeError" in json.dumps(free["outputs"]), free["outputs"]
        browser.execute_script(
            "const w = window.jupyterapp.shell.currentWidget.content.widgets;w[arguments[0]].node.scrollIntoView();",
            [c["id"] for c in cells].index("identity_block_tests") - 1,
        )
        time.sleep(0.3)
        SHOTS.mkdir(parents=True, exist_ok=True)
        browser.save_screenshot(str(SHOTS / "02_identity_block-mistake.png"))
        assert browser.execute_async_script(CLOSE) is True
    finally:
        COPY.unlink(missing_ok=True)
