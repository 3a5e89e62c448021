"""Queries whose cost is bounded before they run, by what the store holds.

A query new to the server is answered in a worker process, where the time limit can stop
it by killing the process. For one kind of query that hop (~0.1–0.2 ms) is most of the
cost, and the time limit is never needed: a query every one of whose triple patterns is
*anchored* — it names a constant subject or object itself — can only ever touch the
triples those constants have, whatever plan the engine picks (each pattern on its own
reads no more). Their number is counted in the store (capped) before the query runs; the
product of the counts (each at least 1) bounds every join Oxigraph could choose (nested loop
or hash, in any order, of any of the patterns), so a query whose bound is small is
answered in the server process, and every other one goes to a worker as before. (A
pattern anchored only through ``VALUES`` is not judged: a plan that scanned it before the
join would read the whole store.)

Only a small, plainly read fragment is judged; anything else — a property path, a
subquery, ``UNION``, ``GRAPH``, ``BIND``, an aggregate, a function that could make a value
grow (``CONCAT``, ``REPLACE``) or compile one (``REGEX``), a prefixed name or IRI
called as a function, a relative or escaped IRI, a blank node, a text the scanner could
read two ways — is *not judged* (``None``), and so runs in a worker. The fragment:

    PREFIX decls, then SELECT [DISTINCT|REDUCED] (* | ?v …) | ASK | CONSTRUCT { triples }
    [WHERE] { triples . FILTER(expr) . OPTIONAL { … } }
    [ORDER BY ?v | ASC(?v) | DESC(?v) …] [LIMIT n] [OFFSET n]

>>> import pyoxigraph as ox
>>> store = ox.Store()
>>> ex = "http://ex.org/"
>>> store.extend([ox.Quad(ox.NamedNode(ex + f"m{i}"), ox.NamedNode(ex + "p"), ox.Literal(str(j)),
...                       ox.NamedNode(ex + "g")) for i in range(3) for j in range(4)])
>>> judge = CostJudge(store, cap=100)
>>> judge.bound(f"SELECT ?p ?o WHERE {{ <{ex}m1> ?p ?o }}")
4
>>> judge.bound(f"PREFIX ex: <{ex}> SELECT * {{ ex:m1 ex:p ?o . ex:m2 ?q ?r }}")
16
>>> judge.bound(f"ASK {{ ?m ?p '3' FILTER(?m != <{ex}m0>) }}")
3
>>> judge.bound("SELECT * { ?s ?p ?o }") is None  # nothing anchors it
True
>>> judge.bound(f"SELECT * {{ <{ex}m1> <{ex}p>* ?o }}") is None  # a path: not judged
True
"""

from __future__ import annotations

import collections
import itertools
import re
from dataclasses import dataclass, field
from typing import Any

import pyoxigraph as ox

from spacecoop.rdf import sparql_text

# Functions whose value is no longer than their arguments and that compile nothing: a
# FILTER made of these costs a bounded time per row.
SAFE_FUNCTIONS = frozenset({
    "STR", "LANG", "LANGMATCHES", "LCASE", "UCASE", "CONTAINS", "STRSTARTS", "STRENDS", "ISIRI", "ISURI",
    "ISLITERAL", "ISBLANK", "ISNUMERIC", "BOUND", "DATATYPE", "SAMETERM", "TRUE", "FALSE", "IN", "NOT",
})
_OPERATORS = frozenset("=!&|<>,+-*/")
# Longer texts and more patterns are not judged: a FILTER's cost per row grows with its
# length, and so does the engine's planning with the number of patterns.
MAX_TEXT = 4096
MAX_PATTERNS = 16
REMEMBERED_COUNTS = 16_384
_ABSOLUTE = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*:")


class NotJudged(Exception):
    """The text is outside the fragment this module can bound."""


@dataclass
class _Pattern:
    # Each position: a countable constant (a pyoxigraph term), a variable's name ("?v"), or
    # None for a constant that is not counted (a number, a typed literal).
    s: Any
    p: Any
    o: Any


@dataclass
class _Parse:
    patterns: list[_Pattern] = field(default_factory=list)


class _Reader:
    """A cursor over the significant tokens (kind, text) of a query."""

    def __init__(self, text: str) -> None:
        self.tokens = [(k, t) for k, _, t in sparql_text.tokens(text) if k not in ("ws", "comment")]
        self.at = 0
        self.prefixes: dict[str, str] = {}

    def peek(self, ahead: int = 0) -> tuple[str, str]:
        i = self.at + ahead
        return self.tokens[i] if i < len(self.tokens) else ("end", "")

    def take(self) -> tuple[str, str]:
        token = self.peek()
        if token[0] == "end":
            raise NotJudged("the text ends early")
        self.at += 1
        return token

    def word(self, *words: str) -> str | None:
        """The next token if it is one of ``words`` (case-insensitive), taken; else None."""
        kind, text = self.peek()
        if kind == "word" and text.upper() in words:
            self.at += 1
            return text.upper()
        return None

    def expect(self, text: str) -> None:
        if self.take()[1] != text:
            raise NotJudged(f"expected {text}")


class CostJudge:
    """Bounds the triples a query can touch in ``store`` (a pyoxigraph Store)."""

    def __init__(self, store: Any, cap: int) -> None:
        self.store, self.cap = store, cap
        # The graph is read-only: a pattern's count never changes, and the constants of
        # new questions recur (a class, a popular entity), so counts are remembered.
        self._counts: collections.OrderedDict[tuple[Any, Any, Any], int] = collections.OrderedDict()

    def bound(self, text: str, seen: sparql_text.Facts | None = None) -> int | None:
        """The product of the anchored patterns' counts (at most ``cap + 1`` each, and the
        product stops growing past ``cap``); None for a text outside the fragment.
        ``seen``: the text's facts, when the caller has them (else scanned here)."""
        if len(text) > MAX_TEXT or (seen or sparql_text.facts(text)).ambiguous:
            return None  # tokens() follows one reading of a '<' that the engine may read another way
        try:
            parse = _parse(text)
            total = 1
            keys = [_key(pattern) for pattern in parse.patterns]  # NotJudged for one not anchored
            if len(keys) > MAX_PATTERNS:
                return None
            for key in keys:
                # At least 1 each: a pattern with no match empties the answer, but a plan
                # may join the others first, and their product is what that costs.
                total *= max(self._count(key), 1)
                if total > self.cap:
                    break
        except (NotJudged, ValueError):  # ValueError: a term pyoxigraph would not make
            return None
        return total

    def _count(self, key: tuple[Any, Any, Any]) -> int:
        """Quads matching ``key`` in every graph (at least the union's), at most ``cap + 1``."""
        known = self._counts.get(key)
        if known is not None:
            self._counts.move_to_end(key)
            return known
        found = sum(1 for _ in itertools.islice(self.store.quads_for_pattern(*key, None), self.cap + 1))
        self._counts[key] = found
        if len(self._counts) > REMEMBERED_COUNTS:
            self._counts.popitem(last=False)
        return found

    def cheap(self, text: str, seen: sparql_text.Facts | None = None) -> bool:
        """Whether the query is in the fragment, anchored, and bounded by ``cap``."""
        bound = self.bound(text, seen)
        return bound is not None and bound <= self.cap


def _key(pattern: _Pattern) -> tuple[Any, Any, Any]:
    """The pattern's constants (None for a variable or an uncounted constant)."""
    s, p, o = (None if isinstance(t, str) else t for t in (pattern.s, pattern.p, pattern.o))
    if s is None and o is None:
        raise NotJudged("a pattern that no constant anchors")
    return s, p, o


# --- the fragment ---------------------------------------------------------------------------
def _parse(text: str) -> _Parse:
    r = _Reader(text)
    out = _Parse()
    _prologue(r)
    form = r.word("SELECT", "ASK", "CONSTRUCT")
    if form == "SELECT":
        _projection(r)
    elif form == "CONSTRUCT":
        r.expect("{")
        _triples_block(r, _Parse(), "}")  # the template: bounded by the rows it is written for
        r.expect("}")
    elif form is None:
        raise NotJudged("not SELECT, ASK or CONSTRUCT")
    r.word("WHERE")
    r.expect("{")
    _group(r, out)
    _modifiers(r)
    if r.peek()[0] != "end":
        raise NotJudged("more after the query")
    return out


def _prologue(r: _Reader) -> None:
    while r.word("PREFIX"):
        kind, name = r.take()
        iri = _iri_token(r.take())
        if kind != "pname" or not name.endswith(":") or name.count(":") != 1:
            raise NotJudged("an unusual PREFIX")
        r.prefixes[name[:-1]] = iri


def _projection(r: _Reader) -> None:
    r.word("DISTINCT", "REDUCED")
    if r.peek() == ("other", "*"):
        r.take()
        return
    if r.peek()[0] != "var":
        raise NotJudged("a projection with expressions")
    while r.peek()[0] == "var":
        r.take()


def _group(r: _Reader, out: _Parse) -> None:
    """The elements of a group up to its closing brace (the opening one is taken)."""
    while True:
        kind, text = r.peek()
        if text == "}":
            r.take()
            return
        if text == ".":
            r.take()
        elif r.word("FILTER"):
            r.expect("(")
            _expression(r)
        elif r.word("OPTIONAL"):
            r.expect("{")
            _group(r, out)
        elif kind in ("var", "iri", "pname"):
            _triples_block(r, out, "}")
        else:
            raise NotJudged(f"not judged: {text}")


def _triples_block(r: _Reader, out: _Parse, closing: str) -> None:
    """Triples (with ``;`` and ``,``) until a ``.`` is taken or a group element begins."""
    while True:
        subject = _node(r, r.take(), as_subject=True)
        while True:
            verb = _verb(r, r.take())
            while True:
                out.patterns.append(_Pattern(subject, verb, _node(r, r.take())))
                if r.peek()[1] != ",":
                    break
                r.take()
            if r.peek()[1] != ";":
                break
            r.take()
            if r.peek()[1] in (".", closing):  # a trailing ';'
                break
        kind, text = r.peek()
        if text == ".":
            r.take()
            kind, text = r.peek()
        if text == closing or (kind == "word" and text.upper() in ("FILTER", "OPTIONAL")):
            return  # the closing brace is the caller's to take
        if kind not in ("var", "iri", "pname"):
            raise NotJudged(f"not judged: {text}")


def _verb(r: _Reader, token: tuple[str, str]) -> Any:
    kind, text = token
    if kind == "word" and text == "a":
        return ox.NamedNode("http://www.w3.org/1999/02/22-rdf-syntax-ns#type")
    node = _node(r, token)
    if node is None:
        raise NotJudged("a literal as predicate")
    nxt = r.peek()[1]
    if nxt in ("/", "|", "*", "+", "?", "^") or nxt == "(":
        raise NotJudged("a property path")
    return node


def _node(r: _Reader, token: tuple[str, str], as_subject: bool = False) -> Any:
    """A term: a variable's name, a pyoxigraph constant, or None for an uncounted constant."""
    kind, text = token
    nxt = r.peek()[1]
    if kind == "var":
        return "?" + text[1:]
    if kind == "iri":
        if nxt in ("*", "+", "?", "/", "|", "("):
            raise NotJudged("a path or a call")
        return ox.NamedNode(_iri_token(token))
    if kind == "pname":
        if nxt in ("*", "+", "?", "/", "|", "("):
            raise NotJudged("a path or a call")
        prefix, _, local = text.partition(":")
        if prefix not in r.prefixes or "\\" in local:
            raise NotJudged("an undeclared prefix or an escaped local name")
        return ox.NamedNode(r.prefixes[prefix] + local)
    if as_subject:
        raise NotJudged("a subject that is not a variable or an IRI")
    if kind == "string":
        value = sparql_text.plain_string(text)
        if value is None:
            raise NotJudged("an escaped string")
        if r.peek()[0] == "lang":
            return ox.Literal(value, language=r.take()[1][1:])
        if r.peek()[1] == "^":
            r.take()
            r.expect("^")
            datatype = r.take()
            if datatype[0] not in ("iri", "pname"):
                raise NotJudged("a datatype that is not an IRI")
            return None
        return ox.Literal(value)
    if kind == "number" or (kind == "word" and text.lower() in ("true", "false")):
        return None
    raise NotJudged(f"not judged: {text}")


def _iri_token(token: tuple[str, str]) -> str:
    kind, text = token
    if kind != "iri" or "\\" in text or not _ABSOLUTE.match(text[1:]):
        raise NotJudged("a relative or escaped IRI")
    return text[1:-1]


def _expression(r: _Reader) -> None:
    """A FILTER's parenthesised expression, the first '(' taken: only safe functions."""
    depth = 1
    while depth:
        kind, text = r.take()
        if text == "(":
            depth += 1
        elif text == ")":
            depth -= 1
        elif kind == "word":
            if text.upper() not in SAFE_FUNCTIONS:
                raise NotJudged(f"the function {text}")
        elif kind in ("iri", "pname"):
            if r.peek()[1] == "(":
                raise NotJudged("a call of an IRI")
            _node(r, (kind, text))
        elif kind in ("var", "string", "number", "lang", "lt"):
            continue
        elif not (kind == "other" and text in _OPERATORS):
            raise NotJudged(f"not judged: {text}")


def _modifiers(r: _Reader) -> None:
    if r.word("ORDER"):
        if not r.word("BY"):
            raise NotJudged("ORDER without BY")
        while True:
            if r.peek()[0] == "var":
                r.take()
            elif r.word("ASC", "DESC"):
                r.expect("(")
                if r.take()[0] != "var":
                    raise NotJudged("ordering by an expression")
                r.expect(")")
            else:
                break
    for _ in range(2):
        if r.word("LIMIT", "OFFSET") and r.take()[0] != "number":
            raise NotJudged("LIMIT or OFFSET without a number")

