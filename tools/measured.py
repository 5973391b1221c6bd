"""Measured numbers in learner text, resolved against the committed results files.

A number a run measures may appear in a notebook's markdown only with a marker right after it, an HTML
comment that students do not see::

    about 97 s<!-- results: fast seconds -->
    **98.3 %**<!-- results: full test_accuracy -->

``fast`` or ``full`` names ``docs/results-<mode>.json`` (written by ``tools.run_course``), ``study`` names
``docs/results-study.json`` (the means of ``tools.calibrate_dataset``'s runs that chose notebook 4's recipe); the key is
``seconds`` (the notebook's own run time there) or the name of any metric the notebook reported with
``resnets_utils.report_metric``. ``python -m tools.measured --update`` rewrites stale marked numbers from the
results files (the words around them are the maintainer's to reread). ``python -m tools.measured`` (and
tests/test_prose.py) lists every marked
number that no longer says what its results file says: times (``seconds`` and keys ending in ``_seconds``) must be within a factor of 1.5 ("about"), other
numbers equal to the recorded value at the precision they are written with (a percentage against a fraction).
"""

from __future__ import annotations

import json
import re
import sys
from dataclasses import dataclass
from pathlib import Path

import nbformat

from .notebooks import ROOT, source_notebooks

MARKER = re.compile(
    r"(?P<number>\d[\d,]*(?:\.\d+)?)\s*(?P<unit>%|s|seconds|minutes?)?\**\s*<!--\s*results:\s*(?P<mode>fast|full|study)\s+"
    r"(?P<key>\w+)\s*-->"
)
LOOSE = re.compile(r"<!--\s*results:")
WHOLE = re.compile(r"<!--\s*results:[^>]*-->")
MODES = ("fast", "full", "study")  # docs/results-<mode>.json; study: what tools.calibrate_dataset measured
TIME_FACTOR = 1.5  # a stated time ("about N s") may be this much off its measurement either way


@dataclass(frozen=True)
class Claim:
    notebook: str  # e.g. "06_transfer_learning/transfer_learning.ipynb"
    cell: int
    text: str  # the number as written, with its unit
    mode: str
    key: str
    value: float  # in seconds for times, as a fraction for percentages


def without_markers(text: str) -> str:
    """``text`` without its results markers: what the release gives students (the source notebooks keep them)."""
    return WHOLE.sub("", text)


def claims(path: Path) -> tuple[list[Claim], list[str]]:
    """The marked numbers of a notebook's markdown, and the markers that mark no number."""
    name = f"{path.parent.name}/{path.name}"
    found, broken = [], []
    for i, cell in enumerate(nbformat.read(str(path), as_version=4).cells):
        if cell.cell_type != "markdown":
            continue
        matches = list(MARKER.finditer(cell.source))
        if len(matches) != len(LOOSE.findall(cell.source)):
            broken.append(f"{name} cell {i}: a results marker without a number right before it")
        found += [_claim(name, i, m) for m in matches]
    return found, broken


def _claim(notebook: str, cell: int, m: re.Match) -> Claim:
    """The claim one ``MARKER`` match makes."""
    number, unit = float(m["number"].replace(",", "")), m["unit"] or ""
    value = number * 60 if unit.startswith("minute") else number / 100 if unit == "%" else number
    return Claim(notebook, cell, m.group(0).split("<!--")[0].strip(), m["mode"], m["key"], value)


def _is_time(key: str) -> bool:
    return key == "seconds" or key.endswith("_seconds")


def recorded(mode: str, root: Path = ROOT) -> dict:
    """``{notebook: {"seconds": s, <metric>: value}}`` from ``docs/results-<mode>.json`` ({} without one)."""
    path = root / "docs" / f"results-{mode}.json"
    if not path.is_file():
        return {}
    out = {}
    for entry in json.loads(path.read_text(encoding="utf-8")).get("notebooks", []):
        values = {"seconds": float(entry["seconds"])} if "seconds" in entry else {}
        name, _, value = str(entry.get("key_metric", "")).partition(" = ")
        if value:
            values[name.strip()] = float(value)
        values.update({k: float(v) for k, v in entry.get("metrics", {}).items()})
        out[entry["notebook"]] = values
    return out


def _decimals(text: str) -> int:
    number = re.match(r"[\d,]*(?:\.(\d+))?", text.replace(" ", ""))
    return len(number.group(1) or "") if number else 0


def stale(claim: Claim, results: dict) -> str:
    """What is wrong with ``claim`` against ``results`` (``recorded(claim.mode)``), or ""."""
    where = f"{claim.notebook} cell {claim.cell}: {claim.text!r} ({claim.mode} {claim.key})"
    values = results.get(claim.notebook)
    if values is None:
        return f"{where}: docs/results-{claim.mode}.json has no entry for the notebook"
    if claim.key not in values:
        return f"{where}: docs/results-{claim.mode}.json records {sorted(values)} for the notebook, not {claim.key!r}"
    measured = values[claim.key]
    if _is_time(claim.key):
        if not measured / TIME_FACTOR <= claim.value <= measured * TIME_FACTOR:
            return f"{where}: measured {measured:g} s"
        return ""
    scale = 100 if claim.text.rstrip("*").endswith("%") else 1  # "**98.9 %**": a bold percentage is one too
    decimals = _decimals(claim.text)
    if round(measured * scale, decimals) != round(claim.value * scale, decimals):
        return f"{where}: measured {measured * scale:.{decimals + 2}f}"
    return ""


def problems(paths=None, root: Path = ROOT) -> list[str]:
    """Every stale or broken marker of ``paths`` (the source notebooks by default)."""
    results = {mode: recorded(mode, root) for mode in MODES}
    out = []
    for path in paths or source_notebooks():
        found, broken = claims(path)
        out += broken + [p for p in (stale(c, results[c.mode]) for c in found) if p]
    return out


def _rewritten(m: re.Match, claim: Claim, results: dict) -> str:
    """The marked number of ``m`` (``claim``) as ``results`` records it when ``stale`` says it no longer does, at the
    precision and in the unit it is written with; the marker and what surrounds the number unchanged."""
    values = results.get(claim.notebook, {})
    if claim.key not in values or not stale(claim, results):
        return m.group(0)
    measured, unit, written = values[claim.key], m["unit"] or "", m["number"]
    if _is_time(claim.key):
        number = f"{max(1, round(measured / 60)) if unit.startswith('minute') else round(measured)}"
    else:
        scale, decimals = (100 if unit == "%" else 1), _decimals(written)
        number = f"{measured * scale:,.{decimals}f}" if "," in written else f"{measured * scale:.{decimals}f}"
    start = m.start("number") - m.start()
    return m.group(0)[:start] + number + m.group(0)[start + len(written) :]


def update(paths=None, root: Path = ROOT) -> list[str]:
    """Rewrite every stale marked number of ``paths`` (the source notebooks) from its results file; the notebooks
    changed. The words around a number stay as they are: read each changed cell again before committing."""
    results = {mode: recorded(mode, root) for mode in MODES}
    changed = []
    for path in paths or source_notebooks():
        nb = nbformat.read(str(path), as_version=4)
        name = f"{path.parent.name}/{path.name}"
        touched = False
        for i, cell in enumerate(nb.cells):
            if cell.cell_type != "markdown":
                continue
            new = MARKER.sub(lambda m: _rewritten(m, _claim(name, i, m), results[m["mode"]]), cell.source)
            if new != cell.source:
                cell.source, touched = new, True
                changed.append(f"{name} cell {i}")
        if touched:
            nbformat.write(nb, str(path))
    return changed


def main(argv=None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if args == ["--update"]:
        for where in update():
            print(f"rewrote the marked numbers of {where}: read it again")
    elif args:
        print("usage: python -m tools.measured [--update]")
        return 2
    found = problems()
    for line in found:
        print(line)
    print(f"{len(found)} stale or broken measured numbers" if found else "every marked number matches its results file")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
