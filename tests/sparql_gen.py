"""SPARQL texts that say known things, and the engine as the judge, for fuzzing ``sparql_text.facts``.

Shared by ``tests/test_sparql_text_fuzz.py`` (driven by hypothesis) and ``bench/fuzz_scanner.py``
(driven by ``random``, at scale). Every generator takes a ``random.Random``-like object, so
hypothesis can drive the very same code through ``st.randoms(use_true_random=False)``.

* ``Listener`` answers every SERVICE call with one empty solution and records the request
  path; ``Oracle`` holds a store of a few triples and evaluates texts on it. The only hosts
  a generated text names are ``127.0.0.1`` at the listener's port, and ``reaches_elsewhere``
  (which does not rely on the scanner under test) keeps any text that might name another
  one away from the engine.
* ``QueryGen`` builds queries (SELECT/ASK/CONSTRUCT/DESCRIBE, prefixes with tricky names,
  triples, paths, OPTIONAL/UNION/MINUS/GRAPH/subqueries/VALUES/BIND/LATERAL, FILTERs with
  ``<`` glued or spaced, the four string forms with escapes, IRIs with ``\\u`` escapes and
  fragments, prefixed names with ``PLX`` escapes, SERVICE / SERVICE SILENT, FROM, ORDER BY,
  NOW()/RAND()...) as tokens, so the whitespace and comments between them can be redrawn
  (``Doc.render``) and what the text truly says is known (``Truth``); ``UpdateGen`` builds
  updates. ``base_texts`` are the repository's own queries and shapes learnt from the W3C
  SPARQL 1.1 syntax tests, rewritten onto the listener; ``mutate`` damages any text at the
  character level and plants witnesses (a SERVICE call to a path of its own, inside braces,
  next to a RAND()).
* ``check`` (one text), ``check_same_query`` and ``check_pair`` (two texts) compare
  ``facts`` with the generator's truth and with what the engine did.

``FEATURES`` names the generator's constructs that make the scanner and the engine part
ways (found by this fuzzing); ``QueryGen(features=...)`` leaves them out, so the property
tests can hold the rest of the scanner to its guarantee while those stay visible as
expected failures.
"""

from __future__ import annotations

import http.server
import random
import re
import threading
import urllib.parse
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyoxigraph as ox

from spacecoop.rdf.sparql_text import QUERY_FORMS, UPDATE_FORMS, Facts, facts

ROOT = Path(__file__).resolve().parent.parent
QUERIES = ROOT / "queries"

# Constructs the fuzzing found the scanner to read differently from the engine.
#   lenient-escape: the engine reads an IRI's \uXXXX with Rust's u32::from_str_radix, which takes a
#                   leading "+": <...\u+041#> is an IRI ("A#") to it and code plus a comment to the scanner
#   pname-fallback: a prefixed name whose IRI is invalid (prefix <http://h:1> + "SERVICE") is read
#                   by the engine as the bare prefix ("h:") followed by the local part as code
#   base-relative:  with BASE, SERVICE <svc> calls the resolved IRI, the scanner reports "svc"
FEATURES = frozenset({"lenient-escape", "pname-fallback", "base-relative"})
SAFE_FEATURES: frozenset[str] = frozenset()

SEP, OPT, GLUE = 0, 1, 2  # the gap before a token: needs a separator, may have one, must have none


# =====================================================================================
# The listener and the engine
# =====================================================================================
class _Handler(http.server.BaseHTTPRequestHandler):
    listener: Listener
    BODY = b'{"head":{"vars":[]},"results":{"bindings":[{}]}}'

    def _answer(self) -> None:
        self.listener.record(self.command, self.path)  # before answering: the engine waits for it
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(length)
        self.send_response(200)
        self.send_header("Content-Type", "application/sparql-results+json")
        self.send_header("Content-Length", str(len(self.BODY)))
        self.end_headers()
        self.wfile.write(self.BODY)

    do_GET = do_POST = _answer

    def log_message(self, *args: Any) -> None:
        pass


class Listener:
    """An HTTP server on 127.0.0.1 that answers anything with one empty solution and records paths."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._paths: list[tuple[str, str]] = []
        handler = type("Handler", (_Handler,), {"listener": self})
        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.server.daemon_threads = True
        self.port = int(self.server.server_address[1])
        # A digit glued after the port (a prefix <http://127.0.0.1:PORT> and a name "1") must
        # make a port no client can connect to.
        assert self.port * 10 > 65535, self.port
        self.origin = f"http://127.0.0.1:{self.port}"
        self.base = self.origin + "/"
        self.total = 0
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self._thread.start()

    def record(self, method: str, path: str) -> None:
        with self._lock:
            self._paths.append((method, path))
            self.total += 1

    def take(self) -> list[tuple[str, str]]:
        """The (method, path) of each request since the last call: POST for SERVICE, GET for LOAD."""
        with self._lock:
            paths, self._paths = self._paths, []
        return paths

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def reaches_elsewhere(text: str, origin: str) -> bool:
    """True unless every IRI the engine could build from ``text`` is on ``origin`` (or no web IRI).

    Independent of the scanner: it decodes every ``\\u``/``\\U`` escape the way the engine
    does (a leading ``+`` included), drops backslashes (prefixed-name escapes) and
    percent-escapes, lower-cases, removes each ``http://127.0.0.1:PORT`` that ends there (a
    path, query, fragment, the IRI's end, or digits: a port no client accepts), and refuses
    whatever still says ``http`` or ``//``, an escaped ``@`` (``h:\\@evil`` after a prefix
    that ends in the port would be userinfo), or a function that turns other things into
    IRIs (IRI, URI, DATATYPE, and the triple-term accessors that could return rdf:type).
    """
    if "\\@" in text:
        return True
    decoded = _decode_everything(text).lower()
    rest = decoded.replace(origin + "/", "\0").replace(origin + "?", "\0").replace(origin + "#", "\0")
    rest = rest.replace(origin + ">", "\0")
    rest = re.sub(re.escape(origin) + r"(?=[0-9])", "\0", rest)
    if "http" in rest or "//" in rest or "datatype" in rest:
        return True
    return any(not m.group().startswith("is") for m in _IRI_MAKERS.finditer(decoded))


# IRI(…), URI(…) and the triple-term accessors, however glued (isIRI and isURI alone are tests).
_IRI_MAKERS = re.compile(r"(?:(?<![a-z])is|)(?:iri|uri)(?:[\s]|#[^\r\n]*)*\(|(?:subject|predicate|object)"
                         r"(?:[\s]|#[^\r\n]*)*\(")
_ANY_ESCAPE = re.compile(r"\\u([+0-9A-Fa-f][0-9A-Fa-f]{3})|\\U([+0-9A-Fa-f][0-9A-Fa-f]{7})")


def _decode_everything(text: str) -> str:
    def one(m: re.Match[str]) -> str:
        try:
            return chr(int(m[1] or m[2], 16))
        except (ValueError, OverflowError):
            return "\ufffd"
    return urllib.parse.unquote(_ANY_ESCAPE.sub(one, text).replace("\\", ""))


@dataclass
class Outcome:
    """What the engine made of a text."""

    accepted: bool
    requests: list[tuple[str, str]] = field(default_factory=list)
    signature: tuple[Any, ...] | None = None  # the answer, blank nodes anonymised
    error: str = ""


class Oracle:
    """The engine, on a store of a few triples whose IRIs are all on the listener."""

    ROWS = 2000

    def __init__(self, listener: Listener) -> None:
        self.listener = listener
        self.base = b = listener.base
        self.origin = listener.origin
        self.store = ox.Store()
        n = ox.NamedNode
        for s, p, o in [(n(b + "s"), n(b + "p"), n(b + "o")), (n(b + "s"), n(b + "p"), ox.Literal("1")),
                        (n(b + "o"), n(b + "q"), ox.Literal("a", language="en")),
                        (n(b + "o"), n(b + "p"), n(b + "a#b"))]:
            self.store.add(ox.Quad(s, p, o))
        self.store.add(ox.Quad(n(b + "s"), n(b + "p"), ox.Literal("g"), n(b + "g")))
        self.scratch = ox.Store()
        self.runs = 0

    def safe(self, text: str) -> bool:
        """May the engine see ``text``? (Only SERVICE, in a query, calls out.)"""
        return "service" not in text.lower() or not reaches_elsewhere(text, self.origin)

    def run(self, text: str, **options: Any) -> Outcome:
        """Evaluate a query (the caller made sure it is ``safe``)."""
        self.runs += 1
        self.listener.take()
        try:
            res = self.store.query(text, **options)
        except SyntaxError:
            return Outcome(False, self.listener.take())
        except (UnicodeError, ValueError) as err:  # not even handed to the parser
            return Outcome(False, self.listener.take(), error=type(err).__name__)
        except Exception as err:
            return Outcome(True, self.listener.take(), ("error", type(err).__name__), type(err).__name__)
        try:
            sig = _signature(res, self.ROWS)
        except Exception as err:
            sig = ("error", type(err).__name__)
        return Outcome(True, self.listener.take(), sig)

    def run_update(self, text: str) -> Outcome:
        """Parse and apply an update on a scratch store (LOAD calls the listener)."""
        if reaches_elsewhere(text, self.origin):
            raise AssertionError("refusing to run an update that may reach another host")
        self.runs += 1
        self.listener.take()
        try:
            self.scratch.update(text)
        except SyntaxError:
            return Outcome(False, self.listener.take())
        except (UnicodeError, ValueError) as err:
            return Outcome(False, self.listener.take(), error=type(err).__name__)
        except Exception as err:
            return Outcome(True, self.listener.take(), error=type(err).__name__)
        return Outcome(True, self.listener.take())


def _term(t: Any) -> str:
    if t is None:
        return ""
    if isinstance(t, ox.BlankNode):
        return "_:"
    if isinstance(t, ox.Triple):
        return "<<(" + " ".join(_term(x) for x in (t.subject, t.predicate, t.object)) + ")>>"
    return str(t)


def _signature(res: Any, cap: int) -> tuple[Any, ...]:
    if isinstance(res, ox.QueryBoolean):
        return ("ask", bool(res))
    if isinstance(res, ox.QuerySolutions):
        names = tuple(str(v) for v in res.variables)
        rows = []
        for i, sol in enumerate(res):
            if i >= cap:
                return ("select-many", names)
            rows.append(tuple(_term(sol[k]) for k in range(len(names))))
        return ("select", names, tuple(sorted(rows)))
    triples = []
    for i, t in enumerate(res):
        if i >= cap:
            return ("graph-many",)
        triples.append(_term(t))
    return ("graph", tuple(sorted(triples)))


# =====================================================================================
# What a generated text truly says, and the token list it is rendered from
# =====================================================================================
@dataclass
class Truth:
    """Ground truth of a generated text (``exact`` is False once a text was mutated)."""

    form: str = ""
    depth: int = 0
    volatile: bool = False
    services: list[str | None] = field(default_factory=list)  # the IRI each SERVICE calls (None: a variable)
    has_from: bool = False
    update: bool = False
    exact: bool = True
    features: set[str] = field(default_factory=set)
    witnesses: dict[str, int] = field(default_factory=dict)  # request path -> braces around it (-1: a bare call)

    def copy(self) -> Truth:
        return Truth(self.form, self.depth, self.volatile, list(self.services), self.has_from, self.update,
                     self.exact, set(self.features), dict(self.witnesses))


_HARD = set("{}()[],;")


def can_glue(a: str, b: str) -> bool:
    """May token ``b`` follow ``a`` with nothing between them without either changing?"""
    x, y = a[-1], b[0]
    if (x == "{" and y == "|") or (x == "|" and y == "}") or (x == ")" and y == ">") or (x == "<" and y in "(<"):
        return False
    if x in _HARD or y in _HARD:
        return True
    if a[0] == "<" and x == ">" and y not in ">=":  # after an IRI
        return True
    if b[0] == "<" and b[-1] == ">" and x not in "<" and (x.isalnum() or x in "?$'\"_>:"):
        return True
    if a[0] in "?$" and len(a) > 1 and y in "?$'\"":
        return True
    if x in "'\"" and len(a) > 1 and y in "?$":
        return True
    return bool(a[0].isalpha() and a.isalpha() and y in "?$*")  # a keyword before a variable or *


class Doc:
    """The tokens of a text being generated, the gap policy before each, and its ``Truth``."""

    def __init__(self) -> None:
        self.toks: list[str] = []
        self.kinds: list[str] = []
        self.policy: list[int] = []
        self.truth = Truth()
        self.depth = 0

    def add(self, tok: str, kind: str = "code", glue: int | None = None) -> Doc:
        if self.toks:
            self.policy.append(glue if glue is not None else (OPT if can_glue(self.toks[-1], tok) else SEP))
        else:
            self.policy.append(OPT)
        self.toks.append(tok)
        self.kinds.append(kind)
        if kind == "code":
            i = 0
            while i < len(tok):
                pair = tok[i:i + 2]
                if pair in ("<<", ">>"):
                    self._nest(1 if pair == "<<" else -1)
                    i += 2
                    continue
                if tok[i] in "{([":
                    self._nest(1)
                elif tok[i] in "})]":
                    self._nest(-1)
                i += 1
        return self

    def _nest(self, step: int) -> None:
        self.depth += step
        self.truth.depth = max(self.truth.depth, self.depth)

    def render(self, r: random.Random, decoy: Callable[[], str], glue_rate: float = 0.35) -> tuple[str, list[str]]:
        """The text, with fresh whitespace and comments in every gap (and the gaps chosen)."""
        gaps = []
        for i, pol in enumerate(self.policy):
            if i == 0:
                gaps.append(separator(r, decoy) if r.random() < 0.2 else "")
            elif pol == GLUE or (pol == OPT and r.random() < glue_rate):
                gaps.append("")
            else:
                gaps.append(separator(r, decoy))
        return self.join(gaps, tail=separator(r, decoy, last=True) if r.random() < 0.2 else ""), gaps

    def variant(self, r: random.Random, gaps: list[str], decoy: Callable[[], str]) -> str:
        """The same tokens with other non-empty separators where there was one."""
        return self.join([separator(r, decoy) if g else "" for g in gaps],
                         tail=separator(r, decoy, last=True) if r.random() < 0.3 else "")

    def join(self, gaps: list[str], tail: str = "") -> str:
        out = []
        for g, t in zip(gaps, self.toks, strict=True):
            out.append(g)
            out.append(t)
        out.append(tail)
        return "".join(out)


_COMMENT_BITS = ["", " ", "x", "{", "}", "{{", "(", ")", "[", "'", '"', "'''", '"""', "<", ">", "\\", "#", "SERVICE",
                 "ORDER BY RAND()", "NOW()", "SELECT", "INSERT DATA {", "FROM <x>", "\\u0041", "?x<?y", "} UNION {",
                 "é", "\t", "\x0b", "\x0c", "\u2028", "\u0085"]


def separator(r: random.Random, decoy: Callable[[], str], last: bool = False) -> str:
    """Whitespace and comments (a comment holding braces, quotes, keywords or a SERVICE call)."""
    out = []
    n = r.choice((1, 1, 1, 2, 3))
    for i in range(n):
        if r.random() < 0.6:
            out.append(r.choice((" ", " ", " ", "  ", "\t", "\n", "\r\n", "\r", "\n  ", " \t ")))
        else:
            body = "".join(r.choice(_COMMENT_BITS) for _ in range(r.randint(0, 4)))
            if r.random() < 0.3:
                body += " " + decoy()
            end = "" if last and i == n - 1 and r.random() < 0.5 else r.choice(("\n", "\r", "\r\n", "\n "))
            out.append("#" + body + end)
    return "".join(out)


# =====================================================================================
# Queries
# =====================================================================================
_VARS = ["?s", "?p", "?o", "?x", "?y", "?z", "$v", "?SERVICE", "?service", "?rand", "?now", "?silent", "?from",
         "?order", "?by", "?true", "?a1", "?_b", "?é"]
_IRI_LOCALS = ["s", "p", "o", "q", "a#b", "a#", "x?y=1", "a'b", "a(b)", "a,b", "a;b", "a*b", "a=b", "a!b", "a$b",
               "a&b", "a~b", "a@b", "%41", "é", "a.b", "a/b/c", "a#'", "q#'x'", "x#SERVICE", "a:b", "g",
               "SERVICE", "a-b", "a_b", "a+b", "s#}"]
_PN_LOCALS = ["s", "p", "o", "q", "g", "a\\#", "a\\'b", "a\\(b\\)", "%41", "a.b", "a:b", "a..b", "1", "_x", "a-b",
              "a\\.", "a\\~", "now", "rand", "a\\,b", "a\\;b", "a\\-b", "a\\!", "a\\&", "a\\=", "a\\/b", "a\\?b",
              "a\\$", "a\\*", "a\\+", "a\\#b\\'", "x:y:z", "SERVICE", "FROM", "a\\#SERVICE", "é", "a%2Fb", "a\\%41",
              "trueSERVICE", "a.b.c", "12", ".."]
_LANGS = ["en", "en-GB", "zh-Hans-CN", "x-SERVICE", "en--ltr", "ar--rtl"]
_STRING_ESCAPES = ["\\'", '\\"', "\\\\", "\\n", "\\t", "\\r", "\\b", "\\f", "\\u0041", "\\u0027", "\\u0022",
                   "\\U0001F600", "\\u00e9", "\\u005C", "\\u0023"]
_STRING_RAW = ["a", "b", " ", "  ", "#", "# x", "{", "}", "(", ")", "[", "<", ">", "<x>", "SERVICE", "RAND()", "NOW()",
               "é", "天", "?x", "$", "-->", ":", ";", ".", "'", '"', "'''", '"""', "''", '""', "\t"]
_LONG_RAW = ["\n", "\r\n", "\n# not a comment\n", "\r", "\n}"]


class QueryGen:
    """A small grammar of SPARQL 1.1/1.2 queries, rendered as ``Doc`` tokens with ``Truth``."""

    def __init__(self, r: random.Random, oracle_base: str, features: Iterable[str] = FEATURES,
                 max_depth: int = 5) -> None:
        self.r = r
        self.base = oracle_base
        self.origin = oracle_base.rstrip("/")
        self.features = frozenset(features)
        self.max_depth = max_depth
        self.n = r.randrange(1, 10**6)  # request paths unique within one text
        self.prefixes: dict[str, str] = {}
        self.bound = 0
        self.relative_ok = False

    # --- small pieces -------------------------------------------------------------------
    def next_id(self) -> int:
        self.n += 1
        return self.n

    def decoy(self) -> str:
        """A SERVICE call for comments and strings: the engine must never make it (if it does,
        the scanner must have seen it as a call)."""
        return f"SERVICE <{self.base}c{self.next_id()}> {{}}"

    def var(self) -> str:
        return self.r.choice(_VARS)

    def fresh_var(self) -> str:
        self.bound += 1
        return f"?b{self.bound}"

    def iri_text(self, local: str | None = None, relative: bool = False) -> str:
        r = self.r
        text = (local if relative else self.base + (local if local is not None else r.choice(_IRI_LOCALS)))
        if r.random() < 0.25:
            chars = list(text)
            start = 0 if relative else r.choice((0, len(self.base) - 1))
            for _ in range(r.randint(1, 3)):
                i = r.randrange(start, len(chars)) if start < len(chars) else 0
                if len(chars[i]) != 1 or chars[i] == "\\":
                    continue
                chars[i] = self.escape(chars[i])
            text = "".join(chars)
        return "<" + text + ">"

    def escape(self, c: str) -> str:
        r, o = self.r, ord(c[0])
        forms = [f"\\u{o:04X}", f"\\u{o:04x}", f"\\U{o:08X}"] if o <= 0xFFFF else [f"\\U{o:08X}"]
        if "lenient-escape" in self.features and o <= 0xFFF:
            forms += [f"\\u+{o:03X}", f"\\U+{o:07X}"]
        return r.choice(forms)

    def iri(self, d: Doc, local: str | None = None) -> None:
        text = self.iri_text(local)
        if "\\u+" in text or "\\U+" in text:
            d.truth.features.add("lenient-escape")
        d.add(text, "iri")

    def pname(self, d: Doc, local: str | None = None) -> None:
        r = self.r
        names = [p for p in self.prefixes if p != "h"]
        if not names:
            self.iri(d, local)
            return
        prefix = r.choice(names)
        if local is None:
            local = r.choice(_PN_LOCALS)
            if prefix == "f" and "#" in local:  # <...f#> + "a#" is no IRI: the engine reads "f:" alone
                local = "a"
            if local == "..":
                local = "a"
        d.add(f"{prefix}:{local}", "pname")

    def string(self, d: Doc, plain: bool = False) -> None:
        r = self.r
        quote = r.choice(("'", '"', "'''", '"""'))
        q, long = quote[0], len(quote) == 3
        atoms: list[tuple[bool, str]] = []  # (an escape?, text)
        for _ in range(r.randint(0, 6)):
            x = r.random()
            if x < 0.35:
                atoms.append((True, r.choice(_STRING_ESCAPES)))
            elif x < 0.45 and long:
                atoms.append((False, r.choice(_LONG_RAW)))
            elif x < 0.5:
                atoms.append((False, self.decoy()))
            else:
                atoms.append((False, r.choice(_STRING_RAW)))
        if r.random() < 0.02:  # an escape the engine refuses: a rejected text, whatever the form
            atoms.append((True, r.choice(("\\uD800", "\\U00110000"))))
        out, run = [], 0  # run: raw quotes just written (a third would close a long string)
        for escape, text in atoms:
            if escape:
                out.append(text)
                run = 0
                continue
            for ch in text:
                if ch in "\r\n" and not long:
                    continue
                if ch == q and (not long or run == 2):
                    out.append("\\" + ch)
                    run = 0
                elif ch == q:
                    out.append(ch)
                    run += 1
                else:
                    out.append(ch)
                    run = 0
        if run:
            out.append("x")  # a long string's last character is never its quote
        d.add(quote + "".join(out) + quote, "str")
        if not plain:
            x = r.random()
            if x < 0.12:
                d.add("@" + r.choice(_LANGS), "code", glue=OPT if r.random() < 0.8 else SEP)
            elif x < 0.2:
                d.add("^^", "code", glue=OPT)
                if r.random() < 0.5:
                    self.iri(d, "dt")
                else:
                    self.pname(d, "dt")

    def number(self, d: Doc) -> None:
        d.add(self.r.choice(("1", "0", "42", "-1", "+3", "1.5", ".5", "1e3", "-2.5E-1", "007", "1.0e+1")), "num")

    def term(self, d: Doc, allow_literal: bool = True) -> None:
        x = self.r.random()
        if x < 0.3:
            d.add(self.var())
        elif x < 0.5:
            self.iri(d)
        elif x < 0.65:
            self.pname(d)
        elif not allow_literal:
            d.add(self.var())
        elif x < 0.82:
            self.string(d)
        elif x < 0.92:
            self.number(d)
        else:
            d.add(self.r.choice(("true", "false")))

    # --- the prologue -----------------------------------------------------------------
    def prologue(self, d: Doc) -> None:
        r = self.r
        b = self.base
        choices = {"ex": b, "": b, "t": b + "t/", "a.b": b + "ab/", "service": b + "srv/", "silent": b, "from": b,
                   "now": b, "select": b, "insert": b, "sel-ect": b, "f": b + "f#", "x_1": b + "x#"}
        wanted = [k for k in choices if r.random() < 0.35] or ["ex"]
        if "pname-fallback" in self.features and r.random() < 0.3:
            wanted.append("h")
            choices["h"] = self.origin  # no slash: "h:1" is a (useless) port, "h:SERVICE" no IRI at all
        if r.random() < 0.1:
            d.add("VERSION")
            d.add(r.choice(("'1.2'", '"1.2-basic"')), "str")
        for name in wanted:
            if name in self.prefixes:
                continue
            self.prefixes[name] = choices[name]
            d.add("PREFIX" if r.random() < 0.8 else r.choice(("prefix", "Prefix")))
            d.add(f"{name}:", "pname", glue=OPT if r.random() < 0.2 else SEP)
            d.add(self.iri_text(choices[name], relative=True), "iri")
        if r.random() < 0.12:
            d.add("BASE")
            d.add(self.iri_text(b + "base/", relative=True), "iri")
            self.prefixes.setdefault("ex", b)
            self.relative_ok = True

    # --- graph patterns ---------------------------------------------------------------
    def group(self, d: Doc, budget: int) -> None:
        r = self.r
        d.add("{")
        for _ in range(r.randint(0, 3) if budget > 0 else r.randint(0, 2)):
            self.element(d, budget - 1)
            if r.random() < 0.3:
                d.add(".")
        d.add("}")

    def element(self, d: Doc, budget: int) -> None:
        r = self.r
        x = r.random()
        if budget <= 0 or x < 0.32:
            self.triples(d, budget)
        elif x < 0.42:
            self.filter(d, budget)
        elif x < 0.5:
            d.add(r.choice(("OPTIONAL", "optional", "MINUS")))
            self.group(d, budget)
        elif x < 0.56:
            self.group(d, budget)
            while r.random() < 0.5:
                d.add(r.choice(("UNION", "union")))
                self.group(d, budget)
        elif x < 0.6:
            d.add("GRAPH")
            self.term(d, allow_literal=False)
            self.group(d, budget)
        elif x < 0.66:
            self.bind(d, budget)
        elif x < 0.71:
            self.values(d)
        elif x < 0.85:
            self.service(d, budget)
        elif x < 0.9:
            self.subquery(d, budget)
        elif x < 0.93:
            d.add("LATERAL")
            self.group(d, budget)
        else:
            self.group(d, budget)

    def triples(self, d: Doc, budget: int) -> None:
        r = self.r
        self.subject(d, budget)
        self.pred_objects(d, budget)
        while r.random() < 0.25:
            d.add(";")
            if r.random() < 0.8:
                self.pred_objects(d, budget)
        if r.random() < 0.12:  # a keyword glued to the object before it ("trueSERVICE")
            d.add(",")
            d.add(r.choice(("true", "false", "1", "'x'", "?o")))
            self.service(d, budget, glue=GLUE)
        elif "pname-fallback" in self.features and "h" in self.prefixes and r.random() < 0.15:
            # "h:SERVICE<...>": h: (its IRI ends in the port) cannot take a name, so the engine
            # reads h: and then the call.
            d.truth.features.add("pname-fallback")
            d.add(",")
            kw = r.choice(("SERVICE", "SERVICE", "SERVICESILENT", "service"))
            d.add("h:" + kw, "pname")
            self.service_target(d, glue=OPT)
            self.group(d, min(budget, 1))

    def subject(self, d: Doc, budget: int) -> None:
        r = self.r
        x = r.random()
        if x < 0.75 or budget <= 0:
            self.term(d, allow_literal=False)
        elif x < 0.82:
            d.add(r.choice(("_:b1", "_:x.y", "_:1a")))
        elif x < 0.9:
            d.add("[")
            self.pred_objects(d, 0)
            d.add("]")
        elif x < 0.95:
            d.add("(")
            for _ in range(r.randint(1, 3)):
                self.term(d)
            d.add(")")
        else:
            d.add("<<")
            self.term(d, allow_literal=False)
            self.verb(d, 0)
            self.term(d)
            d.add(">>")

    def pred_objects(self, d: Doc, budget: int) -> None:
        r = self.r
        self.verb(d, budget)
        self.obj(d, budget)
        while r.random() < 0.2:
            d.add(",")
            self.obj(d, budget)

    def verb(self, d: Doc, budget: int) -> None:
        r = self.r
        x = r.random()
        if x < 0.3:
            d.add(self.var())
        elif x < 0.5:
            self.iri(d, r.choice(("p", "q", "a#b", "p#'")))
        elif x < 0.6:
            d.add("a")
        else:
            self.path(d, 2 if budget > 0 else 1)

    def path(self, d: Doc, budget: int) -> None:
        r = self.r
        if r.random() < 0.2:
            d.add("^", glue=OPT)
        x = r.random()
        if x < 0.4:
            self.pname(d, r.choice(("p", "q", "a\\#", "p.q")))
        elif x < 0.6:
            self.iri(d, r.choice(("p", "q")))
        elif x < 0.7:
            d.add("a")
        elif x < 0.8 and budget > 0:
            d.add("(")
            self.path(d, budget - 1)
            d.add(")")
        else:
            d.add("!")
            self.iri(d, "p")
        if r.random() < 0.3:
            d.add(r.choice(("*", "+", "?")), glue=OPT)
        if budget > 0 and r.random() < 0.3:
            d.add(r.choice(("/", "|")))
            self.path(d, budget - 1)

    def obj(self, d: Doc, budget: int) -> None:
        r = self.r
        x = r.random()
        if x < 0.85 or budget <= 0:
            self.term(d)
        elif x < 0.9:
            d.add("[")
            if r.random() < 0.6:
                self.pred_objects(d, 0)
            d.add("]")
        elif x < 0.95:
            d.add("<<(")
            self.term(d, allow_literal=False)
            self.iri(d, "p")
            self.term(d)
            d.add(")>>")
        else:
            self.term(d)
            d.add("{|")
            self.pred_objects(d, 0)
            d.add("|}")
        if r.random() < 0.04:
            d.add("~")
            self.term(d, allow_literal=False)

    def filter(self, d: Doc, budget: int) -> None:
        r = self.r
        d.add(r.choice(("FILTER", "filter", "Filter")))
        x = r.random()
        if x < 0.12:
            d.add(r.choice(("EXISTS", "NOT EXISTS")))
            self.group(d, budget)
            return
        d.add("(", glue=OPT)
        self.expr(d, budget)
        d.add(")")

    def expr(self, d: Doc, budget: int) -> None:
        r = self.r
        x = r.random()
        if budget <= 0 or x < 0.3:
            self.comparison(d, budget)
        elif x < 0.42:
            self.expr(d, budget - 1)
            d.add(r.choice(("&&", "||")), glue=OPT)
            self.expr(d, budget - 1)
        elif x < 0.48:
            d.add("!", glue=OPT)
            d.add("(", glue=OPT)
            self.expr(d, budget - 1)
            d.add(")")
        elif x < 0.56:
            self.call(d, budget)
        elif x < 0.66:
            self.volatile(d)
        elif x < 0.72:
            self.operand(d)
            d.add(r.choice(("IN", "NOT IN", "in")))
            d.add("(", glue=OPT)
            for i in range(r.randint(0, 3)):
                if i:
                    d.add(",")
                self.operand(d)
            d.add(")")
        elif x < 0.78:
            d.add(r.choice(("EXISTS", "NOT EXISTS")))
            self.group(d, budget - 1)
        elif x < 0.84:
            d.add("(")
            self.expr(d, budget - 1)
            d.add(")")
        else:
            self.operand(d)

    def comparison(self, d: Doc, budget: int) -> None:
        r = self.r
        self.operand(d)
        d.add(r.choice(("<", "<", "<", "<=", ">", ">=", "=", "!=")), glue=OPT)
        if r.random() < 0.1:
            self.volatile(d)
        else:
            self.operand(d, glue=OPT)

    def operand(self, d: Doc, glue: int | None = None) -> None:
        r = self.r
        x = r.random()
        if x < 0.35:
            d.add(self.var(), glue=glue)
        elif x < 0.5:
            d.add(r.choice(("3", "1.5", "-2", "+1", "0e1")), "num", glue=glue)
        elif x < 0.65:
            self.string(d, plain=r.random() < 0.5)
        elif x < 0.75:
            self.iri(d)
        elif x < 0.82:
            self.pname(d)
        elif x < 0.88:
            d.add(r.choice(("true", "false")), glue=glue)
        elif x < 0.94:
            d.add(r.choice(("STR", "LANG", "STRLEN", "UCASE", "isIRI")), glue=glue)
            d.add("(", glue=OPT)
            d.add(self.var())
            d.add(")")
        else:
            d.add("<<(")
            self.iri(d, "s")
            self.iri(d, "p")
            self.term(d)
            d.add(")>>")

    def call(self, d: Doc, budget: int) -> None:
        r = self.r
        name, arity = r.choice((("BOUND", 0), ("CONTAINS", 2), ("STRSTARTS", 2), ("REGEX", 2), ("IF", 3),
                                ("COALESCE", 2), ("sameTerm", 2), ("isLiteral", 1), ("LANGMATCHES", 2),
                                ("isTRIPLE", 1)))
        d.add(name)
        d.add("(", glue=OPT)
        if arity == 0:
            d.add(self.var())
        for i in range(arity):
            if i:
                d.add(",")
            if name == "IF" and i == 0:
                self.expr(d, budget - 1)
            else:
                self.operand(d)
        d.add(")")

    def volatile(self, d: Doc) -> None:
        r = self.r
        name = r.choice(("NOW", "RAND", "UUID", "STRUUID", "BNODE", "now", "rand", "Rand"))
        d.truth.volatile = True
        prev = d.toks[-1] if d.toks else ""
        gluable = prev[-1:] in tuple("(<>=!&|,") or prev.upper() in ("BY", "FILTER")
        d.add(name, glue=OPT if gluable and r.random() < 0.5 else SEP)
        d.add("(", glue=OPT if r.random() < 0.7 else SEP)
        if name.upper() == "BNODE" and r.random() < 0.5:
            d.add("'x'", "str")
        d.add(")")

    def bind(self, d: Doc, budget: int) -> None:
        d.add(self.r.choice(("BIND", "bind")))
        d.add("(", glue=OPT)
        if self.r.random() < 0.5:
            self.expr(d, budget)
        else:
            self.operand(d)
        d.add("AS")
        d.add(self.fresh_var())
        d.add(")")

    def values(self, d: Doc) -> None:
        r = self.r
        d.add("VALUES")
        if r.random() < 0.5:
            d.add(self.fresh_var())
            d.add("{")
            for _ in range(r.randint(0, 3)):
                self.value(d)
            d.add("}")
            return
        names = [self.fresh_var() for _ in range(r.randint(0, 2))]
        d.add("(")
        for v in names:
            d.add(v)
        d.add(")")
        d.add("{")
        for _ in range(r.randint(0, 2)):
            d.add("(")
            for _ in names:
                self.value(d)
            d.add(")")
        d.add("}")

    def value(self, d: Doc) -> None:
        x = self.r.random()
        if x < 0.2:
            d.add("UNDEF")
        elif x < 0.5:
            self.iri(d)
        elif x < 0.8:
            self.string(d)
        else:
            self.number(d)

    def service(self, d: Doc, budget: int, glue: int | None = None) -> None:
        r = self.r
        x = r.random()
        if x < 0.5:
            d.add(r.choice(("SERVICE", "service", "Service", "sErViCe")), glue=glue)
        elif x < 0.75:
            d.add(r.choice(("SERVICE", "service")), glue=glue)
            d.add(r.choice(("SILENT", "silent")), glue=OPT if r.random() < 0.5 else SEP)
        else:
            d.add(r.choice(("SERVICESILENT", "serviceSilent")), glue=glue)
        self.service_target(d)
        if r.random() < 0.5:
            d.add("{")
            d.add("}")
        else:
            self.group(d, min(budget, 1))

    def service_target(self, d: Doc, glue: int | None = None) -> None:
        r = self.r
        path = f"svc{self.next_id()}"
        x = r.random()
        if x < 0.65:
            self.iri(d, path)
            d.policy[-1] = OPT if glue is None else glue
            d.truth.services.append(self.base + path)
        elif x < 0.8 and "ex" in self.prefixes:
            d.add(f"ex:{path}", "pname", glue=OPT if r.random() < 0.5 else SEP)  # "SERVICEex:svc1"
            d.truth.services.append(self.prefixes["ex"] + path)
        elif x < 0.86 and "base-relative" in self.features and self.relative_ok:
            d.add(f"<{path}>", "iri")
            d.truth.services.append(self.base + "base/" + path)
            d.truth.features.add("base-relative")
        else:
            d.add(self.var(), glue=glue)
            d.truth.services.append(None)

    def subquery(self, d: Doc, budget: int) -> None:
        r = self.r
        d.add("{")
        d.add(r.choice(("SELECT", "select")))
        if r.random() < 0.3:
            d.add(r.choice(("DISTINCT", "REDUCED")))
        d.add("*")
        if r.random() < 0.3:
            d.add("WHERE")
        self.group(d, budget - 1)
        if r.random() < 0.3:
            self.order_by(d)
        d.add("LIMIT")
        d.add(str(r.randint(0, 3)), "num")
        d.add("}")

    def order_by(self, d: Doc) -> None:
        r = self.r
        d.add("ORDER")
        d.add("BY", glue=OPT if r.random() < 0.4 else SEP)
        for _ in range(r.randint(1, 2)):
            x = r.random()
            if x < 0.4:
                d.add(self.var())
            elif x < 0.6:
                d.add(r.choice(("ASC", "DESC")))
                d.add("(", glue=OPT)
                d.add(self.var())
                d.add(")")
            elif x < 0.8:
                self.volatile(d)
            else:
                d.add("(")
                self.expr(d, 1)
                d.add(")")

    # --- whole queries ----------------------------------------------------------------
    def dataset(self, d: Doc) -> None:
        r = self.r
        while r.random() < 0.2:
            d.truth.has_from = True
            prev = d.toks[-1]
            gluable = prev.isalpha() or prev[-1] in "*)>"
            d.add(r.choice(("FROM", "from")), glue=OPT if gluable and r.random() < 0.3 else SEP)
            if r.random() < 0.3:
                d.add("NAMED", glue=OPT if r.random() < 0.5 else SEP)
            if r.random() < 0.7:
                self.iri(d, "g")
            else:
                self.pname(d, "g")

    def query(self) -> Doc:
        r = self.r
        d = Doc()
        self.prologue(d)
        form = r.choice(("SELECT", "SELECT", "SELECT", "ASK", "CONSTRUCT", "DESCRIBE"))
        d.truth.form = form
        spelled = r.choice((form, form, form.lower(), form.capitalize()))
        budget = r.randint(1, self.max_depth)
        if form == "SELECT":
            d.add(spelled)
            if r.random() < 0.3:
                d.add(r.choice(("DISTINCT", "REDUCED")), glue=OPT if r.random() < 0.3 else SEP)
            grouped = r.random() < 0.1
            if grouped:
                d.add("(")
                d.add("COUNT")
                d.add("(", glue=OPT)
                d.add("*")
                d.add(")")
                d.add("AS")
                d.add("?n")
                d.add(")")
            elif r.random() < 0.6:
                d.add("*")
            else:
                for _ in range(r.randint(1, 2)):
                    d.add(self.var())
                if r.random() < 0.4:
                    d.add("(")
                    if r.random() < 0.5:
                        self.expr(d, 1)
                    else:
                        self.volatile(d)
                    d.add("AS")
                    d.add(self.fresh_var())
                    d.add(")")
            self.dataset(d)
            if r.random() < 0.5:
                d.add(r.choice(("WHERE", "where")))
            self.group(d, budget)
            if grouped:
                d.add("GROUP")
                d.add("BY")
                d.add(self.var())
            self.modifiers(d)
        elif form == "ASK":
            d.add(spelled)
            self.dataset(d)
            if r.random() < 0.3:
                d.add("WHERE")
            self.group(d, budget)
        elif form == "CONSTRUCT":
            d.add(spelled)
            if r.random() < 0.25:
                self.dataset(d)
                d.add("WHERE")
                d.add("{")
                self.template_triples(d)
                d.add("}")
            else:
                d.add("{")
                self.template_triples(d)
                d.add("}")
                self.dataset(d)
                d.add("WHERE")
                self.group(d, budget)
            self.modifiers(d)
        else:
            d.add(spelled)
            if r.random() < 0.3:
                d.add("*")
            else:
                for _ in range(r.randint(1, 2)):
                    if r.random() < 0.4:
                        self.iri(d)
                    else:
                        d.add(self.var())
            self.dataset(d)
            if r.random() < 0.8:
                if r.random() < 0.5:
                    d.add("WHERE")
                self.group(d, budget)
            self.modifiers(d)
        if r.random() < 0.1:
            self.values(d)
        return d

    def template_triples(self, d: Doc) -> None:
        r = self.r
        for i in range(r.randint(0, 2)):
            if i:
                d.add(".")
            x = r.random()
            if x < 0.7:
                self.term(d, allow_literal=False)
            else:
                d.add(r.choice(("_:t", "[]")))
            if r.random() < 0.5:
                d.add(self.var())
            else:
                self.iri(d, "p")
            self.term(d)

    def modifiers(self, d: Doc) -> None:
        r = self.r
        if r.random() < 0.35:
            self.order_by(d)
        if r.random() < 0.5:
            d.add(r.choice(("LIMIT", "limit")))
            d.add(str(r.randint(0, 20)), "num")
        if r.random() < 0.2:
            d.add("OFFSET")
            d.add(str(r.randint(0, 2)), "num")


class UpdateGen(QueryGen):
    """SPARQL updates: what must never be read as a query form."""

    def update(self) -> Doc:
        r = self.r
        d = Doc()
        d.truth.update = True
        self.prologue(d)
        for i in range(r.randint(1, 3)):
            if i:
                d.add(";")
            kw = self.operation(d)
            if i == 0:
                d.truth.form = kw
        if r.random() < 0.2:
            d.add(";")
        return d

    def graph_ref(self, d: Doc) -> None:
        if self.r.random() < 0.5:
            self.iri(d, "g")
        else:
            self.pname(d, "g")

    def operation(self, d: Doc) -> str:
        r = self.r
        x = r.random()
        pglue = OPT if r.random() < 0.4 else SEP
        if x < 0.2:
            kw = r.choice(("INSERT", "DELETE"))
            d.add(kw)
            d.add("DATA", glue=OPT if r.random() < 0.3 else SEP)
            d.add("{")
            for _ in range(r.randint(0, 2)):
                self.iri(d, "s")
                self.pname(d, "p")
                if r.random() < 0.5:
                    self.string(d)
                else:
                    self.iri(d, "o")
                d.add(".")
            d.add("}")
            return kw
        if x < 0.3:
            d.add("DELETE")
            d.add("WHERE")
            d.add("{")
            self.template_triples(d)
            d.add("}")
            return "DELETE"
        if x < 0.5:
            kw = "DELETE"
            if r.random() < 0.4:
                kw = "WITH"
                d.add(r.choice(("WITH", "with")))
                self.graph_ref(d)
                d.policy[-1] = pglue
            first = r.choice(("DELETE", "INSERT"))
            d.add(first)
            d.add("{")
            self.template_triples(d)
            d.add("}")
            if first == "DELETE" and r.random() < 0.5:
                d.add("INSERT")
                d.add("{")
                self.template_triples(d)
                d.add("}")
            if r.random() < 0.3:
                d.add("USING")
                if r.random() < 0.3:
                    d.add("NAMED")
                self.graph_ref(d)
            d.add("WHERE")
            self.group(d, 2)
            return kw if kw == "WITH" else first
        if x < 0.6:
            d.add(r.choice(("LOAD", "load")))
            if r.random() < 0.4:
                d.add("SILENT", glue=OPT if r.random() < 0.3 else SEP)
            if r.random() < 0.6:
                self.iri(d, f"doc{self.next_id()}")
            else:
                self.pname(d, "doc")
            d.policy[-1] = pglue
            if r.random() < 0.3:
                d.add("INTO")
                d.add("GRAPH")
                self.graph_ref(d)
            return "LOAD"
        if x < 0.8:
            kw = r.choice(("CLEAR", "DROP", "CREATE"))
            d.add(kw if r.random() < 0.7 else kw.lower())
            if r.random() < 0.3:
                d.add("SILENT", glue=OPT if r.random() < 0.3 else SEP)
            if kw == "CREATE" or r.random() < 0.5:
                d.add("GRAPH")
                self.graph_ref(d)
            else:
                d.add(r.choice(("DEFAULT", "NAMED", "ALL")))
            return kw
        kw = r.choice(("ADD", "MOVE", "COPY"))
        d.add(kw if r.random() < 0.7 else kw.lower())
        if r.random() < 0.3:
            d.add("SILENT")
        for i in range(2):
            if i:
                d.add("TO")
            y = r.random()
            if y < 0.3:
                d.add("DEFAULT")
            else:
                if y < 0.6:
                    d.add("GRAPH")
                self.graph_ref(d)
                if i == 0:
                    d.policy[-1] = pglue
        return kw


# =====================================================================================
# Texts to damage: the repository's queries and shapes from the W3C syntax tests
# =====================================================================================
def repo_queries(base: str) -> list[str]:
    """Every ``queries/*.rq``, every web IRI moved onto ``base`` (so that a damaged one still
    names only the listener)."""
    return [re.sub(r"https?://", base, p.read_text(encoding="utf-8")) for p in sorted(QUERIES.glob("*.rq"))]


# Shapes after the W3C SPARQL 1.1 syntax tests (sparql11/syntax-query, syntax-fed and the
# SPARQL 1.0 syntax suites): qnames with escapes and dots, codepoint escapes, long literals
# with quotes inside, blank node labels with dots, lists, keywords as prefixes, relative IRIs.
# "B" stands for the listener's base IRI.
_SHAPES = [
    "PREFIX og: <Bogp#> SELECT * WHERE { ?page og:audio%3Atitle ?title }",
    "PREFIX og: <Bogp#> SELECT * WHERE { ?page og:audio:title ?title }",
    "PREFIX : <B> SELECT * { :a :b :c:d\\? . }",
    "PREFIX : <B> SELECT * { :a :b :c\\~z\\. . }",
    "PREFIX : <B> SELECT * { :a :b%3D :c\\~z\\. . }",
    "PREFIX z: <B> SELECT * { _:a z:b _:1_2_3_ }",
    "PREFIX z: <Bz#> PREFIX : <B> SELECT * { :a :123 :12.3 . :: z:: :_12.3_ . }",
    "PREFIX : <B> SELECT * { : : : . }",
    "PREFIX : <B> PREFIX x.y: <Bxy/> SELECT * WHERE { :a.b  x.y:  : . }",
    "PREFIX : <B> SELECT * WHERE { :_1 :p.rdf :z.z . }",
    "SELECT * WHERE { <Bs> <Bp> '\\u0080\\u07FF\\u0800\\uFFFD\\U00010000\\U0010FFFD' }",
    "SELECT * WHERE { ?s ?p \"\\U0001f46a\" . }",
    "PREFIX : <B> SELECT * WHERE { :x :p 'x\"y\\'z' }",
    "PREFIX : <B> SELECT * WHERE { :x :p \"\"\"Long\n\"\"\nLiteral\n\"\"\" }",
    "PREFIX : <B> SELECT * WHERE { :x :p '''Long\n'' \"\"\"\nLiteral''' }",
    "PREFIX : <B> SELECT * WHERE { :x :p \"\"\"Long\"\"\\\"Literal\"\"\" }",
    "PREFIX : <B> SELECT * WHERE { :x :p '''Long''\\\\Literal with '\\\\ single quotes ''' }",
    "PREFIX : <B> SELECT * WHERE { :x :p \"\"\"Long \"\" Literal\"\"\" }",
    "BASE <B> SELECT * WHERE { <a> <b> <?z> }",
    "BASE <B> SELECT * WHERE { <a> <b> <#x> }",
    "BASE <B> SELECT * WHERE { <a> <b> <&param=value> }",
    "BASE <B> SELECT * WHERE { <\\u0078> <p> \"xx\\u0078\" }",
    "SELECT * WHERE { <Ba><Bb><Bc> }",
    "SELECT * WHERE { <Ba><Bb>_:x }",
    "SELECT * WHERE { <Ba><Bb>+1.0e+1 }",
    "SELECT * WHERE { <Ba><Bb>-1.0e-1 }",
    "PREFIX : <B> SELECT * WHERE { ?x FILTER:foo ?z FILTER (?z) }",
    "PREFIX : <B> SELECT * WHERE { ?x UNION:foo ?z }",
    "PREFIX : <B> SELECT * WHERE { ( [ ?x ?y ] ) :p ( [ ?pa ?b ] 57 ) }",
    "PREFIX : <B> SELECT * WHERE { [ :p :q ; ] }",
    "PREFIX : <B> SELECT * WHERE { _:a :p1 :q1 . _:a :p2 :q2 . }",
    "SELECT * WHERE { FILTER (?o>5) . ?s ?p ?o }",
    "PREFIX : <B> SELECT * WHERE { :s :p :o ; FILTER(?x) }",
    "SELECT * { ?s ?p ?o FILTER(?o NOT IN(1,2,?s+57)) }",
    "SELECT * { ?s ?p ?o FILTER(?o IN(1,<Bx>)) }",
    "PREFIX : <B> SELECT ?X WHERE { [ :p|:q|:r ?X ] }",
    "SELECT (?x +?y AS ?z) {}",
    "SELECT * { } VALUES (?x ?y) { (1 2) }",
    "CONSTRUCT WHERE { ?s ?p 1816 }",
    "CONSTRUCT FROM <Bfile> WHERE { ?s ?p 1816 }",
    "SELECT * { SERVICE <Bsvc-fed1> { ?s ?p ?o } }",
    "SELECT * { ?s ?p ?o SERVICE <Bsvc-fed2> { ?s ?p ?o } ?s ?p ?o }",
    "SELECT * { ?s ?p ?o SERVICE SILENT <Bsvc-fed3> { ?s ?p ?o } ?s ?p ?o }",
    "PREFIX : <B> ASK { _:who :homepage ?homepage FILTER REGEX(?homepage, \"^http://example.org/\") }",
    "PREFIX dob: <Bdob/> PREFIX time: <Btime#> PREFIX dc: <Bdc/> SELECT ?desc WHERE { dob:1D a time:P; dc:d ?desc. }",
    "SELECT * { ?s ?p ?o FILTER(?o<?s)SERVICE<Bsvc-lt>{} }",
    "SELECT * { ?s ?p ?o FILTER(?o<'>')SERVICE<Bsvc-lt2>{} }",
    "PREFIX ex: <B> SELECT * { ?s ?p ex:a\\#\n{{{}}} SERVICE<Bsvc-esc>{} }",
    "SELECT * { ?s ?p trueSERVICE <Bsvc-glue> {} }",
    "SELECT * { ?s ?p ?o } ORDERBYRAND() LIMIT 2",
    "ASKFROM<Bg>{?s ?p ?o}",
    "SELECT * { <Bs> <Bp> <<( <Bs> <Bp> <Bo> )>> }",
    "SELECT * { <Bs> <Bp> <Bo> {| <Bq> 1 |} }",
    "SELECT * { <<<Bs> <Bp> <Bo>>> ?p ?o }",
]


def w3c_shapes(base: str) -> list[str]:
    # "http://example.org/" in a string is only text, but no text the gate lets through names it.
    return [s.replace("<B", "<" + base).replace("http://example.org/", "x") for s in _SHAPES]


# =====================================================================================
# Mutations
# =====================================================================================
DANGER = "#'\"<>\\{}():\n"
_IRI_IN_TEXT = re.compile(r"<[^<>\s\"{}|^`]*>")


def mutate(r: random.Random, text: str, truth: Truth, base: str, ops: int | None = None) -> tuple[str, Truth]:
    """Damage ``text`` at the character level (1-4 operations); plant witnesses.

    A witness is ``{``*K ``SERVICE <base wN> {} BIND(RAND() AS ?wN)`` ``}``*K: if the engine
    calls ``/wN``, the K braces and the RAND() around it were code to it too.
    """
    t = truth.copy()
    t.exact = False
    for _ in range(ops if ops is not None else r.randint(1, 4)):
        x = r.random()
        i = r.randint(0, len(text))
        if x < 0.18:
            text = text[:i] + r.choice(DANGER) + text[i:]
        elif x < 0.3:
            spots = [j for j, c in enumerate(text) if c in DANGER]
            j = r.choice(spots) if spots and r.random() < 0.7 else r.randrange(len(text)) if text else 0
            text = text[:j] + text[j + 1:]
        elif x < 0.38 and text:
            j = r.randrange(len(text))
            text = text[:j] + text[j] + text[j:]
        elif x < 0.5:
            spots = [j for j, c in enumerate(text) if c in " \t\r\n"]
            if spots:
                j = r.choice(spots)
                text = text[:j] + text[j + 1:]
        elif x < 0.64:
            n = r.randrange(10**6)
            kw = r.choice(("SERVICE ", "SERVICE SILENT ", "SERVICESILENT", "service", "SERVICE"))
            text = text[:i] + f"{kw}<{base}w{n}>{r.choice(('{}', ' { } ', '{?s ?p ?o}'))}" + text[i:]
            t.witnesses[f"/w{n}"] = -1  # a bare call: no braces or RAND() around it to vouch for
        elif x < 0.76:
            n, k = r.randrange(10**6), r.randint(0, 6)
            snippet = "{" * k + f" SERVICE <{base}w{n}> {{}} BIND(RAND() AS ?w{n}) " + "}" * k
            text = text[:i] + snippet + text[i:]
            t.witnesses[f"/w{n}"] = k
        elif x < 0.84:
            text = text[:i] + "\\#" + text[i:]
        elif x < 0.92:
            iris = list(_IRI_IN_TEXT.finditer(text))
            if iris:
                m = r.choice(iris)
                j = r.randrange(m.start() + 1, max(m.start() + 2, m.end() - 1))
                c = text[j]
                if c not in "\\>":
                    o = ord(c)
                    text = text[:j] + r.choice((f"\\u{o:04X}", f"\\U{o:08x}")) + text[j + 1:]
        else:
            text = text[:i] + r.choice(("\r", "\t", "'''", '"""', "<<", ">>", "#\n", "a", "?", "\\u0041")) + text[i:]
    return text, t


def perturb_between(r: random.Random, text: str) -> str | None:
    """Change ``text`` where the scanner says nothing counts (inside a comment, in a run of
    whitespace): the result must be the same query, or have another canonical form."""
    f = facts(text)
    if f.ambiguous or f.unreadable:
        return None
    spots = [m.end() for m in re.finditer("#", text)]
    spaces = [m.start() for m in re.finditer(r"[ \t\r\n]", text)]
    if spots and (r.random() < 0.5 or not spaces):
        j = r.choice(spots)
        return text[:j] + r.choice(("x", "}", "{", "'", '"', "<", ">", " SERVICE", "\\", "  ", "#")) + text[j:]
    if spaces:
        j = r.choice(spaces)
        return text[:j] + r.choice(("  ", "\t", " #c\n", "\n", "\r\n ", "#\n")) + text[j + 1:]
    return None


def change_token(r: random.Random, doc: Doc, gaps: list[str]) -> str | None:
    """The text with one character inside a string, IRI or number changed (another query)."""
    spots = [i for i, k in enumerate(doc.kinds) if k in ("str", "iri", "num") and len(doc.toks[i]) > 2]
    if not spots:
        return None
    i = r.choice(spots)
    tok = doc.toks[i]
    lo, hi = (1, len(tok) - 1) if doc.kinds[i] != "num" else (0, len(tok))
    j = r.randrange(lo, hi)
    if tok[j] in "\\'\"<>" or (j and tok[j - 1] == "\\"):
        return None
    new = "7" if doc.kinds[i] == "num" or tok[j] == "q" else "q"
    if new == tok[j]:
        new = "8"
    old = doc.toks[i]
    doc.toks[i] = tok[:j] + new + tok[j + 1:]
    text = doc.join(gaps)
    doc.toks[i] = old
    return text


# =====================================================================================
# The properties
# =====================================================================================
@dataclass
class Violation:
    prop: str
    text: str
    detail: str
    features: tuple[str, ...] = ()

    def __str__(self) -> str:
        return f"[{self.prop}] {self.detail}\n    text: {self.text!r}"


@dataclass
class Checked:
    """One text checked: what the engine did and which properties failed."""

    text: str
    facts: Facts | None = None
    outcome: Outcome | None = None
    kind: str = "query"
    skipped: str = ""  # "unreadable" (refused by the server), "elsewhere" (never shown to the engine)
    violations: list[Violation] = field(default_factory=list)
    notes: list[Violation] = field(default_factory=list)  # imprecisions that are safe

    @property
    def accepted(self) -> bool:
        return self.outcome is not None and self.outcome.accepted


_VOLATILE_LETTERS = re.compile(r"now|rand|uuid", re.IGNORECASE)
_UPDATE_LETTERS = re.compile(r"insert|delete|load|clear|drop|create|add|move|copy|with", re.IGNORECASE)


def target_matches(target: str, path: str, origin: str) -> bool:
    """Is ``path`` (a request line's target) what a call to ``target`` sends?"""
    iri = target.split("#", 1)[0]
    if not iri.startswith(origin):
        return False
    rest = iri[len(origin):] or "/"
    if rest.startswith("//"):  # the engine's HTTP client sends "//x" as "/x": the same endpoint
        rest = "/" + rest.lstrip("/")
    return rest == path or urllib.parse.quote(rest, safe="/?=&;:@!$'()*+,~%-._") == path


def check(oracle: Oracle, text: str, truth: Truth | None = None) -> Checked:
    """Every property of ``facts(text)`` that the engine (and the truth, if any) can decide."""
    f = facts(text)
    c = Checked(text, f)
    feats = tuple(sorted(truth.features)) if truth else ()

    def bad(prop: str, detail: str) -> None:
        c.violations.append(Violation(prop, text, detail, feats))

    def note(prop: str, detail: str) -> None:
        c.notes.append(Violation(prop, text, detail, feats))

    if f.unreadable:
        c.skipped = "unreadable"
        return c
    if truth is not None and truth.update:
        c.kind = "update"
    if c.kind == "query":
        if not oracle.safe(text):
            c.skipped = "elsewhere"
            return c
        out = c.outcome = oracle.run(text)
        if not out.accepted and _UPDATE_LETTERS.search(text) and not reaches_elsewhere(text, oracle.origin):
            up = oracle.run_update(text)
            if up.accepted:
                c.kind, c.outcome = "update", up
    else:
        if reaches_elsewhere(text, oracle.origin):
            c.skipped = "elsewhere"
            return c
        c.outcome = oracle.run_update(text)
        if not c.outcome.accepted and oracle.safe(text):
            out = oracle.run(text)
            if out.accepted:
                c.kind, c.outcome = "query", out
    out = c.outcome
    if not out.accepted:
        return c

    # SERVICE: every request the listener saw was a call the scanner reported.
    targets = f.service_targets
    for method, path in out.requests:
        if method == "GET":
            continue  # LOAD fetches; SERVICE posts
        if not f.uses_service:
            bad("service", f"the engine called {path}; facts: uses_service=False, targets={targets}")
        elif None not in targets and not any(target_matches(t, path, oracle.origin) for t in targets if t):
            bad("service-target", f"the engine called {path}; facts: targets={targets}")
    called = {path for _, path in out.requests}
    for path, k in (truth.witnesses.items() if truth else ()):
        if path in called and k >= 0:
            if f.max_depth < k + 1:
                bad("depth", f"witness {path} inside {k} braces (+ its own) was called; facts: max_depth={f.max_depth}")
            if not f.volatile:
                bad("volatile", f"witness {path} with RAND() beside it was called; facts: volatile=False")

    if c.kind == "update":
        if f.form in QUERY_FORMS:
            bad("form", f"the engine parsed an update; facts: form={f.form!r}")
        elif f.form not in UPDATE_FORMS:
            note("form", f"the engine parsed an update; facts: form={f.form!r}")
        return c

    if f.form not in QUERY_FORMS:
        note("form", f"the engine parsed a query; facts: form={f.form!r}")
    if truth is not None and truth.exact:
        if f.max_depth < truth.depth:
            bad("depth", f"built {truth.depth} brackets deep; facts: max_depth={f.max_depth}")
        if truth.volatile and not f.volatile:
            bad("volatile", "built with NOW()/RAND()/UUID()/STRUUID()/BNODE(); facts: volatile=False")
        if truth.services and not f.uses_service:
            bad("service", f"built with SERVICE calls {truth.services}; facts: uses_service=False")
        elif truth.services and None not in targets:
            for want in truth.services:
                if want is not None and want not in targets:
                    bad("service-target", f"built with SERVICE <{want}>; facts: targets={targets}")
        if truth.form and f.form != truth.form:
            note("form", f"built as {truth.form}; facts: form={f.form!r}")
        if truth.has_from and not f.has_from:
            note("has_from", "built with FROM; facts: has_from=False")
    # A text that names SERVICE is refused by the endpoint, never cached: and the engine itself
    # answers "SERVICE ?unbound" now with rows, now with an error, as its evaluation order falls.
    if not f.volatile and not f.uses_service and _VOLATILE_LETTERS.search(text):
        again = oracle.run(text)
        if again.signature != out.signature and again.accepted:
            bad("volatile", f"two runs answered differently; facts: volatile=False\n    {out.signature!r:.300}\n"
                            f"    {again.signature!r:.300}")
    return c


def same_query(oracle: Oracle, a: str, b: str) -> Violation | None:
    """Two texts with one non-ambiguous canonical form must be one query to the engine."""
    fa, fb = facts(a), facts(b)
    if fa.ambiguous or fb.ambiguous or fa.unreadable or fb.unreadable or fa.canonical != fb.canonical:
        return None
    if not (oracle.safe(a) and oracle.safe(b)):
        return None
    oa, ob = oracle.run(a), oracle.run(b)
    pair = f"{a!r}\n    other: {b!r}"
    if oa.accepted != ob.accepted:
        return Violation("canonical", pair, f"same canonical {fa.canonical!r:.200}, but the engine accepted only "
                                            f"the {'first' if oa.accepted else 'second'}")
    if not oa.accepted or fa.volatile or fb.volatile:
        return None
    if oa.signature != ob.signature:
        again = oracle.run(a)
        if again.signature == oa.signature:  # not an unseen volatile call
            return Violation("canonical", pair, f"same canonical, different answers:\n    {oa.signature!r:.300}\n"
                                                f"    {ob.signature!r:.300}")
    return None


def check_variants(oracle: Oracle, a: str, b: str) -> tuple[Violation | None, Violation | None]:
    """``b`` is ``a`` with other whitespace and comments: (a safety violation, a missed equality)."""
    fa, fb = facts(a), facts(b)
    missed = None
    if not (fa.ambiguous or fb.ambiguous or fa.unreadable or fb.unreadable) and fa.canonical != fb.canonical:
        missed = Violation("canonical-variant", f"{a!r}\n    other: {b!r}",
                           f"one query, other spacing: canonical {fa.canonical!r:.200} vs {fb.canonical!r:.200}")
    return same_query(oracle, a, b), missed


def check_changed(oracle: Oracle, a: str, b: str) -> Violation | None:
    """``b`` is ``a`` with a character inside a string, IRI or number changed.

    The key only has to tell apart texts of which the engine takes one (two texts it
    refuses may share a key: neither is ever answered)."""
    fa, fb = facts(a), facts(b)
    if fa.ambiguous or fb.ambiguous or fa.unreadable or fb.unreadable:
        return None
    if fa.canonical == fb.canonical and any(oracle.safe(t) and oracle.run(t).accepted for t in (a, b)):
        return Violation("canonical", f"{a!r}\n    other: {b!r}", "a token changed, the canonical form did not")
    return None


# =====================================================================================
# One random task, as the bench and the tests draw them
# =====================================================================================
def generated_query(r: random.Random, base: str, features: Iterable[str] = FEATURES) -> tuple[Doc, str, list[str]]:
    g = QueryGen(r, base, features)
    d = g.query()
    text, gaps = d.render(r, g.decoy)
    return d, text, gaps


def generated_update(r: random.Random, base: str, features: Iterable[str] = FEATURES) -> tuple[Doc, str, list[str]]:
    g = UpdateGen(r, base, features)
    d = g.update()
    text, gaps = d.render(r, g.decoy)
    return d, text, gaps


def base_text(r: random.Random, base: str, features: Iterable[str] = FEATURES,
              fixed: list[str] | None = None) -> tuple[str, Truth]:
    """A text to mutate: generated (query or update), or one of ``fixed``."""
    x = r.random()
    if fixed and x < 0.3:
        return r.choice(fixed), Truth(exact=False)
    if x < 0.85:
        d, text, _ = generated_query(r, base, features)
    else:
        d, text, _ = generated_update(r, base, features)
    return text, d.truth


def has_feature(text: str) -> set[str]:
    """Which of ``FEATURES`` a (maybe mutated) text could owe a disagreement to."""
    out = set()
    if re.search(r"\\[uU]\+", text):
        out.add("lenient-escape")
    if re.search(r"<http://127\.0\.0\.1:\d+>", text):
        out.add("pname-fallback")
    if re.search(r"(?i)base", text):
        out.add("base-relative")
    return out



# =====================================================================================
# Tasks: one random draw of the fuzzer (the bench runs millions, the tests a few hundred)
# =====================================================================================
TASKS = ("query", "mutant", "update", "variants", "changed", "between")
TASK_WEIGHTS = (30, 35, 10, 10, 5, 10)


@dataclass
class Tally:
    """What a run of tasks did."""

    texts: int = 0
    accepted: int = 0
    rejected: int = 0
    skipped: dict[str, int] = field(default_factory=dict)
    service_calls: int = 0
    violations: list[Violation] = field(default_factory=list)
    notes: dict[str, int] = field(default_factory=dict)

    def add(self, c: Checked) -> None:
        self.texts += 1
        if c.skipped:
            self.skipped[c.skipped] = self.skipped.get(c.skipped, 0) + 1
        elif c.accepted:
            self.accepted += 1
        else:
            self.rejected += 1
        if c.outcome is not None:
            self.service_calls += sum(1 for m, _ in c.outcome.requests if m == "POST")
        self.violations += c.violations
        for n in c.notes:
            self.notes[n.prop] = self.notes.get(n.prop, 0) + 1

    def pair(self, v: Violation | None, count: int = 1) -> None:
        self.texts += count
        if v is not None:
            self.violations.append(v)


def run_task(task: str, r: random.Random, oracle: Oracle, tally: Tally, features: Iterable[str] = FEATURES,
             fixed: list[str] | None = None) -> None:
    """Draw one ``task`` and check it, adding what happened to ``tally``."""
    base = oracle.base
    if task == "query":
        d, text, _ = generated_query(r, base, features)
        tally.add(check(oracle, text, d.truth))
    elif task == "update":
        d, text, _ = generated_update(r, base, features)
        if r.random() < 0.4:
            text, truth = mutate(r, text, d.truth, base)
            truth.update = True
        else:
            truth = d.truth
        tally.add(check(oracle, text, truth))
    elif task == "mutant":
        text, truth = base_text(r, base, features, fixed)
        text, truth = mutate(r, text, truth, base)
        tally.add(check(oracle, text, truth))
    elif task == "variants":
        g = QueryGen(r, base, features)
        d = g.query()
        a, gaps = d.render(r, g.decoy)
        b = d.variant(r, gaps, g.decoy)
        c = check(oracle, a, d.truth)
        tally.add(c)
        if c.accepted or c.skipped:
            bad, missed = check_variants(oracle, a, b)
            tally.pair(bad)
            if missed is not None:
                tally.notes[missed.prop] = tally.notes.get(missed.prop, 0) + 1
    elif task == "changed":
        g = QueryGen(r, base, features)
        d = g.query()
        a, gaps = d.render(r, g.decoy)
        b = change_token(r, d, gaps)
        if b is not None:
            tally.pair(check_changed(oracle, a, b), 2)
    elif task == "between":
        text, truth = base_text(r, base, features, fixed)
        if r.random() < 0.5:
            text, truth = mutate(r, text, truth, base, ops=1)
        other = perturb_between(r, text)
        if other is not None:
            tally.pair(same_query(oracle, text, other), 2)
    else:
        raise ValueError(task)


def fixed_texts(base: str) -> list[str]:
    return repo_queries(base) + w3c_shapes(base)


__all__ = [
    "DANGER",
    "FEATURES",
    "SAFE_FEATURES",
    "TASKS",
    "TASK_WEIGHTS",
    "Checked",
    "Doc",
    "Listener",
    "Oracle",
    "Outcome",
    "QueryGen",
    "Tally",
    "Truth",
    "UpdateGen",
    "Violation",
    "base_text",
    "change_token",
    "check",
    "check_changed",
    "check_variants",
    "fixed_texts",
    "generated_query",
    "generated_update",
    "has_feature",
    "mutate",
    "perturb_between",
    "reaches_elsewhere",
    "repo_queries",
    "run_task",
    "same_query",
    "separator",
    "w3c_shapes",
]
