"""JSON-LD: the published ``@context``, a pinned document loader, compaction and framing.

Every JSON-LD document the project writes is produced by pyld (a JSON-LD 1.1 processor
independent of the Turtle/N-Quads serializers), from N-Quads:

* ``from_nquads`` — N-Quads → expanded JSON-LD (integers and booleans become JSON numbers
  and booleans only when that is lossless);
* ``compact`` — expanded → compacted with the published context (``/context.jsonld``);
* ``frame`` — expanded → a JSON-LD 1.1 framed document (frames in ``ontology/frames/``).

Documents refer to the context by URL (``{BASE}context.jsonld``). The document loader is
pinned: it answers that URL (and the canonical one) from ``ontology/context.jsonld`` and
refuses every other URL, so no processing step ever reaches the network.

>>> context_url("https://spacecoop.example/")
'https://spacecoop.example/context.jsonld'
>>> load = document_loader("https://spacecoop.example/")
>>> load("https://spacecoop.example/context.jsonld", {})["document"]["@context"]["@vocab"]
'https://spacecoop.example/ontology#'
>>> load("https://schema.org/", {})
Traceback (most recent call last):
...
spacecoop.jsonld.RemoteDocumentRefused: refusing to load https://schema.org/: no remote documents are fetched
"""

from __future__ import annotations

import copy
import functools
import json
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from pyld import jsonld as pyld
from pyld.jsonld import JsonLdError

from spacecoop import config

FRAMES_DIR = config.ONTOLOGY_DIR / "frames"
CONTEXT_NAME = "context.jsonld"
MEDIA_TYPE = "application/ld+json"
XSD = "http://www.w3.org/2001/XMLSchema#"
RDF = "http://www.w3.org/1999/02/22-rdf-syntax-ns#"
OWL = "http://www.w3.org/2002/07/owl#"
RDFS = "http://www.w3.org/2000/01/rdf-schema#"

JsonDoc = dict[str, Any]
Loader = Callable[[str, Any], dict[str, Any]]


class RemoteDocumentRefused(JsonLdError):
    """Raised by the pinned loader for any URL but our own context."""

    def __init__(self, url: str) -> None:
        super().__init__(
            f"refusing to load {url}: no remote documents are fetched",
            "jsonld.LoadDocumentError", {"url": url}, code="loading remote context failed",
        )
        self.url = url

    def __str__(self) -> str:
        # pyld's own __str__ appends a multi-line dump of the details; one line is enough.
        return str(self.args[0])


# --- the context ------------------------------------------------------------------------
# Readable keys for the standard properties the data uses (docs/model.md §4). The
# ontology's own properties are added from the ontology (``build_context``), so that a
# new sc: property gets its key and coercion without editing this table.
STANDARD_TERMS: dict[str, Any] = {
    "id": "@id",
    "type": "@type",
    "label": {"@id": "rdfs:label", "@container": "@language"},
    "comment": {"@id": "rdfs:comment", "@container": "@language"},
    "seeAlso": {"@id": "rdfs:seeAlso", "@type": "@id"},
    "isDefinedBy": {"@id": "rdfs:isDefinedBy", "@type": "@id"},
    "subClassOf": {"@id": "rdfs:subClassOf", "@type": "@id"},
    "subPropertyOf": {"@id": "rdfs:subPropertyOf", "@type": "@id"},
    "domain": {"@id": "rdfs:domain", "@type": "@id"},
    "range": {"@id": "rdfs:range", "@type": "@id"},
    "unionOf": {"@id": "owl:unionOf", "@type": "@id", "@container": "@list"},
    "prefLabel": {"@id": "skos:prefLabel", "@container": "@language"},
    "altLabel": {"@id": "skos:altLabel", "@container": "@language"},
    "definition": {"@id": "skos:definition", "@container": "@language"},
    "inScheme": {"@id": "skos:inScheme", "@type": "@id"},
    "topConceptOf": {"@id": "skos:topConceptOf", "@type": "@id"},
    "hasTopConcept": {"@id": "skos:hasTopConcept", "@type": "@id"},
    "closeMatch": {"@id": "skos:closeMatch", "@type": "@id"},
    "exactMatch": {"@id": "skos:exactMatch", "@type": "@id"},
    "title": {"@id": "dcterms:title", "@container": "@language"},
    "description": {"@id": "dcterms:description", "@container": "@language"},
    "source": {"@id": "dcterms:source", "@type": "@id"},
    "license": {"@id": "dcterms:license", "@type": "@id"},
    "creator": "dcterms:creator",
    "identifier": "dcterms:identifier",
    "language": "dcterms:language",
    "wasDerivedFrom": {"@id": "prov:wasDerivedFrom", "@type": "@id"},
    "wasAttributedTo": {"@id": "prov:wasAttributedTo", "@type": "@id"},
    "duration": {"@id": "schema:duration", "@type": "xsd:duration"},
    "member": {"@id": "org:member", "@type": "@id"},
    "organization": {"@id": "org:organization", "@type": "@id"},
    "role": {"@id": "org:role", "@type": "@id"},
    "memberOf": {"@id": "org:memberOf", "@type": "@id"},
    "headOf": {"@id": "org:headOf", "@type": "@id"},
}

# Reverse keys, for frames that nest things under what they point to ("the instruments
# carried on this mission"). Compaction of a plain graph never produces @reverse, so
# these only ever appear in framed documents.
REVERSE_TERMS: dict[str, Any] = {
    "instruments": {"@reverse": "sc:carriedOn"},
    "contributions": {"@reverse": "sc:contributionTo"},
    "events": {"@reverse": "sc:mission"},
    "segments": {"@reverse": "sc:partOfMission"},
    "providedThrough": {"@reverse": "sc:providedItem"},
    "contributionsProvided": {"@reverse": "sc:providedBy"},
    "missionsLaunched": {"@reverse": "sc:launchedOn"},
    "missionsOperated": {"@reverse": "sc:operatedBy"},
    "missionsLed": {"@reverse": "sc:ledBy"},
    "partnerIn": {"@reverse": "sc:partner"},
    "memberships": {"@reverse": "org:organization"},
}

# Prefixes in the context: config.PREFIXES minus those nobody reads in JSON.
_CONTEXT_PREFIXES = ("sc", "scr", "scg", "scq", "rdf", "rdfs", "owl", "xsd", "skos", "dcterms", "prov",
                     "schema", "org", "void", "dcat", "sd", "sh", "wd", "wdt")


def build_context(ontology: Iterable[tuple[str, str, str]]) -> JsonDoc:
    """The context document, from the ontology's (subject, predicate, object) IRIs/values.

    Object properties get ``"@type": "@id"``; ``rdf:langString`` datatype properties a
    language map (``"quote": {"en": [...]}``); other datatype properties a plain key:
    dates keep their datatype (it is their precision), numbers and booleans are JSON
    numbers and booleans.

    >>> sc = config.CANONICAL_BASE + "ontology#"
    >>> ctx = build_context([(sc + "launchedOn", RDF + "type", OWL + "ObjectProperty"),
    ...                      (sc + "quote", RDF + "type", OWL + "DatatypeProperty"),
    ...                      (sc + "quote", RDFS + "range", RDF + "langString")])["@context"]
    >>> ctx["launchedOn"], ctx["quote"]
    ({'@id': 'sc:launchedOn', '@type': '@id'}, {'@id': 'sc:quote', '@container': '@language'})
    """
    sc = config.CANONICAL_BASE + "ontology#"
    kinds: dict[str, str] = {}
    ranges: dict[str, str] = {}
    for s, p, o in ontology:
        if not s.startswith(sc):
            continue
        if p == RDF + "type" and o in (OWL + "ObjectProperty", OWL + "DatatypeProperty"):
            kinds[s] = o
        elif p == RDFS + "range":
            ranges[s] = o
    ctx: JsonDoc = {"@version": 1.1, "@vocab": sc}
    ctx.update({p: config.PREFIXES[p] for p in _CONTEXT_PREFIXES})
    ctx.update(STANDARD_TERMS)
    for iri in sorted(kinds):
        key = iri[len(sc):]
        if key in ctx:  # a standard key wins; the sc: term stays reachable as sc:key
            continue
        if kinds[iri] == OWL + "ObjectProperty":
            ctx[key] = {"@id": f"sc:{key}", "@type": "@id"}
        elif ranges.get(iri) == RDF + "langString":
            ctx[key] = {"@id": f"sc:{key}", "@container": "@language"}
        else:
            ctx[key] = f"sc:{key}"
    ctx.update(REVERSE_TERMS)
    return {"@context": ctx}


def context_from_ontology_file(path: Path | None = None) -> JsonDoc:
    """``build_context`` over the bundled ontology file (canonical IRIs)."""
    import pyoxigraph as ox

    path = path or config.ONTOLOGY_DIR / "spacecoop.ttl"
    triples = []
    for q in ox.parse(path=str(path), format=ox.RdfFormat.TURTLE):
        obj = q.object.value if isinstance(q.object, ox.NamedNode | ox.Literal) else ""
        triples.append((getattr(q.subject, "value", ""), q.predicate.value, obj))
    return build_context(triples)


def context_url(base: str = config.BASE) -> str:
    """Where the context is published (and the URL documents use in ``@context``)."""
    return base + CONTEXT_NAME


@functools.cache
def _canonical_context() -> JsonDoc:
    return json.loads(config.CONTEXT_FILE.read_text(encoding="utf-8"))


def _rebased(doc: Any, base: str) -> Any:
    if base == config.CANONICAL_BASE:
        return doc
    # The context only holds IRIs as plain strings: moving the base is a string rewrite.
    return json.loads(json.dumps(doc).replace(config.CANONICAL_BASE, base))


@functools.cache
def context(base: str = config.BASE) -> JsonDoc:
    """The context document as served for ``base`` (a copy is safe to change)."""
    return _rebased(_canonical_context(), base)


def document_loader(base: str = config.BASE) -> Loader:
    """A pyld document loader that knows only our context, and refuses anything else."""
    known = {context_url(config.CANONICAL_BASE): config.CANONICAL_BASE, context_url(base): base}

    def load(url: str, options: Any = None) -> dict[str, Any]:
        if url not in known:
            raise RemoteDocumentRefused(url)
        return {"contentType": MEDIA_TYPE, "contextUrl": None, "documentUrl": url,
                "document": copy.deepcopy(context(known[url]))}

    return load


# Belt and braces: pyld's own default loader would fetch over HTTP; any pyld call in this
# process that forgets to pass our loader still cannot reach the network.
pyld.set_document_loader(document_loader())


def _options(base: str, **extra: Any) -> dict[str, Any]:
    return {"documentLoader": document_loader(base), **extra}


# --- processing -------------------------------------------------------------------------
def from_nquads(nquads: str, base: str = config.BASE) -> list[JsonDoc]:
    """N-Quads → expanded JSON-LD (lossless; numbers and booleans native when canonical)."""
    expanded = pyld.from_rdf(nquads, _options(base, format="application/n-quads"))
    return _native_values(expanded)


def _native(value: JsonDoc) -> JsonDoc:
    """A value object as a JSON number/boolean if the RDF term survives the round trip.

    >>> _native({"@value": "4", "@type": XSD + "integer"}), _native({"@value": "04", "@type": XSD + "integer"})
    ({'@value': 4}, {'@value': '04', '@type': 'http://www.w3.org/2001/XMLSchema#integer'})
    >>> _native({"@value": "true", "@type": XSD + "boolean"})
    {'@value': True}
    """
    lexical, dtype = value.get("@value"), value.get("@type")
    if dtype == XSD + "integer" and isinstance(lexical, str):
        try:
            number = int(lexical)
        except ValueError:
            return value
        # pyld writes a JSON integer back as str(n): only canonical lexical forms qualify.
        return {"@value": number} if str(number) == lexical else value
    if dtype == XSD + "boolean" and lexical in ("true", "false"):
        return {"@value": lexical == "true"}
    return value


def _native_values(node: Any) -> Any:
    if isinstance(node, list):
        return [_native_values(x) for x in node]
    if isinstance(node, dict):
        if "@value" in node:
            return _native(node)
        return {k: _native_values(v) for k, v in node.items()}
    return node


def compact(expanded: list[JsonDoc], base: str = config.BASE) -> JsonDoc:
    """Compact with the published context; ``@context`` stays a reference to its URL."""
    doc = pyld.compact(expanded, context_url(base), _options(base))
    if isinstance(doc.get("@graph"), list):
        # IRIs first, blank nodes (the ontology's class unions) after: people read entities.
        doc["@graph"].sort(key=lambda n: (str(n.get("id", "")).startswith("_:"), str(n.get("id", ""))))
    return tidy(doc)


def frame(expanded: list[JsonDoc], frame_doc: JsonDoc, base: str = config.BASE,
          omit_graph: bool = False) -> JsonDoc:
    """Frame (JSON-LD 1.1) an expanded document with ``frame_doc``.

    With ``omit_graph`` a single top-level node is the document itself (one entity);
    otherwise the matches are always a ``@graph`` list (one per mission, say).
    """
    # omitDefault: a property a frame asks for but a node lacks is left out, not set to null.
    doc = pyld.frame(expanded, frame_doc, _options(base, omitGraph=omit_graph, omitDefault=True))
    return tidy(doc)


_FIRST_KEYS = ("@context", "id", "@id", "type", "@type", "label", "prefLabel", "altLabel")


def tidy(node: Any) -> Any:
    """Key order for people: id, type and labels first, the rest alphabetical.

    JSON object order carries no meaning in JSON-LD, so this changes no triple.

    >>> list(tidy({"zeta": 1, "label": {"en": "x"}, "id": "scr:a", "alpha": [{"b": 1, "id": "y"}]}))
    ['id', 'label', 'alpha', 'zeta']
    """
    if isinstance(node, list):
        return [tidy(x) for x in node]
    if not isinstance(node, dict) or "@value" in node:
        return node
    first = [k for k in _FIRST_KEYS if k in node]
    rest = sorted((k for k in node if k not in first), key=lambda k: (k.startswith("@"), k.lower()))
    return {k: node[k] if k == "@context" else tidy(node[k]) for k in first + rest}


def expand(doc: Any, base: str = config.BASE) -> list[JsonDoc]:
    """Expand any JSON-LD document (for the round-trip checks), with the pinned loader."""
    return pyld.expand(doc, _options(base))


def to_nquads(doc: Any, base: str = config.BASE) -> str:
    """A JSON-LD document's RDF as N-Quads, by pyld."""
    return pyld.to_rdf(doc, _options(base, format="application/n-quads"))


def dumps(doc: JsonDoc) -> bytes:
    """The JSON text of a document: indented, UTF-8 kept readable (Chinese labels)."""
    return (json.dumps(doc, ensure_ascii=False, indent=2) + "\n").encode("utf-8")


# --- frames -----------------------------------------------------------------------------
def frame_names() -> list[str]:
    """The frames shipped in ``ontology/frames/`` (``mission``, ``agency``, …)."""
    return sorted(p.stem for p in FRAMES_DIR.glob("*.json"))


def load_frame(name: str, base: str = config.BASE) -> JsonDoc:
    """A named frame, rebased; ``KeyError`` names the frames that exist."""
    path = FRAMES_DIR / f"{name}.json"
    if name not in frame_names():
        raise KeyError(f"no frame {name!r}; frames: {', '.join(frame_names()) or 'none'}")
    return _rebased(json.loads(path.read_text(encoding="utf-8")), base)


def entity_frame(iri: str, incoming: Iterable[str], base: str = config.BASE) -> JsonDoc:
    """The frame of one entity's description: the entity at the top, what it links to
    embedded under its properties, and what links to it nested under ``@reverse``."""
    doc: JsonDoc = {"@context": context_url(base), "@id": iri, "@embed": "@once"}
    reverse = {p: {"@embed": "@once"} for p in sorted(set(incoming))}
    if reverse:
        doc["@reverse"] = reverse
    return doc


def format_context(doc: JsonDoc) -> str:
    """The context file's text: one term per line, so a diff shows one changed term.

    >>> print(format_context({"@context": {"@version": 1.1, "id": "@id"}}), end="")
    {
      "@context": {
        "@version": 1.1,
        "id": "@id"
      }
    }
    """
    terms = doc["@context"]
    lines = [f"    {json.dumps(k)}: {json.dumps(v, ensure_ascii=False)}" for k, v in terms.items()]
    return '{\n  "@context": {\n' + ",\n".join(lines) + "\n  }\n}\n"


def entity_document(nquads: str, iri: str, incoming: Iterable[str], base: str = config.BASE) -> JsonDoc:
    """The framed JSON-LD document of one entity's description (``/resource/{slug}.jsonld``).

    Everything in the description is reachable from the entity — forward through its
    properties, backward through ``@reverse`` — except the labels of its classes: ``@type``
    values cannot embed nodes, so those class nodes ride along under ``@included``.
    """
    expanded = from_nquads(nquads, base)
    doc = frame(expanded, entity_frame(iri, incoming, base), base, omit_graph=True)
    types: list[str] = next((n.get("@type", []) for n in expanded if n.get("@id") == iri), [])
    classes = [n for n in expanded if n.get("@id") in types and len(n) > 1]
    if classes:
        extra = compact(classes, base)
        doc["@included"] = extra.get("@graph", [{k: v for k, v in extra.items() if k != "@context"}])
    return doc


def main() -> None:  # pragma: no cover - a maintenance entry point
    """``python -m spacecoop.jsonld > ontology/context.jsonld`` regenerates the context."""
    print(format_context(context_from_ontology_file()), end="")


if __name__ == "__main__":  # pragma: no cover
    main()
