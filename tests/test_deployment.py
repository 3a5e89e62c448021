"""Deployment: the base IRI an operator gives, what ``spacecoop serve`` says, its access log.

Every base of docs/deploy.md is served by a real ``spacecoop serve`` and one of its own IRIs
is dereferenced: at the IRI itself when the base names the server's own loopback address
(with and without a path), else at the path the IRI maps to, as behind a reverse proxy.
A base that is not one is refused before anything starts: exit 2, one line on stderr.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest
from rdflib import RDFS, Graph, Literal, URIRef

from spacecoop import config
from spacecoop.cli import serve
from spacecoop.engine.store import Engine

from .conftest import LiveServer, free_port


def start(base: str, *extra: str, port: int | None = None) -> LiveServer:
    return LiveServer("--workers", "1", *extra, env={"SPACECOOP_BASE": base}, port=port)


def log_text(srv: LiveServer) -> str:
    """What the server printed so far (read through a file of its own: the server's
    descriptor shares the log's offset with ours)."""
    return Path(srv.log.name).read_text(encoding="utf-8")


def describes_smile(body: str, iri: str, base: str) -> None:
    g = Graph().parse(data=body, format="turtle")
    me = URIRef(iri)
    assert (me, RDFS.label, Literal("SMILE", lang="en")) in g
    assert (me, URIRef(base + "ontology#launchedOn"), URIRef(base + "resource/vega-c")) in g


# --- each base, served ------------------------------------------------------------------
def serve_at_own_address(path: str) -> Iterator[tuple[LiveServer, str]]:
    """A server whose base is its own address plus ``path``, written as people write it:
    no trailing slash; yields it and the base as normalised."""
    port = free_port()
    srv = start(f"http://127.0.0.1:{port}{path}", port=port)
    yield srv, f"http://127.0.0.1:{port}{path}/"
    srv.stop()


@pytest.fixture(scope="module")
def own_address() -> Iterator[tuple[LiveServer, str]]:
    yield from serve_at_own_address("")


@pytest.fixture(scope="module")
def own_address_with_path() -> Iterator[tuple[LiveServer, str]]:
    yield from serve_at_own_address("/kg")


@pytest.mark.live
def test_a_base_without_trailing_slash_dereferences_its_own_iris(own_address: tuple[LiveServer, str]) -> None:
    srv, base = own_address
    iri = base + "resource/smile"
    r = httpx.get(iri, headers={"Accept": "text/turtle"}, timeout=30)  # the IRI itself is the URL
    assert r.status_code == 200
    describes_smile(r.text, iri, base)
    # The saved query that failed with a SPARQL syntax error when the base lacked its slash.
    rows = httpx.get(f"{srv.url}/api/queries/agencies-ranked-by-missions", timeout=30).json()["results"]["bindings"]
    assert rows and all(row["party"]["value"].startswith(base + "resource/") for row in rows)
    assert "base IRI   " + base in log_text(srv)


@pytest.mark.live
def test_a_base_with_a_path_is_served_under_that_path(own_address_with_path: tuple[LiveServer, str]) -> None:
    srv, base = own_address_with_path
    iri = base + "resource/smile"
    with httpx.Client(timeout=30) as c:
        r = c.get(iri, headers={"Accept": "text/turtle"})
        assert r.status_code == 200
        describes_smile(r.text, iri, base)
        # A proxy may also strip the prefix: the same answer at the root.
        assert c.get(f"{srv.url}/resource/smile.ttl").text == c.get(iri + ".ttl").text
        # The endpoint, the pages and the context under the prefix too.
        answer = c.get(base + "sparql", params={"query": "SELECT ?m { ?m a <" + base + "ontology#Mission> } LIMIT 1"},
                       headers={"Accept": "application/sparql-results+json"})
        assert answer.status_code == 200 and answer.json()["results"]["bindings"][0]["m"]["value"].startswith(base)
        assert c.get(base).status_code == 200 and c.get(base.rstrip("/")).status_code == 200
        doc = c.get(iri + ".jsonld").json()
        assert doc["@context"] == base + "context.jsonld"  # the public URL is the base's path on this server
        assert c.get(doc["@context"]).json()["@context"]["@vocab"] == base + "ontology#"
        assert c.get(base + "kg/resource/smile").status_code == 404  # the prefix is stripped once


@pytest.mark.live
@pytest.mark.parametrize("given, base", [("https://kg.example.org", "https://kg.example.org/"),
                                         ("https://example.org/kg/", "https://example.org/kg/")])
def test_a_public_base_is_served_at_the_paths_of_its_iris(given: str, base: str) -> None:
    """As behind a reverse proxy that forwards ``https://example.org/kg/…`` as it is."""
    srv = start(given)
    try:
        iri = base + "resource/smile"
        r = httpx.get(srv.url + urlsplit(iri).path, headers={"Accept": "text/turtle"}, timeout=30)
        assert r.status_code == 200
        describes_smile(r.text, iri, base)
        assert "kg.example.orgresource" not in r.text and "/kg/kg/" not in r.text
        rows = httpx.get(f"{srv.url}/api/queries/agencies-ranked-by-missions",
                         timeout=30).json()["results"]["bindings"]
        assert rows and rows[0]["party"]["value"].startswith(base + "resource/")
    finally:
        srv.stop()


# --- refused bases ----------------------------------------------------------------------
REFUSED = ["kg.example.org", "ftp://kg.example.org/", "https://kg.example.org/?lang=en", "https://kg.example.org/#x",
           "https://kg.example.org/my kg/", " https://kg.example.org/", "https://user@kg.example.org/",
           "https://kg.example.org:99999/", "https://kg.example.org/<kg>/", "http://", "https:kg.example.org",
           "https://kg.example.org/a/../b/", "https://kg_example.org/"]


@pytest.mark.parametrize("value", REFUSED)
def test_a_bad_base_is_refused_at_start_with_one_line(value: str) -> None:
    done = subprocess.run([sys.executable, "-m", "spacecoop", "serve", "--port", str(free_port())],
                          capture_output=True, text=True, timeout=60, env={**os.environ, "SPACECOOP_BASE": value})
    assert done.returncode == 2
    lines = done.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"spacecoop serve: SPACECOOP_BASE={value!r} "), done.stderr
    assert not done.stdout


def test_a_bad_public_url_is_refused_the_same_way() -> None:
    done = subprocess.run([sys.executable, "-m", "spacecoop", "serve", "--port", str(free_port())],
                          capture_output=True, text=True, timeout=60,
                          env={**os.environ, "SPACECOOP_PUBLIC_URL": "kg.example.org:8000"})
    assert done.returncode == 2 and len(done.stderr.splitlines()) == 1
    assert "SPACECOOP_PUBLIC_URL='kg.example.org:8000'" in done.stderr


@pytest.mark.parametrize("given, base", [
    ("http://127.0.0.1:8001", "http://127.0.0.1:8001/"), ("https://kg.example.org", "https://kg.example.org/"),
    ("https://example.org/kg", "https://example.org/kg/"), ("https://example.org/kg/", "https://example.org/kg/"),
    ("HTTPS://Example.ORG:443/KG/", "https://example.org/KG/"), ("http://[::1]:8000", "http://[::1]:8000/"),
])
def test_every_settings_holds_the_normalised_base(given: str, base: str) -> None:
    settings = config.Settings(base=given, public_url=given)
    assert settings.base == base and settings.public_url == base
    assert settings.with_(workers=1).base == base


# --- what spacecoop serve says ----------------------------------------------------------
ACCESS_LINE = re.compile(r"^(GET|HEAD|POST) (\S+) (\d{3}|-) (\d+\.\d)ms (\S+) waited (\d+\.\d)ms$")


def access_lines(srv: LiveServer, count: int, timeout: float = 10) -> list[re.Match[str]]:
    """The access-log lines, once at least ``count`` are there."""
    deadline = time.monotonic() + timeout
    while True:
        found = [m for m in map(ACCESS_LINE.match, log_text(srv).splitlines()) if m]
        if len(found) >= count or time.monotonic() > deadline:
            return found
        time.sleep(0.05)


@pytest.fixture(scope="module")
def talkative() -> Iterator[LiveServer]:
    srv = LiveServer("--workers", "2", "--timeout", "7")
    srv.dumps_ready()  # the dump a test asks for is there on a busy machine too
    yield srv
    srv.stop()


@pytest.mark.live
def test_serve_says_where_it_listens_what_it_serves_and_how(talkative: LiveServer, engine: Engine) -> None:
    text = log_text(talkative)
    assert f"spacecoop serve: listening on {talkative.url}/ (SPARQL endpoint {talkative.url}/sparql)" in text
    # The store and its size, as an engine over the same graph counts it.
    assert f"Oxigraph, in memory: the bundled graph, {engine.triple_count:,} triples in " \
           f"{len(engine.named_graphs)} named graphs" in text
    assert "2 query workers, time limit 7 s" in text
    assert "per client 2 at once, 60 s of query time per 60 s, at most 10 s in the queue; 2 reserve workers" in text
    assert f"base IRI   {config.CANONICAL_BASE}" in text
    assert "pictures are not drawn" not in text  # Graphviz comes from PyPI: nothing to warn about


@pytest.mark.live
def test_serve_logs_every_request(talkative: LiveServer) -> None:
    time.sleep(4 * serve.FLUSH_SECONDS)  # the lines of earlier requests (the start-up probes) are out
    before = len(access_lines(talkative, 0))
    with httpx.Client(base_url=talkative.url, timeout=30) as c:
        c.get("/resource/smile", headers={"Accept": "text/turtle"})
        c.get("/resource/smile", headers={"Accept": "text/turtle"})  # a replay from the response cache
        c.get("/resource/no-such-thing")
        c.head("/dumps/spacecoop.ttl")
        c.post("/sparql", data={"query": "ASK {}"})
        c.get("/resource/x%0Ay", params={"q": "a b"})  # an encoded line break stays encoded
    lines = access_lines(talkative, before + 6)[before:]
    # Each line is written as its answer completes: a file sent from disk may finish a moment
    # after the client, which already has it, has sent the next request.
    seen = sorted((m[1], m[2], m[3]) for m in lines)
    assert seen == sorted([("GET", "/resource/smile", "200"), ("GET", "/resource/smile", "200"),
                           ("GET", "/resource/no-such-thing", "404"), ("HEAD", "/dumps/spacecoop.ttl", "200"),
                           ("POST", "/sparql", "200"), ("GET", "/resource/x%0Ay?q=a+b", "404")])
    assert all(float(m[4]) >= 0 for m in lines)
    # Each line names its client as the fair share counts it, and what it waited for a worker.
    assert {m[5] for m in lines} == {"127.0.0.1"} and all(float(m[6]) >= 0 for m in lines)


@pytest.mark.live
def test_quiet_turns_the_access_log_off_and_what_is_missing_is_warned_about() -> None:
    srv = LiveServer("--workers", "1", "--quiet", "--host", "0.0.0.0", env={"SPACECOOP_GRAPHVIZ": "off"})
    try:
        for _ in range(3):
            assert httpx.get(srv.url + "/resource/smile.ttl", timeout=30).status_code == 200
        time.sleep(0.3)
        text = log_text(srv)
        assert "spacecoop serve: listening on" in text and "access log off (--quiet)" in text
        assert f"  warning    listening on every interface and SPACECOOP_PUBLIC_URL is not set: links, the " \
               f"endpoint's base IRI and JSON-LD contexts name http://0.0.0.0:{srv.port}/" in text
        # The renderer's own reason (graphviz.missing_reason), once, at start.
        assert text.count("  warning    pictures are not drawn: pictures are turned off (SPACECOOP_GRAPHVIZ=off); "
                          "pages show a notice in their place") == 1
        assert not access_lines(srv, 1, timeout=0.5)
    finally:
        srv.stop()


def test_missing_vendored_assets_are_named(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    (tmp_path / "vendor" / "yasgui").mkdir(parents=True)  # there but empty, as after a failed copy
    (tmp_path / "vendor" / "redoc").mkdir()
    (tmp_path / "vendor" / "redoc" / "redoc.standalone.js").write_text("//")
    monkeypatch.setattr(config, "STATIC_DIR", tmp_path)
    missing = serve.missing_parts()
    assert any("SPARQL editor" in m and "make assets" in m for m in missing)
    assert any("/docs" in m for m in missing) and not any("/redoc" in m for m in missing)


def test_nothing_is_reported_missing_when_everything_is_there() -> None:
    assert not [m for m in serve.missing_parts() if "make assets" in m]


@pytest.mark.parametrize("path, raw, seen", [
    ("/k g/resource/smile", b"/k%20g/resource/smile", ("/resource/smile", b"/resource/smile")),
    ("/k g", b"/k%20g", ("/", b"/")),
    ("/k g/resource/smile", b"/k%20%67/resource/smile", ("/resource/smile", b"/resource/smile")),  # escaped its way
    ("/k gx/resource/smile", b"/k%20gx/resource/smile", ("/k gx/resource/smile", b"/k%20gx/resource/smile")),
    ("/resource/smile", b"/resource/smile", ("/resource/smile", b"/resource/smile")),  # a proxy that strips
])
def test_the_base_path_maps_onto_the_root(path: str, raw: bytes, seen: tuple[str, bytes]) -> None:
    import asyncio

    got: list[tuple[str, bytes]] = []

    async def app(scope: dict, receive: object, send: object) -> None:
        got.append((scope["path"], scope["raw_path"]))

    wrapped = serve.BasePath(app, serve.base_path(config.normalise_base("https://example.org/k%20g")))
    asyncio.run(wrapped({"type": "http", "path": path, "raw_path": raw}, None, None))  # type: ignore[arg-type]
    assert got == [seen]
