"""The trusted side: the course's checks run here, on the host, never in the student's interpreter.

For each exercise, the judge runs the visible check and the hidden check of ``public_tests`` (looked up
in one place, ``checks``) with the student's function replaced by a ``Proxy``. A call of the proxy
sends the arguments as data (``codec``) to the sandbox, where the student's function runs, and turns
the reply back into values: arrays, plain values, a model loaded in safe mode, a symbolic result
re-wired layer by layer onto the judge's own input tensor. A model argument the student's function
changed in place gets its new state (trainable flags, weights, compile configuration) copied back.
Errors come back by name and message and are raised here as the same kind of exception, so the
checks' messages (``call_learner``) stay what students know.
"""

from __future__ import annotations

import builtins
import contextlib
import io
import itertools
import resource
import threading
import time
import warnings

from resnet_course.grading import codec, records, wire
from resnet_course.keras_internals import report_keras_resnets

CALL_GRACE = 60.0  # seconds the judge waits beyond a call's own time limit before giving up on the sandbox


def checks(name: str) -> list:
    """The checks that grade exercise ``name``: its visible check, then its hidden check (the one place they're found)."""
    from resnet_course.registry import exercise

    entry = exercise(name)
    return [entry.test, entry.hidden_test]


def warm_up() -> None:
    """Import what the checks use (TensorFlow, Keras, every exercise's checks) while the sandbox runs the notebooks."""
    try:
        import keras

        from resnet_course.registry import EXERCISES, exercise

        for name in EXERCISES:
            exercise(name)
        keras.ops.convert_to_numpy(keras.layers.Dense(1)(keras.ops.ones((1, 1))))
    except Exception:  # noqa: BLE001 - the checks import it again, and report what fails
        pass


class SandboxGone(BaseException):
    """The sandbox stopped answering (it crashed, was killed, or ran out of time).

    A ``BaseException``, so that ``call_learner`` does not turn it into a message about the student's code."""


class Channel:
    """The judge's end of the sandbox's request and response pipes (file descriptors; ``wire`` frames)."""

    def __init__(self, requests: int, responses: int):
        self.requests, self.reader = requests, wire.Reader(responses) if responses is not None else None
        self.ids, self.dead = itertools.count(), None

    def runs(self, timeout: float, expected: set[str]) -> list:
        """The sandbox's ``NotebookRun`` records of the ``expected`` notebooks, up to its ``Ready`` (what it sent
        before it ended, if it did); a run of another notebook, or a second one, ends the channel."""
        deadline, runs = time.monotonic() + timeout, []
        try:
            while True:
                frame = self.reader.read(max(deadline - time.monotonic(), 0.001))
                if frame.kind == "ready":
                    return runs
                if frame.kind != "run":
                    raise wire.WireError(f"a {frame.kind!r} message before the notebooks finished")
                run = records.parse(records.NotebookRun, frame.body)
                if run.file not in expected or any(r.file == run.file for r in runs):
                    raise wire.WireError(f"a run of a notebook it was not given, or twice: {run.file[:100]!r}")
                runs.append(run)
        except (wire.WireError, records.RecordError, OSError) as exc:
            self.dead = f"the notebooks did not finish running: {exc}"
            return runs

    def call(self, notebook: str, name: str, args, kwargs, timeout: float, weights: bool = True):
        if self.dead:
            raise SandboxGone(self.dead)
        number = next(self.ids)
        blobs, inputs = wire.Blobs(), []

        def enc(value):
            data = codec.encode(value, blobs)
            inputs.append(value if data["t"] == "spec" else None)
            return data

        request = {
            "id": number,
            "notebook": notebook,
            "name": name,
            "timeout": timeout,
            "args": [enc(a) for a in args],
            "kwargs": {k: enc(v) for k, v in kwargs.items()},
            "weights": weights,
        }
        reply, reply_blobs = self.send(request, blobs, timeout)
        return reply, reply_blobs, [v for v in inputs if v is not None], list(args) + list(kwargs.values())

    def send(self, request: dict, blobs, timeout: float):
        """Send one call and wait for its reply (at most the call's time limit and a grace period)."""
        try:
            wire.send(self.requests, "call", request, blobs)
            while True:
                frame = self.reader.read(timeout + CALL_GRACE)
                if frame.kind != "reply":
                    raise wire.WireError(f"a {frame.kind!r} message instead of a reply")
                reply = records.parse(records.Reply, frame.body)
                if reply.id == request["id"]:
                    return reply, frame.blobs
        except (SandboxGone, wire.WireError, records.RecordError, OSError) as exc:
            self.dead = f"the sandbox stopped answering: {exc}"
            raise SandboxGone(self.dead) from None


def _exception(name: str, message: str) -> BaseException:
    """An exception of the kind the sandbox reported (a builtin one by name, else a new class with that name)."""
    from resnet_course.harness import StudentTimeout

    if name == "StudentTimeout":
        return StudentTimeout(message)
    cls = getattr(builtins, str(name), None)
    if not (isinstance(cls, type) and issubclass(cls, Exception)) or name in ("SystemExit", "KeyboardInterrupt"):
        cls = type(str(name)[:60] or "Error", (Exception,), {})
    return cls(message)


class Proxy:
    """Stands for the student's function ``name`` of ``notebook`` in the checks.

    ``architecture``: the same function, whose models come back without their weights (at zero), for a check
    that copies weights of its own into them (``checks.common.architecture_of``).
    """

    def __init__(self, channel: Channel, notebook: str, name: str, timeout: float = 300.0, weights: bool = True):
        self.channel, self.notebook, self.__name__, self.timeout = channel, notebook, name, timeout
        self.__qualname__, self.weights = name, weights

    @property
    def architecture(self) -> "Proxy":
        return Proxy(self.channel, self.notebook, self.__name__, self.timeout, weights=False)

    def __call__(self, *args, **kwargs):
        reply, blobs, inputs, originals = self.channel.call(
            self.notebook, self.__name__, args, kwargs, self.timeout, self.weights
        )
        return self._result(reply, blobs, inputs, originals)

    def _result(self, reply, blobs, inputs, originals):
        if reply.printed:
            print(reply.printed[:100_000], end="")  # what the function printed: feedback on stdout only
        if reply.keras_resnets:
            # Keras's ResNet builder ran in the sandbox during the call: the checks' recordings get it. Trusted
            # only against the student (a sandbox that claims it falsely loses its own points).
            report_keras_resnets([name[:100] for name in reply.keras_resnets[:10]])
        if reply.error is not None:
            message = reply.message[:2000]
            line = reply.line
            if isinstance(line, list) and len(line) == 2 and type(line[0]) is int:  # as call_learner shows it
                first, _, rest = message.partition("\n")
                message = f"{first} (in your code, line {line[0]}: {str(line[1])[:200]})" + (
                    f"\n{rest}" if rest else ""
                )
            raise _exception(reply.error, message)
        try:
            result = codec.decode(reply.result, blobs, inputs, safe=True, architecture=not self.weights)
            models = [o for o in originals if _is_model(o)]
            for original, state in zip(models, reply.states):
                codec.apply_state(original, state, blobs)
            if models and _is_model(result) and reply.shared:
                result = _reuse_layers(result, models, set(reply.shared))
        except codec.Refused as exc:
            raise TypeError(str(exc)) from None
        return result


def _is_model(value) -> bool:
    import keras

    return isinstance(value, keras.Model)


def _layers(model) -> list:
    return codec.model_layers(model)


def _reuse_layers(result, models: list, shared: set):
    """``result`` rebuilt on the judge's own layers where it holds layers of the models passed to the function.

    A function that builds a new model from a model it was given (transfer learning) returns, through the
    sandbox, copies of that model's layers; the checks ask whether the new model holds the given layers
    themselves. Each layer the sandbox reports as one of the given layers (``shared``: names) with the name
    and class of a layer of ``models`` is replaced by that layer (its weights and trainable flag copied onto it
    first), nested models rebuilt the same way. (The sandbox could claim sharing falsely; the model would then
    be graded as built on the given layers with the weights it returned, which is what it computes.)
    """
    import keras

    ours = {}
    for model in models:
        for layer in _layers(model):
            ours.setdefault(layer.name, layer)

    def mapped(op):
        original = ours.get(op.name) if op.name in shared else None
        if original is None or type(original) is not type(op):
            return rebuild(op) if isinstance(op, keras.Model) else op
        if original.weights and len(original.weights) == len(op.weights) and not isinstance(op, keras.Model):
            original.set_weights(op.get_weights())
        original.trainable = op.trainable
        return original

    def rebuild(model):
        if not hasattr(model, "_run_through_graph"):
            return model
        inputs = [keras.Input(tuple(t.shape[1:]), dtype=t.dtype) for t in model.inputs]
        out = model._run_through_graph(inputs if len(inputs) > 1 else inputs[0], operation_fn=mapped)
        new = keras.Model(inputs if len(inputs) > 1 else inputs[0], out, name=model.name)
        new.trainable = model.trainable
        if getattr(model, "compiled", False) and model.get_compile_config():
            new.compile_from_config(model.get_compile_config())
        return new

    return rebuild(result)


def judge(channel: Channel, notebook: str, name: str, timeout: float = 300.0) -> dict:
    """Run every check of exercise ``name``; ``{"passed", "output", "message", "seconds"}`` (output: what the checks
    printed)."""
    start = time.time()
    verdict = _judge(channel, notebook, name, timeout)
    verdict["seconds"] = round(time.time() - start, 1)
    return verdict


def _judge(channel: Channel, notebook: str, name: str, timeout: float) -> dict:
    from resnet_course.harness import CheckFailure, failure

    proxy = Proxy(channel, notebook, name, timeout)
    printed = io.StringIO()
    try:
        with contextlib.redirect_stdout(printed), warnings.catch_warnings():
            warnings.simplefilter("ignore")  # Keras's warnings are not the student's
            for check in checks(name):
                check(proxy)
    except CheckFailure as exc:
        return {"passed": False, "output": printed.getvalue(), "message": str(exc)}
    except SandboxGone as exc:
        message = failure(
            name,
            "your notebook's run ended before this exercise could be checked",
            "a running notebook",
            str(exc),
            "run your notebook from the top (Kernel > Restart & Run All): it must not end the kernel, "
            "loop forever, use more memory than allowed or print without end",
        )
        return {"passed": False, "output": printed.getvalue(), "message": str(message)}
    except Exception as exc:  # noqa: BLE001 - a check that cannot run gives 0 with a message, never a crash
        message = failure(
            name,
            f"the grader could not check this exercise ({type(exc).__name__}: {str(exc)[:300]})",
            hint="show this message to the course staff",
        )
        # The grader's own I/O or memory failing is not the student's doing: reported as a fault (make autograde
        # names it and exits 1, so that the instructor grades that student again).
        fault = isinstance(exc, (OSError, MemoryError))
        return {"passed": False, "output": printed.getvalue(), "message": str(message), "fault": fault}
    return {"passed": True, "output": printed.getvalue(), "message": ""}


def run(plan, requests: int, responses: int) -> records.JudgeResult:
    """Judge one student: the sandbox's notebook runs, then every exercise of ``plan`` (a ``JudgePlan``)."""
    channel = Channel(requests, responses)
    warming = threading.Thread(target=warm_up, daemon=True)
    warming.start()
    runs = channel.runs(plan.wall_seconds + 5, set(plan.notebooks) | {item.notebook for item in plan.exercises})
    warming.join()
    verdicts: dict = {}
    for item in plan.exercises:
        verdict = judge(channel, item.notebook, item.name, plan.call_timeout)
        verdicts.setdefault(item.notebook, {})[item.grade_id] = records.parse(records.Verdict, verdict)
    try:
        wire.send(requests, "quit", {})
    except OSError:
        pass
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    return records.JudgeResult(runs=runs, verdicts=verdicts, ended=channel.dead, peak_memory_bytes=peak)


def main(argv=None) -> int:
    """``python -m resnet_course.grading.judge PLAN_FD REQUEST_FD RESPONSE_FD RESULT_FD`` (started by grade_one,
    unprivileged, in a sandbox of its own): a ``JudgePlan`` frame in, a ``JudgeResult`` frame out."""
    import os
    import sys

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    plan_fd, requests, responses, result_fd = (int(a) for a in (argv or sys.argv[1:]))
    plan = records.parse(records.JudgePlan, wire.Reader(plan_fd).read().body)
    result = run(plan, requests, responses)
    wire.send(result_fd, "result", records.dump(result))
    return 0


if __name__ == "__main__":
    import os as _os

    _os._exit(main())  # TensorFlow's threads must not keep the judge alive
