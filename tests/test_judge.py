"""The judge's proxy (resnet_course/grading/judge.py, codec.py) on every exercise, without a sandbox.

Each exercise's reference solution is served through the real encoding (``wire`` frames: JSON, ``.npy`` and
``.npz`` blobs) by ``server.call`` in this process, and the exercise's visible and hidden checks run on the proxy, as the
judge runs them: the reference must pass every check, so each kind of argument and result the course's
checks use (arrays, symbolic tensors, models changed in place, initialisers) crosses the boundary intact.
A submission's run in a real sandbox is in tests/test_nbgrader_roundtrip.py.
"""

from __future__ import annotations

import pytest

from resnet_course.catalogue.mutants import MUTANTS
from resnet_course.grading import judge, records, server, wire
from resnet_course.harness import unwrapped
from tools.mutation_score import build
from tools.notebooks import exercises, nbgrader_meta, read, solution_source, source_notebooks

EXERCISES = [(path, name) for path in source_notebooks() for name in exercises(path)]


def through_the_wire(kind, body, blobs):
    """A frame as the other side reads it: encoded, then parsed by ``wire.Reader`` from a pipe."""
    import os
    import threading

    read, write = os.pipe()
    threading.Thread(target=lambda: (wire.send(write, kind, body, blobs), os.close(write)), daemon=True).start()
    try:
        return wire.Reader(read).read(60)
    finally:
        os.close(read)


class LocalChannel(judge.Channel):
    """A channel whose 'sandbox' is ``server.call`` in this process (the frames and the codec are the real ones)."""

    def __init__(self, scratch, functions):
        super().__init__(None, None)
        self.functions = functions

    def send(self, request, blobs, timeout):
        call = through_the_wire("call", request, blobs)
        out = wire.Blobs()
        reply = dict(
            server.call(self.functions.get(call.body["name"]), call.body, 100_000, call.blobs, out), id=request["id"]
        )
        frame = through_the_wire("reply", reply, out)
        return records.parse(records.Reply, frame.body), frame.blobs


def reference_functions(path, name) -> dict:
    """The notebook's code cells up to the reference solution of ``name`` (graded and free check cells
    skipped), run in a fresh namespace."""
    namespace = {"__name__": "__main__"}
    for cell in read(path).cells:
        meta = nbgrader_meta(cell)
        if cell.cell_type != "code" or meta.get("grade") and not meta.get("solution") or "free_check(" in cell.source:
            continue
        exec(compile(solution_source(cell.source), f"<{meta.get('grade_id')}>", "exec"), namespace)  # noqa: S102
        if meta.get("grade_id") == name:
            return namespace
    return namespace


@pytest.mark.parametrize("path, name", EXERCISES, ids=[name for _, name in EXERCISES])
def test_reference_solution_passes_every_check_through_the_proxy(path, name, tmp_path, monkeypatch):
    monkeypatch.setenv("RESNET_COURSE_FAST", "1")
    functions = reference_functions(path, name)
    verdict = judge.judge(LocalChannel(tmp_path, functions), path.name, name)
    assert verdict["passed"], verdict["message"]
    assert verdict["output"].count("[PASS]") == 2, verdict["output"]


def test_a_returned_layer_written_in_the_notebook_is_refused(tmp_path):
    path, name = next((p, n) for p, n in EXERCISES if n == "identity_block")
    functions = reference_functions(path, name)
    exec(
        "import keras\n"  # noqa: S102
        "class Mine(keras.layers.ReLU):\n    pass\n"
        "_reference = identity_block\n"
        "def identity_block(*args, **kwargs):\n    return Mine()(_reference(*args, **kwargs))\n",
        functions,
    )
    verdict = judge.judge(LocalChannel(tmp_path, functions), path.name, name)
    assert not verdict["passed"] and "could not be loaded without running code written in the notebook" in unwrapped(
        verdict["message"]
    ), verdict["message"]


IN_PLACE = [e for e in MUTANTS if e.exercise in ("freeze_batchnorm", "start_fine_tuning")]
# A layer's settings (here BatchNormalization's momentum) do not travel back, only flags, weights and compile
# settings: this mutant still fails, with the general message (its layers are still trainable).
GENERAL_MESSAGE = {"momentum_one": "is still trainable"}


@pytest.mark.parametrize("entry", IN_PLACE, ids=[f"{e.exercise}-{e.id}" for e in IN_PLACE])
def test_a_wrong_change_in_place_crosses_the_boundary(entry, tmp_path, monkeypatch):
    """What a function does to a model it is given comes back as a state (flags, changed weights, compile
    settings), not as the whole model: the mutants that change it wrongly still fail with their message."""
    monkeypatch.setenv("RESNET_COURSE_FAST", "1")
    verdict = judge.judge(LocalChannel(tmp_path, {entry.exercise: build(entry)}), "nb", entry.exercise)
    assert not verdict["passed"], verdict["message"]
    assert unwrapped(GENERAL_MESSAGE.get(entry.id, entry.message)) in unwrapped(verdict["message"]), verdict["message"]


def test_a_model_crosses_with_its_weights_and_without_them_only_when_asked():
    """``Proxy.architecture`` (the ResNet50 check copies the reference's weights in): the model comes back at zero,
    with its configuration; a model that comes without weights where they were asked for is refused; a model
    with weights comes back with exactly them (its variables made at zero first), a dropout's seed state its own."""
    import keras
    import numpy as np

    from resnet_course.grading import codec

    keras.utils.set_random_seed(0)
    inp = keras.Input((3,))
    model = keras.Model(inp, keras.layers.Dropout(0.5, seed=7)(keras.layers.Dense(4)(inp)))
    full, bare = wire.Blobs(), wire.Blobs()
    with_weights, without = codec.encode(model, full), codec.encode(model, bare, weights=False)
    copy = codec.decode(with_weights, full)
    assert all(np.array_equal(a, b) for a, b in zip(copy.get_weights(), model.get_weights()))
    seeds = [np.asarray(v) for m in (model, copy) for v in m.variables if "seed_generator" in v.path]
    assert len(seeds) == 2 and np.array_equal(seeds[0], seeds[1])
    shape = codec.decode(without, bare, architecture=True)
    layers = [(type(layer).__name__, [tuple(w.shape) for w in layer.weights]) for layer in model.layers]
    assert [(type(layer).__name__, [tuple(w.shape) for w in layer.weights]) for layer in shape.layers] == layers
    assert not any(np.any(w) for w in shape.get_weights())
    with pytest.raises(codec.Refused, match="without its weights"):
        codec.decode(without, bare)


def test_an_unchanged_free_check_is_not_run_while_grading_and_a_changed_one_is(tmp_path, monkeypatch):
    """The judge runs a free check cell's check again for the score, so grading skips the cell as released;
    a student's edit of it runs (it might bind a name the student's later cells use)."""
    import json

    import nbformat

    from resnet_course.grading import grade_one

    free = 'from test_utils import free_check\nwith free_check("f"):\n    print("checked")'
    cells = [nbformat.v4.new_code_cell("def f():\n    return 1"), nbformat.v4.new_code_cell(free)]
    cells[1].id = "free-f"
    release = tmp_path / "release.ipynb"
    nbformat.write(nbformat.v4.new_notebook(cells=cells), str(release))
    skip = grade_one.free_checks(json.loads(release.read_text()))
    assert skip == {"free-f": free}
    submitted = json.loads(release.read_text())
    jobs = grade_one.job_cells(submitted, lambda cell: 10, skip)
    assert [c["free_check"] for c in jobs] == [False, True]
    submitted["cells"][1]["source"] = free + "\nhelper = 2"
    assert [c["free_check"] for c in grade_one.job_cells(submitted, lambda cell: 10, skip)] == [False, False]

    monkeypatch.chdir(tmp_path)
    _, runs = server.run_notebook(release, jobs, ["f"], 100_000)
    assert runs[0]["outputs"] == [] and runs[1]["outputs"][0]["text"] == server.SKIPPED_FREE_CHECK
