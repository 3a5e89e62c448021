"""Dumps, the published context and the VoID/DCAT description: answered by the app as served
(in this process), and by live servers for what their start-up and dump builder do."""

from __future__ import annotations

import asyncio
import contextlib
import gzip
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from rdflib import Dataset, Graph, Literal, URIRef
from rdflib import namespace as ns
from rdflib.compare import isomorphic

from spacecoop import config
from spacecoop.engine.store import Engine, Job
from spacecoop.linked import dump_files, exports
from spacecoop.linked.void import PATH as VOID_PATH
from spacecoop.linked.void import dataset_iri
from spacecoop.rdf import jsonld

from ._processes import descendants
from .conftest import LiveServer, free_port

DUMPS = ["spacecoop.ttl", "spacecoop.nt", "spacecoop.nq", "spacecoop.trig", "spacecoop.jsonld",
         "spacecoop-mission.jsonld"]


# --- dumps ------------------------------------------------------------------------------
@pytest.mark.parametrize("name", DUMPS)
def test_dump_is_the_export_with_validators(client: httpx.Client, name: str) -> None:
    r = client.get(f"/dumps/{name}")
    assert r.status_code == 200
    fmt, frame, _ = exports.parse_dump_name(name) or ("", None, False)
    assert r.headers["content-type"].split(";")[0] == exports.FORMATS[fmt].media_type
    # One code path for the CLI and the server (whose JSON-LD names the context on its own URL).
    assert r.content == exports.export(fmt, frame, config.Settings(public_url=str(client.base_url)))
    etag = r.headers["etag"]
    assert etag.startswith('"') and "max-age" in r.headers["cache-control"]
    again = client.get(f"/dumps/{name}", headers={"If-None-Match": etag})
    assert again.status_code == 304 and again.headers["etag"] == etag and not again.content
    assert client.get(f"/dumps/{name}", headers={"If-None-Match": '"other"'}).status_code == 200
    head = client.head(f"/dumps/{name}")
    assert head.status_code == 200 and head.headers["etag"] == etag


@pytest.mark.parametrize("name", DUMPS)
def test_gzipped_dump(client: httpx.Client, name: str) -> None:
    plain = client.get(f"/dumps/{name}")
    r = client.get(f"/dumps/{name}.gz")
    assert r.status_code == 200 and r.headers["content-type"] == "application/gzip"
    assert "attachment" in r.headers["content-disposition"]
    assert gzip.decompress(r.content) == plain.content
    assert r.headers["etag"] != plain.headers["etag"]


def test_dump_listing(client: httpx.Client) -> None:
    html = client.get("/dumps/")
    assert html.status_code == 200 and html.headers["content-type"].startswith("text/html")
    data = client.get("/dumps/", params={"format": "json"}).json()
    names = {f["name"] for f in data["files"]}
    for name in DUMPS:
        assert name in names and name + ".gz" in names
        assert f'href="/dumps/{name}"' in html.text
    assert set(data["frames"]) >= {"mission", "agency"}
    assert client.get("/dumps", follow_redirects=False).status_code == 308
    missing = client.get("/dumps/spacecoop.xml")
    assert missing.status_code == 404 and "/dumps/spacecoop.ttl" in missing.text


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # inside rdflib's own N-Quads parser
def test_quad_dump_keeps_graphs(client: httpx.Client, dataset: Dataset) -> None:
    back = Dataset()
    back.parse(data=client.get("/dumps/spacecoop.nq").text, format="nquads")
    graphs = {str(g.identifier) for g in back.graphs() if len(g)}
    assert graphs == {str(g.identifier) for g in dataset.graphs() if len(g)}


def test_jsonld_dump_round_trips(client: httpx.Client, union: Graph) -> None:
    doc = client.get("/dumps/spacecoop.jsonld").json()
    published = [str(client.base_url).rstrip("/") + "/context.jsonld"]
    back = Graph().parse(data=jsonld.to_nquads(jsonld.expand(doc, published=published)), format="nt")
    assert isomorphic(back, union)


# --- the context ------------------------------------------------------------------------
def test_context_is_published(client: httpx.Client) -> None:
    r = client.get("/context.jsonld")
    assert r.status_code == 200 and r.headers["content-type"].startswith("application/ld+json")
    assert r.json() == json.loads(config.CONTEXT_FILE.read_text())
    assert r.headers["access-control-allow-origin"] == "*"
    assert client.get("/context.jsonld", headers={"If-None-Match": r.headers["etag"]}).status_code == 304


# --- VoID -------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def void_graph(app: httpx.Client) -> Graph:
    r = app.get("/.well-known/void")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/turtle")
    return Graph().parse(data=r.text, format="turtle")


def count(g: Graph, s: URIRef, p: URIRef) -> int:
    value = g.value(s, p)
    assert isinstance(value, Literal), p
    return int(value)


def test_void_describes_the_live_graph(void_graph: Graph, union: Graph, base_url: str) -> None:
    ds = void_graph.value(None, ns.VOID.sparqlEndpoint, URIRef(base_url + "/sparql"))  # ours, not a link target
    assert (ds, ns.RDF.type, ns.DCAT.Dataset) in void_graph
    assert count(void_graph, ds, ns.VOID.triples) == len(union)
    entities = {s for s in union.subjects() if str(s).startswith(str(config.SCR))}
    assert count(void_graph, ds, ns.VOID.entities) == len(entities)
    classes = set(union.objects(None, ns.RDF.type))
    assert count(void_graph, ds, ns.VOID.classes) == len(classes)
    assert count(void_graph, ds, ns.VOID.properties) == len(set(union.predicates()))
    assert str(void_graph.value(ds, ns.VOID.uriSpace)) == str(config.SCR)
    assert void_graph.value(ds, ns.VOID.sparqlEndpoint) == URIRef(base_url + "/sparql")
    dumps = {str(d) for d in void_graph.objects(ds, ns.VOID.dataDump)}
    assert base_url + "/dumps/spacecoop.nt" in dumps and base_url + "/dumps/spacecoop.trig" in dumps
    examples = set(void_graph.objects(ds, ns.VOID.exampleResource))
    assert examples and examples <= entities
    vocabularies = {str(v) for v in void_graph.objects(ds, ns.VOID.vocabulary)}
    assert {str(config.SC), "http://www.w3.org/2004/02/skos/core#"} <= vocabularies
    assert (ds, ns.DCTERMS.license, URIRef("https://creativecommons.org/licenses/by/4.0/")) in void_graph
    # Partitions, counted per class and per property.
    mission_part = next(p for p in void_graph.objects(ds, ns.VOID.classPartition)
                        if void_graph.value(p, ns.VOID["class"]) == config.SC.Mission)
    assert count(void_graph, mission_part, ns.VOID.entities) == len(set(union.subjects(ns.RDF.type, config.SC.Mission)))
    subsets = list(void_graph.objects(ds, ns.VOID.subset))
    assert len(subsets) >= 10


def test_dcat_distributions_and_service(void_graph: Graph, client: httpx.Client, base_url: str) -> None:
    ds = void_graph.value(None, ns.VOID.sparqlEndpoint, URIRef(base_url + "/sparql"))  # ours, not a link target
    dists = list(void_graph.objects(ds, ns.DCAT.distribution))
    downloads = [d for d in dists if void_graph.value(d, ns.DCAT.downloadURL)]
    assert len(downloads) == 10  # five formats, each also gzipped
    for d in downloads:
        url = str(void_graph.value(d, ns.DCAT.downloadURL))
        size = void_graph.value(d, ns.DCAT.byteSize)
        assert size is not None and size.datatype == ns.XSD.nonNegativeInteger
        r = client.get(url[len(base_url):])
        assert r.status_code == 200 and len(r.content) == int(size)
        media = str(void_graph.value(d, ns.DCAT.mediaType)).rsplit("media-types/", 1)[1]
        assert r.headers["content-type"].split(";")[0] == (media if not url.endswith(".gz") else "application/gzip")
    service = next(void_graph.subjects(ns.RDF.type, ns.DCAT.DataService))
    assert void_graph.value(service, ns.DCAT.endpointURL) == URIRef(base_url + "/sparql")
    assert (service, ns.DCAT.servesDataset, ds) in void_graph


def test_void_in_other_formats(client: httpx.Client, void_graph: Graph) -> None:
    r = client.get("/.well-known/void", headers={"Accept": "application/ld+json"})
    assert r.headers["content-type"].startswith("application/ld+json") and "accept" in r.headers["vary"].lower()
    published = [str(client.base_url).rstrip("/") + "/context.jsonld"]
    back = Graph().parse(data=jsonld.to_nquads(jsonld.expand(r.json(), published=published)), format="nt")
    assert isomorphic(back, void_graph)
    html = client.get("/.well-known/void", headers={"Accept": "text/html"})
    assert html.status_code == 200 and "VoID" in html.text and "/dumps/spacecoop.ttl" in html.text
    assert client.get("/.well-known/void", params={"format": "nt"}).headers["content-type"].startswith(
        "application/n-triples")
    assert client.get("/.well-known/void", headers={"Accept": "*/*"}).headers["content-type"].startswith(
        "text/turtle")


# --- one version: the dumps hold what SPARQL answers from -----------------------------------
DATA = """@prefix scr: <https://spacecoop.example/resource/> .
@prefix rdfs: <http://www.w3.org/2000/01/rdf-schema#> .
scr:thing rdfs:label "{label}"@en .
"""
UNION = "CONSTRUCT { ?s ?p ?o } WHERE { GRAPH ?g { ?s ?p ?o } }"


def _triples(nt: bytes | str) -> set[str]:
    text = nt.decode() if isinstance(nt, bytes) else nt
    return {line for line in text.splitlines() if line.strip()}


@pytest.mark.parametrize("store", ["oxigraph", "memory"])
def test_a_data_file_edited_after_start_changes_no_dump(tmp_path: Path, store: str) -> None:
    data = tmp_path / "things.ttl"
    data.write_text(DATA.format(label="As served"))
    engine = Engine(config.Settings(store=store, data_files=(str(data),)))
    engine.start_local()
    try:
        data.write_text(DATA.format(label="Edited later"))
        dump = dump_files.DumpCache(engine.settings, lambda: engine.snapshot).get("spacecoop.nt").body
        answered = asyncio.run(engine.run(Job(UNION, graph_format="ntriples"))).body
    finally:
        engine.close()
    assert '"As served"@en' in dump.decode() and "Edited later" not in dump.decode()
    assert _triples(dump) == _triples(answered)


@pytest.mark.live
def test_served_dumps_agree_with_sparql_after_the_file_is_edited(tmp_path: Path) -> None:
    data = tmp_path / "things.ttl"
    data.write_text(DATA.format(label="As served"))
    srv = LiveServer("--data", str(data))
    try:
        data.write_text(DATA.format(label="Edited later"))
        srv.dumps_ready()
        with httpx.Client(base_url=srv.url, timeout=60) as c:
            dump = c.get("/dumps/spacecoop.nt")
            answered = c.get("/sparql", params={"query": UNION}, headers={"Accept": "application/n-triples"})
            again = c.get("/dumps/spacecoop.nt")
    finally:
        srv.stop()
    assert dump.status_code == answered.status_code == 200
    assert _triples(dump.content) == _triples(answered.content)
    assert "Edited later" not in dump.text and again.headers["ETag"] == dump.headers["ETag"]


# --- nothing waits for a dump being built ---------------------------------------------------
def dump_builder(srv: LiveServer, timeout: float = 30) -> int:
    """The server's dump builder: its one descendant at the builder's CPU priority."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for pid in descendants(srv.process.pid):
            with contextlib.suppress(OSError):
                if os.getpriority(os.PRIO_PROCESS, pid) == dump_files.BUILDER_NICE:
                    return pid
        time.sleep(0.01)
    raise AssertionError("no dump builder found")


@pytest.mark.live
def test_while_the_dumps_are_built_requests_answer_at_once(tmp_path: Path) -> None:
    """The builder stopped (SIGSTOP) halfway: every dump and the listing answer 202 with
    Retry-After at once, VoID too (or in full once the statistics came), queries in full;
    let go, it finishes and every one is there."""
    data = tmp_path / "big.nt"
    subprocess.run([sys.executable, str(Path(__file__).parents[1] / "bench" / "generate.py"), "20000",
                    "-o", str(data)], check=True, capture_output=True)
    srv = LiveServer("--data", str(data))
    try:
        builder = dump_builder(srv)
        os.kill(builder, signal.SIGSTOP)
        try:
            with httpx.Client(base_url=srv.url, timeout=5) as c:
                waiting = [c.get(f"/dumps/{n}") for n in ("spacecoop.jsonld", "spacecoop-mission.jsonld.gz")]
                listing = c.get("/dumps/", headers={"Accept": "application/json"})
                described = c.get(VOID_PATH, headers={"Accept": "text/turtle"})
                ask = c.get("/sparql", params={"query": "ASK { ?s ?p ?o }"})
        finally:
            os.kill(builder, signal.SIGCONT)
        srv.dumps_ready()
        with httpx.Client(base_url=srv.url, timeout=30) as c:
            done = c.get("/dumps/spacecoop.jsonld")
            void_after = c.get(VOID_PATH, headers={"Accept": "text/turtle"})
    finally:
        srv.stop()
    for r in [*waiting, listing]:
        assert r.status_code == 202, r.text[:200]
        assert int(r.headers["Retry-After"]) > 0 and "being built" in r.json()["message"]
    assert described.status_code in (200, 202) and ask.status_code == 200
    assert done.status_code == 200 and json.loads(done.content)["@graph"]
    assert void_after.status_code == 200
    graph = Graph().parse(data=void_after.text, format="turtle")
    dataset = URIRef(f"{srv.url}/.well-known/void#dataset")
    distributions = set(graph.subjects(ns.RDF.type, URIRef("http://www.w3.org/ns/dcat#Distribution")))
    assert any(str(d).endswith("/dumps/spacecoop.jsonld") for d in distributions)
    triples = graph.value(URIRef(dataset_iri(config.BASE)), ns.VOID.triples) or graph.value(dataset, ns.VOID.triples)
    assert triples is not None and int(triples) == len(_triples(data.read_text()))


# --- a store built by `spacecoop load` brings its dumps --------------------------------------
SPACECOOP = str(Path(sys.executable).with_name("spacecoop"))


def load_store(path: Path, *extra: str, env: dict[str, str] | None = None) -> str:
    done = subprocess.run([SPACECOOP, "load", "--store", f"oxigraph:{path}", *extra], capture_output=True,
                          text=True, timeout=300, env={**os.environ, **(env or {})})
    assert done.returncode == 0, done.stderr
    return done.stdout


@pytest.mark.live
def test_a_loaded_store_serves_its_dumps_and_statistics_at_once(tmp_path: Path) -> None:
    """Loaded for the public URL it is served at: every dump and VoID answer 200 from the
    first request, and no builder runs; the files are those `spacecoop export` writes."""
    port = free_port()
    env = {"SPACECOOP_PUBLIC_URL": f"http://127.0.0.1:{port}"}
    said = load_store(tmp_path / "kg", env=env)
    assert "dumps and statistics built in" in said
    assert (tmp_path / "kg" / dump_files.FOLDER / dump_files.MANIFEST).is_file()
    srv = LiveServer("--store", f"oxigraph:{tmp_path / 'kg'}", env=env, port=port)
    try:
        with httpx.Client(base_url=srv.url, timeout=30) as c:
            listing = c.get("/dumps/", headers={"Accept": "application/json"})
            files = {n: c.get(f"/dumps/{n}") for n in ("spacecoop.nt", "spacecoop.jsonld", "spacecoop-mission.jsonld")}
            described = c.get(VOID_PATH, headers={"Accept": "text/turtle"})
        builders = [p for p in descendants(srv.process.pid)
                    if os.getpriority(os.PRIO_PROCESS, p) == dump_files.BUILDER_NICE]
    finally:
        srv.stop()
    assert listing.status_code == 200 and len(listing.json()["files"]) == len(dump_files.dump_names())
    settings = config.Settings(store=f"oxigraph:{tmp_path / 'kg'}", public_url=srv.url)
    for name, r in files.items():
        fmt, frame, _ = exports.parse_dump_name(name) or ("", None, False)
        assert r.status_code == 200 and r.content == exports.export(fmt, frame, settings), name
    assert described.status_code == 200 and builders == []
    graph = Graph().parse(data=described.text, format="turtle")
    counted = graph.value(URIRef(dataset_iri(config.BASE)), ns.VOID.triples)
    assert int(counted) == len(_triples(files["spacecoop.nt"].content))


@pytest.mark.live
def test_a_store_loaded_for_another_address_has_its_json_ld_remade(tmp_path: Path) -> None:
    """JSON-LD names the context where clients fetch it: a store loaded without the public
    URL it is served at gives its other dumps at once and JSON-LD naming the server's context."""
    load_store(tmp_path / "kg")
    srv = LiveServer("--store", f"oxigraph:{tmp_path / 'kg'}")
    try:
        with httpx.Client(base_url=srv.url, timeout=30) as c:
            first = c.get("/dumps/spacecoop.ttl")
            srv.dumps_ready()
            doc = c.get("/dumps/spacecoop.jsonld")
    finally:
        srv.stop()
    assert first.status_code == 200
    assert doc.status_code == 200 and json.loads(doc.content)["@context"] == f"{srv.url}/context.jsonld"


@pytest.mark.live
def test_load_without_dumps_leaves_them_to_the_server(tmp_path: Path) -> None:
    said = load_store(tmp_path / "kg", "--no-dumps")
    assert "no dumps" in said and not (tmp_path / "kg" / dump_files.FOLDER).exists()
    srv = LiveServer("--store", f"oxigraph:{tmp_path / 'kg'}")
    try:
        srv.dumps_ready()
        with httpx.Client(base_url=srv.url, timeout=30) as c:
            nt = c.get("/dumps/spacecoop.nt")
            part = c.get("/dumps/spacecoop.nt", headers={"Range": "bytes=0-99"})
    finally:
        srv.stop()
    assert nt.status_code == 200 and nt.content.startswith(b"<")
    assert part.status_code == 206 and part.content == nt.content[:100]  # sent from the file, ranges and all
