"""``spacecoop validate``: check the Turtle against the SHACL shapes and say what to fix.

The steps, each a small function below:

1. **Sources.** The bundled ontology, plus either the bundled data or the files and
   folders a curator names; the shapes (``shapes/*.ttl`` or ``--shapes``).
2. **Parse** everything with the one loader. Any syntax error stops the run, and every
   broken file is reported as ``path:line:column: message``.
3. **Check the shapes** against the W3C shapes-for-shapes (SHACL-SHACL, shipped with
   pyshacl), so a broken shape is reported as such instead of silently checking nothing.
4. **Validate** with pyshacl. The ontology and each data file sit in their own named
   graph of one Oxigraph store, so every finding can name the file it comes from; shapes
   with SPARQL run on that store, the core shapes on an rdflib copy of it.
5. **Explain**: each result becomes a :class:`Finding` (file, entity label and IRI,
   property, value, message, fix) for the text or JSON report.

Why not ``pyshacl.validate(..., inference="rdfs")``: RDFS reads ``rdfs:range`` as a rule,
so ``scr:smile sc:launchedOn scr:esa`` would *entail* that ESA is a launch vehicle and the
range check would pass; it would also entail the superclass types whose absence the
shapes report. The class hierarchy is still used: the ontology is in the data graph and
SHACL follows ``rdfs:subClassOf`` for ``sh:targetClass`` and ``sh:class``. Two backends
because pyshacl's SPARQL is ~40x faster over Oxigraph and its core constraints ~40x
faster over rdflib (and owlrl cannot run on Oxigraph anyway). See docs/validate.md.

>>> f = Finding(file="data/x.ttl", severity="Violation", message="A mission needs an English label.",
...             fix='add rdfs:label "…"@en.', focus="https://spacecoop.example/resource/x",
...             focus_label="X", path="rdfs:label")
>>> for part in f.line_text().split("  "): print(part)
Violation
X <https://spacecoop.example/resource/x>
property rdfs:label: A mission needs an English label. Fix: add rdfs:label "…"@en.
"""

from __future__ import annotations

import contextlib
import difflib
import hashlib
import json
import re
import tempfile
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass
from functools import cache
from pathlib import Path
from typing import Any, cast

import pyoxigraph as ox
import pyshacl
from rdflib import BNode, Graph, Literal, URIRef
from rdflib.term import Node

from spacecoop import config
from spacecoop.config import RDF, RDFS, SH, SKOS, XSD
from spacecoop.rdf.errors import LoadError
from spacecoop.rdf.loader import UTF8_BOM, Source, bundled_sources, check_sources, load_oxigraph, to_oxigraph, to_rdflib
from spacecoop.rdf.results import non_xml_char

SEVERITIES = ("Violation", "Warning", "Info")
FIX_MARK = " Fix: "
ONTOLOGY_GRAPH_PREFIX = config.graph_iri("ontology")
SHACL_SHACL = Path(pyshacl.__file__).resolve().parent / "assets" / "shacl-shacl.ttl"
UNKNOWN_TERM_SHAPE = "scsh:UnknownTerm"
_NAMESPACES = sorted({**config.PREFIXES, "scsh": str(config.SCSH)}.items(), key=lambda kv: -len(kv[1]))
_IRI_IN_TEXT = re.compile(r"https?://[^\s<>\"'(),]+")
_NOTHING_YET = object()


# =====================================================================================
# What the report is made of
# =====================================================================================
@dataclass(frozen=True)
class Finding:
    """One thing for a curator to look at.

    ``kind`` is ``data`` (a shape failed, or a literal holds a character XML cannot hold:
    then ``line`` says where), ``shapes`` (a shape is not valid SHACL) or ``syntax`` (a
    file could not be parsed; then ``line``/``column`` say where).
    """

    file: str | None = None
    focus: str | None = None
    focus_label: str | None = None
    path: str | None = None
    severity: str = "Violation"
    message: str = ""
    fix: str | None = None
    value: str | None = None
    shape: str | None = None
    kind: str = "data"
    line: int | None = None
    column: int | None = None

    def line_text(self) -> str:
        """The finding as one report line (without the file, which heads its group)."""
        if self.kind == "syntax":
            where = ":".join(str(x) for x in (self.file, self.line, self.column) if x is not None)
            return f"{where}: {self.message}"
        return "".join(text for text, _ in self.segments())

    def segments(self) -> list[tuple[str, str]]:
        """The report line as (text, rich style) pieces, for colour on a terminal."""
        style = {"Violation": "bold red", "Warning": "yellow", "Info": "cyan"}.get(self.severity, "")
        parts: list[tuple[str, str]] = [(self.severity, style), (" " * max(2, 11 - len(self.severity)), "")]
        if self.line is not None:
            parts.append((f"line {self.line}  ", "dim"))
        if self.focus_label:
            parts.append((f"{self.focus_label} ", "bold"))
        if self.focus:
            parts.append((f"<{self.focus}>" if "://" in self.focus else self.focus, "dim"))
        if self.path:
            parts.append((f"  property {self.path}", ""))
        if self.value and self.value != self.focus:
            parts.append((f" (value {self.value})", ""))
        parts.append((": " if self.focus or self.path else "", ""))
        parts.append((self.message, ""))
        if self.fix:
            parts.append((f"{FIX_MARK}{self.fix}", "green"))
        return parts


@dataclass(frozen=True)
class Report:
    """The outcome of one validation run."""

    findings: tuple[Finding, ...]
    files: tuple[str, ...] = ()
    triples: int = 0
    seconds: float = 0.0

    @property
    def conforms(self) -> bool:
        """True when nothing is a Violation (warnings and infos do not fail the graph)."""
        return not any(f.severity == "Violation" for f in self.findings)

    def count(self, severity: str) -> int:
        """How many findings have this severity."""
        return sum(1 for f in self.findings if f.severity == severity)


# =====================================================================================
# 1. Sources
# =====================================================================================
def ontology_sources() -> list[Source]:
    """The bundled ontology file(s): always part of the graph being validated."""
    return [s for s in bundled_sources(include_catalogue=False) if s.path.parent == config.ONTOLOGY_DIR]


def data_sources(paths: Sequence[str | Path] = ()) -> tuple[list[Source], list[LoadError]]:
    """The data to validate: the bundled data, or the named files and folders of ``.ttl``.

    Each file gets its own named graph (``graph/<stem>``, made unique), which is how a
    finding is traced back to its file. Missing paths and empty folders are errors.
    """
    if not paths:
        return [s for s in bundled_sources(include_catalogue=False) if s.path.parent != config.ONTOLOGY_DIR], []
    files, errors = _expand(paths)
    ontology = {s.path.resolve() for s in ontology_sources()}
    return _with_unique_graphs([f for f in files if f.resolve() not in ontology], "data"), errors


def shape_sources(paths: Sequence[str | Path] | None = None) -> tuple[list[Source], list[LoadError]]:
    """The shape files: ``shapes/*.ttl`` unless others are named."""
    files, errors = _expand(paths) if paths else (sorted(config.SHAPES_DIR.glob("*.ttl")), [])
    return _with_unique_graphs(files, "shapes"), errors


def _expand(paths: Iterable[str | Path]) -> tuple[list[Path], list[LoadError]]:
    files: list[Path] = []
    errors: list[LoadError] = []
    for path in map(Path, paths):
        if path.is_dir():
            found = sorted(path.glob("*.ttl"))
            files += found
            if not found:
                errors.append(LoadError(path, None, None, "no .ttl files in this folder"))
        else:  # a missing file is reported by the loader, like any unreadable file
            files.append(path)
    return files, errors


def _with_unique_graphs(files: Sequence[Path], role: str) -> list[Source]:
    # Two files with the same stem must not share a graph, or findings could not tell
    # them apart; "ontology…" graphs are reserved for the ontology (see the typo guard).
    used: set[str] = set()
    out = []
    for path in files:
        stem = path.stem if role == "data" and not path.stem.startswith("ontology") else f"{role}-{path.stem}"
        graph, n = config.graph_iri(stem), 1
        while graph in used:
            n += 1
            graph = config.graph_iri(f"{stem}-{n}")
        used.add(graph)
        out.append(Source(path, graph))
    return out


# =====================================================================================
# 2. Parse
# =====================================================================================
def load_store(sources: Sequence[Source]) -> tuple[ox.Store, int]:
    """Load sources into a fresh Oxigraph store (canonical IRIs: the shapes use them)."""
    store = ox.Store()
    return store, load_oxigraph(store, sources, base=config.CANONICAL_BASE)


def syntax_findings(sources: Sequence[Source], first: LoadError | None = None) -> list[Finding]:
    """Every file that cannot be parsed, as ``path:line:column: message`` findings."""
    errors = check_sources(sources) or ([first] if first else [])
    return [_syntax_finding(e) for e in errors]


def _syntax_finding(err: LoadError) -> Finding:
    return Finding(file=display_path(err.path), severity="Violation", message=err.message, kind="syntax",
                   line=err.line, column=err.column,
                   # Without a position the file could not be opened at all: the message says what to do.
                   fix=None if err.line is None else
                   "correct the Turtle at that position (a missing '.', ';' or quote is the usual cause).")


# =====================================================================================
# 3. + 4. Validate
# =====================================================================================
def validate(paths: Sequence[str | Path] = (), shapes: Sequence[str | Path] | None = None) -> Report:
    """Validate data files with the bundled ontology against the shapes.

    ``paths`` are data files or folders of ``.ttl`` (default: the bundled data);
    ``shapes`` are shape files or folders (default: ``shapes/``).
    """
    start = time.perf_counter()
    data, data_errors = data_sources(paths)
    shape_srcs, shape_errors = shape_sources(shapes)
    sources = ontology_sources() + data
    files = tuple(display_path(s.path) for s in data)
    try:
        store, triples = load_store(sources)
        shape_store, _ = load_store(shape_srcs)
    except LoadError as err:
        found = syntax_findings(sources + shape_srcs, err)
        return _report(found + [_syntax_finding(e) for e in data_errors + shape_errors], files, 0, start)
    if data_errors or shape_errors:
        return _report([_syntax_finding(e) for e in data_errors + shape_errors], files, triples, start)
    broken = check_shapes(shape_store, shape_srcs)
    if any(f.severity == "Violation" for f in broken):
        return _report(broken, files, triples, start)
    rules = shapes_graph(shape_store)
    explain = Explainer(store, sources, rules)
    found = run_shapes(store, sources, rules) + character_findings(store, sources, explain)
    return _report(broken + sorted(set(found), key=explain.sort_key), files, triples, start)


def check_shapes(shape_store: ox.Store, shape_srcs: Sequence[Source], use_cache: bool = True) -> list[Finding]:
    """Validate the shapes themselves against the W3C SHACL-SHACL shapes graph.

    This costs seconds (SHACL-SHACL is all nested sh:or/sh:xone), so a pass is remembered
    per content of the shape files and pyshacl version; a failure is never cached.
    """
    stamp = _shapes_stamp(shape_srcs)
    if use_cache and stamp.exists():
        return []
    conforms, report, _ = pyshacl.validate(shapes_graph(shape_store), shacl_graph=_shacl_shacl(), inplace=True)
    if not conforms:
        explain = Explainer(shape_store, shape_srcs, _shacl_shacl())
        return [replace_kind(f, "shapes") for f in explain.findings(report)]
    with contextlib.suppress(OSError):  # no writable temp folder: just check every time
        stamp.parent.mkdir(parents=True, exist_ok=True)
        stamp.touch()
    return []


def _shapes_stamp(shape_srcs: Sequence[Source]) -> Path:
    digest = hashlib.sha256(pyshacl.__version__.encode())
    for source in shape_srcs:
        digest.update(source.path.read_bytes())
    return Path(tempfile.gettempdir()) / "spacecoop-validate" / f"shapes-ok-{digest.hexdigest()[:20]}"


def run_shapes(store: ox.Store, sources: Sequence[Source], shapes: Graph) -> list[Finding]:
    """Run the shapes over the ontology and data, and explain the results.

    Two passes over the same quads: shapes with SPARQL (constraints or targets) run on
    the Oxigraph store, the core shapes on an rdflib copy. pyshacl's core constraints
    are ~40x faster over rdflib, its SPARQL ~40x faster over Oxigraph; together the
    bundled data takes well under a second.
    """
    sparql, core = split_shapes(shapes)
    explain = Explainer(store, sources, shapes)
    findings: list[Finding] = []
    try:
        if core:
            findings += explain.findings(_run(union_graph(store), shapes, core))
        if sparql:
            findings += explain.findings(_run(store, shapes, sparql))
    except Exception as err:  # pyshacl rejects a shape it cannot run: say so, without a traceback
        return [Finding(severity="Violation", kind="shapes", message=f"pyshacl could not run the shapes: {err}",
                        fix="check the shape named in the message against the SHACL specification.")]
    return sorted(set(findings), key=explain.sort_key)


def character_findings(store: ox.Store, sources: Sequence[Source], explain: Explainer) -> list[Finding]:
    """A finding for each literal holding a character XML 1.0 cannot hold (U+0000, the other
    C0 controls but tab, LF and CR, U+FFFE, U+FFFF), with its file and line.

    RDF allows them, so the parsers and the shapes let them through; but every SPARQL XML
    result and RDF/XML document that holds one is not XML. ``results.non_xml_char`` is the
    definition the server refuses such answers by.
    """
    paths = {s.graph: s.path for s in sources}
    texts: dict[Path, str | None] = {}
    findings = []
    for quad in store:
        literal = quad.object
        if not isinstance(literal, ox.Literal) or (found := non_xml_char(literal.value)) is None:
            continue
        index, char = found
        graph = quad.graph_name.value if isinstance(quad.graph_name, ox.NamedNode) else None
        path = paths.get(graph)
        if path is not None and path not in texts:
            texts[path] = _file_text(path)
        text = texts.get(path) if path is not None else None
        what = f"{'non-character' if ord(char) >= 0xFFFE else 'control character'} U+{ord(char):04X}"
        name = re.split(r"[#/]", quad.predicate.value)[-1]
        subject = to_rdflib(quad.subject)
        findings.append(Finding(
            file=explain.files.get(graph) if graph else None,
            line=_line_of(text, literal.value, index) if text else None,
            severity="Violation", focus=_plain(subject), focus_label=explain.label_of(subject),
            path=compact(quad.predicate.value), value=term_text(to_rdflib(literal)),
            message=f"The {name} holds the {what}, which XML 1.0 cannot hold: SPARQL XML results and RDF/XML "
                    "with it would not be XML.",
            fix=f"remove the {what} from the {name} (written as it is or as \\u{ord(char):04X}).",
        ))
    return findings


def _file_text(path: Path) -> str | None:
    try:
        return path.read_bytes().removeprefix(UTF8_BOM).decode("utf-8", "replace")
    except OSError:
        return None


def _line_of(text: str, value: str, index: int) -> int | None:
    """The line of a file's ``text`` where character ``index`` of the literal ``value`` is
    written, as it is or as a ``\\u``/``\\U`` escape; of several, the one preceded by the
    literal's own text before it.

    >>> _line_of('ex:a ex:b "x\\\\u0000" .\\nex:c ex:d "y\\\\u0000" .\\n', "y\\x00", 1)
    2
    """
    code = ord(value[index])
    spelling = re.compile(f"{re.escape(value[index])}|\\\\u(?i:{code:04x})|\\\\U(?i:{code:08x})")
    before = value[max(0, index - 16):index]
    starts = [m.start() for m in spelling.finditer(text)]
    if not starts:
        return None
    at = next((s for s in starts if s >= len(before) and text.startswith(before, s - len(before))), starts[0])
    return text.count("\n", 0, at) + 1


def _visible(text: str) -> str:
    """``text`` with the characters XML cannot hold written as ``\\uXXXX`` (for a terminal)."""
    out = []
    while (found := non_xml_char(text)) is not None:
        index, char = found
        out.append(f"{text[:index]}\\u{ord(char):04X}")
        text = text[index + 1:]
    return "".join(out) + text


def _run(data: Graph | ox.Store, shapes: Graph, use: list[str]) -> Graph:
    # pyshacl takes an Oxigraph store at run time; its type hints only list rdflib graphs.
    _, report, _ = pyshacl.validate(cast(Any, data), shacl_graph=shapes, advanced=True, inplace=True,
                                    use_shapes=use)
    return cast(Graph, report)


def split_shapes(shapes: Graph) -> tuple[list[str], list[str]]:
    """The named shapes for the SPARQL pass and for the core pass.

    pyshacl's ``use_shapes`` also silently skips ``sh:node`` references to named shapes
    left out of the list (scsh:DateValue would check nothing), so the shapes without a
    target, which only ever run by reference, go into both passes.
    """
    targets = (SH.targetClass, SH.targetNode, SH.targetSubjectsOf, SH.targetObjectsOf, SH.target)
    targeted = {s for t in targets for s in shapes.subjects(t, None)}
    declared = {s for k in (SH.NodeShape, SH.PropertyShape) for s in shapes.subjects(RDF.type, k)}
    named = sorted(s for s in targeted | declared if isinstance(s, URIRef))
    referenced_only = [str(s) for s in named if s not in targeted]
    sparql = [str(s) for s in named if s in targeted and _uses_sparql(shapes, s)]
    core = [str(s) for s in named if str(s) not in sparql]
    return sparql + referenced_only, core


def _uses_sparql(shapes: Graph, shape: Node) -> bool:
    if (shape, SH.sparql, None) in shapes:
        return True
    if any((t, SH.select, None) in shapes for t in shapes.objects(shape, SH.target)):
        return True
    return any((p, SH.sparql, None) in shapes for p in shapes.objects(shape, SH.property))


def union_graph(store: ox.Store) -> Graph:
    """All quads of the store as one rdflib graph (what the core shapes run over)."""
    graph = Graph()
    for q in store:
        graph.add((to_rdflib(q.subject), to_rdflib(q.predicate), to_rdflib(q.object)))
    return graph


def shapes_graph(shape_store: ox.Store) -> Graph:
    """The shapes as the rdflib graph pyshacl expects for ``shacl_graph``."""
    graph = union_graph(shape_store)
    for prefix, ns in _NAMESPACES:
        graph.bind(prefix, ns, override=True)
    return graph


@cache
def _shacl_shacl() -> Graph:
    store, _ = load_store([Source(SHACL_SHACL, config.graph_iri("shacl-shacl"))])
    return shapes_graph(store)


def replace_kind(finding: Finding, kind: str) -> Finding:
    """The same finding, marked as being about the shapes rather than the data."""
    fix = finding.fix or "correct the shape as the SHACL specification requires (https://www.w3.org/TR/shacl/)."
    return Finding(**{**asdict(finding), "kind": kind, "fix": fix})


def _report(findings: Iterable[Finding], files: tuple[str, ...], triples: int, start: float) -> Report:
    return Report(tuple(findings), files, triples, round(time.perf_counter() - start, 3))


# =====================================================================================
# 5. Explain: report graph → findings
# =====================================================================================
class Explainer:
    """Turns pyshacl's report graph into findings, looking things up in the store."""

    def __init__(self, store: ox.Store, sources: Sequence[Source], shapes: Graph) -> None:
        self.store = store
        self.shapes = shapes
        self.order = [s.graph for s in sources]
        self.files = {s.graph: display_path(s.path) for s in sources}
        self._terms: list[str] | None = None

    def findings(self, report: Graph) -> list[Finding]:
        """Every result of the report, explained, in report order (file, entity, severity)."""
        found = {self.explain(report, r) for r in report.objects(None, SH.result)}
        return sorted(found, key=self.sort_key)

    def explain(self, report: Graph, result: Node) -> Finding:
        """One sh:ValidationResult as a Finding."""
        focus = report.value(result, SH.focusNode)
        value = report.value(result, SH.value)
        source = report.value(result, SH.sourceShape)
        path = self._path(report, result, source)
        message, fix = split_message(self._message(report, result))
        shape = self._shape_name(source)
        if shape == UNKNOWN_TERM_SHAPE and isinstance(value, URIRef) and (hint := self.suggest(value)):
            fix = f"{hint} Otherwise {fix}" if fix else hint
        return Finding(
            file=self.file_of(focus, path, value),
            severity=_severity(report.value(result, SH.resultSeverity)),
            message=message, fix=fix, shape=shape,
            focus=_plain(focus), focus_label=self.label_of(focus),
            path=_path_text(report, path), value=None if value in (focus, path) else term_text(value),
        )

    # -- where and what ------------------------------------------------------------
    def file_of(self, focus: Node | None, path: Node | None, value: Node | None) -> str | None:
        """The file stating the offending triple, else the one typing the entity."""
        if focus is None:
            return None
        patterns: list[tuple[Node | None, Node | None, Node | None]] = []
        if isinstance(path, URIRef) and value is not None and value != focus:
            patterns.append((focus, path, value))
        patterns += [(focus, RDF.type, None), (focus, None, None), (None, None, focus)]
        for pattern in patterns:
            graphs = self._graphs_stating(*pattern)
            if graphs:
                return self.files.get(min(graphs, key=self._graph_rank))
        return None

    def _graphs_stating(self, s: Node | None, p: Node | None, o: Node | None) -> set[str]:
        subject, predicate, obj = (None if t is None else to_oxigraph(t) for t in (s, p, o))
        if isinstance(subject, ox.Literal) or isinstance(predicate, ox.Literal | ox.BlankNode):
            return set()  # cannot be stated at all, so no file states it
        quads = self.store.quads_for_pattern(subject, predicate, obj)
        return {q.graph_name.value for q in quads if isinstance(q.graph_name, ox.NamedNode)}

    def _graph_rank(self, graph: str) -> tuple[bool, int]:
        # The data file that states it beats the ontology that also mentions it.
        index = self.order.index(graph) if graph in self.order else len(self.order)
        return graph.startswith(ONTOLOGY_GRAPH_PREFIX), index

    def label_of(self, node: Node | None) -> str | None:
        """The English label (else the SKOS preferred label, else any label) of a node."""
        if not isinstance(node, URIRef | BNode):
            return None
        subject = ox.NamedNode(str(node)) if isinstance(node, URIRef) else ox.BlankNode(str(node))
        labels = [q.object for p in (RDFS.label, SKOS.prefLabel)
                  for q in self.store.quads_for_pattern(subject, ox.NamedNode(str(p)), None)]
        english = [lab.value for lab in labels if isinstance(lab, ox.Literal) and lab.language == "en"]
        any_label = [lab.value for lab in labels if isinstance(lab, ox.Literal)]
        label = english[0] if english else any_label[0] if any_label else None
        return _visible(label) if label is not None else self._where_blank(node)

    def _where_blank(self, node: Node) -> str | None:
        # An unlabelled blank node (typically a property shape) is found by its holder.
        if not isinstance(node, BNode):
            return None
        for q in self.store.quads_for_pattern(None, None, to_oxigraph(node)):
            holder = q.subject.value if isinstance(q.subject, ox.NamedNode) else "a blank node"
            return f"[the {compact(q.predicate.value)} of {compact(holder)}]"
        return None

    def suggest(self, term: URIRef) -> str:
        """'did you mean sc:launchedOn?' for a misspelt ontology term, or ''."""
        local = str(term).rsplit("#", 1)[-1]
        match = difflib.get_close_matches(local, self._ontology_terms(), n=1, cutoff=0.6)
        return f"did you mean sc:{match[0]}?" if match else ""

    def _ontology_terms(self) -> list[str]:
        if self._terms is not None:
            return self._terms
        query = f"""SELECT DISTINCT ?t WHERE {{ GRAPH ?g {{ ?t a ?kind }}
                    FILTER(STRSTARTS(STR(?g), "{ONTOLOGY_GRAPH_PREFIX}") && STRSTARTS(STR(?t), "{config.SC}")) }}"""
        rows = cast(ox.QuerySolutions, self.store.query(query))
        self._terms = sorted(str(row["t"].value).rsplit("#", 1)[-1] for row in rows)
        return self._terms

    # -- the shape side --------------------------------------------------------------
    @staticmethod
    def _message(report: Graph, result: Node) -> str:
        messages = [m for m in report.objects(result, SH.resultMessage) if isinstance(m, Literal)]
        english = [m for m in messages if m.language in (None, "en")]
        chosen = english[0] if english else messages[0] if messages else "(no message)"
        return compact_text(str(chosen))

    def _path(self, report: Graph, result: Node, source: Node | None) -> Node | None:
        path = report.value(result, SH.resultPath)
        if path is None and source is not None:
            # A domain check sits on a shape that targets the subjects of one property.
            path = self.shapes.value(source, SH.targetSubjectsOf)
        return path

    def _shape_name(self, shape: Node | None) -> str | None:
        # A property shape is usually a blank node: name the node shape that holds it.
        seen = set()
        while isinstance(shape, BNode) and shape not in seen:
            seen.add(shape)
            shape = self.shapes.value(None, SH.property, shape) or self.shapes.value(None, SH.sparql, shape)
        return term_text(shape) if isinstance(shape, URIRef) else None

    def sort_key(self, f: Finding) -> tuple[int, str, str, int, str, str]:
        files = list(self.files.values())
        file_rank = files.index(f.file) if f.file in files else len(files)
        severity = SEVERITIES.index(f.severity) if f.severity in SEVERITIES else 0
        return (file_rank, (f.focus_label or "").lower(), f.focus or "", severity, f.path or "", f.message)


def split_message(text: str) -> tuple[str, str | None]:
    """'Problem. Fix: action.' → ('Problem.', 'action.').

    >>> split_message("A mission needs an English label. Fix: add one.")
    ('A mission needs an English label.', 'add one.')
    >>> split_message("Value is not a literal")
    ('Value is not a literal.', None)
    """
    message, _, fix = text.partition(FIX_MARK)
    message = message.strip()
    if message and message[-1] not in ".!?":  # pyshacl's own messages have no full stop
        message += "."
    return message, (fix.strip() or None)


def _severity(node: Node | None) -> str:
    name = str(node).rsplit("#", 1)[-1] if node is not None else "Violation"
    return name if name in SEVERITIES else "Violation"


def _plain(node: Node | None) -> str | None:
    if node is None:
        return None
    return f"_:{node}" if isinstance(node, BNode) else str(node)


def _path_text(report: Graph, path: Node | None) -> str | None:
    if isinstance(path, BNode):
        inverse = report.value(path, SH.inversePath)
        return f"^{term_text(inverse)}" if inverse is not None else "(complex path)"
    return term_text(path)


# =====================================================================================
# Text helpers
# =====================================================================================
def compact(iri: str) -> str:
    """An IRI as a CURIE when one of the project's prefixes covers it."""
    for prefix, ns in _NAMESPACES:
        if iri.startswith(ns) and len(iri) > len(ns):
            return f"{prefix}:{iri[len(ns):]}"
    return iri


def compact_text(text: str) -> str:
    """Shorten the IRIs pyshacl writes into messages (from {?value} templates) to CURIEs."""
    return _IRI_IN_TEXT.sub(lambda m: compact(m.group(0)), text)


def term_text(term: Node | None) -> str | None:
    """A term as a curator would write it in Turtle: sc:Mission, "2024"^^xsd:gYear, "x"@en."""
    if term is None:
        return None
    if isinstance(term, URIRef):
        return compact(str(term))
    if isinstance(term, BNode):
        return f"_:{term}"
    if isinstance(term, Literal):
        text = _visible(json.dumps(str(term), ensure_ascii=False))  # json leaves U+FFFE, U+FFFF as they are
        if term.language:
            return f"{text}@{term.language}"
        if term.datatype and term.datatype != XSD.string:
            return f"{text}^^{compact(str(term.datatype))}"
        return text
    return str(term)


def display_path(path: str | Path) -> str:
    """A path as the curator typed it: relative to the working folder when inside it."""
    p = Path(path)
    try:
        return str(p.resolve().relative_to(Path.cwd().resolve()))
    except (ValueError, OSError):
        return str(p)


# =====================================================================================
# Rendering
# =====================================================================================
def render_lines(report: Report) -> Iterator[list[tuple[str, str]]]:
    """The text report as lines of (text, style) pieces: grouped by file, then entity."""
    syntax = [f for f in report.findings if f.kind == "syntax"]
    for f in syntax:
        yield [(f.line_text(), "bold red")]
    current: object = _NOTHING_YET
    for f in (f for f in report.findings if f.kind != "syntax"):
        if f.file != current:
            if current is not _NOTHING_YET:
                yield [("", "")]
            current = f.file
            heading = f.file or "(no file)"
            yield [(f"{heading}{'  [shapes]' if f.kind == 'shapes' else ''}", "bold underline")]
        yield [("  ", ""), *f.segments()]
    if report.findings:
        yield [("", "")]
    yield summary(report)


def summary(report: Report) -> list[tuple[str, str]]:
    """The closing line: verdict and counts."""
    if any(f.kind == "syntax" for f in report.findings):
        n = len({f.file for f in report.findings if f.kind == "syntax"})
        return [("FAIL", "bold red"), (f"  {n} file(s) could not be read; nothing was validated.", "")]
    if any(f.kind == "shapes" and f.severity == "Violation" for f in report.findings):
        return [("FAIL", "bold red"), ("  the shapes are not valid SHACL; the data was not validated.", "")]
    counts = ", ".join(_plural(report.count(s), s.lower()) for s in SEVERITIES)
    verdict = ("OK", "bold green") if report.conforms else ("FAIL", "bold red")
    with_findings = len({f.file for f in report.findings})
    return [verdict, (f"  {counts} in {_plural(with_findings, 'file')} "
                      f"({_plural(len(report.files), 'data file')} and the ontology, "
                      f"{report.triples} triples, {report.seconds:.2f} s)", "")]


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" + ("" if n == 1 else "s")


def render_text(report: Report) -> str:
    """The plain-text report."""
    return "\n".join("".join(text for text, _ in line) for line in render_lines(report)) + "\n"


def render_json(report: Report) -> str:
    """The findings as a JSON list, for machines."""
    return json.dumps([asdict(f) for f in report.findings], ensure_ascii=False, indent=2) + "\n"
