"""Search served: ``/api/search`` and ``/search`` over the label index the dumps' builder
makes (the index itself: tests/test_search_index.py), through the app as served."""

from __future__ import annotations

import re
import subprocess
import sys
import time
from pathlib import Path

import orjson
import pytest
import rdflib
from starlette.testclient import TestClient

from spacecoop import config
from spacecoop.engine.jobs import Job
from spacecoop.engine.store import Engine
from spacecoop.linked import dump_files, search, search_service
from spacecoop.rdf import iris
from spacecoop.saved import saved_queries as sq

from .conftest import in_process


def labelled(engine: Engine, label: str, lang: str) -> str:
    """The IRI the graph labels ``label``@``lang`` (asked of the graph, not written here)."""
    rows = engine.run_sync(Job(f'SELECT ?s WHERE {{ ?s <{config.RDFS_LABEL}> "{label}"@{lang} }}')).body
    found = orjson.loads(rows)["results"]["bindings"]
    assert len(found) == 1, found
    return str(found[0]["s"]["value"])


@pytest.fixture(scope="module")
def change_6(engine: Engine) -> str:
    return labelled(engine, "嫦娥六号", "zh")


@pytest.mark.parametrize("q", ["嫦娥六号", "六号", "Chang'e 6", "Chang’e 6", "change 6"])
def test_the_api_finds_an_entity_by_its_chinese_or_english_name(client: TestClient, change_6: str, q: str) -> None:
    r = client.get("/api/search", params={"q": q})
    assert r.status_code == 200 and r.headers["content-type"] == "application/json"
    body = r.json()
    assert body["query"] == q
    assert body["results"][0]["iri"] == change_6
    first = body["results"][0]
    assert set(first) == {"iri", "label", "lang", "types", "score", "snippet"}
    assert "«" in first["snippet"] and first["types"]


def test_results_are_best_first_limited_and_filtered(client: TestClient) -> None:
    scores = [h["score"] for h in client.get("/api/search", params={"q": "smile", "limit": 5}).json()["results"]]
    assert 1 <= len(scores) <= 5 and scores == sorted(scores, reverse=True)
    mission = config.SC + "Mission"
    typed = client.get("/api/search", params={"q": "smile", "type": mission}).json()["results"]
    assert typed and all(mission in h["types"] for h in typed)
    assert client.get("/api/search", params={"q": "嫦娥", "lang": "en"}).json()["results"] == []


@pytest.mark.parametrize("params,status", [({}, 422), ({"q": "x", "limit": 0}, 422), ({"q": "x", "limit": 51}, 422)])
def test_a_bad_request_is_a_short_4xx(client: TestClient, params: dict[str, object], status: int) -> None:
    r = client.get("/api/search", params=params)
    assert r.status_code == status
    assert "Traceback" not in r.text and "/work" not in r.text


@pytest.mark.parametrize("q", ['"', "*", "NEAR(", "AND OR NOT", "x" * 900, "’'-"])
def test_hostile_text_is_answered_not_crashed(client: TestClient, q: str) -> None:
    r = client.get("/api/search", params={"q": q})
    assert r.status_code == 200 and isinstance(r.json()["results"], list)


def test_the_page_lists_hits_with_their_types_and_links(client: TestClient, change_6: str) -> None:
    r = client.get("/search", params={"q": "嫦娥"})
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    assert f'href="{iris.href(change_6)}"' in r.text
    assert "<mark>嫦娥</mark>" in r.text
    as_json = client.get("/search", params={"q": "嫦娥"}, headers={"Accept": "application/json"}).json()
    assert as_json["results"][0]["iri"] == change_6


def test_the_page_says_when_nothing_is_found(client: TestClient) -> None:
    r = client.get("/search", params={"q": "zzqxj"})
    assert r.status_code == 200 and "Nothing is called" in r.text


def test_every_page_has_a_search_box_that_gets_the_search_page(client: TestClient) -> None:
    for path in ("/", "/queries", "/resource/no-such-thing"):
        html = client.get(path).text
        form = re.search(r'<form class="search" role="search" action="([^"]+)" method="get">\s*<input[^>]*name="q"',
                         html)
        assert form and form[1] == "/search", path


def test_search_is_in_the_openapi(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    assert "get" in spec["paths"]["/api/search"]
    assert {p["name"] for p in spec["paths"]["/api/search"]["get"]["parameters"]} == {"q", "lang", "type", "limit"}


@pytest.mark.parametrize("slug,label,lang", [("SMILE", "SMILE", "en"), ("嫦娥六号", "嫦娥六号", "zh")])
def test_a_404_suggests_what_the_index_finds_for_the_slug(client: TestClient, engine: Engine, slug: str,
                                                           label: str, lang: str) -> None:
    r = client.get(f"/resource/{slug}")
    assert r.status_code == 404
    wanted = iris.href(labelled(engine, label, lang))
    suggestions = client.get(f"/resource/{slug}", headers={"Accept": "application/json"}).json()["suggestions"]
    assert suggestions and suggestions[0]["href"] == wanted
    assert f'href="{wanted}"' in r.text



def test_a_loaded_store_carries_its_index_and_a_damaged_one_is_a_503(tmp_path: Path) -> None:
    store = tmp_path / "kg"
    done = subprocess.run([str(Path(sys.executable).with_name("spacecoop")), "load", "--store", f"oxigraph:{store}"],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    index = store / dump_files.FOLDER / search.FILE_NAME
    assert index.is_file()
    settings = config.Settings(store=f"oxigraph:{store}", workers=1, reserve_workers=0)
    with in_process(settings) as c:
        assert c.get("/api/search", params={"q": "嫦娥"}).json()["results"]  # adopted: no builder needed
    index.write_bytes(b"\0" * index.stat().st_size)  # damaged on disk, same size
    with in_process(settings) as c:
        # JSON-LD dumps made for this server's address come from a builder (not the index):
        # 202 while it works, as a client honouring Retry-After sees.
        deadline = time.monotonic() + 60
        while (r := c.get("/api/search", params={"q": "嫦娥"})).status_code == 202 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert r.status_code == 503 and "could not be built" in r.json()["message"]


def test_searches_count_against_the_clients_budget(tmp_path: Path) -> None:
    with in_process(config.Settings(client_budget=1e-6, workers=1, reserve_workers=0)) as c:
        deadline = time.monotonic() + 60
        while (r := c.get("/api/search", params={"q": "smile"})).status_code == 202 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert r.status_code == 200  # the first, within a (tiny) budget
        refused = c.get("/api/search", params={"q": "einstein"})  # a new search: the same one is a cached answer
        assert refused.status_code == 429 and int(refused.headers["retry-after"]) >= 1
        assert "budget" in refused.json()["message"]


SEARCH = "PREFIX scs: <https://spacecoop.example/search#> "


def sparql_rows(client: TestClient, query: str) -> list[dict[str, dict[str, str]]]:
    r = client.get("/sparql", params={"query": query}, headers={"Accept": "application/sparql-results+json"})
    assert r.status_code == 200, r.text
    return list(r.json()["results"]["bindings"])


def test_the_index_inside_sparql_joins_the_graph(client: TestClient, change_6: str) -> None:
    rows = sparql_rows(client, SEARCH + f"""SELECT ?e ?label ?score ?type WHERE {{
        SERVICE <{search_service.SERVICE_IRI}> {{ ?e scs:query "嫦娥" ; scs:label ?label ; scs:score ?score ;
                                                   scs:limit 3 }}
        ?e a ?type }}""")
    assert change_6 in {r["e"]["value"] for r in rows}
    assert all(float(r["score"]["value"]) > 0 and r["label"]["value"] for r in rows)
    assert len({r["e"]["value"] for r in rows}) <= 3


def test_a_search_block_it_cannot_read_is_a_400_that_says_what_it_takes(client: TestClient) -> None:
    for block in ("{ ?e scs:query 42 }", '{ ?e scs:query "x" ; scs:colour "red" }', "{ ?e scs:label ?l }"):
        r = client.get("/sparql", params={"query": SEARCH + f"SELECT * {{ SERVICE <{search_service.SERVICE_IRI}> "
                                                            f"{block} }}"})
        assert r.status_code == 400 and "the search service takes" in r.json()["message"], block


def test_a_search_for_an_unbound_text_finds_every_label(client: TestClient) -> None:
    # As the editor runs a saved query with its parameter unbound: a search for everything.
    r = client.get("/sparql", params={"query": SEARCH + f"SELECT ?e ?l ?s {{ SERVICE <{search_service.SERVICE_IRI}> "
                                                        "{ ?e scs:query ?q ; scs:label ?l ; scs:score ?s } }",
                                      "format": "json"})
    rows = r.json()["results"]["bindings"]
    labels = client.get("/sparql", params={"query": "SELECT (COUNT(*) AS ?n) { ?e <http://www.w3.org/2000/01/"
                                                    "rdf-schema#label> ?l FILTER(isIRI(?e)) }", "format": "json"})
    assert len(rows) >= int(labels.json()["results"]["bindings"][0]["n"]["value"]) > 0
    assert {row["s"]["value"] for row in rows} == {"0"}


def test_the_search_service_spelt_another_way_is_still_a_refused_service_call(client: TestClient) -> None:
    escaped = search_service.SERVICE_IRI.replace("search", "\\u0073earch")
    r = client.get("/sparql", params={"query": SEARCH + f'SELECT * {{ SERVICE <{escaped}> {{ ?e scs:query "x" }} }}'})
    assert r.status_code == 400 and "SERVICE" in r.json()["message"]


def test_the_service_description_declares_the_search_service(client: TestClient) -> None:
    turtle = client.get("/sparql", headers={"Accept": "text/turtle"}).text
    g = rdflib.Graph().parse(data=turtle, format="turtle")
    service = rdflib.URIRef(search_service.SERVICE_IRI)
    assert (None, rdflib.URIRef(config.SD + "feature"), service) in g
    assert "answered by this endpoint itself" in str(g.value(service, rdflib.RDFS.comment))


def test_find_by_label_works_under_a_deployment_s_own_base_iri() -> None:
    # A saved query's text follows the deployment's base, the search service's IRI with it.
    base = "https://kg.example.org/space/"
    engine = Engine(config.Settings(base=base))
    engine.start_local()
    search_service.attach(engine)
    try:
        query = next(q for q in sq.load_all(base=base) if q.name == "find-by-label")
        assert search_service.service_iri(base) in query.sparql
        rows = sq.outcome(engine.run_sync(sq.bind(query, {"text": "smile"}, base=base))).rows
        assert rows and rows[0]["entity"][1] == base + "resource/smile"
    finally:
        engine.close()
