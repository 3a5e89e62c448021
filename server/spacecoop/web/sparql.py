"""The SPARQL 1.1 Protocol endpoint at ``/sparql`` (and the landing page at ``/``).

Built on rdflib-endpoint's ``SparqlRouter``: its APIRouter plumbing and its Service
Description builder are reused, its request handling is replaced. rdflib-endpoint
evaluates queries inside the event loop with rdflib; here every query goes to the
``Engine`` (a pool of worker processes with a hard time limit), after checks that need
no parser:

* the protocol itself — GET ``?query=``, POST form, POST ``application/sparql-query``;
  media types compared case-insensitively; every value percent-decoded exactly once and
  required to be UTF-8; ``query`` at most once; ``default-graph-uri`` / ``named-graph-uri``
  passed to the engine, which only looks graphs up in the store;
* read-only — any update, by any transport, is 403;
* the endpoint's URL (as the Service Description names it) is the base IRI of every query,
  so ``<s>`` is ``<https://host/s>``; a query's own ``BASE`` still wins;
* the rules every query passes (``query_rules``): ``SERVICE`` is 400 unless every target
  is in the operator's allow-list (and the workers' sandbox lets them reach nothing else,
  see ``sandbox.py``); a query nested deeper than ``max_query_depth`` is 400 before a
  parser can overflow its stack on it.

Answers are negotiated with ``Accept`` (q-values) or ``format=``. Errors are short JSON
messages (``middleware.error_body``).
"""

from __future__ import annotations

import codecs
import functools
import logging
import re
import urllib.parse
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import HTMLResponse, Response
from rdflib import BNode, Dataset, Graph, Literal, URIRef
from rdflib_endpoint.sparql_router import SparqlRouter

from spacecoop import __version__, config
from spacecoop.config import DCTERMS, OWL, RDF, RDFS, VOID
from spacecoop.engine import query_rules
from spacecoop.engine.jobs import Job
from spacecoop.engine.query_rules import READ_ONLY, QueryError
from spacecoop.engine.store import ENDPOINT_PATH, Engine
from spacecoop.linked import search_service, void
from spacecoop.rdf import formats
from spacecoop.rdf.sparql_text import QUERY_FORMS
from spacecoop.saved import saved_queries
from spacecoop.web import conneg, middleware, pages
from spacecoop.web import search as search_pages
from spacecoop.web.middleware import ASGIApp, Receive, Scope, Send, error_response

log = logging.getLogger("spacecoop")

PATH = ENDPOINT_PATH
TITLE = "SpaceCoop KG SPARQL endpoint"
DESCRIPTION = ("Read-only SPARQL 1.1 endpoint over the SpaceCoop KG, a linked-data knowledge graph "
               "of European–Chinese space cooperation.")
ALLOW = "GET, HEAD, POST, OPTIONS"

# Offered media types → engine format, in the server's order of preference (the first
# one answers "*/*"): each answer format's own media type, then the aliases clients
# commonly send for it (formats table), which are served under their name.
SERVED_AS = {"text/n3": formats.TURTLE}  # Turtle is valid N3 (the engine writes no N3)


def _offers(answers: Sequence[formats.Format]) -> dict[str, str]:
    aliases = {f: [*f.aliases, *(m for m, g in SERVED_AS.items() if g is f)] for f in answers}
    return {**{f.media_type: f.name for f in answers}, **{m: f.name for f in answers for m in aliases[f]}}


def _format_names(results: Sequence[formats.Format],
                  graphs: Sequence[formats.Format]) -> dict[str, tuple[str | None, str | None]]:
    def engine_name(name: str, family: Sequence[formats.Format]) -> str | None:
        found = formats.by_name(name, family)
        return found.name if found else None

    names = dict.fromkeys(n for f in (*results, *graphs) for n in f.short_names)
    return {n: (engine_name(n, results), engine_name(n, graphs)) for n in names}


GRAPH_ANSWERS = tuple(formats.GRAPH_ANSWERS.values())
RESULT_OFFERS: dict[str, str] = _offers(formats.RESULT_FORMATS)
GRAPH_OFFERS: dict[str, str] = _offers(GRAPH_ANSWERS)
# Short names for ``format=``: (results format, graph format); None where it makes no sense.
FORMAT_NAMES = _format_names(formats.RESULT_FORMATS, GRAPH_ANSWERS)
# The Service Description: in these RDF formats, by media type (rdflib writes it).
SD_FORMATS = (formats.TURTLE, formats.JSON_LD, formats.RDF_XML, formats.N_TRIPLES)
SD_OFFERS: dict[str, str] = {
    **{f.media_type: f.rdflib for f in SD_FORMATS},
    "application/json": formats.JSON_LD.rdflib,
    "application/xml": formats.RDF_XML.rdflib,
}
EDITOR = "text/html"
POST_TYPES = ("application/sparql-query", "application/x-www-form-urlencoded")
_ABSOLUTE_IRI = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*:[^<>\"{}|^`\\\x00-\x20]*\Z")
_SYNTAX = re.compile(r"error at (\d+):(\d+): (.*)", re.DOTALL)
_MAX_PARAMS = 100


class ProtocolError(Exception):
    """A request the protocol layer refuses; ``status`` is the HTTP status to send."""

    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status, self.message, self.headers = status, message, headers or {}


@dataclass(frozen=True)
class SparqlRequest:
    """What a protocol request asks for, decoded once and checked."""

    query: str | None
    default_graphs: tuple[str, ...] = ()
    named_graphs: tuple[str, ...] = ()
    format: str | None = None


# ===================================================================================
# Reading a request
# ===================================================================================
_PRINTABLE_ASCII = "".join(chr(c) for c in range(0x21, 0x7F))


def parse_params(raw: bytes) -> list[tuple[str, str]]:
    """``application/x-www-form-urlencoded`` → pairs, decoded exactly once, strict UTF-8.

    >>> parse_params(b"query=SELECT+%22a%2541b%22&x=%E4%B8%AD")
    [('query', 'SELECT "a%41b"'), ('x', '中')]
    >>> try:
    ...     parse_params(b"query=%FF")
    ... except ProtocolError as err:
    ...     print(err.status, err.message)
    400 the request parameters are not valid UTF-8 (percent-encoded bytes must be UTF-8)
    """
    # Raw bytes above 0x7F (not percent-encoded) are escaped first so that the one
    # decoding below sees them too and applies the same strict UTF-8 rule.
    text = urllib.parse.quote_from_bytes(raw, safe=_PRINTABLE_ASCII)
    try:
        return urllib.parse.parse_qsl(text, keep_blank_values=True, encoding="utf-8", errors="strict",
                                      max_num_fields=_MAX_PARAMS)
    except UnicodeDecodeError:
        raise ProtocolError(400, "the request parameters are not valid UTF-8 "
                                 "(percent-encoded bytes must be UTF-8)") from None
    except ValueError:
        raise ProtocolError(400, f"too many request parameters (at most {_MAX_PARAMS})") from None


def _check_charset(params: dict[str, str]) -> None:
    """Refuse a declared charset other than UTF-8 (415): the protocol's bodies are UTF-8.

    >>> _check_charset({"charset": "UTF-8"}), _check_charset({"charset": "us-ascii"}), _check_charset({})
    (None, None, None)
    >>> try:
    ...     _check_charset({"charset": "UTF-16"})
    ... except ProtocolError as err:
    ...     print(err.status, err.message)
    415 charset 'UTF-16' is not supported: send the query as UTF-8
    """
    charset = params.get("charset")
    if charset is None:
        return
    try:
        name = codecs.lookup(charset).name
    except LookupError:
        name = ""
    # US-ASCII text is UTF-8 byte for byte; anything else would be decoded as another text.
    if name not in _UTF8_LABELS:
        raise ProtocolError(415, f"charset {charset[:40]!r} is not supported: send the query as UTF-8")


_UTF8_LABELS = ("utf-8", "ascii")


def _decode_body(body: bytes, params: dict[str, str]) -> str:
    """A ``application/sparql-query`` body as text: UTF-8, whatever else a client may send.

    SPARQL 1.1 Protocol §2.1.3 and the media type's registration make the body UTF-8; a
    body in another charset (UTF-16, Latin-1) is refused rather than guessed at.
    """
    _check_charset(params)
    try:
        return body.decode("utf-8").removeprefix("\ufeff")
    except UnicodeDecodeError:
        raise ProtocolError(400, "the query is not valid UTF-8; send it as UTF-8") from None


def _values(pairs: Sequence[tuple[str, str]], name: str) -> list[str]:
    return [v for k, v in pairs if k == name]


async def read_request(request: Request) -> SparqlRequest:
    """The protocol request in ``request`` (GET, HEAD or POST), or ProtocolError."""
    pairs = parse_params(request.scope.get("query_string", b""))
    if request.method == "POST":
        pairs = pairs + await _post_params(request)
    queries, updates = _values(pairs, "query"), _values(pairs, "update")
    if queries and updates:
        raise ProtocolError(400, "a request carries either a query or an update, not both")
    if updates:
        raise _read_only()
    if len(queries) > 1:
        raise ProtocolError(400, "the query parameter was given more than once")
    formats = _values(pairs, "format")
    return SparqlRequest(
        query=queries[0] if queries else None,
        default_graphs=_graphs(pairs, "default-graph-uri"),
        named_graphs=_graphs(pairs, "named-graph-uri"),
        format=formats[-1].strip().lower() if formats else None,
    )


def _graphs(pairs: Sequence[tuple[str, str]], name: str) -> tuple[str, ...]:
    """The distinct IRIs given for one dataset parameter, each checked to be absolute."""
    return tuple(dict.fromkeys(_graph_iri(v, name) for v in _values(pairs, name)))


async def _post_params(request: Request) -> list[tuple[str, str]]:
    """The parameters a POST body carries (the query itself for a direct POST)."""
    media, params = conneg.parse_media_type(request.headers.get("content-type", ""))
    body = await request.body()
    if media == "application/sparql-update":
        raise _read_only()
    if media == "application/sparql-query":
        return [("query", _decode_body(body, params))]
    if media == "application/x-www-form-urlencoded":
        _check_charset(params)
        return parse_params(body)
    if not body and not media:
        return []  # a bodiless POST with its parameters in the URL
    raise ProtocolError(415, f"unsupported Content-Type {media[:60]!r}; send the query as "
                             + " or ".join(POST_TYPES), {"Accept-Post": ", ".join(POST_TYPES)})


def _graph_iri(value: str, name: str) -> str:
    if not _ABSOLUTE_IRI.match(value):
        raise ProtocolError(400, f"{name} must be an absolute IRI, not {value[:80]!r}")
    return value


def _read_only() -> ProtocolError:
    return ProtocolError(403, READ_ONLY)


# ===================================================================================
# Negotiation
# ===================================================================================
@dataclass(frozen=True)
class Choice:
    """The answer format: engine format names plus the media type to label it with."""

    result_format: str
    graph_format: str
    media_type: str  # what the client asked for (possibly an alias such as application/json)
    graph: bool  # CONSTRUCT/DESCRIBE (an RDF answer) rather than SELECT/ASK

    @property
    def canonical(self) -> str:
        """The engine's media type for the chosen format."""
        return _answer_format(self.graph_format if self.graph else self.result_format, self.graph).media_type


# Clients send the same few Accept headers again and again: decide once per header.
@functools.lru_cache(maxsize=256)
def choose_format(form: str, accept: str | None, format_param: str | None) -> Choice:
    """Pick the answer format from ``format=`` (if given) or ``Accept``; 406 if none fits.

    >>> choose_format("SELECT", "text/csv;q=0.5, text/tab-separated-values", None).media_type
    'text/tab-separated-values'
    >>> choose_format("CONSTRUCT", None, None).media_type
    'text/turtle'
    >>> choose_format("ASK", None, "xml").result_format
    'xml'
    """
    graph = form in ("CONSTRUCT", "DESCRIBE")
    offers = GRAPH_OFFERS if graph else RESULT_OFFERS
    if format_param:
        media = _format_param_media(format_param, graph, offers)
    else:
        picked = conneg.negotiate(accept, list(offers))
        if picked is None:
            raise ProtocolError(406, f"cannot answer this {form or 'query'} as {(accept or '')[:120]!r}; "
                                     "acceptable media types: " + ", ".join(offers))
        media = picked
    fmt = offers[media]
    return Choice(fmt if not graph else "json", fmt if graph else "turtle", media, graph)


def _format_param_media(value: str, graph: bool, offers: dict[str, str]) -> str:
    if value in offers:
        return value
    if value not in FORMAT_NAMES:
        raise ProtocolError(400, f"unknown format {value[:40]!r}; use one of " + ", ".join(FORMAT_NAMES))
    fmt = FORMAT_NAMES[value][1 if graph else 0]
    if fmt is None:
        kinds = "CONSTRUCT/DESCRIBE" if graph else "SELECT/ASK"
        raise ProtocolError(406, f"format {value!r} does not apply to {kinds} answers; use one of "
                                 + ", ".join(offers))
    return _answer_format(fmt, graph).media_type


def _answer_format(name: str, graph: bool) -> formats.Format:
    return (formats.GRAPH_ANSWERS if graph else formats.RESULT_ANSWERS)[name]


# ===================================================================================
# Messages
# ===================================================================================
def friendly(message: str) -> str:
    """Engine messages made short and positional, with nothing internal in them.

    >>> friendly("SPARQL syntax error: error at 1:25: expected one of LATERAL, SERVICE")
    'SPARQL syntax error at line 1, column 25: expected one of LATERAL, SERVICE'
    """
    m = _SYNTAX.search(message)
    if m:
        return f"SPARQL syntax error at line {m[1]}, column {m[2]}: {m[3].strip()[:200]}"
    if "Permission denied (os error 13)" in message:  # the worker sandbox stopped a network call
        return "SERVICE (federated query) is disabled on this endpoint"
    return message.strip().splitlines()[0][:300] if message.strip() else "the query failed"


# ===================================================================================
# The router
# ===================================================================================
class SpaceCoopSparqlRouter(SparqlRouter):
    """rdflib-endpoint's router with its request handling replaced by ours (via the Engine)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        super().__init__(
            path=PATH,
            title=TITLE,
            description=DESCRIPTION,
            version=_package_version(),
            # An empty union-default Dataset: the data lives in the engine, but rdflib-endpoint
            # then describes the default graph as the union, which is true of ours.
            graph=Dataset(default_union=True),
            public_url=engine.endpoint_url,
            enable_update=False,
            tags=["SPARQL"],
        )
        self._sd_cache: dict[str, Graph] = {}
        self._vocab: dict[str, list[str]] | None = None
        self._sd_built = False
        self._graph_sizes: dict[str, int] | None = None
        self._replace_routes()

    def prepare_sd_graph(self) -> None:
        """Deferred to the first Service Description request (see ``_base_description``).

        rdflib-endpoint builds the description in its constructor, with an rdflib SPARQL
        query whose first run costs a tenth of a second of start-up.
        """

    def _base_description(self) -> Graph:
        """rdflib-endpoint's own Service Description, built once, when first needed."""
        if not self._sd_built:
            SparqlRouter.prepare_sd_graph(self)
            self._sd_built = True
        return self.service_description

    # -- routes (named on_*: APIRouter already has .handle and .options) ---------------
    def _replace_routes(self) -> None:
        """Drop rdflib-endpoint's GET/POST handlers for the path; register ours instead."""
        paths = {PATH, PATH + "/"}
        self.routes[:] = [r for r in self.routes if getattr(r, "path", None) not in paths]
        for path in (PATH, PATH + "/"):
            self.add_api_route(path, self.on_request, methods=["GET", "HEAD", "POST"], name="SPARQL endpoint",
                               include_in_schema=path == PATH, summary="SPARQL 1.1 query",
                               description=_OPENAPI_DESCRIPTION, response_class=Response)
            self.add_api_route(path, self.on_options, methods=["OPTIONS"], include_in_schema=False)

    async def on_options(self) -> Response:
        """``OPTIONS /sparql``: what the endpoint accepts (CORS preflights never get here)."""
        return Response(status_code=204, headers={"Allow": ALLOW, "Accept-Post": ", ".join(POST_TYPES)})

    async def on_request(self, request: Request) -> Response:
        """One SPARQL protocol request, start to finish."""
        try:
            req = await read_request(request)
            if req.query is None:
                if request.method == "POST":
                    raise ProtocolError(400, "no query: send it as the query parameter or as an "
                                             "application/sparql-query body")
                return await self._describe_or_edit(request)
            return await self._answer(request, req)
        except ProtocolError as err:
            return error_response(err.status, err.message, err.headers)
        except QueryError as err:
            return error_response(err.status, friendly(err.message), err.headers)

    async def asgi(self, scope: Scope, receive: Receive, send: Send) -> None:
        """``on_request`` as a plain ASGI app (see ``front_door``)."""
        response = await self.on_request(Request(scope, receive))
        await response(scope, receive, send)

    async def _answer(self, request: Request, req: SparqlRequest) -> Response:
        assert req.query is not None
        query = self.engine.expand(req.query)  # the search SERVICE as VALUES, before any rule reads it
        seen = query_rules.check(query, self.engine.settings)
        form = seen.form if seen.form in QUERY_FORMS else ""
        choice = choose_format(form, request.headers.get("accept"), req.format)
        # Relative IRIs resolve against the endpoint's URL, as its Service Description names it.
        # The job carries the facts just checked: the engine reads them instead of scanning again.
        job = Job(query, choice.result_format, choice.graph_format, req.default_graphs, req.named_graphs,
                  base_iri=_public(request, self.engine.settings) + PATH, facts=seen)
        answer = await self.engine.run(job)
        # The body is in the chosen format unless the engine found another query form than
        # the tokenizer did: then label what was really sent.
        media = choice.media_type if answer.media_type == choice.canonical else answer.media_type
        # NOW(), RAND() …: the same request may get another answer, so no validator and no caching.
        headers = {"Cache-Control": "no-store"} if seen.volatile else None
        return Response(answer.body, media_type=media, headers=headers)

    async def _describe_or_edit(self, request: Request) -> Response:
        """No query: the editor for browsers, the Service Description for everyone else."""
        offers = [*SD_OFFERS, EDITOR]
        picked = conneg.negotiate(request.headers.get("accept"), offers)
        if picked is None:
            raise ProtocolError(406, "acceptable media types here: " + ", ".join(offers))
        if picked == EDITOR:
            return HTMLResponse(pages.render("yasgui.html", request=request, title="SPARQL editor",
                                             tabs=editor_tabs(), endpoint=PATH, search_path=search_pages.API_PATH,
                                             vocabulary={**await self._vocabulary(),
                                                         "resources": config.SCR.rstrip("/") + "/"}))
        graph = await self.service_description_for(_public(request, self.engine.settings))
        return Response(graph.serialize(format=SD_OFFERS[picked], encoding="utf-8"), media_type=picked)

    async def _vocabulary(self) -> dict[str, list[str]]:
        """Our classes and properties (full IRIs), for the editor to complete offline (once:
        the graph does not change while serving; empty if the store cannot say)."""
        if self._vocab is None:
            try:
                rows = await self.engine.select(VOCABULARY)
            except QueryError as err:
                log.warning("the editor's completion is unavailable: %s", err.message)
                return {"classes": [], "properties": []}
            self._vocab = {kind: sorted({r["term"][1] for r in rows if r["kind"][1] == kind})
                           for kind in ("classes", "properties")}
        return self._vocab

    # -- the Service Description ----------------------------------------------------------
    async def service_description_for(self, public: str) -> Graph:
        """rdflib-endpoint's description, corrected to tell the truth about this endpoint."""
        if public not in self._sd_cache:
            sizes = await self._named_graph_sizes()
            self._sd_cache[public] = self._truthful_sd(public, sizes)
        return self._sd_cache[public]

    async def _named_graph_sizes(self) -> dict[str, int]:
        """Triples per named graph, and under ``""`` in the (union) default graph."""
        if self._graph_sizes is None:
            try:
                rows = await self.engine.select(
                    "SELECT ?g (COUNT(*) AS ?n) WHERE { GRAPH ?g { ?s ?p ?o } } GROUP BY ?g")
                union = await self.engine.select("SELECT (COUNT(*) AS ?n) WHERE { ?s ?p ?o }")
            except QueryError:
                return {g: 0 for g in self.engine.named_graphs}  # not cached: try again next time
            sizes = {r["g"][1]: int(r["n"][1]) for r in rows if "g" in r and "n" in r}
            sizes[""] = int(union[0]["n"][1]) if union and "n" in union[0] else 0
            self._graph_sizes = sizes
        return self._graph_sizes

    def _truthful_sd(self, public: str, sizes: dict[str, int]) -> Graph:
        sd_ns = config.SD
        g = Graph()
        base = self._base_description()
        for prefix, ns in base.namespaces():
            g.bind(prefix, ns)
        g.bind("dcterms", DCTERMS)
        service = next(iter(base.subjects(RDF.type, sd_ns.Service)))
        endpoint = URIRef(public + PATH)
        for s, p, o in base:
            # rdflib-endpoint advertises federation, input (update) formats and process-wide
            # custom functions; none of that is true here.
            if p in (sd_ns.inputFormat, sd_ns.extensionFunction, sd_ns.endpoint) or \
                    (p == sd_ns.feature and o == sd_ns.BasicFederatedQuery):
                continue
            g.add((s, p, o))
        g.add((service, sd_ns.endpoint, endpoint))
        if self.engine.settings.service_allow_list:
            g.add((service, sd_ns.feature, sd_ns.BasicFederatedQuery))
            g.add((service, RDFS.comment, Literal("SERVICE may call only: "
                                                  + " ".join(self.engine.settings.service_allow_list))))
        for fmt in (*formats.RESULT_FORMATS, *GRAPH_ANSWERS):
            g.add((service, sd_ns.resultFormat, URIRef(fmt.iri)))
        if not self.engine.is_remote:  # the label index is the embedded store's
            search_iri = search_service.service_iri(self.engine.settings.base)
            search = URIRef(search_iri)
            g.add((service, sd_ns.feature, search))
            g.add((search, RDF.type, sd_ns.Feature))
            g.add((search, RDFS.comment, Literal(
                "Search by name, answered by this endpoint itself (no network): SERVICE <"
                + search_iri + "> { ?entity <" + search_iri + "#query> \"text\" } "
                "binds the best-matching entities; optional terms: lang, type, limit, score ?v, label ?v.",
                lang="en")))
        void_page = URIRef(public + "/.well-known/void")
        g.add((service, RDFS.seeAlso, void_page))
        g.add((service, DCTERMS.title, Literal(TITLE, lang="en")))
        dataset = g.value(service, sd_ns.defaultDataset)
        if dataset is not None:
            self._describe_dataset(g, dataset, endpoint, void_page, sizes)
        return g

    def _describe_dataset(self, g: Graph, dataset: Any, endpoint: URIRef, void_page: URIRef,
                          sizes: dict[str, int]) -> None:
        sd_ns = config.SD
        g.add((dataset, RDF.type, VOID.Dataset))
        g.add((dataset, VOID.sparqlEndpoint, endpoint))
        g.add((dataset, RDFS.seeAlso, void_page))
        g.add((dataset, DCTERMS.isPartOf, URIRef(void.dataset_iri(self.engine.settings.base))))
        default = g.value(dataset, sd_ns.defaultGraph)
        if default is not None and "" in sizes:
            g.add((default, VOID.triples, Literal(sizes[""])))
        for name in sorted((set(sizes) | set(self.engine.named_graphs)) - {""}):
            node, graph_node = BNode(), BNode()
            g.add((dataset, sd_ns.namedGraph, node))
            g.add((node, RDF.type, sd_ns.NamedGraph))
            g.add((node, sd_ns.name, URIRef(name)))
            g.add((node, sd_ns.graph, graph_node))
            g.add((graph_node, RDF.type, sd_ns.Graph))
            g.add((graph_node, VOID.triples, Literal(sizes.get(name, 0))))


_OPENAPI_DESCRIPTION = """The [SPARQL 1.1 Protocol](https://www.w3.org/TR/sparql11-protocol/), read-only.

* `GET /sparql?query=…`, `POST` form (`query=…`), or `POST` with `Content-Type: application/sparql-query`;
* optional `default-graph-uri`, `named-graph-uri` (graphs of this store; nothing is fetched) and
  `format` (json, xml, csv, tsv, turtle, ntriples, jsonld, rdfxml, nquads, trig);
* answers by `Accept`: SPARQL JSON/XML/CSV/TSV for SELECT and ASK; Turtle, N-Triples, JSON-LD,
  RDF/XML, N-Quads, TriG for CONSTRUCT and DESCRIBE;
* without a query: the query editor (browsers) or the Service Description.

Relative IRIs resolve against the endpoint's URL. A direct POST body is UTF-8 (another `charset` is 415).
Updates are 403; `SERVICE` is 400; a query past the time limit is stopped and answered 503.
"""


def _package_version() -> str:
    return __version__


def _public(request: Request, settings: config.Settings) -> str:
    """The server's public address, without a trailing slash."""
    return (settings.public_url or str(request.base_url)).rstrip("/")


# ===================================================================================
# The editor
# ===================================================================================
FALLBACK_TABS = [{
    "name": "classes",
    "title": "Classes and how many things each has",
    "query": "SELECT ?class (COUNT(?thing) AS ?things)\nWHERE { ?thing a ?class }\n"
             "GROUP BY ?class\nORDER BY DESC(?things)\nLIMIT 50\n",
}]


# What the editor completes: every IRI the graph declares a class or a property.
VOCABULARY = f"""SELECT DISTINCT ?term ?kind WHERE {{
  ?term a ?type FILTER(isIRI(?term))
  VALUES (?type ?kind) {{ (<{OWL}Class> "classes") (<{RDFS}Class> "classes")
    (<{OWL}ObjectProperty> "properties") (<{OWL}DatatypeProperty> "properties")
    (<{OWL}AnnotationProperty> "properties") (<{RDF}Property> "properties") }}
}}"""


def editor_tabs() -> list[dict[str, str]]:
    """One YASGUI tab per saved query (a fallback example when they cannot be loaded)."""
    try:

        tabs = [{"name": q.name, "title": q.title, "query": q.sparql} for q in saved_queries.load_all()]
    except Exception as err:  # a broken .rq file must not take the editor down
        log.warning("saved queries unavailable for the editor: %s", err)
        return FALLBACK_TABS
    return tabs or FALLBACK_TABS


def front_door(router: SpaceCoopSparqlRouter, app: FastAPI, settings: config.Settings) -> ASGIApp:
    """``app`` with SPARQL protocol requests answered before the framework routes them.

    A cheap query is answered in well under a millisecond, less than the framework's own
    routing and dependency machinery costs, so GET, HEAD and POST requests to the endpoint
    go straight to the router's ``on_request`` — the same handler, with the same CORS and
    guard behaviour (``middleware.wrap``). Everything else (OPTIONS, every other path)
    goes to ``app``.
    """
    protocol = middleware.wrap(router.asgi, app, settings)

    async def dispatch(scope: Scope, receive: Receive, send: Send) -> None:
        if _is_protocol_request(scope):
            await protocol(scope, receive, send)
        else:
            await app(scope, receive, send)

    return dispatch


def _is_protocol_request(scope: Scope) -> bool:
    return scope["type"] == "http" and scope["path"] in (PATH, PATH + "/") \
        and scope["method"] in ("GET", "HEAD", "POST")


def build_router(engine: Engine) -> APIRouter:
    """The SPARQL endpoint (the landing page is ``landing``'s router)."""
    return SpaceCoopSparqlRouter(engine)



__all__ = ["PATH", "ProtocolError", "SpaceCoopSparqlRouter", "build_router", "choose_format",
           "editor_tabs", "front_door", "parse_params", "read_request"]
