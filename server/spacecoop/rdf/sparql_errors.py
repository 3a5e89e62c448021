"""SPARQL syntax errors a person can act on: where, what, and what to write instead.

The engine's parser reports the furthest point it reached and every token it could have
taken there ("expected OPTIONAL" for a missing object, a truncated list of character
classes for an undeclared prefix). ``explain`` reads the query with the one tokenizer
(``sparql_text.tokens``) and names the common mistakes at their own place:

* an undeclared prefix, with the exact ``PREFIX`` line when it is one of ours;
* a keyword typo (``OPTINAL``, ``FILTR``, ``ORDR BY``), with the keyword meant;
* a string, brace, bracket or parenthesis left open (where it opened) or closed twice;
* a triple pattern with no object, or two patterns with no ``.`` between them.

A finding is kept only if the engine got at least as far as the place it blames (the
real error can only be at or before the engine's position); otherwise, or when nothing
is recognised, the message is the engine's, cleaned: its position, what it expected
when that is punctuation, and the text there.

>>> print(explain("error at 1:33: expected one of Prefix not found, ['%']", "SELECT * WHERE { ?s a sc:Mission }"))
SPARQL syntax error at line 1, column 23: the prefix sc: is not declared; add the line \
PREFIX sc: <https://spacecoop.example/ontology#>
>>> print(explain("error at 1:25: expected one of LATERAL, SERVICE, [_]", "SELECT * WHERE { ?s ?p }"))
SPARQL syntax error at line 1, column 24: the triple pattern "?s ?p" has no object before "}"
>>> print(explain("error at 1:35: expected OPTIONAL", "SELECT * WHERE { ?s ?p ?o OPTINAL { ?s ?q ?r } }"))
SPARQL syntax error at line 1, column 27: OPTINAL is not a SPARQL keyword; did you mean OPTIONAL?
"""

from __future__ import annotations

import difflib
import functools
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from spacecoop import config
from spacecoop.rdf import iris
from spacecoop.rdf.sparql_text import tokens

# Every word the engine reads as a keyword or a built-in function (SPARQL 1.1 and 1.2,
# Oxigraph's LATERAL and ADJUST); any other bare word is a mistake.
_KEYWORD_TEXT = """
    BASE PREFIX VERSION SELECT DISTINCT REDUCED AS CONSTRUCT WHERE DESCRIBE ASK FROM NAMED GROUP BY
    HAVING ORDER ASC DESC LIMIT OFFSET VALUES OPTIONAL GRAPH SERVICE SILENT BIND UNDEF MINUS UNION
    FILTER NOT EXISTS IN A TRUE FALSE LATERAL SEPARATOR
    LOAD CLEAR DROP CREATE ADD MOVE COPY TO INSERT DELETE DATA WITH USING DEFAULT ALL INTO
    STR LANG LANGMATCHES DATATYPE BOUND IRI URI BNODE RAND ABS CEIL FLOOR ROUND CONCAT STRLEN UCASE
    LCASE ENCODE_FOR_URI CONTAINS STRSTARTS STRENDS STRBEFORE STRAFTER YEAR MONTH DAY HOURS MINUTES
    SECONDS TIMEZONE TZ NOW UUID STRUUID MD5 SHA1 SHA256 SHA384 SHA512 COALESCE IF STRLANG STRDT
    SAMETERM ISIRI ISURI ISBLANK ISLITERAL ISNUMERIC REGEX SUBSTR REPLACE COUNT SUM MIN MAX AVG
    SAMPLE GROUP_CONCAT ADJUST TRIPLE SUBJECT PREDICATE OBJECT ISTRIPLE LANGDIR HASLANG HASLANGDIR
    STRLANGDIR
"""
KEYWORDS = frozenset(_KEYWORD_TEXT.split())
# Keywords that are worth suggesting for a typo (functions are rarely mistyped into another).
_JOINABLE = sorted(KEYWORDS - {"A"})  # "a" is a keyword only on its own
_SUGGESTIBLE = sorted(KEYWORDS - {"A", "IN", "TO", "AS", "BY", "IF", "TZ", "DAY", "STR", "URI", "IRI", "ALL"})
_OPENERS = {"{": "}", "(": ")", "[": "]"}
_ENGINE_AT = re.compile(r"error at (\d+):(\d+): ?(.*)", re.DOTALL)
_QUOTED = re.compile(r'"((?:[^"\\]|\\.)+)"')
# The engine's own sentences among what it expected, and how to say them.
_SENTENCE = re.compile(r"\b[A-Z][a-z]*(?: [A-Za-z]+)+")
_UNGROUPED = "The SELECT contains a variable that is unbound"
_TWICE = "Duplicated variable name in SELECT"
# Clauses that follow a query's pattern: inside a group that is no subquery, a "}" is missing.
_MODIFIERS = frozenset({"GROUP", "ORDER", "HAVING", "LIMIT", "OFFSET"})
_SENTENCES = {
    "IRI parsing failed": "this is not a valid IRI",
    _UNGROUPED: "a selected variable is neither grouped nor aggregated",
    _TWICE: "a variable is selected twice",
    "Prefix not found": "a prefix is not declared",
}
_SKIPPED = ("ws", "comment")
_TERM_KINDS = ("var", "iri", "pname", "bnode", "number", "string")


@dataclass(frozen=True)
class Finding:
    """One mistake: where to point (``at``), how far the engine must have read for it to be
    the cause (``reached``), and what to say."""

    at: int
    reached: int
    message: str


@dataclass(frozen=True)
class Token:
    kind: str
    offset: int
    text: str

    @property
    def end(self) -> int:
        return self.offset + len(self.text)


def explain(engine_message: str, query: str, base: str = config.BASE) -> str:
    """The engine's syntax error about ``query`` as one short line with line, column and a hint.

    >>> print(explain("error at 3:1: expected one of \\",\\", \\".\\", [_]", "ASK {\\n  ?s ?p ?o\\n"))
    SPARQL syntax error at line 1, column 5: this "{" is never closed; add "}" where it should end
    >>> print(explain("error at 1:6: expected one of \\"{\\", [_]", "ASK ?s"))
    SPARQL syntax error at line 1, column 5: expected "{" near "ASK ?s"
    """
    match = _ENGINE_AT.match(engine_message.strip())
    if match is None:
        first = engine_message.strip().splitlines()[0] if engine_message.strip() else "the query cannot be read"
        return f"SPARQL syntax error: {first[:200]}"
    reached = _offset(query, int(match.group(1)), int(match.group(2)))
    try:
        finding = diagnose(query, reached, match.group(3), base)
    except (RecursionError, ValueError, IndexError, KeyError):  # a hint is optional: never worse than none
        finding = None
    finding = finding or _engine_words(match.group(3), query, reached)
    return f"SPARQL syntax error at {_where(query, finding.at)}: {finding.message}"


def diagnose(query: str, reached: int, reason: str = "", base: str = config.BASE) -> Finding | None:
    """The first recognised mistake in ``query`` that the engine, having read up to offset
    ``reached`` and said ``reason``, can have stopped at; None when none is recognised."""
    if "IRI parsing failed" in reason:  # the engine's own words say it best (see _engine_words)
        return None
    significant = [t for t in (Token(*t) for t in tokens(query)) if t.kind not in _SKIPPED]
    checks: tuple[Callable[[], Finding | None], ...] = (
        lambda: _open_string(significant),
        lambda: _undeclared_prefix(significant, base, "Prefix not found" in reason),
        lambda: _unknown_word(significant),
        lambda: _by_missing(significant),
        lambda: _unbalanced(significant, query),
        lambda: _projection_without_as(significant),
        lambda: _ungrouped(significant) if _UNGROUPED in reason else None,
        lambda: _selected_twice(significant) if _TWICE in reason else None,
        lambda: Triples(significant, query).first_problem(),
    )
    for check in checks:
        finding = check()
        if finding is not None and finding.reached <= reached:
            return finding
    return None


# --- positions -----------------------------------------------------------------------------
def _offset(text: str, line: int, column: int) -> int:
    """The engine's 1-based line and column (in characters) as an offset into ``text``."""
    start = 0
    for _ in range(line - 1):
        nl = text.find("\n", start)
        if nl < 0:
            return len(text)
        start = nl + 1
    return min(start + max(column - 1, 0), len(text))


def _where(text: str, offset: int) -> str:
    """``line L, column C`` of an offset (1-based, columns in characters, as the engine counts).

    >>> _where("ab\\ncd", 4)
    'line 2, column 2'
    """
    line = text.count("\n", 0, offset) + 1
    column = offset - (text.rfind("\n", 0, offset) + 1) + 1
    return f"line {line}, column {column}"


def _shown(text: str, limit: int = 40) -> str:
    one_line = " ".join(text.split())
    return one_line if len(one_line) <= limit else one_line[:limit - 1] + "…"


# --- the checks ----------------------------------------------------------------------------
def _open_string(toks: Sequence[Token]) -> Finding | None:
    """A quote the tokenizer could not pair (the string it opens runs past its line or the
    query), or an ``@`` with no language tag."""
    for t in toks:
        if t.kind == "other" and t.text == "@":
            return Finding(t.offset, t.offset, 'a language tag needs letters after "@", as in "text"@en')
        if t.kind == "other" and t.text in ("'", '"'):
            return Finding(t.offset, t.offset, f"this string is never closed; end it with {t.text} "
                                               "on the same line (or use triple quotes for several lines)")
    return None


def _undeclared_prefix(toks: Sequence[Token], base: str, prefix_missing: bool) -> Finding | None:
    declared: dict[str, int] = {}
    for i, t in enumerate(toks):
        if t.kind == "pname" and i and toks[i - 1].kind == "word" and toks[i - 1].text.upper() == "PREFIX":
            declared[t.text.split(":", 1)[0]] = t.offset
            continue
        if t.kind != "pname":
            continue
        prefix = t.text.split(":", 1)[0]
        if prefix in declared:
            continue
        ours = {name: iris.rebase(iri, base) for name, iri in config.PREFIXES.items()}
        message = f"the prefix {prefix}: is not declared; "
        if prefix in ours:
            message += f"add the line PREFIX {prefix}: <{ours[prefix]}>"
        elif close := _closest(prefix, list(declared)) or _closest(prefix, list(ours)):
            message += f"did you mean {close[0]}:?"
            if close[0] not in declared:
                message += f" (then add the line PREFIX {close[0]}: <{ours[close[0]]}>)"
        else:
            message += f"add a line PREFIX {prefix}: <…> naming its namespace IRI"
        # Without the engine's word for it, the name must at least come before where it stopped.
        return Finding(t.offset, t.offset if prefix_missing else t.end, message)
    return None


def _closest(word: str, candidates: Sequence[str]) -> list[str]:
    """The likeliest intended spelling: two letters swapped first (rdsf → rdfs), then the closest."""
    swapped = [c for c in candidates if sorted(c) == sorted(word) and c != word]
    return swapped[:1] or difflib.get_close_matches(word, candidates, n=1, cutoff=0.6)


def _unknown_word(toks: Sequence[Token]) -> Finding | None:
    for i, t in enumerate(toks):
        if t.kind == "word" and not _keywords_only(t.text.upper()):
            if i and toks[i - 1].text.upper() == "PREFIX":
                return Finding(t.offset, t.offset, f"a prefix is declared with a colon: PREFIX {t.text}: <…>")
            close = difflib.get_close_matches(t.text.upper(), _SUGGESTIBLE, n=1, cutoff=0.75)
            if close:
                return Finding(t.offset, t.offset, f"{t.text} is not a SPARQL keyword; did you mean {close[0]}?")
            return Finding(t.offset, t.offset, f"{t.text} is not a SPARQL keyword; write a name with its prefix "
                                               f"(ex:{t.text}) or as an IRI, a variable as ?{t.text}")
    return None


@functools.lru_cache(maxsize=256)
def _keywords_only(word: str) -> bool:
    """True when ``word`` is keywords written together: the engine reads keywords by their
    letters alone, so ``FILTERREGEX(…)`` is FILTER REGEX(…) to it.

    >>> _keywords_only("FILTERREGEX"), _keywords_only("OPTINAL")
    (True, False)
    """
    if word in KEYWORDS or not word or len(word) > 80:
        return word in KEYWORDS
    return any(word.startswith(k) and _keywords_only(word[len(k):]) for k in _JOINABLE if len(k) < len(word))


def _by_missing(toks: Sequence[Token]) -> Finding | None:
    """``ORDER ?x`` and ``GROUP ?x``: both need BY."""
    for i, t in enumerate(toks):
        word = t.text.upper() if t.kind == "word" else ""
        if word in ("ORDER", "GROUP") and not (i + 1 < len(toks) and toks[i + 1].text.upper() == "BY"):
            return Finding(t.offset, t.end, f"{t.text} needs BY: write {word} BY …")
    return None


def _unbalanced(toks: Sequence[Token], query: str) -> Finding | None:
    stack: list[Token] = []
    subquery: set[int] = set()  # offsets of the "{" that hold a SELECT of their own
    for t in toks:
        word = t.text.upper() if t.kind == "word" else ""
        if word == "SELECT" and stack:
            subquery.add(stack[-1].offset)
        if word in _MODIFIERS and stack and stack[-1].text == "{" and stack[-1].offset not in subquery:
            top = stack[-1]
            return Finding(top.offset, t.offset, f'this "{{" is never closed: {t.text} at {_where(query, t.offset)} '
                                                 'comes first; add "}" before it')
        if t.kind == "open":
            stack.append(t)
        elif t.kind == "close":
            if not stack:
                return Finding(t.offset, t.offset, f'this "{t.text}" closes nothing; remove it or open its group')
            top = stack.pop()
            if _OPENERS[top.text] != t.text and all(_OPENERS[o.text] != t.text for o in stack):
                return Finding(t.offset, t.offset, f'this "{t.text}" closes nothing; remove it or open its group')
            if _OPENERS[top.text] != t.text:
                return Finding(top.offset, t.offset,
                               f'this "{top.text}" is never closed: "{t.text}" at {_where(query, t.offset)} comes '
                               f'first; add "{_OPENERS[top.text]}" before it')
    if stack:
        top = stack[-1]
        end = toks[-1].offset if toks else 0
        return Finding(top.offset, end, f'this "{top.text}" is never closed; add "{_OPENERS[top.text]}" where it '
                                        "should end")
    return None


class _Unsure(Exception):
    """The triple reader met something it does not model: it says nothing."""


class Triples:
    """A reader of the triple patterns in each ``{ … }`` group, just enough to find one with no
    object, a subject with no predicate, or two patterns with no ``.`` between them."""

    GROUP_KEYWORDS = frozenset({"OPTIONAL", "MINUS", "UNION", "LATERAL"})
    NAMED_GROUP = frozenset({"GRAPH", "SERVICE"})

    def __init__(self, toks: Sequence[Token], query: str) -> None:
        self.toks, self.query = list(toks), query

    def first_problem(self) -> Finding | None:
        try:
            return self._top()
        except (_Unsure, IndexError):
            return None

    # -- navigation ---------------------------------------------------------------------
    def _is(self, i: int, *texts: str) -> bool:
        return i < len(self.toks) and self.toks[i].text.upper() in texts

    def _matching(self, i: int, depth: int = 0) -> int:
        """The index after the bracket that closes the one at ``i`` (``depth`` 1: the one
        already open before ``i``)."""
        for j in range(i, len(self.toks)):
            if self.toks[j].kind == "open":
                depth += 1
            elif self.toks[j].kind == "close":
                depth -= 1
                if depth == 0:
                    return j + 1
        raise _Unsure

    def _top(self) -> Finding | None:
        i, data_block = 0, False
        while i < len(self.toks):
            t = self.toks[i]
            if t.kind == "word" and t.text.upper() == "VALUES":
                data_block = True
            if t.text == "{":
                if data_block:
                    i, data_block = self._matching(i), False
                    continue
                found, i = self._group(i + 1)
                if found:
                    return found
                continue
            i += 1
        return None

    # -- one group: returns a finding or the index after its "}" -----------------------
    def _group(self, i: int) -> tuple[Finding | None, int]:
        state, start = "S", i  # S: a subject may start; P: a predicate is due; O: an object; E: an end
        while True:
            t = self.toks[i]
            word = t.text.upper() if t.kind == "word" else ""
            if t.text == "}":
                if state == "O":
                    return self._no_object(start, i), i
                if state == "P":
                    return self._no_predicate(start, i), i
                return None, i + 1
            if state == "O":
                nxt = self._object(i)
                if nxt is None:
                    return self._no_object(start, i), i
                i, state = nxt, "E"
                continue
            if state == "P;":  # after ";" a predicate may follow, or nothing: ". ;" and keywords end it
                if t.text in (".", ";"):
                    i, state = i + 1, "S" if t.text == "." else state
                    continue
                if word and word != "A":
                    state = "S"
                    continue
            if state in ("P", "P;"):
                nxt = self._verb(i)
                if nxt is None:
                    if state == "P":
                        return self._no_predicate(start, i), i
                    raise _Unsure
                i, state = nxt, "O"
                continue
            if state == "E":
                if t.text == ".":
                    i, state = i + 1, "S"
                elif t.text == ";":
                    i, state = i + 1, "P;"
                elif t.text == ",":
                    i, state = i + 1, "O"
                elif word or t.text == "{":
                    state = "S"
                elif self._term(i) is not None:
                    previous = self.toks[i - 1]
                    return Finding(t.offset, t.offset,
                                   f'a "." is missing before "{_shown(t.text, 20)}": end the triple pattern '
                                   f'"{self._text(start, i)}" ({_where(self.query, previous.end)}) with " ."'), i
                else:
                    raise _Unsure
                continue
            # state S: a triple, a group, a keyword, or a "."
            if t.text == "{":
                found, i = self._group(i + 1)
                if found:
                    return found, i
                continue
            if t.text == ".":
                i += 1
                continue
            if word:
                if word == "SELECT":  # a subquery: its own clauses, not triples
                    return None, self._matching(i, depth=1)
                i = self._keyword(i, word)
                continue
            nxt = self._term(i)
            if nxt is None:
                raise _Unsure
            start, i, state = i, nxt, "P"
            if self.toks[start].text in ("[", "(") and self._text_at(i) in (".", "}"):
                state = "E"  # [ :p :o ] or a collection alone is a whole triple pattern

    def _keyword(self, i: int, word: str) -> int:
        """The index after a non-triple element that starts with keyword ``word`` (its group, if
        any, is read as the next element)."""
        if word in self.GROUP_KEYWORDS:
            return i + 1
        if word in self.NAMED_GROUP:
            j = i + 1 + self._is(i + 1, "SILENT")
            if self._term(j) is None:
                raise _Unsure
            return j + 1
        if word in ("FILTER", "BIND"):
            j = i + 1
            if self._is(j, "NOT"):
                j += 1
            if self._is(j, "EXISTS"):
                return j + 1
            if self.toks[j].kind in ("word", "iri", "pname"):  # FILTER regex(…), FILTER ex:f(…)
                j += 1
            if self.toks[j].text != "(":
                raise _Unsure
            return self._matching(j)
        if word == "VALUES":
            j = i + 1
            j = self._matching(j) if self.toks[j].text == "(" else j + 1
            if self.toks[j].text != "{":
                raise _Unsure
            return self._matching(j)
        raise _Unsure

    # -- terms --------------------------------------------------------------------------
    def _term(self, i: int) -> int | None:
        """The index after a subject or object term starting at ``i``, or None."""
        t = self.toks[i]
        if t.kind in ("var", "iri", "pname", "bnode", "number"):
            return i + 1
        if t.kind == "string":
            if self._kind(i + 1) == "lang":
                return i + 2
            if self._text_at(i + 1) == "^" and self._text_at(i + 2) == "^" and self._kind(i + 3) in ("iri", "pname"):
                return i + 4
            return i + 1
        if t.text in ("+", "-") and self._kind(i + 1) == "number":
            return i + 2
        if t.kind == "word" and t.text.lower() in ("true", "false"):
            return i + 1
        if t.text in ("[", "("):
            return self._matching(i)
        return None

    def _object(self, i: int) -> int | None:
        t = self.toks[i]
        if t.kind == "lt" or t.text.startswith("<<"):
            raise _Unsure  # RDF-star quoted triples: not modelled
        return self._term(i)

    def _verb(self, i: int) -> int | None:
        """The index after a predicate (a variable, or a property path) starting at ``i``."""
        if self.toks[i].kind == "var":
            return i + 1
        j = i
        while True:
            while self._text_at(j) in ("^", "!"):
                j += 1
            t = self.toks[j]
            if t.kind in ("iri", "pname") or (t.kind == "word" and t.text == "a"):
                j += 1
            elif t.text == "(":
                j = self._matching(j)
            else:
                return None
            while self._text_at(j) in ("*", "+", "?"):
                j += 1
            if self._text_at(j) in ("/", "|"):
                j += 1
                continue
            return j

    def _kind(self, i: int) -> str:
        return self.toks[i].kind if i < len(self.toks) else ""

    def _text_at(self, i: int) -> str:
        return self.toks[i].text if i < len(self.toks) else ""

    # -- messages -----------------------------------------------------------------------
    def _text(self, start: int, end: int) -> str:
        return _shown(" ".join(t.text for t in self.toks[start:end]))

    def _no_object(self, start: int, i: int) -> Finding:
        t = self.toks[i]
        return Finding(t.offset, t.offset, f'the triple pattern "{self._text(start, i)}" has no object before '
                                           f'"{_shown(t.text, 20)}"')

    def _no_predicate(self, start: int, i: int) -> Finding:
        t = self.toks[i]
        if t.kind in _TERM_KINDS or t.text.lower() in ("true", "false"):  # an object, with no predicate before it
            return Finding(t.offset, t.offset, f'a predicate is missing between "{self._text(start, i)}" and '
                                               f'"{_shown(t.text, 20)}"')
        return Finding(t.offset, t.offset, f'"{self._text(start, i)}" has no predicate and object before '
                                           f'"{_shown(t.text, 20)}"')


def _projection_without_as(toks: Sequence[Token]) -> Finding | None:
    """``SELECT (COUNT(?s) ?n)``: an expression in the SELECT clause needs ``AS ?name``."""
    i = next((k for k, t in enumerate(toks) if t.kind == "word" and t.text.upper() == "SELECT"), None)
    while i is not None and i + 1 < len(toks) and toks[i + 1].text != "{" and toks[i + 1].text.upper() != "WHERE":
        i += 1
        if toks[i].text != "(":
            continue
        end = _close_of(toks, i)
        if end is None:
            return None
        inner = toks[i + 1:end]
        if not (len(inner) >= 3 and inner[-2].text.upper() == "AS" and inner[-1].kind == "var"):
            return Finding(toks[i].offset, toks[end].offset, "an expression in SELECT needs a name: write "
                                                             "(expression AS ?name)")
        i = end
    return None


def _ungrouped(toks: Sequence[Token]) -> Finding | None:
    """The selected variables that are neither grouped nor inside an aggregate."""
    upper = [t.text.upper() if t.kind == "word" else "" for t in toks]
    selected = _selected(toks)
    grouped: set[str] = set()
    for k in range(len(toks) - 1):
        if upper[k] == "GROUP" and upper[k + 1] == "BY":
            grouped |= {t.text[1:] for t in toks[k + 2:] if t.kind == "var"}
    for t in selected:
        if t.text[1:] not in grouped:
            return Finding(t.offset, t.offset, f"{t.text} is selected but not grouped: add it to GROUP BY, or "
                                               f"select an aggregate of it such as (SAMPLE({t.text}) AS ?any)")
    return None


def _selected_twice(toks: Sequence[Token]) -> Finding | None:
    seen: set[str] = set()
    for t in _selected(toks, with_names=True):
        if t.text[1:] in seen:
            return Finding(t.offset, t.offset, f"{t.text} is selected twice; name each column once")
        seen.add(t.text[1:])
    return None


def _selected(toks: Sequence[Token], with_names: bool = False) -> list[Token]:
    """The variables of the (first) SELECT clause; with ``with_names`` also the ``AS ?name``s."""
    start = next((k for k, t in enumerate(toks) if t.kind == "word" and t.text.upper() == "SELECT"), None)
    out: list[Token] = []
    depth, i = 0, (start or 0) + 1
    while start is not None and i < len(toks) and toks[i].text != "{" and toks[i].text.upper() != "WHERE":
        depth += (toks[i].text == "(") - (toks[i].text == ")")
        if toks[i].kind == "var" and (depth == 0 or (with_names and toks[i - 1].text.upper() == "AS")):
            out.append(toks[i])
        i += 1
    return out


def _close_of(toks: Sequence[Token], i: int) -> int | None:
    depth = 0
    for j in range(i, len(toks)):
        depth += (toks[j].kind == "open") - (toks[j].kind == "close")
        if depth == 0:
            return j
    return None


def _engine_words(reason: str, query: str, reached: int) -> Finding:
    """The engine's own words, kept where they help: its sentences ("IRI parsing failed") and
    the punctuation it expected (its keyword lists mislead), with the text where it stopped."""
    said = [_SENTENCES.get(s, s[0].lower() + s[1:]) for s in _SENTENCE.findall(reason)]
    # The engine points inside or just past what it could not read: show that token whole.
    significant = [t for t in tokens(query) if t[0] not in _SKIPPED]
    at = next((t[1] for t in significant if t[1] <= reached < t[1] + len(t[2])), reached)
    before = [t[1] for t in significant if t[1] < at]  # and the token before it, for context
    near = query[before[-1] if before else at:].strip()
    if "IRI parsing failed" in reason:
        at = max(query.rfind("<", 0, reached), 0)
        end = query.find(">", at)
        near = query[at:end + 1 if end >= 0 else len(query)]
        said = ["this is not a valid IRI (an IRI holds no spaces, nor any of <>\"{}|^`\\)"]
    expected = [f'"{q}"' for q in _QUOTED.findall(reason) if not q[0].isalpha()][:4]
    if "'0'..='9'" in reason or "'0' ..= '9'" in reason:
        expected.append("a number")
    if not said:
        said = [f"expected {' or '.join(expected)}" if expected else "the query cannot be read"]
    where = f'near "{_shown(near, 24)}"' if near else "at the end of the query"
    return Finding(at, at, f'{"; ".join(said)} {where}')
