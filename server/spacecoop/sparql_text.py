"""Lexical facts about a SPARQL request, found without a full parse.

The protocol layer needs a few answers before any engine sees the text: which form it
is (query or update), whether it calls ``SERVICE``, which ``FROM`` graphs it names and how
deeply it nests. A small tokenizer that skips comments, strings and IRIs answers them in
linear time, so a crafted 3,000-level query is refused before it can crash a parser.

>>> query_form("PREFIX ex: <http://ex/> # SELECT in a comment\\n ASK { ?s ?p 'DELETE' }")
'ASK'
>>> query_form("insert data { <a> <b> <c> }")
'INSERT'
>>> facts("SELECT * { SERVICE <http://x/> { ?s ?p ?o } }").service_iris
['http://x/']
>>> facts("SELECT * { { { ?s ?p ?o } } }").max_depth
3
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

QUERY_FORMS = frozenset({"SELECT", "ASK", "CONSTRUCT", "DESCRIBE"})
UPDATE_FORMS = frozenset({"INSERT", "DELETE", "LOAD", "CLEAR", "DROP", "CREATE", "ADD", "MOVE", "COPY", "WITH"})

_TOKEN = re.compile(
    r"""
    (?P<ws>\s+)
  | (?P<comment>\#[^\n]*)
  | (?P<string>'''(?:[^'\\]|\\.|'(?!''))*'''|\"\"\"(?:[^"\\]|\\.|"(?!""))*\"\"\"|'(?:[^'\\\n]|\\.)*'|"(?:[^"\\\n]|\\.)*")
  | (?P<iri><[^<>"{}|^`\\\s]*>)
  | (?P<word>[A-Za-z_][A-Za-z0-9_\-]*)
  | (?P<open>[{(\[])
  | (?P<close>[})\]])
  | (?P<other>.)
    """,
    re.VERBOSE | re.DOTALL,
)


@dataclass
class Facts:
    """What the tokenizer saw."""

    form: str = ""
    service_iris: list[str] = field(default_factory=list)
    uses_service: bool = False
    from_iris: list[str] = field(default_factory=list)
    max_depth: int = 0
    keywords: set[str] = field(default_factory=set)


def facts(text: str) -> Facts:
    """Tokenize ``text`` once and collect the facts the protocol layer needs."""
    out = Facts()
    depth = 0
    prev_words: list[str] = []
    for m in _TOKEN.finditer(text):
        kind = m.lastgroup
        if kind in ("ws", "comment", "string"):
            continue
        tok = m.group()
        if kind == "open":
            depth += 1
            out.max_depth = max(out.max_depth, depth)
        elif kind == "close":
            depth -= 1
        elif kind == "word":
            up = tok.upper()
            # A prefixed name such as ex:select is not a keyword: the ':' follows it.
            if text[m.end():m.end() + 1] == ":" or (m.start() > 0 and text[m.start() - 1] in ":?$"):
                prev_words = []
                continue
            out.keywords.add(up)
            if not out.form and (up in QUERY_FORMS or up in UPDATE_FORMS):
                out.form = up
            if up == "SERVICE":
                out.uses_service = True
            prev_words = [*prev_words[-1:], up]
            continue
        elif kind == "iri":
            if prev_words and prev_words[-1] == "SERVICE" or prev_words[-2:] == ["SERVICE", "SILENT"]:
                out.service_iris.append(tok[1:-1])
            if prev_words and prev_words[-1] == "FROM" or prev_words[-2:] == ["FROM", "NAMED"]:
                out.from_iris.append(tok[1:-1])
        prev_words = [] if kind != "iri" else prev_words
    return out


def query_form(text: str) -> str:
    """The first query or update keyword (``SELECT``, ``ASK``, ``INSERT`` …), or ``""``."""
    return facts(text).form


def is_update(text: str) -> bool:
    """True when the text is a SPARQL Update request rather than a query."""
    return facts(text).form in UPDATE_FORMS
