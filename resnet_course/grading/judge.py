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
import json
import select
import shutil
import time
import warnings
from pathlib import Path

from resnet_course.grading import codec
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
    """The judge's end of the sandbox's request/response pipes."""

    def __init__(self, requests, responses, scratch: Path, inside: str):
        self.requests, self.responses, self.scratch, self.inside = requests, responses, Path(scratch), inside
        self.buffer, self.ids, self.dead = b"", itertools.count(), None

    def read(self, timeout: float) -> dict:
        deadline = time.time() + timeout
        while b"\n" not in self.buffer:
            left = deadline - time.time()
            if left <= 0:
                raise SandboxGone(f"no answer within {timeout:g} s")
            ready, _, _ = select.select([self.responses], [], [], left)
            if ready:
                chunk = (
                    self.responses.read1(1 << 20) if hasattr(self.responses, "read1") else self.responses.read(1 << 20)
                )
                if not chunk:
                    raise SandboxGone("the sandbox closed its channel (it ended or was killed)")
                self.buffer += chunk
                if len(self.buffer) > 16 << 20:
                    raise SandboxGone("the sandbox sent more than 16 MB without a line end")
        line, _, self.buffer = self.buffer.partition(b"\n")
        try:
            message = json.loads(line.decode())
        except ValueError:
            raise SandboxGone("the sandbox sent something that is not a reply") from None
        if not isinstance(message, dict):
            raise SandboxGone("the sandbox sent something that is not a reply")
        return message

    def call(self, notebook: str, name: str, args, kwargs, timeout: float):
        if self.dead:
            raise SandboxGone(self.dead)
        number = next(self.ids)
        folder = self.scratch / "calls" / str(number)
        folder.mkdir(parents=True)
        inputs: list = []
        inside = f"{self.inside}/calls/{number}"

        def enc(value):
            data = codec.encode(value, folder)
            inputs.append(value if data["t"] == "spec" else None)
            return data

        request = {
            "id": number,
            "notebook": notebook,
            "name": name,
            "folder": inside,
            "timeout": timeout,
            "args": [enc(a) for a in args],
            "kwargs": {k: enc(v) for k, v in kwargs.items()},
        }
        _share(folder)
        reply = self.send(request, timeout)
        return reply, folder, [v for v in inputs if v is not None], list(args) + list(kwargs.values())

    def send(self, request: dict, timeout: float) -> dict:
        """Send one request and wait for its reply (at most the call's time limit and a grace period)."""
        try:
            self.requests.write(codec.dumps(request))
            self.requests.flush()
            while True:
                reply = self.read(timeout + CALL_GRACE)
                if reply.get("id") == request["id"]:
                    return reply
        except (SandboxGone, BrokenPipeError, OSError) as exc:
            self.dead = f"the sandbox stopped answering: {exc}"
            raise SandboxGone(self.dead) from None


def _share(folder: Path) -> None:
    import os

    from resnet_course.grading.sandbox import NOBODY

    if os.geteuid() == 0:
        for path in [folder, *folder.rglob("*")]:
            os.chown(path, NOBODY, NOBODY)


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
    """Stands for the student's function ``name`` of ``notebook`` in the checks."""

    def __init__(self, channel: Channel, notebook: str, name: str, timeout: float = 300.0):
        self.channel, self.notebook, self.__name__, self.timeout = channel, notebook, name, timeout
        self.__qualname__ = name

    def __call__(self, *args, **kwargs):
        reply, folder, inputs, originals = self.channel.call(self.notebook, self.__name__, args, kwargs, self.timeout)
        try:
            return self._result(reply, folder, inputs, originals)
        finally:
            shutil.rmtree(folder, ignore_errors=True)

    def _result(self, reply, folder, inputs, originals):
        if isinstance(reply.get("printed"), str) and reply["printed"]:
            print(reply["printed"][:100_000], end="")  # what the function printed: feedback on stdout only
        if isinstance(reply.get("keras_resnets"), list):
            # Keras's ResNet builder ran in the sandbox during the call: the checks' recordings get it. Trusted
            # only against the student (a sandbox that claims it falsely loses its own points).
            report_keras_resnets([str(name)[:100] for name in reply["keras_resnets"][:10]])
        if "error" in reply:
            message = str(reply.get("message", ""))[:2000]
            line = reply.get("line")
            if isinstance(line, list) and len(line) == 2:  # the learner's line, as call_learner shows it
                first, _, rest = message.partition("\n")
                message = f"{first} (in your code, line {int(line[0])}: {str(line[1])[:200]})" + (
                    f"\n{rest}" if rest else ""
                )
            raise _exception(reply.get("error"), message)
        try:
            result = codec.decode(reply.get("result"), folder, inputs, safe=True)
            models = [o for o in originals if _is_model(o)]
            for original, state in zip(models, reply.get("states") or []):
                codec.apply_state(original, state, folder)
            shared = reply.get("shared") if isinstance(reply.get("shared"), list) else []
            if models and _is_model(result) and shared:
                result = _reuse_layers(result, models, {str(name) for name in shared})
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
        return {"passed": False, "output": printed.getvalue(), "message": str(message)}
    return {"passed": True, "output": printed.getvalue(), "message": ""}
