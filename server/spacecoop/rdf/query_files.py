"""The ``.rq`` file format of saved queries: the ``#+`` header, its checks, typed values,
and the catalogue of saved queries as RDF.

Every saved query is one ``.rq`` file whose first lines are a header of ``#+`` comment
lines in YAML (the grlc / SIB sparql-examples convention, see ``docs/queries.md``)::

    #+ summary: Missions by status
    #+ description: Every mission and the status the article gives it.
    #+ tags: [missions, status]
    #+ params:
    #+   - name: mission
    #+     type: iri
    #+     default: smile
    #+     description: The mission (a slug such as smile, or an IRI)
    PREFIX sc: <https://spacecoop.example/ontology#>
    SELECT ?mission ...

Parameters are typed (``iri``, ``string``, ``language``, ``integer``, ``date``) and a value
is validated into the RDF term it stands for (``validate``). The folder is one of the
served graph's sources: the loader publishes it as the SIB-style catalogue
(``catalogue_graph``), so this reading sits in the ``rdf`` layer, below the engine that
loads it; binding, running and checking saved queries live in ``saved``.

>>> header, body, _ = split_header("#+ summary: Hi\\n#+ tags: [a, b]\\nASK {}\\n")
>>> header["summary"], header["tags"], body
('Hi', ['a', 'b'], 'ASK {}\\n')
>>> validate(Param("m", "iri"), "smile", "https://spacecoop.example/")
('uri', 'https://spacecoop.example/resource/smile')
>>> validate(Param("n", "integer"), "+07", "https://spacecoop.example/")
('literal', '7', None, 'http://www.w3.org/2001/XMLSchema#integer')
"""

from __future__ import annotations

import datetime as _dt
import difflib
import functools
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from spacecoop import config
from spacecoop.rdf import iris, sparql_text
from spacecoop.rdf.errors import LoadError
from spacecoop.rdf.results import Term

if TYPE_CHECKING:
    from rdflib import Graph

XSD = str(config.XSD)
SPEX = str(config.SPEX)

HEADER_KEYS = ("summary", "description", "tags", "params", "method")
PARAM_KEYS = ("name", "type", "default", "description", "example")
PARAM_TYPES: dict[str, str] = {
    "iri": "an IRI: a slug of ours (smile), a prefixed name (scr:smile) or an absolute http(s) IRI",
    "string": "any text (bound as a plain literal)",
    "language": "a BCP 47 language tag such as en, zh or zh-Hans",
    "integer": "a whole number such as 3",
    "date": "a date written YYYY-MM-DD, such as 2024-05-08",
}
# Names the pages and the REST API use themselves: a parameter may not take them.
RESERVED_PARAMS = frozenset({"format", "query", "name"})
MAX_STRING = 1000

_NAME = re.compile(r"^[a-z0-9]+(-[a-z0-9]+)*$")
_VARNAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
# IRIREF of the SPARQL grammar minus everything that could end or escape it, and http(s) only.
ABSOLUTE_IRI = re.compile(r"^https?://[^\s<>\"{}|\\^`\x00-\x20]+$")
_PNAME = re.compile(r"^([A-Za-z][A-Za-z0-9_-]*):([A-Za-z0-9_][A-Za-z0-9_.-]*)$")
_LANGUAGE = re.compile(r"^[A-Za-z]{1,8}(-[A-Za-z0-9]{1,8})*$")
_INTEGER = re.compile(r"^[+-]?[0-9]{1,18}$")
_DATE = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$")


# =====================================================================================
# Errors
# =====================================================================================
class QueryFileError(LoadError):
    """A saved-query file is malformed; ``str()`` is ``path:line: message``.

    A LoadError, so that ``serve`` and ``validate`` report a broken query file (read while
    the catalogue is loaded) the way they report a broken Turtle file.
    """

    def __init__(self, path: Path | str, line: int | None, message: str) -> None:
        super().__init__(path, line, None, message)


class ParamError(ValueError):
    """A parameter value that cannot be bound; the message says what to send instead."""

    def __init__(self, param: str, message: str) -> None:
        self.param, self.message = param, message
        super().__init__(f"parameter {param!r} {message}")


class UnknownQuery(LookupError):
    """No saved query has this name."""

    def __init__(self, name: str, known: Sequence[str]) -> None:
        self.name = name
        close = difflib.get_close_matches(name, known, n=3)
        hint = f"; did you mean {', '.join(close)}?" if close else "; `spacecoop queries` lists them"
        super().__init__(f"no saved query named {name!r}{hint}")


# =====================================================================================
# The model
# =====================================================================================
@dataclass(frozen=True)
class Param:
    """One declared parameter of a saved query.

    Without a ``default`` the parameter is optional and, when omitted, stays unbound (the
    query then answers for every value).
    """

    name: str
    type: str
    description: str = ""
    default: str | None = None
    example: str | None = None

    @property
    def help(self) -> str:
        """What the parameter is, then what values it takes (for forms, OpenAPI, the CLI)."""
        what = self.description or self.name
        return f"{what} — {PARAM_TYPES[self.type]}"

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "type": self.type, "description": self.description,
                "default": self.default, "example": self.example or self.default}


@dataclass(frozen=True)
class SavedQuery:
    """A parsed ``.rq`` file: its header, its SPARQL, and facts found by scanning it."""

    name: str
    title: str
    description: str
    tags: tuple[str, ...]
    params: tuple[Param, ...]
    sparql: str  # the query without its ``#+`` header, moved to the served base
    path: Path | None = None
    form: str = "SELECT"  # SELECT | ASK | CONSTRUCT | DESCRIBE
    ordered: bool = False  # a top-level ORDER BY: the answer's row order is part of it
    line_offset: int = 0  # header lines, so SPARQL line numbers map to the file
    columns: tuple[str, ...] = ()  # a SELECT's variables as the engine projects them (OpenAPI schemas)

    @property
    def is_graph(self) -> bool:
        """True for CONSTRUCT and DESCRIBE, whose answer is RDF rather than a table."""
        return self.form in ("CONSTRUCT", "DESCRIBE")

    def summary(self) -> dict[str, Any]:
        """The listing entry (pages, JSON, API)."""
        return {"name": self.name, "title": self.title, "description": self.description,
                "tags": list(self.tags), "form": self.form,
                "params": [p.as_dict() for p in self.params]}


# =====================================================================================
# Parsing
# =====================================================================================
def split_header(text: str) -> tuple[dict[str, Any], str, int]:
    """The ``#+`` YAML header as a dict, the SPARQL after it, and the header's line count.

    >>> split_header("PREFIX x: <http://x/>\\nASK {}")[0]
    {}
    """
    import yaml

    lines = text.splitlines(keepends=True)
    n = 0
    while n < len(lines) and lines[n].startswith("#+"):
        n += 1
    yaml_text = "".join(re.sub(r"^#\+ ?", "", line) for line in lines[:n])
    try:
        # libyaml's loader when present: the pure-Python one is a tenth of the server's start-up.
        loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
        header = yaml.load(yaml_text, Loader=loader) if yaml_text.strip() else {}
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        raise QueryFileError("", (mark.line + 1) if mark else None,
                             f"the #+ header is not valid YAML: {getattr(err, 'problem', err)}") from None
    if not isinstance(header, dict):
        raise QueryFileError("", 1, "the #+ header must be `key: value` lines")
    return header, "".join(lines[n:]), n


def _text(header: dict[str, Any], key: str, path: Path | str, required: bool = True) -> str:
    value = header.get(key)
    if value is None or (isinstance(value, str) and not value.strip()):
        if required:
            raise QueryFileError(path, None, f"the header needs `#+ {key}:`")
        return ""
    if not isinstance(value, str | int | float):
        raise QueryFileError(path, None, f"`#+ {key}:` must be text")
    return " ".join(str(value).split())  # YAML folded text: one line, single spaces


def _tags(header: dict[str, Any], path: Path | str) -> tuple[str, ...]:
    value = header.get("tags")
    if isinstance(value, str):
        value = [t for t in (s.strip() for s in value.split(",")) if t]
    if not value or not isinstance(value, list) or not all(isinstance(t, str | int) for t in value):
        raise QueryFileError(path, None, "the header needs `#+ tags:` — a list such as [missions, status]")
    return tuple(str(t).strip() for t in value)


def _params(header: dict[str, Any], path: Path | str) -> tuple[Param, ...]:
    raw = header.get("params") or []
    if not isinstance(raw, list):
        raise QueryFileError(path, None, "`#+ params:` must be a list of `- name: … type: …` entries")
    out: list[Param] = []
    for entry in raw:
        if not isinstance(entry, dict) or "name" not in entry or "type" not in entry:
            raise QueryFileError(path, None, "each parameter needs at least `name:` and `type:`")
        unknown = sorted(set(entry) - set(PARAM_KEYS))
        if unknown:
            raise QueryFileError(path, None, f"parameter {entry['name']!r}: unknown key(s) {', '.join(unknown)} "
                                             f"(use {', '.join(PARAM_KEYS)})")
        name, kind = str(entry["name"]), str(entry["type"]).lower()
        if not _VARNAME.fullmatch(name) or name in RESERVED_PARAMS:
            raise QueryFileError(path, None, f"parameter name {name!r} must be a SPARQL variable name "
                                             f"and not one of {', '.join(sorted(RESERVED_PARAMS))}")
        if kind not in PARAM_TYPES:
            raise QueryFileError(path, None, f"parameter {name!r}: type {kind!r} is not one of "
                                             f"{', '.join(PARAM_TYPES)}")
        default = None if entry.get("default") is None else str(entry["default"])
        example = None if entry.get("example") is None else str(entry["example"])
        param = Param(name, kind, " ".join(str(entry.get("description") or "").split()), default, example)
        for value in (default, example):
            if value is not None:
                try:
                    validate(param, value, config.CANONICAL_BASE)
                except ParamError as err:
                    raise QueryFileError(path, None, f"default/example of {err}") from None
        out.append(param)
    if len({p.name for p in out}) != len(out):
        raise QueryFileError(path, None, "two parameters have the same name")
    return tuple(out)


def parse(text: str, name: str, path: Path | None = None, base: str | None = None) -> SavedQuery:
    """A SavedQuery from the text of one ``.rq`` file (``name`` is the file stem).

    >>> q = parse("#+ summary: S\\n#+ description: D\\n#+ tags: [t]\\nASK { ?s ?p ?o }\\n", "x")
    >>> q.title, q.form, q.tags, q.sparql
    ('S', 'ASK', ('t',), 'ASK { ?s ?p ?o }\\n')
    """
    where = path or f"{name}.rq"
    try:
        header, body, n = split_header(text)
    except QueryFileError as err:
        raise QueryFileError(where, err.line, err.message) from None
    unknown = sorted(set(header) - set(HEADER_KEYS))
    if unknown:
        raise QueryFileError(where, None, f"unknown header key(s) {', '.join(unknown)} (use {', '.join(HEADER_KEYS)})")
    method = str(header.get("method") or "GET").upper()
    if method != "GET":
        raise QueryFileError(where, None, "saved queries are read-only: `#+ method:` can only be GET")
    if not _NAME.fullmatch(name):
        raise QueryFileError(where, None, f"file name {name!r} must be lowercase words joined by '-' (e.g. "
                                          "missions-by-status.rq)")
    if name == "prefixes" or name.startswith("prefix-"):  # the catalogue's own IRIs (scq:prefixes)
        raise QueryFileError(where, None, f"the name {name!r} is taken by the catalogue's prefix declarations")
    base = base if base is not None else config.BASE
    if base != config.CANONICAL_BASE:  # our own namespaces follow the deployment's base
        body = body.replace(config.CANONICAL_BASE, base)
    params = _params(header, where)
    seen = sparql_text.facts(body)
    if seen.form not in sparql_text.QUERY_FORMS:
        raise QueryFileError(where, n + 1, "no SELECT, ASK, CONSTRUCT or DESCRIBE found after the header")
    for p in params:
        if p.name not in seen.variables:
            raise QueryFileError(where, None, f"parameter {p.name!r} is declared but ?{p.name} is not in the query")
    columns = _check_syntax(body, seen, where, n)
    return SavedQuery(
        name=name, title=_text(header, "summary", where), description=_text(header, "description", where),
        tags=_tags(header, where), params=params, sparql=body, path=path, form=seen.form,
        ordered=seen.ordered, line_offset=n, columns=columns,
    )


def _check_syntax(body: str, seen: sparql_text.Facts, where: Path | str, offset: int) -> tuple[str, ...]:
    """Raise QueryFileError for a query the engine cannot parse; else a SELECT's columns."""
    import pyoxigraph as ox

    # Parsing needs a store (an empty one answers instantly); a SERVICE call would be made:
    # its block is checked as a plain group instead (same syntax, same columns).
    probe = sparql_text.without_service_calls(body) if seen.uses_service else body
    try:
        res = ox.Store().query(probe)
    except SyntaxError as err:
        # Oxigraph says "error at LINE:COLUMN: reason", counting from the query's first line.
        message = str(err).splitlines()[0] if str(err).strip() else "invalid query"
        at = re.match(r"error at (\d+):(\d+): (.*)", message)
        if at:
            raise QueryFileError(where, int(at.group(1)) + offset,
                                 f"SPARQL syntax error at column {at.group(2)}: {at.group(3)}") from None
        raise QueryFileError(where, None, f"SPARQL syntax error: {message}") from None
    return tuple(v.value for v in res.variables) if isinstance(res, ox.QuerySolutions) else ()


@functools.lru_cache(maxsize=8)
def _load_dir(directory: str, base: str, stamp: tuple[tuple[str, int], ...]) -> tuple[SavedQuery, ...]:
    del stamp  # part of the cache key only: an edited file is read again
    out = []
    for path in sorted(Path(directory).glob("*.rq")):
        out.append(parse(path.read_text(encoding="utf-8"), path.stem, path, base))
    return tuple(out)


def load_all(directory: Path | None = None, base: str | None = None) -> list[SavedQuery]:
    """Every saved query in ``queries/`` (sorted by name); raises QueryFileError on the first bad file."""
    folder = directory or config.QUERIES_DIR
    stamp = tuple((p.name, p.stat().st_mtime_ns) for p in sorted(folder.glob("*.rq")))
    return list(_load_dir(str(folder), base if base is not None else config.BASE, stamp))


def get(name: str, directory: Path | None = None) -> SavedQuery:
    """The saved query with this name, or UnknownQuery."""
    queries = load_all(directory)
    for q in queries:
        if q.name == name:
            return q
    raise UnknownQuery(name, [q.name for q in queries])

# =====================================================================================
# Parameters → RDF terms → a Job
# =====================================================================================
def validate(param: Param, raw: str, base: str | None = None) -> Term:
    """Turn one raw value into the RDF term it stands for, or raise ParamError.

    >>> validate(Param("e", "iri"), "scr:smile", "https://kg.example.org/")
    ('uri', 'https://kg.example.org/resource/smile')
    >>> try:
    ...     validate(Param("e", "iri"), "<a> } UNION { ?s ?p ?o", "https://spacecoop.example/")
    ... except ParamError as err:
    ...     print(err.message[:39])
    must be an IRI: a slug of ours (smile),
    """
    base = base if base is not None else config.BASE
    kind = param.type
    value = raw if kind == "string" else raw.strip()
    if kind == "iri":
        if iris.SLUG.fullmatch(value):
            return ("uri", iris.entity_iri(value, base))
        pname = _PNAME.fullmatch(value)
        if pname and pname.group(1) in config.PREFIXES:
            return ("uri", iris.rebase(config.PREFIXES[pname.group(1)], base) + pname.group(2))
        if ABSOLUTE_IRI.fullmatch(value):
            return ("uri", iris.rebase(value, base))
        raise ParamError(param.name, f"must be {PARAM_TYPES['iri']}; got {_shown(value)}")
    if kind == "string":
        if len(value) > MAX_STRING:
            raise ParamError(param.name, f"is longer than {MAX_STRING} characters")
        if "\x00" in value:
            raise ParamError(param.name, "contains a NUL character")
        return ("literal", value, None, None)
    if kind == "language":
        if not _LANGUAGE.fullmatch(value):
            raise ParamError(param.name, f"must be {PARAM_TYPES['language']}; got {_shown(value)}")
        return ("literal", value.lower(), None, None)
    if kind == "integer":
        if not _INTEGER.fullmatch(value):
            raise ParamError(param.name, f"must be {PARAM_TYPES['integer']}; got {_shown(value)}")
        return ("literal", str(int(value)), None, XSD + "integer")
    if kind == "date":
        try:
            if not _DATE.fullmatch(value):
                raise ValueError
            day = _dt.date.fromisoformat(value)
        except ValueError:
            raise ParamError(param.name, f"must be {PARAM_TYPES['date']}; got {_shown(value)}") from None
        return ("literal", day.isoformat(), None, XSD + "date")
    raise ParamError(param.name, f"has an unknown type {kind!r}")  # guarded at load time


def _shown(value: str) -> str:
    return repr(value if len(value) <= 80 else value[:77] + "...")

# =====================================================================================
# The catalogue as RDF (SIB sparql-examples convention)
# =====================================================================================
_FORM_TERMS = {
    "SELECT": (str(config.SH.SPARQLSelectExecutable), str(config.SH.select)),
    "ASK": (str(config.SH.SPARQLAskExecutable), str(config.SH.ask)),
    "CONSTRUCT": (str(config.SH.SPARQLConstructExecutable), str(config.SH.construct)),
    # SHACL has no DESCRIBE executable; SIB's sparql-examples ontology adds one.
    "DESCRIBE": (SPEX + "SPARQLDescribeExecutable", SPEX + "describe"),
}


def catalogue_graph(queries: Sequence[SavedQuery] | None = None) -> Graph:
    """The saved queries as RDF, the way SIB's sparql-examples publish them.

    Written against the canonical base (the loader moves it to the served one), so
    ``SELECT ?q ?c WHERE { ?q a sh:SPARQLExecutable ; rdfs:comment ?c }`` lists them.
    """
    from rdflib import Graph, Literal, URIRef

    queries = list(queries) if queries is not None else load_all()
    g = Graph()
    for prefix, ns in config.PREFIXES.items():
        g.bind(prefix, ns, override=True)
    g.bind("spex", SPEX)
    endpoint = URIRef(config.CANONICAL_BASE + "sparql")
    prefixes = URIRef(str(config.SCQ) + "prefixes")
    for prefix, ns in config.PREFIXES.items():
        decl = URIRef(f"{config.SCQ}prefix-{prefix}")
        g.add((prefixes, config.SH.declare, decl))
        g.add((decl, config.SH.prefix, Literal(prefix)))
        g.add((decl, config.SH.namespace, Literal(ns, datatype=config.XSD.anyURI)))
    for q in queries:
        node = config.SCQ[q.name]
        cls, prop = _FORM_TERMS[q.form]
        g.add((node, config.RDF.type, config.SH.SPARQLExecutable))
        g.add((node, config.RDF.type, URIRef(cls)))
        g.add((node, URIRef(prop), Literal(q.sparql.strip() + "\n")))
        g.add((node, config.RDFS.label, Literal(q.title, lang="en")))
        g.add((node, config.RDFS.comment, Literal(q.description, lang="en")))
        g.add((node, config.DCTERMS.identifier, Literal(q.name)))
        for tag in q.tags:
            g.add((node, config.SDO.keywords, Literal(tag)))
        g.add((node, config.SDO.target, endpoint))
        g.add((node, config.SDO.url, URIRef(f"{config.CANONICAL_BASE}queries/{q.name}")))
        g.add((node, config.SH.prefixes, prefixes))
    return g
