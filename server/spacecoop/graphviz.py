"""A small, safe wrapper around Graphviz's ``dot`` program: DOT text in, SVG or PNG out.

Graphviz (Debian package ``graphviz``) does the layout and the drawing; this module only
builds DOT text with correct escaping and runs the binary — without a shell, with a time
limit, and with a clear message when it is missing.

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
import shutil
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass, field

# Attribute values are plain strings (DOT-quoted on output) or HtmlLabel (written as <...>).
DEFAULT_TIMEOUT = 20.0
FORMATS = ("svg", "png")
LAYOUTS = ("dot", "neato")


class GraphvizError(RuntimeError):
    """Graphviz is missing, timed out or rejected the input."""


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


def dot_binary() -> str:
    """The path of Graphviz's ``dot``, or a GraphvizError that says how to install it."""
    path = shutil.which("dot")
    if path is None:
        raise GraphvizError("Graphviz is not installed: the `dot` program was not found on PATH. "
                            "Install it with `apt-get install graphviz` (Debian/Ubuntu) or "
                            "`brew install graphviz` (macOS).")
    return path


def render(dot_source: str, fmt: str = "svg", layout: str = "dot", pinned: bool = False,
           timeout: float = DEFAULT_TIMEOUT, dpi: int | None = None) -> bytes:
    """Lay out and draw DOT text with Graphviz; returns the SVG or PNG bytes.

    ``pinned`` uses neato with ``-n2``: every node keeps the ``pos`` it was given (in
    points), which is how the timeline places things by date. Results are cached by input,
    so the same graph is drawn once per process.
    """
    if fmt not in FORMATS:
        raise ValueError(f"unknown format {fmt!r}; use one of {', '.join(FORMATS)}")
    if layout not in LAYOUTS:
        raise ValueError(f"unknown layout {layout!r}; use one of {', '.join(LAYOUTS)}")
    return _render_cached(dot_source, fmt, layout, pinned, timeout, dpi)


@functools.lru_cache(maxsize=64)
def _render_cached(dot_source: str, fmt: str, layout: str, pinned: bool, timeout: float,
                   dpi: int | None) -> bytes:
    command = [dot_binary(), f"-K{layout}", f"-T{fmt}"]
    if pinned:
        command.append("-n2")
    if dpi:
        command.append(f"-Gdpi={dpi}")
    try:
        done = subprocess.run(command, input=dot_source.encode("utf-8"), capture_output=True,
                              timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        raise GraphvizError(f"Graphviz took longer than {timeout:g} s to draw the picture") from None
    except OSError as err:
        raise GraphvizError(f"Graphviz could not be run: {err}") from None
    if done.returncode != 0 or not done.stdout:
        message = done.stderr.decode("utf-8", "replace").strip().splitlines()
        raise GraphvizError("Graphviz failed: " + (message[0] if message else f"exit code {done.returncode}"))
    return done.stdout


__all__ = ["LEFT_BREAK_MARK", "Graph", "GraphvizError", "HtmlLabel", "attr_list", "dot_binary",
           "html_text", "quote", "render"]
