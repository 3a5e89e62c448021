"""The VoID description's linksets: counted from the links in the graph, never written by hand."""

from __future__ import annotations

import asyncio
from pathlib import Path

from rdflib import Graph, Literal, URIRef

from spacecoop import config
from spacecoop.engine.store import Engine
from spacecoop.linked import void
from spacecoop.linked.dump_files import Manifest

LINKS = """
@prefix owl:  <http://www.w3.org/2002/07/owl#> .
@prefix skos: <http://www.w3.org/2004/02/skos/core#> .
<https://spacecoop.example/resource/a> owl:sameAs <http://www.wikidata.org/entity/Q1> ;
    owl:sameAs <http://example.org/not-wikidata> .
<https://spacecoop.example/resource/b> owl:sameAs <http://www.wikidata.org/entity/Q2> .
<https://spacecoop.example/resource/c> skos:closeMatch <http://www.wikidata.org/entity/Q3> .
"""


def described(tmp_path: Path, text: str) -> tuple[void.Statistics, Graph]:
    data = tmp_path / "links.ttl"
    data.write_text(text, encoding="utf-8")
    engine = Engine(config.Settings(data_files=(str(data),)))
    engine.start_local()
    try:
        stats = asyncio.run(void.statistics(engine.select))
    finally:
        engine.close()
    return stats, void.build_graph(stats, "http://127.0.0.1:1", [])


def test_one_linkset_per_property_and_target_with_its_triples_counted(tmp_path: Path) -> None:
    _, g = described(tmp_path, LINKS)
    linksets = {(str(g.value(ls, config.VOID.linkPredicate)), int(g.value(ls, config.VOID.triples)))
                for ls in g.subjects(config.RDF.type, config.VOID.Linkset)}
    assert linksets == {(str(config.OWL.sameAs), 2), (str(config.SKOS.closeMatch), 1)}
    for ls in g.subjects(config.RDF.type, config.VOID.Linkset):
        assert g.value(ls, config.VOID.subjectsTarget) == URIRef(void.dataset_iri())
        target = g.value(ls, config.VOID.objectsTarget)
        assert g.value(target, config.VOID.uriSpace) == Literal(str(config.WD))
        assert (URIRef(void.dataset_iri()), config.VOID.subset, ls) in g


def test_no_links_no_linkset(tmp_path: Path) -> None:
    _, g = described(tmp_path, "<https://spacecoop.example/resource/a> a <https://spacecoop.example/ontology#M> .")
    assert not list(g.subjects(config.RDF.type, config.VOID.Linkset))


def test_linksets_survive_the_manifest_of_a_loaded_store(tmp_path: Path) -> None:
    stats, _ = described(tmp_path, LINKS)
    again = Manifest.from_json(Manifest("v", config.BASE, "c", stats).to_json()).statistics
    assert again is not None and stats.linksets
    assert void.build_graph(again, "http://x", []).isomorphic(void.build_graph(stats, "http://x", []))
