"""What a SPARQL request says, read as the engine reads it, before any engine sees it.

The endpoint's safety rules (read-only, no ``SERVICE`` beyond the allow-list, a nesting
cap, never caching ``NOW()``, remembering a query as quick) rest on facts about the text.
Those facts are only as good as the agreement between this scanner and the engine on
where each comment, string, IRI and name ends: text that one reads as a comment and the
other as a name is text the checks never saw. So the terminals here are those of the
grammar the engine (Oxigraph 0.5's parser) is generated from, rule for rule: ``PN_LOCAL``
with its ``PLX`` escapes (``ex:a\\#`` is a name, not a comment), the four string forms
with exactly their escapes, ``VARNAME``, ``BLANK_NODE_LABEL``, comments to CR or LF, and
whitespace that is only space, tab, CR and LF. Where the engine's parser is greedy and
never backtracks, the patterns are possessive too.

Two places where a token depends on context are read every way the engine could read
them, and the facts are the union over every reading (so they can only err on the side
of caution):

* ``<`` after something that can end an expression operand is either an IRI or the
  less-than operator (``FILTER(?a<?b)SERVICE?x#>`` is a SERVICE call to Oxigraph); the
  scan follows both, as a graph of token start positions that join again (linear: each
  position is read once).
* the engine matches keywords by their letters alone, with no word boundary, so
  ``trueSERVICE``, ``SERVICESILENT``, ``SERVICEex:a``, ``ORDERBYRAND()`` and ``ASKFROM``
  mean what they spell: a word or prefix that *contains* ``SERVICE`` counts as a call, a
  word that contains ``FROM`` as a dataset clause, a word that ends in ``NOW`` or ``RAND``
  as volatile.

>>> query_form("PREFIX ex: <http://ex/> # SELECT in a comment\\n ASK { ?s ?p 'DELETE' }")
'ASK'
>>> query_form("insert data { <a> <b> <c> }")
'INSERT'
>>> facts("SELECT * { SERVICE <http://x/> { ?s ?p ?o } }").service_targets
['http://x/']
>>> facts("SELECT * { { { ?s ?p ?o } } }").max_depth
3
>>> facts("PREFIX ex: <http://x/> SELECT * { ?s ?p ex:a\\\\# \\n" + "{" * 99 + "}" * 99 + "}").max_depth
100
"""

from __future__ import annotations

import functools
import heapq
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field

QUERY_FORMS = frozenset({"SELECT", "ASK", "CONSTRUCT", "DESCRIBE"})
UPDATE_FORMS = frozenset({"INSERT", "DELETE", "LOAD", "CLEAR", "DROP", "CREATE", "ADD", "MOVE", "COPY", "WITH"})
_FORMS = tuple(sorted(QUERY_FORMS | UPDATE_FORMS, key=len, reverse=True))  # longest first: "CREATE" before …
# Functions whose value changes from one evaluation to the next: such answers are never cached.
# (STRUUID ends in UUID.) BNODE(…) mints a fresh blank node on every run.
VOLATILE_FUNCTIONS = ("NOW", "RAND", "UUID", "BNODE")

# --- The grammar's terminals (SPARQL 1.1 §19.8, as Oxigraph 0.5's parser spells them) ----
_PN_CHARS_BASE = ("A-Za-z\u00C0-\u00D6\u00D8-\u00F6\u00F8-\u02FF\u0370-\u037D\u037F-\u1FFF\u200C-\u200D"
                  "\u2070-\u218F\u2C00-\u2FEF\u3001-\uD7FF\uF900-\uFDCF\uFDF0-\uFFFD")
_PN_CHARS_U = _PN_CHARS_BASE + "_"
_PN_CHARS = _PN_CHARS_U + r"\-0-9\u00B7\u0300-\u036F\u203F-\u2040"
_VARNAME = rf"[{_PN_CHARS_U}0-9][{_PN_CHARS_U}0-9\u00B7\u0300-\u036F\u203F-\u2040]*+"
_PLX = r"%[0-9A-Fa-f]{2}|\\[_~.\-!$&'()*+,;=/?#@%]"
# The engine takes one run of dots inside a local name (a second one ends the name).
_PN_LOCAL = rf"(?>[{_PN_CHARS_U}:0-9]|{_PLX})(?>[{_PN_CHARS}:]|{_PLX})*+(?>\.++(?>[{_PN_CHARS}:]|{_PLX})++)?+"
_PN_PREFIX = rf"[{_PN_CHARS_BASE}][{_PN_CHARS}]*+(?>\.++[{_PN_CHARS}]++)*+"
_ESCAPE = r"\\[tbnrf\"'\\]|\\u[0-9A-Fa-f]{4}|\\U[0-9A-Fa-f]{8}"
_STRING = (rf"'''(?>(?>''|')?+(?>[^'\\]|{_ESCAPE}))*+'''"
           rf'|"""(?>(?>""|")?+(?>[^"\\]|{_ESCAPE}))*+"""'
           rf"|'(?>[^'\\\n\r]|{_ESCAPE})*+'"
           rf'|"(?>[^"\\\n\r]|{_ESCAPE})*+"')
# Every IRI the engine could accept (it takes "<" up to the first ">", unescapes \u and \U,
# then parses an IRI, which none of these characters may be in).
# Its \u and \U escapes are decoded by Rust's from_str_radix, which also takes a leading "+".
_IRI_ESCAPE = r"\\u[+0-9A-Fa-f][0-9A-Fa-f]{3}|\\U[+0-9A-Fa-f][0-9A-Fa-f]{7}"
_IRI = re.compile(rf"""<(?:[^<>"{{}}|^`\\\x00-\x20]|{_IRI_ESCAPE})*+>""")
_ABSOLUTE = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*:")
# "scheme://" cannot follow a "<" operator: "http: / /" is a syntax error, so such a
# token is an IRI in every reading.
_CLEARLY_IRI = re.compile(r"<[A-Za-z][A-Za-z0-9+.\-]*+://")

# The pieces of the text that change nothing the safety rules ask about (whitespace,
# variables, blank nodes, prefixed names, words, numbers, language tags, punctuation) are
# crossed inside the regex engine as one run before each token that matters; the last
# piece of the run is kept (group "last") to tell whether it could end an operand. A run
# whose text holds any letters a rule looks for is read again token by token.
_VAR = rf"[?$]{_VARNAME}"
_BNODE = rf"_:[{_PN_CHARS_U}0-9][{_PN_CHARS}]*+(?>\.++[{_PN_CHARS}]++)*+"
_PNAME = rf"(?:{_PN_PREFIX})?+:(?:{_PN_LOCAL})?+"
_NUMBER = r"(?:[0-9]++(?:\.[0-9]*+)?+|\.[0-9]++)(?:[eE][+\-]?[0-9]++)?+"
_LANG = r"@[A-Za-z]++(?:-[A-Za-z0-9]++)*+"
_WORD = r"[A-Za-z][A-Za-z0-9_]*+"
_PUNCTUATION = ".,;*=!&|/+-^~?>"
_SIGNIFICANT = rf"""
      (?P<comment>\#[^\r\n]*+)
    | (?P<string>{_STRING})
    | (?P<word>{_WORD})
    | (?P<lt><)
    | (?P<gt2>>>)
    | (?P<open>[{{(\[])
    | (?P<close>[}})\]])
    | (?P<other>.)
"""
# The groups of _SEGMENT by number: "last" is group 1, then _SIGNIFICANT's in order.
_LAST, _COMMENT, _STRING_TOKEN, _WORD_TOKEN, _LT, _GT2, _OPEN, _CLOSE, _OTHER = range(1, 10)
_SEGMENT = re.compile(
    rf"""
    (?:[\ \t\r\n]++|(?P<last>{_VAR}|{_BNODE}|{_PNAME}|{_WORD}|{_NUMBER}|{_LANG}|[.,;*=!&|/+\-^~?]|>(?!>)))*+
    (?:{_SIGNIFICANT})?+
    """,
    re.VERBOSE | re.DOTALL,
)
# One token at a time (for the rare run that names SERVICE or FROM, and for ``tokens``).
_TOKEN = re.compile(
    rf"""
      (?P<ws>[\ \t\r\n]++)
    | (?P<var>{_VAR})
    | (?P<bnode>{_BNODE})
    | (?P<pname>{_PNAME})
    | (?P<lang>{_LANG})
    | (?P<number>{_NUMBER})
    | {_SIGNIFICANT}
    """,
    re.VERBOSE | re.DOTALL,
)
_VARIABLE = re.compile(_VAR)
_KEYWORD_IN_RUN = re.compile(r"(?i:service|silent|from|now|rand|uuid|bnode|true|false|order|by)")


@dataclass
class Facts:
    """What the scan found, over every reading the engine could make of the text.

    ``service_targets`` has one entry per ``SERVICE`` call: the IRI written right after it
    (``SILENT`` skipped, ``\\u`` escapes decoded), or None when anything else follows (a
    variable, a prefixed name) or when the call is spelt inside a longer word.
    ``ambiguous`` is True when some ``<`` could be read two ways; ``canonical`` is then the
    text as sent, otherwise the text with each run of whitespace and comments as one space
    (two texts with the same ``canonical`` are the same sequence of tokens).
    """

    form: str = ""
    uses_service: bool = False
    service_targets: list[str | None] = field(default_factory=list)
    has_from: bool = False
    volatile: bool = False  # NOW(), RAND() …: the answer may differ between two runs
    max_depth: int = 0
    variables: set[str] = field(default_factory=set)
    ordered: bool = False  # a top-level ORDER BY (one inside a subquery does not order the answer)
    ambiguous: bool = False
    unreadable: bool = False  # so many readings that the scan gave up: the text is refused
    canonical: str = ""
    # Prefixes declared with an IRI that ends in its authority (<http://h:1>): a name after
    # them ("h:SERVICE") may be no IRI, and the engine then reads the local part as text.
    fragile_prefixes: frozenset[str] = frozenset()
    text: str = field(default="", repr=False, compare=False)  # what was scanned (a Job checks it is its own)


@dataclass(frozen=True)
class _At:
    """The scan's state where a token starts (joined by taking the most cautious value)."""

    depth: int = 0
    braces: int = 0
    operand: bool = False  # what came before could end an expression operand
    service: bool = False  # a SERVICE (or SERVICE SILENT) waits for its target
    order: bool = False  # the word before was ORDER

    def join(self, other: _At) -> _At:
        return _At(max(self.depth, other.depth), max(self.braces, other.braces), self.operand or other.operand,
                   self.service or other.service, self.order or other.order)


# Readings fork only at an ambiguous "<" and join where they meet again, so each position
# is read about once; a text made to fork everywhere is refused rather than read forever.
_WORK_PER_CHARACTER = 8


# A request's facts are computed once where it enters the engine and travel on its Job;
# this memo spares the scan when the same text comes again (a page's named queries, a
# client repeating a query). Callers only read Facts.
@functools.lru_cache(maxsize=512)
def facts(text: str) -> Facts:
    """Scan ``text`` and collect the facts the safety rules need (read-only, memoized).

    >>> facts("PREFIX : <http://x/> SELECT * { SERVICE:e { ?s ?p ?o } }").service_targets
    [None]
    >>> facts("SELECT * { FILTER(?a<?b)SERVICE?x#>\\n{ ?s ?p ?o } }").uses_service
    True
    >>> facts("SELECT * { SERVICE SILENT <http://x/> {} SERVICE ?e {} }").service_targets
    ['http://x/', None]
    >>> facts("SELECT ?service { ?service <http://x/service> ?o }").uses_service
    False
    >>> facts("SELECT * { ?s ?p trueSERVICE <http://x/> {} }").service_targets
    ['http://x/']
    >>> facts("SELECT * { ?s ?p ?o } ORDERBYRAND()").volatile, facts("ASKFROM<http://g/>{}").has_from
    (True, True)
    >>> facts("SELECT * { ?s <http://x/a#b> ?o }").ambiguous, facts("SELECT * { FILTER(?a<'>') }").ambiguous
    (False, True)
    """
    out = Facts(fragile_prefixes=_fragile_prefixes(text), text=text)
    skipped: list[tuple[int, int]] = []  # comments and strings, for ``canonical`` (one reading only)
    pending: dict[int, _At] = {}
    queue: list[int] = []
    end = len(text)
    budget = _WORK_PER_CHARACTER * end + 10_000
    pos, at = 0, _At()
    while True:
        stop = queue[0] if queue else end
        reached, steps = _read(text, pos, at, stop, out, skipped)
        budget -= reached - pos
        if len(steps) > 1:
            out.ambiguous = True
        for nxt, state in steps:
            if nxt >= end:
                if state.service:  # SERVICE with nothing after it
                    out.service_targets.append(None)
            elif nxt in pending:
                pending[nxt] = pending[nxt].join(state)
            else:
                pending[nxt] = state
                heapq.heappush(queue, nxt)
        if not queue:
            break
        if budget < 0:
            out.unreadable = True
            break
        pos = heapq.heappop(queue)
        at = pending.pop(pos)
    out.canonical = text if out.ambiguous else _canonical(text, skipped)
    return out


# Every PREFIX declaration, read loosely (also inside strings and comments: more prefixes
# found only means more caution), and the IRIs that cannot end a name safely: a relative
# one (a base may make it anything) or an absolute one that ends in its authority.
_DECLARATION = re.compile(r"(?i:PREFIX)(?:[\ \t\r\n]|\#[^\r\n]*)*([^\s:#]*):(?:[\ \t\r\n]|\#[^\r\n]*)*<([^>]*)>")
_SAFE_PREFIX_IRI = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*:(?!//)|[A-Za-z][A-Za-z0-9+.\-]*://[^/?#]*[/?#]")


def _fragile_prefixes(text: str) -> frozenset[str]:
    """Declared prefixes after which a local name may fail to make an IRI.

    >>> sorted(_fragile_prefixes("PREFIX ex: <http://x/> PREFIX h: <http://h:1> PREFIX r: <rel>"))
    ['h', 'r']
    """
    return frozenset(m[1] for m in _DECLARATION.finditer(text) if not _SAFE_PREFIX_IRI.match(_unescape(m[2])))


def _read(text: str, pos: int, at: _At, stop: int, out: Facts,
          skipped: list[tuple[int, int]]) -> tuple[int, list[tuple[int, _At]]]:
    """Read tokens from ``pos`` along one reading, recording what they say in ``out``,
    until the text ends, another reading waits at ``stop`` (to be joined), or a ``<``
    forks. Returns how far it read and where the next tokens may start, with the state there."""
    depth, braces, operand, service, order = at.depth, at.braces, at.operand, at.service, at.order
    deepest = depth
    end = min(len(text), stop)
    match = _SEGMENT.match
    while pos < end:
        m = match(text, pos)
        assert m is not None
        kind = m.lastindex
        start = m.end() if kind is None or kind == _LAST else m.start(kind)
        last = m.group(_LAST)
        if last is not None:  # a run with something other than whitespace in it
            if service:
                out.service_targets.append(None)
                service = False
            if text.find("?", pos, start) >= 0 or text.find("$", pos, start) >= 0:
                out.variables.update(v[1:] for v in _VARIABLE.findall(text, pos, start))
            if not out.form or _KEYWORD_IN_RUN.search(text, pos, start):
                service, operand, order = _run_by_token(text, pos, start, depth, braces, out)
            else:
                operand = last not in _PUNCTUATION and not (last[0].isalpha() and ":" not in last)
                order = False
        pos = m.end()
        if kind is None or kind == _LAST:
            break
        if kind == _OPEN:
            depth += 1
            deepest = max(deepest, depth)
            braces += text[start] == "{"
            operand = False
        elif kind in (_CLOSE, _GT2):
            depth = depth - 1 if depth else 0
            braces -= braces > 0 and text[start] == "}"
            operand = True
        elif kind == _COMMENT:
            skipped.append((start, pos))
            continue
        elif kind == _LT:
            steps = _less_than(text, start, _At(depth, braces, operand, service, order), out)
            if len(steps) > 1:
                out.max_depth = max(out.max_depth, deepest)
                return pos, steps
            pos, nxt = steps[0]
            depth, braces, operand, service, order = nxt.depth, nxt.braces, nxt.operand, nxt.service, nxt.order
            deepest = max(deepest, depth)
            continue
        elif kind == _STRING_TOKEN:
            skipped.append((start, pos))
            operand = True
        else:
            operand = False
        if service:  # SERVICE followed by something that is no IRI
            out.service_targets.append(None)
            service = False
        order = False
    out.max_depth = max(out.max_depth, deepest)
    return pos, [(pos, _At(depth, braces, operand, service, order))]


def _run_by_token(text: str, pos: int, end: int, depth: int, braces: int, out: Facts) -> tuple[bool, bool, bool]:
    """Read a run token by token (it holds words or names a rule looks for): the state after it."""
    service = operand = order = False
    while pos < end:
        m = _TOKEN.match(text, pos, end)
        assert m is not None
        kind = m.lastgroup
        if kind == "word":
            service, operand, order = _word(m.group(), depth, braces, service, order, out)
        elif kind != "ws":
            if service:
                out.service_targets.append(None)
            service, operand, order = False, kind in ("var", "pname", "number", "lang"), False
            if kind == "pname":
                prefix, local = m.group().split(":", 1)
                if "SERVICE" in prefix.upper():  # "SERVICEex:a" is SERVICE ex:a to the engine
                    out.uses_service = True
                    out.service_targets.append(None)
                if "FROM" in prefix.upper() and out.form and depth == 0:
                    out.has_from = True
                if local and prefix in out.fragile_prefixes:
                    # Where prefix + local part is no valid IRI, the engine reads the bare
                    # prefix and then the local part as query text: read it that way too.
                    service, _, order = _run_by_token(text, m.end() - len(local), m.end(), depth, braces, out)
        pos = m.end()
    return service, operand, order


def _word(word: str, depth: int, braces: int, service: bool, order: bool, out: Facts) -> tuple[bool, bool, bool]:
    """A bare word (a keyword, glued to others or not): (SERVICE waiting, operand, ORDER)."""
    up = word.upper()
    if not out.form:
        out.form = next((f for f in _FORMS if up.startswith(f)), "")
    waiting = False
    if "SERVICE" in up:
        out.uses_service = True
        if service:
            out.service_targets.append(None)
        if up.endswith(("SERVICE", "SERVICESILENT")):
            waiting = True
        else:
            out.service_targets.append(None)
    elif service:
        if up == "SILENT":
            waiting = True
        else:
            out.service_targets.append(None)
    if depth == 0 and "FROM" in up:
        out.has_from = True
    if up.endswith(VOLATILE_FUNCTIONS):
        out.volatile = True
    if braces == 0 and ((order and up == "BY") or "ORDERBY" in up):
        out.ordered = True
    return waiting, up.endswith(("TRUE", "FALSE")), up.endswith("ORDER")


def _less_than(text: str, pos: int, at: _At, out: Facts) -> list[tuple[int, _At]]:
    """``<``: an IRI, the less-than operator, or ``<<``, as the engine could read it here."""
    steps: list[tuple[int, _At]] = []
    iri = _IRI.match(text, pos)
    if iri is not None:
        if at.service:  # a relative IRI is resolved against a base: it names no endpoint by itself
            target = _unescape(iri.group()[1:-1])
            out.service_targets.append(target if _ABSOLUTE.match(target) else None)
        steps.append((iri.end(), _At(at.depth, at.braces, True)))
    elif at.service:
        out.service_targets.append(None)
    if text.startswith("<<", pos):  # a quoted or reified triple opens
        out.max_depth = max(out.max_depth, at.depth + 1)
        steps.append((pos + 2, _At(at.depth + 1, at.braces)))
    if iri is None or (at.operand and not _CLEARLY_IRI.match(text, pos)):
        if iri is not None and at.service:
            out.service_targets.append(None)
        steps.append((pos + 1, _At(at.depth, at.braces)))
    return steps


def _unescape(iri: str) -> str:
    r"""An IRI's ``\u``/``\U`` escapes decoded, as the engine decodes them before it calls out.

    >>> _unescape(r"http:\u002F\u002F127.0.0.1/")
    'http://127.0.0.1/'
    """
    if "\\" not in iri:
        return iri
    return _ESCAPED.sub(_decoded, iri)


_ESCAPED = re.compile(r"\\u([+0-9A-Fa-f][0-9A-Fa-f]{3})|\\U([+0-9A-Fa-f][0-9A-Fa-f]{7})")


def _decoded(m: re.Match[str]) -> str:
    """One escape's character; one that names no character is kept as written (the
    engine refuses such an IRI, and as written it matches no allow-listed endpoint).

    >>> _unescape(r"x\\UFFFFFFFF\\uD800")
    'x\\\\UFFFFFFFF\\\\uD800'
    """
    code = int(m[1] or m[2], 16)
    return chr(code) if code <= 0x10FFFF and not 0xD800 <= code <= 0xDFFF else m[0]


_WS_RUN = re.compile(r"[\ \t\r\n]+")


def _canonical(text: str, skipped: list[tuple[int, int]]) -> str:
    """``text`` with comments and whitespace runs as one space, strings kept as written.

    Each string is framed by NUL marks (a NUL of the text itself is doubled), so query
    text can never produce the key of a string, however its spaces fall.

    >>> facts("# q\\nASK {  ?s ?p 'a  # b' } # run 2\\n").canonical
    "ASK { ?s ?p \\x00s'a  # b'\\x00e }"
    >>> facts("SELECT (NOW( #c\\n) AS ?t) {}").canonical == facts("SELECT (NOW( ) AS ?t) {}").canonical
    False
    """
    pieces: list[str] = []
    code: list[str] = []  # the text since the last string, comments blanked
    at = 0
    for start, end in skipped:
        code.append(text[at:start])
        if text[start] == "#":
            # "( )" is NIL and "[ ]" ANON only with whitespace inside: a comment there
            # makes another query (or none), so it leaves a mark in the key.
            before = ("".join(code) or (pieces[-1] if pieces else "")).rstrip(" \t\r\n")
            code.append(" # " if before.endswith(("(", "[")) else " ")
        else:
            pieces += (_code_key(code), "\x00s" + text[start:end].replace("\x00", "\x00\x00") + "\x00e")
            code = []
        at = end
    code.append(text[at:])
    pieces.append(_code_key(code))
    return "".join(pieces).strip(" ")


def _code_key(code: list[str]) -> str:
    return _WS_RUN.sub(" ", "".join(code).replace("\x00", "\x00\x00"))


def query_form(text: str) -> str:
    """The first query or update keyword (``SELECT``, ``ASK``, ``INSERT`` …), or ``""``."""
    return facts(text).form


def is_volatile(text: str) -> bool:
    """True when the query calls a function whose value changes between runs.

    >>> is_volatile("SELECT (NOW() AS ?t) {}"), is_volatile("SELECT * { ?s ex:now ?o }")
    (True, False)
    """
    return facts(text).volatile


def is_update(text: str) -> bool:
    """True when the text is a SPARQL Update request rather than a query."""
    return facts(text).form in UPDATE_FORMS


def with_values(text: str, bindings: tuple[tuple[str, str], ...]) -> str:
    """Bind variables by opening the query pattern with a ``VALUES`` block.

    ``bindings`` pairs a variable name with a term already written in N-Triples syntax
    (built from validated terms, never from raw input). The block goes right after the
    ``{`` that opens the WHERE pattern, so the binding holds throughout the pattern, also
    for variables the query does not project.

    >>> with_values("SELECT ?l WHERE { ?m rdfs:label ?l }", (("m", "<http://x/a>"),))
    'SELECT ?l WHERE { VALUES (?m) { (<http://x/a>) } ?m rdfs:label ?l }'
    >>> with_values('CONSTRUCT { ?m ?p "{" } WHERE { ?m ?p ?o }', (("m", "<http://x/a>"),))
    'CONSTRUCT { ?m ?p "{" } WHERE { VALUES (?m) { (<http://x/a>) } ?m ?p ?o }'
    """
    if not bindings:
        return text
    block = " VALUES ({}) {{ ({}) }}".format(" ".join(f"?{k}" for k, _ in bindings),
                                            " ".join(v for _, v in bindings))
    at = _pattern_start(text)
    if at is None:
        return f"{text} WHERE {{{block} }}"
    return text[:at + 1] + block + text[at + 1:]


def service_calls(significant: list[tuple[str, int, str]]) -> Iterator[tuple[int, int]]:
    """Each ``SERVICE [SILENT] target`` among ``significant`` tokens (``tokens`` without
    whitespace and comments): the index of its SERVICE keyword and of its target (an IRI,
    a variable or a prefixed name).

    >>> list(service_calls([t for t in tokens("ASK { SERVICE SILENT <http://a/> {} }") if t[0] != "ws"]))
    [(2, 4)]
    """
    for i, (kind, _, token) in enumerate(significant):
        if kind != "word" or token.upper() != "SERVICE" or i + 1 >= len(significant):
            continue
        j = i + 1
        if significant[j][2].upper() == "SILENT" and j + 1 < len(significant):
            j += 1
        if significant[j][0] in ("iri", "var", "pname"):
            yield i, j


def with_service_endpoints(text: str, routes: Mapping[str, str]) -> str:
    """``text`` with each ``SERVICE [SILENT] <iri>`` whose IRI is a key of ``routes`` calling
    the route's URL instead (the same IRI elsewhere in the query is left alone). Meant for
    a text the allow-list check has read unambiguously, as that check refuses any other.

    >>> with_service_endpoints("SELECT * { SERVICE SILENT <http://a/> { ?s <http://a/> ?o } }",
    ...                        {"http://a/": "http://127.0.0.1:9/q"})
    'SELECT * { SERVICE SILENT <http://127.0.0.1:9/q> { ?s <http://a/> ?o } }'
    """
    out, at = [], 0
    significant = [t for t in tokens(text) if t[0] not in ("ws", "comment")]
    for _, j in service_calls(significant):
        kind, offset, token = significant[j]
        if kind == "iri" and token[1:-1] in routes:
            out += [text[at:offset], f"<{routes[token[1:-1]]}>"]
            at = offset + len(token)
    return "".join(out) + text[at:]


def without_service_calls(text: str) -> str:
    """``text`` with each ``SERVICE [SILENT] <iri>`` dropped, its block left as a plain group:
    the same syntax and projection, to check a query that federates without calling out.

    >>> without_service_calls("SELECT ?s { SERVICE SILENT <http://a/> { ?s ?p ?o } }")
    'SELECT ?s {  { ?s ?p ?o } }'
    """
    out, at = [], 0
    significant = [t for t in tokens(text) if t[0] not in ("ws", "comment")]
    for i, j in service_calls(significant):
        out.append(text[at:significant[i][1]])
        at = significant[j][1] + len(significant[j][2])
    return "".join(out) + text[at:]


def plain_string(token: str) -> str | None:
    r"""The value of a string token with no escape in it (None for one with an escape, whose
    value would need the grammar's unescaping).

    >>> plain_string("'smile'"), plain_string("'''嫦娥'''"), plain_string(r"'a\'b'")
    ('smile', '嫦娥', None)
    """
    quote = 3 if token[:3] in ('"""', "'''") else 1
    value = token[quote:-quote]
    return None if "\\" in value else value


def tokens(text: str) -> list[tuple[str, int, str]]:
    """(kind, offset, text) of each token along the first reading (an IRI where one fits)."""
    out: list[tuple[str, int, str]] = []
    pos = 0
    while pos < len(text):
        iri = _IRI.match(text, pos) if text[pos] == "<" else None
        m = iri or _TOKEN.match(text, pos)
        assert m is not None
        out.append(("iri" if iri else m.lastgroup or "other", pos, m.group()))
        pos = m.end()
    return out


def _pattern_start(text: str) -> int | None:
    """Offset of the ``{`` opening the query pattern (after WHERE, else after the form)."""
    seen_form = seen_where = False
    first_brace_after_form: int | None = None
    depth = 0
    for kind, offset, token in tokens(text):
        if kind == "word" and depth == 0:
            up = token.upper()
            seen_form = seen_form or up in QUERY_FORMS
            seen_where = seen_where or (seen_form and up == "WHERE")
        elif kind == "open" and token == "{":
            if seen_where:
                return offset
            if seen_form and first_brace_after_form is None and depth == 0:
                first_brace_after_form = offset
            depth += 1
        elif kind == "close" and token == "}":
            depth -= 1
    # CONSTRUCT's first brace is its template, never its pattern.
    if facts(text).form == "CONSTRUCT":
        return None
    return first_brace_after_form
