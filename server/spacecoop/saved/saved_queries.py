"""Saved queries: ``queries/*.rq`` read once, bound safely, tested, published and run.

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

Parameters are typed (``iri``, ``string``, ``language``, ``integer``, ``date``), validated
into RDF terms and *bound*, never pasted into the query text: they travel as
``Job.bindings``, which every backend turns into a leading ``VALUES`` block written from
the validated terms alone (``store.bound_query``), so a parameter holds throughout the
WHERE pattern — in FILTERs too — and the saved text itself never changes.

This module must not import the store at import time: the loader imports it to publish
the catalogue while the store is being built.

>>> header, body, _ = split_header("#+ summary: Hi\\n#+ tags: [a, b]\\nASK {}\\n")
>>> header["summary"], header["tags"], body
('Hi', ['a', 'b'], 'ASK {}\\n')
>>> validate(Param("m", "iri"), "smile", "https://spacecoop.example/")
('uri', 'https://spacecoop.example/resource/smile')
>>> validate(Param("n", "integer"), "+07", "https://spacecoop.example/")
('literal', '7', None, 'http://www.w3.org/2001/XMLSchema#integer')
"""

from __future__ import annotations

import argparse
import datetime as _dt
import difflib
import functools
import json
import re
import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from spacecoop import config
from spacecoop.rdf import iris, sparql_text
from spacecoop.rdf.loader import LoadError  # the loader imports this module lazily: no cycle

if TYPE_CHECKING:  # the store imports the loader, which imports us: no runtime import
    from rdflib import Graph

    from spacecoop.engine.store import Answer, Engine, Job

Term = tuple  # ("uri", iri) | ("literal", lexical, lang | None, datatype | None) | ("bnode", id)

XSD = "http://www.w3.org/2001/XMLSchema#"
XSD_STRING = XSD + "string"
RDFS_LABEL = "http://www.w3.org/2000/01/rdf-schema#label"
SPEX = "https://purl.expasy.org/sparql-examples/ontology#"  # SIB's own terms (DESCRIBE)

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
_ABSOLUTE_IRI = re.compile(r"^https?://[^\s<>\"{}|\\^`\x00-\x20]+$")
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
    facts = sparql_text.facts(body)
    if facts.form not in sparql_text.QUERY_FORMS:
        raise QueryFileError(where, n + 1, "no SELECT, ASK, CONSTRUCT or DESCRIBE found after the header")
    for p in params:
        if p.name not in facts.variables:
            raise QueryFileError(where, None, f"parameter {p.name!r} is declared but ?{p.name} is not in the query")
    columns = _check_syntax(body, where, n)
    return SavedQuery(
        name=name, title=_text(header, "summary", where), description=_text(header, "description", where),
        tags=_tags(header, where), params=params, sparql=body, path=path, form=facts.form,
        ordered=facts.ordered, line_offset=n, columns=columns,
    )


def _check_syntax(body: str, where: Path | str, offset: int) -> tuple[str, ...]:
    """Raise QueryFileError for a query the engine cannot parse; else a SELECT's columns."""
    import pyoxigraph as ox

    if sparql_text.facts(body).uses_service:  # checking would evaluate it, calling out; the engine checks it later
        return ()
    try:  # parsing needs a store; an empty one answers instantly
        res = ox.Store().query(body)
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
        if _ABSOLUTE_IRI.fullmatch(value):
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


def resolve(query: SavedQuery, values: Mapping[str, str | None], base: str | None = None) -> dict[str, Term]:
    """Validated terms for every bound parameter (defaults filled in; unknown names refused)."""
    known = {p.name for p in query.params}
    unknown = sorted(k for k in values if k not in known)
    if unknown:
        takes = ", ".join(sorted(known)) if known else "no parameters"
        raise ParamError(unknown[0], f"is not a parameter of {query.name!r} (it takes {takes})")
    out: dict[str, Term] = {}
    for p in query.params:
        raw = values.get(p.name)
        if raw is None or raw.strip() == "":  # an empty form field means "not given"
            raw = p.default
        if raw is not None:
            out[p.name] = validate(p, raw, base)
    return out


def bind(query: SavedQuery, values: Mapping[str, str | None], result_format: str = "json",
         graph_format: str = "turtle", base: str | None = None) -> Job:
    """A Job that runs ``query`` with ``values`` bound as RDF terms (raises ParamError)."""
    from spacecoop.engine.store import Job

    terms = resolve(query, values, base)
    return Job(query.sparql, result_format=result_format, graph_format=graph_format,
               bindings=tuple(sorted(terms.items())))


# =====================================================================================
# Answers as rows, labels, and short term forms
# =====================================================================================
@dataclass
class Outcome:
    """A parsed answer: a table (SELECT, or triples of a graph answer) or a boolean."""

    kind: str  # select | ask | construct | describe
    vars: list[str]
    rows: list[dict[str, Term]]
    boolean: bool | None = None


def outcome(answer: Answer) -> Outcome:
    """Parse an Answer (JSON results, or an N-Triples graph) into rows of plain terms."""
    if answer.kind == "ask":
        return Outcome("ask", [], [], bool(json.loads(answer.body)["boolean"]))
    if answer.kind == "select":
        from spacecoop.engine.store import parse_json_rows

        head = json.loads(answer.body)["head"]
        return Outcome("select", list(head.get("vars", [])), parse_json_rows(answer.body))
    import pyoxigraph as ox

    from spacecoop.engine.store import _plain

    rows = [{"subject": _plain(t.subject), "predicate": _plain(t.predicate), "object": _plain(t.object)}
            for t in ox.parse(answer.body, format=ox.RdfFormat.N_TRIPLES)]
    return Outcome(answer.kind, ["subject", "predicate", "object"], rows)


def label_job(iri_list: Iterable[str]) -> Job | None:
    """One query for the labels of these IRIs (None when there is nothing to label)."""
    from spacecoop.engine.store import Job

    safe = sorted({i for i in iri_list if _ABSOLUTE_IRI.fullmatch(i)})
    if not safe:
        return None
    values = " ".join(f"<{i}>" for i in safe)
    return Job(f"SELECT ?s ?label WHERE {{ VALUES ?s {{ {values} }} ?s <{RDFS_LABEL}> ?label }}")


def pick_labels(rows: Iterable[Mapping[str, Term]]) -> dict[str, str]:
    """IRI → label, preferring English, then an untagged label, then any other language."""
    rank: dict[str, tuple[int, str]] = {}
    for row in rows:
        s, label = row.get("s"), row.get("label")
        if not s or not label:
            continue
        lang = (label[2] or "").lower()
        score = 0 if lang in ("en", "en-gb", "en-us") else 1 if not lang else 2
        best = rank.get(s[1])
        if best is None or (score, label[1]) < best:
            rank[s[1]] = (score, label[1])
    return {iri: label for iri, (_, label) in rank.items()}


def iris_in(rows: Iterable[Mapping[str, Term]]) -> set[str]:
    return {t[1] for row in rows for t in row.values() if t and t[0] == "uri"}


def short(term: Term | None, base: str | None = None) -> str:
    """A term in a short N-Triples-like form: ``scr:smile``, ``"SMILE"@en``, ``"3"^^xsd:integer``.

    IRIs are first moved back to the canonical base so expected answers hold on any host.

    >>> short(("literal", "Chang'e 6", "en", None)), short(("uri", "https://spacecoop.example/resource/smile"))
    ('"Chang\\'e 6"@en', 'scr:smile')
    """
    if term is None:
        return ""
    base = base if base is not None else config.BASE
    if term[0] == "uri":
        iri = _unbase(term[1], base)
        prefixed = iris.curie(iri, config.CANONICAL_BASE)
        return prefixed if prefixed != iri else f"<{iri}>"
    if term[0] == "bnode":
        return "_:b"  # blank node labels are not stable between runs
    lexical = json.dumps(term[1], ensure_ascii=False)
    if term[2]:
        return f"{lexical}@{term[2]}"
    if term[3] and term[3] != XSD_STRING:
        dt = iris.curie(_unbase(term[3], base), config.CANONICAL_BASE)
        return f"{lexical}^^{dt if dt != term[3] else '<' + term[3] + '>'}"
    return lexical


def _unbase(iri: str, base: str) -> str:
    return config.CANONICAL_BASE + iri[len(base):] if base != config.CANONICAL_BASE and iri.startswith(base) else iri


def display(term: Term | None, labels: Mapping[str, str], base: str | None = None) -> str:
    """How a term reads for a person: the label of an IRI, else a prefixed name; a literal's text."""
    if term is None:
        return ""
    if term[0] == "uri":
        return labels.get(term[1]) or short(term, base)
    if term[0] == "bnode":
        return "_:" + term[1]
    return term[1] + (f" @{term[2]}" if term[2] and not term[2].startswith("en") else "")


# =====================================================================================
# Expected answers (queries/expected/NAME.json | NAME.ttl)
# =====================================================================================
def expected_path(query: SavedQuery, directory: Path | None = None) -> Path:
    folder = directory or config.EXPECTED_DIR
    return folder / f"{query.name}.{'ttl' if query.is_graph else 'json'}"


def render_expected(query: SavedQuery, result: Outcome, base: str | None = None) -> str:
    """The expected-answer file for a result: readable, one row or triple per line, sorted
    unless the query orders its rows."""
    if query.is_graph:
        return _graph_turtle(result, base)
    lines = ["{", f'  "query": {json.dumps(query.name)},', f'  "form": {json.dumps(query.form)},']
    if query.params:
        defaults = {p.name: p.default for p in query.params}
        lines.append(f'  "params": {json.dumps(defaults, ensure_ascii=False)},')
    if result.kind == "ask":
        lines.append(f'  "boolean": {json.dumps(result.boolean)}')
    else:
        lines.append(f'  "ordered": {json.dumps(query.ordered)},')
        lines.append(f'  "vars": {json.dumps(result.vars)},')
        rows = [_short_row(result.vars, r, base) for r in result.rows]
        if not query.ordered:
            rows.sort()
        if rows:
            lines.append('  "rows": [')
            lines += [f"    {r}," for r in rows[:-1]] + [f"    {rows[-1]}", "  ]"]
        else:
            lines.append('  "rows": []')
    lines.append("}")
    return "\n".join(lines) + "\n"


def _short_row(variables: Sequence[str], row: Mapping[str, Term], base: str | None) -> str:
    return json.dumps({v: short(row[v], base) for v in variables if v in row}, ensure_ascii=False)


def _graph(result: Outcome, base: str | None) -> Graph:
    from rdflib import BNode, Graph, Literal, URIRef

    g = Graph()
    for prefix, ns in config.PREFIXES.items():
        g.bind(prefix, ns, override=True)
    base = base if base is not None else config.BASE

    def node(t: Term) -> Any:
        if t[0] == "uri":
            return URIRef(_unbase(t[1], base))
        if t[0] == "bnode":
            return BNode(t[1])
        if t[2]:
            return Literal(t[1], lang=t[2])
        dt = t[3] if t[3] and t[3] != XSD_STRING else None
        return Literal(t[1], datatype=URIRef(_unbase(dt, base)) if dt else None, normalize=False)

    for row in result.rows:
        g.add((node(row["subject"]), node(row["predicate"]), node(row["object"])))
    return g


def _graph_turtle(result: Outcome, base: str | None) -> str:
    return str(_graph(result, base).serialize(format="turtle"))


def compare(query: SavedQuery, result: Outcome, directory: Path | None = None,
            base: str | None = None) -> str | None:
    """None when the answer matches the stored expectation, else a readable diff."""
    path = expected_path(query, directory)
    if not path.exists():
        return f"{path} does not exist; create it on purpose with `spacecoop query --update-expected {query.name}`"
    expected = path.read_text(encoding="utf-8")
    if query.is_graph:
        return _compare_graphs(path, expected, result, base)
    actual = render_expected(query, result, base)
    if _rows_key(expected, query) == _rows_key(actual, query):
        return None
    return "".join(difflib.unified_diff(expected.splitlines(keepends=True), actual.splitlines(keepends=True),
                                        fromfile=f"{path} (expected)", tofile=f"{query.name} (actual)"))


def _rows_key(text: str, query: SavedQuery) -> Any:
    data = json.loads(text)
    rows = data.get("rows")
    if rows is not None and not query.ordered:  # order-insensitive, duplicates still count
        rows = sorted(json.dumps(r, sort_keys=True, ensure_ascii=False) for r in rows)
    return data.get("vars"), rows, data.get("boolean")


def _compare_graphs(path: Path, expected_text: str, result: Outcome, base: str | None) -> str | None:
    from rdflib import Graph
    from rdflib.compare import graph_diff, isomorphic, to_isomorphic

    expected = Graph().parse(data=expected_text, format="turtle")
    actual = _graph(result, base)
    if isomorphic(expected, actual):
        return None
    _, only_expected, only_actual = graph_diff(to_isomorphic(expected), to_isomorphic(actual))
    lines = [f"--- {path} (expected)", "+++ actual"]
    lines += sorted(f"-{line}" for line in only_expected.serialize(format="nt").splitlines() if line)
    lines += sorted(f"+{line}" for line in only_actual.serialize(format="nt").splitlines() if line)
    return "\n".join(lines) + "\n"


def answer_job(query: SavedQuery, values: Mapping[str, str | None] | None = None) -> Job:
    """The job whose answer is compared with the expectation (defaults, comparable formats)."""
    return bind(query, values or {}, result_format="json", graph_format="ntriples")


def update_expected(engine: Engine, queries: Sequence[SavedQuery], directory: Path | None = None,
                    remove_stale: bool = True) -> dict[str, list[str]]:
    """Rewrite expected answers from the current graph; returns names by change kind."""
    folder = directory or config.EXPECTED_DIR
    folder.mkdir(parents=True, exist_ok=True)
    report: dict[str, list[str]] = {"new": [], "changed": [], "unchanged": [], "removed": []}
    for q in queries:
        result = outcome(engine.run_sync(answer_job(q)))
        path = expected_path(q, folder)
        text = render_expected(q, result, engine.settings.base)
        if not path.exists():
            report["new"].append(q.name)
        elif compare(q, result, folder, engine.settings.base) is None:
            report["unchanged"].append(q.name)
            continue  # keep the file as is: same answer, no churn in the diff
        else:
            report["changed"].append(q.name)
        path.write_text(text, encoding="utf-8")
    if remove_stale:
        names = {q.name for q in load_all()}
        for path in sorted(folder.glob("*")):
            if path.suffix in (".json", ".ttl") and path.stem not in names:
                path.unlink()
                report["removed"].append(path.name)
    return report


# =====================================================================================
# The catalogue as RDF (SIB sparql-examples convention)
# =====================================================================================
_FORM_TERMS = {
    "SELECT": ("http://www.w3.org/ns/shacl#SPARQLSelectExecutable", "http://www.w3.org/ns/shacl#select"),
    "ASK": ("http://www.w3.org/ns/shacl#SPARQLAskExecutable", "http://www.w3.org/ns/shacl#ask"),
    "CONSTRUCT": ("http://www.w3.org/ns/shacl#SPARQLConstructExecutable", "http://www.w3.org/ns/shacl#construct"),
    # SHACL has no DESCRIBE executable; SIB's sparql-examples ontology adds one.
    "DESCRIBE": (SPEX + "SPARQLDescribeExecutable", SPEX + "describe"),
}


def catalogue_graph(queries: Sequence[SavedQuery] | None = None) -> Graph:
    """The saved queries as RDF, the way SIB's sparql-examples publish them.

    Written against the canonical base (the loader moves it to the served one), so
    ``SELECT ?q ?c WHERE { ?q a sh:SPARQLExecutable ; rdfs:comment ?c }`` lists them.
    """
    from rdflib import Graph, Literal, URIRef
    from rdflib.namespace import DCTERMS, RDF, RDFS, SDO, SH
    from rdflib.namespace import XSD as XSD_NS

    queries = list(queries) if queries is not None else load_all()
    g = Graph()
    for prefix, ns in config.PREFIXES.items():
        g.bind(prefix, ns, override=True)
    g.bind("spex", SPEX)
    endpoint = URIRef(config.CANONICAL_BASE + "sparql")
    prefixes = URIRef(str(config.SCQ) + "prefixes")
    for prefix, ns in config.PREFIXES.items():
        decl = URIRef(f"{config.SCQ}prefix-{prefix}")
        g.add((prefixes, SH.declare, decl))
        g.add((decl, SH.prefix, Literal(prefix)))
        g.add((decl, SH.namespace, Literal(ns, datatype=XSD_NS.anyURI)))
    for q in queries:
        node = config.SCQ[q.name]
        cls, prop = _FORM_TERMS[q.form]
        g.add((node, RDF.type, SH.SPARQLExecutable))
        g.add((node, RDF.type, URIRef(cls)))
        g.add((node, URIRef(prop), Literal(q.sparql.strip() + "\n")))
        g.add((node, RDFS.label, Literal(q.title, lang="en")))
        g.add((node, RDFS.comment, Literal(q.description, lang="en")))
        g.add((node, DCTERMS.identifier, Literal(q.name)))
        for tag in q.tags:
            g.add((node, SDO.keywords, Literal(tag)))
        g.add((node, SDO.target, endpoint))
        g.add((node, SDO.url, URIRef(f"{config.CANONICAL_BASE}queries/{q.name}")))
        g.add((node, SH.prefixes, prefixes))
    return g


# =====================================================================================
# The CLI: `spacecoop query …` and `spacecoop queries`
# =====================================================================================
def _fail(message: str) -> int:
    print(f"error: {message}", file=sys.stderr)
    return 1


def _param_values(pairs: Sequence[str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise ParamError(pair, "write parameters as --param KEY=VALUE (e.g. --param mission=smile)")
        out[key.strip()] = value
    return out


def _engine(store: str | None) -> Engine:
    from spacecoop.engine.store import Engine

    settings = config.Settings()
    engine = Engine(settings.with_(store=store) if store else settings)
    engine.start_local()
    return engine


def cli_query(args: argparse.Namespace) -> int:
    """``spacecoop query NAME [--param k=v …] [--format …]``, ``--file my.rq``, ``--update-expected``."""
    from spacecoop.engine.store import QueryError

    try:
        if args.update_expected:
            if args.file:
                return _fail("--update-expected rewrites the saved queries' answers; it takes a NAME, not --file")
            return _cli_update(args)
        if args.file and args.name:
            return _fail("give a saved query NAME or --file, not both")
        if args.file:
            path = Path(args.file)
            if not path.is_file():
                return _fail(f"{path}: no such file")
            text = path.read_text(encoding="utf-8")
            query = _adhoc(text, path)
        elif args.name:
            query = get(args.name)
        else:
            return _fail("name a saved query (see `spacecoop queries`) or give --file my.rq")
        values = _param_values(args.param)
        fmt = args.format
        if fmt == "turtle" and not query.is_graph:
            return _fail(f"--format turtle is for CONSTRUCT and DESCRIBE; {query.name!r} is a {query.form} "
                         "(use table, json or csv)")
        job = bind(query, values, result_format="csv" if fmt == "csv" else "json",
                   graph_format={"turtle": "turtle", "json": "jsonld"}.get(fmt, "ntriples"))
    except (QueryFileError, ParamError, UnknownQuery) as err:
        return _fail(str(err))
    engine = _engine(args.store)
    try:
        answer = engine.run_sync(job)
        if fmt == "table":
            _print_table(engine, query, outcome(answer))
        elif fmt == "csv" and query.is_graph:
            from spacecoop.rdf import results

            res = outcome(answer)
            sys.stdout.write(results.to_csv(res.vars, res.rows).decode())
        else:
            body = answer.body.decode()
            sys.stdout.write(body if body.endswith("\n") else body + "\n")
    except QueryError as err:
        return _fail(f"{query.path or query.name}: {err.message}")
    finally:
        engine.close()
    return 0


def _adhoc(text: str, path: Path) -> SavedQuery:
    """A query from any file: its header is optional, its name is the file stem."""
    header, _, _ = split_header(text)
    if header:
        filled = {"summary": path.stem, "description": path.stem, "tags": ["adhoc"], **header}
        head = "".join(f"#+ {line}\n" for line in _dump_yaml(filled).splitlines())
        text = head + split_header(text)[1]
    else:
        text = f"#+ summary: {path.stem}\n#+ description: {path.name}\n#+ tags: [adhoc]\n" + text
    name = re.sub(r"[^a-z0-9]+", "-", path.stem.lower()).strip("-") or "query"
    return parse(text, name, path)


def _dump_yaml(data: dict[str, Any]) -> str:
    import yaml

    return str(yaml.safe_dump(data, allow_unicode=True, sort_keys=False))


def _print_table(engine: Engine, query: SavedQuery, result: Outcome) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console(width=None if sys.stdout.isatty() else 160, highlight=False)
    if result.kind == "ask":
        console.print("yes" if result.boolean else "no")
        return
    labels: dict[str, str] = {}
    job = label_job(iris_in(result.rows))
    if job is not None:
        labels = pick_labels(outcome(engine.run_sync(job)).rows)
    table = Table(title=query.title, title_justify="left", show_lines=False)
    for v in result.vars:
        table.add_column(v, overflow="fold")
    for row in result.rows:
        table.add_row(*(display(row.get(v), labels, engine.settings.base) for v in result.vars))
    console.print(table)
    console.print(f"{len(result.rows)} row{'s' if len(result.rows) != 1 else ''}", style="dim")


def _cli_update(args: argparse.Namespace) -> int:
    queries = load_all()
    if args.name:
        queries = [get(args.name)]
    engine = _engine(args.store)
    try:
        report = update_expected(engine, queries, remove_stale=not args.name)
    finally:
        engine.close()
    for kind in ("new", "changed", "removed"):
        for name in report[kind]:
            print(f"{kind:9} {name}")
    print(f"{len(report['unchanged'])} unchanged, {len(report['changed'])} changed, {len(report['new'])} new, "
          f"{len(report['removed'])} removed; review the change with `git diff queries/expected`")
    return 0


def cli_queries(args: argparse.Namespace) -> int:
    """``spacecoop queries``: the catalogue as a table."""
    from rich.console import Console
    from rich.table import Table

    del args
    try:
        queries = load_all()
    except QueryFileError as err:
        return _fail(str(err))
    console = Console(width=None if sys.stdout.isatty() else 160, highlight=False)
    table = Table(title=f"{len(queries)} saved queries — run one with `spacecoop query NAME`", title_justify="left")
    table.add_column("name", no_wrap=True)
    table.add_column("title")
    table.add_column("form")
    table.add_column("parameters")
    table.add_column("tags")
    for q in queries:
        params = ", ".join(f"{p.name}:{p.type}" + (f"={p.default}" if p.default else "") for p in q.params)
        table.add_row(q.name, q.title, q.form, params, ", ".join(q.tags))
    console.print(table)
    return 0
