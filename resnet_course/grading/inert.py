"""Make a notebook inert before anyone opens it: nothing a student wrote can run in the page that shows it.

``make_inert(nb)`` changes a notebook node in place (docs/grading.md, "Everything the instructor or a
student opens is inert"). nbconvert renders markdown cells, raw cells, attachments, outputs, tags and
widget state into the HTML of formgrader and of the feedback, on the Jupyter server's origin; so:

- a markdown cell is rendered with nbconvert's own markdown renderer and the HTML is given to ``nh3``
  (ammonia) with the allow-list below. When the sanitiser would change nothing the source is kept as it
  is (so it renders exactly as before); otherwise the cell becomes a note and the source as a fenced
  code block (text, escaped by every renderer), so the student's words stay readable and nothing of it
  is HTML any more. Raw cells (rendered as HTML when their mimetype says so) always become such text.
- attachments: only ``image/png`` and ``image/jpeg`` with base64 data, under a plain file name (SVG can
  hold scripts); images may only come from the cell's own attachments (no remote or ``data:`` URL, so
  opening a notebook sends no request anywhere).
- outputs: stream, error, display_data and execute_result with ``text/plain`` and base64 ``image/png``
  only, no output metadata (nbconvert writes image width/height into attributes unescaped).
- metadata: the notebook keeps ``kernelspec`` and ``language_info`` (from the release when given); a
  cell keeps ``nbgrader`` (known keys, checked types) and ``tags`` matching ``NAME``; cell ids that do
  not match nbformat's pattern are replaced.

``MakeInert`` is the same as an nbconvert preprocessor: nbgrader_config.py gives it to every
HTMLExporter (formgrader's submission view, ``nbgrader generate_feedback``), so a notebook is made inert
again when it is rendered, whoever wrote it into autograded/.
"""

from __future__ import annotations

import html.parser
import re

import nh3
from nbconvert.filters.markdown_mistune import IPythonRenderer, MarkdownWithMath
from nbconvert.preprocessors import Preprocessor

NAME = re.compile(r"[A-Za-z0-9_-]{1,64}")  # nbformat's cell id pattern; tags and grade ids alike
FILE_NAME = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9_.-]{0,63}")  # an attachment: NAME plus dots ("x.png")
METADATA_VALUE = re.compile(r"[A-Za-z0-9 ._+-]{1,100}")  # kernelspec and language_info strings
BASE64 = re.compile(r"[A-Za-z0-9+/=\s]*")
IMAGE_TYPES = ("image/png", "image/jpeg")
OUTPUT_DATA = ("text/plain", "image/png")

# What nbconvert's markdown renderer produces for ordinary markdown, and nothing that runs or loads:
# no script, style, iframe, object, embed, form, input, svg, math, meta, base or link elements.
TAGS = {
    *("h1", "h2", "h3", "h4", "h5", "h6", "p", "br", "hr", "blockquote", "pre", "code", "div", "span"),
    *("em", "strong", "b", "i", "u", "s", "del", "sub", "sup", "kbd", "mark", "small", "abbr"),
    *("ul", "ol", "li", "dl", "dt", "dd", "table", "thead", "tbody", "tr", "th", "td", "caption"),
    *("a", "img"),
}
ATTRIBUTES = {
    "*": {"class"},
    **{f"h{n}": {"id"} for n in range(1, 7)},  # nbconvert's heading anchors
    "a": {"href", "title"},
    "img": {"src", "alt", "title", "width", "height"},
    "ol": {"start"},
    "th": {"style"},  # table alignment: text-align only (filter_style_properties)
    "td": {"style"},
}
URL_SCHEMES = {"http", "https", "mailto", "attachment"}
NOTE = "*This cell held HTML that may not be shown here; its text follows as the student wrote it.*"
RAW_NOTE = "*A raw cell, shown as text.*"
NBGRADER_FLAGS = ("grade", "solution", "locked", "task")


class _Renderer(IPythonRenderer):
    """nbconvert's renderer, leaving ``attachment:`` URLs as they are (the sanitiser checks them)."""

    def _embed_image_or_attachment(self, src: str) -> str:
        return src


def render(source: str) -> str:
    """A markdown cell's HTML as nbconvert renders it (before attachments become data: URLs)."""
    return MarkdownWithMath(renderer=_Renderer(escape=False)).render(source)


def sanitise(html_text: str, attachments=()) -> str:
    """``html_text`` through nh3 with the allow-list; images only from ``attachments`` (names)."""
    names = set(attachments)

    def keep(tag, attribute, value):
        if tag == "img" and attribute == "src":
            return value if value.startswith("attachment:") and value[len("attachment:") :] in names else None
        if attribute == "href" and value.startswith("attachment:"):
            return None
        return value

    return nh3.clean(
        html_text,
        tags=TAGS,
        clean_content_tags={"script", "style"},
        attributes=ATTRIBUTES,
        attribute_filter=keep,
        url_schemes=URL_SCHEMES,
        filter_style_properties={"text-align"},
        link_rel=None,
        strip_comments=True,
    )


class _Tokens(html.parser.HTMLParser):
    """An HTML fragment as (kind, tag, attributes) and text tokens, to compare two fragments."""

    def __init__(self, text: str):
        super().__init__(convert_charrefs=True)
        self.tokens: list = []
        self.feed(text)
        self.close()

    def handle_starttag(self, tag, attrs):
        style = {k: re.sub(r"\s|;$", "", v or "") for k, v in attrs if k == "style"}
        self.tokens.append(("start", tag, sorted({**dict(attrs), **style}.items(), key=str)))

    def handle_startendtag(self, tag, attrs):
        self.handle_starttag(tag, attrs)
        self.handle_endtag(tag)

    def handle_endtag(self, tag):
        self.tokens.append(("end", tag))

    def handle_data(self, data):
        if self.tokens and self.tokens[-1][0] == "text":
            self.tokens[-1] = ("text", self.tokens[-1][1] + data)
        else:
            self.tokens.append(("text", data))

    def handle_comment(self, data):
        self.tokens.append(("comment", data))

    def unknown_decl(self, data):
        self.tokens.append(("decl", data))

    handle_decl = handle_pi = unknown_decl


def _void_ends(tokens: list) -> list:
    """Tokens without the end tags of void elements (``<br>`` and ``<br/>`` are the same element)."""
    return [t for t in tokens if not (t[0] == "end" and t[1] in ("br", "hr", "img"))]


def is_inert(source: str, attachments=()) -> bool:
    """Whether the sanitiser leaves the markdown's rendering as it is."""
    rendered = render(source)
    return _void_ends(_Tokens(rendered).tokens) == _void_ends(_Tokens(sanitise(rendered, attachments)).tokens)


def as_text(source: str, note: str = NOTE) -> str:
    """Markdown showing ``source`` as text: a note, then a fenced code block no line of it can close."""
    fence = "`" * max([3] + [len(run) + 1 for run in re.findall(r"`+", source)])
    return f"{note}\n\n{fence}text\n{source}\n{fence}"


def _attachments(cell) -> dict:
    kept = {}
    for name, bundle in dict(cell.get("attachments") or {}).items():
        if not isinstance(name, str) or not FILE_NAME.fullmatch(name) or not isinstance(bundle, dict):
            continue
        images = {k: v for k, v in bundle.items() if k in IMAGE_TYPES and isinstance(v, str) and BASE64.fullmatch(v)}
        if images:
            kept[name] = images
    return kept


def _outputs(outputs) -> list:
    from nbformat.v4 import new_output

    kept = []
    for out in outputs if isinstance(outputs, list) else []:
        kind = out.get("output_type") if isinstance(out, dict) else None
        if kind == "stream":
            name = "stderr" if out.get("name") == "stderr" else "stdout"
            kept.append(new_output("stream", name=name, text=str(out.get("text", ""))))
        elif kind == "error":
            trace = [str(t) for t in out.get("traceback") or []] if isinstance(out.get("traceback"), list) else []
            ename, evalue = str(out.get("ename", "Error")), str(out.get("evalue", ""))
            kept.append(new_output("error", ename=ename, evalue=evalue, traceback=trace))
        elif kind in ("display_data", "execute_result"):
            data = dict(out.get("data") or {}) if isinstance(out.get("data"), dict) else {}
            data = {k: str(v) for k, v in data.items() if k in OUTPUT_DATA}
            if not BASE64.fullmatch(data.get("image/png", "")):
                del data["image/png"]
            if data:
                kept.append(new_output("display_data", data=data))
    return kept


def _nbgrader(meta) -> dict | None:
    if not isinstance(meta, dict):
        return None
    kept = {k: meta[k] for k in NBGRADER_FLAGS if isinstance(meta.get(k), bool)}
    if isinstance(meta.get("grade_id"), str) and NAME.fullmatch(meta["grade_id"]):
        kept["grade_id"] = meta["grade_id"]
    elif any(kept.values()):
        return None  # a grade, solution or task cell without a valid id: not an nbgrader cell any more
    if isinstance(meta.get("points"), (int, float)) and not isinstance(meta.get("points"), bool):
        kept["points"] = meta["points"]
    if isinstance(meta.get("schema_version"), int):
        kept["schema_version"] = meta["schema_version"]
    if isinstance(meta.get("checksum"), str) and re.fullmatch(r"[0-9a-f]{1,128}", meta["checksum"]):
        kept["checksum"] = meta["checksum"]
    if meta.get("cell_type") in ("code", "markdown", "raw"):
        kept["cell_type"] = meta["cell_type"]
    return kept


def _metadata(cell) -> dict:
    meta = {}
    grader = _nbgrader(cell.metadata.get("nbgrader"))
    if grader is not None:
        meta["nbgrader"] = grader
    tags = cell.metadata.get("tags")
    tags = [t for t in tags if isinstance(t, str) and NAME.fullmatch(t)] if isinstance(tags, list) else []
    if tags:
        meta["tags"] = tags
    return meta


def _notebook_metadata(nb, release_nb) -> dict:
    meta = {}
    for key, required in (("kernelspec", {"name", "display_name"}), ("language_info", {"name"})):
        value = (release_nb.metadata if release_nb is not None else nb.metadata).get(key)
        if isinstance(value, dict):
            value = {k: v for k, v in value.items() if isinstance(v, str) and METADATA_VALUE.fullmatch(v)}
            if required <= set(value):
                meta[key] = value
    return meta


def make_inert(nb, release_nb=None):
    """Sanitise ``nb`` in place (and return it); ``release_nb``, if given, supplies the notebook metadata."""
    from nbformat import from_dict

    nb.metadata = from_dict(_notebook_metadata(nb, release_nb))
    seen = set()
    for index, cell in enumerate(nb.cells):
        cell_id = cell.get("id")
        if not isinstance(cell_id, str) or not NAME.fullmatch(cell_id) or cell_id in seen:
            cell_id = f"inert-{index}"
        seen.add(cell_id)
        cell.id = cell_id
        cell.metadata = from_dict(_metadata(cell))
        source = cell.source if isinstance(cell.source, str) else "".join(cell.source)
        if cell.cell_type == "code":
            cell.source = source
            cell.outputs = _outputs(cell.get("outputs"))
            count = cell.get("execution_count")
            cell.execution_count = count if isinstance(count, int) and not isinstance(count, bool) else None
            cell.pop("attachments", None)
            continue
        if cell.cell_type == "markdown":
            attachments = _attachments(cell)
            if not is_inert(source, attachments):
                source, attachments = as_text(source), {}
        else:  # raw (or unknown): text, never HTML
            source, attachments = as_text(source, RAW_NOTE), {}
            cell.metadata.pop("nbgrader", None)
            for key in ("outputs", "execution_count"):
                cell.pop(key, None)
            cell.cell_type = "markdown"
        cell.source = source
        if attachments:
            cell.attachments = from_dict(attachments)
        else:
            cell.pop("attachments", None)
    return nb


class MakeInert(Preprocessor):
    """``make_inert`` as an nbconvert preprocessor (run on the copy of the notebook being rendered)."""

    def preprocess(self, nb, resources):
        return make_inert(nb), resources
