"""The tokenizer's canonical form: what makes two request texts the same query.

The engine remembers quick queries by this form (see ``store.INLINE_SECONDS``), so it
must ignore exactly what SPARQL ignores (comments, whitespace between tokens) and keep
everything else, whitespace and ``#`` inside strings and IRIs included.
"""

from __future__ import annotations

import pytest

from spacecoop.rdf.sparql_text import facts

QUERY = "SELECT ?s WHERE { ?s <http://x/p#q> 'a  # b' }"


@pytest.mark.parametrize("variant", [
    QUERY,
    f"# a comment first\n{QUERY}",
    f"{QUERY}\n# run 7 1764000000",
    f"{QUERY} #\r\n\t# two comments\n",
    "SELECT\n  ?s\r\n  WHERE {\n    ?s <http://x/p#q> 'a  # b'\n}\n",
    "SELECT ?s  WHERE {\t?s   <http://x/p#q>  'a  # b'   }",
])
def test_comments_and_spacing_between_tokens_give_the_same_canonical_form(variant: str) -> None:
    assert facts(variant).canonical == facts(QUERY).canonical


@pytest.mark.parametrize("other", [
    "SELECT ?s WHERE { ?s <http://x/p#q> 'a # b' }",  # one space less inside the string
    "SELECT ?s WHERE { ?s <http://x/p#r> 'a  # b' }",  # another IRI
    "SELECT ?s WHERE { ?s <http://x/p#q> 'a  # b' } LIMIT 1",
    'SELECT ?s WHERE { ?s <http://x/p#q> """a  # b""" }',  # another kind of string: kept as written
])
def test_anything_else_changes_the_canonical_form(other: str) -> None:
    assert facts(other).canonical != facts(QUERY).canonical


def test_a_comment_inside_a_long_string_is_part_of_the_string() -> None:
    text = 'ASK { ?s ?p """line one\n# not a comment\n  line three""" }'
    assert '"""line one\n# not a comment\n  line three"""' in facts(text).canonical
    assert facts(text).canonical != facts('ASK { ?s ?p """line one\n  line three""" }').canonical


def test_keywords_in_comments_strings_and_names_are_not_keywords() -> None:
    seen = facts("PREFIX ex: <http://x/> SELECT ?service WHERE { ?s ex:service 'SERVICE <http://e/>' } "
                 "# SERVICE <http://e/>")
    assert not seen.uses_service and seen.form == "SELECT"
    assert seen.service_targets == [] and not seen.volatile and not seen.has_from


# The spellings that once read differently to the scanner and to the engine.
@pytest.mark.parametrize("text,targets", [
    ("PREFIX ex: <http://x/> SELECT * { OPTIONAL { ?s ?p ex:a\\# } \n SERVICE <http://h/> { } }", ["http://h/"]),
    ("PREFIX ex: <http://x/> SELECT * { ?s ?p ex:a\\' . SERVICE <http://h/> { } } # '", ["http://h/"]),
    ("SELECT * { ?s ?p trueSERVICE <http://h/> { } }", ["http://h/"]),
    ("SELECT * { SERVICESILENT <http://h/> { } }", ["http://h/"]),
    ("PREFIX ex: <http://h/> SELECT * { SERVICEex:a { } }", [None]),
    ("SELECT * { SERVICE <http:\\u002F\\u002Fh/> { } }", ["http://h/"]),
    ("SELECT * { SERVICE #\n <http://h/> { } }", ["http://h/"]),
    ("SELECT * { SERVICE SILENT ?e { } }", [None]),
    ("SELECT * { SERVICE", [None]),
])
def test_every_service_call_the_engine_would_make_is_seen(text: str, targets: list[str | None]) -> None:
    seen = facts(text)
    assert seen.uses_service and seen.service_targets == targets


@pytest.mark.parametrize("text", [
    "SELECT * { ?s ?p ?o } ORDERBYRAND()",
    "SELECT * { ?s ?p ?o FILTERNOW() }",
    "PREFIX ex: <http://x/> SELECT ?t { OPTIONAL { ?s ?p ex:a\\# } BIND(STR(NOW()) AS ?t) }",
    "SELECT (STRUUID() AS ?u) {}",
])
def test_every_volatile_call_is_seen(text: str) -> None:
    assert facts(text).volatile


def test_an_escaped_hash_is_part_of_the_name_and_the_nesting_after_it_counts() -> None:
    text = "PREFIX ex: <http://x/>\nSELECT * WHERE { ?s ?p ex:a\\# " + "{" * 500 + "}" * 500 + " \n}"
    seen = facts(text)
    assert seen.max_depth == 501
    assert seen.canonical != facts("PREFIX ex: <http://x/>\nSELECT * WHERE { ?s ?p ex:a\\# \n}").canonical


def test_a_less_than_that_could_open_an_iri_is_read_both_ways() -> None:
    seen = facts("SELECT * { BIND(1 AS ?a) FILTER(?a<x:" + "(" * 80 + ">) }")
    assert seen.ambiguous and seen.max_depth > 80
    assert not facts("SELECT * { ?s <http://x/a?b(c)#d> ?o }").ambiguous  # "scheme://" is only ever an IRI


def test_glued_dataset_and_form_keywords_are_seen() -> None:
    assert facts("ASKFROM<http://g/>{}").has_from and facts("ASKFROM<http://g/>{}").form == "ASK"
    assert facts("insertdata { <a> <b> <c> }").form == "INSERT"
    assert not facts("PREFIX fromage: <http://x/> SELECT * { ?s fromage:p ?o }").has_from
