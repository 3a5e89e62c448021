"""JSON-LD and exports: every export round-trips to the source graph; the context is ours.

The source graph is the one loader's rdflib ``Dataset``; the JSON-LD side is read back
with pyld (expand → to_rdf), a processor independent of the serialisers that wrote the
Turtle and N-Quads, and compared by graph isomorphism (blank nodes included).
"""

from __future__ import annotations

import gzip
import json
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from pyld.jsonld import JsonLdError
from rdflib import Dataset, Graph, URIRef
from rdflib.compare import isomorphic

from spacecoop import config
from spacecoop.engine.store import Engine, Job
from spacecoop.linked import describe, exports
from spacecoop.rdf import jsonld

SCR = str(config.SCR)
SC = str(config.SC)
ENTITIES = ("smile", "esa", "nils", "vega-c", "meeting-2026-01-13", "status-planned",
            "article-esa-cnsa-2026", "change-6", "smile-esa-payload-module")


# --- helpers ----------------------------------------------------------------------------
def union(ds: Dataset) -> Graph:
    """All triples of a dataset as one graph (each triple once)."""
    g = Graph()
    for s, p, o, _ in ds.quads((None, None, None, None)):
        g.add((s, p, o))
    return g


def read_back(doc: Any) -> Graph:
    """A JSON-LD document's triples, as pyld sees them (expand, then to RDF).

    Our documents hold no named graphs, so pyld's N-Quads are N-Triples lines.
    """
    nquads = jsonld.to_nquads(jsonld.expand(doc))
    return Graph().parse(data=nquads, format="nt")


def subgraph(source: Graph, subjects: set[Any]) -> Graph:
    g = Graph()
    for s in subjects:
        for p, o in source.predicate_objects(s):
            g.add((s, p, o))
    return g


def top_nodes(doc: dict[str, Any]) -> list[dict[str, Any]]:
    graph = doc.get("@graph")
    return graph if isinstance(graph, list) else [doc]


def expand_id(compact_id: str) -> str:
    prefix, _, rest = compact_id.partition(":")
    return config.PREFIXES[prefix] + rest if prefix in config.PREFIXES and not rest.startswith("//") else compact_id


@pytest.fixture(scope="module")
def source(dataset: Dataset) -> Graph:
    return union(dataset)


@pytest.fixture(scope="module")
def compacted() -> dict[str, Any]:
    return json.loads(exports.export("jsonld"))


# --- the whole-graph exports ------------------------------------------------------------
def test_compacted_jsonld_dump_round_trips(compacted: dict[str, Any], source: Graph) -> None:
    back = read_back(compacted)
    assert len(back) == len(source)
    assert isomorphic(back, source)


@pytest.mark.parametrize("fmt", ["ttl", "nt"])
def test_triple_dumps_round_trip(fmt: str, source: Graph) -> None:
    g = Graph().parse(data=exports.export(fmt).decode("utf-8"), format={"ttl": "turtle", "nt": "nt"}[fmt])
    assert isomorphic(g, source)


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # rdflib's own quad parsers
@pytest.mark.parametrize("fmt", ["nq", "trig"])
def test_quad_dumps_keep_the_named_graphs(fmt: str, dataset: Dataset) -> None:
    back = Dataset()
    back.parse(data=exports.export(fmt).decode("utf-8"), format={"nq": "nquads", "trig": "trig"}[fmt])
    names = {str(g.identifier) for g in dataset.graphs() if len(g)}
    assert {str(g.identifier) for g in back.graphs() if len(g)} == names
    assert config.graph_iri("missions") in names and config.graph_iri("ontology") in names
    for name in names:
        assert isomorphic(back.graph(URIRef(name)), dataset.graph(URIRef(name))), name


def test_dumps_are_deterministic() -> None:
    # Canonical blank-node labels and sorted quads: the same graph gives the same bytes (and ETag).
    assert exports.export("trig") == exports.export("trig")
    assert exports.export("jsonld") == exports.export("jsonld")


def test_compacted_dump_is_readable(compacted: dict[str, Any]) -> None:
    assert compacted["@context"] == jsonld.context_url()
    nodes = {n["id"]: n for n in compacted["@graph"]}
    smile = nodes["scr:smile"]
    assert smile["type"] == ["Mission"]
    assert smile["label"]["en"] == "SMILE" and smile["label"]["zh"]  # one label per language
    assert smile["launchedOn"] == ["scr:vega-c"]  # may be several: an array even when one
    assert smile["status"] == "scr:status-planned"  # owl:FunctionalProperty: a single value
    assert smile["earliestDate"] == {"type": "xsd:gYearMonth", "@value": "2026-04"}  # precision kept
    assert isinstance(smile["distanceFromEarthKm"], int)
    assert isinstance(smile["quote"]["en"], list)
    assert sorted(nodes["scr:nils"]["carriedOn"]) == ["scr:change-6", "scr:change-6-descent-module"]
    contribution = nodes["scr:smile-esa-payload-module"]
    assert contribution["providedBy"] == ["scr:esa"]
    assert contribution["contributionTo"] == "scr:smile"  # sh:maxCount 1 on its domain's shape
    # Entities come first, the ontology's blank nodes last.
    ids = [n["id"] for n in compacted["@graph"]]
    assert not any(i.startswith("_:") for i in ids[: len(ids) // 2])


# --- framed exports ---------------------------------------------------------------------
@pytest.mark.parametrize("frame", jsonld.frame_names())
def test_framed_exports_are_sound_and_complete(frame: str, source: Graph) -> None:
    """A framed export is a view: every triple it holds is in the graph, and every
    top-level thing carries all of its own triples."""
    doc = json.loads(exports.export("jsonld", frame=frame))
    assert doc["@context"] == jsonld.context_url()
    back = read_back(doc)
    assert back, frame
    extra = [t for t in back if t not in source]
    assert not extra, extra[:5]
    tops = {URIRef(expand_id(n["id"])) for n in top_nodes(doc)}
    assert tops
    missing = [t for t in subgraph(source, tops) if t not in back]
    assert not missing, missing[:5]


def test_mission_frame_nests_instruments_providers_and_more() -> None:
    doc = json.loads(exports.export("jsonld", frame="mission"))
    missions = {n["id"]: n for n in doc["@graph"]}
    assert "scr:smile" in missions and "scr:change-6" in missions
    assert all("Mission" in n["type"] for n in missions.values())
    change6 = missions["scr:change-6"]
    nils = next(i for i in change6["instruments"] if i["id"] == "scr:nils")
    assert nils["label"]["en"] == "Negative Ions at the Lunar Surface"
    assert any(p["id"] == "scr:esa" and p["label"]["en"] == "European Space Agency"
               for c in nils["providedThrough"] for p in c["providedBy"])
    smile = missions["scr:smile"]
    assert [(v["id"], v["label"]["en"]) for v in smile["launchedOn"]] == [("scr:vega-c", "Vega-C")]
    assert {c["id"] for c in smile["contributions"]} >= {"scr:smile-esa-payload-module"}
    # One event on SMILE, several on Chang'e 6: an array on both.
    assert [e["id"] for e in smile["events"]] == ["scr:smile-launch"]
    assert len(change6["events"]) > 1
    assert smile["source"][0]["label"]["en"].startswith("European, Chinese Space Agency Heads Meet")


def test_unknown_frame_is_an_error() -> None:
    with pytest.raises(exports.ExportError, match="no frame 'nope'"):
        exports.export("jsonld", frame="nope")
    with pytest.raises(exports.ExportError):
        exports.export("ttl", frame="mission")


# --- one entity's framed document -------------------------------------------------------
@pytest.fixture(scope="module")
def local_engine() -> Any:
    eng = Engine(config.Settings())
    eng.start_local()
    yield eng
    eng.close()


@pytest.mark.parametrize("slug", ENTITIES)
def test_entity_document_round_trips_to_its_description(slug: str, local_engine: Engine) -> None:
    iri = SCR + slug
    nt = local_engine.run_sync(Job(describe.DESCRIBE_ENTITY, graph_format="ntriples",
                                   bindings=(("entity", ("uri", iri)),))).body
    description = Graph().parse(data=nt.decode("utf-8"), format="nt")
    assert len(description) > 3
    triples = describe.parse_ntriples(nt)
    doc = jsonld.entity_document(nt.decode("utf-8"), iri, describe.incoming_predicates(iri, triples))
    assert doc["id"] == f"scr:{slug}"
    assert isomorphic(read_back(doc), description)


# --- the context and the loader ---------------------------------------------------------
def test_context_file_matches_the_ontology() -> None:
    """ontology/context.jsonld is generated (``python -m spacecoop.rdf.jsonld``): regenerate it
    when the ontology gains a property."""
    assert json.loads(config.CONTEXT_FILE.read_text()) == jsonld.context_from_ontology_file()
    assert config.CONTEXT_FILE.read_text() == jsonld.format_context(jsonld.context_from_ontology_file())


def test_context_has_readable_keys() -> None:
    ctx = jsonld.context()["@context"]
    assert ctx["label"] == {"@id": "rdfs:label", "@container": "@language"}  # sh:uniqueLang
    for key in ("launchedOn", "providedBy", "carriedOn"):
        assert ctx[key] == {"@id": f"sc:{key}", "@type": "@id", "@container": "@set"}
    assert ctx["status"] == {"@id": "sc:status", "@type": "@id"}  # owl:FunctionalProperty
    assert ctx["date"] == "sc:date"  # the value keeps its datatype: day, month or year
    assert ctx["quote"] == {"@id": "sc:quote", "@container": ["@language", "@set"]}
    assert ctx["instruments"] == {"@reverse": "sc:carriedOn", "@container": "@set"}
    assert ctx["type"] == {"@id": "@type", "@container": "@set"}


def test_cardinalities_come_from_the_ontology_and_the_shapes() -> None:
    ontology = jsonld.read_triples(config.ONTOLOGY_DIR / "spacecoop.ttl")
    shapes = [t for f in sorted(config.SHAPES_DIR.glob("*.ttl")) for t in jsonld.read_triples(f)]
    single, per_language = jsonld.cardinalities(ontology, shapes)
    assert SC + "status" in single  # owl:FunctionalProperty
    assert SC + "date" in single and SC + "distanceFromEarthKm" in single  # sh:targetSubjectsOf + maxCount 1
    assert SC + "contributionTo" in single  # maxCount 1 on the shape of its rdfs:domain
    assert SC + "mission" not in single  # bounded on mission starts only, not on every event
    assert SC + "launchedOn" not in single and SC + "quote" not in single
    assert str(config.RDFS.label) in per_language and SC + "quote" not in per_language


def _arrays_as_the_context_says(node: Any, ctx: dict[str, Any], where: str, seen: list[str]) -> None:
    """Every key with ``@set`` holds an array; every other property key one value (never an array)."""
    if isinstance(node, list):
        for item in node:
            _arrays_as_the_context_says(item, ctx, where, seen)
        return
    if not isinstance(node, dict) or "@value" in node:
        return
    for key, value in node.items():
        term = ctx.get(key)
        if isinstance(term, dict) and key != "@context":
            container = term.get("@container")
            if container == "@set":
                assert isinstance(value, list), (where, node.get("id"), key)
                seen.append(key)
            elif container == ["@language", "@set"]:
                assert all(isinstance(v, list) for v in value.values()), (where, node.get("id"), key)
            elif container == "@language":
                assert all(isinstance(v, str) for v in value.values()), (where, node.get("id"), key)
            elif container is None:
                assert not isinstance(value, list), (where, node.get("id"), key)  # the model says one
        elif isinstance(term, str) and not term.startswith("@"):
            assert not isinstance(value, list), (where, node.get("id"), key)
        if key == "@reverse":  # what points here: many things may
            assert all(isinstance(v, list) for v in value.values()), (where, node.get("id"), key)
            for items in value.values():
                _arrays_as_the_context_says(items, ctx, where, seen)
        elif key != "@context":
            _arrays_as_the_context_says(value, ctx, where, seen)


@pytest.mark.parametrize("frame", [None, *jsonld.frame_names()])
def test_multi_valued_keys_are_arrays_in_every_document(frame: str | None) -> None:
    ctx = jsonld.context()["@context"]
    doc = json.loads(exports.export("jsonld", frame=frame))
    seen: list[str] = []
    _arrays_as_the_context_says(doc, ctx, frame or "compacted", seen)
    assert {"type", "launchedOn" if frame in (None, "mission") else "type"} <= set(seen)


@pytest.mark.parametrize("slug", ENTITIES)
def test_multi_valued_keys_are_arrays_in_entity_documents(slug: str, local_engine: Engine) -> None:
    iri = SCR + slug
    nt = local_engine.run_sync(Job(describe.DESCRIBE_ENTITY, graph_format="ntriples",
                                   bindings=(("entity", ("uri", iri)),))).body
    incoming = describe.incoming_predicates(iri, describe.parse_ntriples(nt))
    doc = jsonld.entity_document(nt.decode("utf-8"), iri, incoming)
    seen: list[str] = []
    _arrays_as_the_context_says(doc, jsonld.context()["@context"], slug, seen)
    assert "type" in seen


@pytest.fixture
def no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("a network connection was attempted")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)


def test_our_context_resolves_offline(no_network: None) -> None:
    doc = {"@context": jsonld.context_url(), "id": "scr:smile", "launchedOn": "scr:vega-c"}
    expanded = jsonld.expand(doc)
    assert expanded[0][SC + "launchedOn"] == [{"@id": SCR + "vega-c"}]


@pytest.mark.parametrize("url", ["https://schema.org/", "http://example.org/context.jsonld",
                                 "https://spacecoop.example/other.jsonld", "file:///etc/passwd"])
def test_the_loader_refuses_every_other_url(url: str, no_network: None) -> None:
    with pytest.raises(JsonLdError) as err:
        jsonld.expand({"@context": url, "name": "x"})
    assert "refusing to load" in str(err.value) + repr(err.value.__dict__) or "remote context" in str(err.value)
    with pytest.raises(jsonld.RemoteDocumentRefused):
        jsonld.document_loader()(url, {})


def test_pyld_default_loader_is_pinned_too(no_network: None) -> None:
    from pyld import jsonld as pyld

    with pytest.raises(JsonLdError):
        pyld.expand({"@context": "https://schema.org/", "name": "x"})


def test_rebased_context_and_loader() -> None:
    base = "https://kg.example.org/"
    ctx = jsonld.context(base)["@context"]
    assert ctx["@vocab"] == base + "ontology#" and ctx["scr"] == base + "resource/"
    doc = {"@context": jsonld.context_url(base), "id": "scr:smile", "type": "Mission"}
    expanded = jsonld.expand(doc, base)
    assert expanded[0]["@id"] == base + "resource/smile"
    assert expanded[0]["@type"] == [base + "ontology#Mission"]
    frame = jsonld.load_frame("mission", base)
    assert frame["@context"] == jsonld.context_url(base)


# --- the CLI writes the same files ------------------------------------------------------
def run_cli(*args: str) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run([sys.executable, "-m", "spacecoop", "export", *args], capture_output=True, timeout=120)


@pytest.mark.parametrize("fmt", list(exports.FORMATS))
def test_cli_export_writes_the_dump(fmt: str, tmp_path: Path) -> None:
    out = tmp_path / f"dump.{fmt}"
    done = run_cli("--format", fmt, "-o", str(out))
    assert done.returncode == 0, done.stderr
    assert out.read_bytes() == exports.export(fmt)


def test_cli_export_framed_gzipped_and_stdout(tmp_path: Path) -> None:
    out = tmp_path / "missions.jsonld.gz"
    assert run_cli("--frame", "mission", "-o", str(out)).returncode == 0
    assert gzip.decompress(out.read_bytes()) == exports.export("jsonld", frame="mission")
    done = run_cli("--format", "nt")
    assert done.returncode == 0 and done.stdout == exports.export("nt")


def test_cli_export_rejects_a_frame_for_a_non_jsonld_format() -> None:
    done = run_cli("--format", "nt", "--frame", "mission")
    assert done.returncode == 2 and b"JSON-LD" in done.stderr
    done = run_cli("--frame", "nope")
    assert done.returncode == 2 and b"no frame" in done.stderr


# --- real consumers of a live server ----------------------------------------------------
# Each consumer runs in a process of its own, with nothing of ours imported: pyld with its
# default document loader (requests) and jsonld.js from npm with its Node loader. Both
# fetch the document and then the context it names, from our server on loopback.
PYLD_CONSUMER = """
import sys
from pyld import jsonld
print(jsonld.to_rdf(sys.argv[1], {"format": "application/n-quads"}), end="")
"""
JSONLD_JS_CONSUMER = """
const jsonld = require('jsonld');
jsonld.toRDF(process.argv[1], {format: 'application/n-quads'}).then(
  nq => process.stdout.write(nq), e => { console.error(e.message); process.exit(1); });
"""
NPM_DIR = Path(__file__).resolve().parent.parent / "build" / "npm"
# Document → the same triples in another format (None: the document is a view of the dump).
CONSUMED = {
    "/resource/smile": "/resource/smile.nt",  # the bare IRI: the consumer negotiates JSON-LD
    "/resource/change-6.jsonld": "/resource/change-6.nt",
    "/resource/status-planned.jsonld": "/resource/status-planned.nt",
    "/dumps/spacecoop.jsonld": "/dumps/spacecoop.nt",
    "/dumps/spacecoop-mission.jsonld": None,
    "/ontology.jsonld": "/ontology.nt",
    "/graph/missions.jsonld": "/graph/missions.nt",
    "/.well-known/void?format=jsonld": "/.well-known/void?format=nt",
}


@pytest.fixture(scope="module")
def jsonld_js() -> Path:
    """``node_modules`` holding jsonld.js, installed from npm into build/npm when missing."""
    import os
    import shutil

    modules = NPM_DIR / "node_modules"
    if not (modules / "jsonld" / "package.json").is_file():
        if not shutil.which("npm") or not shutil.which("node"):
            if os.environ.get("CI"):
                pytest.fail("npm is missing: the README asks for it (jsonld.js comes from the npm registry)")
            pytest.skip("npm is not installed: jsonld.js cannot be fetched")
        NPM_DIR.mkdir(parents=True, exist_ok=True)
        done = subprocess.run(["npm", "install", "--no-audit", "--no-fund", "--silent", "jsonld"], cwd=NPM_DIR,
                              capture_output=True, text=True, timeout=600)
        assert done.returncode == 0, done.stderr
    return modules


@pytest.fixture(params=["default", "rebased"])
def live(request: pytest.FixtureRequest) -> tuple[str, str]:
    """(server URL, base IRI) of the default server and of one rebased to https://kg.example.org."""
    if request.param == "default":
        return request.getfixturevalue("server").url, config.CANONICAL_BASE
    return request.getfixturevalue("rebased_server").url, "https://kg.example.org/"


def consume(command: list[str], url: str, env: dict[str, str] | None = None) -> Graph:
    import os

    done = subprocess.run([*command, url], capture_output=True, text=True, timeout=180,
                          env={**os.environ, **(env or {})})
    assert done.returncode == 0, f"{command[0]} could not read {url}: {done.stderr[-2000:]}"
    return Graph().parse(data=done.stdout, format="nt")


def served_graph(url: str) -> Graph:
    import httpx

    r = httpx.get(url, timeout=60)
    assert r.status_code == 200, url
    return Graph().parse(data=r.text, format="nt")


@pytest.mark.live
@pytest.mark.parametrize("path", list(CONSUMED))
def test_documents_name_a_context_at_the_serving_origin(live: tuple[str, str], path: str) -> None:
    import httpx
    from pyld.jsonld import LINK_HEADER_REL, parse_link_header

    url, base = live
    r = httpx.get(url + path, headers={"Accept": "application/ld+json"}, timeout=60)
    assert r.status_code == 200 and r.headers["content-type"] == jsonld.MEDIA_TYPE
    named = r.json()["@context"]
    assert named == url + "/context.jsonld"  # where the document came from, not an .example host
    links = parse_link_header(r.headers["link"])
    assert links[LINK_HEADER_REL]["target"] == named
    assert not isinstance(links.get("alternate"), list)  # pyld's loader fails on several alternates
    ctx = httpx.get(named, timeout=30)
    assert ctx.status_code == 200 and ctx.headers["access-control-allow-origin"] == "*"
    assert ctx.json()["@context"]["@vocab"] == base + "ontology#"


@pytest.mark.live
@pytest.mark.parametrize("path", list(CONSUMED))
def test_pyld_with_its_default_loader_expands_every_document(live: tuple[str, str], path: str) -> None:
    url, base = live
    got = consume([sys.executable, "-c", PYLD_CONSUMER], url + path)
    check_consumed(got, url, path, base)


@pytest.mark.live
@pytest.mark.parametrize("path", list(CONSUMED))
def test_jsonld_js_expands_every_document(live: tuple[str, str], path: str, jsonld_js: Path) -> None:
    url, base = live
    got = consume(["node", "-e", JSONLD_JS_CONSUMER], url + path, env={"NODE_PATH": str(jsonld_js)})
    check_consumed(got, url, path, base)


def check_consumed(got: Graph, url: str, path: str, base: str) -> None:
    """The consumer read exactly the triples the server gives in N-Triples (a framed view: only triples of the dump)."""
    assert len(got) > 10, path
    assert any(str(s).startswith(base) for s in got.subjects()), "the IRIs are the server's own"
    same = CONSUMED[path]
    if same is not None:
        assert isomorphic(got, served_graph(url + same)), path
    else:
        dump = served_graph(url + "/dumps/spacecoop.nt")
        extra = [t for t in got if t not in dump]
        assert not extra, extra[:3]
