"""The cost bound that lets a new query be answered in the server process (engine/cost.py):
what it judges, what it refuses to judge, and that the bound holds against the engine."""

from __future__ import annotations

import random

import pyoxigraph as ox
import pytest

from spacecoop import config
from spacecoop.engine.cost import CostJudge
from spacecoop.rdf.loader import bundled_sources, load_oxigraph

EX = "http://ex.org/"
P = f"PREFIX ex: <{EX}> "


@pytest.fixture(scope="module")
def store() -> ox.Store:
    """A small graph with hubs: node n links to the next 0–9 nodes, one hub to all."""
    s = ox.Store()
    rng = random.Random(7)
    quads = []
    for n in range(200):
        node = ox.NamedNode(f"{EX}n{n}")
        quads.append(ox.Quad(node, ox.NamedNode(f"{EX}label"), ox.Literal(f"node {n}", language="en"),
                             ox.NamedNode(f"{EX}g")))
        for m in range(rng.randrange(10)):
            quads.append(ox.Quad(node, ox.NamedNode(f"{EX}next"), ox.NamedNode(f"{EX}n{(n + m + 1) % 200}"),
                                 ox.NamedNode(f"{EX}g")))
        quads.append(ox.Quad(ox.NamedNode(f"{EX}hub"), ox.NamedNode(f"{EX}next"), node, ox.NamedNode(f"{EX}g")))
    s.extend(quads)
    return s


def count(store: ox.Store, where: str) -> int:
    """What the engine itself counts for a pattern (the union of the graphs, as we serve)."""
    q = P + f"SELECT (COUNT(*) AS ?n) WHERE {{ {where} }}"
    return int(next(iter(store.query(q, use_default_graph_as_union=True)))["n"].value)


@pytest.mark.parametrize("query,patterns", [
    ("SELECT ?p ?o WHERE { ex:n5 ?p ?o }", ["ex:n5 ?p ?o"]),
    ("SELECT * { ?s ex:next ex:n9 }", ["?s ex:next ex:n9"]),
    ("SELECT DISTINCT ?o { ex:n1 ex:next ?o . ex:n2 ex:label ?l } ORDER BY DESC(?o) LIMIT 3 OFFSET 1",
     ["ex:n1 ex:next ?o", "ex:n2 ex:label ?l"]),
    ("ASK { ex:n3 ex:label ?l FILTER(LANGMATCHES(LANG(?l), 'en') && CONTAINS(LCASE(STR(?l)), 'node')) }",
     ["ex:n3 ex:label ?l"]),
    ("SELECT * { ex:n4 ex:next ?a ; ex:label ?l . OPTIONAL { ?b ex:next ex:n4 } }",
     ["ex:n4 ex:next ?a", "ex:n4 ex:label ?l", "?b ex:next ex:n4"]),
    ("CONSTRUCT { ?s ex:seen ?o } WHERE { ?s ex:label 'node 7'@en . ex:n7 ?p ?o }",
     ["?s ex:label 'node 7'@en", "ex:n7 ?p ?o"]),
    (f"SELECT ?o WHERE {{ <{EX}n6> a ?t , ?o }}", [f"<{EX}n6> a ?t", f"<{EX}n6> a ?o"]),
])
def test_an_anchored_query_is_bounded_by_the_product_of_its_patterns_counts(
        store: ox.Store, query: str, patterns: list[str]) -> None:
    judge = CostJudge(store, cap=10_000)
    expected = 1
    for pattern in patterns:
        expected *= max(count(store, pattern), 1)
    assert judge.bound(P + query) == expected


@pytest.mark.parametrize("query", [
    "SELECT * { ?s ?p ?o }",  # nothing anchors it
    "SELECT * { ex:n1 ex:next ?o . ?o ex:next ?x }",  # the second pattern is anchored only by a join
    "SELECT * { ex:n1 ex:next* ?o }",  # property paths
    "SELECT * { ex:n1 ex:next/ex:next ?o }",
    "SELECT * { ex:n1 ^ex:next ?o }",
    "SELECT * { { ex:n1 ?p ?o } UNION { ex:n2 ?p ?o } }",
    "SELECT * { ex:n1 ?p ?o { SELECT ?x { ?x ?y ?z } } }",
    "SELECT * { VALUES ?s { ex:n1 } ?s ?p ?o }",  # anchored through VALUES only
    "SELECT * { ex:n1 ?p ?o BIND(STR(?o) AS ?x) }",
    "SELECT * { GRAPH ?g { ex:n1 ?p ?o } }",
    "SELECT * { SERVICE <http://x/> { ex:n1 ?p ?o } }",
    "SELECT * FROM <http://x/> { ex:n1 ?p ?o }",
    "SELECT (COUNT(*) AS ?n) { ex:n1 ?p ?o }",
    "SELECT ?p { ex:n1 ?p ?o } GROUP BY ?p",
    "SELECT * { ex:n1 ?p ?o FILTER(STRLEN(CONCAT(?o, ?o)) > 3) }",  # a value that can grow
    "SELECT * { ex:n1 ?p ?o FILTER(REGEX(?o, 'a+')) }",
    "SELECT * { ex:n1 ?p ?o FILTER(ex:f(?o)) }",  # a call of an IRI
    "SELECT * { ex:n1 ?p ?o FILTER EXISTS { ?o ?q ?r } }",
    "SELECT * { ex:n1 ?p ?o FILTER(NOT EXISTS { ?o ?q ?r }) }",
    "SELECT * { ex:n1 ?p ?o MINUS { ?o ?q ?r } }",
    "SELECT * { <n1> ?p ?o }",  # relative: resolved by the engine's rules, not counted here
    "SELECT * { <http://ex.org/\\u006e1> ?p ?o }",  # escaped
    "SELECT * { ex:n\\.1 ?p ?o }",
    "SELECT * { ex:n1 ?p 'a\\'b' }",
    "SELECT * { [] ?p ex:n1 }",  # a blank node
    "SELECT * { _:b ?p ex:n1 }",
    "SELECT * { undeclared:n1 ?p ?o }",
    "SELECT * { ex:n1 ?p ?o } LIMIT",
    "SELECT * { ex:n1 ?p ?o . ?a ?b ?c FILTER(?a<?b) }",  # unanchored, and a '<' that reads two ways
    "SELECT * WHERE { ?s ?p ex:a\\# \n" + "{" * 50 + "}" * 50 + " }",  # the escaped-hash spelling
    "DESCRIBE ex:n1",
    "INSERT DATA { ex:n1 ex:p ex:o }",
])
def test_what_the_fragment_cannot_bound_is_not_judged(store: ox.Store, query: str) -> None:
    assert CostJudge(store, cap=10_000).bound(P + query) is None


def test_a_pattern_with_no_match_still_leaves_the_others_product() -> None:
    # The answer is empty, but a plan that joins the first two patterns first pays for them.
    s = ox.Store()
    s.extend([ox.Quad(ox.NamedNode(f"{EX}a"), ox.NamedNode(f"{EX}p"), ox.Literal(str(i))) for i in range(30)])
    judge = CostJudge(s, cap=10_000)
    assert judge.bound(P + "SELECT * { ex:a ex:p ?x . ex:a ex:p ?y . ex:nothing ?q ?z }") == 900


def test_long_texts_and_many_patterns_are_not_judged(store: ox.Store) -> None:
    judge = CostJudge(store, cap=10_000)
    many = " . ".join(f"ex:n{i} ex:label ?l{i}" for i in range(17))
    assert judge.bound(P + f"SELECT * {{ {many} }}") is None
    long_filter = " && ".join(f"?o != 'x{i}'" for i in range(400))
    assert judge.bound(P + f"SELECT * {{ ex:n1 ?p ?o FILTER({long_filter}) }}") is None
    assert judge.bound(P + "SELECT * { ex:n1 ?p ?o FILTER(?o != 'x1') }") is not None


def test_a_bound_past_the_cap_is_not_cheap_and_counting_stops_there(store: ox.Store) -> None:
    judge = CostJudge(store, cap=50)
    assert count(store, "ex:hub ex:next ?o") == 200
    assert judge.bound(P + "SELECT * { ex:hub ex:next ?o }") == 51  # counted to cap + 1, no further
    assert not judge.cheap(P + "SELECT * { ex:hub ex:next ?o }")
    assert judge.cheap(P + "SELECT * { ex:n1 ex:label ?o }")


def test_the_bound_holds_against_the_engine_on_random_anchored_queries(store: ox.Store) -> None:
    rng = random.Random(11)
    judge = CostJudge(store, cap=1_000_000)
    for _ in range(300):
        patterns = []
        for i in range(rng.randint(1, 3)):
            node = f"ex:n{rng.randrange(200)}" if rng.random() < 0.9 else "ex:hub"
            patterns.append(rng.choice([f"{node} ?p{i} ?o{i}", f"?s{i} ex:next {node}", f"{node} ex:next ?o{i}"]))
        where = " . ".join(patterns)
        bound = judge.bound(P + f"SELECT * {{ {where} }}")
        assert bound is not None
        assert count(store, where) <= bound, where


def test_the_bundled_graph_s_entity_descriptions_are_judged_cheap() -> None:
    s = ox.Store()
    load_oxigraph(s, bundled_sources(), config.BASE)
    judge = CostJudge(s, cap=1000)
    smile = config.SCR + "smile"
    assert judge.cheap(f"SELECT ?p ?o WHERE {{ <{smile}> ?p ?o }}")
    assert judge.cheap(f"CONSTRUCT {{ <{smile}> ?p ?o . ?x ?q <{smile}> }} WHERE {{ <{smile}> ?p ?o . "
                       f"OPTIONAL {{ ?x ?q <{smile}> }} }}")

