"""resnet_course/grading/inert.py: a hostile notebook exports to HTML with nothing that runs; a benign one unchanged.

The exports are nbconvert's HTMLExporter with the lab template and with nbgrader's feedback template (what
``nbgrader generate_feedback`` renders; formgrader's template is its sibling), without the course's
nbgrader_config.py, so only ``make_inert`` is tested here. tests/test_hostile_pages.py opens the real pages.
"""

from __future__ import annotations

import base64
import copy
import html.parser
import os
import re

import nbformat
import pytest
from nbconvert import HTMLExporter
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output, new_raw_cell

from resnet_course.catalogue.hostile import (
    HOSTILE_JS,
    HOSTILE_MARKDOWN,
    HOSTILE_MARKER,
    HOSTILE_PAGES,
    HOSTILE_SVG,
    HOSTILE_TAG,
)
from resnet_course.grading.inert import is_inert, make_inert, render
from tools.notebooks import RELEASE

PNG = base64.b64encode(
    bytes.fromhex(
        "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
        "1f15c4890000000d49444154789c6360000002000154a24f5d0000000049454e44ae426082"
    )
).decode()
BENIGN = (
    "# A heading\n\nSome *emphasis*, **bold**, `x < y and y > z` and a [link](https://example.org).\n\n"
    "- one\n- two\n  1. nested\n\n```python\nif a < b and b > c:\n    print('<b>not bold</b>')\n```\n\n"
    "Inline maths $a<b$, $x > y$ and a display\n\n$$\\sum_{i<n} x_i > 0$$\n\n"
    "| left | right |\n|:-----|------:|\n| 1 < 2 | a & b |\n\n> a quotation\n\n![a figure](attachment:figure.png)\n"
)
FORMGRADER = os.path.join(os.path.dirname(__import__("nbgrader").__file__), "server_extensions", "formgrader")
FEEDBACK = {  # as nbgrader's GenerateFeedback configures its HTMLExporter
    "template_name": "feedback",
    "extra_template_basedirs": [os.path.join(FORMGRADER, "templates")],
    "extra_template_paths": [os.path.join(FORMGRADER, "static", "node_modules", "bootstrap", "dist", "css")],
}


RESOURCES = {"nbgrader": {"notebook": "x", "score": 0, "max_score": 0, "late_penalty": 0}}  # from GetGrades


def benign_notebook():
    nb = new_notebook(metadata={"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}})
    cell = new_markdown_cell(BENIGN)
    cell.attachments = {"figure.png": {"image/png": PNG}}
    code = new_code_cell("print(1 < 2)", outputs=[new_output("stream", name="stdout", text="True\n")])
    nb.cells = [cell, code, new_markdown_cell("Plain text & an ampersand, <b>bold</b> and <sup>2</sup>.")]
    return nb


def hostile_notebook(invalid=True):
    nb = benign_notebook()
    cells = [new_markdown_cell(f"{HOSTILE_MARKER} {n}\n\n{p}") for n, p in enumerate(HOSTILE_MARKDOWN)]
    raw = new_raw_cell(f"<script>{HOSTILE_JS}</script>", metadata={"raw_mimetype": "text/html"})
    svg = new_markdown_cell("![figure](attachment:figure.svg)")
    svg.attachments = {"figure.svg": {"image/svg+xml": HOSTILE_SVG}, "x.gif": {"image/gif": PNG}}
    tagged = new_markdown_cell("tagged", metadata={"tags": [HOSTILE_TAG, "ok-tag"], "jupyter": {"x": 1}})
    if invalid:  # (nbconvert refuses to render these two: not in the unsanitised control)
        tagged.id = 'x" onmouseover="alert(1)'
    code = new_code_cell("raise ValueError('<script>')", execution_count=1)
    code.outputs = [
        new_output("stream", name="stdout", text=f'<img src=x onerror="{HOSTILE_JS}">'),
        new_output("error", ename="ValueError", evalue="<script>alert(1)</script>", traceback=["<svg onload=x>"]),
        new_output("display_data", data={"text/html": f"<script>{HOSTILE_JS}</script>", "text/plain": "<b>"}),
        new_output("display_data", data={"application/javascript": HOSTILE_JS}),
        new_output(
            "display_data",
            data={"image/png": '"><script>alert(1)</script>'},
            metadata={"image/png": {"width": '1 onerror="alert(1)"'}},
        ),
        new_output("display_data", data={"image/png": PNG}, metadata={"image/png": {"width": '1 onload="alert(1)"'}}),
    ]
    if invalid:
        code.execution_count = "<script>alert(1)</script>"
    nb.cells += [*cells, raw, svg, tagged, code]
    nb.metadata["widgets"] = {"application/vnd.jupyter.widget-state+json": {"state": {}, "version_major": 2}}
    nb.metadata["title"] = "</title><script>alert(1)</script>"
    return nb


def export(nb, template="lab"):
    if template == "lab":
        exporter = HTMLExporter(template_name="lab")
    else:
        exporter = HTMLExporter(**FEEDBACK)
    nb = copy.deepcopy(nb)
    for cell in nb.cells:  # what nbgrader's GetGrades adds before the feedback is rendered
        if cell.metadata.get("nbgrader", {}).get("grade"):
            cell.metadata.nbgrader.score = 0
    return exporter.from_notebook_node(nb, resources=copy.deepcopy(RESOURCES))[0]


class Scan(html.parser.HTMLParser):
    """What in a page could run or load: script elements, on* attributes, javascript: URLs, frames, forms."""

    DANGEROUS = {"iframe", "object", "embed", "form", "input", "svg", "math", "base", "frame", "frameset"}

    def __init__(self, page: str):
        super().__init__(convert_charrefs=True)
        self.scripts, self.handlers, self.urls, self.elements = [], [], [], []
        self.feed(page)

    def handle_starttag(self, tag, attrs):
        if tag == "script":
            self.scripts.append(dict(attrs).get("src") or "inline")
        if tag in self.DANGEROUS or (tag == "meta" and "http-equiv" in dict(attrs)):
            self.elements.append(tag)
        for name, value in attrs:
            if name.startswith("on"):
                self.handlers.append((tag, name))
            if re.sub(r"\s", "", value or "").lower().startswith(("javascript:", "data:text", "vbscript:")):
                self.urls.append((tag, name, value))


@pytest.mark.parametrize("template", ["lab", "feedback"])
def test_hostile_notebook_exports_inert(template):
    nb = make_inert(hostile_notebook())
    page, clean_page = export(nb, template), export(benign_notebook(), template)
    scan, clean = Scan(page), Scan(clean_page)
    assert sorted(scan.scripts) == sorted(clean.scripts), "a script element that nbconvert did not write itself"
    assert scan.handlers == clean.handlers == []
    assert scan.urls == [] and scan.elements == []
    assert (
        "widget-state" not in page
        and "html-manager" not in page
        and "celltag_x" not in page
        and 'onmouseover="' not in page
    )
    assert re.search(r"<script[^>]*>[^<]*__pwned", page) is None
    # the student's words are still there, as text
    for n, payload in enumerate(HOSTILE_MARKDOWN):
        assert f"{HOSTILE_MARKER} {n}" in page
    assert "&lt;script&gt;" in page and "click me" in page
    assert "&lt;svg onload=x&gt;" in page  # an error's traceback: escaped by nbconvert's ansi2html, shown as text


def test_unsanitised_export_is_hostile():
    """The positive control: the same notebook without make_inert exports with handlers and scripts."""
    page = export(hostile_notebook(invalid=False))
    scan = Scan(page)
    assert scan.handlers and scan.urls and {"iframe", "form", "svg", "object"} <= set(scan.elements)
    assert "inline" in scan.scripts and "html-manager" in page and re.search(r"<script>[^<]*__pwned", page)


def test_what_is_kept():
    nb = make_inert(hostile_notebook())
    assert set(nb.metadata) == {"kernelspec"}
    by_source = {c.source: c for c in nb.cells}
    tagged = by_source["tagged"]
    assert tagged.metadata == {"tags": ["ok-tag"]} and re.fullmatch(r"[A-Za-z0-9_-]{1,64}", tagged.id)
    assert all(c.cell_type in ("markdown", "code") for c in nb.cells)
    svg = next(c for c in nb.cells if "figure.svg" in c.source)
    assert "attachments" not in svg and svg.source.startswith("*")  # shown as text: its image is gone
    code = nb.cells[-1]
    assert code.execution_count is None
    assert [o.output_type for o in code.outputs] == ["stream", "error", "display_data", "display_data"]
    assert code.outputs[2].data == {"text/plain": "<b>"} and code.outputs[3].data == {"image/png": PNG}
    assert all("metadata" not in o or not o.metadata for o in code.outputs)
    nbformat.validate(nb)


def test_make_inert_is_idempotent():
    once = make_inert(hostile_notebook())
    assert make_inert(copy.deepcopy(once)) == once


def test_benign_markdown_renders_the_same():
    assert is_inert(BENIGN, {"figure.png"})
    nb = benign_notebook()
    assert export(make_inert(copy.deepcopy(nb))) == export(nb)
    assert make_inert(copy.deepcopy(nb)).cells[0].source == BENIGN


@pytest.mark.parametrize("path", sorted(RELEASE.glob("*/*.ipynb")), ids=lambda p: p.parent.name)
def test_release_notebooks_render_the_same(path):
    nb = nbformat.read(str(path), as_version=4)
    assert export(make_inert(copy.deepcopy(nb)), "feedback") == export(nb, "feedback")


def test_every_hostile_payload_is_caught():
    for payload in HOSTILE_MARKDOWN:
        assert not is_inert(payload), payload
    assert not is_inert("![x](attachment:missing.png)") and not is_inert("![x](http://127.0.0.1:1/beacon.png)")
    assert "<script" in render(HOSTILE_MARKDOWN[0])  # what nbconvert alone would put in the page


def test_hostile_pages_entry_is_not_in_the_round_trip():
    from resnet_course.catalogue.adversarial import ADVERSARIES

    assert [a.id for a in HOSTILE_PAGES] == ["markdown_html"]
    assert not {a.id for a in HOSTILE_PAGES} & {a.id for a in ADVERSARIES}


def test_release_supplies_the_notebook_metadata():
    release = benign_notebook()
    release.metadata["language_info"] = {"name": "python", "version": "3.11.7", "pygments_lexer": "ipython3"}
    nb = hostile_notebook()
    nb.metadata["kernelspec"] = {"name": "evil", "display_name": "</title><script>alert(1)</script>"}
    assert make_inert(nb, release).metadata == {k: release.metadata[k] for k in ("kernelspec", "language_info")}
