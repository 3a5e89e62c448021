"""The queries the linked-data pages run (named constants, one place) and the shaping of
their answers into page data.

Queries are written against the canonical namespaces; ``for_base`` moves their PREFIX
lines to the served base (``SPACECOOP_BASE``). Values — the entity IRI, a class — are never
written into query text: they travel as engine bindings (``Job.bindings``).

An entity's *description* (``DESCRIBE_ENTITY``) is: its own triples, the labels of what it
links to, the triples that link to it (with their subjects' labels) — and, through its own
``prov:wasDerivedFrom``/``dcterms:source``/``sc:quote`` triples and the source's label, its
provenance. The HTML page, the JSON page and every RDF format are views of that one graph.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, urlencode

import pyoxigraph as ox

from spacecoop import config
from spacecoop.rdf import formats, iris
from spacecoop.rdf.results import Term, term_of

# The namespaces as plain strings (config holds them), for comparing with the rows' IRIs.
RDF, RDFS, OWL, XSD, SKOS, DCTERMS, PROV, ORG, SCHEMA = (str(ns) for ns in (
    config.RDF, config.RDFS, config.OWL, config.XSD, config.SKOS, config.DCTERMS, config.PROV, config.ORG, config.SDO))
SC = str(config.SC)  # canonical; rebase with iris.rebase for the served graph

_PROLOGUE = "\n".join(f"PREFIX {p}: <{ns}>" for p, ns in config.PREFIXES.items()
                      if p in ("rdf", "rdfs", "owl", "skos", "dcterms", "prov", "sc", "scr", "xsd", "org"))

# --- the queries ----------------------------------------------------------------------
DESCRIBE_ENTITY = _PROLOGUE + """
# ?entity: the IRI of the thing described (bound by the caller)
CONSTRUCT {
  ?entity ?p ?o .
  ?o rdfs:label ?oLabel .
  ?in ?inP ?entity .
  ?in rdfs:label ?inLabel .
}
WHERE {
  { ?entity ?p ?o . OPTIONAL { ?o rdfs:label ?oLabel } }
  UNION
  { ?in ?inP ?entity . OPTIONAL { ?in rdfs:label ?inLabel } }
}
"""

ENTITY_EXISTS = """
# ?entity: an IRI; true when the graph says anything about it (as a subject)
ASK WHERE { ?entity ?p ?o }
"""

ENTITY_GRAPHS = """
# ?entity: an IRI; the named graphs (source files) its own triples come from
SELECT DISTINCT ?graph WHERE { GRAPH ?graph { ?entity ?p ?o } } ORDER BY ?graph
"""

ENTITY_IRIS = """
# ?space: the resource namespace as a string; every entity (subject) in it
SELECT DISTINCT ?entity WHERE { ?entity ?p ?o FILTER(isIRI(?entity) && STRSTARTS(STR(?entity), ?space)) }
ORDER BY ?entity
"""

ONTOLOGY_GRAPH = """
# the ontology: every named graph that declares an owl:Ontology (whatever its file is called)
PREFIX owl: <http://www.w3.org/2002/07/owl#>
CONSTRUCT { ?s ?p ?o } WHERE { GRAPH ?g { ?ontology a owl:Ontology . ?s ?p ?o } }
"""

GRAPH_EXISTS = """
# ?graph: a named-graph IRI; true when the store has that graph
ASK WHERE { GRAPH ?graph { ?s ?p ?o } }
"""

GRAPH_TRIPLES = """
# ?graph: a named-graph IRI; its triples (one source file)
CONSTRUCT { ?s ?p ?o } WHERE { GRAPH ?graph { ?s ?p ?o } }
"""

GRAPH_SUBJECTS = _PROLOGUE + """
# ?graph: a named-graph IRI; the things it describes, with the number of its triples about each
SELECT ?s (COUNT(*) AS ?triples) WHERE { GRAPH ?graph { ?s ?p ?o } } GROUP BY ?s ORDER BY ?s
"""

# Apart from the counts: joined to them, a thing with two English labels in the union
# graph (one from each of two files) would have each of its triples counted twice.
GRAPH_SUBJECT_LABELS = _PROLOGUE + """
# ?graph: a named-graph IRI; an English label of each thing it describes (from any graph)
SELECT ?s (SAMPLE(?l) AS ?label) WHERE {
  GRAPH ?graph { ?s ?p ?o }
  ?s rdfs:label ?l FILTER(LANGMATCHES(LANG(?l), "en"))
} GROUP BY ?s
"""

CLASS_MEMBERS = _PROLOGUE + """
# ?class: a class IRI; its instances with labels and dates (any precision)
SELECT ?item ?label ?labelZh ?date ?earliest ?latest ?dateText WHERE {
  ?item a ?class .
  OPTIONAL { ?item rdfs:label ?label FILTER(LANGMATCHES(LANG(?label), "en")) }
  OPTIONAL { ?item rdfs:label ?labelZh FILTER(LANGMATCHES(LANG(?labelZh), "zh")) }
  OPTIONAL { ?item sc:date ?date }
  OPTIONAL { ?item sc:earliestDate ?earliest }
  OPTIONAL { ?item sc:latestDate ?latest }
  OPTIONAL { ?item sc:dateText ?dateText }
}
"""

CLASS_RELATED = _PROLOGUE + """
# ?class, ?rel: the instances' values of one property, with English labels
SELECT ?item ?other ?otherLabel WHERE {
  ?item a ?class ; ?rel ?other .
  OPTIONAL { ?other rdfs:label ?otherLabel FILTER(LANGMATCHES(LANG(?otherLabel), "en")) }
}
"""

CLASS_RELATED_REVERSE = _PROLOGUE + """
# ?class, ?rel: what points at the instances through one property, with English labels
SELECT ?item ?other ?otherLabel WHERE {
  ?item a ?class . ?other ?rel ?item .
  OPTIONAL { ?other rdfs:label ?otherLabel FILTER(LANGMATCHES(LANG(?otherLabel), "en")) }
}
"""

CLASS_COUNTS = """
# how many distinct instances each class has
SELECT ?class (COUNT(DISTINCT ?item) AS ?n) WHERE { ?item a ?class } GROUP BY ?class
"""


def for_base(query: str, base: str = config.BASE) -> str:
    """A query with its namespace declarations moved to the served base.

    >>> for_base("PREFIX sc: <https://spacecoop.example/ontology#>", "https://kg.example.org/")
    'PREFIX sc: <https://kg.example.org/ontology#>'
    """
    return query if base == config.CANONICAL_BASE else query.replace(config.CANONICAL_BASE, base)


# --- terms ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Triple:
    """One triple of plain terms."""

    s: Term
    p: str
    o: Term


def parse_ntriples(body: bytes) -> list[Triple]:
    """An N-Triples answer of the engine → plain triples."""
    return [Triple(term_of(t.subject), t.predicate.value, term_of(t.object))
            for t in ox.parse(body, format=formats.N_TRIPLES.rdf_format)]


def value(term: Term | None) -> str:
    """The IRI or lexical form of a term ('' for None)."""
    return term[1] if term else ""


# --- the vocabulary (ontology), for labels and documentation ----------------------------
PROPERTY_KINDS = {OWL + "ObjectProperty": "object property", OWL + "DatatypeProperty": "datatype property",
                  OWL + "AnnotationProperty": "annotation property", RDF + "Property": "property"}
CLASS_KINDS = {OWL + "Class", RDFS + "Class"}
ALIGNMENTS = {SKOS + "closeMatch": "close match", SKOS + "exactMatch": "exact match",
              SKOS + "broadMatch": "broad match", SKOS + "narrowMatch": "narrow match",
              OWL + "equivalentClass": "equivalent class", OWL + "equivalentProperty": "equivalent property",
              RDFS + "subClassOf": "subclass of", RDFS + "subPropertyOf": "subproperty of"}


@dataclass
class VocabTerm:
    """A class, property or datatype of the ontology, as the documentation shows it."""

    iri: str
    kind: str  # "class" | "property" | "datatype"
    detail: str = ""  # e.g. "object property"
    labels: dict[str, str] = field(default_factory=dict)
    definition: str = ""
    comment: str = ""
    parents: list[str] = field(default_factory=list)  # superclasses / superproperties (any namespace)
    domain: list[str] = field(default_factory=list)  # union members flattened
    range: list[str] = field(default_factory=list)
    alignments: list[tuple[str, str]] = field(default_factory=list)  # (relation label, IRI)

    @property
    def local(self) -> str:
        return iris.local_name(self.iri)


@dataclass
class Vocabulary:
    """The ontology's terms, for labels, class hierarchy and the documentation page."""

    iri: str
    terms: dict[str, VocabTerm]
    meta: dict[str, list[Term]]

    def label(self, iri: str, lang: str = "en") -> str:
        term = self.terms.get(iri)
        if term and term.labels:
            return term.labels.get(lang) or term.labels.get("en") or next(iter(term.labels.values()))
        return STANDARD_LABELS.get(iri, "")

    def classes(self) -> list[VocabTerm]:
        return sorted((t for t in self.terms.values() if t.kind == "class"), key=lambda t: t.local.lower())

    def properties(self) -> list[VocabTerm]:
        return sorted((t for t in self.terms.values() if t.kind == "property"), key=lambda t: t.local.lower())

    def datatypes(self) -> list[VocabTerm]:
        return sorted((t for t in self.terms.values() if t.kind == "datatype"), key=lambda t: t.local)

    def ancestors(self, iri: str) -> set[str]:
        seen: set[str] = set()
        todo = list(self.terms[iri].parents) if iri in self.terms else []
        while todo:
            c = todo.pop()
            if c not in seen:
                seen.add(c)
                todo += self.terms[c].parents if c in self.terms else []
        return seen

    def subclasses(self, iri: str) -> list[str]:
        return sorted(t.iri for t in self.terms.values() if t.kind == "class" and iri in t.parents)

    def most_specific(self, types: Iterable[str]) -> str | None:
        """Of an entity's types, the ontology class no other of its types specialises."""
        ours = [t for t in types if t in self.terms and self.terms[t].kind == "class"]
        inherited = set().union(*(self.ancestors(t) for t in ours)) if ours else set()
        leaves = sorted(t for t in ours if t not in inherited)
        return leaves[0] if leaves else None


def _list_members(head: str, by_subject: dict[str, dict[str, list[Term]]]) -> list[str]:
    out: list[str] = []
    node = head
    while node and node != RDF + "nil" and len(out) < 1000:
        props = by_subject.get(node, {})
        first = props.get(RDF + "first", [])
        out += [value(first[0])] if first else []
        rest = props.get(RDF + "rest", [])
        node = value(rest[0]) if rest else ""
    return out


def _class_refs(term: Term, by_subject: dict[str, dict[str, list[Term]]]) -> list[str]:
    """A domain/range value: a class IRI, or the members of an ``owl:unionOf`` class."""
    if term[0] == "uri":
        return [term[1]]
    union = by_subject.get(term[1], {}).get(OWL + "unionOf", [])
    return _list_members(value(union[0]), by_subject) if union else []


def build_vocabulary(triples: Sequence[Triple], base: str = config.BASE) -> Vocabulary:
    """The ontology graph → a ``Vocabulary`` (terms of the ``sc:`` namespace)."""
    by_subject: dict[str, dict[str, list[Term]]] = {}
    for t in triples:
        by_subject.setdefault(t.s[1], {}).setdefault(t.p, []).append(t.o)
    ns = iris.rebase(SC, base)
    terms: dict[str, VocabTerm] = {}
    for s, props in by_subject.items():
        if not s.startswith(ns):
            continue
        types = {value(o) for o in props.get(RDF + "type", [])}
        kind = ("class" if types & CLASS_KINDS else "property" if types & set(PROPERTY_KINDS)
                else "datatype" if RDFS + "Datatype" in types else "")
        if not kind:
            continue
        detail = next((PROPERTY_KINDS[k] for k in PROPERTY_KINDS if k in types), "")
        term = VocabTerm(s, kind, detail)
        term.labels = {o[2] or "": o[1] for o in props.get(RDFS + "label", []) if o[0] == "literal"}
        term.definition = _first_text(props.get(SKOS + "definition", []))
        term.comment = _first_text(props.get(RDFS + "comment", []))
        parent_prop = RDFS + ("subClassOf" if kind == "class" else "subPropertyOf")
        term.parents = sorted(value(o) for o in props.get(parent_prop, []) if o[0] == "uri")
        term.domain = [c for o in props.get(RDFS + "domain", []) for c in _class_refs(o, by_subject)]
        term.range = [c for o in props.get(RDFS + "range", []) for c in _class_refs(o, by_subject)]
        term.alignments = sorted((label, value(o)) for p, label in ALIGNMENTS.items()
                                 for o in props.get(p, []) if o[0] == "uri" and not value(o).startswith(ns))
        terms[s] = term
    onto = iris.ontology_iri(base)
    return Vocabulary(onto, terms, by_subject.get(onto, {}))


def _first_text(terms: list[Term], lang: str = "en") -> str:
    texts = [t for t in terms if t[0] == "literal"]
    chosen = next((t for t in texts if t[2] == lang), texts[0] if texts else None)
    return chosen[1] if chosen else ""


# Labels of the standard properties and classes the data uses (the ontology labels its own).
STANDARD_LABELS = {
    RDF + "type": "type", RDFS + "label": "label", RDFS + "comment": "comment", RDFS + "seeAlso": "see also",
    SKOS + "prefLabel": "preferred label", SKOS + "altLabel": "also known as", SKOS + "definition": "definition",
    SKOS + "inScheme": "in scheme", SKOS + "topConceptOf": "top concept of", SKOS + "hasTopConcept": "top concept",
    SKOS + "Concept": "concept", SKOS + "ConceptScheme": "concept scheme",
    DCTERMS + "title": "title", DCTERMS + "description": "description", DCTERMS + "source": "source",
    DCTERMS + "creator": "creator", DCTERMS + "language": "language", DCTERMS + "identifier": "identifier",
    DCTERMS + "license": "licence", PROV + "wasDerivedFrom": "derived from",
    SCHEMA + "duration": "duration", ORG + "member": "member",
    ORG + "organization": "organization", ORG + "role": "role",
    ORG + "memberOf": "member of", ORG + "headOf": "head of",
    ORG + "Membership": "membership", ORG + "Role": "role",
}

# How a page introduces the things that point at an entity through a property, where
# "<property label> this <class>" reads badly. {this} is the entity's class label.
INCOMING_PHRASES = {
    "mission": "events of this {this}",
    "contributionTo": "contributions to this {this}",
    "providedBy": "contributions provided by this {this}",
    "providedItem": "contributions that provided this {this}",
    "partner": "with this {this} as partner",
    "participant": "with this {this} taking part",
    "status": "with this status",
    "side": "on this side",
    "cancelled": "cancelling this {this}",
    "inScheme": "concepts in this scheme",
    "topConceptOf": "top concepts of this scheme",
    "member": "memberships of this {this}",
    "organization": "memberships in this {this}",
    "role": "memberships with this role",
    "source": "things whose source is this {this}",
    "wasDerivedFrom": "things derived from this {this}",
}

LABEL_PROPS = (RDFS + "label", SKOS + "prefLabel")
DESCRIPTION_PROPS = (DCTERMS + "description", RDFS + "comment", SKOS + "definition")
PROVENANCE_PROPS = (PROV + "wasDerivedFrom", DCTERMS + "source")
DATE_LOCALS = ("date", "earliestDate", "latestDate", "startDate", "dateText")
PLAIN_TYPES = {XSD + "integer", XSD + "boolean", XSD + "decimal", XSD + "double", XSD + "nonNegativeInteger"}
PRECISION = {XSD + "date": "day", XSD + "gYearMonth": "month", XSD + "gYear": "year", XSD + "dateTime": "time"}


# --- entity pages -----------------------------------------------------------------------
@dataclass
class Labels:
    """Labels found in a description: IRI → {language: text}."""

    by_iri: dict[str, dict[str, str]]
    vocab: Vocabulary

    def get(self, iri: str, lang: str = "en") -> str:
        mine = self.by_iri.get(iri, {})
        if lang in mine:
            return mine[lang]
        if lang != "en":
            return ""
        return mine.get("") or self.vocab.label(iri) or next(iter(mine.values()), "") or iris.local_name(iri)


def collect_labels(triples: Iterable[Triple], vocab: Vocabulary) -> Labels:
    by_iri: dict[str, dict[str, str]] = {}
    for t in triples:
        if t.p in LABEL_PROPS and t.o[0] == "literal":
            by_iri.setdefault(t.s[1], {}).setdefault(t.o[2] or "", t.o[1])
    return Labels(by_iri, vocab)


def node_view(term: Term, labels: Labels, base: str) -> dict[str, Any]:
    """A term as the templates show it: a link with labels, or a literal with its type."""
    if term[0] == "literal":
        out: dict[str, Any] = {"text": term[1], "lang": term[2]}
        if term[3] and term[3] != XSD + "string":
            out["datatype"] = iris.curie(term[3], base)
            out["precision"] = PRECISION.get(term[3], "")
            # Dates say their precision; numbers and booleans need no label.
            out["tag"] = out["precision"] or ("" if term[3] in PLAIN_TYPES else out["datatype"])
        return out
    if term[0] == "bnode":
        return {"text": "(blank node)"}
    iri = term[1]
    return {"iri": iri, "href": iris.href(iri, base), "label": labels.get(iri), "label_zh": labels.get(iri, "zh"),
            "local": iri.startswith(base)}


def _sorted_values(values: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return sorted(values, key=lambda v: (v.get("label") or v.get("text") or "").lower())


def entity_page(iri: str, triples: Sequence[Triple], vocab: Vocabulary, graphs: Sequence[str] = (),
                base: str = config.BASE) -> dict[str, Any]:
    """The data of an entity page (HTML and JSON) from the entity's description."""
    labels = collect_labels(triples, vocab)
    own = [t for t in triples if t.s == ("uri", iri)]
    incoming = [t for t in triples if t.o == ("uri", iri) and t.s != ("uri", iri)]
    sc = iris.rebase(SC, base)
    types = sorted({t.o[1] for t in own if t.p == RDF + "type" and t.o[0] == "uri"})
    main_type = vocab.most_specific(types)
    this = vocab.label(main_type) if main_type else "thing"
    grouped: dict[str, list[Term]] = {}
    for t in own:
        grouped.setdefault(t.p, []).append(t.o)
    date_props = {sc + d for d in DATE_LOCALS}
    quote_prop = sc + "quote"
    handled = {RDF + "type", *LABEL_PROPS, SKOS + "altLabel", *DESCRIPTION_PROPS, *PROVENANCE_PROPS,
               *date_props, quote_prop}
    slug = iris.slug_of(iri, base) or ""
    path = iris.iri_to_path(iri, base) or ""
    return {
        "iri": iri,
        "slug": slug,
        "path": path,
        "label": labels.get(iri),
        "label_zh": labels.get(iri, "zh"),
        "alt_labels": _sorted_values([node_view(o, labels, base) for o in grouped.get(SKOS + "altLabel", [])]),
        "types": _sorted_values([node_view(("uri", t), labels, base) | {"class_href": class_href(t, base)}
                                 for t in types]),
        "main_type": main_type,
        "main_type_label": this,
        "descriptions": [{"property": labels.get(p), **node_view(o, labels, base)}
                         for p in DESCRIPTION_PROPS for o in grouped.get(p, [])],
        "dates": [{"property": vocab.label(p) or iris.local_name(p), "local": iris.local_name(p),
                   **node_view(o, labels, base)}
                  for p in (sc + d for d in DATE_LOCALS) for o in grouped.get(p, [])],
        "relations": _relations(grouped, handled, labels, vocab, base),
        "incoming": _incoming(incoming, labels, vocab, this, base),
        "provenance": {
            "quotes": [node_view(o, labels, base) for o in grouped.get(quote_prop, [])],
            "sources": _sorted_values(list({value(o): node_view(o, labels, base)
                                            for p in PROVENANCE_PROPS for o in grouped.get(p, [])}.values())),
            "graphs": [{"iri": g, "name": iris.local_name(g), "href": iris.href(g, base)} for g in graphs],
        },
        "formats": format_links(path),
        "query": entity_query(iri, base),
        # The editor opens a tab with it (YASGUI's share-link keys, in the fragment: a
        # /sparql?query= link would be a protocol request, answered with results).
        "query_href": "/sparql#" + urlencode({"query": entity_query(iri, base), "tabTitle": labels.get(iri) or slug},
                                             quote_via=quote),
    }


def _relations(grouped: dict[str, list[Term]], handled: set[str], labels: Labels, vocab: Vocabulary,
               base: str) -> list[dict[str, Any]]:
    out = []
    for p, objects in grouped.items():
        if p in handled:
            continue
        out.append({"property": p, "href": iris.href(p, base), "label": vocab.label(p) or iris.local_name(p),
                    "label_zh": vocab.label(p, "zh") if vocab.terms.get(p) else "",
                    "values": _sorted_values([node_view(o, labels, base) for o in objects])})
    return sorted(out, key=lambda r: r["label"].lower())


def _incoming(triples: Sequence[Triple], labels: Labels, vocab: Vocabulary, this: str,
              base: str) -> list[dict[str, Any]]:
    by_prop: dict[str, list[Term]] = {}
    for t in triples:
        by_prop.setdefault(t.p, []).append(t.s)
    out = []
    for p, subjects in by_prop.items():
        label = vocab.label(p) or iris.local_name(p)
        phrase = INCOMING_PHRASES.get(iris.local_name(p), "{label} this {this}").format(label=label, this=this)
        out.append({"property": p, "href": iris.href(p, base), "label": label, "phrase": phrase,
                    "items": _sorted_values([node_view(s, labels, base) for s in subjects])})
    return sorted(out, key=lambda r: r["phrase"].lower())


FORMAT_LINKS = (("HTML", "html"), ("Turtle", "ttl"), ("N-Triples", "nt"), ("JSON-LD", "jsonld"),
                ("RDF/XML", "rdf"), ("JSON (page data)", "json"))


# The media types of the two representations that are pages, not RDF (the rest: the formats table).
PAGE_TYPES = {"html": "text/html", "json": "application/json"}


def format_links(path: str) -> list[dict[str, str]]:
    """Links to each representation of a document (``/resource/x`` → ``/resource/x.ttl`` …).

    >>> [(f["href"], f["media_type"]) for f in format_links("/resource/x")][1:3]
    [('/resource/x.ttl', 'text/turtle'), ('/resource/x.nt', 'application/n-triples')]
    """
    return [{"name": name, "ext": ext, "href": f"{path}.{ext}", "media_type": _media_type(ext)}
            for name, ext in FORMAT_LINKS]


def _media_type(ext: str) -> str:
    rdf = formats.by_extension(ext)
    return rdf.media_type if rdf else PAGE_TYPES[ext]


def entity_query(iri: str, base: str = config.BASE) -> str:
    """The query the "query this" link opens in the editor: everything about the entity.

    >>> print(entity_query("https://spacecoop.example/resource/smile", "https://spacecoop.example/"), end="")
    PREFIX rdfs: <http://www.w3.org/2000/01/rdf-schema#>
    PREFIX scr: <https://spacecoop.example/resource/>
    # Everything the graph says about this entity, and what points at it.
    SELECT ?direction ?property ?value ?valueLabel WHERE {
      { scr:smile ?property ?value . BIND("out" AS ?direction) }
      UNION
      { ?value ?property scr:smile . BIND("in" AS ?direction) }
      OPTIONAL { ?value rdfs:label ?valueLabel FILTER(LANGMATCHES(LANG(?valueLabel), "en")) }
    }
    ORDER BY ?direction ?property
    """
    slug = iris.slug_of(iri, base)
    # A slug as the model fixes them is a valid prefixed name; anything else stays <IRI>.
    ref = f"scr:{slug}" if slug and iris.SLUG.match(slug) else f"<{iri}>"
    return (f"PREFIX rdfs: <{RDFS}>\nPREFIX scr: <{base}{iris.RESOURCE}>\n"
            "# Everything the graph says about this entity, and what points at it.\n"
            "SELECT ?direction ?property ?value ?valueLabel WHERE {\n"
            f'  {{ {ref} ?property ?value . BIND("out" AS ?direction) }}\n'
            "  UNION\n"
            f'  {{ ?value ?property {ref} . BIND("in" AS ?direction) }}\n'
            '  OPTIONAL { ?value rdfs:label ?valueLabel FILTER(LANGMATCHES(LANG(?valueLabel), "en")) }\n'
            "}\nORDER BY ?direction ?property\n")


def class_href(iri: str, base: str = config.BASE) -> str | None:
    """The index page of an ontology class (None for classes of other vocabularies)."""
    ns = iris.rebase(SC, base)
    return f"/class/{iri[len(ns):]}" if iri.startswith(ns) else None


def incoming_predicates(iri: str, triples: Iterable[Triple]) -> set[str]:
    """The properties through which other things point at ``iri`` (for its JSON-LD frame)."""
    return {t.p for t in triples if t.o == ("uri", iri) and t.s != ("uri", iri)}


# --- schema.org for search engines ------------------------------------------------------
SCHEMA_TYPES = {
    "Agency": "GovernmentOrganization", "Organization": "Organization", "Country": "Country",
    "Person": "Person", "Place": "Place", "CelestialBody": "Place", "Event": "Event",
    "SourceDocument": "NewsArticle", "Agreement": "CreativeWork", "Mission": "Thing",
}


def schema_org(page: dict[str, Any], url: str) -> dict[str, Any]:
    """A schema.org description of an entity page (embedded as ``application/ld+json``)."""
    # The most specific class decides (an Agency is also an Organization).
    locals_ = sorted((iris.local_name(t["iri"]) for t in page["types"]),
                     key=lambda local: local != iris.local_name(page["main_type"] or ""))
    schema_type = next((SCHEMA_TYPES[t] for t in locals_ if t in SCHEMA_TYPES and SCHEMA_TYPES[t] != "Thing"),
                       "Thing")
    doc: dict[str, Any] = {
        "@context": "https://schema.org",
        "@type": schema_type,
        "@id": page["iri"],
        "url": url,
        "name": page["label"],
        "additionalType": [t["iri"] for t in page["types"]],
    }
    alternates = [page["label_zh"]] if page["label_zh"] else []
    alternates += [a["text"] for a in page["alt_labels"] if a.get("text")]
    if alternates:
        doc["alternateName"] = alternates
    texts = [d["text"] for d in page["descriptions"] if d.get("text")]
    if texts:
        doc["description"] = texts[0]
    dates = {d["local"]: d["text"] for d in page["dates"] if d.get("datatype")}
    if schema_type == "Event":
        start = dates.get("date") or dates.get("earliestDate")
        end = dates.get("date") or dates.get("latestDate")
        doc |= {k: v for k, v in (("startDate", start), ("endDate", end)) if v}
    sources = page["provenance"]["sources"]
    if sources:
        doc["subjectOf"] = [{"@type": "CreativeWork", "@id": s["iri"], "name": s["label"]} for s in sources]
    return doc


def script_json(doc: dict[str, Any]) -> str:
    """JSON safe inside ``<script>``: no ``</`` can close the element early.

    >>> script_json({"a": "</script>"})
    '{"a": "<\\\\/script>"}'
    """
    return json.dumps(doc, ensure_ascii=False).replace("</", "<\\/")


# --- class index pages ------------------------------------------------------------------
@dataclass(frozen=True)
class Column:
    """An extra column of a class index: one property, forward or reverse."""

    title: str
    prop: str  # local name in the sc: namespace
    reverse: bool = False


DEFAULT_COLUMNS = (Column("status", "status"), Column("side", "side"))
CLASS_COLUMNS: dict[str, tuple[Column, ...]] = {
    "Mission": (Column("status", "status"), Column("launch vehicle", "launchedOn"),
                Column("partners", "partner"), Column("destination", "destination")),
    "Agency": (Column("side", "side"), Column("headquarters", "headquarters"), Column("country", "country")),
    "Instrument": (Column("carried on", "carriedOn"), Column("side", "side")),
    "LaunchVehicle": (Column("launches", "launchedOn", reverse=True), Column("side", "side")),
    "Contribution": (Column("to mission", "contributionTo"), Column("provided by", "providedBy")),
    "Event": (Column("mission", "mission"), Column("status", "status")),
    "Spacecraft": (Column("status", "status"), Column("modules", "hasModule")),
}


def columns_for(local: str, vocab: Vocabulary, base: str = config.BASE) -> tuple[Column, ...]:
    """The columns of a class index: its own, else the nearest superclass's, else the default."""
    if local in CLASS_COLUMNS:
        return CLASS_COLUMNS[local]
    iri = iris.rebase(SC, base) + local
    for parent in sorted(vocab.ancestors(iri)):
        if iris.local_name(parent) in CLASS_COLUMNS:
            return CLASS_COLUMNS[iris.local_name(parent)]
    return DEFAULT_COLUMNS


def _date_key(row: dict[str, Any]) -> tuple[int, str, str]:
    first = row["date"] or row["earliest"] or row["latest"]
    # ISO lexical forms of every precision sort correctly as strings ("2000" < "2024-01").
    return (0 if first else 1, first, row["label"].lower())


def class_rows(members: Sequence[dict[str, Term]], related: dict[str, dict[str, list[dict[str, str]]]],
               base: str = config.BASE) -> list[dict[str, Any]]:
    """Rows of a class index from ``CLASS_MEMBERS`` answers and per-column related values."""
    rows: dict[str, dict[str, Any]] = {}
    for m in members:
        item = value(m.get("item"))
        row = rows.setdefault(item, {"iri": item, "href": iris.href(item, base), "label": "", "label_zh": "",
                                     "date": "", "earliest": "", "latest": "", "date_text": "", "columns": {}})
        for key, var in (("label", "label"), ("label_zh", "labelZh"), ("date", "date"), ("earliest", "earliest"),
                         ("latest", "latest"), ("date_text", "dateText")):
            row[key] = row[key] or value(m.get(var))
    for row in rows.values():
        row["label"] = row["label"] or iris.local_name(row["iri"])
        row["columns"] = {title: related.get(title, {}).get(row["iri"], []) for title in related}
    return sorted(rows.values(), key=_date_key)


def related_values(rows: Sequence[dict[str, Term]], base: str = config.BASE) -> dict[str, list[dict[str, str]]]:
    """``CLASS_RELATED`` answers → item IRI → linked values (label, href), sorted by label."""
    out: dict[str, dict[str, dict[str, str]]] = {}
    for r in rows:
        other = value(r.get("other"))
        out.setdefault(value(r.get("item")), {})[other] = {
            "label": value(r.get("otherLabel")) or iris.local_name(other), "href": iris.href(other, base)}
    return {k: sorted(v.values(), key=lambda x: x["label"].lower()) for k, v in out.items()}


def is_local_name(name: str) -> bool:
    """True for a plausible ontology local name (what ``/class/{name}`` accepts).

    >>> is_local_name("LaunchVehicle"), is_local_name("a b"), is_local_name("x/../y")
    (True, False, False)
    """
    return bool(re.fullmatch(r"[A-Za-z][A-Za-z0-9_-]{0,100}", name))


# --- VoID statistics (void.py) ----------------------------------------------------------
VOID_TOTALS = """
# size of the union graph: distinct triples, subjects, properties, objects
SELECT (COUNT(*) AS ?triples) (COUNT(DISTINCT ?s) AS ?subjects) (COUNT(DISTINCT ?p) AS ?properties)
       (COUNT(DISTINCT ?o) AS ?objects)
WHERE { SELECT DISTINCT ?s ?p ?o WHERE { ?s ?p ?o } }
"""

VOID_ENTITIES = """
# ?space: the resource namespace as a string; how many entities the graph describes
SELECT (COUNT(DISTINCT ?s) AS ?n) WHERE { ?s ?p ?o FILTER(isIRI(?s) && STRSTARTS(STR(?s), ?space)) }
"""

VOID_PROPERTIES = """
# triples per property (in the union graph)
SELECT ?property (COUNT(*) AS ?n) WHERE { SELECT DISTINCT ?s ?property ?o WHERE { ?s ?property ?o } }
GROUP BY ?property ORDER BY ?property
"""

VOID_GRAPHS = """
# triples per named graph (one per source file)
SELECT ?graph (COUNT(*) AS ?n) WHERE { GRAPH ?graph { ?s ?p ?o } } GROUP BY ?graph ORDER BY ?graph
"""

VOID_EXAMPLES = _PROLOGUE + """
# a few typical entities: missions, agencies, instruments
SELECT ?entity WHERE {
  VALUES ?class { sc:Mission sc:Agency sc:Instrument }
  ?entity a ?class .
} ORDER BY ?class ?entity
"""

VOID_SOURCES = _PROLOGUE + """
# the source documents every fact is traced to
SELECT DISTINCT ?source WHERE { ?x dcterms:source ?source } ORDER BY ?source
"""

VOID_LINKSETS = _PROLOGUE + """
# links out: per linking property and the namespace of its targets, how many triples
SELECT ?property ?space (COUNT(*) AS ?n) WHERE {
  SELECT DISTINCT ?s ?property ?o ?space WHERE {
    VALUES ?property { owl:sameAs skos:exactMatch skos:closeMatch }
    VALUES ?space { "http://www.wikidata.org/entity/" }
    ?s ?property ?o .
    FILTER(isIRI(?o) && STRSTARTS(STR(?o), ?space))
  }
} GROUP BY ?property ?space ORDER BY ?property ?space
"""
