"""The tokenizer's canonical form: what makes two request texts the same query.

The engine remembers quick queries by this form (see ``store.INLINE_SECONDS``), so it
must ignore exactly what SPARQL ignores (comments, whitespace between tokens) and keep
everything else, whitespace and ``#`` inside strings and IRIs included.
"""

from __future__ import annotations

import pytest

from spacecoop.sparql_text import facts

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
    assert facts(variant).canonical == facts(QUERY).canonical == QUERY


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
    assert facts(text).canonical == text


def test_keywords_in_comments_strings_and_names_are_not_keywords() -> None:
    seen = facts("PREFIX ex: <http://x/> SELECT ?service WHERE { ?s ex:service 'SERVICE <http://e/>' } "
                 "# SERVICE <http://e/>")
    assert not seen.uses_service and seen.form == "SELECT"
    assert seen.service_targets == [] and not seen.volatile and not seen.has_from
