"""Content negotiation: media-type parsing and ``Accept`` matching with q-values.

Generic and dependency-free, so that the SPARQL endpoint, the linked-data pages and the
API all negotiate the same way. Media types are compared case-insensitively (RFC 9110
§8.3.1); parameters other than ``q`` are kept but do not affect matching.

>>> negotiate("text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8",
...           ["text/turtle", "text/html"])
'text/html'
>>> negotiate("application/sparql-results+json, */*;q=0.1", ["text/csv", "application/sparql-results+json"])
'application/sparql-results+json'
>>> negotiate("Text/CSV; q=0.5, text/tab-separated-values", ["text/csv", "text/tab-separated-values"])
'text/tab-separated-values'
>>> negotiate("text/*;q=0.3, text/csv;q=0", ["text/csv", "text/turtle"])
'text/turtle'
>>> negotiate("image/png", ["text/turtle"]) is None
True
>>> negotiate(None, ["text/turtle", "application/ld+json"])
'text/turtle'
>>> parse_media_type("Application/SPARQL-Query; Charset=\\"UTF-8\\"")
('application/sparql-query', {'charset': 'UTF-8'})
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class MediaRange:
    """One element of an ``Accept`` header."""

    type: str  # "text", or "*"
    subtype: str  # "csv", or "*"
    q: float
    order: int  # position in the header, for stable tie-breaking

    @property
    def specificity(self) -> int:
        """2 for ``type/subtype``, 1 for ``type/*``, 0 for ``*/*``."""
        return 0 if self.type == "*" else 1 if self.subtype == "*" else 2

    def matches(self, media_type: str) -> bool:
        """True when this range covers ``media_type`` (already lower-case)."""
        t, _, s = media_type.partition("/")
        return self.type == "*" or (self.type == t and self.subtype in ("*", s))


def parse_media_type(value: str) -> tuple[str, dict[str, str]]:
    """``"Text/Turtle; charset=utf-8"`` → ``("text/turtle", {"charset": "utf-8"})``.

    The type is lower-cased, parameter names too; parameter values keep their case
    (quotes removed). A value without a ``/`` is returned lower-cased as it is.
    """
    head, *params = value.split(";")
    out: dict[str, str] = {}
    for param in params:
        name, sep, val = param.partition("=")
        if sep and name.strip():
            out[name.strip().lower()] = val.strip().strip('"')
    return head.strip().lower(), out


def _quality(params: dict[str, str]) -> float | None:
    raw = params.get("q", "1")
    try:
        q = float(raw)
    except ValueError:
        return None
    return q if 0.0 <= q <= 1.0 else None


def parse_accept(header: str | None) -> list[MediaRange]:
    """The ranges of an ``Accept`` header; malformed elements are ignored (RFC 9110 §12.5.1).

    >>> [(r.type, r.subtype, r.q) for r in parse_accept("text/*;q=0.5, bogus, a/b;q=x")]
    [('text', '*', 0.5)]
    """
    ranges = []
    for order, element in enumerate((header or "").split(",")):
        media, params = parse_media_type(element)
        t, slash, s = media.partition("/")
        q = _quality(params)
        if not slash or not t or not s or q is None or (t == "*" and s != "*"):
            continue
        ranges.append(MediaRange(t, s, q, order))
    return ranges


def _score(offer: str, ranges: Sequence[MediaRange]) -> tuple[float, int]:
    """(q, specificity) of the most specific range that covers ``offer``; q=0 if none does."""
    best: MediaRange | None = None
    for r in ranges:
        if r.matches(offer) and (best is None or (r.specificity, -r.order) > (best.specificity, -best.order)):
            best = r
    return (best.q, best.specificity) if best else (0.0, -1)


def negotiate(accept_header: str | None, offers: Sequence[str]) -> str | None:
    """The offer the client prefers, or None when it accepts none of them.

    The q-value of an offer comes from the most specific range covering it (so
    ``text/csv;q=0`` excludes CSV even under ``text/*``). Among equal q-values an exact
    match beats a wildcard match, then the server's order of ``offers`` decides. A
    missing, empty or wholly malformed header accepts anything: the first offer wins.
    """
    if not offers:
        return None
    ranges = parse_accept(accept_header)
    if not ranges:  # no header, or nothing parseable in it: the client states no preference
        return offers[0]
    best, best_key = None, (0.0, -1, 0)
    for index, offer in enumerate(offers):
        q, specificity = _score(offer.lower(), ranges)
        key = (q, specificity, -index)
        if q > 0 and (best is None or key > best_key):
            best, best_key = offer, key
    return best


__all__ = ["MediaRange", "negotiate", "parse_accept", "parse_media_type"]
