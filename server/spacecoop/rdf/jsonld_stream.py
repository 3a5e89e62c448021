"""JSON-LD dumps written node by node: time and memory linear in the graph.

The compacted dump (``write_compacted``) and the framed dumps (``write_framed``) are the
documents ``jsonld.compact`` and ``jsonld.frame`` make with pyld from the whole graph,
written without a whole-graph pyld call: pyld's compaction and framing are quadratic in
practice (a 30k-triple graph took minutes). Instead:

* the triples, grouped by subject (as ``exports.union_triples`` sorts them), are indexed
  once: where each subject's triples are, and which blank nodes are RDF list cells
  (``rdf:first``/``rdf:rest``), turned into ``@list`` values exactly as pyld's
  ``from_rdf`` turns them (and so left out as nodes);
* each subject becomes the expanded node pyld's ``from_rdf`` makes of it, integers and
  booleans native as ``jsonld.from_nquads`` makes them;
* a node is compacted by the compaction algorithm of JSON-LD 1.1, for the part of it our
  context uses (``@vocab``, prefixes, ``@type`` ``@id``/``@vocab``/a datatype, the
  ``@set``, ``@list`` and ``@language`` containers, reverse terms), choosing each key by
  the same term selection as pyld; a context using anything else is refused
  (``UnsupportedContext``) rather than compacted differently;
* a framed document is made root by root: the things the frame matches, in pyld's order,
  each walked through the frame as pyld's framing algorithm walks it (embedding
  ``@always``/``@once``/``@never``, ``@explicit``, ``@requireAll``, ``@default``,
  ``@reverse`` through an index of who points to what, blank nodes named ``_:b0``… and
  pruned as pyld names and prunes them). Frame features whose result depends on the
  other roots or on the whole graph (``@included``, ``@embed: @link``, ``@graph``) are
  refused (``UnsupportedFrame``): no per-root walk — ours or pyld's on a subgraph —
  could give pyld's document for them.

Every node is written as soon as it is made, in ``jsonld.tidy`` key order and with
``jsonld.dumps``'s layout, so the bytes are those of ``jsonld.dumps`` of pyld's document;
only a graph of fewer than two nodes differs: it still gets an ``@graph`` array.

>>> import io
>>> import pyoxigraph as ox
>>> from spacecoop import config
>>> scr, sc = config.CANONICAL_BASE + "resource/", config.CANONICAL_BASE + "ontology#"
>>> smile = ox.NamedNode(scr + "smile")
>>> triples = [ox.Triple(smile, ox.NamedNode(RDF_TYPE), ox.NamedNode(sc + "Mission")),
...            ox.Triple(smile, ox.NamedNode(RDFS_LABEL), ox.Literal("SMILE", language="en")),
...            ox.Triple(smile, ox.NamedNode(RDFS_LABEL), ox.Literal("微笑", language="zh")),
...            ox.Triple(smile, ox.NamedNode(sc + "itemCount"),
...                      ox.Literal("2", datatype=ox.NamedNode(XSD + "integer"))),
...            ox.Triple(smile, ox.NamedNode(sc + "status"), ox.NamedNode(scr + "status-planned"))]
>>> out = io.BytesIO()
>>> write_compacted(triples, out, config.CANONICAL_BASE, "https://spacecoop.example/context.jsonld")
>>> print(out.getvalue().decode("utf-8"), end="")
{
  "@context": "https://spacecoop.example/context.jsonld",
  "@graph": [
    {
      "id": "scr:smile",
      "type": [
        "Mission"
      ],
      "label": {
        "en": "SMILE",
        "zh": "微笑"
      },
      "itemCount": 2,
      "status": "scr:status-planned"
    }
  ]
}

Term selection picks the key a value fits: a literal where the term wants an IRI gets the
compact IRI instead (``status`` is ``"@type": "@id"``):

>>> ctx = ActiveContext(jsonld.context(config.CANONICAL_BASE)["@context"])
>>> ctx.compact_iri(sc + "status", {"@id": scr + "status-planned"}, vocab=True)
'status'
>>> ctx.compact_iri(sc + "status", {"@value": "planned"}, vocab=True)
'sc:status'
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, BinaryIO

import pyoxigraph as ox
from pyld import jsonld as pyld

from spacecoop.rdf import jsonld

JsonDoc = dict[str, Any]

RDF = jsonld.RDF
XSD = jsonld.XSD
RDF_TYPE = RDF + "type"
RDF_FIRST = RDF + "first"
RDF_REST = RDF + "rest"
RDF_NIL = RDF + "nil"
RDF_LIST = RDF + "List"
RDF_JSON = RDF + "JSON"
RDFS_LABEL = jsonld.RDFS + "label"
XSD_STRING = XSD + "string"

# The JSON-LD 1.1 keywords (the spec's list): an IRI that is one is compacted as a keyword.
KEYWORDS = frozenset({
    "@base", "@container", "@context", "@default", "@direction", "@embed", "@explicit", "@first", "@graph",
    "@id", "@import", "@included", "@index", "@json", "@language", "@last", "@list", "@nest", "@none",
    "@omitDefault", "@propagate", "@protected", "@preserve", "@requireAll", "@reverse", "@set", "@type",
    "@value", "@version", "@vocab",
})
_GEN_DELIM_END = re.compile(r".*[:/?#\[\]@]$")


class UnsupportedContext(ValueError):
    """The context uses a JSON-LD feature this compactor does not implement."""


class UnsupportedFrame(ValueError):
    """The frame uses a feature that cannot be framed root by root."""


# --- the public entry points ----------------------------------------------------------
def write_compacted(triples: Sequence[ox.Triple], out: BinaryIO, base: str, context_url: str) -> None:
    """The compacted JSON-LD document of ``triples`` (sorted as ``exports.union_triples``
    sorts them: grouped by subject), written node by node to ``out``.

    The document ``jsonld.compact`` makes of the same triples with the context of
    ``base``, naming ``context_url``: nodes in its order (IRIs, then blank nodes, by
    compact ``id``), each in ``jsonld.tidy`` key order.
    """
    graph = GraphIndex(triples)
    compactor = Compactor(ActiveContext(jsonld.context(base)["@context"]))
    order = sorted(graph.node_groups(), key=lambda g: _graph_order(compactor.context, graph.ids[g]))
    with _DocumentWriter(out, context_url) as doc:
        for group in order:
            doc.node(compactor.compact_node(graph.node(group)))


def write_framed(triples: Sequence[ox.Triple], frame_name: str, out: BinaryIO, base: str, context_url: str) -> None:
    """The framed document (frame ``ontology/frames/{frame_name}.json``): one nested node
    per root node (each thing the frame matches), written root by root to ``out``.

    The document ``jsonld.frame`` makes of the same triples (``omitDefault``, an
    ``@graph`` array), naming ``context_url``. ``KeyError`` for an unknown frame.
    """
    write_framed_with(triples, jsonld.load_frame(frame_name, base), out, base, context_url)


def write_framed_with(triples: Sequence[ox.Triple], frame_doc: JsonDoc, out: BinaryIO, base: str,
                      context_url: str) -> None:
    """``write_framed`` with a frame document instead of a frame's name (its ``@context``:
    our context's URL for ``base``, or a context object within what we compact)."""
    expanded_frame = pyld.expand(frame_doc, {"documentLoader": jsonld.document_loader(base), "isFrame": True,
                                             "keepFreeFloatingNodes": True})
    context = ActiveContext(_frame_context(frame_doc, base))
    graph = GraphIndex(triples)
    framer = Framer(graph, expanded_frame, context)
    compactor = Compactor(context)
    with _DocumentWriter(out, context_url) as doc:
        for root in framer.roots():
            node = compactor.compact(framer.frame_root(root), None)
            doc.node(jsonld.tidy(_cleanup_null(node)))


# --- the document -----------------------------------------------------------------------
class _DocumentWriter:
    """``{"@context": URL, "@graph": [...]}`` laid out as ``jsonld.dumps`` lays it out,
    written one node at a time."""

    def __init__(self, out: BinaryIO, context_url: str) -> None:
        self.out = out
        self.context_url = context_url
        self.count = 0

    def __enter__(self) -> _DocumentWriter:
        head = json.dumps(self.context_url, ensure_ascii=False)
        self.out.write(b'{\n  "@context": ' + head.encode("utf-8") + b',\n  "@graph": [')
        return self

    def node(self, node: Any) -> None:
        # A node inside the document is indented two levels deeper than on its own; JSON
        # strings hold no raw newline, so every newline is one of the layout's.
        text = jsonld.dumps(node)[:-1].replace(b"\n", b"\n    ")
        self.out.write((b",\n    " if self.count else b"\n    ") + text)
        self.count += 1

    def __exit__(self, *exc: object) -> None:
        if exc[0] is None:
            self.out.write(b"\n  ]\n}\n" if self.count else b"]\n}\n")


def _graph_order(context: ActiveContext, subject: str) -> tuple[bool, str]:
    # jsonld.compact's order: IRIs first, blank nodes after, each by its compact id.
    compact_id = context.compact_iri(subject)
    return compact_id.startswith("_:"), compact_id


def _frame_context(frame_doc: JsonDoc, base: str) -> JsonDoc:
    """The context a framed document is compacted with: the frame's own."""
    ctx = frame_doc.get("@context", {})
    if isinstance(ctx, str):
        loaded: JsonDoc = jsonld.document_loader(base)(ctx, {})["document"]["@context"]
        return loaded
    if isinstance(ctx, dict):
        return ctx
    raise UnsupportedContext(f"a frame's @context must be one URL or one object, not {ctx!r}")


# --- the graph: subjects, RDF lists, expanded nodes -------------------------------------
def _term_id(term: Any) -> str:
    if isinstance(term, ox.NamedNode):
        return term.value
    if isinstance(term, ox.BlankNode):
        return "_:" + term.value
    raise ValueError(f"not an IRI or a blank node: {term!r}")


@dataclass
class _Cell:
    """What pyld's list conversion looks at in a node with ``rdf:first`` or ``rdf:rest``."""

    firsts: list[Any] = field(default_factory=list)
    rests: int = 0
    keys: set[str] = field(default_factory=lambda: {"@id"})
    types: list[str] = field(default_factory=list)
    references: int = 0
    referrer: tuple[str, str] | None = None  # (subject, predicate) of its last reference

    def well_formed(self) -> bool:
        if self.references != 1 or len(self.firsts) != 1 or self.rests != 1:
            return False
        return len(self.keys) == 3 or (len(self.keys) == 4 and self.types == [RDF_LIST])


class GraphIndex:
    """Triples grouped by subject, indexed in one pass; each subject's expanded node on demand.

    ``triples`` must hold each subject's triples together (``exports.union_triples``
    sorts them so); within a subject their order is the order of values, as in pyld.
    """

    def __init__(self, triples: Sequence[ox.Triple]) -> None:
        self.triples = triples
        self.ids: list[str] = []  # subject id of each group
        self.starts: list[int] = []  # where each group starts; a sentinel at the end
        self.group_of: dict[str, int] = {}
        self.has_blank = False
        self.list_heads: dict[str, list[Any]] = {}  # head cell → items (object terms, in order)
        self.cells: set[str] = set()  # cells turned into @list values: not nodes of the document
        cell_groups, nil_usages = self._group(triples)
        if nil_usages:
            self._convert_lists(cell_groups, nil_usages)

    # -- pass one: groups -----------------------------------------------------------------
    def _group(self, triples: Sequence[ox.Triple]) -> tuple[list[int], list[tuple[str, str]]]:
        """Group boundaries; the groups with rdf:first/rdf:rest; the uses of rdf:nil."""
        cell_groups: list[int] = []
        nil_usages: list[tuple[str, str]] = []
        current: str | None = None
        for i, t in enumerate(triples):
            s = _term_id(t.subject)
            if s != current:
                if s in self.group_of:
                    raise ValueError(f"the triples of {s} are not together: sort them as exports.union_triples does")
                self.group_of[s] = len(self.ids)
                self.ids.append(s)
                self.starts.append(i)
                current = s
                self.has_blank = self.has_blank or s.startswith("_:")
            p, o = t.predicate.value, t.object
            if isinstance(o, ox.BlankNode):
                self.has_blank = True
            elif isinstance(o, ox.NamedNode) and o.value == RDF_NIL and p != RDF_TYPE:
                nil_usages.append((s, p))
            if p in (RDF_FIRST, RDF_REST) and (not cell_groups or cell_groups[-1] != len(self.ids) - 1):
                cell_groups.append(len(self.ids) - 1)
        self.starts.append(len(triples))
        return cell_groups, nil_usages

    # -- pass two (only when rdf:nil is used): pyld's from_rdf list conversion -------------
    def _convert_lists(self, cell_groups: list[int], nil_usages: list[tuple[str, str]]) -> None:
        """Which cells become ``@list`` values: walking back from each use of rdf:nil while
        the node is a well-formed cell (one rdf:first, one rdf:rest, nothing else but an
        rdf:type rdf:List, referenced once), up to the first node that is not a blank node."""
        candidates = {self.ids[g]: self._cell(g) for g in cell_groups}
        for t in self.triples:
            o = t.object
            if isinstance(o, ox.NamedNode | ox.BlankNode) and t.predicate.value != RDF_TYPE:
                cell = candidates.get(_term_id(o))
                if cell is not None:
                    cell.references += 1
                    cell.referrer = (_term_id(t.subject), t.predicate.value)
        for node, prop in nil_usages:
            items: list[Any] = []
            head = RDF_NIL
            while prop == RDF_REST and node in candidates and candidates[node].well_formed():
                cell = candidates[node]
                items.append(cell.firsts[0])
                self.cells.add(node)
                head = node
                assert cell.referrer is not None
                node, prop = cell.referrer
                if not node.startswith("_:"):
                    break
            if head != RDF_NIL:
                items.reverse()
                self.list_heads[head] = items

    def _cell(self, group: int) -> _Cell:
        """What pyld's list conversion looks at in a node."""
        cell = _Cell()
        for t in self.group_triples(group):
            p, o = t.predicate.value, t.object
            if p == RDF_TYPE and not isinstance(o, ox.Literal):
                cell.keys.add("@type")
                cell.types.append(_term_id(o))
                continue
            cell.keys.add(p)
            if p == RDF_FIRST:
                cell.firsts.append(o)
            elif p == RDF_REST:
                cell.rests += 1
        return cell

    # -- reading --------------------------------------------------------------------------
    def node_groups(self) -> Iterator[int]:
        """The groups that are nodes of the document (not list cells)."""
        cells = self.cells
        return (g for g, s in enumerate(self.ids) if s not in cells)

    def group_triples(self, group: int) -> Sequence[ox.Triple]:
        return self.triples[self.starts[group]:self.starts[group + 1]]

    def node(self, group: int, name: Callable[[str], str] | None = None) -> JsonDoc:
        """The expanded node of a subject, as pyld's ``from_rdf`` makes it (``name``:
        what blank nodes are called in it)."""
        name = name or _same
        node: JsonDoc = {"@id": name(self.ids[group])}
        for t in self.group_triples(group):
            p, o = t.predicate.value, t.object
            if p == RDF_TYPE and not isinstance(o, ox.Literal):
                node.setdefault("@type", []).append(name(_term_id(o)))
            else:
                node.setdefault(p, []).append(self.value(o, name))
        return node

    def value(self, o: Any, name: Callable[[str], str]) -> JsonDoc:
        """An object term as an expanded value (a list head as its ``@list``)."""
        if isinstance(o, ox.Literal):
            return _literal(o)
        oid = _term_id(o)
        if oid == RDF_NIL:
            return {"@list": []}
        items = self.list_heads.get(oid)
        if items is not None:
            return {"@list": [self.value(item, name) for item in items]}
        return {"@id": name(oid)}


def _same(x: str) -> str:
    return x


def _literal(o: ox.Literal) -> JsonDoc:
    if o.language:
        return {"@value": o.value, "@language": o.language}
    dtype = o.datatype.value
    if dtype == XSD_STRING:
        return {"@value": o.value}
    if dtype == RDF_JSON:
        return {"@value": json.loads(o.value), "@type": "@json"}
    return jsonld.native({"@value": o.value, "@type": dtype})


# --- the context, and IRI compaction with term selection (JSON-LD 1.1 API §6) -------------
@dataclass(frozen=True)
class Term:
    """A term definition, as pyld keeps it (``container`` as written, ``type`` absent: None)."""

    name: str
    iri: str
    reverse: bool = False
    type: str | None = None
    container: tuple[str, ...] = ()
    prefix: bool = False


_TERM_KEYS = frozenset({"@id", "@reverse", "@type", "@container"})
_CONTAINERS = ({"@set"}, {"@list"}, {"@language"}, {"@language", "@set"})


class ActiveContext:
    """A processed context and its inverse, for the subset of JSON-LD our context uses."""

    def __init__(self, context: JsonDoc) -> None:
        unknown = [k for k in context if k.startswith("@") and k not in ("@version", "@vocab")]
        if unknown or context.get("@version", 1.1) != 1.1:
            raise UnsupportedContext(f"context keys not supported: {unknown or ['@version']}")
        self.local = context
        self.vocab: str | None = context.get("@vocab")
        self.terms: dict[str, Term] = {}
        self._defining: set[str] = set()
        for name in context:
            if not name.startswith("@"):
                self._define(name)
        self.inverse = self._inverse()
        # Prefixes a compact IRI may use: terms without a colon flagged as prefixes, and
        # terms "t" where some term "t:x" exists (pyld's second rule; none in our context).
        colon_prefixes = {n.split(":", 1)[0] for n in self.terms if ":" in n}
        self.curie_terms = [t for t in self.terms.values()
                            if ":" not in t.name and t.iri and (t.prefix or t.name in colon_prefixes)]
        self.prefix_terms = [t for t in self.terms.values() if t.prefix]
        self._curie_cache: dict[tuple[str, bool, bool], str] = {}
        self._select_cache: dict[tuple[Any, ...], str | None] = {}
        self._aliases: dict[str, str] = {}

    # -- processing the context -----------------------------------------------------------
    def _define(self, name: str) -> Term:
        if name in self.terms:
            return self.terms[name]
        if name in self._defining:
            raise UnsupportedContext(f"term {name!r} is defined through itself")
        self._defining.add(name)
        value = self.local[name]
        if value == name:
            raise UnsupportedContext(f"term {name!r} maps to itself")
        if isinstance(value, str):
            term = Term(name, self._expand(value), prefix=":" not in name and (
                value.startswith("_:") or bool(_GEN_DELIM_END.match(self._expand(value)))))
        elif isinstance(value, dict) and set(value) <= _TERM_KEYS and ("@id" in value) != ("@reverse" in value):
            container = value.get("@container", ())
            container = tuple([container] if isinstance(container, str) else container)
            if container and set(container) not in _CONTAINERS:
                raise UnsupportedContext(f"term {name!r}: container {container!r}")
            kind = value.get("@type")
            if kind in ("@none", "@json"):
                raise UnsupportedContext(f"term {name!r}: @type {kind}")
            if kind is not None and kind not in ("@id", "@vocab"):
                kind = self._expand(kind)
            term = Term(name, self._expand(value.get("@reverse") or value["@id"]), "@reverse" in value, kind, container)
            if term.iri in ("@graph", "@nest", "@included", "@index") or (term.reverse and term.type):
                raise UnsupportedContext(f"term {name!r}: {value!r}")
        else:
            raise UnsupportedContext(f"term {name!r}: {value!r}")
        self.terms[name] = term
        return term

    def _expand(self, value: str) -> str:
        """A term's IRI (vocabulary-relative), as pyld expands it in a context."""
        if value in KEYWORDS:
            return value
        prefix, colon, suffix = value.partition(":")
        if colon:
            if prefix == "_" or suffix.startswith("//"):
                return value
            if prefix in self.local and not prefix.startswith("@"):
                parent = self._define(prefix)
                if parent.prefix:
                    return parent.iri + suffix
            return value
        if value in self.local:
            return self._define(value).iri
        if self.vocab is None:
            raise UnsupportedContext(f"{value!r} needs an @vocab")
        return self.vocab + value

    def _inverse(self) -> dict[str, dict[str, dict[str, dict[str, str]]]]:
        """The inverse context, built as pyld builds it (shortest, then least term first)."""
        inverse: dict[str, dict[str, dict[str, dict[str, str]]]] = {}
        for name in sorted(self.terms, key=lambda n: (len(n), n)):
            term = self.terms[name]
            container = "".join(sorted(term.container)) or "@none"
            entry = inverse.setdefault(term.iri, {}).setdefault(container, {"@language": {}, "@type": {}, "@any": {}})
            entry["@any"].setdefault("@none", name)
            if term.reverse:
                entry["@type"].setdefault("@reverse", name)
            elif term.type is not None:
                entry["@type"].setdefault(term.type, name)
            else:  # pyld's entries for the default language and for none: one here (no default)
                entry["@language"].setdefault("@none", name)
                entry["@type"].setdefault("@none", name)
        return inverse

    # -- compacting IRIs -------------------------------------------------------------------
    def container(self, name: str | None) -> tuple[str, ...]:
        term = self.terms.get(name) if name else None
        return term.container if term else ()

    def term_type(self, name: str | None) -> str | None:
        term = self.terms.get(name) if name else None
        return term.type if term else None

    def alias(self, keyword: str) -> str:
        """What a keyword is written as (``id`` for ``@id``, ``type`` for ``@type``)."""
        if keyword not in self._aliases:
            self._aliases[keyword] = self.compact_iri(keyword)
        return self._aliases[keyword]

    def compact_iri(self, iri: str, value: Any = None, vocab: bool = False, reverse: bool = False) -> str:
        """The compacted form of an IRI or keyword (pyld's ``_compact_iri``, same order of tries)."""
        if iri in KEYWORDS:
            alias = self.inverse.get(iri, {}).get("@none", {}).get("@type", {}).get("@none")
            if alias:
                return alias
            vocab = True
        if vocab and iri in self.inverse:
            term = self._term_for(iri, value, reverse)
            if term is not None:
                return term
        key = (iri, vocab, value is None)
        compacted = self._curie_cache.get(key)
        if compacted is None:
            compacted = self._compact_without_term(iri, value is None, vocab)
            if len(self._curie_cache) > 100_000:  # bounded: most subjects are compacted once
                self._curie_cache.clear()
            self._curie_cache[key] = compacted
        return compacted

    def _compact_without_term(self, iri: str, value_is_none: bool, vocab: bool) -> str:
        if vocab and self.vocab is not None and iri.startswith(self.vocab) and iri != self.vocab:
            suffix = iri[len(self.vocab):]
            if suffix not in self.terms:
                return suffix
        candidate: str | None = None
        for term in self.curie_terms:
            if term.iri == iri or not iri.startswith(term.iri):
                continue
            curie = term.name + ":" + iri[len(term.iri):]
            usable = (term.prefix and curie not in self.terms) or (
                value_is_none and curie in self.terms and self.terms[curie].iri == iri)
            if usable and (candidate is None or (len(curie), curie) < (len(candidate), candidate)):
                candidate = curie
        if candidate is not None:
            return candidate
        for term in self.prefix_terms:
            if iri.startswith(term.name + ":"):
                raise ValueError(f"IRI {iri!r} could be confused with a compact IRI (prefix {term.name!r})")
        return iri  # no @base in our contexts: an absolute IRI stays as it is

    def _term_for(self, iri: str, value: Any, reverse: bool) -> str | None:
        """Term selection (pyld's ``_compact_iri`` term branch and ``_select_term``)."""
        containers: list[str] = []
        is_object = isinstance(value, dict)
        is_value = is_object and "@value" in value
        if is_object and not is_value:
            containers += ["@id", "@id@set", "@type", "@set@type"]
        kind, kind_value = "@language", "@null"
        if reverse:
            kind, kind_value = "@type", "@reverse"
            containers.append("@set")
        elif is_object and "@list" in value:
            containers.append("@list")
            kind, kind_value = _list_kind(value["@list"])
        else:
            if is_value:
                if "@language" in value:
                    containers += ["@language", "@language@set"]
                    kind_value = value["@language"]
                elif "@type" in value:
                    kind, kind_value = "@type", value["@type"]
            else:
                kind, kind_value = "@type", "@id"
            containers.append("@set")
        containers.append("@none")
        if is_object:
            containers += ["@index", "@index@set"]
        if is_value and len(value) == 1:
            containers += ["@language", "@language@set"]
        prefers_vocab = None
        if kind_value in ("@id", "@reverse") and is_object and "@id" in value:
            prefers_vocab = self._is_term_iri(value["@id"])
        key = (iri, tuple(containers), kind, kind_value, prefers_vocab)
        if key not in self._select_cache:
            self._select_cache[key] = self._select(iri, containers, kind, kind_value, prefers_vocab)
        return self._select_cache[key]

    def _is_term_iri(self, iri: str) -> bool:
        """Whether ``iri`` compacts (as a vocabulary IRI) to a term meaning exactly it."""
        if iri not in self.inverse:
            return False  # then it compacts to a suffix or compact IRI, never a term
        term = self.compact_iri(iri, None, vocab=True)
        return term in self.terms and self.terms[term].iri == iri

    def _select(self, iri: str, containers: list[str], kind: str, kind_value: str,
                prefers_vocab: bool | None) -> str | None:
        prefs: list[str] = []
        if prefers_vocab is not None:
            if kind_value == "@reverse":
                prefs.append("@reverse")
            prefs += ["@vocab", "@id"] if prefers_vocab else ["@id", "@vocab"]
        else:
            prefs.append(kind_value)
            if "_" in kind_value:  # pyld's direction preference: harmless for other values
                prefs.append("_" + kind_value.split("_")[-1])
        prefs.append("@none")
        by_container = self.inverse[iri]
        for container in containers:
            if container in by_container:
                choices = by_container[container][kind]
                for pref in prefs:
                    if pref in choices:
                        return choices[pref]
        return None


def _list_kind(items: list[Any]) -> tuple[str, str]:
    """The type/language a list's items share, for term selection (as pyld works it out)."""
    if not items:
        return "@any", "@none"
    common_language: str | None = None
    common_type: str | None = None
    for item in items:
        item_language, item_type = "@none", "@none"
        is_value = isinstance(item, dict) and "@value" in item
        if is_value:
            if "@direction" in item:
                item_language = f"{item.get('@language', '')}_{item['@direction']}"
            elif "@language" in item:
                item_language = item["@language"]
            elif "@type" in item:
                item_type = item["@type"]
            else:
                item_language = "@null"
        else:
            item_type = "@id"
        if common_language is None:
            common_language = item_language
        elif item_language != common_language and is_value:
            common_language = "@none"
        if common_type is None:
            common_type = item_type
        elif item_type != common_type:
            common_type = "@none"
        if common_language == "@none" and common_type == "@none":
            break
    if common_type is not None and common_type != "@none":
        return "@type", common_type
    return "@language", common_language or "@none"


# --- compaction (JSON-LD 1.1 API §6.1, for expanded nodes of RDF and framed nodes) --------
def _add(subject: JsonDoc, key: str, value: Any, as_array: bool = False) -> None:
    """pyld's ``add_value`` (duplicates allowed): a second value makes the key an array."""
    if isinstance(value, list):
        if not value and as_array and key not in subject:
            subject[key] = []
        for v in value:
            _add(subject, key, v, as_array)
    elif key in subject:
        if not isinstance(subject[key], list):
            subject[key] = [subject[key]]
        subject[key].append(value)
    else:
        subject[key] = [value] if as_array else value


class Compactor:
    """Compacts expanded JSON-LD with an ``ActiveContext`` as pyld's ``compact`` does."""

    def __init__(self, context: ActiveContext) -> None:
        self.context = context

    def compact_node(self, node: JsonDoc) -> Any:
        """A top-level node of ``jsonld.compact``'s ``@graph``, in ``jsonld.tidy`` key order."""
        return jsonld.tidy(self.compact(node, None))

    def compact(self, element: Any, active_property: str | None) -> Any:
        ctx = self.context
        if isinstance(element, list):
            items = [c for c in (self.compact(e, active_property) for e in element) if c is not None]
            if len(items) == 1 and not ctx.container(active_property):
                return items[0]
            return items
        if not isinstance(element, dict):
            return element
        if "@value" in element or (len(element) == 1 and "@id" in element):
            return self._compact_value(element, active_property)
        if "@list" in element and "@list" in ctx.container(active_property):
            return self.compact(element["@list"], active_property)
        inside_reverse = active_property == "@reverse"
        result: JsonDoc = {}
        for prop, value in sorted(element.items()):
            if prop == "@id":
                _add(result, ctx.alias("@id"), [ctx.compact_iri(v) for v in _as_list(value)])
            elif prop == "@type":
                types = [ctx.compact_iri(v, vocab=True) for v in _as_list(value)]
                alias = ctx.alias("@type")
                as_set = "@set" in ctx.container(alias)
                _add(result, alias, types[0] if len(types) == 1 else types, as_set or types == [])
            elif prop == "@reverse":
                self._compact_reverse(result, value)
            elif prop in KEYWORDS and prop not in ("@graph", "@list", "@included"):
                if prop in ("@preserve", "@index"):
                    raise UnsupportedContext(f"{prop} in an expanded node")
                _add(result, ctx.alias(prop), value)
            else:
                self._compact_property(result, prop, value, inside_reverse)
        return result

    def _compact_reverse(self, result: JsonDoc, value: JsonDoc) -> None:
        ctx = self.context
        compacted = self.compact(value, "@reverse")
        for key in list(compacted):
            term = ctx.terms.get(key)
            if term is not None and term.reverse:
                _add(result, key, compacted.pop(key), "@set" in term.container)
        if compacted:
            _add(result, ctx.alias("@reverse"), compacted)

    def _compact_property(self, result: JsonDoc, prop: str, values: list[Any], inside_reverse: bool) -> None:
        ctx = self.context
        if not isinstance(values, list):
            raise ValueError(f"expanded value of {prop} is not an array")
        if not values:
            _add(result, ctx.compact_iri(prop, values, vocab=True, reverse=inside_reverse), [], True)
        for item in values:
            key = ctx.compact_iri(prop, item, vocab=True, reverse=inside_reverse)
            container = ctx.container(key)
            is_list = isinstance(item, dict) and "@list" in item
            compacted = self.compact(item["@list"] if is_list else item, key)
            if is_list:
                compacted = compacted if isinstance(compacted, list) else [compacted]
                if "@list" in container:
                    result[key] = compacted  # pyld sets a list container's value: a second list replaces it
                    continue
                compacted = {ctx.alias("@list"): compacted}
            if "@language" in container:
                languages = result.setdefault(key, {})
                if isinstance(compacted, dict) and "@value" in compacted:
                    compacted = compacted["@value"]
                language = item.get("@language") if isinstance(item, dict) else None
                _add(languages, language or ctx.alias("@none"), compacted, "@set" in container)
            else:
                as_array = ("@set" in container or "@list" in container or compacted == []
                            or prop in ("@list", "@graph"))
                _add(result, key, compacted, as_array)

    def _compact_value(self, value: JsonDoc, active_property: str | None) -> Any:
        ctx = self.context
        kind = ctx.term_type(active_property)
        if "@value" not in value:  # a node reference
            compacted = ctx.compact_iri(value["@id"], vocab=kind == "@vocab")
            return compacted if kind in ("@id", "@vocab") else {ctx.alias("@id"): compacted}
        if "@type" in value and value["@type"] == kind:
            return value["@value"]
        if len(value) == 1:  # no default language in our contexts
            return value["@value"]
        result: JsonDoc = {}
        if "@type" in value:
            result[ctx.alias("@type")] = ctx.compact_iri(value["@type"], vocab=True)
        elif "@language" in value:
            result[ctx.alias("@language")] = value["@language"]
        if "@direction" in value:
            result[ctx.alias("@direction")] = value["@direction"]
        result[ctx.alias("@value")] = value["@value"]
        return result


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _cleanup_null(node: Any) -> Any:
    """pyld's last framing step: the string ``@null`` (a default of nothing) becomes null,
    and is dropped from arrays."""
    if isinstance(node, list):
        return [c for c in (_cleanup_null(v) for v in node) if c is not None]
    if node == "@null":
        return None
    if isinstance(node, dict):
        return {k: _cleanup_null(v) for k, v in node.items()}
    return node


# --- framing (JSON-LD 1.1 Framing §4, root by root, as pyld frames) -----------------------
_DEFAULT_FLAGS = {"embed": "@once", "explicit": False, "requireAll": False, "omitDefault": True}
_EMBEDS = ("@always", "@never", "@once")


@dataclass
class _State:
    """pyld's framing state that is copied into each recursion (the rest is the Framer's)."""

    embedded: bool
    unique: dict[str, bool]  # what is embedded already in this root's compartment


class Framer:
    """The roots a frame matches, and each root's framed node, as pyld's ``frame`` makes
    them from the whole graph (``omitDefault``; blank nodes named ``_:b0``… in the order
    pyld's node map meets them, and an identifier used once in the document dropped).

    Each root is walked through the frame as pyld walks it — its own quirks included:
    a node reached through ``@reverse`` is framed as if at the top (pyld's state key
    ``embeded``), so its ``@embed`` is not applied to it and a fresh set of embeds begins.
    """

    def __init__(self, graph: GraphIndex, expanded_frame: list[Any], context: ActiveContext) -> None:
        self.graph = graph
        self.frame = expanded_frame
        _validate_frame(expanded_frame)
        self._refuse_unsupported(expanded_frame)
        self.labels = self._blank_node_labels() if graph.has_blank else {}
        self.blank_groups = {self.labels[s]: g for s, g in graph.group_of.items()
                             if s.startswith("_:") and s not in graph.cells}
        self.reverse = self._reverse_index(_reverse_properties(expanded_frame))
        self.stack: list[str] = []
        self.counts: dict[str, int] | None = None  # blank node outputs, while counting
        self.clear: set[str] = set()  # blank node identifiers to drop: used once in the document
        self._node = functools.lru_cache(maxsize=4096)(self._build_node)
        self._roots = self._match_roots()
        if self.labels:
            self._count_blank_nodes()

    # -- the graph as pyld's merged node map sees it ---------------------------------------
    def name(self, node_id: str) -> str:
        return self.labels[node_id] if node_id.startswith("_:") else node_id

    def node(self, node_id: str) -> JsonDoc:
        """The node map's node: its expanded node, or just its ``@id`` if it has no triples."""
        return self._node(node_id)

    def _build_node(self, node_id: str) -> JsonDoc:
        group = self.blank_groups.get(node_id) if node_id.startswith("_:") else self.graph.group_of.get(node_id)
        if group is None or self.graph.ids[group] in self.graph.cells:  # a cell is no node of pyld's
            return {"@id": node_id}
        return self.graph.node(group, self.name)

    def _blank_node_labels(self) -> dict[str, str]:
        """``_:b0``, ``_:b1``… in the order pyld's node map generation meets blank nodes:
        subjects in order of their identifier, each one's types, then itself, then its
        values property by property (list items in order)."""
        labels: dict[str, str] = {}

        def meet(node_id: str) -> None:
            if node_id.startswith("_:") and node_id not in labels:
                labels[node_id] = f"_:b{len(labels)}"

        def meet_value(value: JsonDoc) -> None:
            if "@list" in value:
                for item in value["@list"]:
                    meet_value(item)
            elif "@id" in value:
                meet(value["@id"])

        graph = self.graph
        for group in sorted(graph.node_groups(), key=graph.ids.__getitem__):
            if not self._touches_blank_node(group):
                continue
            node = graph.node(group)
            for t in node.get("@type", ()):
                meet(t)
            meet(node["@id"])
            for prop in sorted(node):
                if prop not in ("@id", "@type"):
                    for value in node[prop]:
                        meet_value(value)
        return labels

    def _touches_blank_node(self, group: int) -> bool:
        if self.graph.ids[group].startswith("_:"):
            return True
        return any(isinstance(t.object, ox.BlankNode) for t in self.graph.group_triples(group))

    def _reverse_index(self, properties: set[str]) -> dict[str, dict[str, list[str]]]:
        """For each reverse property of the frame: object → the subjects pointing to it, in
        the order pyld's merged node map holds them (by identifier)."""
        index: dict[str, dict[str, list[str]]] = {p: {} for p in properties}
        if not properties:
            return index
        graph = self.graph
        for group in graph.node_groups():
            subject = None
            for t in graph.group_triples(group):
                by_object = index.get(t.predicate.value)
                if by_object is not None and isinstance(t.object, ox.NamedNode | ox.BlankNode):
                    subject = subject or self.name(graph.ids[group])
                    by_object.setdefault(self.name(_term_id(t.object)), []).append(subject)
        for by_object in index.values():
            for subjects in by_object.values():
                subjects.sort()
        return index

    # -- the roots -------------------------------------------------------------------------
    def roots(self) -> list[str]:
        """The top-level matches, in pyld's order (by identifier)."""
        return self._roots

    def _match_roots(self) -> list[str]:
        frame = self.frame[0]
        flags = self._flags(frame)
        types = frame.get("@type")
        if (types and all(isinstance(t, str) for t in types) and "@id" not in frame
                and not flags["requireAll"]):
            # Matching stops at @type then (keys are tried in order, @id before @type; no
            # other key before it counts): a node matches if it has one of the types.
            wanted = set(types)
            graph = self.graph
            return sorted(self.name(graph.ids[g]) for g in graph.node_groups()
                          if any(t.predicate.value == RDF_TYPE and isinstance(t.object, ox.NamedNode)
                                 and t.object.value in wanted for t in graph.group_triples(g)))
        return sorted(i for i in self._all_ids() if self._filter(self.node(i), frame, flags))

    def _all_ids(self) -> set[str]:
        """Every identifier in pyld's node map: subjects, and every node value."""
        ids: set[str] = set()

        def add(value: JsonDoc) -> None:
            if "@list" in value:
                for item in value["@list"]:
                    add(item)
            elif "@id" in value:
                ids.add(value["@id"])

        graph = self.graph
        for group in graph.node_groups():
            node = graph.node(group, self.name)
            ids.add(node["@id"])
            for prop, values in node.items():
                if prop not in ("@id", "@type"):
                    for value in values:
                        add(value)
        return ids

    # -- framing a root --------------------------------------------------------------------
    def frame_root(self, root: str) -> JsonDoc:
        """A root's framed node, expanded, blank node identifiers pruned as pyld prunes them."""
        node: JsonDoc = _cleanup_preserve(self._walk(root), self.clear)
        return node

    def _walk(self, root: str) -> JsonDoc:
        frame = self.frame[0]
        parent: list[Any] = []
        self._embed(_State(embedded=False, unique={}), root, frame, self._flags(frame), parent, None)
        node: JsonDoc = parent[0]
        return node

    def _count_blank_nodes(self) -> None:
        # pyld drops a blank node's identifier when one output object in the whole document
        # carries it: count them over every root first (a second walk, still linear).
        self.counts = {}
        for root in self._roots:
            self._walk(root)
        self.clear = {i for i, n in self.counts.items() if n == 1}
        self.counts = None

    def _count(self, node_id: str) -> None:
        if self.counts is not None and node_id.startswith("_:"):
            self.counts[node_id] = self.counts.get(node_id, 0) + 1

    def _match(self, state: _State, subject: str, frame_list: list[Any], parent: Any, prop: str | None) -> None:
        """pyld's ``_match_frame`` for one subject."""
        _validate_frame(frame_list)
        frame = frame_list[0]
        flags = self._flags(frame)
        if self._filter(self.node(subject), frame, flags):
            self._embed(state, subject, frame, flags, parent, prop)

    def _embed(self, state: _State, node_id: str, frame: JsonDoc, flags: dict[str, Any], parent: Any,
               prop: str | None) -> None:
        """The body of pyld's ``_match_frame`` loop, for a subject that matched."""
        if prop is None:
            state.unique = {}
        output: JsonDoc = {"@id": node_id}
        self._count(node_id)
        if not state.embedded and node_id in state.unique:
            return
        if state.embedded and (flags["embed"] == "@never" or node_id in self.stack[:-1]):
            _add_output(parent, prop, output)
            return
        if state.embedded and flags["embed"] == "@once" and node_id in state.unique:
            _add_output(parent, prop, output)
            return
        state.unique[node_id] = True
        self.stack.append(node_id)
        subject = self.node(node_id)
        for key, objects in sorted(subject.items()):
            if key in KEYWORDS:
                output[key] = objects
                if key == "@type":
                    for t in objects:
                        self._count(t)
            elif not (flags["explicit"] and key not in frame):
                self._embed_values(state, key, objects, frame, flags, output)
        self._defaults(frame, output)
        for reverse_prop, subframe in sorted(frame.get("@reverse", {}).items()):
            for referrer in self.reverse[reverse_prop].get(node_id, ()):
                reverse = output.setdefault("@reverse", {})
                reverse.setdefault(reverse_prop, [])
                # pyld passes this node's own parent property on, and (state key
                # "embeded") not embedded: the referrer is framed as at the top.
                self._match(_State(state.embedded, state.unique), referrer, subframe, reverse[reverse_prop], prop)
        _add_output(parent, prop, output)
        self.stack.pop()

    def _embed_values(self, state: _State, key: str, objects: list[Any], frame: JsonDoc, flags: dict[str, Any],
                      output: JsonDoc) -> None:
        for o in objects:
            subframe = frame[key] if key in frame else self._implicit(flags)
            if "@list" in o:
                if key in frame and frame[key][0] and "@list" in frame[key][0]:
                    subframe = frame[key][0]["@list"]
                else:
                    subframe = self._implicit(flags)
                items: JsonDoc = {"@list": []}
                _add_output(output, key, items)
                for item in o["@list"]:
                    if _is_reference(item):
                        self._match(_State(True, state.unique), item["@id"], subframe, items, "@list")
                    else:
                        _add_output(items, "@list", item)
            elif _is_reference(o):
                self._match(_State(True, state.unique), o["@id"], subframe, output, key)
            elif _value_match(subframe[0], o):
                _add_output(output, key, o)

    def _defaults(self, frame: JsonDoc, output: JsonDoc) -> None:
        """A property the frame asks for and the node lacks gets its default (``@null``
        unless the frame gives one), where the frame turns ``omitDefault`` off."""
        for key in sorted(frame):
            if key == "@type":
                types = frame[key]
                if not types or not isinstance(types[0], dict) or "@default" not in types[0]:
                    continue
            elif key in KEYWORDS:
                continue
            nxt = frame[key][0] if frame[key] else {}
            if not self._flag(nxt, "omitDefault") and key not in output:
                output[key] = [{"@preserve": _as_list(nxt.get("@default", "@null"))}]

    @staticmethod
    def _implicit(flags: dict[str, Any]) -> list[JsonDoc]:
        return [{"@embed": [flags["embed"]], "@explicit": [flags["explicit"]], "@requireAll": [flags["requireAll"]]}]

    @staticmethod
    def _flag(frame: JsonDoc, name: str) -> Any:
        value = frame.get("@" + name, [_DEFAULT_FLAGS[name]])[0]
        if name == "embed":
            value = {True: "@once", False: "@never"}.get(value, value) if isinstance(value, bool) else value
            if value not in _EMBEDS:
                raise UnsupportedFrame(f"@embed {value!r} is not framed root by root")
        return value

    def _flags(self, frame: JsonDoc) -> dict[str, Any]:
        return {name: self._flag(frame, name) for name in ("embed", "explicit", "requireAll")}

    # -- matching (pyld's _filter_subject) --------------------------------------------------
    def _filter(self, subject: JsonDoc, frame: JsonDoc, flags: dict[str, Any]) -> bool:
        wildcard, matches_some = True, False
        require_all = flags["requireAll"]
        for key, pattern in sorted(frame.items()):
            values = _values(subject, key)
            if key == "@id":
                match = not pattern or _is_empty(pattern[0]) or values[0] in pattern
                if not require_all:
                    return match
            elif key == "@type":
                wildcard = False
                if not pattern:
                    if values:
                        return False
                    match = True
                elif len(pattern) == 1 and _is_empty(pattern[0]):
                    match = bool(values)
                else:
                    match = False
                    for tv in pattern:
                        if isinstance(tv, dict) and "@default" in tv:
                            match = True
                        elif not match:
                            match = tv in values
                    if not require_all:
                        return match
            elif key in KEYWORDS:
                continue
            else:
                wildcard = False
                sub = pattern[0] if pattern else None
                has_default = False
                if sub:
                    _validate_frame([sub])
                    has_default = "@default" in sub
                if not values and has_default:
                    continue
                if values and not pattern:
                    return False
                match = self._property_match(sub, values, flags)
            if not match and require_all:
                return False
            matches_some = matches_some or match
        return wildcard or matches_some

    def _property_match(self, sub: Any, values: list[Any], flags: dict[str, Any]) -> bool:
        if sub is None:
            return not values
        if isinstance(sub, dict) and "@list" in sub:
            first: Any = sub["@list"][0] if sub["@list"] else None
            if values and isinstance(values[0], dict) and "@list" in values[0]:
                items = values[0]["@list"]
                if isinstance(first, dict) and "@value" in first:
                    return any(_value_match(first, v) for v in items)
                if _is_subject(first) or _is_reference(first):
                    return any(self._node_match(first, v, flags) for v in items)
            return False
        if isinstance(sub, dict) and "@value" in sub:
            return any(_value_match(sub, v) for v in values)
        if _is_reference(sub):
            return any(self._node_match(sub, v, flags) for v in values)
        return isinstance(sub, dict) and bool(values)

    def _node_match(self, pattern: JsonDoc, value: Any, flags: dict[str, Any]) -> bool:
        return isinstance(value, dict) and "@id" in value and self._filter(self.node(value["@id"]), pattern, flags)

    # -- what a frame may ask for ----------------------------------------------------------
    @staticmethod
    def _refuse_unsupported(frame: Any) -> None:
        """Features that depend on the other roots or the whole graph: no root-by-root frame."""
        for sub in _frames_in(frame):
            for key in ("@included", "@graph"):
                if key in sub:
                    raise UnsupportedFrame(f"{key} in a frame is not framed root by root")
            Framer._flag(sub, "embed")


def _frames_in(frame: Any) -> Iterator[JsonDoc]:
    """Every (sub)frame object of an expanded frame."""
    if isinstance(frame, list):
        for f in frame:
            yield from _frames_in(f)
    elif isinstance(frame, dict) and "@value" not in frame:
        yield frame
        for key, value in frame.items():
            if key == "@reverse":
                for sub in value.values():
                    yield from _frames_in(sub)
            elif key == "@list" or key not in KEYWORDS:
                yield from _frames_in(value)


def _reverse_properties(frame: Any) -> set[str]:
    return {p for sub in _frames_in(frame) for p in sub.get("@reverse", {})}


def _validate_frame(frame: Any) -> None:
    """pyld's frame validation: one object; ``@id`` and ``@type`` wildcards or IRIs."""
    if not isinstance(frame, list) or len(frame) != 1 or not isinstance(frame[0], dict):
        raise UnsupportedFrame("a frame must be a single object")
    for key in ("@id", "@type"):
        for v in _as_list(frame[0].get(key, [])):
            absolute = isinstance(v, str) and ":" in v and not v.startswith("_:")
            if not (isinstance(v, dict) or absolute or (key == "@type" and v == "@json")):
                raise UnsupportedFrame(f"invalid {key} in frame: {v!r}")


def _values(subject: JsonDoc, key: str) -> list[Any]:
    value = subject.get(key) or []
    return value if isinstance(value, list) else [value]


def _is_empty(value: Any) -> bool:
    return isinstance(value, dict) and not value


def _is_reference(value: Any) -> bool:
    return isinstance(value, dict) and len(value) == 1 and "@id" in value


def _is_subject(value: Any) -> bool:
    if not isinstance(value, dict) or "@value" in value or "@set" in value or "@list" in value:
        return False
    return len(value) > 1 or "@id" not in value


def _value_match(pattern: JsonDoc, value: JsonDoc) -> bool:
    """pyld's ``_value_match``: a value matches an empty pattern, or one whose @value,
    @type and @language it has (``{}`` meaning any)."""
    v1, t1, l1 = value.get("@value"), value.get("@type"), value.get("@language")
    v2, t2, l2 = _values(pattern, "@value"), _values(pattern, "@type"), _values(pattern, "@language")
    if not v2 and not t2 and not l2:
        return True
    if not (v1 in v2 or (v2 and _is_empty(v2[0]))):
        return False
    if not ((not t1 and not t2) or (t1 in t2) or (t1 and t2 and _is_empty(t2[0]))):
        return False
    return bool((not l1 and not l2) or (l1 in l2) or (l1 and l2 and _is_empty(l2[0])))


def _add_output(parent: Any, prop: str | None, output: Any) -> None:
    if isinstance(parent, dict):
        assert prop is not None
        _add(parent, prop, output, True)
    else:
        parent.append(output)


def _cleanup_preserve(node: Any, clear: set[str]) -> Any:
    """pyld's ``_cleanup_preserve``: a default stands for itself; a blank node identifier
    used once in the document is dropped. (Returns new objects where pyld changes them in
    place: the framed output is fresh, and the values it shares with nodes keep theirs.)"""
    if isinstance(node, list):
        return [c for c in (_cleanup_preserve(v, clear) for v in node) if c is not None]
    if not isinstance(node, dict):
        return node
    if "@preserve" in node:
        return node["@preserve"][0]
    if "@value" in node:
        return node
    if "@list" in node:
        return {**node, "@list": _cleanup_preserve(node["@list"], clear)}
    return {k: _cleanup_preserve(v, clear) for k, v in node.items() if not (k == "@id" and v in clear)}
