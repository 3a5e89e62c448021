"""A query's text is scanned once, where it enters the engine, and its facts travel on the
``Job``: to the rules, the cache, the pool, a worker and the remote store — never facts of
another text than the one that runs."""

from __future__ import annotations

import asyncio
import dataclasses
import urllib.parse
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pyoxigraph as ox
import pytest

from spacecoop import config
from spacecoop.engine import jobs, query_rules
from spacecoop.engine.query_rules import QueryError
from spacecoop.engine.store import Engine, Job, OxigraphBackend
from spacecoop.rdf import sparql_text
from spacecoop.web.app import asgi_app

SMALL = '<https://spacecoop.example/resource/probe> <http://www.w3.org/2000/01/rdf-schema#label> "Probe" .\n'
PROBE = ("uri", "https://spacecoop.example/resource/probe")


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("facts") / "probe.nt"
    path.write_text(SMALL)
    return path


@pytest.fixture
def engine(data: Path) -> Iterator[Engine]:
    e = Engine(config.Settings(store="oxigraph", data_files=(str(data),), public_url="http://testserver"))
    e.start_local()
    yield e
    e.close()


@pytest.fixture
def scans(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every scan of a text from here on, wherever the package asks for one (uncached)."""
    seen: list[str] = []
    scan: Callable[[str], sparql_text.Facts] = sparql_text.facts.__wrapped__  # type: ignore[attr-defined]

    def counted(text: str) -> sparql_text.Facts:
        seen.append(text)
        return scan(text)

    for module in (sparql_text, query_rules, jobs):
        monkeypatch.setattr(module, "facts", counted)
    return seen


def test_a_protocol_request_scans_its_query_once(engine: Engine, scans: list[str]) -> None:
    query = "SELECT ?label WHERE { ?s <http://www.w3.org/2000/01/rdf-schema#label> ?label } # once"
    app = asgi_app(engine.settings, engine)
    scans.clear()  # building the app reads the saved queries

    async def go() -> httpx.Response:
        transport = httpx.ASGITransport(app=app)  # type: ignore[arg-type]
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            return await client.post("/sparql", data={"query": query})

    r = asyncio.run(go())
    assert r.status_code == 200 and "Probe" in r.text
    assert scans == [query]


def test_a_bound_job_leaves_admission_with_the_facts_of_the_text_that_runs(engine: Engine,
                                                                            scans: list[str]) -> None:
    job = engine.admit(Job("ASK FROM <http://g/> WHERE { ?s ?p ?o }", bindings=(("s", PROBE),)))
    assert job.bindings == () and "VALUES (?s)" in job.query
    assert job.seen.text == job.query and job.seen.has_from and job.seen.form == "ASK"
    assert scans[-1] == job.query
    before = len(scans)
    assert engine.admit(job).facts is job.facts and len(scans) == before  # admitted again: not scanned again


def test_a_job_refuses_the_facts_of_another_text() -> None:
    other = sparql_text.facts("SELECT * WHERE { ?s ?p ?o }")
    with pytest.raises(ValueError, match="its own query text"):
        Job("ASK { SERVICE <http://x/> { ?s ?p ?o } }", facts=other)
    job = jobs.with_facts(Job("ASK { ?s ?p ?o }"))
    with pytest.raises(ValueError, match="its own query text"):
        dataclasses.replace(job, query="ASK { SERVICE <http://x/> { ?s ?p ?o } }")


def test_the_rules_read_the_text_itself_when_handed_facts_of_another() -> None:
    harmless = sparql_text.facts("ASK { ?s ?p ?o }")
    with pytest.raises(QueryError) as err:
        query_rules.check("ASK { SERVICE <http://x/> { ?s ?p ?o } }", config.Settings(), harmless)
    assert err.value.status == 400 and "SERVICE" in err.value.message


def test_a_backend_refuses_a_job_that_never_entered_the_engine(data: Path) -> None:
    store = ox.Store()
    store.load(path=str(data), format=ox.RdfFormat.N_TRIPLES)
    backend = OxigraphBackend(store)
    with pytest.raises(ValueError, match="not entered the engine"):
        backend.run(Job("ASK { ?s ?p ?o }"), jobs.Limits())
    assert backend.run(jobs.with_facts(Job("ASK { ?s ?p ?o }")), jobs.Limits()).body.count(b"true") == 1


def test_the_workers_answer_from_the_facts_the_job_carries(data: Path) -> None:
    e = Engine(config.Settings(store="oxigraph", data_files=(str(data),), workers=1))

    async def go() -> tuple[bytes, bytes]:
        await e.start()
        try:
            # FROM a graph that is not there: the worker must read has_from off the job, or it
            # would answer from the union of all graphs.
            empty = await e.run(Job("ASK FROM <http://nowhere/> WHERE { ?s ?p ?o }"))
            union = await e.run(Job("ASK WHERE { ?s ?p ?o }"))
            return empty.body, union.body
        finally:
            e.close()

    empty, union = asyncio.run(go())
    assert b"false" in empty and b"true" in union


def test_a_query_string_with_a_hidden_service_is_still_refused(engine: Engine) -> None:
    hidden = urllib.parse.quote("SELECT * { ?s ?p trueSERVICE <http://127.0.0.1:9/> { } }")

    async def go() -> httpx.Response:
        transport = httpx.ASGITransport(app=asgi_app(engine.settings, engine))  # type: ignore[arg-type]
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            return await client.get(f"/sparql?query={hidden}")

    r = asyncio.run(go())
    assert r.status_code == 400 and "SERVICE" in r.json()["message"]
