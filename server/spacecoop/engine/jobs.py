"""What the engine is asked and what it answers: ``Job``, ``Answer``, ``Limits``, the media
types of answers, and a job's bindings written into its query (``bound_query``) — the
leaf every backend, the pool and the remote store share.

>>> bound_query(Job("SELECT ?m WHERE { ?m ?p ?o }", bindings=(("m", ("uri", "http://x/a")),)))
'SELECT ?m WHERE { VALUES (?m) { (<http://x/a>) } ?m ?p ?o }'
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

import orjson

from spacecoop.engine.query_rules import QueryError
from spacecoop.rdf.results import oxigraph_term
from spacecoop.rdf.sparql_text import facts, with_values

RESULT_MEDIA_TYPES = {
    "json": "application/sparql-results+json",
    "xml": "application/sparql-results+xml",
    "csv": "text/csv",
    "tsv": "text/tab-separated-values",
}

GRAPH_MEDIA_TYPES = {
    "turtle": "text/turtle",
    "ntriples": "application/n-triples",
    "jsonld": "application/ld+json",
    "rdfxml": "application/rdf+xml",
    "nquads": "application/n-quads",
    "trig": "application/trig",
}

@dataclass(frozen=True)
class Job:
    """One query to run. Bindings are validated terms (see ``results.Term``), never text."""

    query: str
    result_format: str = "json"
    graph_format: str = "turtle"
    default_graphs: tuple[str, ...] = ()
    named_graphs: tuple[str, ...] = ()
    bindings: tuple[tuple[str, tuple], ...] = ()
    # Whether the text has FROM / FROM NAMED clauses, filled in by the server (which has
    # already scanned the text) so that a worker need not scan it again; None: unknown.
    has_from: bool | None = None
    # The IRI relative IRIs in the text resolve against (SPARQL 1.1 Query §4.1.1.1): the
    # endpoint's URL; None until ``Engine.admit`` fills in the engine's own.
    base_iri: str | None = None

    def cache_key(self) -> str:
        return self._digest(self.query)

    def shape_key(self) -> str:
        """Like ``cache_key``, but one key for texts that differ only in whitespace and comments."""
        return self._digest(facts(self.query).canonical)

    def _digest(self, text: str) -> str:
        # The base is part of the key: the same text answers differently under another base.
        return hashlib.sha256(orjson.dumps([text, self.result_format, self.graph_format, self.default_graphs,
                                            self.named_graphs, self.bindings, self.base_iri])).hexdigest()

@dataclass(frozen=True)
class Answer:
    """A serialized answer: kind is select | ask | construct | describe.

    ``rows`` is the number of results where the backend counted them on the way (Oxigraph
    writes SELECT answers itself, without handing each row to Python, so it says None).
    """

    kind: str
    media_type: str
    body: bytes
    rows: int | None = None
    seconds: float = 0.0  # evaluation and serialization, as timed where the query ran

@dataclass(frozen=True)
class Limits:
    max_rows: int = 100_000
    max_bytes: int = 64 * 1024 * 1024

def bound_query(job: Job) -> str:
    """The job's query with its bindings as a leading VALUES block of validated terms.

    One mechanism for every backend (Oxigraph, rdflib, remote): each value becomes an RDF
    term first (pyoxigraph refuses an IRI, language tag or blank node that is not one) and
    is written by pyoxigraph in N-Triples syntax, so a value can never become query text.
    """
    if not job.bindings:
        return job.query
    return with_values(job.query, tuple((k, _term_text(k, t)) for k, t in job.bindings))

def _term_text(name: str, term: tuple) -> str:
    """One binding as N-Triples, from a validated term; 400 for a value that is no RDF term.

    >>> _term_text("m", ("uri", "http://x/a"))
    '<http://x/a>'
    >>> try:
    ...     _term_text("m", ("uri", "http://x/a> } SERVICE <http://y/"))
    ... except QueryError as err:
    ...     print(err.status, err.message)
    400 ?m is not a valid RDF term
    """
    if not _VARIABLE.match(name):
        raise QueryError(400, f"{name[:40]!r} is not a variable name")
    try:
        return str(oxigraph_term(term))
    except (ValueError, TypeError, IndexError):
        raise QueryError(400, f"?{name} is not a valid RDF term") from None

_VARIABLE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
