"""Saved queries over HTTP, against a real server: pages, the typed REST API, OpenAPI, and
the catalogue as RDF in the SPARQL endpoint."""

from __future__ import annotations

import csv
import html
import io
import json

import httpx
import pytest
from markupsafe import escape
from rdflib import Graph, URIRef

from spacecoop import config
from spacecoop.saved import saved_queries as sq

QUERIES = sq.load_all()
NAMES = [q.name for q in QUERIES]
HTML = {"Accept": "text/html"}


# --- /queries --------------------------------------------------------------------------
def test_the_queries_page_lists_each_query_with_title_description_and_tags(client: httpx.Client) -> None:
    r = client.get("/queries", headers=HTML)
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    for q in QUERIES:
        assert f'href="/queries/{q.name}"' in r.text
        assert str(escape(q.title)) in r.text
        assert str(escape(q.description)) in r.text
    assert '<span class="tag">beginner</span>' in r.text


@pytest.mark.parametrize("how", [{"params": {"format": "json"}}, {"headers": {"Accept": "application/json"}}])
def test_the_queries_page_is_json_for_machines(client: httpx.Client, how: dict) -> None:
    r = client.get("/queries", **how)
    assert r.headers["content-type"] == "application/json"
    listed = r.json()["queries"]
    assert [q["name"] for q in listed] == NAMES
    timeline = next(q for q in listed if q["name"] == "timeline")
    assert [(p["name"], p["type"]) for p in timeline["params"]] == [("from", "date"), ("until", "date")]


# --- /queries/{name} -------------------------------------------------------------------
def test_a_query_page_shows_description_sparql_form_and_linked_results(client: httpx.Client) -> None:
    q = sq.get("mission-contributions")
    r = client.get("/queries/mission-contributions", params={"mission": "change-6"}, headers=HTML)
    assert r.status_code == 200
    page = r.text
    assert str(escape(q.description)) in page
    assert "<pre><code" in page and "sc:contributionTo ?mission" in html.unescape(page)
    assert '<form class="params" method="get"' in page and 'name="mission"' in page and 'value="change-6"' in page
    # Results read as labels and link to the entities' own pages.
    assert '<a href="/resource/dorn"' in page and ">DORN</a>" in page
    assert '<a href="/resource/france"' in page and ">France</a>" in page
    assert ">https://spacecoop.example/resource/" not in page
    assert "2 rows" in page


def test_a_query_page_is_json_with_the_same_answer(client: httpx.Client) -> None:
    r = client.get("/queries/mission-contributions", params={"mission": "change-6", "format": "json"})
    data = r.json()
    assert data["name"] == "mission-contributions" and data["values"] == {"mission": "change-6"}
    providers = {row["provider"]["label"] for row in data["result"]["rows"]}
    assert providers == {"European Space Agency", "France"}
    assert data["links"]["csv"] == "/api/queries/mission-contributions?mission=change-6&format=csv"


def test_a_query_page_runs_with_its_defaults(client: httpx.Client) -> None:
    r = client.get("/queries/new-collaborations-announced", headers=HTML)
    assert r.status_code == 200 and "<strong>No</strong>" in r.text


def test_a_bad_parameter_on_a_page_is_a_400_that_keeps_the_form(client: httpx.Client) -> None:
    r = client.get("/queries/timeline", params={"from": "last spring"}, headers=HTML)
    assert r.status_code == 400
    assert "must be a date written YYYY-MM-DD" in r.text and 'aria-invalid="true"' in r.text
    assert 'value="last spring"' in r.text


def test_an_unknown_query_page_is_a_404_with_a_suggestion(client: httpx.Client) -> None:
    r = client.get("/queries/missions-by-statu", headers=HTML)
    assert r.status_code == 404 and "did you mean missions-by-status?" in r.text


# --- /api/queries ------------------------------------------------------------------------
def test_the_api_lists_the_queries(client: httpx.Client) -> None:
    data = client.get("/api/queries").json()
    assert [q["name"] for q in data["queries"]] == NAMES
    assert data["queries"][0]["links"]["api"] == f"/api/queries/{NAMES[0]}"


def test_the_api_answers_sparql_json_by_default(client: httpx.Client) -> None:
    r = client.get("/api/queries/agency-missions", params={"agency": "cnsa"})
    assert r.status_code == 200 and r.headers["content-type"] == "application/sparql-results+json"
    rows = r.json()["results"]["bindings"]
    assert {b["agency"]["value"] for b in rows} == {config.resource_iri("cnsa")}
    assert config.resource_iri("smile") in {b["mission"]["value"] for b in rows}


@pytest.mark.parametrize("how", [{"headers": {"Accept": "text/csv"}}, {"params": {"format": "csv"}}])
def test_the_api_answers_csv_when_asked(client: httpx.Client, how: dict) -> None:
    params = {"agency": "cnsa", **how.get("params", {})}
    r = client.get("/api/queries/agency-missions", params=params, headers=how.get("headers"))
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(r.text)))
    assert rows and set(rows[0]) == {"agency", "mission", "missionLabel", "how"}


def test_a_graph_query_answers_json_ld_turtle_or_csv(client: httpx.Client) -> None:
    r = client.get("/api/queries/mission-neighbourhood", params={"mission": "change-6"})
    assert r.headers["content-type"].startswith("application/ld+json")
    g = Graph().parse(data=r.text, format="json-ld")
    assert (URIRef(config.resource_iri("dorn")), URIRef(str(config.SC.carriedOn)),
            URIRef(config.resource_iri("change-6"))) in g
    turtle = client.get("/api/queries/mission-neighbourhood", params={"mission": "change-6"},
                        headers={"Accept": "text/turtle"})
    assert turtle.headers["content-type"].startswith("text/turtle")
    assert len(Graph().parse(data=turtle.text, format="turtle")) == len(g)
    as_csv = client.get("/api/queries/mission-neighbourhood", params={"mission": "change-6", "format": "csv"})
    assert as_csv.text.splitlines()[0] == "subject,predicate,object"


@pytest.mark.parametrize(("path", "params", "message"), [
    ("mission-contributions", {"mission": "<a> } UNION { ?s ?p ?o"}, "parameter 'mission' must be an IRI"),
    ("mission-contributions", {"mission": 'x" } ; DROP ALL ; #'}, "parameter 'mission' must be an IRI"),
    ("agencies-ranked-by-missions", {"min": "3; DROP ALL"}, "parameter 'min' must be a whole number"),
    ("labels-missing-in-language", {"lang": "zh) || true || (\""}, "parameter 'lang' must be a BCP 47"),
    ("timeline", {"until": "2024-02-30"}, "parameter 'until' must be a date"),
    ("mission-contributions", {"colour": "red"}, "is not a parameter of 'mission-contributions'"),
])
def test_a_bad_parameter_is_a_400_saying_what_to_send(client: httpx.Client, path: str, params: dict,
                                                      message: str) -> None:
    r = client.get(f"/api/queries/{path}", params=params)
    assert r.status_code == 400 and message in r.json()["error"]


def test_an_injection_attempt_in_a_string_parameter_cannot_change_the_query(client: httpx.Client) -> None:
    for value in ('x" } ; DROP ALL ; #', "<a> } UNION { ?s ?p ?o", "x\\u0022 } UNION { ?s ?p ?o } #"):
        r = client.get("/api/queries/find-by-label", params={"text": value})
        assert r.status_code == 200 and r.json()["results"]["bindings"] == []
    # Nothing was dropped and nothing extra leaked in: the default search still finds its names.
    r = client.get("/api/queries/find-by-label")
    expected = json.loads((config.EXPECTED_DIR / "find-by-label.json").read_text())["rows"]
    assert len(r.json()["results"]["bindings"]) == len(expected)


def test_an_unknown_query_is_a_404(client: httpx.Client) -> None:
    r = client.get("/api/queries/no-such-query")
    assert r.status_code == 404 and "no saved query named 'no-such-query'" in r.json()["error"]


def test_an_unacceptable_format_is_a_406(client: httpx.Client) -> None:
    r = client.get("/api/queries/missions-by-status", headers={"Accept": "image/png"})
    assert r.status_code == 406 and "text/csv" in r.json()["error"]


# --- OpenAPI ----------------------------------------------------------------------------
def test_openapi_documents_one_operation_per_saved_query_with_typed_parameters(client: httpx.Client) -> None:
    spec = client.get("/openapi.json").json()
    for q in QUERIES:
        op = spec["paths"][f"/api/queries/{q.name}"]["get"]
        assert op["operationId"] == "query_" + q.name.replace("-", "_")
        assert op["summary"] == q.title and q.description in op["description"]
        assert [p["name"] for p in op.get("parameters", [])] == [p.name for p in q.params] + ["format"]
        assert all(p["in"] == "query" and p["description"] for p in op["parameters"])
    params = {p["name"]: p for p in spec["paths"]["/api/queries/timeline"]["get"]["parameters"]}
    assert params["from"]["schema"]["format"] == "date"
    params = {p["name"]: p for p in spec["paths"]["/api/queries/agencies-ranked-by-missions"]["get"]["parameters"]}
    assert params["min"]["schema"]["type"] == "integer" and params["min"]["schema"]["default"] == 1
    params = {p["name"]: p for p in spec["paths"]["/api/queries/mission-contributions"]["get"]["parameters"]}
    assert params["mission"]["schema"]["format"] == "iri"
    assert "text/csv" in spec["paths"]["/api/queries/mission-contributions"]["get"]["responses"]["200"]["content"]


def test_the_api_docs_page_is_served(client: httpx.Client) -> None:
    assert client.get("/docs").status_code == 200


# --- the catalogue in the endpoint ------------------------------------------------------
def test_the_sib_catalogue_query_lists_every_saved_query_from_the_endpoint(client: httpx.Client) -> None:
    sib = """PREFIX sh: <http://www.w3.org/ns/shacl#>
PREFIX rdfs: <http://www.w3.org/2000/01/rdf-schema#>
SELECT ?q ?c WHERE { ?q a sh:SPARQLExecutable ; rdfs:comment ?c }"""
    r = client.get("/sparql", params={"query": sib}, headers={"Accept": "application/sparql-results+json"})
    assert r.status_code == 200
    rows = r.json()["results"]["bindings"]
    assert sorted(b["q"]["value"] for b in rows) == sorted(f"{config.SCQ}{n}" for n in NAMES)
    assert {b["c"]["value"] for b in rows} == {q.description for q in QUERIES}
