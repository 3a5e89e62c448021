"""The timeline: every mission and event, one row per mission, on a time axis.

Rows come from the ``timeline-items`` saved query. Each thing is drawn at the precision
its dates have (see ``dates``): a day is a diamond, a month or a year a box exactly that
long, a window between two bounds a dashed box, an open bound ("no earlier than April
2026") an arrow that fades out, a mission period with vague ends a bar whose ends fade.

Positions come from the dates — layout by data, not a layout algorithm — so the nodes
are pinned (``pos="x,y!"``) and Graphviz's ``neato -n2`` draws them: shapes, gradients,
text measured with the real fonts, links and tooltips (docs/pictures.md explains why).
The axis is piecewise linear: a year in which something starts, ends or happens is wide
enough to show months; a year in which nothing does is drawn narrow, and every year
keeps its gridline and so stays visible as one year.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from spacecoop.pictures import style
from spacecoop.pictures.dates import Period, parse_period, window_text, year_fraction
from spacecoop.pictures.graphviz import Graph, HtmlLabel, html_text
from spacecoop.rdf.results import Term

Row = Mapping[str, Term]
Link = Callable[[str], str]

# Geometry, in points (1/72 inch), the unit of neato -n2 positions.
LABEL_W = 180.0  # row-label column
GAP = 18.0
ACTIVE_YEAR = 60.0
QUIET_YEAR = 14.0
BAR_H = 10.0
LINE_H = 11.5
LANE_PAD = 7.0
ROW_PAD = 8.0
UNDATED_W = 165.0
OPEN_ARROW = 44.0  # length of an event's open-ended arrow
FONT_SIZE = 9.5
TITLE_W = 170.0  # item titles wrap at this width
SMALL = 8.5


@dataclass(frozen=True)
class Status:
    """A lifecycle status concept, as the graph labels and orders it."""

    iri: str
    label: str
    order: float = 99.0


@dataclass
class Item:
    """One mission or event with its dates read at their precision."""

    iri: str
    kind: str  # mission | event
    label: str
    label_zh: str | None = None
    type_label: str | None = None
    status: Status | None = None
    date: Period | None = None
    earliest: Period | None = None
    latest: Period | None = None
    date_text: str | None = None
    group: str = ""
    group_rank: int = 99

    @property
    def form(self) -> str:
        """How the item is drawn: point, unit, period, window, from, until or undated."""
        if self.date is not None:
            return "point" if self.date.precision == "day" else "unit"
        if self.earliest and self.latest:
            if self.earliest == self.latest:
                return "unit"
            return "period" if self.kind == "mission" else "window"
        if self.earliest:
            return "from"
        if self.latest:
            return "until"
        return "undated"

    @property
    def start(self) -> dt.date | None:
        """The earliest day the item can cover (None when undated or open to the left)."""
        first = self.date or self.earliest
        return first.start if first else None

    @property
    def end(self) -> dt.date | None:
        """The day after the last day the item can cover (None when open to the right)."""
        last = self.date or self.latest
        return last.end if last else None

    @property
    def when(self) -> str:
        """The date as the picture writes it — never more precise than the data."""
        form = self.form
        if form in ("point", "unit"):
            return (self.date or self.earliest or self.latest).text  # type: ignore[union-attr]
        if form in ("period", "window"):
            return window_text(self.earliest, self.latest)  # type: ignore[arg-type]
        if form == "from":
            return f"no earlier than {self.earliest.text}"  # type: ignore[union-attr]
        if form == "until":
            return f"no later than {self.latest.text}"  # type: ignore[union-attr]
        return "date not stated in the source"

    @property
    def precision(self) -> str | None:
        period = self.date or self.earliest or self.latest
        return period.precision if period else None

    def as_json(self, link: Link) -> dict[str, Any]:
        """The item for the JSON form of the page."""
        return {
            "iri": self.iri, "href": link(self.iri), "kind": self.kind, "type": self.type_label,
            "label": self.label, "labelZh": self.label_zh,
            "status": self.status.iri if self.status else None,
            "statusLabel": self.status.label if self.status else None,
            "date": _iso(self.date), "earliest": _iso(self.earliest), "latest": _iso(self.latest),
            "precision": self.precision, "dateText": self.date_text, "when": self.when,
            "form": self.form, "group": self.group or None,
        }


@dataclass
class Group:
    """One row of the timeline: a mission (or spacecraft, agreement …) and its items."""

    iri: str
    label: str
    label_zh: str | None = None
    status: Status | None = None
    items: list[Item] = field(default_factory=list)

    @property
    def start(self) -> dt.date | None:
        starts = [i.start or i.end for i in self.items if i.form != "undated"]
        return min((s for s in starts if s), default=None)


def _iso(p: Period | None) -> str | None:
    if p is None:
        return None
    return {"day": p.start.isoformat(), "month": p.start.isoformat()[:7]}.get(p.precision, str(p.start.year))


def _value(row: Row, key: str) -> str | None:
    term = row.get(key)
    return term[1] if term else None


def _period(row: Row, key: str) -> Period | None:
    term = row.get(key)
    if not term or term[0] != "literal":
        return None
    return parse_period(term[1], term[3])


def _status(row: Row, prefix: str) -> Status | None:
    iri = _value(row, f"{prefix}tatus")
    if not iri:
        return None
    order = _value(row, f"{prefix}tatusOrder")
    try:
        rank = float(order) if order is not None else 99.0
    except ValueError:
        rank = 99.0
    return Status(iri, _value(row, f"{prefix}tatusLabel") or style.slug(iri), rank)


# =====================================================================================
# From query rows to groups of items
# =====================================================================================
def build_groups(rows: Sequence[Row]) -> list[Group]:
    """Items (one per IRI, in its best-ranked group) gathered into ordered rows."""
    items: dict[str, Item] = {}
    groups: dict[str, Group] = {}
    for row in rows:
        iri = _value(row, "item")
        if not iri:
            continue
        rank = int(_value(row, "groupRank") or 99)
        current = items.get(iri)
        if current is not None and current.group_rank <= rank:
            continue
        items[iri] = _item(row, iri, rank)
        group = _value(row, "group") or ""
        if group and group not in groups:
            groups[group] = Group(group, _value(row, "groupLabel") or style.slug(group),
                                  _value(row, "groupLabelZh"), _status(row, "groupS"))
    other = Group("", "Other events")
    for item in items.values():
        groups.get(item.group, other).items.append(item)
    if other.items:
        groups[""] = other
    for g in groups.values():
        g.items.sort(key=lambda i: (i.iri != g.iri, i.start or dt.date.max, i.label))
    ordered = [g for g in groups.values() if g.items]
    ordered.sort(key=lambda g: (g.start is None, g.start or dt.date.max, g.label.lower()))
    return ordered


def _item(row: Row, iri: str, rank: int) -> Item:
    return Item(
        iri=iri, kind=_value(row, "kind") or "event", label=_value(row, "label") or style.slug(iri),
        label_zh=_value(row, "labelZh"), type_label=_value(row, "typeLabel"), status=_status(row, "s"),
        date=_period(row, "date"), earliest=_period(row, "earliest"), latest=_period(row, "latest"),
        date_text=_value(row, "dateText"), group=_value(row, "group") or "", group_rank=rank,
    )


def all_items(groups: Sequence[Group]) -> list[Item]:
    return [i for g in groups for i in g.items]


# =====================================================================================
# The time axis
# =====================================================================================
@dataclass
class Axis:
    """A piecewise-linear time axis: wide years where things happen, narrow ones between."""

    x0: float
    years: list[int]
    widths: dict[int, float]

    @classmethod
    def for_items(cls, items: Sequence[Item], x0: float) -> Axis:
        dated = [i for i in items if i.form != "undated"]
        if not dated:
            this = dt.date.today().year
            return cls(x0, [this], {this: ACTIVE_YEAR})
        active: set[int] = set()
        for i in dated:
            for p in (i.date, i.earliest, i.latest):
                if p is not None:
                    active.update({p.start.year, p.last_day.year})
        first, last = min(active), max(active)
        if any(i.form == "from" for i in dated):
            last += 1  # room for open-ended arrows to run on
        years = list(range(first, last + 1))
        return cls(x0, years, {y: ACTIVE_YEAR if y in active else QUIET_YEAR for y in years})

    @property
    def x1(self) -> float:
        return self.x0 + sum(self.widths.values())

    def year_x(self, year: int) -> float:
        """The x of 1 January of ``year`` (clamped to the axis)."""
        if year <= self.years[0]:
            return self.x0
        if year > self.years[-1]:
            return self.x1
        return self.x0 + sum(self.widths[y] for y in self.years if y < year)

    def x(self, day: dt.date) -> float:
        """The x of a day."""
        if day.year > self.years[-1]:
            return self.x1
        if day.year < self.years[0]:
            return self.x0
        return self.year_x(day.year) + year_fraction(day) * self.widths[day.year]


# =====================================================================================
# Placing items in lanes
# =====================================================================================
@dataclass
class Placed:
    """An item's marker span and text lines, once placed on the axis."""

    item: Item
    x0: float
    x1: float
    lines: list[tuple[str, str]]  # (kind, text); kind is title | when | words
    lane: int = 0

    @property
    def text_w(self) -> float:
        return max((style.text_width(t, FONT_SIZE if k == "title" else SMALL, k == "title")
                    for k, t in self.lines), default=0.0) + 6

    @property
    def right(self) -> float:
        return max(self.x1, self.x0 - 3 + self.text_w)


def _lines(item: Item, own: bool) -> list[tuple[str, str]]:
    lines = [] if own else _wrap_lines([("title", item.label)], TITLE_W)
    lines.append(("when", item.when))
    if item.date_text and item.date_text.strip().lower() != item.when.lower():
        lines.append(("words", f"“{item.date_text}”"))
    return lines


def _span(item: Item, axis: Axis) -> tuple[float, float]:
    form = item.form
    if form == "point":
        x = axis.x(item.date.start)  # type: ignore[union-attr]
        return x - 4.5, x + 4.5
    if form == "from":
        x = axis.x(item.earliest.start)  # type: ignore[union-attr]
        return x, axis.x1 if item.kind == "mission" else x + OPEN_ARROW
    if form == "until":
        x = axis.x(item.latest.end)  # type: ignore[union-attr]
        return x - OPEN_ARROW, x
    return axis.x(item.start), max(axis.x(item.end) - 0.01, axis.x(item.start) + 2.5)  # type: ignore[arg-type]


def place(group: Group, axis: Axis) -> tuple[list[Placed], list[Item]]:
    """Dated items in lanes (greedy, first lane where the text fits) and undated items."""
    placed: list[Placed] = []
    lanes_end: list[float] = []
    dated = [i for i in group.items if i.form != "undated"]
    undated = [i for i in group.items if i.form == "undated" and i.iri != group.iri]
    for item in sorted(dated, key=lambda i: (i.iri != group.iri, _span(i, axis)[0])):
        x0, x1 = _span(item, axis)
        p = Placed(item, x0, x1, _lines(item, own=item.iri == group.iri))
        left = min(x0, x1 - 3) if item.form == "until" else x0
        for lane, end in enumerate(lanes_end):
            if left > end + 8:
                p.lane = lane
                lanes_end[lane] = p.right
                break
        else:
            p.lane = len(lanes_end)
            lanes_end.append(p.right)
        placed.append(p)
    return placed, undated


def lane_height(placed: Sequence[Placed], lane: int) -> float:
    lines = max((len(p.lines) for p in placed if p.lane == lane), default=1)
    return BAR_H + 3 + lines * LINE_H + LANE_PAD


# =====================================================================================
# Drawing
# =====================================================================================
@dataclass
class Canvas:
    """Pinned nodes in top-down coordinates, flipped to Graphviz's bottom-up y at the end."""

    graph: Graph
    pending: list[tuple[str, float, float, dict[str, Any]]] = field(default_factory=list)
    counter: int = 0

    def put(self, name: str, x: float, y: float, **attrs: Any) -> None:
        """Place a node with its centre at (x, y), y measured downwards.

        Node ids must be unique, so a counter is appended; ``readable_titles`` removes it
        from the SVG's <title> elements again.
        """
        self.counter += 1
        self.pending.append((f"{name} [{self.counter}]", x, y, attrs))

    def flush(self, total_height: float) -> None:
        """Write the nodes into the graph, y flipped (Graphviz's y grows upwards)."""
        for name, x, y, attrs in self.pending:
            self.graph.node(name, pos=f"{x:.2f},{total_height - y:.2f}!", **attrs)
        self.pending.clear()


def _box(canvas: Canvas, name: str, x0: float, x1: float, y: float, h: float, **attrs: Any) -> None:
    width = max(x1 - x0, 0.5)
    canvas.put(name, (x0 + x1) / 2, y, shape=attrs.pop("shape", "box"), width=width / 72, height=h / 72,
               fixedsize="true", label=attrs.pop("label", ""), **attrs)


def _text_node(canvas: Canvas, name: str, x_left: float, y_top: float, lines: Sequence[tuple[str, str]],
               colour: str = style.INK, **attrs: Any) -> float:
    """A left-aligned block of text lines; returns its height."""
    rows = []
    for kind, text in lines:
        t = html_text(text)
        if kind == "title":
            rows.append(f'<TR><TD ALIGN="LEFT"><FONT COLOR="{colour}">{t}</FONT></TD></TR>')
        elif kind == "words":
            rows.append(f'<TR><TD ALIGN="LEFT"><FONT POINT-SIZE="{SMALL}" COLOR="{style.MUTED}"><I>{t}</I>'
                        "</FONT></TD></TR>")
        elif kind == "bold":
            rows.append(f'<TR><TD ALIGN="LEFT"><FONT COLOR="{colour}"><B>{t}</B></FONT></TD></TR>')
        else:
            rows.append(f'<TR><TD ALIGN="LEFT"><FONT POINT-SIZE="{SMALL}" COLOR="{style.MUTED}">{t}</FONT>'
                        "</TD></TR>")
    width = max((style.text_width(t, FONT_SIZE, k in ("title", "bold")) for k, t in lines), default=10) + 8
    height = len(lines) * LINE_H + 2
    table = (f'<TABLE BORDER="0" CELLBORDER="0" CELLPADDING="0" CELLSPACING="0" FIXEDSIZE="TRUE" '
             f'WIDTH="{width:.0f}" HEIGHT="{height:.0f}">{"".join(rows)}</TABLE>')
    canvas.put(name, x_left + width / 2, y_top + height / 2, shape="plaintext", width=width / 72,
               height=height / 72, fixedsize="true", label=HtmlLabel(table), margin="0", **attrs)
    return height


def _tooltip(item: Item) -> str:
    parts = [item.label]
    if item.label_zh:
        parts[0] += f" ({item.label_zh})"
    if item.type_label:
        parts.append(item.type_label)
    parts.append(item.when)
    if item.date_text:
        parts.append(f"“{item.date_text}”")
    parts.append(f"status: {item.status.label}" if item.status else "status not stated")
    return " — ".join(parts)


def _marker(canvas: Canvas, p: Placed, y: float, link: Link, axis: Axis) -> None:
    """The shape that shows an item's time extent at its precision."""
    item = p.item
    colour = style.status_colour(item.status.iri if item.status else None)
    common = {"URL": link(item.iri), "tooltip": _tooltip(item), "target": "_top",
              "class": f"item {item.kind} form-{item.form}"}
    name = f"{item.label}: {item.when}"
    form = item.form
    if form == "point":
        _box(canvas, name, p.x0, p.x1, y, 9, shape="diamond", style="filled", fillcolor=colour,
             color="white", penwidth=0.8, **common)
    elif form == "unit":
        _box(canvas, name, p.x0, p.x1, y, BAR_H, style="filled", fillcolor=colour, color=colour,
             penwidth=0.6, **common)
    elif form == "window":
        _box(canvas, name, p.x0, p.x1, y, BAR_H, style="filled,dashed", fillcolor=colour + "40",
             color=colour, penwidth=1.1, **common)
    elif form == "from":
        _box(canvas, name, p.x0, p.x1, y, BAR_H + 4, shape="rarrow", style="filled", gradientangle=0,
             fillcolor=f"{colour}:{colour}30", penwidth=0, **common)
    elif form == "until":
        _box(canvas, name, p.x0, p.x1, y, BAR_H + 4, shape="larrow", style="filled", gradientangle=0,
             fillcolor=f"{colour}30:{colour}", penwidth=0, **common)
    else:  # period: the bounding units fade in and out, the sure middle is solid
        _draw_period(canvas, p, y, axis, colour, name, common)


def _draw_period(canvas: Canvas, p: Placed, y: float, axis: Axis, colour: str, name: str,
            common: dict[str, Any]) -> None:
    """A period whose bounds are units: fade in over the first, fade out over the last."""
    item = p.item
    inner0 = min(axis.x(item.earliest.end), p.x1)  # type: ignore[union-attr]
    inner1 = max(axis.x(item.latest.start), inner0)  # type: ignore[union-attr]
    _box(canvas, f"{name} (start)", p.x0, inner0, y, BAR_H, style="filled", gradientangle=0,
         fillcolor=f"{colour}10:{colour}", **common)
    if inner1 > inner0:
        _box(canvas, f"{name} (middle)", inner0, inner1, y, BAR_H, style="filled", fillcolor=colour, **common)
    _box(canvas, f"{name} (end)", inner1, p.x1, y, BAR_H, style="filled", gradientangle=0,
         fillcolor=f"{colour}:{colour}10", **common)
    _box(canvas, name, p.x0, p.x1, y, BAR_H + 3, style="dashed", color=colour, penwidth=1.0, **common)


def _row_label(canvas: Canvas, group: Group, y_top: float, link: Link) -> float:
    lines: list[tuple[str, str]] = [("bold", group.label)]
    if group.label_zh:
        lines.append(("title", group.label_zh))
    lines.append(("when", f"● {group.status.label}" if group.status else "status not stated"))
    attrs: dict[str, Any] = {"class": "row-label"}
    if group.iri:
        attrs.update(URL=link(group.iri), tooltip=f"{group.label} — open its page", target="_top")
    colour = style.status_colour(group.status.iri if group.status else None)
    _box(canvas, f"{group.label}: status", 6, 10, y_top + 6, 8, style="filled", fillcolor=colour,
         penwidth=0, **{"class": "decor"})
    return _text_node(canvas, f"{group.label} (row)", 16, y_top, _wrap_lines(lines, LABEL_W - 22), **attrs)


def _wrap_lines(lines: Sequence[tuple[str, str]], width: float) -> list[tuple[str, str]]:
    """Wrap long label lines at spaces so they stay inside the label column."""
    out: list[tuple[str, str]] = []
    for kind, text in lines:
        words, line = text.split(" "), ""
        for w in words:
            trial = f"{line} {w}".strip()
            if line and style.text_width(trial, FONT_SIZE, kind == "bold") > width:
                out.append((kind, line))
                line = w
            else:
                line = trial
        out.append((kind, line))
    return out


def _draw_row(canvas: Canvas, group: Group, axis: Axis, y_top: float, link: Link, undated_x: float) -> float:
    """One row: its label, its items in lanes, its undated items; returns the row height."""
    placed, undated = place(group, axis)
    label_h = _row_label(canvas, group, y_top + ROW_PAD, link)
    lane_tops, y = [], y_top + ROW_PAD
    for lane in range(max((p.lane for p in placed), default=-1) + 1):
        lane_tops.append(y)
        y += lane_height(placed, lane)
    for p in placed:
        top = lane_tops[p.lane]
        _marker(canvas, p, top + BAR_H / 2, link, axis)
        colour = style.status_colour(p.item.status.iri if p.item.status else None)
        text_x = p.x0 - 2 if p.item.form != "until" else min(p.x0, p.x1 - p.text_w + 4)
        _text_node(canvas, f"{p.item.label} (label)", text_x, top + BAR_H + 2, p.lines,
                   colour=style.INK if colour != "#9A9A9A" else style.MUTED, URL=link(p.item.iri),
                   tooltip=_tooltip(p.item), target="_top", **{"class": "item-label"})
    if not placed:
        _text_node(canvas, f"{group.label}: no dates", axis.x0 + 4, y_top + ROW_PAD,
                   [("words", "no dates in the source")], **{"class": "decor"})
        y = y_top + ROW_PAD + LINE_H + LANE_PAD
    uy = y_top + ROW_PAD
    for item in undated:
        _box(canvas, f"{item.label}: {item.when}", undated_x, undated_x + 8, uy + 5, 8, shape="circle",
             style="filled", fillcolor="white", color=style.status_colour(item.status.iri if item.status else None),
             penwidth=1.6, URL=link(item.iri), tooltip=_tooltip(item), target="_top",
             **{"class": f"item {item.kind} form-undated"})
        uy += _text_node(canvas, f"{item.label} (label)", undated_x + 12, uy,
                         _wrap_lines([("title", item.label), ("when", "date not stated")], UNDATED_W - 20),
                         URL=link(item.iri), tooltip=_tooltip(item), target="_top",
                         **{"class": "item-label"}) + 4
    return max(y, y_top + ROW_PAD + label_h, uy) - y_top + ROW_PAD / 2


def _draw_axis(canvas: Canvas, axis: Axis, top: float, bottom: float) -> None:
    """Year gridlines and year numbers above and below the rows."""
    for year in [*axis.years, axis.years[-1] + 1]:
        x = axis.year_x(year) if year <= axis.years[-1] else axis.x1
        strong = year % 10 == 0
        _box(canvas, f"grid {year}", x - 0.35, x + 0.35, (top + bottom) / 2, bottom - top, style="filled",
             fillcolor="#c9d0dc" if strong else style.GRID, penwidth=0, **{"class": "decor"})
    for year in axis.years:
        w = axis.widths[year]
        if w < ACTIVE_YEAR and year % 5:
            continue  # a quiet year's number would not fit; its gridline still shows it
        x = axis.year_x(year) + w / 2
        size = "9" if w >= ACTIVE_YEAR else "7.5"
        for y in (top - 8, bottom + 8):
            canvas.put(f"year {year}", x, y, shape="plaintext", label=str(year), fontsize=size, width=w / 72,
                       height=0.16, fixedsize="true", fontcolor=style.MUTED, **{"class": "decor axis-year"})


# (text, width, node attributes): one sample of each way a date is drawn.
_PRECISION_SAMPLES: list[tuple[str, float, dict[str, Any]]] = [
    ("a day", 9, {"shape": "diamond", "style": "filled", "fillcolor": style.INK}),
    ("a month or year, drawn that long", 14, {"style": "filled", "fillcolor": style.INK}),
    ("somewhere between two dates", 22, {"style": "filled,dashed", "fillcolor": style.INK + "40",
                                         "color": style.INK}),
    ("open-ended (no earlier than …)", 26, {"shape": "rarrow", "style": "filled", "gradientangle": 0,
                                            "fillcolor": f"{style.INK}:{style.INK}30"}),
    ("vague period (fading ends)", 22, {"style": "filled", "gradientangle": 0,
                                        "fillcolor": f"{style.INK}10:{style.INK}"}),
]


def _draw_legend(canvas: Canvas, statuses: Sequence[Status | None], x: float, y: float) -> float:
    """The status colours and the precision shapes; returns the legend's height."""
    canvas.put("legend: colour shows the status", x + 40, y, shape="plaintext", label="Colour = status:",
               fontsize="9", width=80 / 72, height=0.2, fixedsize="true", fontcolor=style.INK,
               **{"class": "decor"})
    cx = x + 88
    for status in statuses:
        label = status.label if status else "not stated"
        colour = style.status_colour(status.iri if status else None)
        _box(canvas, f"legend: {label}", cx, cx + 14, y, 9, style="filled", fillcolor=colour, penwidth=0,
             **{"class": "legend"})
        w = style.text_width(label, 9) + 6
        canvas.put(f"legend text: {label}", cx + 18 + w / 2, y, shape="plaintext", label=label, fontsize="9",
                   width=w / 72, height=0.2, fixedsize="true", **{"class": "decor"})
        cx += 18 + w + 12
    y2 = y + 20
    canvas.put("legend: shape shows the precision", x + 40, y2, shape="plaintext", label="Shape = precision:",
               fontsize="9", width=80 / 72, height=0.2, fixedsize="true", fontcolor=style.INK,
               **{"class": "decor"})
    cx = x + 96
    for text, width, attrs in _PRECISION_SAMPLES:
        height = 9.0 if attrs.get("shape") == "diamond" else BAR_H
        _box(canvas, f"legend: {text}", cx, cx + width, y2, height, penwidth=1 if "color" in attrs else 0,
             **attrs, **{"class": "decor"})
        tw = style.text_width(text, 9) + 6
        canvas.put(f"legend text: {text}", cx + width + 4 + tw / 2, y2, shape="plaintext", label=text,
                   fontsize="9", width=tw / 72, height=0.2, fixedsize="true", **{"class": "decor"})
        cx += width + 4 + tw + 14
    return 36.0


def legend_statuses(items: Sequence[Item], groups: Sequence[Group]) -> list[Status | None]:
    """The statuses drawn, in the graph's own order, then 'not stated' when used."""
    found: dict[str, Status] = {}
    for status in [*(i.status for i in items), *(g.status for g in groups)]:
        if status is not None:
            found[status.iri] = status
    known: list[Status] = sorted(found.values(), key=lambda s: (s.order, s.label))
    ordered: list[Status | None] = [*known]
    if any(i.status is None for i in items):
        ordered.append(None)
    return ordered


def draw(groups: Sequence[Group], link: Link, title: str = "SpaceCoop KG timeline") -> Graph:
    """The whole timeline as a Graphviz graph of pinned nodes.

    ``link`` maps an IRI to the href its picture element gets.
    """
    graph = Graph(title, {"bgcolor": "white", "pad": "0.25", "outputorder": "nodesfirst",
                          "fontname": style.METRIC_FONT, "splines": "false"},
                  {"fontname": style.METRIC_FONT, "fontsize": FONT_SIZE, "fontcolor": style.INK, "penwidth": 0})
    canvas = Canvas(graph)
    items = all_items(groups)
    axis = Axis.for_items(items, LABEL_W + GAP)
    undated_x = axis.x1 + GAP + 12
    legend_h = _draw_legend(canvas, legend_statuses(items, groups), 0, 8)
    top = legend_h + 30
    if any(i.form == "undated" and i.iri != g.iri for g in groups for i in g.items):
        canvas.put("column: date not stated", undated_x + UNDATED_W / 2, top - 8, shape="plaintext",
                   label="date not stated", fontsize="9", width=UNDATED_W / 72, height=0.2, fixedsize="true",
                   fontcolor=style.MUTED, **{"class": "decor"})
    start, y = len(canvas.pending), top
    for group in groups:
        h = _draw_row(canvas, group, axis, y, link, undated_x)
        canvas.put(f"{group.label}: row rule", (undated_x + UNDATED_W) / 2, y + h, shape="box",
                   width=(undated_x + UNDATED_W) / 72, height=0.6 / 72, fixedsize="true", style="filled",
                   fillcolor=style.LINE, label="", **{"class": "decor"})
        y += h
    bottom, mark = y, len(canvas.pending)
    _draw_axis(canvas, axis, top, bottom)
    # Nodes are painted in order and the gridlines must lie under the rows, but their
    # length is only known once the rows are placed: move them in front of the rows.
    canvas.pending[start:] = canvas.pending[mark:] + canvas.pending[start:mark]
    total = bottom + 24
    canvas.flush(total)
    return canvas.graph

