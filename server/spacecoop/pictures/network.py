"""The cooperation map: who provided what to which mission, Europe on the left, China on
the right, the missions between them.

Nodes and edges come from the ``network-nodes`` and ``network-edges`` saved queries;
Graphviz's ``dot`` lays the graph out left to right. Every arrow points towards the mission
it serves (provider → instrument → mission); Chinese-side arrows are written head-first
with ``dir=back`` so that ``dot`` ranks them to the right of the missions while the arrow
still points at the mission.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from spacecoop.pictures import style
from spacecoop.pictures.graphviz import Graph, HtmlLabel, html_text
from spacecoop.rdf.results import Term

Row = Mapping[str, Term]
Link = Callable[[str], str]

AGENT_KINDS = ("agency", "country", "organization")
ITEM_KINDS = ("instrument", "launch vehicle")
PARTICIPATION = ("partner", "operatedBy", "ledBy")


@dataclass
class Node:
    """An agency, country, organization, mission, instrument or launch vehicle."""

    iri: str
    kind: str
    label: str
    label_zh: str | None = None
    sides: set[str] = field(default_factory=set)
    side_labels: dict[str, str] = field(default_factory=dict)
    status: str | None = None
    status_label: str | None = None

    @property
    def side(self) -> str | None:
        """The one side of the node, or None when it has none or both."""
        return next(iter(self.sides)) if len(self.sides) == 1 else None

    @property
    def column(self) -> str:
        """left (Europe), centre (missions, joint items) or right (China, others)."""
        if self.kind == "mission" or self.side is None:
            return "centre"
        return "left" if style.slug(self.side) == "europe" else "right"

    @property
    def place(self) -> int:
        """Left-to-right order of the layers: agents outside, items, missions in the middle."""
        depth = 0 if self.kind in AGENT_KINDS else 1
        return {"left": depth, "centre": 2, "right": 4 - depth}[self.column]

    def as_json(self, link: Link) -> dict[str, Any]:
        return {"iri": self.iri, "href": link(self.iri), "kind": self.kind, "label": self.label,
                "labelZh": self.label_zh, "sides": sorted(self.sides), "status": self.status,
                "statusLabel": self.status_label}


@dataclass
class Edge:
    """One drawn arrow, from ``source`` towards the mission side ``target``."""

    source: str
    target: str
    relation: str
    label: str
    via: str | None = None
    via_label: str | None = None

    def as_json(self, link: Link) -> dict[str, Any]:
        return {"from": self.source, "to": self.target, "relation": self.relation, "label": self.label,
                "via": self.via, "viaHref": link(self.via) if self.via else None, "viaLabel": self.via_label}


@dataclass
class Network:
    """The nodes and edges of a cooperation map (the whole graph or one neighbourhood)."""

    nodes: dict[str, Node]
    edges: list[Edge]

    def as_json(self, link: Link) -> dict[str, Any]:
        return {"nodes": [n.as_json(link) for n in self.nodes.values()],
                "edges": [e.as_json(link) for e in self.edges]}


def _value(row: Row, key: str) -> str | None:
    term = row.get(key)
    return term[1] if term else None


def build_nodes(rows: Iterable[Row]) -> dict[str, Node]:
    """One node per IRI, with its first kind (the query orders kinds) and all its sides."""
    nodes: dict[str, Node] = {}
    for row in rows:
        iri = _value(row, "node")
        if not iri:
            continue
        node = nodes.get(iri)
        if node is None:
            node = nodes[iri] = Node(iri, _value(row, "kind") or "thing", _value(row, "label") or style.slug(iri),
                                     _value(row, "labelZh"), status=_value(row, "status"),
                                     status_label=_value(row, "statusLabel"))
        side = _value(row, "side")
        if side:
            node.sides.add(side)
            node.side_labels[side] = _value(row, "sideLabel") or style.slug(side)
    return nodes


def build_network(node_rows: Iterable[Row], edge_rows: Iterable[Row]) -> Network:
    """The whole map: participation folds into contributions between the same two nodes."""
    nodes = build_nodes(node_rows)
    edges = [Edge(_value(r, "from") or "", _value(r, "to") or "", _value(r, "relation") or "",
                  _value(r, "label") or "", _value(r, "via"), _value(r, "viaLabel")) for r in edge_rows]
    edges = [e for e in edges if e.source in nodes and e.target in nodes]
    provided = {(e.source, e.target) for e in edges if e.relation == "providedBy"}
    merged: dict[tuple[str, str], Edge] = {}
    out: list[Edge] = []
    for e in edges:
        if e.relation in PARTICIPATION:
            if (e.source, e.target) in provided:
                continue  # a contribution already links them and says more
            key = (e.source, e.target)
            if key in merged:
                if e.label not in merged[key].label.split(", "):
                    merged[key].label += f", {e.label}"
                continue
            merged[key] = e = Edge(e.source, e.target, "participation", e.label)
        if e.relation == "providedBy" and nodes[e.target].kind in ITEM_KINDS:
            e.label = "contributed"  # the item node names what; the arrow says who
        out.append(e)
    keep = {e.source for e in out} | {e.target for e in out}
    keep |= {iri for iri, n in nodes.items() if n.kind == "mission"}
    return Network({iri: n for iri, n in nodes.items() if iri in keep}, out)


def neighbourhood(network: Network, mission: str) -> Network:
    """The mission, everything linked to it, and who provided the items it carries."""
    near = {mission}
    for e in network.edges:
        if mission in (e.source, e.target):
            near |= {e.source, e.target}
    items = {i for i in near if network.nodes.get(i) and network.nodes[i].kind in ITEM_KINDS}
    edges = [e for e in network.edges
             if mission in (e.source, e.target) or (e.target in items and e.source not in near - items)
             or (e.target in items and e.source in near)]
    keep = {mission} | {e.source for e in edges} | {e.target for e in edges}
    return Network({i: n for i, n in network.nodes.items() if i in keep}, edges)


# =====================================================================================
# Drawing
# =====================================================================================
NODE_FONT_SIZE = 10
def _node_label(node: Node) -> HtmlLabel:
    strong = node.kind == "agency"
    stroke, _, _ = style.side_style(node.side)
    colour = "white" if strong else style.INK
    rows = [f'<TR><TD><FONT COLOR="{colour}"><B>{html_text(node.label)}</B></FONT></TD></TR>']
    if node.label_zh:
        # Graphviz without a font library guesses a Chinese glyph narrower than it is drawn:
        # the cell is given the width the line takes (at least), so the box fits it.
        width = style.text_width(node.label_zh, NODE_FONT_SIZE)
        rows.append(f'<TR><TD WIDTH="{width:.0f}"><FONT COLOR="{colour}">{html_text(node.label_zh)}</FONT></TD></TR>')
    note = node.kind
    if node.kind == "mission":
        note = f"● {node.status_label}" if node.status_label else "mission"
        dot_colour = style.status_colour(node.status) if node.status_label else style.MUTED
        rows.append(f'<TR><TD><FONT POINT-SIZE="8" COLOR="{dot_colour}">{html_text(note)}</FONT></TD></TR>')
    else:
        muted = "#e8ecf5" if strong else (stroke if node.side else style.MUTED)
        rows.append(f'<TR><TD><FONT POINT-SIZE="8" COLOR="{muted}">{html_text(note)}</FONT></TD></TR>')
    return HtmlLabel(f'<TABLE BORDER="0" CELLBORDER="0" CELLPADDING="0" CELLSPACING="1">{"".join(rows)}</TABLE>')


def _node_attrs(node: Node, link: Link) -> dict[str, Any]:
    stroke, tint, strong = style.side_style(node.side)
    sides = ", ".join(sorted(node.side_labels.values())) or "no side stated"
    attrs: dict[str, Any] = {"label": _node_label(node), "URL": link(node.iri), "target": "_top",
                             "tooltip": f"{node.label} — {node.kind} — {sides}",
                             "class": f"node-{node.kind.replace(' ', '-')} side-{style.slug(node.side) or 'none'}"}
    if node.kind == "agency":
        attrs.update(shape="box", style="filled,rounded", fillcolor=strong, color=strong, penwidth=2)
    elif node.kind == "mission":
        attrs.update(shape="box", style="filled,rounded", fillcolor="white", penwidth=1.8,
                     color=style.INK, margin="0.15,0.06")
    elif len(node.sides) > 1:  # a joint item: half European, half Chinese
        tints = [style.side_style(s)[1] for s in sorted(node.sides, key=_side_order)]
        attrs.update(shape="box", style="striped", fillcolor=":".join(tints), color=style.MUTED, penwidth=1)
    else:
        shape = "note" if node.kind == "instrument" else "box"
        attrs.update(shape=shape, style="filled" if shape == "note" else "filled,rounded", fillcolor=tint,
                     color=stroke, penwidth=1.2)
    return attrs


def _side_order(side: str) -> tuple[int, str]:
    """Europe first (left), China last (right), like the map itself."""
    key = style.slug(side)
    return ({"europe": 0, "china": 2}.get(key, 1), key)


def _edge_attrs(edge: Edge, nodes: Mapping[str, Node], link: Link) -> dict[str, Any]:
    source = nodes[edge.source]
    stroke = style.side_style(source.side)[0] if source.kind in AGENT_KINDS else "#7a8291"
    text = f"{source.label} — {edge.label} → {nodes[edge.target].label}"
    attrs: dict[str, Any] = {"label": edge.label, "color": stroke, "fontcolor": stroke,
                             "tooltip": edge.via_label or text, "class": f"edge-{edge.relation}"}
    if edge.via:
        attrs.update(URL=link(edge.via), target="_top", penwidth=1.5)
    if edge.relation == "participation":
        attrs.update(style="dashed", penwidth=1.1)
    elif edge.relation in ("memberOf", "partOfMission"):
        attrs.update(style="dotted", penwidth=1.3)
        if edge.relation == "memberOf":
            attrs["label"] = ""  # five "member state" labels pile up on flat edges; the key says it
    elif edge.relation in ("carriedOn", "launchedOn"):
        attrs.update(penwidth=1.1)
    return attrs


def _legend() -> HtmlLabel:
    eu, cn, other = (style.side_style(f"x/{s}")[0] for s in ("europe", "china", "other-side"))
    cells = [
        f'<TD BGCOLOR="{eu}" WIDTH="12" HEIGHT="10"></TD><TD ALIGN="LEFT">Europe </TD>',
        f'<TD BGCOLOR="{cn}" WIDTH="12" HEIGHT="10"></TD><TD ALIGN="LEFT">China </TD>',
        f'<TD BGCOLOR="{other}" WIDTH="12" HEIGHT="10"></TD><TD ALIGN="LEFT">neither </TD>',
        '<TD ALIGN="LEFT">   ─── contribution (provided by) or carried on / launches</TD>',
        '<TD ALIGN="LEFT">   ‒ ‒ ‒ partner, operator, leads</TD>',
        '<TD ALIGN="LEFT">   ···· member state, part of</TD>',
    ]
    return HtmlLabel('<TABLE BORDER="0" CELLSPACING="3" CELLPADDING="1"><TR>'
                     f'<TD ALIGN="LEFT"><B>Key:</B></TD>{"".join(cells)}</TR></TABLE>')


def draw(network: Network, link: Link, title: str = "SpaceCoop KG cooperation map") -> Graph:
    """The map as a Graphviz graph for ``dot`` (left to right)."""
    graph = Graph(title, {"rankdir": "LR", "bgcolor": "white", "pad": "0.3", "nodesep": "0.18",
                          "ranksep": "0.5", "newrank": "true", "fontname": style.METRIC_FONT, "fontsize": 9,
                          "label": _legend(), "labelloc": "b", "labeljust": "l", "fontcolor": style.INK},
                  {"fontname": style.METRIC_FONT, "fontsize": NODE_FONT_SIZE, "fontcolor": style.INK,
                   "margin": "0.1,0.04"},
                  {"fontname": style.METRIC_FONT, "fontsize": 8.5, "arrowsize": 0.7})
    centre = graph.subgraph("missions", rank="same")
    clusters: dict[str, Graph] = {}
    for node in sorted(network.nodes.values(), key=lambda n: (n.kind, n.label)):
        attrs = _node_attrs(node, link)
        if node.kind == "mission":
            centre.node(node.iri, **attrs)
        elif node.kind in AGENT_KINDS and node.side:
            _cluster(graph, clusters, node.side).node(node.iri, **attrs)
        else:
            graph.node(node.iri, **attrs)
    for edge in network.edges:
        attrs = _edge_attrs(edge, network.nodes, link)
        a, b = network.nodes[edge.source], network.nodes[edge.target]
        if a.place > b.place:  # written head-first so dot ranks it right of the mission
            graph.edge(edge.target, edge.source, dir="back", **attrs)
        else:
            graph.edge(edge.source, edge.target, **attrs)
    return graph


CLUSTER_NAMES = {"europe": "Europe", "china": "China", "other-side": "Neither side"}


def _cluster(graph: Graph, clusters: dict[str, Graph], side: str) -> Graph:
    """The shaded box that holds one side's agencies and countries."""
    key = style.slug(side)
    if key not in clusters:
        stroke, tint, _ = style.side_style(side)
        # One rank per side: a side's agencies and countries stand in one column.
        clusters[key] = graph.subgraph(f"cluster_{key}", label=CLUSTER_NAMES.get(key, key), style="rounded,filled",
                                       color=tint, fillcolor=tint + "80", fontcolor=stroke, fontsize=11,
                                       margin="10", rank="same")
    return clusters[key]


def missions(network: Network) -> list[Node]:
    return sorted((n for n in network.nodes.values() if n.kind == "mission"), key=lambda n: n.label)


def plural(count: int, noun: str) -> str:
    """``3 agencies``, ``1 mission``.

    >>> plural(2, "agency"), plural(1, "launch vehicle"), plural(4, "mission")
    ('2 agencies', '1 launch vehicle', '4 missions')
    """
    if count == 1:
        return f"{count} {noun}"
    return f"{count} {noun[:-1]}ies" if noun.endswith("y") else f"{count} {noun}s"


def describe(network: Network) -> str:
    """A one-sentence text alternative for the picture."""
    counts: dict[str, int] = defaultdict(int)
    for n in network.nodes.values():
        counts[n.kind] += 1
    parts = [plural(v, k) for k, v in sorted(counts.items())]
    return (f"A network of {', '.join(parts)}, linked by {plural(len(network.edges), 'arrow')} (contributions "
            "and other relations); European agencies and countries on the left, Chinese ones on the right, "
            "missions between.")
