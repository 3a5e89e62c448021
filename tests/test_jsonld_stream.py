"""The streaming JSON-LD writers make pyld's documents, node for node and byte for byte.

Every document here is compared with the one pyld makes from the whole graph — the path
``jsonld_stream`` replaces: ``jsonld.from_nquads`` of the same triples, then
``jsonld.compact`` or ``jsonld.frame`` — for the bundled data (what the loader reads),
synthetic graphs from ``bench/generate.py`` and a small graph of the awkward cases (blank
nodes in framed output, RDF lists well-formed or not, nested and empty lists, literals
where a term wants an IRI, several values for a single-valued key, odd numbers). The
compacted dump is also read back by pyld and compared with the input as RDF.
"""

from __future__ import annotations

import importlib.util
import io
import json
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, overload

import pyoxigraph as ox
import pytest
from rdflib import Graph
from rdflib.compare import isomorphic

from spacecoop import config
from spacecoop.linked import exports
from spacecoop.rdf import jsonld, jsonld_stream, loader

ROOT = Path(__file__).resolve().parent.parent
BASE = config.CANONICAL_BASE
CONTEXT = jsonld.context_url(BASE)
PUBLISHED = "http://127.0.0.1:8000/context.jsonld"  # what a server names: any URL, same terms

# Awkward cases pyld handles (and so can be compared with): each line says what it tries.
EDGE_CASES = """
@prefix sc: <https://spacecoop.example/ontology#> .
@prefix scr: <https://spacecoop.example/resource/> .
@prefix rdfs: <http://www.w3.org/2000/01/rdf-schema#> .
@prefix rdf: <http://www.w3.org/1999/02/22-rdf-syntax-ns#> .
@prefix xsd: <http://www.w3.org/2001/XMLSchema#> .
@prefix org: <http://www.w3.org/ns/org#> .

scr:m1 a sc:Mission, _:class ; rdf:type "a literal type" ;
  rdfs:label "M1"@en, "M-one"@en, "任务一"@zh, "no language", "typed"^^xsd:token ;
  sc:status scr:status-planned, scr:status-x, "a literal where an IRI is expected"@en ;
  sc:partner scr:m1, _:shared ;
  sc:itemCount "04"^^xsd:integer, "+4"^^xsd:integer, "-0"^^xsd:integer, "12345678901234567890123"^^xsd:integer ;
  sc:permanentlyCrewed "1"^^xsd:boolean, "true"^^xsd:boolean ;
  sc:distanceFromEarthKm "1.5e3"^^xsd:double ;
  sc:date scr:an-iri-for-a-date, "2026-01-02"^^xsd:date ;
  sc:quote ( "a"@en "b"@en ), "with \\"quotes\\", a \\\\ and a\\nnew line 😀"@en ;
  sc:objective () ;
  sc:topic ( ( scr:x scr:y ) scr:z ) ;
  <http://example.org/other#p> "x", <http://example.org/thing> ;
  sc:label "an sc: IRI whose name is a standard key" ;
  sc:durationText "@null"@en .

_:shared a sc:Agency ; rdfs:label "Shared agency"@en ; sc:side scr:europe .
scr:m2 a sc:Mission ; rdfs:label "M2"@en ; sc:partner _:shared, _:once ; sc:status scr:status-planned ;
  sc:operatedBy _:operator ; sc:topic _:l1 ; sc:destination _:t1 .
_:once rdfs:label "a blank node named once in a framed document"@en .
_:operator rdfs:label "operator"@en .
_:bm a sc:Mission ; rdfs:label "A blank mission"@en ; sc:launchedOn scr:v1 .
_:inst a sc:Instrument ; rdfs:label "A blank instrument"@en ; sc:carriedOn scr:m1, _:bm ; sc:partner _:shared .
_:contrib a sc:Contribution ; sc:contributionTo scr:m1 ; sc:providedBy _:shared ; sc:providedItem _:inst ;
  sc:itemCount 3 .
_:ev a sc:Launch, sc:Event ; sc:mission scr:m1 ; sc:date "2026"^^xsd:gYear ; sc:location _:place .
_:place rdfs:label "Somewhere"@en .
_:mem a org:Membership ; org:organization _:shared ; org:member scr:nils ; sc:startDate "2020-01-01"^^xsd:date .
scr:v1 a sc:LaunchVehicle ; rdfs:label "V1"@en ; sc:side scr:europe ; sc:destination _:t1 ;
  sc:topic scr:iri-cell ; sc:hasModule _:typed-cell .
scr:status-planned rdfs:label "planned"@en .

# Not lists to pyld: a cell with another property, a cell referenced twice. Lists: an
# IRI cell, a cell typed rdf:List.
_:l1 rdf:first scr:a ; rdf:rest _:l2 ; rdfs:comment "extra" .
_:l2 rdf:first scr:b ; rdf:rest rdf:nil .
_:t1 rdf:first scr:c ; rdf:rest rdf:nil .
scr:iri-cell rdf:first scr:d ; rdf:rest rdf:nil .
_:typed-cell a rdf:List ; rdf:first scr:e ; rdf:rest rdf:nil .
"""

# Frames beyond the shipped ones, each trying other parts of the framing algorithm.
EXTRA_FRAMES: dict[str, dict[str, Any]] = {
    "everything": {"@id": {}},
    "any-type-once": {"type": {}, "@embed": "@once"},
    "no-type": {"type": [], "@embed": "@always"},
    "duck-typed": {"sc:partner": {}, "@explicit": True, "label": {}},
    "require-all": {"@requireAll": True, "type": "Mission", "sc:status": {"@id": BASE + "resource/status-planned"}},
    "defaults": {"type": "Mission", "@explicit": True, "rdfs:label": {}, "sc:launchedOn": {"@omitDefault": False},
                 "sc:orbit": {"@omitDefault": False, "@default": "none"}},
    "value-patterns": {"type": "Mission", "@explicit": True, "rdfs:label": {"@language": "zh"},
                       "sc:itemCount": {"@value": {}}},
    "list-frame": {"type": "Mission", "sc:topic": {"@list": [{"@embed": "@always"}]}},
    "always": {"type": ["Mission", "Instrument"], "@embed": "@always"},
    "reverse-blank-nodes": {"type": "Agency", "@embed": "@always", "memberships": {"@embed": "@always"},
                            "partnerIn": {}, "contributionsProvided": {"@explicit": True}},
    "one-id": {"@id": BASE + "resource/m1", "@embed": "@never"},
    "boolean-embed": {"type": "Mission", "@embed": False, "sc:partner": {"@embed": True}},
}


# --- graphs -----------------------------------------------------------------------------
def _sorted(quads: Iterator[ox.Quad] | list[ox.Quad]) -> list[ox.Triple]:
    return exports.union_triples(exports.canonical_quads(quads))


def bundled_triples(base: str = BASE) -> list[ox.Triple]:
    """The bundled ontology, data and query catalogue, read as the loader reads them."""
    return _sorted([q for source in loader.bundled_sources() for q in loader.read_quads(source, base)])


def synthetic_triples(size: int, folder: Path) -> list[ox.Triple]:
    spec = importlib.util.spec_from_file_location("bench_generate", ROOT / "bench" / "generate.py")
    assert spec and spec.loader
    generate = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(generate)
    path = folder / f"synthetic-{size}.nt"
    generate.write(size, path)
    return _sorted(ox.parse(path=str(path), format=ox.RdfFormat.N_TRIPLES))


def n_triples(triples: Sequence[ox.Triple]) -> str:
    body = ox.serialize(triples, format=ox.RdfFormat.N_TRIPLES)
    assert body is not None  # None only when given a file
    return body.decode("utf-8")


def edge_triples() -> list[ox.Triple]:
    return _sorted(ox.parse(EDGE_CASES.encode("utf-8"), format=ox.RdfFormat.TURTLE))


class Case:
    """A graph, and pyld's whole-graph documents of it (made once, when first asked for)."""

    def __init__(self, triples: list[ox.Triple], base: str = BASE) -> None:
        self.triples = triples
        self.base = base
        self._expanded: list[dict[str, Any]] | None = None

    @property
    def expanded(self) -> list[dict[str, Any]]:
        if self._expanded is None:
            self._expanded = jsonld.from_nquads(n_triples(self.triples), self.base)
        return self._expanded

    def pyld_compacted(self) -> bytes:
        return jsonld.dumps(jsonld.compact(self.expanded, self.base, PUBLISHED))

    def pyld_framed(self, frame_doc: dict[str, Any]) -> bytes:
        frame_doc = json.loads(json.dumps(frame_doc))  # pyld may change its frame
        return jsonld.dumps(jsonld.frame(self.expanded, frame_doc, self.base, context=PUBLISHED))

    def compacted(self) -> bytes:
        return compacted(self.triples, base=self.base)

    def framed(self, frame: str | dict[str, Any]) -> bytes:
        return framed(self.triples, frame, base=self.base)


@pytest.fixture(scope="module")
def cases(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Case]:
    folder = tmp_path_factory.mktemp("synthetic")
    return {"bundled": Case(bundled_triples()), "synthetic-2k": Case(synthetic_triples(2000, folder)),
            "synthetic-6k": Case(synthetic_triples(6_000, folder)), "edge-cases": Case(edge_triples()),
            "bundled-rebased": Case(bundled_triples(REBASED), REBASED)}


REBASED = "https://kg.example.org/space/"  # a deployment's own base (SPACECOOP_BASE)
GRAPHS = ["bundled", "synthetic-2k", "synthetic-6k", "edge-cases", "bundled-rebased"]


def compacted(triples: Sequence[ox.Triple], context: str = PUBLISHED, base: str = BASE) -> bytes:
    out = io.BytesIO()
    jsonld_stream.write_compacted(triples, out, base, context)
    return out.getvalue()


def framed(triples: Sequence[ox.Triple], frame: str | dict[str, Any], context: str = PUBLISHED,
           base: str = BASE) -> bytes:
    out = io.BytesIO()
    if isinstance(frame, str):
        jsonld_stream.write_framed(triples, frame, out, base, context)
    else:
        jsonld_stream.write_framed_with(triples, {"@context": jsonld.context_url(base), **frame}, out, base, context)
    return out.getvalue()


def assert_same_document(ours: bytes, theirs: bytes) -> None:
    """Same context, same nodes in the same order, each node the same JSON (key order
    included), then the same bytes; the first difference is reported readably."""
    mine, ref = json.loads(ours), json.loads(theirs)
    assert list(mine) == ["@context", "@graph"]
    assert mine["@context"] == ref["@context"]
    assert len(mine["@graph"]) == len(ref["@graph"])
    for n, (a, b) in enumerate(zip(mine["@graph"], ref["@graph"], strict=True)):
        assert json.dumps(a, ensure_ascii=False) == json.dumps(b, ensure_ascii=False), f"node {n}"
    assert ours == theirs


# --- (a) compaction: pyld's document --------------------------------------------------
@pytest.mark.parametrize("graph", GRAPHS)
def test_compacted_document_is_pyld_s(graph: str, cases: dict[str, Case]) -> None:
    case = cases[graph]
    ours, theirs = case.compacted(), case.pyld_compacted()
    mine, ref = json.loads(ours), json.loads(theirs)
    assert mine["@context"] == PUBLISHED
    # The same set of nodes, each equal as JSON in jsonld.tidy order …
    by_id = {n["id"]: n for n in ref["@graph"]}
    assert len(by_id) == len(ref["@graph"]) == len(mine["@graph"])
    for node in mine["@graph"]:
        assert json.dumps(node, ensure_ascii=False) == json.dumps(by_id[node["id"]], ensure_ascii=False), node["id"]
    # … and in the same order, to the byte.
    assert_same_document(ours, theirs)


def test_rdf_lists_become_list_values(cases: dict[str, Case]) -> None:
    """The ontology's class unions are @list values, their cells no nodes of their own."""
    doc = json.loads(compacted(cases["bundled"].triples))
    unions = [n for n in doc["@graph"] if "unionOf" in n]
    assert unions and all(isinstance(n["unionOf"], list) and len(n["unionOf"]) > 1 for n in unions)
    assert not [n for n in doc["@graph"] if "rdf:first" in n or "rdf:rest" in n]


# --- (b) the compacted document's RDF is the graph's ------------------------------------
def as_rdflib(triples: Sequence[ox.Triple]) -> Graph:
    return Graph().parse(data=n_triples(triples), format="nt")


@pytest.mark.parametrize("graph", ["bundled", "synthetic-2k", "synthetic-6k"])
def test_compacted_document_round_trips(graph: str, cases: dict[str, Case]) -> None:
    """(Not the edge cases: some are beyond JSON-LD itself — an IRI list cell becomes an
    anonymous list — and there pyld's document is the reference, compared above.)"""
    triples = cases[graph].triples
    doc = json.loads(compacted(triples, CONTEXT))
    back = Graph().parse(data=jsonld.to_nquads(doc, BASE), format="nt")
    assert len(back) == len(triples)
    assert isomorphic(back, as_rdflib(triples))


def test_literals_pyld_cannot_read_round_trip() -> None:
    """Characters pyld's N-Quads reader mangles (a control character, written ``\\u0001``
    in N-Triples, is kept as six characters) or refuses (U+2028, a line break to Python):
    the streaming writer never reads N-Quads, so they stay what they are."""
    s, p = ox.NamedNode(BASE + "resource/x"), ox.NamedNode(BASE + "ontology#quote")
    triples = [ox.Triple(s, p, ox.Literal("bell \x07, separator \u2028, \x01", language="en"))]
    doc = json.loads(compacted(triples, CONTEXT))
    assert doc["@graph"][0]["quote"]["en"] == ["bell \x07, separator \u2028, \x01"]
    back = ox.parse(jsonld.to_nquads(doc, BASE).encode("utf-8"), format=ox.RdfFormat.N_TRIPLES)
    assert [ox.Triple(q.subject, q.predicate, q.object) for q in back] == triples


# --- (c) framing: pyld's documents -------------------------------------------------------
@pytest.mark.parametrize("frame", jsonld.frame_names())
@pytest.mark.parametrize("graph", GRAPHS)
def test_framed_document_is_pyld_s(graph: str, frame: str, cases: dict[str, Case]) -> None:
    case = cases[graph]
    ours = case.framed(frame)
    assert_same_document(ours, case.pyld_framed(jsonld.load_frame(frame, case.base)))
    assert json.loads(ours)["@graph"], "a frame that matches nothing proves little"


@pytest.mark.parametrize("name", sorted(EXTRA_FRAMES))
def test_other_frames_are_pyld_s(name: str, cases: dict[str, Case]) -> None:
    case = cases["edge-cases"]
    frame = EXTRA_FRAMES[name]
    assert_same_document(case.framed(frame), case.pyld_framed({"@context": CONTEXT, **frame}))


def test_blank_nodes_in_a_framed_document_are_named_and_pruned_as_pyld_does(cases: dict[str, Case]) -> None:
    """The edge cases' mission frame holds blank nodes named once (no ``id`` left) and
    several times (``_:b…``): the comparison above covers both, this says it does."""
    doc = json.loads(framed(cases["edge-cases"].triples, "mission"))
    roots = {n["id"]: n for n in doc["@graph"]}
    assert [i for i in roots if i.startswith("_:b")]  # the blank mission, also named inside others
    assert roots["scr:m2"]["operatedBy"] == [{"label": {"en": "operator"}}]  # named once: no id


# --- output: deterministic, readable, a document of any size ----------------------------
def test_output_is_deterministic(cases: dict[str, Case]) -> None:
    triples = cases["bundled"].triples
    again = bundled_triples()  # read anew: other Python objects, the same graph
    assert compacted(triples) == compacted(again)
    assert framed(triples, "mission") == framed(again, "mission")


def test_chinese_stays_readable_utf8(cases: dict[str, Case]) -> None:
    body = compacted(cases["synthetic-2k"].triples)
    assert "任务0".encode() in body and "航天局0".encode() in body
    assert b"\\u" not in body
    mission = framed(cases["synthetic-2k"].triples, "mission")
    assert "任务0".encode() in mission


def test_graphs_of_no_or_one_node_are_still_a_graph() -> None:
    """pyld would give no ``@graph`` for one node (and ``{}`` for none); the dumps keep
    one shape whatever the size."""
    assert json.loads(compacted([])) == {"@context": PUBLISHED, "@graph": []}
    assert json.loads(framed([], "mission")) == {"@context": PUBLISHED, "@graph": []}
    s = ox.NamedNode(BASE + "resource/x")
    one = [ox.Triple(s, ox.NamedNode(jsonld_stream.RDF_TYPE), ox.NamedNode(BASE + "ontology#Mission"))]
    doc = json.loads(compacted(one))
    assert doc["@graph"] == [{"id": "scr:x", "type": ["Mission"]}]
    assert json.loads(framed(one, "mission"))["@graph"] == [{"id": "scr:x", "type": ["Mission"]}]


def test_triples_must_be_grouped_by_subject() -> None:
    a, b = ox.NamedNode(BASE + "resource/a"), ox.NamedNode(BASE + "resource/b")
    p = ox.NamedNode(BASE + "ontology#partner")
    with pytest.raises(ValueError, match="not together"):
        compacted([ox.Triple(a, p, b), ox.Triple(b, p, a), ox.Triple(a, p, a)])


def test_frames_that_depend_on_other_roots_are_refused(cases: dict[str, Case]) -> None:
    triples = cases["edge-cases"].triples
    for frame in ({"type": "Mission", "@included": {"type": "Agency"}}, {"type": "Mission", "@embed": "@link"}):
        with pytest.raises(jsonld_stream.UnsupportedFrame):
            framed(triples, frame)


def test_a_context_beyond_the_compactor_is_refused() -> None:
    with pytest.raises(jsonld_stream.UnsupportedContext):
        jsonld_stream.ActiveContext({"@vocab": BASE + "ontology#", "@language": "en"})
    with pytest.raises(jsonld_stream.UnsupportedContext):
        jsonld_stream.ActiveContext({"name": {"@id": BASE + "ontology#name", "@container": "@index"}})


# --- linear work --------------------------------------------------------------------------
class CountingTriples(Sequence[ox.Triple]):
    """The triples, counting every one the writer reads (by index, slice or iteration)."""

    def __init__(self, triples: list[ox.Triple]) -> None:
        self.triples = triples
        self.reads = 0

    def __len__(self) -> int:
        return len(self.triples)

    @overload
    def __getitem__(self, i: int) -> ox.Triple: ...
    @overload
    def __getitem__(self, i: slice) -> Sequence[ox.Triple]: ...

    def __getitem__(self, i: int | slice) -> ox.Triple | Sequence[ox.Triple]:
        got = self.triples[i]
        self.reads += len(got) if isinstance(i, slice) else 1
        return got

    def __iter__(self) -> Iterator[ox.Triple]:
        for t in self.triples:
            self.reads += 1
            yield t


@pytest.mark.parametrize("frame", [None, "mission", "agency"])
def test_work_grows_linearly(frame: str | None, tmp_path: Path) -> None:
    """Triples read per triple of the graph stay the same from 2k to 16k triples (pyld's
    whole-graph framing scans every subject for each reverse key: quadratic)."""
    per_triple = []
    for size in (2000, 16_000):
        triples = CountingTriples(synthetic_triples(size, tmp_path))
        if frame is None:
            compacted(triples)
        else:
            framed(triples, frame)
        per_triple.append(triples.reads / len(triples))
    assert per_triple[1] <= per_triple[0] * 1.1, per_triple
