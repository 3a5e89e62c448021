"""What the engine is asked and what it answers: ``Job``, ``Answer``, ``Limits``, a job's
bindings written into its query (``bound_query``) and the facts of that text, scanned once
where the job enters the engine (``with_facts``) — the leaf every backend, the pool and
the remote store share.

>>> bound_query(Job("SELECT ?m WHERE { ?m ?p ?o }", bindings=(("m", ("uri", "http://x/a")),)))
'SELECT ?m WHERE { VALUES (?m) { (<http://x/a>) } ?m ?p ?o }'
>>> job = with_facts(Job("ASK FROM <http://g/> { ?m ?p ?o }"))
>>> job.seen.form, job.seen.has_from
('ASK', True)
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field, replace

import orjson

from spacecoop.engine.query_rules import QueryError
from spacecoop.rdf.results import Term, oxigraph_term
from spacecoop.rdf.sparql_text import Facts, facts, with_values


@dataclass(frozen=True)
class Job:
    """One query to run. Bindings are validated terms (see ``results.Term``), never text."""

    query: str
    result_format: str = "json"
    graph_format: str = "turtle"
    default_graphs: tuple[str, ...] = ()
    named_graphs: tuple[str, ...] = ()
    bindings: tuple[tuple[str, Term], ...] = ()
    # The IRI relative IRIs in the text resolve against (SPARQL 1.1 Query §4.1.1.1): the
    # endpoint's URL; None until ``Engine.admit`` fills in the engine's own.
    base_iri: str | None = None
    # What ``sparql_text.facts`` found in ``query``: computed once where the job enters the
    # engine (``Engine.admit``, or the protocol endpoint that has just checked the text) and
    # read from here by every step after it — the cache, the pool, a worker, the remote
    # store. Not part of what the job asks: left out of its equality and its keys.
    facts: Facts | None = field(default=None, compare=False, repr=False)

    def __post_init__(self) -> None:
        # Facts of another text would let that text's rules stand for this one's.
        if self.facts is not None and self.facts.text != self.query:
            raise ValueError("a job carries the facts of its own query text, not another's")

    @property
    def seen(self) -> Facts:
        """The facts of ``query``, as its entry point computed them (``with_facts``)."""
        if self.facts is None:
            raise ValueError("the job has not entered the engine (Engine.admit or jobs.with_facts)")
        return self.facts

    def cache_key(self) -> str:
        return self._digest(self.query)

    def shape_key(self) -> str:
        """Like ``cache_key``, but one key for texts that differ only in whitespace and comments."""
        return self._digest(self.seen.canonical)

    def _digest(self, text: str) -> str:
        # The base is part of the key: the same text answers differently under another base.
        return hashlib.sha256(orjson.dumps([text, self.result_format, self.graph_format, self.default_graphs,
                                            self.named_graphs, self.bindings, self.base_iri])).hexdigest()


def bindings_written(job: Job) -> Job:
    """``job`` with its bindings written into its text (``bound_query``): the text that runs."""
    if not job.bindings:
        return job
    return replace(job, query=bound_query(job), bindings=(), facts=None)


def with_facts(job: Job) -> Job:
    """``job`` ready for a backend: its bindings written in, and the facts of the text
    that runs — those it carries, else scanned here (a backend run without an ``Engine``,
    as the dumps' builder runs one; ``Engine.admit`` also applies the rules)."""
    job = bindings_written(job)
    return job if job.facts is not None else replace(job, facts=facts(job.query))

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

def _term_text(name: str, term: Term) -> str:
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
