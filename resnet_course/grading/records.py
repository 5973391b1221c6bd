"""Every record that crosses a process boundary while grading, and the one parser that validates them.

host (tools.grade) -> grade_one: ``Assignment`` lists and command-line flags; grade_one -> sandbox (server):
``Job``; judge -> sandbox: ``Call``; sandbox -> judge: ``NotebookRun``, ``Ready``, ``Reply``; judge ->
grade_one: ``JudgeResult`` (``Verdict`` per graded cell); grade_one -> nbgrader import (``host``) and the
class summary: ``StudentResults``. ``parse(Record, data)`` checks every field's type (recursively, lists and
dicts included) and every string's length, and raises ``RecordError``; no other code reads these dicts.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from dataclasses import dataclass, field

MAX_TEXT = 4 << 20  # any one string


class RecordError(ValueError):
    """Data that is not the record it claims to be."""


def _check(hint, value, where: str):
    origin = typing.get_origin(hint)
    if hint is typing.Any:
        return value
    if origin in (typing.Union, types.UnionType):
        errors = []
        for option in typing.get_args(hint):
            try:
                return _check(option, value, where)
            except RecordError as exc:
                errors.append(str(exc))
        raise RecordError(f"{where}: {errors[-1]}")
    if hint is type(None):
        if value is not None:
            raise RecordError(f"{where}: expected null, got {type(value).__name__}")
        return None
    if hint is float:
        if type(value) not in (int, float):
            raise RecordError(f"{where}: expected a number, got {type(value).__name__}")
        return float(value)
    if hint in (int, bool, str):
        if type(value) is not hint:
            raise RecordError(f"{where}: expected {hint.__name__}, got {type(value).__name__}")
        if hint is str and len(value) > MAX_TEXT:
            raise RecordError(f"{where}: a string of {len(value)} characters")
        return value
    if origin is list:
        (item,) = typing.get_args(hint)
        if type(value) is not list:
            raise RecordError(f"{where}: expected a list, got {type(value).__name__}")
        return [_check(item, v, f"{where}[{i}]") for i, v in enumerate(value)]
    if origin is dict:
        key, item = typing.get_args(hint)
        if type(value) is not dict or not all(type(k) is str for k in value):
            raise RecordError(f"{where}: expected an object with string keys")
        return {k: _check(item, v, f"{where}.{k}") for k, v in value.items()}
    if dataclasses.is_dataclass(hint):
        return parse(hint, value, where)
    raise TypeError(f"records: no rule for {hint!r}")  # a bug in this module, not bad data


def parse(cls, data, where: str | None = None):
    """``data`` (decoded JSON) as a ``cls`` record, every field checked; ``RecordError`` otherwise."""
    where = where or cls.__name__
    if type(data) is not dict:
        raise RecordError(f"{where}: expected an object, got {type(data).__name__}")
    hints = typing.get_type_hints(cls)
    values = {}
    for f in dataclasses.fields(cls):
        if f.name in data:
            values[f.name] = _check(hints[f.name], data[f.name], f"{where}.{f.name}")
        elif f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
            raise RecordError(f"{where}: missing {f.name!r}")
    return cls(**values)


def dump(record) -> dict:
    return dataclasses.asdict(record)


# --------------------------------------------------------------------------- grade_one -> sandbox
@dataclass(frozen=True)
class CellJob:
    index: int
    id: str | None
    source: str
    graded: bool
    exercise: str | None
    timeout: float
    experiment: bool
    free_check: bool = False  # an unchanged free check cell: the judge runs its check, the sandbox does not


@dataclass(frozen=True)
class NotebookJob:
    file: str  # <assignment>/<notebook>.ipynb
    text: str  # the submitted notebook (written into the sandbox's own scratch tmpfs)
    cells: list[CellJob]
    exercises: list[str]


@dataclass(frozen=True)
class Job:
    notebooks: list[NotebookJob]
    output_cap: int = 100_000
    run_experiments: bool = False


# --------------------------------------------------------------------------- sandbox -> judge (-> grade_one)
@dataclass(frozen=True)
class CellRun:
    index: int
    id: str | None
    outputs: list[dict[str, typing.Any]]  # untrusted: shown only, reduced to safe kinds by the nbgrader import
    seconds: float = 0.0


@dataclass(frozen=True)
class NotebookRun:
    file: str
    cells: list[CellRun]
    seconds: float = 0.0


@dataclass(frozen=True)
class Ready:
    notebooks: int


# --------------------------------------------------------------------------- judge <-> sandbox
@dataclass(frozen=True)
class Call:
    id: int
    notebook: str
    name: str
    timeout: float
    args: list[dict[str, typing.Any]]  # codec data (validated by codec.decode)
    kwargs: dict[str, dict[str, typing.Any]]
    weights: bool = True  # False: a model the function returns goes back as its architecture only


@dataclass(frozen=True)
class Reply:
    id: int
    result: dict[str, typing.Any] | None = None
    states: list[dict[str, typing.Any]] = field(default_factory=list)
    shared: list[str] = field(default_factory=list)
    keras_resnets: list[str] = field(default_factory=list)  # Keras's ResNet builder ran in the call (untrusted)
    printed: str = ""
    error: str | None = None
    message: str = ""
    line: list[int | str] | None = None


# --------------------------------------------------------------------------- judge -> grade_one
@dataclass(frozen=True)
class Verdict:
    passed: bool
    output: str
    message: str
    seconds: float = 0.0
    fault: bool = False  # the grader failed (not the student): make autograde reports it and exits 1


@dataclass(frozen=True)
class Exercise:
    notebook: str  # <assignment>/<notebook>.ipynb
    grade_id: str
    name: str


@dataclass(frozen=True)
class JudgePlan:
    exercises: list[Exercise]
    call_timeout: float
    wall_seconds: float
    notebooks: list[str] = field(default_factory=list)  # the job's notebooks, whose runs the judge accepts


@dataclass(frozen=True)
class JudgeResult:
    runs: list[NotebookRun]
    verdicts: dict[str, dict[str, Verdict]]  # notebook -> grade_id -> verdict
    ended: str | None  # why the sandbox stopped answering, when it did
    peak_memory_bytes: int = 0


# --------------------------------------------------------------------------- grade_one -> host
@dataclass(frozen=True)
class NotebookResult:
    cells: list[CellRun] = field(default_factory=list)
    verdicts: dict[str, Verdict] = field(default_factory=dict)
    error: str | None = None


@dataclass(frozen=True)
class StudentResults:
    student: str
    sandboxed: bool
    notebooks: dict[str, NotebookResult]
    sandbox: dict[str, typing.Any]
    seconds: float
    judge_peak_memory_bytes: int = 0
    faults: list[str] = field(default_factory=list)  # grader faults (not the student's): autograde fails on them
