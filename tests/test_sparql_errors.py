"""SPARQL syntax errors a person can act on: a table of broken queries, each answered with
its line and column and a hint that names the mistake — from the module with the engine's
real messages, and from the live endpoint as the 400 a client gets."""

from __future__ import annotations

import doctest
import random

import httpx
import pyoxigraph as ox
import pytest

from spacecoop import config
from spacecoop.rdf import sparql_errors
from spacecoop.rdf.sparql_errors import explain
from spacecoop.rdf.sparql_text import tokens
from spacecoop.saved import saved_queries as sq

SC = str(config.SC)
RDFS_LINE = "PREFIX rdfs: <http://www.w3.org/2000/01/rdf-schema#>"

# (broken query, where the message points, fragments it must hold)
BROKEN: list[tuple[str, str, tuple[str, ...]]] = [
    # an undeclared prefix: the PREFIX line to add when it is ours
    ("SELECT * WHERE { ?s a sc:Mission }", "1, column 23",
     ("the prefix sc: is not declared", f"add the line PREFIX sc: <{SC}>")),
    (f"{RDFS_LINE}\nSELECT * WHERE {{\n  ?s rdfs:label ?l .\n  ?s dcterms:title ?t\n}}", "4, column 6",
     ("dcterms:", "PREFIX dcterms: <http://purl.org/dc/terms/>")),
    ("SELECT * WHERE { ?s foaf:name ?n }", "1, column 21", ("foaf: is not declared", "PREFIX foaf: <…>")),
    (f"{RDFS_LINE}\nSELECT * {{ ?s rdsf:label ?l }}", "2, column 15", ("did you mean rdfs:?",)),
    ("PREFIX ex <http://x/> SELECT * {}", "1, column 8", ("PREFIX ex: <…>",)),
    # a missing object, predicate or dot
    ("SELECT * WHERE { ?s ?p }", "1, column 24", ('"?s ?p" has no object before "}"',)),
    ("SELECT * WHERE {\n  ?s ?p .\n  ?a ?b ?c\n}", "2, column 9", ('"?s ?p" has no object before "."',)),
    (f"PREFIX sc: <{SC}>\nSELECT * WHERE {{ ?m a sc:Mission ; sc:status }}", "2, column 46",
     ('"?m a sc:Mission ; sc:status" has no object',)),
    ("CONSTRUCT { ?s ?p } WHERE { ?s ?p ?o }", "1, column 19", ("has no object",)),
    ("SELECT * WHERE { ?s ?p ?o OPTIONAL { ?s <http://x/p> } }", "1, column 54", ("has no object",)),
    ("SELECT * WHERE { ?s ?p ?o , }", "1, column 29", ("has no object",)),
    ("SELECT * WHERE { ?s ?p ?o . ?x }", "1, column 32", ('"?x" has no predicate and object',)),
    ("SELECT * WHERE { ?s ?p ?o ?x ?y }", "1, column 27", ('a "." is missing before "?x"', '"?s ?p ?o"')),
    (f"PREFIX sc: <{SC}>\nSELECT * WHERE {{\n  ?m a sc:Mission ;\n     sc:status ?st\n  ?m sc:launchedOn ?v .\n}}",
     "5, column 3", ('a "." is missing before "?m"', "line 4, column 19")),
    # unbalanced braces, brackets, parentheses: where the open one opened
    ("SELECT * WHERE { ?s ?p ?o ", "1, column 16", ('this "{" is never closed', 'add "}"')),
    ("ASK {\n  { ?s ?p ?o }\n", "1, column 5", ('this "{" is never closed',)),
    ("SELECT * WHERE { ?s ?p ?o FILTER(?o > 1 }", "1, column 33",
     ('this "(" is never closed', '"}" at line 1, column 41 comes first', 'add ")"')),
    ("SELECT * WHERE { ?s ?p ?o FILTER(?o > 1)) }", "1, column 41", ('this ")" closes nothing',)),
    ("SELECT * WHERE { ?s ?p ?o } }", "1, column 29", ('this "}" closes nothing',)),
    ("SELECT * WHERE { [ ?p ?o }", "1, column 18", ('this "[" is never closed', 'add "]"')),
    ("SELECT * WHERE {\n  ?s ?p ?o\nORDER BY ?s", "1, column 16", ('"{" is never closed: ORDER at line 3, column 1',)),
    ("SELECT * WHERE { ?s ?p 'abc }", "1, column 24", ("this string is never closed",)),
    # keyword typos
    ("SELEC * WHERE { ?s ?p ?o }", "1, column 1", ("SELEC is not a SPARQL keyword; did you mean SELECT?",)),
    ("SELECT * WHERE { ?s ?p ?o OPTINAL { ?s ?q ?r } }", "1, column 27", ("did you mean OPTIONAL?",)),
    ("SELECT * WHERE { ?s ?p ?o FILTR(?o) }", "1, column 27", ("did you mean FILTER?",)),
    ("SELECT * WHERE { ?s ?p ?o UNOIN { ?a ?b ?c } }", "1, column 27", ("did you mean UNION?",)),
    ("SELECT DISTINT ?s WHERE { ?s ?p ?o }", "1, column 8", ("did you mean DISTINCT?",)),
    ("SELECT * WHERE { ?s ?p ?o } ORDR BY ?s", "1, column 29", ("did you mean ORDER?",)),
    ("SELECT * WHERE { ?s ?p ?o } LIMT 10", "1, column 29", ("did you mean LIMIT?",)),
    ("SELECT * WHERE { ?s ?p ?o } ORDER ?s", "1, column 29", ("ORDER needs BY",)),
    ("SELECT * { ?s label ?l }", "1, column 15", ("label is not a SPARQL keyword", "ex:label")),
    # the SELECT clause
    ("SELECT (COUNT(?s) ?n) WHERE { ?s ?p ?o }", "1, column 8", ("(expression AS ?name)",)),
    ("SELECT ?x (COUNT(?s) AS ?n) WHERE { ?s ?p ?x }", "1, column 8", ("?x is selected but not grouped", "GROUP BY")),
    ("SELECT (1 AS ?x) (2 AS ?x) {}", "1, column 24", ("?x is selected twice",)),
    # what the engine says best, cleaned
    ("SELECT * WHERE { ?s ?p <http://a b> }", "1, column 24", ("not a valid IRI", '"<http://a b>"')),
    ("SELECT * WHERE { ?s ?p \"a\"@ }", "1, column 27", ("a language tag needs letters",)),
    ("SELECT * WHERE { ?s ?p ?o } LIMIT", "1, column 34", ("expected a number", 'near "LIMIT"')),
]
IDS = [f"{i}:{q[:30]}" for i, (q, _, _) in enumerate(BROKEN)]


def engine_message(query: str) -> str:
    try:
        ox.Store().query(query)
    except SyntaxError as err:
        return str(err)
    raise AssertionError(f"the engine accepts {query!r}")


@pytest.mark.parametrize("query,where,fragments", BROKEN, ids=IDS)
def test_each_broken_query_gets_its_place_and_hint(query: str, where: str, fragments: tuple[str, ...]) -> None:
    message = explain(engine_message(query), query)
    assert message.startswith(f"SPARQL syntax error at line {where}: "), message
    for fragment in fragments:
        assert fragment in message, message
    assert "\n" not in message and len(message) < 300
    assert "[_]" not in message and "..=" not in message and "OPTIONAL" not in message.split(": ", 1)[0]


@pytest.mark.parametrize("query,where,fragments", BROKEN[::3], ids=IDS[::3])
def test_the_endpoint_answers_the_same_message_as_a_400(client: httpx.Client, query: str, where: str,
                                                        fragments: tuple[str, ...]) -> None:
    r = client.get("/sparql", params={"query": query}, headers={"Accept": "application/sparql-results+json"})
    assert r.status_code == 400 and r.headers["content-type"] == "application/json"
    message = r.json()["message"]
    assert message == explain(engine_message(query), query)
    assert message.startswith(f"SPARQL syntax error at line {where}: ")
    # A POSTed query too.
    r = client.post("/sparql", content=query.encode(), headers={"Content-Type": "application/sparql-query"})
    assert r.status_code == 400 and r.json()["message"] == message


def test_the_prefix_to_add_follows_the_served_base() -> None:
    query = "SELECT * WHERE { ?m a sc:Mission }"
    message = explain(engine_message(query), query, base="https://kg.example.org/")
    assert "PREFIX sc: <https://kg.example.org/ontology#>" in message


def test_a_hint_is_given_only_where_the_engine_can_have_stopped() -> None:
    # An undeclared prefix after the real mistake is not blamed: the engine never got there.
    query = "SELECT * WHERE { ?s ?p } ORDER BY sc:x"
    assert "no object" in explain(engine_message(query), query)
    # Keywords written together are read by the engine as keywords: no typo there.
    query = "SELECT * WHERE { ?s ?p ?o FILTERREGEX(?o, 'a') ?x }"
    message = explain(engine_message(query), query)
    assert "not a SPARQL keyword" not in message and "line 1, column 52" in message


def test_a_message_the_engine_gives_without_a_position_passes_through() -> None:
    assert explain("something odd", "SELECT") == "SPARQL syntax error: something odd"


def mutants(count: int) -> list[str]:
    """Saved queries with one token deleted, doubled or replaced by another of the query."""
    rnd = random.Random(13)
    out = []
    for q in sq.load_all():
        toks = [t for t in tokens(q.sparql) if t[0] not in ("ws", "comment")]
        for _ in range(count):
            _, offset, text = rnd.choice(toks)
            other = rnd.choice(toks)[2]
            out.append(rnd.choice([q.sparql[:offset] + q.sparql[offset + len(text):],
                                   q.sparql[:offset] + text + " " + q.sparql[offset:],
                                   q.sparql[:offset] + other + q.sparql[offset + len(text):]]))
    return out


def test_every_rejected_mutant_gets_one_short_positional_line() -> None:
    explained = 0
    for query in mutants(25):
        try:
            ox.Store().query(query)
            continue
        except SyntaxError as err:
            message = explain(str(err), query)
        except Exception:  # a mutant the engine refuses otherwise (evaluation): not a syntax error
            continue
        explained += 1
        assert message.startswith("SPARQL syntax error at line ") and "\n" not in message and len(message) < 300
        line, column = (int(n) for n in message.split("at line ", 1)[1].split(":", 1)[0].split(", column "))
        lines = query.split("\n")
        assert 1 <= line <= len(lines) and 1 <= column <= len(lines[line - 1]) + 1, message
    assert explained > 200


def test_the_module_doctests() -> None:
    result = doctest.testmod(sparql_errors)
    assert result.attempted > 0 and result.failed == 0
