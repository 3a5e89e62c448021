"""SPARQL 1.1 Protocol conformance of /sparql.

The protocol's requests and answers are tried on the app as served (the ``client``
fixture: ``asgi_app`` with its worker processes, in this process, over httpx); the real
clients that open their own connections, SPARQLWrapper and rdflib's ``SPARQLStore``,
talk to ``python -m spacecoop serve`` on a loopback port (``live_endpoint``). The data is
being written concurrently, so the tests ask generic questions (counts, rdf:type, the
named graphs the server itself lists) rather than about particular facts.
"""

from __future__ import annotations

import csv
import io
import json
import xml.etree.ElementTree as ET
from urllib.parse import quote

import httpx
import pyoxigraph as ox
import pytest
from rdflib import Graph, Namespace
from rdflib.namespace import RDF
from rdflib.plugins.stores.sparqlstore import SPARQLStore
from SPARQLWrapper import CSV, JSON, POST, POSTDIRECTLY, TSV, TURTLE, URLENCODED, XML, SPARQLWrapper

SD = Namespace("http://www.w3.org/ns/sparql-service-description#")
SRX = "{http://www.w3.org/2005/sparql-results#}"
COUNT = "SELECT (COUNT(*) AS ?n) WHERE { ?s ?p ?o }"
TYPED = "SELECT ?s ?t WHERE { ?s a ?t FILTER(isIRI(?s)) } ORDER BY ?s ?t LIMIT 5"
ASK = "ASK { ?s a ?t }"
CONSTRUCT = "CONSTRUCT { ?s a ?t } WHERE { ?s a ?t } LIMIT 5"
DESCRIBE = "DESCRIBE ?s WHERE { ?s a ?t } LIMIT 1"
DIRECT = {"Content-Type": "application/sparql-query"}


@pytest.fixture(scope="module")
def endpoint(base_url: str) -> str:
    return base_url + "/sparql"


@pytest.fixture
def http(client: httpx.Client) -> httpx.Client:
    """The in-process app's client (the tests name full URLs: ``endpoint``)."""
    return client


@pytest.fixture(scope="module")
def live_endpoint(live_url: str) -> str:
    """The live server's endpoint, for the clients that need a URL of their own."""
    return live_url + "/sparql"


def json_count(response: httpx.Response) -> int:
    assert response.status_code == 200, response.text
    return int(response.json()["results"]["bindings"][0]["n"]["value"])


def named_graphs(http: httpx.Client, endpoint: str) -> list[str]:
    r = http.get(endpoint, params={"query": "SELECT DISTINCT ?g WHERE { GRAPH ?g { ?s ?p ?o } } ORDER BY ?g"})
    assert r.status_code == 200
    return [b["g"]["value"] for b in r.json()["results"]["bindings"]]


def graph_size(http: httpx.Client, endpoint: str, g: str) -> int:
    query = f"SELECT (COUNT(*) AS ?n) WHERE {{ GRAPH <{g}> {{ ?s ?p ?o }} }}"
    return json_count(http.get(endpoint, params={"query": query}))


# ===================================================================================
# Transports: GET, POST form, POST direct — each value decoded exactly once
# ===================================================================================
def test_three_transports_agree(http: httpx.Client, endpoint: str) -> None:
    via_get = json_count(http.get(endpoint, params={"query": COUNT}))
    via_form = json_count(http.post(endpoint, data={"query": COUNT}))
    via_direct = json_count(http.post(endpoint, content=COUNT, headers=DIRECT))
    assert via_get == via_form == via_direct > 0


@pytest.mark.parametrize("how", ["get", "form", "direct"])
def test_values_are_percent_decoded_exactly_once(http: httpx.Client, endpoint: str, how: str) -> None:
    query = 'SELECT ("a%41b" AS ?x) ("x+y" AS ?y) ("中文" AS ?z) WHERE {}'
    if how == "get":
        r = http.get(endpoint, params={"query": query})
    elif how == "form":
        r = http.post(endpoint, data={"query": query})
    else:
        r = http.post(endpoint, content=query.encode(), headers=DIRECT)
    assert r.status_code == 200, r.text
    row = r.json()["results"]["bindings"][0]
    assert (row["x"]["value"], row["y"]["value"], row["z"]["value"]) == ("a%41b", "x+y", "中文")


def test_plus_in_a_form_value_is_a_space(http: httpx.Client, endpoint: str) -> None:
    raw = "query=SELECT+%28%22a+b%22+AS+%3Fx%29+WHERE+%7B%7D"
    r = http.post(endpoint, content=raw, headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert r.json()["results"]["bindings"][0]["x"]["value"] == "a b"


@pytest.mark.parametrize("content_type", [
    "Application/SPARQL-Query; charset=UTF-8",
    "APPLICATION/SPARQL-QUERY",
    "application/sparql-query;charset=\"utf-8\"",
])
def test_content_type_is_matched_case_insensitively(http: httpx.Client, endpoint: str, content_type: str) -> None:
    r = http.post(endpoint, content=ASK, headers={"Content-Type": content_type})
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("application/sparql-results+json")
    assert r.json()["boolean"] is True


def test_mixed_case_form_content_type(http: httpx.Client, endpoint: str) -> None:
    r = http.post(endpoint, content="query=ASK%7B%7D",
                  headers={"Content-Type": "Application/X-WWW-Form-URLEncoded; Charset=UTF-8"})
    assert r.status_code == 200 and r.json()["boolean"] is True


@pytest.mark.parametrize("charset", ["ISO-8859-1", "UTF-16", "utf-32", "no-such-charset"])
@pytest.mark.parametrize("media", ["application/sparql-query", "application/x-www-form-urlencoded"])
def test_a_charset_other_than_utf8_is_refused(http: httpx.Client, endpoint: str, media: str, charset: str) -> None:
    query = 'SELECT ("café" AS ?x) WHERE {}'
    body = query if media == "application/sparql-query" else "query=" + quote(query)
    encoding = charset if charset != "no-such-charset" else "utf-8"
    r = http.post(endpoint, content=body.encode(encoding), headers={"Content-Type": f"{media}; charset={charset}"})
    assert r.status_code == 415, r.text
    assert r.json()["message"] == f"charset {charset!r} is not supported: send the query as UTF-8"


@pytest.mark.parametrize("charset", ["UTF-8", "utf8", "US-ASCII", None])
def test_utf8_and_its_ascii_subset_are_read_as_utf8(http: httpx.Client, endpoint: str, charset: str | None) -> None:
    query = 'SELECT ("caf\\u00e9" AS ?x) WHERE {}'  # ASCII text naming a non-ASCII character
    media = "application/sparql-query" + (f"; charset={charset}" if charset else "")
    r = http.post(endpoint, content=query.encode("ascii"), headers={"Content-Type": media})
    assert r.status_code == 200
    assert r.json()["results"]["bindings"][0]["x"]["value"] == "café"


def test_a_body_that_is_not_utf8_is_400(http: httpx.Client, endpoint: str) -> None:
    r = http.post(endpoint, content='ASK { ?s ?p "café" }'.encode("latin-1"), headers=DIRECT)
    assert r.status_code == 400
    assert r.json()["message"] == "the query is not valid UTF-8; send it as UTF-8"


def test_unsupported_post_content_type_is_415(http: httpx.Client, endpoint: str) -> None:
    r = http.post(endpoint, content=ASK, headers={"Content-Type": "text/plain"})
    assert r.status_code == 415
    assert "application/sparql-query" in r.json()["message"]


def test_post_without_a_query_is_400(http: httpx.Client, endpoint: str) -> None:
    r = http.post(endpoint, data={"format": "json"})
    assert r.status_code == 400


def test_query_given_twice_is_400(http: httpx.Client, endpoint: str) -> None:
    assert http.get(endpoint + "?query=ASK%7B%7D&query=ASK%7B%7D").status_code == 400
    assert http.post(endpoint + "?query=ASK%7B%7D", data={"query": ASK}).status_code == 400
    assert http.post(endpoint + "?query=ASK%7B%7D", content=ASK, headers=DIRECT).status_code == 400


def test_query_with_update_is_400(http: httpx.Client, endpoint: str) -> None:
    r = http.get(endpoint, params={"query": ASK, "update": "CLEAR ALL"})
    assert r.status_code == 400
    assert http.post(endpoint, data={"query": ASK, "update": "CLEAR ALL"}).status_code == 400


def test_trailing_slash_is_the_same_endpoint(http: httpx.Client, endpoint: str) -> None:
    assert json_count(http.get(endpoint + "/", params={"query": COUNT})) > 0


def test_empty_query_is_400(http: httpx.Client, endpoint: str) -> None:
    assert http.get(endpoint, params={"query": "  "}).status_code == 400


# ===================================================================================
# Result formats and negotiation
# ===================================================================================
def test_select_json_by_default(http: httpx.Client, endpoint: str) -> None:
    r = http.get(endpoint, params={"query": TYPED})
    assert r.headers["content-type"] == "application/sparql-results+json"
    data = r.json()
    assert data["head"]["vars"] == ["s", "t"] and len(data["results"]["bindings"]) == 5


def test_select_xml(http: httpx.Client, endpoint: str) -> None:
    r = http.get(endpoint, params={"query": TYPED}, headers={"Accept": "application/sparql-results+xml"})
    assert r.headers["content-type"].startswith("application/sparql-results+xml")
    root = ET.fromstring(r.content)
    assert [v.get("name") for v in root.iter(SRX + "variable")] == ["s", "t"]
    assert len(list(root.iter(SRX + "result"))) == 5


def test_select_csv(http: httpx.Client, endpoint: str) -> None:
    r = http.get(endpoint, params={"query": TYPED}, headers={"Accept": "text/csv"})
    assert r.headers["content-type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(r.text)))
    assert rows[0] == ["s", "t"] and len(rows) == 6


def test_select_tsv_is_tsv(http: httpx.Client, endpoint: str) -> None:
    r = http.get(endpoint, params={"query": TYPED}, headers={"Accept": "text/tab-separated-values"})
    assert r.headers["content-type"].startswith("text/tab-separated-values")
    lines = r.text.splitlines()
    assert lines[0] == "?s\t?t" and len(lines) == 6
    assert all(cell.startswith("<") and cell.endswith(">") for cell in lines[1].split("\t"))


@pytest.mark.parametrize(("accept", "expected"), [
    ("application/sparql-results+json", "true"),
    ("application/sparql-results+xml", "<boolean>true</boolean>"),
    ("text/csv", "true"),
    ("text/tab-separated-values", "true"),
])
def test_ask_in_every_results_format(http: httpx.Client, endpoint: str, accept: str, expected: str) -> None:
    r = http.get(endpoint, params={"query": ASK}, headers={"Accept": accept})
    assert r.status_code == 200 and r.headers["content-type"].startswith(accept)
    assert expected in r.text


@pytest.mark.parametrize(("accept", "fmt"), [
    ("text/turtle", ox.RdfFormat.TURTLE),
    ("application/n-triples", ox.RdfFormat.N_TRIPLES),
    ("application/ld+json", ox.RdfFormat.JSON_LD),
    ("application/rdf+xml", ox.RdfFormat.RDF_XML),
    ("application/n-quads", ox.RdfFormat.N_QUADS),
    ("application/trig", ox.RdfFormat.TRIG),
])
@pytest.mark.parametrize("query", [CONSTRUCT, DESCRIBE], ids=["construct", "describe"])
def test_graph_answers_in_every_rdf_format(http: httpx.Client, endpoint: str, accept: str,
                                            fmt: ox.RdfFormat, query: str) -> None:
    r = http.get(endpoint, params={"query": query}, headers={"Accept": accept})
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].split(";")[0] == accept
    quads = list(ox.parse(r.content, format=fmt))
    assert quads, "the answer parses and is not empty"


def test_construct_turtle_by_default(http: httpx.Client, endpoint: str) -> None:
    r = http.get(endpoint, params={"query": CONSTRUCT})
    assert r.headers["content-type"].startswith("text/turtle")
    assert len(Graph().parse(data=r.text, format="turtle")) == 5


@pytest.mark.parametrize(("accept", "expected"), [
    ("text/csv;q=0.5, text/tab-separated-values", "text/tab-separated-values"),
    ("application/sparql-results+xml;q=0.9, application/sparql-results+json;q=0.8", "application/sparql-results+xml"),
    ("Text/CSV", "text/csv"),
    ("*/*", "application/sparql-results+json"),
    ("text/*;q=0.9, application/sparql-results+json;q=0.1", "text/csv"),
    ("application/json", "application/json"),
    ("text/html, */*;q=0.1", "application/sparql-results+json"),
])
def test_accept_with_q_values(http: httpx.Client, endpoint: str, accept: str, expected: str) -> None:
    r = http.get(endpoint, params={"query": TYPED}, headers={"Accept": accept})
    assert r.status_code == 200
    assert r.headers["content-type"].split(";")[0] == expected


def test_unservable_accept_is_406_listing_what_we_can(http: httpx.Client, endpoint: str) -> None:
    r = http.get(endpoint, params={"query": TYPED}, headers={"Accept": "image/png"})
    assert r.status_code == 406
    message = r.json()["message"]
    assert "application/sparql-results+json" in message and "text/tab-separated-values" in message
    r = http.get(endpoint, params={"query": CONSTRUCT}, headers={"Accept": "text/csv"})
    assert r.status_code == 406 and "text/turtle" in r.json()["message"]


@pytest.mark.parametrize(("query", "fmt", "expected"), [
    (TYPED, "csv", "text/csv"), (TYPED, "tsv", "text/tab-separated-values"),
    (TYPED, "xml", "application/sparql-results+xml"), (TYPED, "json", "application/sparql-results+json"),
    (TYPED, "text/csv", "text/csv"), (CONSTRUCT, "ntriples", "application/n-triples"),
    (CONSTRUCT, "json", "application/ld+json"), (CONSTRUCT, "xml", "application/rdf+xml"),
    (CONSTRUCT, "trig", "application/trig"),
])
def test_format_parameter_overrides_accept(http: httpx.Client, endpoint: str, query: str, fmt: str,
                                           expected: str) -> None:
    r = http.get(endpoint, params={"query": query, "format": fmt}, headers={"Accept": "image/png"})
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].split(";")[0] == expected


def test_format_parameter_errors(http: httpx.Client, endpoint: str) -> None:
    assert http.get(endpoint, params={"query": TYPED, "format": "yaml"}).status_code == 400
    assert http.get(endpoint, params={"query": CONSTRUCT, "format": "csv"}).status_code == 406
    assert http.post(endpoint, data={"query": TYPED, "format": "tsv"}).headers["content-type"].startswith(
        "text/tab-separated-values")


# ===================================================================================
# The dataset: default-graph-uri and named-graph-uri
# ===================================================================================
def test_default_graph_uri_selects_the_default_graph(http: httpx.Client, endpoint: str) -> None:
    graphs = named_graphs(http, endpoint)
    assert len(graphs) >= 2
    small, other = graphs[0], graphs[1]
    only = json_count(http.get(endpoint, params={"query": COUNT, "default-graph-uri": small}))
    assert only == graph_size(http, endpoint, small)
    both = json_count(http.get(endpoint, params={"query": COUNT, "default-graph-uri": [small, other]}))
    assert only < both <= json_count(http.get(endpoint, params={"query": COUNT}))


def test_default_graph_uri_in_a_form_and_with_a_direct_post(http: httpx.Client, endpoint: str) -> None:
    g = named_graphs(http, endpoint)[0]
    expected = graph_size(http, endpoint, g)
    assert json_count(http.post(endpoint, data={"query": COUNT, "default-graph-uri": g})) == expected
    r = http.post(endpoint, params={"default-graph-uri": g}, content=COUNT, headers=DIRECT)
    assert json_count(r) == expected


def test_named_graph_uri_limits_graph_patterns(http: httpx.Client, endpoint: str) -> None:
    g = named_graphs(http, endpoint)[0]
    r = http.get(endpoint, params={"query": "SELECT DISTINCT ?g WHERE { GRAPH ?g { ?s ?p ?o } }",
                                   "named-graph-uri": g})
    assert [b["g"]["value"] for b in r.json()["results"]["bindings"]] == [g]
    # Only named graphs given: the default graph is empty (SPARQL 1.1 Protocol §2.1.4).
    assert json_count(http.get(endpoint, params={"query": COUNT, "named-graph-uri": g})) == 0


def test_from_in_the_query_selects_graphs_and_the_protocol_overrides_it(http: httpx.Client, endpoint: str) -> None:
    a, b = named_graphs(http, endpoint)[:2]
    with_from = f"SELECT (COUNT(*) AS ?n) FROM <{a}> WHERE {{ ?s ?p ?o }}"
    assert json_count(http.get(endpoint, params={"query": with_from})) == graph_size(http, endpoint, a)
    overridden = http.get(endpoint, params={"query": with_from, "default-graph-uri": b})
    assert json_count(overridden) == graph_size(http, endpoint, b)


def test_graph_parameters_must_be_iris(http: httpx.Client, endpoint: str) -> None:
    r = http.get(endpoint, params={"query": COUNT, "default-graph-uri": "not an iri"})
    assert r.status_code == 400 and "default-graph-uri" in r.json()["message"]


# ===================================================================================
# No query: the editor for browsers, the Service Description for the rest
# ===================================================================================
BROWSER_ACCEPT = "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,*/*;q=0.8"


def test_a_browser_gets_the_query_editor(http: httpx.Client, endpoint: str) -> None:
    r = http.get(endpoint, headers={"Accept": BROWSER_ACCEPT})
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    html = r.text
    assert "/static/vendor/yasgui/yasgui.min.js" in html and "/static/vendor/yasgui/yasgui.min.css" in html
    assert "unpkg.com" not in html and "cdn" not in html.lower()
    tabs = json.loads(html.split('id="saved-tabs">', 1)[1].split("</script>", 1)[0])
    assert tabs and all(t["query"].strip() and t["title"] for t in tabs)


def test_the_editor_assets_are_served_by_us(http: httpx.Client, base_url: str) -> None:
    for name, kind in (("yasgui.min.js", "javascript"), ("yasgui.min.css", "text/css")):
        r = http.get(f"{base_url}/static/vendor/yasgui/{name}")
        assert r.status_code == 200 and kind in r.headers["content-type"] and len(r.content) > 10_000


def service_description(http: httpx.Client, endpoint: str, accept: str | None, fmt: str) -> Graph:
    r = http.get(endpoint, headers={"Accept": accept} if accept else {})
    assert r.status_code == 200, r.text
    return Graph().parse(data=r.content, format=fmt)


@pytest.mark.parametrize(("accept", "fmt"), [
    (None, "turtle"), ("text/turtle", "turtle"), ("application/ld+json", "json-ld"),
    ("application/rdf+xml", "xml"), ("*/*", "turtle"),
])
def test_service_description_formats(http: httpx.Client, endpoint: str, accept: str | None, fmt: str) -> None:
    g = service_description(http, endpoint, accept, fmt)
    service = g.value(predicate=RDF.type, object=SD.Service)
    assert service is not None
    assert str(g.value(service, SD.endpoint)).endswith("/sparql")


def test_service_description_tells_the_truth(http: httpx.Client, endpoint: str) -> None:
    g = service_description(http, endpoint, "text/turtle", "turtle")
    service = g.value(predicate=RDF.type, object=SD.Service)
    features = set(g.objects(service, SD.feature))
    assert SD.BasicFederatedQuery not in features, "SERVICE is off, so federation must not be advertised"
    assert SD.UnionDefaultGraph in features
    assert set(g.objects(service, SD.supportedLanguage)) == {SD.SPARQL11Query}, "read-only: no Update"
    assert not list(g.objects(service, SD.inputFormat))
    formats = {str(f) for f in g.objects(service, SD.resultFormat)}
    assert formats == {"http://www.w3.org/ns/formats/" + name for name in (
        "SPARQL_Results_JSON", "SPARQL_Results_XML", "SPARQL_Results_CSV", "SPARQL_Results_TSV",
        "Turtle", "N-Triples", "JSON-LD", "RDF_XML", "N-Quads", "TriG")}
    names = {str(n) for n in g.objects(None, SD.name)}
    assert names == set(named_graphs(http, endpoint)), "every named graph is described"


def test_service_description_links_to_void(http: httpx.Client, endpoint: str) -> None:
    text = http.get(endpoint, headers={"Accept": "text/turtle"}).text
    assert "/.well-known/void" in text and "void:sparqlEndpoint" in text


def test_unservable_accept_without_query_is_406(http: httpx.Client, endpoint: str) -> None:
    assert http.get(endpoint, headers={"Accept": "image/png"}).status_code == 406


# ===================================================================================
# HEAD, OPTIONS, CORS, caching
# ===================================================================================
def test_head(http: httpx.Client, endpoint: str) -> None:
    r = http.head(endpoint, params={"query": TYPED}, headers={"Accept": "text/csv"})
    assert r.status_code == 200 and r.content == b"" and r.headers["content-type"].startswith("text/csv")
    r = http.head(endpoint, headers={"Accept": "text/turtle"})
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/turtle")


def test_options(http: httpx.Client, endpoint: str) -> None:
    r = http.options(endpoint)
    assert r.status_code == 204
    assert {m.strip() for m in r.headers["allow"].split(",")} >= {"GET", "POST", "HEAD", "OPTIONS"}


def test_cors_any_origin_without_credentials(http: httpx.Client, endpoint: str) -> None:
    r = http.get(endpoint, params={"query": ASK}, headers={"Origin": "https://evil.example"})
    assert r.headers["access-control-allow-origin"] == "*"
    assert "access-control-allow-credentials" not in r.headers
    preflight = http.options(endpoint, headers={
        "Origin": "https://elsewhere.example", "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "content-type"})
    assert preflight.status_code == 200
    assert preflight.headers["access-control-allow-origin"] == "*"
    assert "POST" in preflight.headers["access-control-allow-methods"]
    assert "content-type" in preflight.headers["access-control-allow-headers"].lower()
    assert "access-control-allow-credentials" not in preflight.headers


def test_etag_and_304(http: httpx.Client, endpoint: str) -> None:
    first = http.get(endpoint, params={"query": TYPED})
    tag = first.headers["etag"]
    assert "max-age" in first.headers["cache-control"] and "accept" in first.headers["vary"].lower()
    again = http.get(endpoint, params={"query": TYPED}, headers={"If-None-Match": tag})
    assert again.status_code == 304 and again.content == b""
    other = http.get(endpoint, params={"query": TYPED}, headers={"If-None-Match": tag, "Accept": "text/csv"})
    assert other.status_code == 200 and other.headers["etag"] != tag
    assert "etag" not in http.post(endpoint, data={"query": TYPED}).headers


def test_answers_with_now_or_rand_are_never_cached(http: httpx.Client, endpoint: str) -> None:
    query = "SELECT (STR(RAND()) AS ?r) (STR(NOW()) AS ?t) WHERE {}"
    first = http.get(endpoint, params={"query": query})
    second = http.get(endpoint, params={"query": query})
    assert first.status_code == second.status_code == 200
    assert "etag" not in first.headers and first.headers["cache-control"] == "no-store"
    values = [r.json()["results"]["bindings"][0]["r"]["value"] for r in (first, second)]
    assert values[0] != values[1], "a second run must evaluate again, not replay the cache"


def test_errors_are_not_cached(http: httpx.Client, endpoint: str) -> None:
    r = http.get(endpoint, params={"query": "SELECT nonsense"})
    assert r.status_code == 400 and "etag" not in r.headers and r.headers["cache-control"] == "no-store"


# ===================================================================================
# Errors
# ===================================================================================
def test_syntax_error_is_short_with_line_and_column(http: httpx.Client, endpoint: str) -> None:
    r = http.get(endpoint, params={"query": "SELECT * WHERE {\n  ?s ?p ?o .\n  FILTER( }"})
    assert r.status_code == 400 and r.headers["content-type"] == "application/json"
    message = r.json()["message"]
    assert message.startswith("SPARQL syntax error at line 3, column ")
    assert len(message) < 300


def test_every_response_has_nosniff(http: httpx.Client, endpoint: str) -> None:
    for r in (http.get(endpoint, params={"query": ASK}), http.get(endpoint, params={"query": "x"}),
              http.get(endpoint), http.post(endpoint, content=b"", headers={"Content-Type": "text/plain"})):
        assert r.headers["x-content-type-options"] == "nosniff"


@pytest.mark.parametrize("raw", ["query=%FF", "query=SELECT%20%C3%28", "query=ASK%7B%7D&format=%80"])
def test_invalid_utf8_in_the_query_string_is_400(http: httpx.Client, endpoint: str, raw: str) -> None:
    r = http.get(f"{endpoint}?{raw}")
    assert r.status_code == 400 and "UTF-8" in r.json()["message"]


def test_invalid_utf8_in_a_body_is_400(http: httpx.Client, endpoint: str) -> None:
    assert http.post(endpoint, content=b"ASK { \xff }", headers=DIRECT).status_code == 400
    form = {"Content-Type": "application/x-www-form-urlencoded"}
    assert http.post(endpoint, content=b"query=ASK%7B%FF%7D", headers=form).status_code == 400
    assert http.post(endpoint, content=b"query=ASK{\xff}", headers=form).status_code == 400


# ===================================================================================
# Real clients: SPARQLWrapper and rdflib's SPARQLStore
# ===================================================================================
def wrapper(endpoint: str, query: str, fmt: str, method: str = "GET") -> SPARQLWrapper:
    sw = SPARQLWrapper(endpoint)
    sw.setQuery(query)
    sw.setReturnFormat(fmt)
    sw.setMethod(method)
    return sw


@pytest.mark.live
@pytest.mark.parametrize("method", ["GET", POST])
def test_sparqlwrapper_select_json(live_endpoint: str, method: str) -> None:
    data = wrapper(live_endpoint, TYPED, JSON, method).queryAndConvert()
    assert isinstance(data, dict) and len(data["results"]["bindings"]) == 5


@pytest.mark.live
@pytest.mark.parametrize("request_method", [URLENCODED, POSTDIRECTLY])
def test_sparqlwrapper_post_request_methods(live_endpoint: str, request_method: str) -> None:
    sw = wrapper(live_endpoint, COUNT, JSON, POST)
    sw.setRequestMethod(request_method)
    data = sw.queryAndConvert()
    assert int(data["results"]["bindings"][0]["n"]["value"]) > 0  # type: ignore[index,call-overload]


@pytest.mark.live
def test_sparqlwrapper_select_xml_csv_tsv(live_endpoint: str) -> None:
    xml_doc = wrapper(live_endpoint, TYPED, XML).queryAndConvert()
    assert len(xml_doc.getElementsByTagName("result")) == 5  # type: ignore[union-attr]
    csv_text = wrapper(live_endpoint, TYPED, CSV).queryAndConvert()
    assert csv_text.decode().splitlines()[0] == "s,t"  # type: ignore[union-attr]
    tsv_text = wrapper(live_endpoint, TYPED, TSV).queryAndConvert()
    assert tsv_text.decode().splitlines()[0] == "?s\t?t"  # type: ignore[union-attr]


@pytest.mark.live
def test_sparqlwrapper_ask_and_construct(live_endpoint: str) -> None:
    assert wrapper(live_endpoint, ASK, JSON).queryAndConvert()["boolean"] is True  # type: ignore[index,call-overload]
    g = wrapper(live_endpoint, CONSTRUCT, XML).queryAndConvert()
    assert isinstance(g, Graph) and len(g) == 5
    turtle = wrapper(live_endpoint, CONSTRUCT, TURTLE).queryAndConvert()
    assert isinstance(turtle, bytes)
    assert len(Graph().parse(data=turtle, format="turtle")) == 5


@pytest.mark.live
def test_sparqlwrapper_sees_errors(live_endpoint: str) -> None:
    from SPARQLWrapper.SPARQLExceptions import QueryBadFormed

    with pytest.raises(QueryBadFormed):
        wrapper(live_endpoint, "SELECT * WHERE { ?s ?p }", JSON).queryAndConvert()


@pytest.mark.live
def test_rdflib_sparqlstore(live_endpoint: str) -> None:
    g = Graph(store=SPARQLStore(live_endpoint))
    rows = list(g.query(TYPED))
    assert len(rows) == 5
    assert bool(g.query(ASK).askAnswer) is True
    constructed = g.query(CONSTRUCT).graph
    assert constructed is not None and len(constructed) == 5
    some = list(g.triples((None, RDF.type, None)))
    assert some, "pattern lookups work through the protocol"


@pytest.mark.live
def test_rdflib_sparqlstore_post(live_endpoint: str) -> None:
    g = Graph(store=SPARQLStore(live_endpoint, method="POST"))
    assert len(list(g.query(TYPED))) == 5
    g_form = Graph(store=SPARQLStore(live_endpoint, method="POST_FORM"))
    assert len(list(g_form.query(TYPED))) == 5


# ===================================================================================
# The landing page
# ===================================================================================
def test_landing_page(http: httpx.Client, base_url: str) -> None:
    r = http.get(base_url + "/", headers={"Accept": "text/html"})
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    for link in ("/sparql", "/queries", "/class/Mission", "/dumps/", "/.well-known/void", "/ontology",
                 "/timeline", "/network"):
        assert f'href="{link}"' in r.text


def test_landing_page_as_json(http: httpx.Client, base_url: str, endpoint: str) -> None:
    data = http.get(base_url + "/", params={"format": "json"}).json()
    assert data["triples"] > 0 and data["links"]["sparql"] == "/sparql"
    assert {g["iri"] for g in data["graphs"]} == set(named_graphs(http, endpoint))
    for c in data["classes"]:
        assert c["things"] > 0 and c["href"] == "/class/" + c["name"]
    assert http.get(base_url + "/", headers={"Accept": "application/json"}).json() == data


def test_aliases_are_served_under_the_name_asked_for(http: httpx.Client, endpoint: str) -> None:
    r = http.get(endpoint, params={"query": CONSTRUCT}, headers={"Accept": "application/json"})
    assert r.headers["content-type"].split(";")[0] == "application/json"
    assert len(list(ox.parse(r.content, format=ox.RdfFormat.JSON_LD))) == 5
    r = http.get(endpoint, params={"query": TYPED}, headers={"Accept": "application/xml"})
    assert r.headers["content-type"].split(";")[0] == "application/xml"
    assert len(list(ET.fromstring(r.content).iter(SRX + "result"))) == 5
