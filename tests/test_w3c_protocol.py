"""The W3C SPARQL 1.1 Protocol and Service Description test suites, as tests of our own.

The suites (w3c/rdf-tests: ``sparql/sparql11/protocol/manifest.ttl`` and
``sparql/sparql11/service-description/manifest.ttl``) list requests and the status each
must get. Their facts carry over here — which request, which status, which answer —
written against this endpoint, on three servers: the app in this process (httpx over
ASGI), and ``spacecoop serve`` on a loopback port with the Oxigraph store and with the
rdflib store (real workers, real uvicorn). The endpoint is read-only by design, so the
suite's update cases (2xx there) are 403 here, and the graphs are shown to be unchanged.

A selection of the query-evaluation suite's cases that name relative IRIs follows (the
shapes of ``constructwhere04``, ``exists03``, ``pp34``, ``bindings/graph``,
``dataset-01``, and data files with relative IRIs such as ``i18n/kanji``): the endpoint's
URL is their base, and a data file's own URL is the base of its relative IRIs.
"""

from __future__ import annotations

import asyncio
import csv
import io
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import httpx
import pyoxigraph as ox
import pytest

from spacecoop import config
from spacecoop.engine.store import Engine
from spacecoop.web.app import asgi_app

from .conftest import LiveServer

PUBLIC = "https://kg.example.org/"
ENDPOINT = PUBLIC + "sparql"  # the endpoint's URL: the base IRI of every query
KASEI = "http://kasei.us/2009/09/sparql/data/"  # the suite's graph names
EX = "http://example.org/"
XSD = "http://www.w3.org/2001/XMLSchema#"
SD = "http://www.w3.org/ns/sparql-service-description#"
RDF_TYPE = "http://www.w3.org/1999/02/22-rdf-syntax-ns#type"
SRX = "{http://www.w3.org/2005/sparql-results#}"
FORM = "application/x-www-form-urlencoded"
DIRECT = "application/sparql-query"

# Three graphs, each holding one triple: its own name is a foaf:Document (the protocol
# suite's data); then graphs named under our endpoint's URL for relative IRIs to find.
DATASET = f"""
@prefix foaf: <http://xmlns.com/foaf/0.1/> .
@prefix ex: <{EX}> .
<{KASEI}data1.rdf> {{ <{KASEI}data1.rdf> a foaf:Document }}
<{KASEI}data2.rdf> {{ <{KASEI}data2.rdf> a foaf:Document }}
<{KASEI}data3.rdf> {{ <{KASEI}data3.rdf> a foaf:Document }}
<{PUBLIC}g/chain.ttl> {{ ex:a ex:next ex:b . ex:b ex:next ex:c . }}
<{PUBLIC}g/aside.ttl> {{ ex:a ex:next ex:z . }}
<{PUBLIC}g/pairs.ttl> {{ ex:s1 ex:p ex:o1 , ex:o2 . ex:s2 ex:p ex:o1 . }}
"""
# Relative IRIs, resolved against the file's own URL; literals in non-canonical forms.
RELATIVE_TURTLE = f"""@prefix xsd: <{XSD}> .
<> <#title> "a document about itself" .
<#it> <#seeAlso> <sibling.ttl> ;
      <#amount> 123.0 , "01"^^xsd:integer , "1.0E0"^^xsd:double .
"""
RELATIVE_RDFXML = """<?xml version="1.0"?>
<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#" xmlns:ex="http://example.org/">
  <rdf:Description rdf:about=""><ex:name>this very file</ex:name></rdf:Description>
  <rdf:Description rdf:about="#part"><ex:partOf rdf:resource=""/></rdf:Description>
</rdf:RDF>
"""


@dataclass(frozen=True)
class DataFiles:
    dataset: Path
    turtle: Path
    rdfxml: Path

    def args(self) -> tuple[str, ...]:
        return (str(self.dataset), str(self.turtle), str(self.rdfxml))


@pytest.fixture(scope="module")
def data_files(tmp_path_factory: pytest.TempPathFactory) -> DataFiles:
    folder = tmp_path_factory.mktemp("w3c")
    files = DataFiles(folder / "protocol.trig", folder / "relative.ttl", folder / "relative.rdf")
    files.dataset.write_text(DATASET)
    files.turtle.write_text(RELATIVE_TURTLE)
    files.rdfxml.write_text(RELATIVE_RDFXML)
    return files


# ===================================================================================
# Three servers behind one interface
# ===================================================================================
class Endpoint(Protocol):
    store: str

    def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response: ...


class InProcess:
    """The app as served (SPARQL front door, response cache) over ASGI, in this process."""

    store = "oxigraph"

    def __init__(self, settings: config.Settings) -> None:
        self.engine = Engine(settings)
        self.engine.start_local()
        self.app = asgi_app(settings, self.engine)

    def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        async def send() -> httpx.Response:
            transport = httpx.ASGITransport(app=self.app)  # type: ignore[arg-type]
            async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
                return await client.request(method, path, **kwargs)

        return asyncio.run(send())

    def close(self) -> None:
        self.engine.close()


class Served:
    """``spacecoop serve --data …`` on a loopback port (uvicorn, worker processes)."""

    def __init__(self, data: DataFiles, store: str) -> None:
        self.store = store
        self.server = LiveServer("--store", store, "--data", *data.args(), env={"SPACECOOP_PUBLIC_URL": PUBLIC})
        self.client = httpx.Client(base_url=self.server.url, timeout=30)

    def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        return self.client.request(method, path, **kwargs)

    def close(self) -> None:
        self.client.close()
        self.server.stop()


@pytest.fixture(scope="module", params=["in-process", pytest.param("served-oxigraph", marks=pytest.mark.live),
                                        pytest.param("served-memory", marks=pytest.mark.live)])
def endpoint(request: pytest.FixtureRequest, data_files: DataFiles) -> Iterator[Endpoint]:
    ep: InProcess | Served
    if request.param == "in-process":
        ep = InProcess(config.Settings(data_files=data_files.args(), public_url=PUBLIC))
    else:
        ep = Served(data_files, request.param.removeprefix("served-"))
    yield ep
    ep.close()


# ===================================================================================
# Reading answers
# ===================================================================================
def media_type(r: httpx.Response) -> str:
    return r.headers["content-type"].split(";")[0].strip()


def boolean(r: httpx.Response) -> bool:
    """An ASK answer in JSON or XML (the two formats the suite accepts for booleans)."""
    assert r.status_code == 200, r.text
    if media_type(r) == "application/sparql-results+json":
        return bool(r.json()["boolean"])
    assert media_type(r) == "application/sparql-results+xml", media_type(r)
    node = ET.fromstring(r.content).find(f"{SRX}boolean")
    assert node is not None and node.text in ("true", "false")
    return node.text == "true"


def table(r: httpx.Response) -> list[dict[str, str]]:
    """A SELECT answer in any of the four tabular formats, as rows of plain values."""
    assert r.status_code == 200, r.text
    if media_type(r) == "text/csv":
        return list(csv.DictReader(io.StringIO(r.text, newline="")))
    solutions = ox.parse_query_results(r.content, format=ox.QueryResultsFormat.from_media_type(media_type(r)))
    assert isinstance(solutions, ox.QuerySolutions)
    names = [v.value for v in solutions.variables]
    return [{n: s[n].value for n in names if s[n] is not None} for s in solutions]


def graph(r: httpx.Response) -> set[ox.Triple]:
    """A CONSTRUCT/DESCRIBE answer in any RDF format the endpoint offers."""
    assert r.status_code == 200, r.text
    fmt = ox.RdfFormat.from_media_type(media_type(r))
    assert fmt is not None, media_type(r)
    return {ox.Triple(q.subject, q.predicate, q.object) for q in ox.parse(r.content, format=fmt)}


def refused(r: httpx.Response, status: int, words: str) -> None:
    """A 4xx with the endpoint's short JSON error (or FastAPI's, for a method it does not route)."""
    assert r.status_code == status, (r.status_code, r.text)
    message = r.json().get("message", r.json().get("detail", ""))
    assert words in message and len(message) < 300 and "Traceback" not in r.text


def ask(ep: Endpoint, query: str) -> bool:
    return boolean(ep.request("POST", "/sparql/", content=query, headers={"Content-Type": DIRECT}))


# ===================================================================================
# The protocol suite
# ===================================================================================
def doc(name: str) -> str:
    return f"<{KASEI}{name}.rdf>"


GRAPH_PARAMS = {"default1": ("default-graph-uri", KASEI + "data1.rdf"),
                "default2": ("default-graph-uri", KASEI + "data2.rdf"),
                "default3": ("default-graph-uri", KASEI + "data3.rdf"),
                "named1": ("named-graph-uri", KASEI + "data1.rdf"),
                "named2": ("named-graph-uri", KASEI + "data2.rdf"),
                "absent": ("default-graph-uri", KASEI + "data0.rdf")}  # a graph the store lacks
BOTH_IN_DEFAULT = f"ASK {{ {doc('data1')} a ?type . {doc('data2')} a ?type . }}"
IN_TWO_GRAPHS = f"GRAPH ?g1 {{ {doc('data1')} a ?type }} GRAPH ?g2 {{ {doc('data2')} a ?type }}"
BOTH_NAMED = f"ASK {{ {IN_TWO_GRAPHS} }}"
FULL = f"ASK {{ {doc('data3')} a ?type {IN_TWO_GRAPHS} }}"
OWN_FROM = f"ASK FROM {doc('data3')} {{ {IN_TWO_GRAPHS} }}"


@dataclass(frozen=True)
class Query:
    """One of the suite's query cases: a request, and the boolean it must answer (2xx)."""

    name: str
    query: str
    via: str  # "url" (GET ?query=), "form" (POST urlencoded) or "direct" (POST sparql-query)
    graphs: tuple[str, ...] = ()

    def send(self, ep: Endpoint) -> httpx.Response:
        params = [GRAPH_PARAMS[g] for g in self.graphs]
        if self.via == "url":
            return ep.request("GET", "/sparql/", params=[("query", self.query), *params])
        if self.via == "form":
            return ep.request("POST", "/sparql/", params=params, content=str(httpx.QueryParams({"query": self.query})),
                              headers={"Content-Type": FORM})
        return ep.request("POST", "/sparql/", params=params, content=self.query.encode(),
                          headers={"Content-Type": DIRECT})


QUERY_CASES = [
    Query("query_post_form", "ASK {}", "form", ("absent",)),
    Query("query_dataset_default_graphs_get", BOTH_IN_DEFAULT, "url", ("default1", "default2")),
    Query("query_dataset_default_graphs_post", BOTH_IN_DEFAULT, "direct", ("default1", "default2")),
    Query("query_dataset_named_graphs_post", BOTH_NAMED, "direct", ("named1", "named2")),
    Query("query_dataset_named_graphs_get", BOTH_NAMED, "url", ("named1", "named2")),
    Query("query_dataset_full", FULL, "direct", ("default3", "named1", "named2")),
    # The protocol's graphs replace the query's own FROM (Protocol §2.1.4).
    Query("query_multiple_dataset", OWN_FROM, "direct", ("named1", "named2")),
    Query("query_get", "ASK {}", "url", ("absent",)),
    Query("query_post_direct", "ASK {}", "direct"),
]


@pytest.mark.parametrize("case", QUERY_CASES, ids=lambda c: c.name)
def test_query_cases_answer_true(endpoint: Endpoint, case: Query) -> None:
    assert boolean(case.send(endpoint)) is True


def test_the_protocol_graphs_alone_make_the_dataset(endpoint: Endpoint) -> None:
    """The converse of the suite's dataset cases: graphs left out are not seen."""
    only_one = [("query", BOTH_IN_DEFAULT), GRAPH_PARAMS["default1"]]
    assert boolean(endpoint.request("GET", "/sparql/", params=only_one)) is False
    named_as_default = [("query", BOTH_NAMED), GRAPH_PARAMS["default1"], GRAPH_PARAMS["default2"]]
    assert boolean(endpoint.request("GET", "/sparql/", params=named_as_default)) is False


# -- content negotiation: query_content_type_{select,ask,describe,construct} -------------
RESULT_TYPES = ["application/sparql-results+json", "application/sparql-results+xml", "text/csv",
                "text/tab-separated-values"]
RDF_TYPES = ["text/turtle", "application/n-triples", "application/ld+json", "application/rdf+xml",
             "application/n-quads", "application/trig"]


def direct(ep: Endpoint, query: str, accept: str | None = None) -> httpx.Response:
    headers = {"Content-Type": DIRECT} | ({"Accept": accept} if accept else {})
    return ep.request("POST", "/sparql/", params=[GRAPH_PARAMS["absent"]], content=query.encode(), headers=headers)


@pytest.mark.parametrize("accept", [None, *RESULT_TYPES])
def test_query_content_type_select(endpoint: Endpoint, accept: str | None) -> None:
    r = direct(endpoint, "SELECT (1 AS ?value) {}", accept)
    assert media_type(r) == (accept or "application/sparql-results+json")
    assert table(r) == [{"value": "1"}]


@pytest.mark.parametrize("accept", [None, *RESULT_TYPES[:2]])
def test_query_content_type_ask(endpoint: Endpoint, accept: str | None) -> None:
    r = direct(endpoint, "ASK {}", accept)
    assert media_type(r) == (accept or "application/sparql-results+json")
    assert boolean(r) is True


@pytest.mark.parametrize("accept", [None, *RDF_TYPES])
def test_query_content_type_describe(endpoint: Endpoint, accept: str | None) -> None:
    r = direct(endpoint, f"DESCRIBE <{EX}>", accept)
    assert media_type(r) == (accept or "text/turtle")
    assert graph(r) == set()  # nothing is said about it: an empty graph, in a valid document


@pytest.mark.parametrize("accept", [None, *RDF_TYPES])
def test_query_content_type_construct_resolves_against_the_endpoint_url(endpoint: Endpoint,
                                                                        accept: str | None) -> None:
    r = direct(endpoint, "CONSTRUCT { <s> <p> 1 } WHERE {}", accept)
    assert media_type(r) == (accept or "text/turtle")
    one = ox.Literal("1", datatype=ox.NamedNode(XSD + "integer"))
    assert graph(r) == {ox.Triple(ox.NamedNode(PUBLIC + "s"), ox.NamedNode(PUBLIC + "p"), one)}


def test_a_format_the_endpoint_does_not_offer_is_406(endpoint: Endpoint) -> None:
    refused(direct(endpoint, "SELECT (1 AS ?value) {}", "image/png"), 406, "acceptable media types")


# -- updates: refused by design -------------------------------------------------------------
@dataclass(frozen=True)
class Update:
    """One of the suite's update cases (2xx there): 403 here, and the data stays as it was."""

    name: str
    body: str
    via: str  # "form" or "direct"
    params: tuple[tuple[str, str], ...] = ()

    def send(self, ep: Endpoint) -> httpx.Response:
        if self.via == "form":
            return ep.request("POST", "/sparql/", params=self.params, content=f"update={self.body}",
                              headers={"Content-Type": FORM})
        return ep.request("POST", "/sparql/", params=self.params, content=self.body.encode(),
                          headers={"Content-Type": "application/sparql-update"})


CHANGE = (f"PREFIX foaf: <http://xmlns.com/foaf/0.1/>\nDROP ALL ;\n"
          f"INSERT DATA {{ GRAPH <{EX}protocol-test/> {{ {doc('data1')} a foaf:Document }} }}")
USING1, USING_NAMED2 = ("using-graph-uri", KASEI + "data1.rdf"), ("using-named-graph-uri", KASEI + "data2.rdf")
UPDATE_CASES = [
    Update("update_dataset_default_graph", CHANGE, "direct", (USING1,)),
    Update("update_dataset_default_graphs", CHANGE, "direct", (USING1, ("using-graph-uri", KASEI + "data2.rdf"))),
    Update("update_dataset_named_graphs", CHANGE, "direct", (("using-named-graph-uri", KASEI + "data1.rdf"),
                                                              USING_NAMED2)),
    Update("update_dataset_full", CHANGE, "direct", (USING1, USING_NAMED2)),
    Update("update_post_form", "CLEAR+ALL", "form"),
    Update("update_post_direct", "CLEAR ALL", "direct"),
    Update("update_base_uri", f"INSERT DATA {{ GRAPH <{EX}protocol-base-test/> {{ <{EX}s> <{EX}p> <test> }} }}",
           "direct"),
]
UNCHANGED = (f"ASK {{ GRAPH {doc('data1')} {{ {doc('data1')} a ?type }} "
             f"FILTER NOT EXISTS {{ GRAPH ?g {{ <{EX}s> ?p ?o }} }} }}")


@pytest.mark.parametrize("case", UPDATE_CASES, ids=lambda c: c.name)
def test_update_cases_are_refused_and_change_nothing(endpoint: Endpoint, case: Update) -> None:
    refused(case.send(endpoint), 403, "read-only")
    assert ask(endpoint, UNCHANGED) is True
    assert ask(endpoint, f"ASK {{ GRAPH <{EX}protocol-test/> {{ ?s ?p ?o }} }}") is False


# -- bad requests ---------------------------------------------------------------------------
@dataclass(frozen=True)
class Bad:
    """One of the suite's bad_* cases (4xx there): the status and words we answer with."""

    name: str
    method: str
    status: int
    words: str
    params: tuple[tuple[str, str], ...] = ()
    body: bytes | None = None
    headers: dict[str, str] = field(default_factory=dict)


NOT_A_TYPE = "send the query as application/sparql-query or application/x-www-form-urlencoded"
BAD_CASES = [
    Bad("bad_query_method", "PUT", 405, "Method Not Allowed", (("query", "ASK {}"), GRAPH_PARAMS["absent"]),
        headers={"Content-Type": FORM}),
    Bad("bad_multiple_queries", "GET", 400, "more than once", (("query", "ASK {}"), ("query", "SELECT * {}"))),
    Bad("bad_query_wrong_media_type", "POST", 415, NOT_A_TYPE, body=b"ASK {}", headers={"Content-Type": "text/plain"}),
    Bad("bad_query_missing_form_type", "POST", 415, NOT_A_TYPE, body=b"query=ASK%20%7B%7D"),
    Bad("bad_query_missing_direct_type", "POST", 415, NOT_A_TYPE, body=b"ASK {}"),
    Bad("bad_query_non_utf8", "POST", 415, "send the query as UTF-8", body="ASK {}".encode("utf-16"),
        headers={"Content-Type": "application/sparql-query; charset=UTF-16"}),
    Bad("bad_query_syntax", "GET", 400, "syntax error", (("query", "ASK {"),)),
    Bad("bad_update_get", "GET", 403, "read-only", (("update", "CLEAR ALL"),)),
    Bad("bad_multiple_updates", "POST", 403, "read-only", body=b"update=CLEAR%20NAMED&update=CLEAR%20DEFAULT",
        headers={"Content-Type": FORM}),
    Bad("bad_update_wrong_media_type", "POST", 415, NOT_A_TYPE, body=b"CLEAR NAMED",
        headers={"Content-Type": "text/plain"}),
    Bad("bad_update_missing_form_type", "POST", 415, NOT_A_TYPE, body=b"update=CLEAR%20NAMED"),
    # Read-only comes first: an update is refused however it is spelt or encoded.
    Bad("bad_update_non_utf8", "POST", 403, "read-only", body="CLEAR NAMED".encode("utf-16"),
        headers={"Content-Type": "application/sparql-update; charset=UTF-16"}),
    Bad("bad_update_syntax", "POST", 403, "read-only", body=b"update=CLEAR%20XYZ", headers={"Content-Type": FORM}),
    Bad("bad_update_dataset_conflict", "POST", 403, "read-only", (("using-named-graph-uri", f"{EX}people"),),
        body=f"WITH <{EX}addresses> DELETE {{ ?x <{EX}n> 'Bill' }} INSERT {{ ?x <{EX}n> 'William' }} "
             f"WHERE {{ ?x <{EX}n> 'Bill' }}".encode(), headers={"Content-Type": "application/sparql-update"}),
]


@pytest.mark.parametrize("case", BAD_CASES, ids=lambda c: c.name)
def test_bad_requests_are_4xx(endpoint: Endpoint, case: Bad) -> None:
    r = endpoint.request(case.method, "/sparql/", params=case.params, content=case.body, headers=case.headers)
    refused(r, case.status, case.words)
    if case.status == 405:
        assert {"GET", "POST"} <= {m.strip() for m in r.headers["allow"].split(",")}


def test_a_post_without_a_query_is_400(endpoint: Endpoint) -> None:
    refused(endpoint.request("POST", "/sparql/", content=b"format=json", headers={"Content-Type": FORM}),
            400, "no query")


# -- the Service Description suite ------------------------------------------------------------
@pytest.mark.parametrize("accept", ["text/turtle", "application/rdf+xml", "application/ld+json",
                                    "application/n-triples"])
def test_sd_returns_rdf(endpoint: Endpoint, accept: str) -> None:
    r = endpoint.request("GET", "/sparql", headers={"Accept": accept})
    assert media_type(r) == accept
    assert graph(r)


def service_description(ep: Endpoint) -> set[ox.Triple]:
    return graph(ep.request("GET", "/sparql", headers={"Accept": "text/turtle"}))


def objects(triples: set[ox.Triple], subject: Any, predicate: str) -> set[Any]:
    return {t.object for t in triples if t.subject == subject and t.predicate.value == predicate}


def test_sd_has_the_endpoint_triple(endpoint: Endpoint) -> None:
    sd = service_description(endpoint)
    services = {t.subject for t in sd if t.predicate.value == RDF_TYPE and t.object.value == SD + "Service"}
    assert len(services) == 1
    assert objects(sd, *services, SD + "endpoint") == {ox.NamedNode(ENDPOINT)}


def test_sd_conforms_to_the_schema(endpoint: Endpoint) -> None:
    """What the vocabulary asks of a service, and what this one is: read-only SPARQL 1.1."""
    sd = service_description(endpoint)
    (service,) = {t.subject for t in sd if t.predicate.value == RDF_TYPE and t.object.value == SD + "Service"}
    assert objects(sd, service, SD + "supportedLanguage") == {ox.NamedNode(SD + "SPARQL11Query")}
    formats = {f.value for f in objects(sd, service, SD + "resultFormat")}
    assert {"http://www.w3.org/ns/formats/SPARQL_Results_JSON", "http://www.w3.org/ns/formats/Turtle"} <= formats
    (dataset,) = objects(sd, service, SD + "defaultDataset")
    assert objects(sd, dataset, SD + "defaultGraph")
    names = {n for g in objects(sd, dataset, SD + "namedGraph") for n in objects(sd, g, SD + "name")}
    assert {ox.NamedNode(KASEI + f"data{i}.rdf") for i in (1, 2, 3)} <= names


@pytest.mark.live
def test_the_default_server_resolves_against_its_own_url(server: LiveServer) -> None:
    """Without a public URL, ``spacecoop serve`` is the address it listens on: so is the base."""
    endpoint = server.url + "/sparql"
    r = httpx.post(endpoint, content=b"CONSTRUCT { <s> <p> <#o> } WHERE {}", headers={"Content-Type": DIRECT})
    assert graph(r) == {ox.Triple(ox.NamedNode(server.url + "/s"), ox.NamedNode(server.url + "/p"),
                                  ox.NamedNode(endpoint + "#o"))}
    sd = graph(httpx.get(endpoint, headers={"Accept": "text/turtle"}))
    assert ox.NamedNode(endpoint) in {t.object for t in sd if t.predicate.value == SD + "endpoint"}


# ===================================================================================
# Query-evaluation shapes with relative IRIs
# ===================================================================================
@dataclass(frozen=True)
class Evaluation:
    name: str  # the suite's case this one has the shape of
    query: str
    rows: list[dict[str, str]]


EVALUATIONS = [
    # constructwhere04: CONSTRUCT WHERE with a relative FROM
    Evaluation("constructwhere04", "SELECT ?s ?o FROM <g/chain.ttl> WHERE { ?s ?p ?o } ORDER BY ?s",
               [{"s": EX + "a", "o": EX + "b"}, {"s": EX + "b", "o": EX + "c"}]),
    # exists03: FILTER EXISTS inside GRAPH <relative>
    Evaluation("exists03", f"SELECT ?s WHERE {{ GRAPH <g/pairs.ttl> {{ ?s ?p <{EX}o1> "
                           f"FILTER EXISTS {{ ?s ?p <{EX}o2> }} }} }}", [{"s": EX + "s1"}]),
    # pp34: a property path inside GRAPH <relative>; the other graph's edge is not followed
    Evaluation("pp34", f"SELECT ?t WHERE {{ GRAPH <g/chain.ttl> {{ <{EX}a> <{EX}next>+ ?t }} }} ORDER BY ?t",
               [{"t": EX + "b"}, {"t": EX + "c"}]),
    # bindings/graph: VALUES naming a graph by a relative IRI
    Evaluation("bindings-graph", 'SELECT ?t { VALUES (?g ?t) { (<g/chain.ttl> "bar") (<g/none.ttl> "baz") } '
                                 "GRAPH ?g { ?s ?p ?o } } GROUP BY ?t", [{"t": "bar"}]),
    # dataset-01: SELECT with a relative FROM, and FROM NAMED with GRAPH ?g
    Evaluation("dataset-01", "SELECT ?g (COUNT(*) AS ?n) FROM NAMED <g/aside.ttl> FROM NAMED <g/chain.ttl> "
                             "WHERE { GRAPH ?g { ?s ?p ?o } } GROUP BY ?g ORDER BY ?g",
               [{"g": PUBLIC + "g/aside.ttl", "n": "1"}, {"g": PUBLIC + "g/chain.ttl", "n": "2"}]),
    # functions/iri01 and STR(<>): the base itself
    Evaluation("iri01", 'SELECT (IRI("x") AS ?iri) (STR(<>) AS ?base) {}', [{"iri": PUBLIC + "x", "base": ENDPOINT}]),
    # base/: a query's own BASE wins, and a relative one resolves against the endpoint's URL
    Evaluation("base-declared", 'BASE <http://other.example/dir/> SELECT (<x> AS ?i) {}',
               [{"i": "http://other.example/dir/x"}]),
    Evaluation("base-relative", 'BASE <dir/> SELECT (<x> AS ?i) {}', [{"i": PUBLIC + "dir/x"}]),
]


@pytest.mark.parametrize("case", EVALUATIONS, ids=lambda c: c.name)
def test_relative_iris_in_queries_resolve_against_the_endpoint_url(endpoint: Endpoint, case: Evaluation) -> None:
    r = endpoint.request("GET", "/sparql/", params={"query": case.query})
    if case.name == "base-relative" and endpoint.store == "memory":
        # rdflib's own limit: it replaces the base with a relative BASE instead of resolving it.
        refused(r, 400, "does not resolve a relative BASE against the endpoint's URL")
        return
    assert table(r) == case.rows


def test_a_relative_service_iri_is_still_no_endpoint(data_files: DataFiles) -> None:
    """With a base, ``SERVICE <peer>`` would resolve to an allow-listed IRI: still refused,
    as the allow-list is matched on what the text says, not on what a base makes of it."""
    federating = InProcess(config.Settings(data_files=data_files.args(), public_url=PUBLIC,
                                           service_routes=((PUBLIC + "peer",) * 2,)))
    try:
        r = federating.request("GET", "/sparql", params={"query": "SELECT * { SERVICE <peer> { ?s ?p ?o } }"})
    finally:
        federating.close()
    refused(r, 400, "SERVICE must name its endpoint with a full <IRI>")


# -- data files with relative IRIs: their own URL is their base --------------------------------
def test_a_turtle_file_with_relative_iris_is_served_against_its_own_url(endpoint: Endpoint,
                                                                       data_files: DataFiles) -> None:
    here = data_files.turtle.resolve().as_uri()
    title = f"SELECT ?t WHERE {{ <{here}> <{here}#title> ?t }}"
    assert table(endpoint.request("GET", "/sparql/", params={"query": title})) == [{"t": "a document about itself"}]
    see_also = f"SELECT ?o WHERE {{ <{here}#it> <{here}#seeAlso> ?o }}"
    assert table(endpoint.request("GET", "/sparql/", params={"query": see_also})) == [
        {"o": data_files.turtle.resolve().with_name("sibling.ttl").as_uri()}]


def test_an_rdfxml_file_about_itself_is_served_against_its_own_url(endpoint: Endpoint, data_files: DataFiles) -> None:
    here = data_files.rdfxml.resolve().as_uri()
    query = f"SELECT ?part ?name WHERE {{ ?part <{EX}partOf> <{here}> . <{here}> <{EX}name> ?name }}"
    assert table(endpoint.request("GET", "/sparql/", params={"query": query})) == [
        {"part": here + "#part", "name": "this very file"}]


# -- literals: as written, on every store ----------------------------------------------------------
AMOUNTS = {"123.0": "decimal", "01": "integer", "1.0E0": "double"}


@pytest.mark.parametrize("lexical,datatype", AMOUNTS.items())
def test_a_literal_in_a_query_matches_the_same_literal_in_the_data(endpoint: Endpoint, data_files: DataFiles,
                                                                  lexical: str, datatype: str) -> None:
    here = data_files.turtle.resolve().as_uri()
    query = f'SELECT ?s WHERE {{ ?s <{here}#amount> "{lexical}"^^<{XSD}{datatype}> }}'
    assert table(endpoint.request("GET", "/sparql/", params={"query": query})) == [{"s": here + "#it"}]


def test_the_rdflib_store_keeps_lexical_forms(endpoint: Endpoint, data_files: DataFiles) -> None:
    """Oxigraph keeps a literal's value ("123.0" comes back "123"); rdflib keeps what it read."""
    here = data_files.turtle.resolve().as_uri()
    query = f"SELECT (STR(?v) AS ?text) (DATATYPE(?v) AS ?type) WHERE {{ ?s <{here}#amount> ?v }}"
    values = {(row["text"], row["type"].removeprefix(XSD))
              for row in table(endpoint.request("GET", "/sparql/", params={"query": query}))}
    canonical = {("123", "decimal"), ("1", "integer"), ("1", "double")}
    assert values == (set(AMOUNTS.items()) if endpoint.store == "memory" else canonical)


# -- query errors are the client's: 4xx on every store -----------------------------------------------
@pytest.mark.parametrize("query", [
    "SELECT (SUM(?s) AS ?x) WHERE { ?s ?p ?o }",  # IRIs summed: rdflib fails inside its evaluation
    "SELECT * WHERE { ?s ?p ?o } OFFSET 1000000000000000000000",
    "SELECT * WHERE { ?s undeclared:p ?o }",
    "SELECT * WHERE { ?s ?p ?o",
])
def test_query_errors_are_4xx_on_every_store(endpoint: Endpoint, query: str) -> None:
    r = endpoint.request("GET", "/sparql/", params={"query": query})
    assert r.status_code < 500, r.text
    if r.status_code >= 400:
        body = r.json()
        assert set(body) == {"status", "error", "message"} and len(body["message"]) < 300
        assert "object has no attribute" not in body["message"] and "Traceback" not in r.text

