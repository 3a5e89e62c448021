"""Facts from outside the article carry their citations: every Chinese name of an entity and
every link to Wikidata (shapes/links.ttl, data/names-zh.ttl, data/links-wikidata.ttl)."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import pytest
from rdflib import Graph, URIRef

from spacecoop import config
from spacecoop.validate import Finding, validate

LINKS = config.DATA_DIR / "links-wikidata.ttl"
NAMES = config.DATA_DIR / "names-zh.ttl"
PREFIXES = """@prefix scr: <https://spacecoop.example/resource/> .
@prefix sc: <https://spacecoop.example/ontology#> .
@prefix owl: <http://www.w3.org/2002/07/owl#> .
@prefix skos: <http://www.w3.org/2004/02/skos/core#> .
@prefix rdf: <http://www.w3.org/1999/02/22-rdf-syntax-ns#> .
@prefix rdfs: <http://www.w3.org/2000/01/rdf-schema#> .
@prefix wd: <http://www.wikidata.org/entity/> .
"""


def graph(*paths: Path) -> Graph:
    g = Graph()
    for p in paths:
        g.parse(p, format="turtle")
    return g


def citations(g: Graph) -> list[URIRef]:
    return [c for c in g.subjects(config.RDF.type, config.SC.Citation) if isinstance(c, URIRef)]


def findings_with(tmp_path: Path, turtle: str) -> list[Finding]:
    extra = tmp_path / "extra.ttl"
    extra.write_text(PREFIXES + turtle, encoding="utf-8")
    return [f for f in validate([config.DATA_DIR, extra]).findings if f.severity == "Violation"]


def test_the_bundled_graph_holds_cited_names_and_links() -> None:
    g = graph(LINKS, NAMES)
    cited = citations(g)
    assert len(cited) >= 40
    links = [(s, p, o) for p in (config.OWL.sameAs, config.SKOS.closeMatch, config.SKOS.exactMatch)
             for s, o in g.subject_objects(p) if str(o).startswith(str(config.WD))]
    assert len(links) >= 9
    assert validate().conforms


def test_every_citation_has_a_web_page_or_the_article_and_a_quote() -> None:
    g = graph(LINKS, NAMES)
    for c in citations(g):
        pages = list(g.objects(c, config.SC.citedSource))
        article = list(g.objects(c, config.DCTERMS.source))
        assert pages or article == [config.SCR["article-esa-cnsa-2026"]], c
        assert all(str(p).startswith(("https://", "http://")) for p in pages), c
        assert all(str(q).strip() for q in g.objects(c, config.SC.citedQuote)) and g.value(c, config.SC.citedQuote), c


def test_no_wikidata_item_stands_for_two_of_our_entities() -> None:
    g = graph(LINKS)
    ours = defaultdict(set)
    for p in (config.OWL.sameAs, config.SKOS.closeMatch, config.SKOS.exactMatch):
        for s, o in g.subject_objects(p):
            ours[o].add(s)
    assert all(len(s) == 1 for s in ours.values()), {o: s for o, s in ours.items() if len(s) > 1}


def test_every_cited_link_quote_names_its_q_id() -> None:
    g = graph(LINKS)
    for c in citations(g):
        qid = str(g.value(c, config.RDF.object)).rsplit("/", 1)[-1]
        assert qid in str(g.value(c, config.SC.citedQuote)), c


@pytest.mark.parametrize(("turtle", "says"), [
    ("scr:mars owl:sameAs wd:Q111 .", "has no citation"),
    ("scr:vega-c skos:closeMatch wd:Q222 .", "has no citation"),
    ('scr:earth-return-orbiter rdfs:label "地球返回轨道器"@zh .', "has no citation"),
    ('scr:mars skos:altLabel "火星"@zh-Hans .', "has no citation"),
])
def test_a_link_or_a_chinese_name_without_its_citation_fails(tmp_path: Path, turtle: str, says: str) -> None:
    found = findings_with(tmp_path, turtle)
    assert any(says in f.message and f.file.endswith("extra.ttl") for f in found), found


def test_a_citation_for_a_triple_the_graph_does_not_hold_fails(tmp_path: Path) -> None:
    found = findings_with(tmp_path, """
scr:citation-bogus a rdf:Statement , sc:Citation ; rdfs:label "bogus citation"@en ;
    rdf:subject scr:mars ; rdf:predicate owl:sameAs ; rdf:object wd:Q999 ;
    sc:citedSource <https://example.org/page> ; sc:citedQuote "Mars Q999"@en .
""")
    assert any("does not hold" in f.message for f in found), found


def test_a_citation_without_a_page_or_a_quote_fails(tmp_path: Path) -> None:
    found = findings_with(tmp_path, """
scr:mars owl:sameAs wd:Q333 .
scr:citation-half a rdf:Statement , sc:Citation ; rdfs:label "half a citation"@en ;
    rdf:subject scr:mars ; rdf:predicate owl:sameAs ; rdf:object wd:Q333 .
""")
    messages = " ".join(f.message for f in found)
    assert "quotes the excerpt" in messages and "needs its source" in messages and "has no citation" in messages


def test_project_vocabulary_needs_no_citation(tmp_path: Path) -> None:
    found = findings_with(tmp_path, """
scr:role-test a skos:Concept ; rdfs:label "Test role"@en , "测试职务"@zh ; skos:prefLabel "Test role"@en ;
    skos:inScheme scr:roles .
""")
    assert not any("has no citation" in f.message for f in found), found
