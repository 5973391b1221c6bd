"""What runs inside the sandbox: one student's notebooks, then the student's functions on request.

``python -m resnet_course.grading.server SCRATCH REQUEST_FD RESPONSE_FD`` (started by ``sandbox``):

1. reads the ``Job`` (``records``) from REQUEST_FD and writes the notebooks into SCRATCH, the sandbox's own
   tmpfs (no other process opens it);
2. executes every notebook of the job in this one Python (TensorFlow starts once per student),
   each in a fresh IPython namespace, cell by cell with the job's time limit per cell and a cap on
   each cell's output; graded test cells are not run here (the judge runs them). At each graded cell
   (or at the end, when the student deleted it) it keeps the student's function of that exercise;
3. sends each notebook's cell outputs (``NotebookRun``), then ``Ready``, on RESPONSE_FD;
4. answers the judge's calls: a ``Call`` frame on REQUEST_FD -> a ``Reply`` frame on RESPONSE_FD, arrays
   and models as the frame's blobs (``wire``, ``codec``).

Nothing this process writes is trusted: the judge decides the score from the data alone.
"""

from __future__ import annotations

import contextlib
import io
import os
import signal
import sys
import time
import traceback
from pathlib import Path


class CellTimeoutError(Exception):
    """A cell ran longer than its time limit."""


class Bounded(io.TextIOBase):
    """A text stream that keeps at most ``cap`` characters and counts the rest."""

    def __init__(self, cap: int):
        self.cap, self.parts, self.size, self.dropped = cap, [], 0, 0

    def writable(self):
        return True

    def write(self, text):
        text = str(text)
        room = self.cap - self.size
        if room > 0:
            self.parts.append(text[:room])
            self.size += min(room, len(text))
        self.dropped += max(0, len(text) - max(room, 0))
        return len(text)

    def value(self) -> str:
        text = "".join(self.parts)
        if self.dropped:
            text += f"\n... Output truncated: {self.dropped} more characters were not kept ...\n"
        return text


def _alarm(signum, frame):
    raise CellTimeoutError("the cell did not finish within its time limit")


def _outputs(stdout: Bounded, stderr: Bounded, displays, error) -> list:
    outs = []
    for name, stream in (("stdout", stdout), ("stderr", stderr)):
        text = stream.value()
        if text:
            outs.append({"output_type": "stream", "name": name, "text": text})
    for item in displays[:20]:
        data = {k: v for k, v in (item.get("data") or {}).items() if k in ("text/plain", "image/png")}
        if data:
            outs.append({"output_type": "display_data", "data": data, "metadata": {}})
    if error is not None:
        lines = traceback.format_exception(type(error), error, error.__traceback__)
        outs.append(
            {
                "output_type": "error",
                "ename": type(error).__name__,
                "evalue": str(error)[:2000],
                "traceback": ["".join(lines)[-5000:]],
            }
        )
    return outs


SKIPPED = (
    "Not run while grading: this cell is an experiment (tagged 'experiment') and no score depends on it. "
    "Run it in your own notebook to see its result.\n"
)
SKIPPED_FREE_CHECK = (
    "Not run while grading: this free check runs the graded cell's visible check, which the grader runs below "
    "with the hidden one; the graded cell's result is the one that counts.\n"
)


def run_notebook(
    path: Path, cells: list, exercises: list, cap: int, run_experiments: bool = False
) -> tuple[dict, list]:
    """Execute ``cells`` (from the job) of one notebook; the student's functions and each cell's outputs.
    Cells marked ``experiment`` are skipped unless ``run_experiments``, unchanged free check cells always (the
    judge runs their check); their output says so."""
    from IPython.core.displaypub import CapturingDisplayPublisher
    from IPython.core.interactiveshell import InteractiveShell

    InteractiveShell.clear_instance()
    shell = InteractiveShell.instance(user_ns={"__name__": "__main__"})
    shell.display_pub = CapturingDisplayPublisher()
    try:
        shell.enable_matplotlib("inline")  # figures become image/png displays, kept as feedback
    except Exception:  # noqa: BLE001 - no matplotlib: no figures, the rest runs
        pass
    functions, results = {}, []
    os.chdir(path.parent)
    for cell in cells:
        if cell.get("graded"):
            name = cell.get("exercise")
            if name and name not in functions:
                functions[name] = shell.user_ns.get(name)
            results.append({"id": cell.get("id"), "index": cell["index"], "outputs": []})
            continue
        skipped = SKIPPED if cell.get("experiment") and not run_experiments else None
        if cell.get("free_check"):
            skipped = SKIPPED_FREE_CHECK
        if skipped:
            note = {"output_type": "stream", "name": "stdout", "text": skipped}
            results.append({"id": cell.get("id"), "index": cell["index"], "outputs": [note], "seconds": 0.0})
            continue
        stdout, stderr = Bounded(cap), Bounded(cap)
        shell.display_pub.outputs = []
        began = time.time()
        error = None
        old = sys.stdout, sys.stderr
        sys.stdout, sys.stderr = stdout, stderr
        signal.signal(signal.SIGALRM, _alarm)
        signal.setitimer(signal.ITIMER_REAL, float(cell.get("timeout", 600)))
        try:
            result = shell.run_cell(cell["source"], store_history=False, silent=False)
            error = result.error_before_exec or result.error_in_exec
        except BaseException as exc:  # noqa: BLE001 - the cell's end, whatever happened
            error = exc
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
            sys.stdout, sys.stderr = old
        outputs = _outputs(
            stdout,
            stderr,
            [{"data": o.get("data") if isinstance(o, dict) else o.data} for o in shell.display_pub.outputs],
            error,
        )
        results.append(
            {"id": cell.get("id"), "index": cell["index"], "outputs": outputs, "seconds": round(time.time() - began, 2)}
        )
    for name in exercises:
        functions.setdefault(name, shell.user_ns.get(name))
    return functions, results


def call(function, request: dict, cap: int, blobs=None, out=None) -> dict:
    """Call the student's function on the decoded arguments (binary parts in ``blobs``); its result (or error)
    encoded, with its binary parts put in ``out`` (both ``wire.Blobs``)."""
    from resnet_course.grading import codec
    from resnet_course.grading.wire import Blobs

    blobs = blobs if blobs is not None else Blobs()
    sent = out if out is not None else Blobs()
    inputs: list = []

    def arg(data):
        value = codec.decode(data, blobs, safe=False)
        if data.get("t") == "spec":
            inputs.append(value)
        return value

    args = [arg(a) for a in request.get("args", [])]
    kwargs = {k: arg(v) for k, v in request.get("kwargs", {}).items()}
    models = [
        a for a in list(args) + list(kwargs.values()) if type(a).__name__ in ("Functional", "Sequential", "Model")
    ]
    before = [codec.snapshot(m) for m in models]
    if function is None:
        return {"error": "NameError", "message": f"name '{request['name']}' is not defined"}
    if not callable(function):
        return {"error": "TypeError", "message": f"'{type(function).__name__}' object is not callable"}
    stdout = Bounded(cap)
    old = sys.stdout, sys.stderr
    sys.stdout = sys.stderr = stdout
    signal.signal(signal.SIGALRM, _alarm)
    signal.setitimer(signal.ITIMER_REAL, float(request.get("timeout", 120)))
    from resnet_course.keras_internals import recording_keras_resnets, zero_initialised

    weights = request.get("weights") is not False
    try:
        # Reported: Keras's ResNet builder ran in the call. Without weights asked for, what the function's
        # variables start at is never seen: they start at zero, sooner than at random.
        with recording_keras_resnets() as keras_resnets, contextlib.nullcontext() if weights else zero_initialised():
            result = function(*args, **kwargs)
    except BaseException as exc:  # noqa: BLE001 - reported to the judge by name and message
        tb = traceback.extract_tb(exc.__traceback__)
        user = [f for f in tb if f.filename.startswith("<ipython-input") or f.filename.startswith("/tmp/ipykernel")]
        line = user[-1] if user else None
        return {
            "error": type(exc).__name__ if not isinstance(exc, CellTimeoutError) else "StudentTimeout",
            "message": str(exc)[:2000],
            "line": (line.lineno, line.line) if line else None,
        }
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        sys.stdout, sys.stderr = old
    try:
        encoded = codec.encode(result, sent, inputs or None, weights=weights)
        states = [codec.encode_state(m, old, sent) for m, old in zip(models, before)]
    except Exception as exc:  # noqa: BLE001
        return {
            "error": "EncodingError",
            "message": f"the result could not be sent to the grader: {type(exc).__name__}: {str(exc)[:300]}",
        }
    return {
        "result": encoded,
        "states": states,
        "shared": _shared_layers(result, models),
        "keras_resnets": [str(name)[:100] for name in keras_resnets[:10]],
        "printed": stdout.value()[:100_000],
    }


def _shared_layers(result, models: list) -> list:
    """Names of the layers of a returned model that ARE layers of the models passed in (not copies)."""
    if not models or not hasattr(result, "_flatten_layers"):
        return []
    given = {id(layer) for model in models for layer in model._flatten_layers(include_self=True, recursive=True)}
    return [layer.name for layer in result._flatten_layers(include_self=False, recursive=True) if id(layer) in given]


def _release_memory() -> None:
    """Free what the notebook left in Keras's global state (its models stay reachable through its functions only)."""
    import gc

    if "keras" in sys.modules:
        try:
            sys.modules["keras"].backend.clear_session()
        except Exception:  # noqa: BLE001
            pass
    gc.collect()


def _write_submission(scratch: Path, job) -> None:
    for nb in job.notebooks:
        path = scratch / "submission" / nb.file
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(nb.text)


def main(argv=None) -> int:
    from resnet_course.grading import records, wire

    argv = argv or sys.argv[1:]
    scratch, requests, responses = Path(argv[0]), int(argv[1]), int(argv[2])
    reader = wire.Reader(requests)
    job = records.parse(records.Job, reader.read().body)
    _write_submission(scratch, job)
    cap = job.output_cap
    functions = {}
    for nb in job.notebooks:
        start = time.time()
        cells = [records.dump(c) for c in nb.cells]
        found, runs = run_notebook(scratch / "submission" / nb.file, cells, nb.exercises, cap, job.run_experiments)
        functions[nb.file] = found
        _release_memory()
        wire.send(responses, "run", {"file": nb.file, "cells": runs, "seconds": round(time.time() - start, 2)})
    wire.send(responses, "ready", {"notebooks": len(job.notebooks)})
    while True:
        try:
            frame = reader.read()
        except wire.WireError:
            break
        if frame.kind != "call":
            break
        request, out = frame.body, wire.Blobs()
        try:
            reply = call(functions.get(request["notebook"], {}).get(request["name"]), request, cap, frame.blobs, out)
        except BaseException as exc:  # noqa: BLE001
            reply, out = {"error": type(exc).__name__, "message": str(exc)[:2000]}, wire.Blobs()
        reply["id"] = request.get("id")
        wire.send(responses, "reply", reply, out)
    return 0


if __name__ == "__main__":
    os._exit(main())
