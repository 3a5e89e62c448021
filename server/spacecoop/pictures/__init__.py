"""Pictures: the timeline and the cooperation map, rows → DOT → SVG/PNG.

Both are drawn from the graph by saved queries (``timeline-items``, ``network-nodes``,
``network-edges``), so new data appears without code changes, and both are drawn on the
server by Graphviz (see ``spacecoop.pictures.graphviz`` and docs/pictures.md): the SVG is inline
in the page, readable and printable without JavaScript, with a link and a tooltip on
every mission, event, agency and contribution.

They are served by ``spacecoop.web.pictures`` (``/timeline``, ``/network``, their ``.svg``,
``.png`` and ``.json``, each ``?mission=SLUG`` for one mission's neighbourhood) and drawn
into files by ``spacecoop render`` (``spacecoop.cli.render``). For other pages:
``await inline_network(engine, mission_iri)`` gives a mission's neighbourhood as inline SVG,
or the notice that stands in for it when it cannot be drawn.

An optional picture never takes a page down: when the renderer is missing, fails or is past
its time limit, the pages answer 200 with a short notice where the picture would be, and
only the image files (``.svg``, ``.png``) answer 503 (``graphviz.missing_reason`` says why).
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from spacecoop import config
from spacecoop.engine.store import parse_json_rows
from spacecoop.pictures import graphviz, network, style, timeline
from spacecoop.rdf import iris
from spacecoop.rdf.results import Term
from spacecoop.saved import saved_queries

Link = Callable[[str], str]
Rows = list[dict[str, Term]]

TIMELINE_QUERY = "timeline-items"
NETWORK_QUERIES = ("network-nodes", "network-edges")
PNG_DPI = 144
# A picture inside another page must not hold that page up for long.
INLINE_TIMEOUT = 5.0
log = logging.getLogger(__name__)


class PictureError(Exception):
    """A picture cannot be made; ``status`` is the HTTP status to answer with."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status, self.message = status, message


@dataclass
class Picture:
    """A drawn picture: its DOT source, what it shows, and the data behind it."""

    kind: str  # timeline | network
    title: str
    description: str
    dot: str
    layout: str
    pinned: bool
    data: dict[str, Any]

    names: dict[str, str] = field(default_factory=dict)  # node id → what a reader should hear

    def render(self, fmt: str, timeout: float = graphviz.DEFAULT_TIMEOUT) -> bytes:
        """SVG or PNG bytes (blocking; the server calls it in a thread). The PNG is the
        finished SVG rasterised, so both files are the same picture."""
        if fmt == "png":
            return graphviz.rasterise(self.svg(timeout=timeout).encode("utf-8"), PNG_DPI)
        return self.svg(timeout=timeout).encode("utf-8")

    def svg(self, inline: bool = False, id_prefix: str | None = None,
            timeout: float = graphviz.DEFAULT_TIMEOUT) -> str:
        """The SVG with a title and description for screen readers; ``inline`` for HTML."""
        drawn = graphviz.render(self.dot, "svg", self.layout, pinned=self.pinned, timeout=timeout)
        svg = finish_svg(drawn.decode("utf-8"), self.title, self.description, id_prefix or self.kind, inline)
        return readable_titles(svg, self.names)


# =====================================================================================
# SVG finishing: accessibility, unique ids, inline use
# =====================================================================================
_XML_PROLOGUE = re.compile(r"^\s*<\?xml[^>]*\?>\s*(<!DOCTYPE[^>]*>\s*)?", re.S)
_COMMENT = re.compile(r"<!--.*?-->\s*", re.S)


def finish_svg(svg: str, title: str, description: str, id_prefix: str, inline: bool) -> str:
    """Add <title>/<desc> and ARIA to the root, hide decoration, prefix ids, drop comments.

    >>> out = finish_svg('<?xml version="1.0"?>\\n<svg width="1pt"><!-- x --><g id="node1" class="node decor">'
    ...                  '<path fill="url(#l_0)"/></g></svg>', "T & U", "D", "p", True)
    >>> out.startswith('<svg role="img" aria-labelledby="p-title p-desc" class="picture" width="1pt">')
    True
    >>> '<title id="p-title">T &amp; U</title><desc id="p-desc">D</desc>' in out, "<!--" in out
    (True, False)
    >>> '<g id="p-node1" class="node decor" aria-hidden="true"><path fill="url(#p-l_0)"/>' in out
    True
    """
    from html import escape

    prologue = _XML_PROLOGUE.match(svg)
    head = "" if inline or not prologue else '<?xml version="1.0" encoding="UTF-8" standalone="no"?>\n'
    body = _COMMENT.sub("", svg[prologue.end():] if prologue else svg)
    # Graphviz writes "-" as "&#45;" so that comments stay valid; the comments are gone,
    # and a plain "-" keeps class names and text greppable.
    body = body.replace("&#45;", "-")
    # Graphviz measured with one font name; the browser gets the whole list to choose from.
    body = body.replace(f'font-family="{style.METRIC_FONT}"', f'font-family="{style.FONT}"')
    body = re.sub(r'\bid="([^"]+)"', lambda m: f'id="{id_prefix}-{m.group(1)}"', body)
    body = re.sub(r"url\(#([^)]+)\)", lambda m: f"url(#{id_prefix}-{m.group(1)})", body)
    body = re.sub(r'(class="node decor[^"]*")', r'\1 aria-hidden="true"', body)
    accessible = (f'<svg role="img" aria-labelledby="{id_prefix}-title {id_prefix}-desc" class="picture"')
    body = body.replace("<svg", accessible, 1)
    root_end = body.index(">", body.index("<svg")) + 1
    texts = (f'<title id="{id_prefix}-title">{escape(title)}</title>'
             f'<desc id="{id_prefix}-desc">{escape(description)}</desc>')
    return head + body[:root_end] + texts + body[root_end:]


_TITLE = re.compile(r"<title>([^<]*)</title>")
_COUNTER = re.compile(r" \[\d+\]$")


def readable_titles(svg: str, names: dict[str, str]) -> str:
    """Graphviz titles each shape with its node id; make those ids read as words.

    >>> readable_titles("<title>n1-&gt;n2</title><title>SMILE launch [12]</title>", {"n1": "ESA", "n2": "SMILE"})
    '<title>ESA → SMILE</title><title>SMILE launch</title>'
    """
    from html import escape, unescape

    def name(node_id: str) -> str:
        node_id = unescape(node_id)
        return names.get(node_id) or _COUNTER.sub("", node_id)

    def title(m: re.Match[str]) -> str:
        whole = unescape(m.group(1))
        text = names.get(whole) or " → ".join(name(e) for e in m.group(1).split("-&gt;"))
        return f"<title>{escape(text, quote=False)}</title>"

    return _TITLE.sub(title, svg)


# =====================================================================================
# From the graph to pictures
# =====================================================================================
def local_link(base: str) -> Link:
    """Links for pages served by us: local paths, so they work on any host."""
    def link(iri: str) -> str:
        path = iris.iri_to_path(iri, base)
        return path if path is not None else (iri if iri.startswith(("http://", "https://")) else "")
    return link


def public_link(settings: config.Settings) -> Link:
    """Links for files written by the CLI: absolute, on the public URL when one is set."""
    local = local_link(settings.base)
    public = settings.public_url.rstrip("/")

    def link(iri: str) -> str:
        path = local(iri)
        return public + path if public and path.startswith("/") else iri
    return link


def make_timeline(rows: Rows, link: Link, mission: str | None = None) -> Picture:
    """The timeline picture (one mission's row only, when ``mission`` is an IRI)."""
    groups = timeline.build_groups(rows)
    if mission is not None:
        groups = [g for g in groups if g.iri == mission or any(i.iri == mission for i in g.items)]
        if not groups:
            raise PictureError(404, "this mission has nothing on the timeline")
    items = timeline.all_items(groups)
    missions = sum(1 for i in items if i.kind == "mission")
    events = len(items) - missions
    years = [y for i in items for y in ((i.start.year if i.start else None), (i.end.year if i.end else None)) if y]
    span = f" from {min(years)} to {max(years) - 1 if max(years) > min(years) else max(years)}" if years else ""
    title = "Timeline of European–Chinese space cooperation"
    if mission is not None:
        title = f"Timeline: {groups[0].label}"
    description = (f"{network.plural(missions, 'mission')} and {network.plural(events, 'event')}{span}, one row "
                   "per mission, coloured by status; dates are drawn at the precision the source gives.")
    graph = timeline.draw(groups, link, title)
    data = {"title": title, "description": description, "query": TIMELINE_QUERY,
            "groups": [{"iri": g.iri or None, "href": link(g.iri) if g.iri else None, "label": g.label,
                        "labelZh": g.label_zh, "status": g.status.iri if g.status else None,
                        "statusLabel": g.status.label if g.status else None,
                        "items": [i.as_json(link) for i in g.items]} for g in groups],
            "counts": {"missions": missions, "events": events}}
    return Picture("timeline", title, description, graph.source(), "neato", True, data)


def make_network(node_rows: Rows, edge_rows: Rows, link: Link, mission: str | None = None) -> Picture:
    """The cooperation map (one mission's neighbourhood, when ``mission`` is an IRI)."""
    net = network.build_network(node_rows, edge_rows)
    title = "Cooperation map: who provided what"
    if mission is not None:
        node = net.nodes.get(mission)
        if node is None or node.kind != "mission":
            raise PictureError(404, "no mission with this name is on the cooperation map")
        net = network.neighbourhood(net, mission)
        title = f"Cooperation around {node.label}"
    description = network.describe(net)
    graph = network.draw(net, link, title)
    data = {"title": title, "description": description, "queries": list(NETWORK_QUERIES),
            "mission": mission, **net.as_json(link)}
    names = {iri: node.label for iri, node in net.nodes.items()}
    for e in net.edges:  # edges drawn head-first (dir=back) still read source → target
        names[f"{e.target}->{e.source}"] = f"{net.nodes[e.source].label} → {net.nodes[e.target].label}"
    names |= {"cluster_europe": "Europe", "cluster_china": "China", "cluster_other-side": "Neither side"}
    return Picture("network", title, description, graph.source(), "dot", False, data, names)


def _job(engine: Any, name: str) -> Any:
    """The saved query ``name`` as a Job, its IRIs on the engine's base."""
    for query in saved_queries.load_all(base=engine.settings.base):
        if query.name == name:
            return saved_queries.bind(query, {}, base=engine.settings.base)
    raise saved_queries.UnknownQuery(name, [q.name for q in saved_queries.load_all()])


async def _rows(engine: Any, name: str) -> Rows:
    """The rows of a saved query (no parameters), through the engine's cache and pool."""
    return parse_json_rows((await engine.run(_job(engine, name))).body)


def query_rows(engine: Any, name: str) -> Rows:
    """The rows of a saved query, run on a local engine (CLI, tests)."""
    return parse_json_rows(engine.run_sync(_job(engine, name)).body)


async def timeline_picture(engine: Any, link: Link, mission: str | None = None) -> Picture:
    """The timeline from the engine's graph."""
    return make_timeline(await _rows(engine, TIMELINE_QUERY), link, mission)


async def network_picture(engine: Any, link: Link, mission: str | None = None) -> Picture:
    """The cooperation map (or one mission's neighbourhood) from the engine's graph."""
    nodes, edges = await asyncio.gather(*(_rows(engine, q) for q in NETWORK_QUERIES))
    return make_network(nodes, edges, link, mission)


@dataclass(frozen=True)
class InlinePicture:
    """A picture to put inside a page: its inline SVG, or the notice that stands in for it."""

    svg: str = ""
    notice: str = ""

    def __bool__(self) -> bool:
        return bool(self.svg or self.notice)


def unavailable_notice(why: str) -> str:
    """The short text a page shows where a picture would be."""
    return f"The picture cannot be drawn right now ({why}); the rest of the page is complete."


async def inline_network(engine: Any, mission_iri: str) -> InlinePicture:
    """A mission's neighbourhood on the cooperation map, to put inline in a page.

    Empty (false) when the IRI is not a mission on the map; a notice instead of the SVG when
    the renderer is missing, fails or is past ``INLINE_TIMEOUT``, or a query behind the
    picture fails: the page around it never fails for it. Links are local paths.
    """
    try:
        picture = await network_picture(engine, local_link(engine.settings.base), mission_iri)
        svg = await asyncio.to_thread(picture.svg, True, "neighbourhood", INLINE_TIMEOUT)
    except PictureError:
        return InlinePicture()
    except graphviz.GraphvizError as err:
        return InlinePicture(notice=unavailable_notice(str(err)))
    except Exception:  # a side query or the drawing code: logged, and the page still answers
        log.exception("the neighbourhood of %s could not be drawn", mission_iri)
        return InlinePicture(notice=unavailable_notice("an internal error, logged on the server"))
    return InlinePicture(svg=svg)


# =====================================================================================
# Drawing to a file
# =====================================================================================
def mission_iri(engine: Any, slug: str | None) -> str | None:
    """The IRI of the mission a ``?mission=`` slug names (None for none); PictureError 404
    for what is not a slug."""
    if slug is None or slug == "":
        return None
    if not iris.SLUG.match(slug):
        raise PictureError(404, f"{slug!r} is not a mission name; use a slug such as smile")
    return iris.entity_iri(slug, engine.settings.base)


def render_to_file(engine: Any, kind: str, output: Path, mission_slug: str | None = None) -> Path:
    """Draw a picture from the engine's graph into ``output`` (.svg or .png)."""
    fmt = output.suffix.lower().lstrip(".")
    if fmt not in ("svg", "png"):
        raise PictureError(2, f"{output}: the output file must end in .svg or .png")
    link = public_link(engine.settings)
    mission = mission_iri(engine, mission_slug)
    if kind == "timeline":
        pic = make_timeline(query_rows(engine, TIMELINE_QUERY), link, mission)
    else:
        nodes, edges = (query_rows(engine, q) for q in NETWORK_QUERIES)
        pic = make_network(nodes, edges, link, mission)
    output.parent.mkdir(parents=True, exist_ok=True)
    if fmt == "svg":
        output.write_text(pic.svg(), encoding="utf-8")
    else:
        output.write_bytes(pic.render("png"))
    return output


__all__ = ["INLINE_TIMEOUT", "InlinePicture", "Picture", "PictureError", "finish_svg", "inline_network",
           "local_link", "make_network", "make_timeline", "mission_iri", "network_picture", "query_rows",
           "render_to_file", "timeline_picture", "unavailable_notice"]
