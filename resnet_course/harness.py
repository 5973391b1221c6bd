"""What every check is made of: the one failure format, safe calls of learner code, free check cells."""

from __future__ import annotations

import contextlib
import signal
import sys
import threading
import traceback
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from .paths import PACKAGE

FACADES = ("resnets_utils", "test_utils", "public_tests")  # the top-level modules notebooks import


class StudentTimeout(Exception):
    """Raised inside a learner's function that runs longer than its time limit."""


# --------------------------------------------------------------------------- messages
class CheckFailure(AssertionError):
    """A failed check. Jupyter shows only its message: IPython calls ``_render_traceback_``
    instead of printing the traceback, which would end in our test code."""

    def _render_traceback_(self) -> list[str]:
        return [f"{SHOWN_AS}{self}"]


MESSAGE_WIDTH = 88  # columns: a failure reads whole in nbgrader's Validate dialog and in a notebook cell


SHOWN_AS = "AssertionError: "  # what Jupyter (``_render_traceback_``) and nbgrader put before the first line


def _wrapped(first: str, text: str, indent: int, width: int = MESSAGE_WIDTH) -> list[str]:
    """``first`` + ``text`` wrapped at ``MESSAGE_WIDTH``, every further line indented by ``indent`` spaces (a
    notebook would otherwise wrap long lines itself, at column 0)."""
    import textwrap

    lines = []
    for k, paragraph in enumerate(str(text).split("\n")):
        lines += textwrap.wrap(
            paragraph,
            width,
            initial_indent=first if k == 0 else " " * indent,
            subsequent_indent=" " * indent,
            break_long_words=False,
            break_on_hyphens=False,
        ) or [first.rstrip() if k == 0 else ""]
    return lines


def failure(exercise: str, check: str, expected=None, got=None, hint: str | None = None) -> CheckFailure:
    """Build the one failure format used by every test: the check, then ``expected:``, ``got:`` and ``hint:``
    lines, each wrapped under its own value."""
    lines = _wrapped(f"{exercise}: ", check, 4, MESSAGE_WIDTH - len(SHOWN_AS))
    if expected is not None or got is not None:
        lines += _wrapped("    expected: ", expected, 14)
        lines += _wrapped("    got:      ", got, 14)
    if hint:
        lines += _wrapped("    hint:     ", hint, 14)
    return CheckFailure("\n".join(lines))


def unwrapped(message: str) -> str:
    """A failure message with its wrapping undone (one space between words), for matching text in it."""
    return " ".join(str(message).split())


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
        raise failure(
            exercise,
            f"the test could not analyse what your function built ({type(exc).__name__}: {str(exc).strip()[:200]})",
            hint="build it from Keras layers with the functional API, as the instructions describe; "
            "if it still fails, show this message to the course staff",
        ) from None


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


def _ours(path: Path) -> bool:
    """Whether a traceback's file is the course's: this package or a facade beside it."""
    path = path.resolve()
    return PACKAGE in path.parents or (path.parent == PACKAGE.parent and path.stem in FACADES)


def _learner_line(exc: BaseException) -> str:
    """The deepest traceback line that is not in our modules nor in a library."""
    best = None
    for frame in traceback.extract_tb(exc.__traceback__):
        path = Path(frame.filename)
        if _ours(path) or "site-packages" in frame.filename or "/lib/python" in frame.filename:
            continue
        best = frame
    if best is None:
        return ""
    code = f": {best.line.strip()}" if best.line else ""
    return f" (in your code, line {best.lineno}{code})"


# What to look at when the two inputs of a residual Add differ in shape, by exercise (None: the bottleneck blocks).
ADD_SHAPE_HINTS = {
    None: "the two inputs of the Add have different shapes: check padding='same' on the f x f conv, "
    "the strides of the main path and of the shortcut, and that both end with F3 channels",
    "basic_block": "the two inputs of the Add have different shapes: project the shortcut whenever s != 1 or X's "
    "channels differ from filters, put the stride s on the first 3x3 conv and on the shortcut's "
    "1x1 conv, and use padding='same' on both 3x3 convs",
}


def call_learner(exercise: str, target, *args, timeout: float = 120.0, **kwargs):
    """Call the learner's function and turn every way it can go wrong into a readable failure."""
    __tracebackhide__ = True
    if not callable(target):
        raise failure(
            exercise,
            f"the test needs the function `{exercise}` itself",
            "a function",
            f"{type(target).__name__}",
            f"pass the function without calling it: {exercise}_test({exercise})",
        )
    try:
        with time_limit(timeout):
            return target(*args, **kwargs)
    except NotImplementedError:
        raise failure(
            exercise,
            "the function is not implemented yet (it raised NotImplementedError)",
            "your implementation",
            "raise NotImplementedError()",
            "replace `raise NotImplementedError()` with your code, then run its cell again",
        ) from None
    except StudentTimeout:
        raise failure(
            exercise,
            f"the function did not return within {timeout:g} seconds",
            f"a result within {timeout:g} s",
            "still running when the test stopped it",
            "look for a loop that never ends, or training inside a function that should only build layers",
        ) from None
    except AssertionError as exc:
        raise failure(
            exercise,
            f"your code raised AssertionError: {exc}{_learner_line(exc)}",
            "a result",
            "an assert in your code failed",
            "the values your assert checks are not what you assumed; print them, or remove the assert",
        ) from None
    except Exception as exc:  # noqa: BLE001 - any learner error becomes a message
        text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        hint = "the error message names the layer or operation that failed"
        low = str(exc).lower()
        if "incompatible shapes" in low or "must have the same shape" in low:
            hint = ADD_SHAPE_HINTS.get(exercise, ADD_SHAPE_HINTS[None])
        elif "'nonetype'" in low:
            hint = (
                "a value is None where a number or array was expected: does every function (a recursive call "
                "too) end with `return`?"
            )
        elif "matmul" in low or "not aligned" in low or "could not be broadcast" in low:
            hint = (
                "the array shapes do not fit: with one example per row, X has shape (m, d) and is multiplied "
                "on the left (X @ W1 with W1 of shape (d, h)); print the shapes to find the culprit"
            )
        raise failure(
            exercise,
            f"calling {exercise}{_call_repr(args, kwargs)} raised {type(exc).__name__}: {text}{_learner_line(exc)}",
            "a result",
            type(exc).__name__,
            hint,
        ) from None


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
    """A short description of what a learner's function returned: a plain value as itself (``True``, ``3``,
    ``'relu'``), anything else by its type and shape."""
    if value is None or type(value) in (bool, int, float, str) and len(repr(value)) <= 80:
        return repr(value)
    if type(value).__module__ == "numpy" and getattr(value, "shape", None) == ():  # a NumPy scalar
        return f"{value.item()!r} (numpy.{type(value).__name__})"
    shape = getattr(value, "shape", None)
    name = f"{type(value).__module__.split('.')[0]}.{type(value).__name__}"
    return f"{name} of shape {tuple(shape)}" if shape is not None else name


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
        message = failure(
            exercise,
            "the function is not implemented yet (it raised NotImplementedError)",
            "your implementation",
            "raise NotImplementedError()",
            "replace `raise NotImplementedError()` with your code, then run its cell again",
        )
    except Exception as exc:  # noqa: BLE001 - any learner error becomes a message
        text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        message = failure(
            exercise,
            f"this check raised {type(exc).__name__}: {text}{_learner_line(exc)}",
            "a result",
            type(exc).__name__,
            "fix the line named above, run the function's cell again, then this cell",
        )
    else:
        return
    print(f"\x1b[31mAssertionError: {message}\x1b[0m")
    print("The check stopped here; the graded cell below fails with the same message until this is fixed.")
