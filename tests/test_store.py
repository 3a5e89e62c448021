"""The engine: native evaluation, every result format, bindings, limits, worker isolation,
and the three kinds of store (embedded in memory, persistent Oxigraph, remote SPARQL)."""

from __future__ import annotations

import asyncio
import csv
import io
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from xml.etree import ElementTree

import httpx
import orjson
import pyoxigraph as ox
import pytest
from rdflib import Graph

from spacecoop import config
from spacecoop.engine import store
from spacecoop.engine.store import Engine, Job, QueryError
from spacecoop.rdf.loader import LoadError, Source, load_dataset, load_oxigraph

from .conftest import ROOT, LiveServer, free_port

MISSION = "https://spacecoop.example/resource/mission-3"


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("synthetic") / "synthetic.nt"
    subprocess.run([sys.executable, str(ROOT / "bench" / "generate.py"), "2000", "-o", str(path)], check=True)
    return path


def local_engine(data: Path, store: str = "oxigraph", **settings: object) -> Engine:
    eng = Engine(config.Settings(store=store, data_files=(str(data),)).with_(**settings))
    eng.start_local()
    return eng


@pytest.fixture(scope="module")
def eng(synthetic: Path) -> Iterator[Engine]:
    e = local_engine(synthetic)
    yield e
    e.close()


def rows(answer_body: bytes) -> list[dict]:
    return orjson.loads(answer_body)["results"]["bindings"]


def parsed_rows(body: bytes, fmt: str) -> int:
    """Rows of a SELECT answer, read back with a parser of its format."""
    if fmt == "json":
        return len(rows(body))
    if fmt == "xml":
        ns = "{http://www.w3.org/2005/sparql-results#}"
        return len(ElementTree.fromstring(body).findall(f"{ns}results/{ns}result"))
    lines = list(csv.reader(io.StringIO(body.decode(), newline=""), delimiter="," if fmt == "csv" else "\t"))
    return len(lines) - 1


@pytest.mark.parametrize("fmt,marker", [("json", b'"bindings"'), ("xml", b"<sparql"),
                                        ("csv", b"p,o\r\n"), ("tsv", b"?p\t?o\n")])
def test_select_answers_in_every_results_format(eng: Engine, fmt: str, marker: bytes) -> None:
    query = f"SELECT ?p ?o WHERE {{ <{MISSION}> ?p ?o }}"
    ans = eng.run_sync(Job(query, result_format=fmt))
    expected = len(rows(eng.run_sync(Job(query)).body))
    assert ans.kind == "select" and marker in ans.body
    assert parsed_rows(ans.body, fmt) == expected > 3


@pytest.mark.parametrize("fmt,rdflib_format", [("turtle", "turtle"), ("ntriples", "nt"),
                                               ("jsonld", "json-ld"), ("rdfxml", "xml"), ("trig", "trig"),
                                               ("nquads", "nquads")])
def test_construct_answers_parse_back_in_every_graph_format(eng: Engine, fmt: str, rdflib_format: str) -> None:
    ans = eng.run_sync(Job(f"CONSTRUCT WHERE {{ <{MISSION}> ?p ?o }}", graph_format=fmt))
    assert ans.kind == "construct"
    if rdflib_format in ("trig", "nquads"):
        from rdflib import Dataset

        g: Graph = Dataset()
    else:
        g = Graph()
    g.parse(data=ans.body, format=rdflib_format)
    assert len(g) == ans.rows and len(g) > 3


def test_ask_and_describe_kinds_are_reported(eng: Engine) -> None:
    assert orjson.loads(eng.run_sync(Job("ASK { ?s ?p ?o }")).body)["boolean"] is True
    assert eng.run_sync(Job(f"DESCRIBE <{MISSION}>")).kind == "describe"


def test_bindings_are_rdf_terms_so_injection_text_stays_a_literal(eng: Engine) -> None:
    q = "SELECT ?s WHERE { ?s <http://www.w3.org/2000/01/rdf-schema#label> ?label }"
    evil = ("literal", 'x" } ; DROP ALL ; #', None, None)
    assert rows(eng.run_sync(Job(q, bindings=(("label", evil),))).body) == []
    bound = eng.run_sync(Job("SELECT ?p WHERE { ?m ?p ?o }", bindings=(("m", ("uri", MISSION)),)))
    assert len(rows(bound.body)) > 3


def test_default_graph_uri_restricts_the_default_graph(eng: Engine) -> None:
    count = "SELECT (COUNT(*) AS ?n) WHERE { ?s ?p ?o }"
    everything = int(rows(eng.run_sync(Job(count)).body)[0]["n"]["value"])
    nothing = rows(eng.run_sync(Job(count, default_graphs=("http://nowhere.example/g",))).body)
    assert everything > 1000 and nothing[0]["n"]["value"] == "0"


@pytest.mark.parametrize("fmt", ["json", "xml", "csv", "tsv"])
def test_result_cap_refuses_with_a_clear_message_in_every_format(synthetic: Path, fmt: str) -> None:
    e = local_engine(synthetic, max_result_rows=10)
    try:
        with pytest.raises(QueryError) as err:
            e.run_sync(Job("SELECT * WHERE { ?s ?p ?o }", result_format=fmt))
        assert err.value.status == 422 and "more than 10 results" in err.value.message
        # Exactly at the cap is still an answer, even with line breaks and braces in its values.
        values = " ".join(f'("{{line{i}\\r\\n}}")' for i in range(10))
        at_cap = e.run_sync(Job(f"SELECT ?v WHERE {{ VALUES (?v) {{ {values} }} }}", result_format=fmt))
        assert parsed_rows(at_cap.body, fmt) == 10
    finally:
        e.close()


def test_syntax_errors_are_short_and_positioned(eng: Engine) -> None:
    with pytest.raises(QueryError) as err:
        eng.run_sync(Job("SELECT * WHERE { ?s ?p }"))
    assert err.value.status == 400 and "line 1, column 24" in err.value.message and "Traceback" not in err.value.message


def test_rdflib_memory_store_gives_the_same_answers_as_oxigraph(synthetic: Path, eng: Engine) -> None:
    mem = local_engine(synthetic, store="memory")
    q = f"SELECT ?p ?o WHERE {{ <{MISSION}> ?p ?o }}"
    def as_set(body: bytes) -> set[tuple[str, str]]:
        return {(r["p"]["value"], r["o"]["value"]) for r in rows(body)}
    assert as_set(mem.run_sync(Job(q)).body) == as_set(eng.run_sync(Job(q)).body)
    mem.close()


def test_pool_stops_a_query_past_its_time_limit_and_recovers(synthetic: Path) -> None:
    async def scenario() -> tuple[float, QueryError, int, bool]:
        e = Engine(config.Settings(data_files=(str(synthetic),), workers=2, query_timeout=1.0, cache_entries=0))
        await e.start()
        assert e._pool is not None
        pids_before = {w.process.pid for w in e._pool._all}
        started = time.perf_counter()
        try:
            await e.run(Job("SELECT (COUNT(*) AS ?n) WHERE { ?a ?b ?c . ?d ?e ?f . ?g ?h ?i . ?j ?k ?l }"))
        except QueryError as caught:
            err = caught
        elapsed = time.perf_counter() - started
        await asyncio.sleep(1.0)  # the replacement worker starts in the background
        pids_after = {w.process.pid for w in e._pool._all}
        killed = len(pids_before - pids_after)
        ok = (await e.run(Job("ASK { ?s ?p ?o }"))).kind == "ask"
        e.close()
        return elapsed, err, killed, ok

    elapsed, err, killed, ok = asyncio.run(scenario())
    assert err.status == 503 and "time limit" in err.message
    assert elapsed < 3, "the client must get its answer at the deadline, not when the query ends"
    assert killed == 1, "the worker running the query is killed, freeing its CPU"
    assert ok


def test_repeated_queries_are_served_from_the_bounded_cache(synthetic: Path) -> None:
    async def scenario() -> bool:
        e = Engine(config.Settings(data_files=(str(synthetic),), workers=1))
        await e.start()
        first = await e.run(Job("SELECT * WHERE { ?s ?p ?o } LIMIT 5"))
        second = await e.run(Job("SELECT * WHERE { ?s ?p ?o } LIMIT 5"))
        e.close()
        return first is second

    assert asyncio.run(scenario())


def pooled(synthetic: Path, store: str = "oxigraph") -> Engine:
    """A server-style engine (worker pool, no result cache) over the synthetic graph."""
    return Engine(config.Settings(store=store, data_files=(str(synthetic),), workers=1, cache_entries=0))


def test_a_quick_query_runs_in_the_server_process_once_a_worker_has_answered_it(synthetic: Path) -> None:
    # No pattern anchored by a constant: its cost cannot be bounded before it runs (engine/cost.py).
    query = "SELECT ?s ?p ?o WHERE { ?s ?p ?o } LIMIT 5"

    async def scenario() -> list[tuple[bytes, int]]:
        e = pooled(synthetic)
        await e.start()
        seen = []
        # Other comments and spacing: the same query, so the same cost.
        for text in (query, f"# run 2\n{query}", query.replace(" ", "  ") + " # run 3"):
            seen.append(((await e.run(Job(text))).body, e.inline_answers))
        e.close()
        return seen

    (first, inline_first), (second, inline_second), (third, inline_third) = asyncio.run(scenario())
    assert (inline_first, inline_second, inline_third) == (0, 1, 2)
    assert first == second == third and len(rows(first)) == 5


def test_a_new_query_whose_cost_is_bounded_runs_in_the_server_process_at_once(synthetic: Path) -> None:
    async def scenario() -> list[int]:
        e = pooled(synthetic)
        await e.start()
        counts = []
        for i in range(3):  # three missions, three texts new to the server
            answer = await e.run(Job(f"SELECT ?p ?o WHERE {{ <{MISSION[:-1]}{i}> ?p ?o }}"))
            counts.append(e.inline_answers)
            assert rows(answer.body)
        e.close()
        return counts

    assert asyncio.run(scenario()) == [1, 2, 3]


def inline_answers_after_three_runs(synthetic: Path, query: str, store: str = "oxigraph") -> int:
    """How many of three runs of ``query`` (each with its own comment) the server process answered."""
    async def scenario() -> int:
        e = pooled(synthetic, store)
        await e.start()
        for i in range(3):
            await e.run(Job(f"{query} # run {i}"))
        e.close()
        return e.inline_answers

    return asyncio.run(scenario())


@pytest.mark.parametrize("query", [
    "SELECT (NOW() AS ?t) (COUNT(*) AS ?n) WHERE { ?s ?p ?o }",  # its cost may change with time
    "SELECT (COUNT(*) AS ?n) WHERE { ?a ?b ?c . ?d ?e ?f }",  # millions of rows: never quick
])
def test_volatile_or_slow_queries_always_run_in_a_worker(synthetic: Path, query: str) -> None:
    assert inline_answers_after_three_runs(synthetic, query) == 0


def test_the_rdflib_store_never_answers_in_the_server_process(synthetic: Path) -> None:
    assert inline_answers_after_three_runs(synthetic, f"ASK {{ <{MISSION}> ?p ?o }}", store="memory") == 0


def test_loader_reports_syntax_errors_as_file_line_column(tmp_path: Path) -> None:
    bad = tmp_path / "bad.ttl"
    bad.write_text('@prefix ex: <http://ex/> .\nex:a ex:b "unterminated .\n')
    with pytest.raises(LoadError) as err:
        load_dataset([Source(bad, config.graph_iri("bad"))])
    assert str(err.value).startswith(f"{bad}:2:")


@pytest.mark.live
def test_persistent_oxigraph_store_is_built_once_and_served(synthetic: Path, tmp_path: Path) -> None:
    store = tmp_path / "store"
    out = subprocess.run([sys.executable, "-m", "spacecoop", "load", str(synthetic), "--store", f"oxigraph:{store}"],
                         capture_output=True, text=True, check=True)
    assert "triples/s" in out.stdout
    stamp = orjson.loads((store / "spacecoop-store.json").read_bytes())  # read at start-up, not recounted
    assert stamp["triples"] == len(synthetic.read_text().splitlines())
    assert stamp["named_graphs"] == [config.graph_iri(synthetic.stem)]
    srv = LiveServer("--store", f"oxigraph:{store}")
    try:
        r = httpx.get(srv.url + "/sparql", params={"query": f"SELECT ?p WHERE {{ <{MISSION}> ?p ?o }}"},
                      headers={"Accept": "application/sparql-results+json"})
        assert r.status_code == 200 and len(r.json()["results"]["bindings"]) > 3
    finally:
        srv.stop()


@pytest.fixture(scope="module")
def oxigraph_server(synthetic: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real `oxigraph serve-read-only` process (the PyPI `oxigraph` package)."""
    location = tmp_path_factory.mktemp("oxigraph")
    binary = str(Path(sys.executable).with_name("oxigraph"))
    subprocess.run([binary, "load", "--location", str(location), "--file", str(synthetic)], check=True,
                   capture_output=True)
    port = free_port()
    proc = subprocess.Popen([binary, "serve-read-only", "--location", str(location), "--bind", f"127.0.0.1:{port}"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}/query"
    for _ in range(100):
        try:
            httpx.get(url, params={"query": "ASK {}"}, timeout=1)
            break
        except httpx.HTTPError:
            time.sleep(0.1)
    yield url
    proc.terminate()
    proc.wait(10)


@pytest.mark.live
def test_remote_sparql_store_is_fronted_with_our_protocol(oxigraph_server: str) -> None:
    srv = LiveServer("--store", f"sparql:{oxigraph_server}", env={"SPACECOOP_STORE": ""})
    try:
        r = httpx.get(srv.url + "/sparql", params={"query": f"SELECT ?p WHERE {{ <{MISSION}> ?p ?o }}"})
        assert r.status_code == 200 and len(r.json()["results"]["bindings"]) > 3
        refused = httpx.post(srv.url + "/sparql", data={"update": "DROP ALL"})
        assert refused.status_code == 403, "the remote store stays read-only behind us"
    finally:
        srv.stop()
    still_there = httpx.get(oxigraph_server, params={"query": "ASK { ?s ?p ?o }"},
                            headers={"Accept": "application/sparql-results+json"})
    assert still_there.json()["boolean"] is True


def test_remote_store_binds_parameters_as_values(oxigraph_server: str) -> None:
    e = Engine(config.Settings(store=f"sparql:{oxigraph_server}"))
    e.start_local()
    ans = e.run_sync(Job("SELECT ?p WHERE { ?m ?p ?o }", bindings=(("m", ("uri", MISSION)),)))
    assert len(rows(ans.body)) > 3
    e.close()


@pytest.mark.live
def test_server_starts_on_the_bundled_graph_without_configuration() -> None:
    srv = LiveServer(env={k: v for k, v in os.environ.items() if not k.startswith("SPACECOOP_")})
    try:
        r = httpx.get(srv.url + "/sparql", params={"query": "SELECT (COUNT(*) AS ?n) WHERE { ?s ?p ?o }"})
        assert int(r.json()["results"]["bindings"][0]["n"]["value"]) == len(load_dataset())
    finally:
        srv.stop()


# --- parallel loading of line-based files --------------------------------------------------
@pytest.fixture
def small_pieces(monkeypatch: pytest.MonkeyPatch) -> None:
    """Pieces of 4 KiB and two threads, so that a small file is loaded in many pieces."""
    from spacecoop.rdf import loader

    monkeypatch.setattr(loader, "PIECE_BYTES", 4096)
    monkeypatch.setattr(loader, "LOAD_THREADS", 2)


def _load(path: Path) -> ox.Store:
    store = ox.Store()
    load_oxigraph(store, [Source(path, None if path.suffix == ".nq" else config.graph_iri(path.stem))])
    return store


def test_big_ntriples_load_in_pieces_gives_the_same_graph(synthetic: Path, small_pieces: None) -> None:
    pieces = _load(synthetic)
    whole = ox.Store()
    whole.bulk_load(path=str(synthetic), format=ox.RdfFormat.N_TRIPLES,
                    to_graph=ox.NamedNode(config.graph_iri(synthetic.stem)))
    assert synthetic.stat().st_size > 10 * 4096 and len(whole) > 1000
    assert set(pieces) == set(whole)


def test_a_blank_node_stays_one_node_across_pieces(tmp_path: Path, small_pieces: None) -> None:
    lines = ["_:shared <http://ex/p> \"first\" ."]
    lines += [f"<http://ex/s{i}> <http://ex/p> \"{'x' * 40}\" ." for i in range(2000)]
    lines += ["_:shared <http://ex/p> \"last\" .", "_:other <http://ex/q> _:shared ."]
    data = tmp_path / "blanks.nt"
    data.write_text("\n".join(lines) + "\n")
    assert data.stat().st_size > 10 * 4096
    store = _load(data)
    answer = store.query(
        'SELECT (COUNT(DISTINCT ?b) AS ?n) WHERE { ?b <http://ex/p> "first", "last" . ?o <http://ex/q> ?b }',
        use_default_graph_as_union=True)
    assert [int(s["n"].value) for s in answer] == [1]


def test_a_syntax_error_deep_in_a_big_file_gives_its_true_line(tmp_path: Path, small_pieces: None) -> None:
    lines = [f"<http://ex/s{i}> <http://ex/p> \"{'x' * 40}\" ." for i in range(3000)]
    lines[2500] = "<http://ex/s2500> <http://ex/p> \"unterminated ."
    data = tmp_path / "bad.nt"
    data.write_text("\n".join(lines) + "\n")
    with pytest.raises(LoadError) as err:
        _load(data)
    assert str(err.value).startswith(f"{data}:2501:")


@pytest.mark.parametrize("args,expected", [
    (["--data", "{bad}"], "{bad}:2:"),
    (["--store", "oxigraph:{tmp}/nowhere"], "no Oxigraph store at"),
    (["--store", "postgres"], "unknown store 'postgres'"),
])
def test_serve_refuses_a_broken_store_in_plain_words(tmp_path: Path, args: list[str], expected: str) -> None:
    bad = tmp_path / "bad.ttl"
    bad.write_text('@prefix ex: <http://ex/> .\nex:a ex:b "unterminated .\n')
    fill = {"bad": str(bad), "tmp": str(tmp_path)}
    done = subprocess.run([sys.executable, "-m", "spacecoop", "serve", "--port", str(free_port()),
                           *(a.format(**fill) for a in args)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 1, done.stderr
    assert done.stderr.startswith("spacecoop serve: ") and expected.format(**fill) in done.stderr
    assert "Traceback" not in done.stderr


def test_load_names_the_bad_line_and_leaves_no_store(tmp_path: Path) -> None:
    bad = tmp_path / "bad.nt"
    bad.write_text('<http://ex/a> <http://ex/b> "fine" .\n<http://ex/a> <http://ex/b> "unterminated .\n')
    done = subprocess.run([sys.executable, "-m", "spacecoop", "load", str(bad), "--store",
                           f"oxigraph:{tmp_path / 'store'}"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 1 and f"{bad}:2:" in done.stderr
    assert "nothing was changed" in done.stderr and "Traceback" not in done.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.nt"], "no store, no partial folder left"


# --- the base IRI: the endpoint's URL, part of every key -----------------------------------
RELATIVE = "CONSTRUCT { <s> <p> 1 } WHERE {}"


def subjects(body: bytes) -> set[str]:
    return {t.subject.value for t in ox.parse(body, format=ox.RdfFormat.TURTLE)}


def test_every_query_gets_the_endpoint_url_as_its_base(synthetic: Path) -> None:
    e = local_engine(synthetic, public_url="https://kg.example.org/")
    try:
        assert e.endpoint_url == "https://kg.example.org/sparql"
        assert subjects(e.run_sync(Job(RELATIVE)).body) == {"https://kg.example.org/s"}
        assert subjects(e.run_sync(Job(RELATIVE, base_iri="http://other.example/dir/sparql")).body) == {
            "http://other.example/dir/s"}
        with pytest.raises(QueryError) as err:
            e.run_sync(Job(RELATIVE, base_iri="no scheme"))
        assert (err.value.status, err.value.message) == (400, "the base IRI 'no scheme' is not an absolute IRI")
    finally:
        e.close()


def test_the_same_text_under_another_base_is_another_cache_entry(synthetic: Path) -> None:
    async def scenario() -> list[set[str]]:
        e = local_engine(synthetic)
        seen = [subjects((await e.run(Job(RELATIVE, base_iri=f"http://{host}/sparql"))).body)
                for host in ("a.example", "a.example", "b.example")]
        e.close()
        return seen

    assert asyncio.run(scenario()) == [{"http://a.example/s"}, {"http://a.example/s"}, {"http://b.example/s"}]


def test_a_quick_query_remembered_under_one_base_is_not_answered_under_another(
        synthetic: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # IRI() resolves against the base too, and with no '<' the text reads one way only:
    # a query the server process may answer once a worker has answered it quickly.
    query = 'SELECT (IRI("s") AS ?i) {}'
    monkeypatch.setattr(store, "INLINE_SECONDS", 5.0)  # "quickly" even on a machine busy with other tests

    async def scenario() -> list[tuple[str, int]]:
        e = pooled(synthetic)
        await e.start()
        seen = []
        for host in ("a.example", "a.example", "b.example", "b.example"):
            answer = await e.run(Job(query, base_iri=f"http://{host}/sparql"))
            seen.append((rows(answer.body)[0]["i"]["value"], e.inline_answers))
        e.close()
        return seen

    assert asyncio.run(scenario()) == [("http://a.example/s", 0), ("http://a.example/s", 1),
                                       ("http://b.example/s", 1), ("http://b.example/s", 2)]


def test_the_remote_store_resolves_against_our_endpoint_not_its_own(oxigraph_server: str) -> None:
    e = Engine(config.Settings(store=f"sparql:{oxigraph_server}", public_url="https://kg.example.org/"))
    e.start_local()
    try:
        assert subjects(e.run_sync(Job(RELATIVE)).body) == {"https://kg.example.org/s"}
        # The query's own relative BASE resolves against ours (the remote parser sees both).
        answer = e.run_sync(Job("BASE <dir/> SELECT (<x> AS ?i) {}"))
        assert rows(answer.body) == [{"i": {"type": "uri", "value": "https://kg.example.org/dir/x"}}]
    finally:
        e.close()


# --- data files: their own URL is their base -----------------------------------------------
def test_relative_iris_in_a_data_file_resolve_against_its_own_url(tmp_path: Path) -> None:
    data = tmp_path / "notes.ttl"
    data.write_text('<> <#by> <people/ada> .\n')
    here = data.resolve().as_uri()
    expected = {(here, here + "#by", (tmp_path / "people" / "ada").resolve().as_uri())}
    # Both ways in: parsed quad by quad (rdflib store, exports) and bulk-loaded (Oxigraph).
    dataset = load_dataset([Source(data, config.graph_iri("notes"))])
    assert {(str(s), str(p), str(o)) for s, p, o, _ in dataset.quads((None, None, None, None))} == expected
    store = ox.Store()
    load_oxigraph(store, [Source(data, config.graph_iri("notes"))])
    assert {(q.subject.value, q.predicate.value, q.object.value) for q in store} == expected


def test_ntriples_stay_absolute_only(tmp_path: Path) -> None:
    data = tmp_path / "relative.nt"
    data.write_text("<a> <b> <c> .\n")
    with pytest.raises(LoadError) as err:
        load_dataset([Source(data, config.graph_iri("relative"))])
    assert str(err.value).startswith(f"{data}:1:")


# --- the rdflib store: lexical forms kept, errors are the query's --------------------------
def test_the_rdflib_store_matches_and_returns_literals_as_written(tmp_path: Path) -> None:
    data = tmp_path / "amounts.ttl"
    data.write_text('@prefix xsd: <http://www.w3.org/2001/XMLSchema#> .\n'
                    '<http://ex/a> <http://ex/v> 123.0 , "01"^^xsd:integer , "+5"^^xsd:integer .\n')
    e = local_engine(data, store="memory")
    try:
        values = {r["v"]["value"] for r in rows(e.run_sync(Job("SELECT ?v WHERE { ?s ?p ?v }")).body)}
        assert values == {"123.0", "01", "+5"}
        for literal in ("123.0", '"01"^^<http://www.w3.org/2001/XMLSchema#integer>'):
            found = rows(e.run_sync(Job(f"SELECT ?s WHERE {{ ?s ?p {literal} }}")).body)
            assert found == [{"s": {"type": "uri", "value": "http://ex/a"}}], literal
    finally:
        e.close()


@pytest.mark.parametrize("query,message", [
    ("SELECT (SUM(?s) AS ?x) WHERE { ?s ?p ?o }",
     "query failed: the memory store cannot evaluate this query (a value of an unexpected type?)"),
    ("SELECT * WHERE { ?s ?p ?o", "SPARQL syntax error: error at 1:"),
    ("SELECT * WHERE { ?s nope:p ?o }", "query failed: Unknown namespace prefix : nope"),
])
def test_the_rdflib_store_answers_query_errors_400(synthetic: Path, query: str, message: str) -> None:
    async def scenario() -> QueryError:
        e = pooled(synthetic, "memory")
        await e.start()
        try:
            await e.run(Job(query))
        except QueryError as err:
            return err
        finally:
            e.close()
        raise AssertionError("no error")

    err = asyncio.run(scenario())
    assert err.status == 400 and err.message.startswith(message), err.message


def test_a_construct_template_making_a_literal_subject_leaves_that_triple_out(synthetic: Path) -> None:
    e = local_engine(synthetic, store="memory")
    try:
        answer = e.run_sync(Job('CONSTRUCT { "text" <http://ex/p> ?o . <http://ex/s> <http://ex/p> 1 } WHERE {}'))
        assert subjects(answer.body) == {"http://ex/s"}
    finally:
        e.close()


# --- dumps: built at start-up, in a process of their own -----------------------------------
def test_dumps_are_built_in_the_background_in_another_process(monkeypatch: pytest.MonkeyPatch) -> None:
    from spacecoop.linked import dump_files, exports

    expected = {"spacecoop.nt": exports.export("nt"), "spacecoop-mission.jsonld": exports.export("jsonld", "mission")}
    cache = dump_files.DumpCache(config.Settings())
    cache.build_in_background()

    def not_here(quads: object) -> list[ox.Quad]:
        raise AssertionError("a dump was built in the server process")

    monkeypatch.setattr(exports, "canonical_quads", not_here)  # the builder's process is not patched
    for name, body in expected.items():
        assert cache.get(name).body == body
    assert all(cache.get(name).body for name in cache.names()), "every dump came from the builder"


def test_a_served_app_has_its_dumps_ready_without_building_them_per_request(monkeypatch: pytest.MonkeyPatch) -> None:
    from spacecoop.linked import exports
    from spacecoop.web.app import create_app

    expected = exports.export("ttl")

    async def scenario() -> httpx.Response:
        settings = config.Settings(workers=1)
        app = create_app(settings, Engine(settings))
        async with app.router.lifespan_context(app):  # what uvicorn runs: the engine starts
            monkeypatch.setattr(exports, "canonical_quads", lambda quads: [])
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
                for _ in range(600):  # as a client honouring Retry-After: 202 while the builder works
                    r = await client.get("/dumps/spacecoop.ttl")
                    if r.status_code != 202:
                        return r
                    await asyncio.sleep(0.2)
                return r

    r = asyncio.run(scenario())
    assert r.status_code == 200 and r.content == expected  # not the empty graph this process would build


def test_a_remote_store_starts_no_dump_builder() -> None:
    from spacecoop.linked import dump_files, exports

    cache = dump_files.DumpCache(config.Settings(store="sparql:http://127.0.0.1:9/sparql"))
    cache.build_in_background()
    with pytest.raises(exports.ExportError):
        cache.get("spacecoop.ttl")
