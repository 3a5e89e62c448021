"""Shared look of the pictures: fonts, the status and side palettes, text measuring.

Colours follow the Okabe–Ito palette (readable by colour-blind readers); the European
and Chinese sides reuse the site's own ``--eu`` / ``--cn`` colours from site.css.

>>> status_colour("https://spacecoop.example/resource/status-planned")
'#E69F00'
>>> status_colour(None) == NOT_STATED
True
>>> text_width("Tianwen-3", 10) < text_width("天问三号", 10) * 2 < text_width("Tianwen-3", 10, bold=True) * 2
True
"""

from __future__ import annotations

import unicodedata

# Graphviz measures text by the font's name, and has metrics for "Liberation Sans" (Arial's,
# which it shares), not for a list of names: the DOT names METRIC_FONT, and the finished SVG
# names FONT, so a browser picks the same faces when it has them and falls back in order.
METRIC_FONT = "Liberation Sans"
FONT = "Liberation Sans,Arial,Noto Sans CJK SC,sans-serif"
INK = "#1d2330"
MUTED = "#5b6475"
LINE = "#d9dee7"
GRID = "#e6e9ef"

NOT_STATED = "#5b6475"  # events and missions whose status the source does not give
STATUS_COLOURS = {
    "status-operational": "#009E73",
    "status-completed": "#0072B2",
    "status-in-development": "#56B4E9",
    "status-planned": "#E69F00",
    "status-proposed": "#CC79A7",
    "status-under-consideration": "#C9B200",
    "status-cancelled": "#9A9A9A",
}
# Statuses added to the data later get these, in order of first appearance.
FALLBACK_COLOURS = ("#D55E00", "#8E6C8A", "#2E8B57", "#A0522D")

SIDE_STYLE = {  # side slug → (stroke, fill tint, strong fill for agencies)
    "europe": ("#1f4fa3", "#dfe8f7", "#1f4fa3"),
    "china": ("#b3261e", "#f8e0dd", "#b3261e"),
    "other-side": ("#6b7280", "#eceef1", "#6b7280"),
}
NO_SIDE = ("#6b7280", "#ffffff", "#6b7280")

_fallbacks: dict[str, str] = {}


def slug(iri: str | None) -> str:
    """The last path segment of an IRI (``…/resource/status-planned`` → ``status-planned``)."""
    return (iri or "").rstrip("/").rsplit("/", 1)[-1].rsplit("#", 1)[-1]


def status_colour(status_iri: str | None) -> str:
    """The colour of a status (a stable fallback colour for statuses we have not seen)."""
    if not status_iri:
        return NOT_STATED
    key = slug(status_iri)
    if key in STATUS_COLOURS:
        return STATUS_COLOURS[key]
    if key not in _fallbacks:
        _fallbacks[key] = FALLBACK_COLOURS[len(_fallbacks) % len(FALLBACK_COLOURS)]
    return _fallbacks[key]


def side_style(side_iri: str | None) -> tuple[str, str, str]:
    """(stroke, tint, strong) colours of a side."""
    return SIDE_STYLE.get(slug(side_iri), NO_SIDE) if side_iri else NO_SIDE


def _char_em(ch: str) -> float:
    if unicodedata.east_asian_width(ch) in ("W", "F"):
        return 1.0
    if ch in "il.,:;'’|!()[] ":
        return 0.28
    if ch in "mwMW":
        return 0.85
    if ch.isupper() or ch.isdigit():
        return 0.64
    return 0.52


def text_width(text: str, size: float, bold: bool = False) -> float:
    """An estimate of the drawn width of ``text`` in points (Liberation Sans metrics).

    Only used to keep labels from overlapping; Graphviz measures the real text itself.
    """
    width = sum(_char_em(ch) for ch in text) * size
    return width * (1.08 if bold else 1.0)
