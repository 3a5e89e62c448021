"""A small, safe wrapper around Graphviz: DOT text in, SVG or PNG out, no system package.

Graphviz does the layout and the drawing; this module builds DOT text with correct escaping
and runs the renderer — without a shell, with a time limit, and with a one-line reason when
it cannot (``missing_reason``). The renderer is ``graphviz-pure`` from PyPI (a static build
of Graphviz 16.1's ``dot`` command line: the same bytes on every machine, HTML-like labels
included), installed with the package; ``SPACECOOP_GRAPHVIZ`` picks another dot-compatible
program (``dot`` for the system's Graphviz) or ``off``. PNG is the SVG rasterised by resvg
(``resvg-py``) with Noto Sans CJK from a package (``manimgx-fonts-cjk``), so Chinese labels
have glyphs without a system font.

>>> quote('say "hi" \\\\ bye')
'"say \\\\"hi\\\\" \\\\\\\\ bye"'
>>> html_text("R&D <b>")
'R&amp;D &lt;b&gt;'
>>> g = Graph("demo")
>>> g.node("a", label="A", URL="/resource/a")
>>> g.edge("a", "b", label="to")
>>> print(g.source())
digraph "demo" {
  "a" [URL="/resource/a", label="A"];
  "a" -> "b" [label="to"];
}
"""

from __future__ import annotations

import functools
import html
import os
import re
import shutil
import subprocess
import sys
import sysconfig
from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

from spacecoop import config

# Attribute values are plain strings (DOT-quoted on output) or HtmlLabel (written as <...>).
DEFAULT_TIMEOUT = 20.0
FORMATS = ("svg", "png")
LAYOUTS = ("dot", "neato")
BUNDLED = "graphviz-pure"  # the PyPI package and the program it installs
SYSTEM = "dot"  # a system Graphviz, used when the bundled one is not installed
# The font PNGs are drawn in (a variable font: every weight, bold included) and the family
# added to every font list, so text whose first choices are missing still has glyphs.
PNG_FONT_PACKAGE, PNG_FONT_FILE, PNG_FONT_FAMILY = "manimgx_fonts_cjk", "NotoSansCJK-VF.otf.ttc", "Noto Sans CJK SC"
# A PNG is bounded by its pixels (resvg runs in-process and cannot be stopped midway):
# the whole timeline at 144 dpi is about 6.4 million.
MAX_PNG_PIXELS = 60_000_000


class GraphvizError(RuntimeError):
    """Graphviz is missing, timed out or rejected the input; the text is one short line
    (no file path, no traceback) that a page or a 503 answer may show."""


@dataclass(frozen=True)
class HtmlLabel:
    """A Graphviz HTML-like label; the markup must already be escaped (see ``html_text``)."""

    markup: str


def quote(value: str) -> str:
    """A DOT double-quoted string.

    Backslashes are doubled so that Graphviz's own escapes (``\\N``, ``\\G``, ``\\l`` …) can
    never be triggered by data; a caller that wants a left-justified line break writes the
    ``LEFT_BREAK`` marker, which is turned into ``\\l`` after escaping.
    """
    escaped = value.replace("\\", "\\\\").replace('"', '\\"').replace("\r", "")
    escaped = escaped.replace("\n", "\\n").replace(LEFT_BREAK_MARK, "\\l")
    return f'"{escaped}"'


# A private-use character stands for Graphviz's "\l" (end a left-justified line) in labels.
LEFT_BREAK_MARK = "\ue000"


def html_text(value: str) -> str:
    """Escape text for use inside an HTML-like label."""
    return html.escape(value, quote=True)


def _attr_value(value: str | float | HtmlLabel) -> str:
    if isinstance(value, HtmlLabel):
        return f"<{value.markup}>"
    if isinstance(value, bool):
        return quote(str(value).lower())
    if isinstance(value, float):
        return quote(f"{value:.3f}")
    return quote(str(value))


def attr_list(attrs: Mapping[str, str | float | HtmlLabel]) -> str:
    """``[k="v", …]`` (sorted, so the same graph always gives the same DOT text)."""
    if not attrs:
        return ""
    inner = ", ".join(f"{k}={_attr_value(v)}" for k, v in sorted(attrs.items()))
    return f" [{inner}]"


@dataclass
class Graph:
    """A directed graph (or a subgraph/cluster inside one), built up and written as DOT."""

    name: str
    attrs: dict[str, str | float | HtmlLabel] = field(default_factory=dict)
    node_defaults: dict[str, str | float | HtmlLabel] = field(default_factory=dict)
    edge_defaults: dict[str, str | float | HtmlLabel] = field(default_factory=dict)
    statements: list[str] = field(default_factory=list)
    subgraphs: list[Graph] = field(default_factory=list)

    def node(self, node_id: str, **attrs: str | float | HtmlLabel) -> None:
        """Add a node; statements keep their order (Graphviz draws pinned nodes in order)."""
        self.statements.append(f"{quote(node_id)}{attr_list(attrs)};")

    def edge(self, tail: str, head: str, **attrs: str | float | HtmlLabel) -> None:
        """Add an edge from ``tail`` to ``head``."""
        self.statements.append(f"{quote(tail)} -> {quote(head)}{attr_list(attrs)};")

    def subgraph(self, name: str, **attrs: str | float | HtmlLabel) -> Graph:
        """A nested subgraph (name it ``cluster_…`` for a drawn box)."""
        sub = Graph(name, dict(attrs))
        self.subgraphs.append(sub)
        return sub

    def _body(self, indent: str) -> list[str]:
        lines = [f"{indent}{k}={_attr_value(v)};" for k, v in sorted(self.attrs.items())]
        if self.node_defaults:
            lines.append(f"{indent}node{attr_list(self.node_defaults)};")
        if self.edge_defaults:
            lines.append(f"{indent}edge{attr_list(self.edge_defaults)};")
        for sub in self.subgraphs:
            lines.append(f"{indent}subgraph {quote(sub.name)} {{")
            lines.extend(sub._body(indent + "  "))
            lines.append(f"{indent}}}")
        lines.extend(indent + s for s in self.statements)
        return lines

    def source(self) -> str:
        """The DOT text of the whole graph."""
        return "\n".join([f"digraph {quote(self.name)} {{", *self._body("  "), "}"])


def program() -> str:
    """The path of the renderer to run, or a GraphvizError that says what is missing.

    ``SPACECOOP_GRAPHVIZ`` unset: the bundled ``graphviz-pure`` (beside the running Python,
    as pip installs it, or on PATH), else a system ``dot``; ``off``: none; anything else:
    that dot-compatible program (a name on PATH or a path).
    """
    choice = config.graphviz_choice()
    if choice.lower() == "off":
        raise GraphvizError("pictures are turned off (SPACECOOP_GRAPHVIZ=off)")
    if choice:
        found = shutil.which(choice)
        if found is None:
            raise GraphvizError(f"the Graphviz program {Path(choice).name!r} named by SPACECOOP_GRAPHVIZ "
                                "is not installed")
        return found
    scripts = os.pathsep.join(dict.fromkeys([sysconfig.get_path("scripts"), str(Path(sys.executable).parent)]))
    found = shutil.which(BUNDLED, path=scripts) or shutil.which(BUNDLED) or shutil.which(SYSTEM)
    if found is None:
        raise GraphvizError(f"no Graphviz renderer is installed ({BUNDLED} from PyPI, or a system `dot`)")
    return found


def render(dot_source: str, fmt: str = "svg", layout: str = "dot", pinned: bool = False,
           timeout: float = DEFAULT_TIMEOUT, dpi: int | None = None) -> bytes:
    """Lay out and draw DOT text with Graphviz; returns the SVG or PNG bytes.

    ``pinned`` uses neato with ``-n2``: every node keeps the ``pos`` it was given (in
    points), which is how the timeline places things by date. ``dpi`` scales a PNG (72 = one
    pixel a point). Results are cached by input and renderer, so the same graph is drawn
    once per process; failures are not cached.
    """
    if fmt not in FORMATS:
        raise ValueError(f"unknown format {fmt!r}; use one of {', '.join(FORMATS)}")
    if layout not in LAYOUTS:
        raise ValueError(f"unknown layout {layout!r}; use one of {', '.join(LAYOUTS)}")
    svg = _render_svg(program(), dot_source, layout, pinned, timeout)
    return svg if fmt == "svg" else rasterise(svg, dpi or 72)


@functools.lru_cache(maxsize=64)
def _render_svg(prog: str, dot_source: str, layout: str, pinned: bool, timeout: float) -> bytes:
    command = [prog, f"-K{layout}", "-Tsvg"]
    if pinned:
        command.append("-n2")
    name = Path(prog).name
    try:
        done = subprocess.run(command, input=dot_source.encode("utf-8"), capture_output=True,
                              timeout=timeout, check=False)
    except subprocess.TimeoutExpired:  # the child is killed by subprocess.run
        raise GraphvizError(f"Graphviz took longer than {timeout:g} s to draw the picture") from None
    except OSError:
        raise GraphvizError(f"Graphviz ({name}) could not be started") from None
    if done.returncode != 0 or not done.stdout.lstrip().startswith(b"<"):
        lines = [line for line in done.stderr.decode("utf-8", "replace").splitlines()
                 if line.strip() and "Warning" not in line]
        why = lines[0].strip()[:200] if lines else f"exit code {done.returncode}"
        raise GraphvizError(f"Graphviz ({name}) failed: {why}")
    return done.stdout


def png_font() -> Path:
    """The font file PNGs are drawn with, or a GraphvizError naming the package to install."""
    try:
        font = Path(str(resources.files(PNG_FONT_PACKAGE).joinpath(PNG_FONT_FILE)))
    except ModuleNotFoundError:
        font = None
    if font is None or not font.is_file():
        raise GraphvizError(f"PNG needs the font package {PNG_FONT_PACKAGE.replace('_', '-')} (pip install it)")
    return font


_FONT_FAMILY = re.compile(r'font-family="([^"]*)"')


def rasterise(svg: bytes, dpi: int = 72) -> bytes:
    """PNG bytes of an SVG, drawn by resvg with the bundled CJK font and no system font.

    Only the bundled font is used, so a PNG is the same on every machine; its family is
    added to every ``font-family`` list (resvg draws no text whose families are all missing).
    Cached like ``render``: a whole picture takes resvg about a second at 144 dpi.
    """
    return _rasterise(svg, dpi)


@functools.lru_cache(maxsize=16)
def _rasterise(svg: bytes, dpi: int) -> bytes:
    try:
        import resvg_py
    except ImportError:
        raise GraphvizError("PNG needs the package resvg-py (pip install it)") from None
    font = png_font()
    text = _FONT_FAMILY.sub(lambda m: m.group(0) if PNG_FONT_FAMILY in m.group(1)
                            else f'font-family="{m.group(1)},{PNG_FONT_FAMILY}"', svg.decode("utf-8"))
    width, height = _svg_size_pt(text)
    if width * height * (dpi / 72) ** 2 > MAX_PNG_PIXELS:
        raise GraphvizError(f"the picture is too large for a PNG ({width:.0f} × {height:.0f} pt at {dpi} dpi)")
    try:
        png = resvg_py.svg_to_bytes(svg_string=text, skip_system_fonts=True, font_files=[str(font)],
                                    dpi=float(dpi), background="white")
    except ValueError as err:
        raise GraphvizError(f"the PNG could not be drawn: {str(err)[:200]}") from None
    return bytes(png)


_SIZE = re.compile(r'<svg\b[^>]*?\bwidth="([\d.]+)(pt|px)?"[^>]*?\bheight="([\d.]+)(pt|px)?"', re.S)


def _svg_size_pt(svg: str) -> tuple[float, float]:
    """The root's width and height in points (Graphviz writes ``pt``)."""
    m = _SIZE.search(svg)
    if m is None:
        raise GraphvizError("the PNG could not be drawn: the SVG has no size")
    scale = 0.75 if m.group(2) == "px" else 1.0
    return float(m.group(1)) * scale, float(m.group(3)) * scale


@functools.lru_cache(maxsize=8)
def _probe(prog: str) -> str | None:
    """Why ``prog`` cannot draw a one-node graph (None: it can). Cached: asked once a program."""
    try:
        _render_svg(prog, 'digraph "probe" { a }', "dot", False, 10.0)
    except GraphvizError as err:
        return str(err)
    return None


def missing_reason() -> str | None:
    """One line saying what keeps pictures from being drawn, or None when SVG and PNG both work.

    For start-up warnings: pages still answer without pictures (a notice stands in for
    each), and ``/timeline.svg`` and the like answer 503 with this text's gist.
    """
    try:
        reason = _probe(program())
    except GraphvizError as err:
        reason = str(err)
    if reason:
        # Installing the bundled renderer helps only when no program was chosen.
        hint = "" if config.graphviz_choice() else f"; pip install {BUNDLED}"
        return f"pictures are not drawn: {reason}; pages show a notice in their place{hint}"
    try:
        import resvg_py  # noqa: F401
    except ImportError:
        return "PNG pictures are not drawn: the package resvg-py is not installed (SVG still works)"
    try:
        png_font()
    except GraphvizError as err:
        return f"PNG pictures are not drawn: {err} (SVG still works)"
    return None


__all__ = ["BUNDLED", "LEFT_BREAK_MARK", "Graph", "GraphvizError", "HtmlLabel", "attr_list", "html_text",
           "missing_reason", "png_font", "program", "quote", "rasterise", "render"]
