"""Saved queries in use: bound safely, run, their answers shown, tested and published.

The files themselves (``queries/*.rq``: header, typed parameters, the catalogue as RDF)
are read by ``rdf.query_files``; its names are this module's too, so ``saved_queries``
is the one place callers go to for saved queries. Parameters are validated into RDF terms
and *bound*, never pasted into the query text: they travel as ``Job.bindings``, which
every backend turns into a leading ``VALUES`` block written from the validated terms alone
(``store.bound_query``), so a parameter holds throughout the WHERE pattern — in FILTERs
too — and the saved text itself never changes.
"""

from __future__ import annotations

import difflib
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rdflib import Graph

from spacecoop import config
from spacecoop.engine.jobs import Answer, Job
from spacecoop.engine.store import Engine, parse_json_rows
from spacecoop.rdf import formats, iris
from spacecoop.rdf.query_files import (
    ABSOLUTE_IRI,
    HEADER_KEYS,
    MAX_STRING,
    PARAM_KEYS,
    PARAM_TYPES,
    RESERVED_PARAMS,
    SPEX,
    Param,
    ParamError,
    QueryFileError,
    SavedQuery,
    UnknownQuery,
    catalogue_graph,
    get,
    load_all,
    parse,
    split_header,
    validate,
)
from spacecoop.rdf.results import Term, term_of

__all__ = ["HEADER_KEYS", "MAX_STRING", "PARAM_KEYS", "PARAM_TYPES", "RESERVED_PARAMS", "SPEX", "Outcome", "Param",
           "ParamError", "QueryFileError", "SavedQuery", "UnknownQuery", "answer_job", "bind", "catalogue_graph",
           "compare", "display", "expected_path", "get", "iris_in", "label_job", "load_all", "outcome", "parse",
           "pick_labels", "render_expected", "resolve", "short", "split_header", "update_expected", "validate"]


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

        head = json.loads(answer.body)["head"]
        return Outcome("select", list(head.get("vars", [])), parse_json_rows(answer.body))
    import pyoxigraph as ox


    rows = [{"subject": term_of(t.subject), "predicate": term_of(t.predicate), "object": term_of(t.object)}
            for t in ox.parse(answer.body, format=formats.N_TRIPLES.rdf_format)]
    return Outcome(answer.kind, ["subject", "predicate", "object"], rows)


def label_job(iri_list: Iterable[str]) -> Job | None:
    """One query for the labels of these IRIs (None when there is nothing to label)."""
    safe = sorted({i for i in iri_list if ABSOLUTE_IRI.fullmatch(i)})
    if not safe:
        return None
    values = " ".join(f"<{i}>" for i in safe)
    return Job(f"SELECT ?s ?label WHERE {{ VALUES ?s {{ {values} }} ?s <{config.RDFS_LABEL}> ?label }}")


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
    if term[3] and term[3] != config.XSD_STRING:
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
        return "_:" + str(term[1])
    return str(term[1]) + (f" @{term[2]}" if term[2] and not term[2].startswith("en") else "")


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
        dt = t[3] if t[3] and t[3] != config.XSD_STRING else None
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
