"""The label index inside SPARQL: a SERVICE the endpoint answers itself, never over a network.

    PREFIX scs: <https://spacecoop.example/search#>
    SELECT ?entity ?label ?score WHERE {
      SERVICE <https://spacecoop.example/search> {
        ?entity scs:query "嫦娥" ; scs:label ?label ; scs:score ?score ; scs:limit 5 .
      }
      ?entity a ?type .
    }

Before any rule reads the query, each such block is replaced by a ``VALUES`` block of the
index's hits (best first), so the hits join the graph like any other solutions, and what
runs is an ordinary query with no SERVICE left. Inside the block, only these, for one
subject variable: ``scs:query "text"`` (required), ``scs:lang "en"``, ``scs:type <class>``,
``scs:limit n`` (at most 100; 10 by default), ``scs:score ?v``, ``scs:label ?v`` — anything
else is a 400 that says so. The service IRI must be written in full (as every SERVICE on
this endpoint); spelt another way it is just a SERVICE call, refused by the usual rules.

>>> class Index:
...     def search(self, text, lang=None, type_iri=None, limit=10):
...         from spacecoop.linked.search import Hit
...         return [Hit("https://spacecoop.example/resource/smile", "SMILE", "en", (), 2.5, "«SMILE»")][:limit]
>>> q = ('SELECT * { SERVICE <https://spacecoop.example/search> '
...      '{ ?e <https://spacecoop.example/search#query> "smile" } }')
>>> print(expand(q, lambda: Index()))
SELECT * { VALUES (?e) { (<https://spacecoop.example/resource/smile>) } }
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

import pyoxigraph as ox

from spacecoop import config
from spacecoop.engine.query_rules import QueryError
from spacecoop.linked.search import Hit
from spacecoop.rdf import sparql_text

SERVICE_IRI = config.CANONICAL_BASE + "search"
TERMS = SERVICE_IRI + "#"  # scs:query, scs:lang, scs:type, scs:limit, scs:score, scs:label
DEFAULT_LIMIT, MAX_LIMIT = 10, 100
RETRY = 5
_USAGE = (f"the search service takes one subject variable with {TERMS}query \"text\" and optionally "
          f"lang \"en\", type <class>, limit n (at most {MAX_LIMIT}), score ?v and label ?v")


class Searchable(Protocol):
    """What ``expand`` asks: the label index (``search.SearchIndex``)."""

    def search(self, text: str, lang: str | None = None, type_iri: str | None = None,
               limit: int = 10) -> list[Hit]: ...


@dataclass
class _Call:
    subject: str = ""
    text: str | None = None
    lang: str | None = None
    type_iri: str | None = None
    limit: int = DEFAULT_LIMIT
    score: str | None = None
    label: str | None = None


def expand(text: str, index: Callable[[], Searchable | None]) -> str:
    """``text`` with every search SERVICE block replaced by the VALUES of its hits; the text
    itself when it calls no such service. QueryError 400 for a block it cannot read, 503
    (with Retry-After) while the index is being built."""
    if SERVICE_IRI not in text:
        return text
    tokens = [t for t in sparql_text.tokens(text) if t[0] not in ("ws", "comment")]
    prefixes = _prefixes(tokens)
    out, at = [], 0
    i = 0
    while i < len(tokens):
        kind, offset, token = tokens[i]
        if kind == "word" and token.upper() == "SERVICE":
            j = i + 1
            if j < len(tokens) and tokens[j][0] == "word" and tokens[j][2].upper() == "SILENT":
                j += 1
            if j < len(tokens) and tokens[j][0] == "iri" and tokens[j][2] == f"<{SERVICE_IRI}>":
                call, end = _read_block(tokens, j + 1, prefixes)
                out += [text[at:offset], _values(call, _index(index))]
                at = tokens[end][1] + 1
                i = end
        i += 1
    return "".join(out) + text[at:]


def _index(index: Callable[[], Searchable | None]) -> Searchable:
    found = index()
    if found is None:
        err = QueryError(503, f"the search index is not ready (it is built after start); try again in {RETRY} s")
        err.retry_after = RETRY
        raise err
    return found


def _prefixes(tokens: list[tuple[str, int, str]]) -> dict[str, str]:
    out = {}
    for a, b, c in zip(tokens, tokens[1:], tokens[2:], strict=False):
        if a[0] == "word" and a[2].upper() == "PREFIX" and b[0] == "pname" and c[0] == "iri":
            out[b[2].rstrip(":")] = c[2][1:-1]
    return out


def _read_block(tokens: list[tuple[str, int, str]], i: int, prefixes: dict[str, str]) -> tuple[_Call, int]:
    """The call in ``{ … }`` starting at token ``i``; the index of its closing brace."""
    if i >= len(tokens) or tokens[i][2] != "{":
        raise QueryError(400, _USAGE)
    call, i = _Call(), i + 1
    if i >= len(tokens) or tokens[i][0] != "var":
        raise QueryError(400, _USAGE)
    call.subject = "?" + tokens[i][2][1:]
    i += 1
    while i + 1 < len(tokens) and tokens[i][2] != "}":
        term = _term(tokens[i], prefixes)
        kind, _, value = tokens[i + 1]
        _set(call, term, kind, value)
        i += 2
        if i < len(tokens) and tokens[i][2] in (";", "."):
            i += 1
    if i >= len(tokens) or tokens[i][2] != "}" or call.text is None:
        raise QueryError(400, _USAGE)
    return call, i


def _term(token: tuple[str, int, str], prefixes: dict[str, str]) -> str:
    kind, _, value = token
    if kind == "iri":
        iri = value[1:-1]
    elif kind == "pname" and value.split(":", 1)[0] in prefixes:
        prefix, local = value.split(":", 1)
        iri = prefixes[prefix] + local
    else:
        raise QueryError(400, _USAGE)
    if not iri.startswith(TERMS):
        raise QueryError(400, _USAGE)
    return iri[len(TERMS):]


def _set(call: _Call, term: str, kind: str, value: str) -> None:
    string = sparql_text.plain_string(value) if kind == "string" else None
    if term in ("query", "lang") and string is not None:
        setattr(call, "text" if term == "query" else "lang", string)
    elif term == "type" and kind == "iri":
        call.type_iri = value[1:-1]
    elif term == "limit" and kind == "number" and value.isdigit() and 0 < int(value) <= MAX_LIMIT:
        call.limit = int(value)
    elif term in ("score", "label") and kind == "var":
        setattr(call, term, "?" + value[1:])
    else:
        raise QueryError(400, _USAGE)


def _values(call: _Call, index: Searchable) -> str:
    assert call.text is not None
    hits = index.search(call.text, call.lang, call.type_iri, call.limit)
    names = [call.subject] + [v for v in (call.score, call.label) if v]
    rows = []
    for hit in hits:
        row = [str(ox.NamedNode(hit.iri))]
        if call.score:
            row.append(str(ox.Literal(f"{hit.score:.4f}", datatype=ox.NamedNode(config.XSD + "decimal"))))
        if call.label:
            row.append(str(ox.Literal(hit.label, language=hit.lang) if hit.lang else ox.Literal(hit.label)))
        rows.append("(" + " ".join(row) + ")")
    return f"VALUES ({' '.join(names)}) {{ {' '.join(rows)} }}"
