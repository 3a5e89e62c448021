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

import functools
import re
from dataclasses import dataclass, field

QUERY_FORMS = frozenset({"SELECT", "ASK", "CONSTRUCT", "DESCRIBE"})
# Functions whose value changes from one evaluation to the next: such answers are never cached.
VOLATILE_FUNCTIONS = frozenset({"NOW", "RAND", "UUID", "STRUUID", "BNODE"})
UPDATE_FORMS = frozenset({"INSERT", "DELETE", "LOAD", "CLEAR", "DROP", "CREATE", "ADD", "MOVE", "COPY", "WITH"})

# The character classes follow the SPARQL grammar exactly (WS is only space, tab, CR and
# LF; a comment ends at CR or LF; IRIREF excludes #x00-#x20): wherever the tokenizer and
# the engine disagree on where a string, comment or IRI ends, text could hide from it.
_STRING = (r"'''(?:[^'\\]|\\.|'(?!''))*'''"
           r'|"""(?:[^"\\]|\\.|"(?!""))*"""'
           r"""|'(?:[^'\\\n\r]|\\.)*'"""
           r'|"(?:[^"\\\n\r]|\\.)*"')
_IRI = r"""<[^<>"{}|^`\\\x00-\x20]*>"""
_COMMENT = r"\#[^\r\n]*"
# One match per token that matters (a word, an IRI, a bracket) or whose inside must not be
# read as query text (a comment, a string), with the run of other text before it taken in
# the same match, so the scanner crosses it without a Python step: whitespace, ".", digits
# and such (none can start a token), and variables and local names ("?x", ":label": a name
# after "?", "$" or ":" is never a keyword). Every match ends on a token (a "<" or quote
# that starts none is "other"), so the scan is linear and never backtracks.
_TOKEN = re.compile(
    rf"""
    (?:[^A-Za-z_\#'"<{{}}()\[\]?$:]++|[?$:](?:[A-Za-z_][A-Za-z0-9_\-]*+)?+)*+
    (?:
        (?P<skip>{_COMMENT}|{_STRING})
      | (?P<iri>{_IRI})
      | (?P<word>[A-Za-z_][A-Za-z0-9_\-]*)
      | (?P<open>[{{(\[])
      | (?P<close>[}})\]])
      | (?P<other>.)
    )?
    """,
    re.VERBOSE | re.DOTALL,
)
_SKIP, _IRI_TOKEN, _WORD, _OPEN, _CLOSE, _OTHER = range(1, 7)  # the groups above, by number
_WS_RUN = re.compile(r"[\ \t\r\n]+")


@dataclass
class Facts:
    """What the tokenizer saw.

    ``service_targets`` has one entry per ``SERVICE`` keyword: the absolute or relative
    IRI written right after it (``SILENT`` skipped), or None when anything else follows
    (a variable, a prefixed name) or when the keyword was found hidden where the
    tokenizer and a real parser could disagree (see ``_hidden_in_iri``). ``ambiguous``
    is True when some ``<…>`` could also be read as a ``<`` operator followed by text
    this tokenizer did not examine as query text.
    """

    form: str = ""
    service_iris: list[str] = field(default_factory=list)
    uses_service: bool = False
    from_iris: list[str] = field(default_factory=list)
    max_depth: int = 0
    keywords: set[str] = field(default_factory=set)
    service_targets: list[str | None] = field(default_factory=list)
    ambiguous: bool = False
    # The text with each run of whitespace and comments as one space (and none at the
    # ends): two texts with the same ``canonical`` form are the same query.
    canonical: str = ""

    @property
    def volatile(self) -> bool:
        """True when the answer may differ between two runs on the same graph (NOW(), RAND() …)."""
        return not VOLATILE_FUNCTIONS.isdisjoint(self.keywords)


# An IRI-looking token is a "<" operator followed by more text when the engine reads it
# inside an expression: ``FILTER(?a<?b)SERVICE?x#>`` is an IRI to a lexer but a SERVICE
# call to Oxigraph. Such tokens are checked for what they could hide. A token that starts
# with "scheme://" cannot be an expression ("x: / /" is a syntax error), so it is an IRI.
_HIDDEN_SERVICE = re.compile(r"(?<![A-Za-z0-9_/:?$#=&%~@+\-])SERVICE[?$:][^#]*#", re.IGNORECASE)
_CLEARLY_IRI = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*://")
_DESYNC_CHARS = frozenset("'#()?$[]")


def _bracket_depth(text: str) -> int:
    """The deepest bracket nesting inside ``text`` (closing brackets never go below 0)."""
    depth = deepest = 0
    for ch in text:
        if ch in "([":
            depth += 1
            deepest = max(deepest, depth)
        elif ch in ")]" and depth:
            depth -= 1
    return deepest


def _hidden_in_iri(out: Facts, interior: str, depth: int) -> None:
    """Account for what an IRI-looking token could hide if the engine reads it otherwise."""
    out.max_depth = max(out.max_depth, depth + _bracket_depth(interior))
    if _HIDDEN_SERVICE.search(interior):
        out.uses_service = True
        out.service_targets.append(None)
    if not _CLEARLY_IRI.match(interior) and not _DESYNC_CHARS.isdisjoint(interior):
        out.ambiguous = True


# One request's text is asked about several times (protocol checks, cacheability, the
# worker's dataset rules); scanning it once per process is enough. Callers only read Facts.
@functools.lru_cache(maxsize=512)
def facts(text: str) -> Facts:
    """Tokenize ``text`` once and collect the facts the protocol layer needs (read-only, memoized).

    For safety decisions the answers err on the side of caution: ``SERVICE:x`` (a
    SERVICE call with an empty-prefix name) counts as SERVICE, and so does the word
    hidden inside an IRI-looking token that an engine could read as an expression.

    >>> facts("PREFIX : <http://x/> SELECT * { SERVICE:e { ?s ?p ?o } }").service_targets
    [None]
    >>> facts("SELECT * { FILTER(?a<?b)SERVICE?x#>\\n{ ?s ?p ?o } }").uses_service
    True
    >>> facts("SELECT * { SERVICE SILENT <http://x/> {} SERVICE ?e {} }").service_targets
    ['http://x/', None]
    >>> facts("SELECT ?service { ?service <http://x/service> ?o }").uses_service
    False
    >>> facts("SELECT * { FILTER(?a < <x:" + "(" * 50 + ">) }").max_depth > 50
    True
    >>> facts("SELECT * { ?s <http://x/a#b> ?o }").ambiguous, facts("SELECT * { FILTER(?a<'>') }").ambiguous
    (False, True)
    """
    out = Facts()
    depth = 0
    word1 = word2 = ""  # the last two keywords, with nothing else after them (word1 last)
    skipped: list[tuple[int, int]] = []  # comments and strings, for the canonical text
    for m in _TOKEN.finditer(text):
        group = m.lastindex
        if group is None:  # the run of other characters at the end
            break
        start = m.start(group)
        if start > m.start() and not text[m.start():start].isspace():
            word1 = word2 = ""  # something else (".", "?x" …) stood between two tokens
        if group == _SKIP:
            skipped.append((start, m.end()))
        elif group == _WORD:
            end = m.end()
            up = m.group(group).upper()
            # (A name right after "?", "$" or ":" never gets here: the run before a token takes it.)
            if up == "SERVICE":
                # Counted even when a ':' follows: Oxigraph reads "SERVICE:x" as a call.
                out.uses_service = True
                out.service_targets.append(None)
            # A prefixed name such as ex:select is not a keyword: the ':' follows it.
            if text[end:end + 1] == ":":
                word1 = word2 = ""
                continue
            out.keywords.add(up)
            if not out.form and (up in QUERY_FORMS or up in UPDATE_FORMS):
                out.form = up
            word2, word1 = word1, up
        elif group == _IRI_TOKEN:
            iri = m.group(group)[1:-1]
            if word1 == "SERVICE" or (word2, word1) == ("SERVICE", "SILENT"):
                out.service_iris.append(iri)
                out.service_targets[-1] = iri
            if word1 == "FROM" or (word2, word1) == ("FROM", "NAMED"):
                out.from_iris.append(iri)
            _hidden_in_iri(out, iri, depth)
        else:
            if group == _OPEN:
                depth += 1
                out.max_depth = max(out.max_depth, depth)
            elif group == _CLOSE:
                depth -= 1
            word1 = word2 = ""
    out.canonical = _canonical(text, skipped)
    return out


def _canonical(text: str, skipped: list[tuple[int, int]]) -> str:
    """``text`` with comments and whitespace runs as one space, strings kept as written.

    >>> facts("# q\\nASK {  ?s ?p 'a  # b' } # run 2\\n").canonical
    "ASK { ?s ?p 'a  # b' }"
    """
    pieces: list[str] = []
    code: list[str] = []  # the text since the last string, comments blanked
    at = 0
    for start, end in skipped:
        code.append(text[at:start])
        if text[start] == "#":
            code.append(" ")
        else:
            pieces += (_WS_RUN.sub(" ", "".join(code)), text[start:end])
            code = []
        at = end
    code.append(text[at:])
    pieces.append(_WS_RUN.sub(" ", "".join(code)))
    return "".join(pieces).strip(" ")


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
    (built from validated values, never from raw input). The block goes right after the
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


def _pattern_start(text: str) -> int | None:
    """Offset of the ``{`` opening the query pattern (after WHERE, else after the form)."""
    seen_form = seen_where = False
    first_brace_after_form: int | None = None
    depth = 0
    for m in _TOKEN.finditer(text):
        group = m.lastindex
        if group == _WORD and depth == 0 and text[m.end():m.end() + 1] != ":":
            up = m.group(group).upper()
            seen_form = seen_form or up in QUERY_FORMS
            seen_where = seen_where or (seen_form and up == "WHERE")
        elif group == _OPEN and m.group(group) == "{":
            if seen_where:
                return m.start(group)
            if seen_form and first_brace_after_form is None and depth == 0:
                first_brace_after_form = m.start(group)
            depth += 1
        elif group == _CLOSE and m.group(group) == "}":
            depth -= 1
    # CONSTRUCT's first brace is its template, never its pattern.
    if facts(text).form == "CONSTRUCT":
        return None
    return first_brace_after_form
