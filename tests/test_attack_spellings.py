"""The attacks that once got through, each by the spelling that broke it, against real servers.

Every safety rule rests on reading the query as the engine reads it. These texts were
read one way by the old scanner and another by the engine (an escaped ``#`` in a
prefixed name, a keyword glued to the word before it, a value pasted into a linked-data
query) and so crashed the server, ran past the time limit, called a host off the
allow-list or had a volatile answer cached. Each is now refused or bounded, and a cheap
query is answered meanwhile.
"""

from __future__ import annotations

import concurrent.futures
import time
import urllib.parse
from collections.abc import Iterator

import httpx
import pytest

from ._processes import descendants, seccomp_mode
from .conftest import LiveServer
from .test_sparql_safety import Listener, sparql_peer

pytestmark = pytest.mark.live

PREFIX = "PREFIX ex: <http://x/>\n"
ASK = {"query": "ASK {}"}
# A query quick enough to be remembered, then a text the old scanner took for the same query.
QUICK_WITH_ESCAPE = PREFIX + "SELECT * WHERE { ?s ?p ex:a\\# \n}"
CARTESIAN = "?a ?b ?c . ?d ?e ?f . ?g ?h ?i . ?j ?k ?l"


def answered_quickly(url: str) -> float:
    """Seconds a cheap new query takes (unique texts: no cache, no remembered shape), the
    best of three: a busy 2-core machine may delay any one request."""
    best = float("inf")
    for _ in range(3):
        started = time.perf_counter()
        r = httpx.get(url + "/sparql", params={"query": f"ASK {{ FILTER({time.time_ns()} > 0) }}"}, timeout=10)
        assert r.status_code == 200, r.text
        best = min(best, time.perf_counter() - started)
    return best


def workers(srv: LiveServer) -> set[int]:
    return set(descendants(srv.process.pid))


@pytest.fixture(scope="module")
def strict() -> Iterator[LiveServer]:
    """A server with a 3 s time limit and 256 MB per query."""
    srv = LiveServer("--timeout", "3", env={"SPACECOOP_QUERY_MEMORY_MB": "256"})
    srv.settled()  # the dumps' builder has come and gone: the processes left are the workers
    yield srv
    srv.stop()


@pytest.fixture(scope="module")
def federating() -> Iterator[tuple[LiveServer, Listener]]:
    """A server allowed to federate with one peer, and a stranger that must never be called."""
    peer, stranger = sparql_peer(), sparql_peer()
    srv = LiveServer(env={"SPACECOOP_SERVICE_ALLOW": peer.url})
    yield srv, stranger
    srv.stop()
    peer.close()
    stranger.close()


def test_an_escaped_hash_cannot_smuggle_deep_nesting_into_the_server_process(strict: LiveServer) -> None:
    before = workers(strict)
    for _ in range(3):
        assert httpx.get(strict.url + "/sparql", params={"query": QUICK_WITH_ESCAPE}).status_code == 200
    deep = PREFIX + "SELECT * WHERE { ?s ?p ex:a\\# " + "{" * 10_000 + "}" * 10_000 + " \n}"
    r = httpx.post(strict.url + "/sparql", content=deep, headers={"Content-Type": "application/sparql-query"})
    assert r.status_code == 400 and "nests" in r.json()["message"]
    assert strict.process.poll() is None
    assert httpx.get(strict.url + "/sparql", params=ASK).json()["boolean"] is True
    assert workers(strict) == before  # no worker died either


def test_an_escaped_hash_cannot_take_a_runaway_query_past_the_time_limit(strict: LiveServer) -> None:
    quick = PREFIX + "SELECT * WHERE { ?s ?p ?o FILTER(?o != ex:a\\# \n) } LIMIT 1"
    for _ in range(3):
        assert httpx.get(strict.url + "/sparql", params={"query": quick}).status_code == 200
    runaway = (PREFIX + "SELECT * WHERE { ?s ?p ?o FILTER(?o != ex:a\\# ) "
               f"{{ SELECT (COUNT(*) AS ?n) WHERE {{ {CARTESIAN} }} }} FILTER(?o != ex:a \n) }} LIMIT 1")
    started = time.perf_counter()
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        future = pool.submit(httpx.get, strict.url + "/sparql", params={"query": runaway}, timeout=30)
        time.sleep(0.5)
        assert answered_quickly(strict.url) < 0.1  # the event loop is free meanwhile
        r = future.result()
    assert r.status_code == 503 and "time limit" in r.json()["message"]
    assert time.perf_counter() - started < 8


def test_an_escaped_hash_cannot_hide_a_service_call_from_the_allow_list(
        federating: tuple[LiveServer, Listener]) -> None:
    srv, stranger = federating
    query = (PREFIX + "SELECT * WHERE { OPTIONAL { ?s ?p ex:a\\# } \n"
             f"SERVICE <{stranger.url}sparql> {{ ?canary ?p ?o }} }}")
    r = httpx.get(srv.url + "/sparql", params={"query": query})
    assert r.status_code == 400 and "not allowed" in r.json()["message"]
    time.sleep(0.05)
    assert stranger.connections == []


@pytest.mark.parametrize("spelling", [
    "SELECT * WHERE {{ ?s ?p trueSERVICE <{url}> {{ }} }}",
    "SELECT * WHERE {{ SERVICESILENT <{url}> {{ }} }}",
    "PREFIX ex: <{url}> SELECT * WHERE {{ SERVICEex:sparql {{ }} }}",
    "SELECT * WHERE {{ SERVICE <{escaped}> {{ }} }}",
])
def test_glued_and_escaped_service_calls_are_seen(federating: tuple[LiveServer, Listener], spelling: str) -> None:
    srv, stranger = federating
    escaped = stranger.url.replace("/", "\\u002F")
    r = httpx.get(srv.url + "/sparql", params={"query": spelling.format(url=stranger.url, escaped=escaped)})
    assert r.status_code == 400, r.text
    time.sleep(0.05)
    assert stranger.connections == []


def test_an_escaped_hash_cannot_get_a_volatile_answer_cached(server: LiveServer) -> None:
    query = PREFIX + "SELECT ?t WHERE { OPTIONAL { ?s ?p ex:a\\# } BIND(STR(NOW()) AS ?t) }"
    first = httpx.get(server.url + "/sparql", params={"query": query})
    time.sleep(0.01)
    second = httpx.get(server.url + "/sparql", params={"query": query})
    assert first.headers["cache-control"] == "no-store"
    assert first.json()["results"]["bindings"] != second.json()["results"]["bindings"]


@pytest.mark.parametrize("path", [
    "/graph/missions%3E)%20(%3Curn:x",
    "/resource/x%3E",
    "/resource/x%3E)%20%7D%20" + "%7B" * 10_000,
])
def test_linked_data_paths_are_terms_never_query_text(server: LiveServer, path: str) -> None:
    before = workers(server)
    r = httpx.get(server.url + path, headers={"Accept": "text/turtle"})
    assert r.status_code in (404, 414)  # not found, or a request line past the size limit
    assert "syntax error" not in r.text and "UNDEF" not in r.text
    assert workers(server) == before


def test_a_linked_data_path_cannot_call_out(federating: tuple[LiveServer, Listener]) -> None:
    srv, stranger = federating
    target = stranger.url.replace("/", "\\u002F") + "sparql"
    injected = f"smile> ) }} SERVICE <{target}> {{ ?a ?b ?c }} {{"
    r = httpx.get(srv.url + "/resource/" + urllib.parse.quote(injected, safe=""))
    assert r.status_code == 404
    time.sleep(0.05)
    assert stranger.connections == []


@pytest.fixture(scope="module")
def roomy() -> Iterator[LiveServer]:
    """256 MB per query, and time enough to reach it: past 0.25 s a query's worker drops to
    nice 19, so on a machine busy with other tests the doubling can take seconds."""
    srv = LiveServer("--timeout", "60", env={"SPACECOOP_QUERY_MEMORY_MB": "256"})
    yield srv
    srv.stop()


def test_a_query_that_doubles_a_string_is_stopped_at_the_memory_limit(roomy: LiveServer) -> None:
    binds = " ".join(f"BIND(CONCAT(?s{i},?s{i}) AS ?s{i + 1})" for i in range(29))
    query = f"SELECT (STRLEN(?s29) AS ?n) WHERE {{ BIND('ab' AS ?s0) {binds} }}"
    r = httpx.get(roomy.url + "/sparql", params={"query": query}, timeout=90)
    assert r.status_code == 422 and "memory" in r.json()["message"], r.text
    assert answered_quickly(roomy.url) < 0.1


@pytest.mark.parametrize("path,status", [("/resource/no-such-thing", 404), ("/sparql?query=SELEKT", 400)])
def test_if_none_match_star_matches_only_what_exists(server: LiveServer, path: str, status: int) -> None:
    r = httpx.get(server.url + path, headers={"If-None-Match": "*"})
    assert r.status_code == status
    assert httpx.get(server.url + "/resource/smile", headers={"If-None-Match": "*"}).status_code == 304
    assert httpx.get(server.url + "/sparql", params=ASK, headers={"If-None-Match": "*"}).status_code == 304


def test_with_an_allow_list_the_workers_are_sandboxed_as_well(federating: tuple[LiveServer, Listener]) -> None:
    """The second line of defence: each worker's connections are decided by its supervisor."""
    srv, _ = federating
    modes = [seccomp_mode(pid) for pid in descendants(srv.process.pid)]
    assert modes.count(2) >= 4  # the four workers run under a filter (their supervisors do not)
