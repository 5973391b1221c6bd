"""Helpers for ``public_tests.py``: messages, safe calls, fixtures and graph inspection.

Every failure a learner sees is an ``AssertionError`` whose message has one
format (see ``failure``): what was checked, expected vs got, and a hint. In
Jupyter the failure is shown without any traceback (``CheckFailure``); frames of
this module and of ``public_tests`` set ``__tracebackhide__`` so that pytest
hides them too.

The hidden part of every graded cell runs through ``hidden_test``: it refuses a
notebook that replaced the grader's tools (``tampering``) and reloads the test
modules from disk before re-checking on a fresh configuration.
"""

from __future__ import annotations

import contextlib
import importlib
import math
import signal
import sys
import threading
import traceback
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from resnets_utils import producer

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "core_exercises.npz"
RESIDUAL_FIXTURES = FIXTURES.with_name("residual_learning.npz")    # the residual-learning notebook
BN_EPSILON = 1.001e-5     # what keras.applications.ResNet50 uses
GRADER_PACKAGE = Path(__file__).resolve().parent / "resnet_course" / "grading"


class StudentTimeout(Exception):
    """Raised inside a learner's function that runs longer than its time limit."""


# --------------------------------------------------------------------------- messages
class CheckFailure(AssertionError):
    """A failed check. Jupyter shows only its message: IPython calls ``_render_traceback_``
    instead of printing the traceback, which would end in our test code."""

    def _render_traceback_(self) -> list[str]:
        return [f"AssertionError: {self}"]


def failure(exercise: str, check: str, expected=None, got=None, hint: str | None = None) -> CheckFailure:
    """Build the one failure format used by every test."""
    lines = [f"{exercise}: {check}"]
    if expected is not None or got is not None:
        lines.append(f"    expected: {expected}")
        lines.append(f"    got:      {got}")
    if hint:
        lines.append(f"    hint:     {hint}")
    return CheckFailure("\n".join(lines))


def expect(condition: bool, exercise: str, check: str, expected=None, got=None, hint=None) -> None:
    """Raise ``failure(...)`` unless ``condition`` holds."""
    __tracebackhide__ = True
    if not condition:
        raise failure(exercise, check, expected, got, hint)


def passed(exercise: str, what: str) -> None:
    print(f"[PASS] {exercise}: all checks passed ({what}).")


def short(values, n: int = 4, fmt: str = ".4f") -> str:
    """A few numbers of an array, for messages (``fmt=".2e"`` for numbers of very different sizes)."""
    flat = np.asarray(values, dtype=np.float64).ravel()
    text = ", ".join(f"{v:{fmt}}" for v in flat[:n])
    return f"[{text}{', ...' if flat.size > n else ''}]"


@contextmanager
def guarded(exercise: str):
    """Run a test: its failures keep their message, an unexpected error inside the test's own
    analysis becomes a readable failure, and nothing reaches stderr.

    nbgrader gives a graded cell 0 points as soon as it writes to stderr, so a learner's
    ``print(..., file=sys.stderr)`` or warning inside their function, or a library warning,
    is shown on stdout instead of costing points.
    """
    __tracebackhide__ = True
    try:
        with contextlib.redirect_stderr(sys.stdout):
            yield
    except CheckFailure:
        raise
    except Exception as exc:  # noqa: BLE001 - never show the learner our traceback
        raise failure(exercise, f"the test could not analyse what your function built "
                                f"({type(exc).__name__}: {str(exc).strip()[:200]})",
                      hint="build it from Keras layers with the functional API, as the instructions describe; "
                           "if it still fails, show this message to the course staff") from None


# --------------------------------------------------------------------------- calling learner code
@contextmanager
def time_limit(seconds: float):
    """Raise ``StudentTimeout`` in the main thread after ``seconds`` (Unix; no limit elsewhere)."""
    usable = hasattr(signal, "SIGALRM") and threading.current_thread() is threading.main_thread()
    if not usable:
        yield
        return

    def _alarm(signum, frame):
        raise StudentTimeout(f"no result after {seconds:g} s")

    previous = signal.signal(signal.SIGALRM, _alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def _learner_line(exc: BaseException) -> str:
    """The deepest traceback line that is not in our modules nor in a library."""
    ours = {Path(__file__).resolve(), Path(__file__).resolve().with_name("public_tests.py")}
    best = None
    for frame in traceback.extract_tb(exc.__traceback__):
        path = Path(frame.filename)
        if path.resolve() in ours or "site-packages" in frame.filename or "/lib/python" in frame.filename \
                or GRADER_PACKAGE in path.resolve().parents:          # the judge's proxy (resnet_course/grading)
            continue
        best = frame
    if best is None:
        return ""
    code = f": {best.line.strip()}" if best.line else ""
    return f" (in your code, line {best.lineno}{code})"


def call_learner(exercise: str, target, *args, timeout: float = 120.0, **kwargs):
    """Call the learner's function and turn every way it can go wrong into a readable failure."""
    __tracebackhide__ = True
    if not callable(target):
        raise failure(exercise, f"the test needs the function `{exercise}` itself",
                      "a function", f"{type(target).__name__}",
                      f"pass the function without calling it: {exercise}_test({exercise})")
    try:
        with time_limit(timeout):
            return target(*args, **kwargs)
    except NotImplementedError:
        raise failure(exercise, "the function is not implemented yet (it raised NotImplementedError)",
                      "your implementation", "raise NotImplementedError()",
                      "replace `raise NotImplementedError()` with your code, then run its cell again") from None
    except StudentTimeout:
        raise failure(exercise, f"the function did not return within {timeout:g} seconds",
                      f"a result within {timeout:g} s", "still running when the test stopped it",
                      "look for a loop that never ends, or training inside a function that should only build layers") from None
    except AssertionError as exc:
        raise failure(exercise, f"your code raised AssertionError: {exc}{_learner_line(exc)}",
                      "a result", "an assert in your code failed",
                      "the values your assert checks are not what you assumed; print them, or remove the assert") from None
    except Exception as exc:  # noqa: BLE001 - any learner error becomes a message
        text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        hint = "the error message names the layer or operation that failed"
        low = str(exc).lower()
        if "incompatible shapes" in low or "must have the same shape" in low:
            hint = ("the two inputs of the Add have different shapes: check padding='same' on the f x f conv, "
                    "the strides of the main path and of the shortcut, and that both end with F3 channels")
        elif "'nonetype'" in low:
            hint = ("a value is None where a number or array was expected: does every function (a recursive call "
                    "too) end with `return`?")
        elif "matmul" in low or "not aligned" in low or "could not be broadcast" in low:
            hint = ("the array shapes do not fit: with one example per row, X has shape (m, d) and is multiplied "
                    "on the left (X @ W1 with W1 of shape (d, h)); print the shapes to find the culprit")
        raise failure(exercise, f"calling {exercise}{_call_repr(args, kwargs)} raised "
                      f"{type(exc).__name__}: {text}{_learner_line(exc)}", "a result", type(exc).__name__,
                      hint) from None


def _call_repr(args, kwargs) -> str:
    parts = [_arg_repr(a) for a in args] + [f"{k}={_arg_repr(v)}" for k, v in kwargs.items()]
    return "(" + ", ".join(parts) + ")"


def _arg_repr(value) -> str:
    shape = getattr(value, "shape", None)
    if isinstance(value, np.ndarray):
        return f"<array of shape {value.shape}>"
    if shape is not None and not isinstance(value, tuple):
        return f"<tensor of shape {tuple(shape)}>"
    if isinstance(value, type) or callable(value):
        return getattr(value, "__name__", type(value).__name__)
    return repr(value)


def describe(value) -> str:
    """A short description of what a learner's function returned."""
    if value is None:
        return "None"
    shape = getattr(value, "shape", None)
    name = f"{type(value).__module__.split('.')[0]}.{type(value).__name__}"
    return f"{name} of shape {tuple(shape)}" if shape is not None else name


# --------------------------------------------------------------------------- initializer
def _keras():
    import keras

    return keras


def deterministic_initializer():
    """Return the class of a Keras initializer whose values depend only on the weight's shape.

    It accepts (and ignores) ``seed`` so it can be used exactly like
    ``keras.initializers.GlorotUniform``: either ``initializer(seed=0)`` or the
    class itself. Two layers of the same shape get the same weights, which makes
    expected outputs independent of the order in which layers are created.
    """
    keras = _keras()

    class ShapeSeededInitializer(keras.initializers.Initializer):
        def __init__(self, seed=None, **kwargs):
            self.seed = seed

        def __call__(self, shape, dtype=None, **kwargs):
            shape = tuple(int(s) for s in shape)
            n = int(np.prod(shape))
            fan_in = int(np.prod(shape[:-1])) if len(shape) > 1 else n
            phase = 0.7 * len(shape) + 0.013 * sum(shape)
            values = np.sin(0.61 * np.arange(n) + phase) + 0.25 * np.cos(1.37 * np.arange(n))
            values = values * math.sqrt(4.0 / max(fan_in, 1))
            return keras.ops.convert_to_tensor(values.reshape(shape), dtype=dtype or "float32")

        def get_config(self):
            return {"seed": self.seed}

    return ShapeSeededInitializer


# --------------------------------------------------------------------------- fixtures
def fresh_seed(seed: int | None = None) -> int:
    """``seed`` itself, or a new seed from the operating system's entropy when it is ``None``.

    The hidden tests draw their configuration from it, so each grading run checks a
    configuration the learner has not seen; a fixed ``seed`` reproduces one run.
    The bound 2**31 keeps it valid for every seeding API (NumPy, Keras, TensorFlow).
    """
    return int(np.random.SeedSequence().entropy % 2**31) if seed is None else int(seed)


def load_fixtures(path: Path | None = None, exercise: str = "course set-up") -> dict:
    """Load the expected values (made by ``python -m tools.make_fixtures``)."""
    __tracebackhide__ = True
    path = path or FIXTURES
    if not path.is_file():
        raise failure(exercise, "the file of expected values the tests compare with", str(path), "no such file",
                      "restore it with `git checkout -- fixtures/` or rebuild it with `python -m tools.make_fixtures`")
    with np.load(path, allow_pickle=False) as data:
        return {k: data[k] for k in data.files}


# --------------------------------------------------------------------------- graph inspection
def kind(op) -> str:
    """Normalise an operation to a short kind: conv, bn, relu, add, pad, maxpool, gap, dense, ..."""
    keras = _keras()
    L = keras.layers
    if isinstance(op, L.ReLU):
        plain = (op.max_value is None and not float(op.negative_slope) and not float(op.threshold))
        return "relu" if plain else "relu-variant"
    if isinstance(op, L.Activation):
        name = getattr(op.activation, "__name__", str(op.activation))
        return {"relu": "relu", "softmax": "softmax", "linear": "identity"}.get(name, f"activation:{name}")
    layer_kinds = [(L.Conv2D, "conv"), (L.BatchNormalization, "bn"), (L.Add, "add"), (L.Softmax, "softmax"),
                   (L.ZeroPadding2D, "pad"), (L.MaxPooling2D, "maxpool"), (L.AveragePooling2D, "avgpool"),
                   (L.GlobalAveragePooling2D, "gap"), (L.GlobalMaxPooling2D, "gmp"), (L.Flatten, "flatten"),
                   (L.Dense, "dense")]
    for cls, name in layer_kinds:
        if isinstance(op, cls):
            return name
    # Operations made by `x + y`, keras.ops.add, keras.ops.relu, keras.ops.softmax.
    return {"Add": "add", "Relu": "relu", "Softmax": "softmax"}.get(type(op).__name__, type(op).__name__)


KIND_NAMES = {"conv": "Conv2D", "bn": "BatchNormalization", "relu": "ReLU", "add": "Add", "pad": "ZeroPadding2D",
              "maxpool": "MaxPooling2D", "avgpool": "AveragePooling2D", "gap": "GlobalAveragePooling2D",
              "gmp": "GlobalMaxPooling2D", "flatten": "Flatten", "dense": "Dense", "softmax": "Softmax"}


def chain_text(kinds) -> str:
    """A chain of kinds as Keras names: 'Conv2D -> BatchNormalization -> ReLU'."""
    return " -> ".join(KIND_NAMES.get(k, k) for k in kinds) or "(no layers)"


def fused_activation(op) -> str | None:
    """The activation fused into a Conv2D/Dense (``activation=...``), or ``None`` if linear."""
    fn = getattr(op, "activation", None)
    name = getattr(fn, "__name__", None)
    return None if name in (None, "linear") else name


def chain_back(tensor, stop):
    """Follow single-input operations back from ``tensor`` until the tensor ``stop``.

    Returns ``(ops, reached)``: the operations in forward order and whether
    ``stop`` was reached through single-input operations only.
    """
    ops = []
    while tensor is not stop:
        prod = producer(tensor)
        if prod is None:
            return list(reversed(ops)), False
        op, node = prod
        ops.append(op)
        if len(node.input_tensors) != 1:
            return list(reversed(ops)), False
        tensor = node.input_tensors[0]
    return list(reversed(ops)), True


def kinds_with_fused(ops) -> list[str]:
    """Kinds of a chain, with a fused activation (``Conv2D(activation='relu')``) shown as its own step."""
    out = []
    for op in ops:
        out.append(kind(op))
        act = fused_activation(op) if kind(op) in ("conv", "dense") else None
        if act:
            out.append(f"{act} (fused into the {type(op).__name__})")
    return out


# --------------------------------------------------------------------------- the grader's tools
# What a notebook must not replace: the library functions and classes the tests compute with.
# Their state when this module is first imported (the setup cell, before any learner code) is
# kept; a reload (see hidden_test) keeps the first snapshot.
LIBRARY_NAMESPACES = ("numpy", "numpy.random", "numpy.testing", "numpy.linalg",
                      "keras", "keras.ops", "keras.layers", "keras.models", "keras.applications", "keras.initializers")
COURSE_MODULES = ("resnets_utils", "test_utils", "public_tests")     # reloaded in this order by hidden_test


def _callables(module) -> dict:
    return {name: value for name, value in vars(module).items() if callable(value) and not name.startswith("__")}


def _snapshot(snapshot: dict) -> dict:
    """Add the namespaces imported since the last call to ``snapshot`` (first state wins)."""
    for name in LIBRARY_NAMESPACES:
        if name not in snapshot and name in sys.modules:
            snapshot[name] = _callables(sys.modules[name])
    return snapshot


_LIBRARY_SNAPSHOT = _snapshot(globals().get("_LIBRARY_SNAPSHOT", {}))


def _defined_in_notebook(value) -> bool:
    """Whether a function or class was written in the notebook (or an interactive session)."""
    return getattr(value, "__module__", None) == "__main__"


def tampering(namespace: dict | None = None) -> list[str]:
    """What code in the notebook replaced among the grader's tools, as short descriptions.

    Checked: the callables of numpy and Keras that the tests use (``LIBRARY_NAMESPACES``),
    against their state when this module was first imported, and for functions written in
    the notebook; the functions of the course's own modules; and, when ``namespace`` (the
    notebook's globals) is given, the test functions' names in it. A deliberate attack on
    Python itself (the import system, builtins, Keras's classes) is out of reach of any
    check that runs in the learner's own kernel; the instructor sees such code in the
    submission.
    """
    problems = []
    for module_name, before in _snapshot(_LIBRARY_SNAPSHOT).items():
        module = sys.modules.get(module_name)
        if module is None:
            continue
        now = vars(module)
        for name, value in before.items():
            if name in now and now[name] is not value:
                problems.append(f"{module_name}.{name} was replaced")
        problems += [f"{module_name}.{name} is a function written in the notebook" for name, value in now.items()
                     if name not in before and _defined_in_notebook(value)]
    for module_name in COURSE_MODULES:
        module = sys.modules.get(module_name)
        if module is not None:
            problems += [f"{module_name}.{name} was replaced by a function written in the notebook"
                         for name, value in vars(module).items() if _defined_in_notebook(value)]
    if namespace is not None:
        tests = sys.modules.get("public_tests")
        names = set(getattr(tests, "__all__", ())) | {"hidden_test"}
        problems += [f"`{name}` was redefined in the notebook" for name in sorted(names)
                     if callable(namespace.get(name)) and _defined_in_notebook(namespace[name])]
    return problems


def expect_untampered(exercise: str, namespace: dict | None = None) -> None:
    """Fail when the notebook replaced any of the grader's tools (see ``tampering``)."""
    __tracebackhide__ = True
    problems = tampering(namespace)
    if problems:
        raise failure(exercise, "the tests need numpy, Keras and the course's test functions as installed",
                      "nothing redefined or monkeypatched", "; ".join(problems[:4]) + (" ..." if len(problems) > 4 else ""),
                      "remove the lines that replace these functions, restart the kernel and run all cells again")


def hidden_test(exercise: str, target) -> None:
    """Run ``public_tests.<exercise>_hidden_test(target)`` with test code that the notebook cannot have changed.

    The hidden part of a graded cell calls this as
    ``importlib.reload(importlib.import_module("test_utils")).hidden_test("<exercise>", <exercise>)``:
    the reload restores this module from disk, then this function refuses a notebook that
    replaced the grader's tools (numpy, Keras, the test functions) and reloads the course's
    modules, so nothing the notebook assigned to them is used, before the fresh-configuration
    re-check.
    """
    __tracebackhide__ = True
    with guarded(exercise):
        expect_untampered(exercise, sys._getframe(1).f_globals)
        for name in COURSE_MODULES:
            importlib.reload(importlib.import_module(name))
    getattr(sys.modules["public_tests"], f"{exercise}_hidden_test")(target)


# --------------------------------------------------------------------------- free check cells
@contextmanager
def free_check(exercise: str):
    """The body of a free check cell: an error there is shown as a graded cell shows it, and the cell ends normally.

    ``with free_check("identity_block"):`` around the cell's code. When the learner's function (or the check)
    raises, the cell prints the graded cells' message (the check, the exception and the learner's own line, none
    of the course's frames) in red on stdout and returns, so Run All goes on to the graded cell, which gives the
    same diagnosis with its points.
    """
    __tracebackhide__ = True
    try:
        yield
    except CheckFailure as exc:
        message = exc
    except NotImplementedError:
        message = failure(exercise, "the function is not implemented yet (it raised NotImplementedError)",
                          "your implementation", "raise NotImplementedError()",
                          "replace `raise NotImplementedError()` with your code, then run its cell again")
    except Exception as exc:  # noqa: BLE001 - any learner error becomes a message
        text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        message = failure(exercise, f"this check raised {type(exc).__name__}: {text}{_learner_line(exc)}",
                          "a result", type(exc).__name__,
                          "fix the line named above, run the function's cell again, then this cell")
    else:
        return
    print(f"\x1b[31mAssertionError: {message}\x1b[0m")
    print("The check stopped here; the graded cell below fails with the same message until this is fixed.")
