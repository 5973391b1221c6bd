"""Hostile submissions aimed at what the grader's own processes and the library do (issue 23).

The entries of ``adversarial.py`` attack the checks from inside the student's kernel; these aim past them: at
the library the course reproduces (``HOSTILE_LIBRARY``) and at the host (``HOSTILE_RUNTIME``). They are kept out
of ``ADVERSARIES`` so that the whole-course round trip does not grow; each list's test grades its entries
through the real ``make autograde`` beside a full-marks victim, or in process where the check is the point.
"""

from __future__ import annotations

from .adversarial import FIRST, Adversary, _attack

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


def _floods_judge(ex, ref):
    # A reply written straight to the judge's pipe that announces 100 GB (the judge must refuse it unread), and a
    # header line without an end.
    return _attack(ex, """
import os, sys
frame = sys._getframe(1)
while frame is not None and not (frame.f_code.co_name == 'call' and 'grading' in frame.f_code.co_filename):
    frame = frame.f_back
if frame is None:
    return None  # not called by the grader (the notebook's free check): nothing to send yet
fd = int(sys.argv[-1])
os.write(fd, b'{"kind": "reply", "body": {"id": 0}, "blobs": [["v0.npy", 100000000000]]}\\n')
os.write(fd, b'{' + b' ' * 50_000_000)
""")


def _bombs_judge_model(ex, ref):
    # A reply, written straight to the judge's pipe, whose model configuration needs 17 GB to build (a Dense layer
    # of 65536 x 65536), with weights of a few bytes: what the judge builds is bounded by its own memory limit.
    return _attack(ex, """
import io, json, os, sys
import keras, numpy
frame = sys._getframe(1)
while frame is not None and not (frame.f_code.co_name == 'call' and 'grading' in frame.f_code.co_filename):
    frame = frame.f_back
if frame is None:
    return None  # not called by the grader (the notebook's free check): nothing to send yet
inputs = keras.Input((37,))
small = keras.Model(inputs, keras.layers.Dense(37)(inputs))
config = json.dumps(keras.saving.serialize_keras_object(small)).replace('37', '65536').encode()
weights = io.BytesIO()
numpy.savez(weights, numpy.zeros(1))
weights = weights.getvalue()
header = {'kind': 'reply', 'body': {'id': 0, 'result': {'t': 'model', 'config': 'v0.json', 'weights': 'v1.npz'}},
          'blobs': [['v0.json', len(config)], ['v1.npz', len(weights)]]}
os.write(int(sys.argv[-1]), json.dumps(header).encode() + b'\\n' + config + weights)
""")


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
