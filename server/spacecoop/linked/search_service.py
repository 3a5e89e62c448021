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
subject variable: ``scs:query "text"`` (required; or ``scs:query ?param`` where ``?param`` is
a saved query's parameter, bound when the job runs), ``scs:lang "en"``, ``scs:type <class>``,
``scs:limit n`` (at most 100; 10 by default), ``scs:score ?v``, ``scs:label ?v`` — anything
else is a 400 that says so. The service IRI must be written in full (as every SERVICE on
this endpoint); spelt another way it is just a SERVICE call, refused by the usual rules.

>>> class Index:
...     def search(self, text, lang=None, type_iri=None, limit=10):
...         from spacecoop.linked.search import Hit
...         return [Hit("https://spacecoop.example/resource/smile", "SMILE", "en", (), 2.5, "«SMILE»")][:limit]
>>> q = ('SELECT * { SERVICE <https://spacecoop.example/search> '
...      '{ ?e <https://spacecoop.example/search#query> "smile" } }')
>>> print(expand(q, {}, lambda: Index()))
SELECT * { VALUES (?e) { (<https://spacecoop.example/resource/smile>) } }

An engine with no dumps builder (the command line, tests) gets its own index with
:func:`attach`: a loaded store's, or one built on first use.
"""

from __future__ import annotations

import functools
import shutil
import tempfile
import threading
import weakref
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import pyoxigraph as ox

from spacecoop import config
from spacecoop.engine.query_rules import QueryError
from spacecoop.engine.store import Engine
from spacecoop.linked import dump_files, search
from spacecoop.linked.search import Hit
from spacecoop.rdf import sparql_text
from spacecoop.rdf.results import Term

SERVICE_IRI = config.CANONICAL_BASE + "search"
TERMS = SERVICE_IRI + "#"  # scs:query, scs:lang, scs:type, scs:limit, scs:score, scs:label
DEFAULT_LIMIT, MAX_LIMIT = 10, 100
RETRY = 5
_USAGE = (f"the search service takes one subject variable with {TERMS}query \"text\" (or a bound "
          f"parameter) and optionally "
          f"lang \"en\", type <class>, limit n (at most {MAX_LIMIT}), score ?v and label ?v")


def service_iri(base: str = config.CANONICAL_BASE) -> str:
    """The search service's IRI under a deployment's base IRI (``SERVICE_IRI`` for ours)."""
    return base + "search"


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
    everything: bool = False  # scs:query ?param, the parameter unbound


def expand(text: str, bindings: Mapping[str, Term], index: Callable[[], Searchable | None],
           base: str = config.CANONICAL_BASE) -> str:
    """``text`` with every search SERVICE block replaced by the VALUES of its hits; the text
    itself when it calls no such service. ``bindings`` are the job's parameters (for
    ``scs:query ?param``). QueryError 400 for a block it cannot read, 503 (with
    Retry-After) while the index is being built. The service is named by its IRI under
    ``base`` (a saved query's text follows the deployment's base) or under ours."""
    services = {f"<{SERVICE_IRI}>", f"<{service_iri(base)}>"}
    if not any(s[1:-1] in text for s in services):
        return text
    tokens = [t for t in sparql_text.tokens(text) if t[0] not in ("ws", "comment")]
    prefixes = _prefixes(tokens)
    out, at, done = [], 0, -1
    for i, j in sparql_text.service_calls(tokens):
        if i <= done or tokens[j][0] != "iri" or tokens[j][2] not in services:
            continue
        call, done = _read_block(tokens, j + 1, prefixes, bindings, tokens[j][2][1:-1] + "#")
        out += [text[at:tokens[i][1]], _values(call, _index(index))]
        at = tokens[done][1] + 1
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


def _read_block(tokens: list[tuple[str, int, str]], i: int, prefixes: dict[str, str],
                bindings: Mapping[str, Term], terms: str) -> tuple[_Call, int]:
    """The call in ``{ … }`` starting at token ``i``; the index of its closing brace."""
    if i >= len(tokens) or tokens[i][2] != "{":
        raise QueryError(400, _USAGE)
    call, i = _Call(), i + 1
    if i >= len(tokens) or tokens[i][0] != "var":
        raise QueryError(400, _USAGE)
    call.subject = "?" + tokens[i][2][1:]
    i += 1
    while i + 1 < len(tokens) and tokens[i][2] != "}":
        term = _term(tokens[i], prefixes, terms)
        kind, _, value = tokens[i + 1]
        if term in ("query", "lang") and kind == "var":
            setattr(call, "text" if term == "query" else "lang", _bound(value, bindings))
            call.everything = call.everything or (term == "query" and call.text is None)
        else:
            _set(call, term, kind, value)
        i += 2
        if i < len(tokens) and tokens[i][2] in (";", "."):
            i += 1
    if i >= len(tokens) or tokens[i][2] != "}" or (call.text is None and not call.everything):
        raise QueryError(400, _USAGE)
    return call, i


def _term(token: tuple[str, int, str], prefixes: dict[str, str], terms: str) -> str:
    kind, _, value = token
    if kind == "iri":
        iri = value[1:-1]
    elif kind == "pname" and value.split(":", 1)[0] in prefixes:
        prefix, local = value.split(":", 1)
        iri = prefixes[prefix] + local
    else:
        raise QueryError(400, _USAGE)
    if not iri.startswith(terms):
        raise QueryError(400, _USAGE)
    return iri[len(terms):]


def _bound(variable: str, bindings: Mapping[str, Term]) -> str | None:
    """The text of a parameter's bound literal (any characters: it never becomes query text);
    None when the parameter is not bound (a search for everything)."""
    term = bindings.get(variable[1:])
    if term is None:
        return None
    if term[0] != "literal":
        raise QueryError(400, f"{variable} is not a text: {_USAGE}")
    return str(term[1])


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
    if call.everything:
        return _every_label(call)
    assert call.text is not None
    hits = index.search(call.text, call.lang, call.type_iri, call.limit)
    if not hits:
        # No hit, no solution: what an empty VALUES means (rdflib cannot evaluate one).
        return "FILTER(false)"
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


class LocalIndex:
    """The label index of an engine with no dumps builder: the one a ``spacecoop load`` left
    in the store's folder, else one built from the engine's snapshot on first use (into a
    temporary folder, removed with this object). None for an engine with no snapshot."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._index: search.SearchIndex | None = None
        self._lock = threading.Lock()

    def __call__(self) -> search.SearchIndex | None:
        with self._lock:
            if self._index is None:
                self._index = self._open()
            return self._index

    def _open(self) -> search.SearchIndex | None:
        snapshot = self.engine.snapshot
        if snapshot is None:
            return None
        if snapshot.kind == "oxigraph-path":
            folder = Path(snapshot.path) / dump_files.FOLDER
            manifest = dump_files.read_manifest(folder, self.engine.version, self.engine.settings.base)
            loaded = dump_files.adoptable_index(manifest, folder) if manifest else None
            if loaded is not None:
                return search.SearchIndex(loaded.path)
        scratch = Path(tempfile.mkdtemp(prefix="spacecoop-search-"))
        weakref.finalize(self, shutil.rmtree, scratch, True)
        search.build_for_snapshot(snapshot, scratch / search.FILE_NAME)
        return search.SearchIndex(scratch / search.FILE_NAME)


def attach(engine: Engine, index: Callable[[], Searchable | None] | None = None) -> None:
    """Answer the search SERVICE in ``engine``'s queries from ``index`` (by default a
    :class:`LocalIndex`); nothing for a remote store, whose SERVICE stays refused."""
    if not engine.is_remote:
        engine.query_expanders.append(functools.partial(expand, index=index or LocalIndex(engine),
                                                        base=engine.settings.base))


def _every_label(call: _Call) -> str:
    """The block for an unbound text (the editor and the published ``sh:select`` run a saved
    query unbound): every labelled entity, each label a solution, as a search for
    everything would find — no limit, score 0."""
    label = call.label or "?_search_label"
    path = "|".join(f"<{p}>" for p in sorted(search.LABEL_PREDICATES))
    parts = [f"{call.subject} {path} {label} ."]
    if call.lang:
        parts.append(f"FILTER(LANGMATCHES(LANG({label}), {ox.Literal(call.lang)}))")
    if call.type_iri:
        parts.append(f"{call.subject} a {ox.NamedNode(call.type_iri)} .")
    if call.score:
        parts.append(f'BIND("0"^^<{config.XSD}decimal> AS {call.score})')
    return "{ " + " ".join(parts) + " }"
