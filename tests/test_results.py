"""Answers in XML are well-formed XML or a clean 4xx: XML 1.0 cannot hold U+0000, most C0
controls, U+FFFE or U+FFFF, so an answer with one is refused with a message naming the
character and the format that can carry it — on the live endpoint and on every store."""

from __future__ import annotations

import doctest
import xml.etree.ElementTree as ET
from pathlib import Path

import httpx
import pytest

from spacecoop import config
from spacecoop.engine.store import Engine, Job, QueryError
from spacecoop.rdf import results

SRX = "{http://www.w3.org/2005/sparql-results#}"
XML = {"Accept": "application/sparql-results+xml"}


def select(value_escape: str) -> str:
    return f'SELECT ?x ?n WHERE {{ BIND("a{value_escape}b" AS ?x) BIND(1 AS ?n) }}'


@pytest.mark.parametrize("escape,shown", [("\\u0000", "U+0000"), ("\\u0001", "U+0001"), ("\\u001F", "U+001F"),
                                          ("\\uFFFE", "U+FFFE"), ("\\uFFFF", "U+FFFF")])
def test_a_value_xml_cannot_hold_is_a_406_naming_it(client: httpx.Client, escape: str, shown: str) -> None:
    r = client.get("/sparql", params={"query": select(escape)}, headers=XML)
    assert r.status_code == 406 and r.headers["content-type"] == "application/json"
    message = r.json()["message"]
    assert shown in message and "XML 1.0" in message and "JSON" in message and len(message) < 200
    # The same answer in JSON is fine: JSON escapes the character.
    r = client.get("/sparql", params={"query": select(escape)}, headers={"Accept": "application/sparql-results+json"})
    assert r.status_code == 200
    assert r.json()["results"]["bindings"][0]["x"]["value"] == "a" + escape.encode().decode("unicode_escape") + "b"


def test_a_graph_in_rdf_xml_is_refused_the_same_way(client: httpx.Client) -> None:
    query = 'CONSTRUCT { <http://ex/s> <http://ex/p> ?x } WHERE { BIND("a\\u0000b" AS ?x) }'
    r = client.get("/sparql", params={"query": query}, headers={"Accept": "application/rdf+xml"})
    assert r.status_code == 406 and "U+0000" in r.json()["message"] and "Turtle" in r.json()["message"]
    assert client.get("/sparql", params={"query": query}, headers={"Accept": "text/turtle"}).status_code == 200


@pytest.mark.parametrize("text,value", [("tab\\there", "tab\there"), ("line\\nbreak", "line\nbreak"),
                                        ("太阳风 ✓ \\uFFFD", "太阳风 ✓ \uFFFD"), ("\\U0001F680", "\U0001F680")])
def test_every_character_xml_can_hold_is_served_as_xml(client: httpx.Client, text: str, value: str) -> None:
    r = client.get("/sparql", params={"query": select(text)}, headers=XML)
    assert r.status_code == 200
    literal = ET.fromstring(r.content).find(f".//{SRX}binding[@name='x']/{SRX}literal")
    assert literal is not None and literal.text == f"a{value}b"


@pytest.mark.parametrize("store", ["oxigraph", "memory"])
def test_every_store_refuses_it(tmp_path: Path, store: str) -> None:
    data = tmp_path / "tiny.nt"
    data.write_text("<http://ex/s> <http://ex/p> <http://ex/o> .\n")
    engine = Engine(config.Settings(store=store, data_files=(str(data),)))
    engine.start_local()
    try:
        with pytest.raises(QueryError) as err:
            engine.run_sync(Job(select("\\u0000"), "xml"))
        assert err.value.status == 406 and "U+0000" in err.value.message
        assert engine.run_sync(Job(select("\\u0000"), "json")).body.count(b"\\u0000") == 1
    finally:
        engine.close()


def test_the_results_module_doctests() -> None:
    result = doctest.testmod(results)
    assert result.attempted > 0 and result.failed == 0
