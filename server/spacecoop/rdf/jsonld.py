"""JSON-LD: the published ``@context``, a pinned document loader, compaction and framing.

Every JSON-LD document the project writes is produced by pyld (a JSON-LD 1.1 processor
independent of the Turtle/N-Quads serializers), from N-Quads:

* ``from_nquads`` — N-Quads → expanded JSON-LD (integers and booleans become JSON numbers
  and booleans only when that is lossless);
* ``compact`` — expanded → compacted with the published context (``/context.jsonld``);
* ``frame`` — expanded → a JSON-LD 1.1 framed document (frames in ``ontology/frames/``).

Documents name the context by a URL a consumer can fetch from where it got them: the
server's public URL + ``context.jsonld`` (``published_context_url``; the server serves it
there), so pyld's and jsonld.js's default loaders expand any document of ours. Answers
also carry it in a ``Link: <…>; rel="http://www.w3.org/ns/json-ld#context"`` header
(``context_link``). Processing here never fetches: the document loader is pinned, answers
``{BASE}context.jsonld`` (and the canonical one) from ``ontology/context.jsonld`` and
refuses every other URL; a document is processed against that URL and renamed at the end.

Multi-valued properties are always arrays (``"@container": "@set"``), whatever one entity
happens to hold: a key is a single value only where the model says there is at most one
(``owl:FunctionalProperty``, or a SHACL ``sh:maxCount 1`` on every subject that may use
it); a language map gives one string per language only under ``sh:uniqueLang``.

>>> context_url("https://spacecoop.example/")
'https://spacecoop.example/context.jsonld'
>>> published_context_url(config.Settings(public_url="http://127.0.0.1:8000"))
'http://127.0.0.1:8000/context.jsonld'
>>> load = document_loader("https://spacecoop.example/")
>>> load("https://spacecoop.example/context.jsonld", {})["document"]["@context"]["@vocab"]
'https://spacecoop.example/ontology#'
>>> load("https://schema.org/", {})
Traceback (most recent call last):
...
spacecoop.rdf.jsonld.RemoteDocumentRefused: refusing to load https://schema.org/: no remote documents are fetched
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
from spacecoop.rdf import formats

FRAMES_DIR = config.ONTOLOGY_DIR / "frames"
CONTEXT_NAME = "context.jsonld"
MEDIA_TYPE = formats.JSON_LD.media_type  # of the documents made here
XSD, RDF, OWL, RDFS, SH = (str(ns) for ns in (config.XSD, config.RDF, config.OWL, config.RDFS, config.SH))

JsonDoc = dict[str, Any]
Loader = Callable[[str, Any], dict[str, Any]]


class RemoteDocumentRefused(JsonLdError):  # type: ignore[misc]  # pyld has no type hints
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
    "type": {"@id": "@type", "@container": "@set"},  # an entity may have several types
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
# these only ever appear in framed documents. Always arrays: many things may point to one.
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


Triple = tuple[str, str, str]  # IRIs, "_:id" blank nodes and literal values, as text


def cardinalities(ontology: Iterable[Triple], shapes: Iterable[Triple] = ()) -> tuple[set[str], set[str]]:
    """The properties with at most one value per subject, and those with at most one per language.

    At most one: ``owl:FunctionalProperty``, or ``sh:maxCount 1`` in a shape that reaches
    every subject using the property (``sh:targetSubjectsOf`` it, or ``sh:targetClass`` its
    ``rdfs:domain``). One per language: ``sh:uniqueLang true`` reached the same way. A
    bound on one class only (``sc:mission`` on mission starts) says nothing of the others.

    >>> sc = config.CANONICAL_BASE + "ontology#"
    >>> single, per_lang = cardinalities(
    ...     [(sc + "status", RDF + "type", OWL + "FunctionalProperty"), (sc + "to", RDFS + "domain", sc + "C")],
    ...     [("_:n", SH + "targetClass", sc + "C"), ("_:n", SH + "property", "_:p"),
    ...      ("_:p", SH + "path", sc + "to"), ("_:p", SH + "maxCount", "1"),
    ...      ("_:m", SH + "targetClass", sc + "D"), ("_:m", SH + "property", "_:q"),
    ...      ("_:q", SH + "path", sc + "mission"), ("_:q", SH + "maxCount", "1")])
    >>> sorted(x.removeprefix(sc) for x in single), per_lang
    (['status', 'to'], set())
    """
    single = {s for s, p, o in ontology if p == RDF + "type" and o == OWL + "FunctionalProperty"}
    domains: dict[str, set[str]] = {}
    for s, p, o in ontology:
        if p == RDFS + "domain":
            domains.setdefault(s, set()).add(o)
    facts: dict[str, dict[str, set[str]]] = {}
    for s, p, o in shapes:
        facts.setdefault(s, {}).setdefault(p, set()).add(o)
    per_lang: set[str] = set()
    for node in facts.values():
        subjects_of = node.get(SH + "targetSubjectsOf", set())
        classes = node.get(SH + "targetClass", set())
        for shape in node.get(SH + "property", ()):
            prop = facts.get(shape, {})
            for path in prop.get(SH + "path", ()):
                # Every subject using the path is reached: the shape targets its users, or
                # the one class its domain names.
                if not (path in subjects_of or (domains.get(path) and domains[path] <= classes)):
                    continue
                if "1" in prop.get(SH + "maxCount", ()) or "0" in prop.get(SH + "maxCount", ()):
                    single.add(path)
                if "true" in prop.get(SH + "uniqueLang", ()):
                    per_lang.add(path)
    return single, per_lang


def _expand_curie(value: str) -> str:
    prefix, _, rest = value.partition(":")
    return config.PREFIXES[prefix] + rest if prefix in config.PREFIXES else value


def _with_cardinality(term: Any, single: set[str], per_lang: set[str]) -> Any:
    """A term definition made an array (``@set``) unless the model allows one value only."""
    written = term
    if not isinstance(term, dict):  # "creator": "dcterms:creator"
        term = {"@id": term}
    name = term.get("@reverse") or term["@id"]
    container = term.get("@container")
    if name.startswith("@") or container == "@list" or (_expand_curie(name) in single and "@reverse" not in term):
        return written  # id and type are keywords; lists are ordered; single values stay single
    if container == "@language":
        return term if _expand_curie(name) in per_lang else {**term, "@container": ["@language", "@set"]}
    return {**term, "@container": "@set"}


def build_context(ontology: Iterable[Triple], shapes: Iterable[Triple] = ()) -> JsonDoc:
    """The context document, from the ontology's and the shapes' (subject, predicate, object).

    Object properties get ``"@type": "@id"``; ``rdf:langString`` datatype properties a
    language map (``"quote": {"en": [...]}``); other datatype properties a plain key:
    dates keep their datatype (it is their precision), numbers and booleans are JSON
    numbers and booleans. Every key is an array but where the model says "at most one"
    (``cardinalities``).

    >>> sc = config.CANONICAL_BASE + "ontology#"
    >>> ctx = build_context([(sc + "launchedOn", RDF + "type", OWL + "ObjectProperty"),
    ...                      (sc + "status", RDF + "type", OWL + "ObjectProperty"),
    ...                      (sc + "status", RDF + "type", OWL + "FunctionalProperty"),
    ...                      (sc + "quote", RDF + "type", OWL + "DatatypeProperty"),
    ...                      (sc + "quote", RDFS + "range", RDF + "langString")])["@context"]
    >>> ctx["launchedOn"], ctx["status"]
    ({'@id': 'sc:launchedOn', '@type': '@id', '@container': '@set'}, {'@id': 'sc:status', '@type': '@id'})
    >>> ctx["quote"], ctx["events"]
    ({'@id': 'sc:quote', '@container': ['@language', '@set']}, {'@reverse': 'sc:mission', '@container': '@set'})
    """
    ontology, shapes = list(ontology), list(shapes)
    single, per_lang = cardinalities(ontology, shapes)
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
    ctx.update({k: _with_cardinality(v, single, per_lang) for k, v in STANDARD_TERMS.items()})
    for iri in sorted(kinds):
        key = iri[len(sc):]
        if key in ctx:  # a standard key wins; the sc: term stays reachable as sc:key
            continue
        if kinds[iri] == OWL + "ObjectProperty":
            term: Any = {"@id": f"sc:{key}", "@type": "@id"}
        elif ranges.get(iri) == RDF + "langString":
            term = {"@id": f"sc:{key}", "@container": "@language"}
        else:
            term = f"sc:{key}"
        ctx[key] = _with_cardinality(term, single, per_lang)
    ctx.update({k: _with_cardinality(v, single, per_lang) for k, v in REVERSE_TERMS.items()})
    return {"@context": ctx}


def read_triples(path: Path) -> list[Triple]:
    """A Turtle file's triples as text (blank nodes ``_:id``, literals by value)."""
    import pyoxigraph as ox

    def text(term: Any) -> str:
        return f"_:{term.value}" if isinstance(term, ox.BlankNode) else str(getattr(term, "value", ""))

    return [(text(q.subject), q.predicate.value, text(q.object))
            for q in ox.parse(path=str(path), format=formats.TURTLE.rdf_format)]


def context_from_ontology_file(path: Path | None = None, shapes_dir: Path | None = None) -> JsonDoc:
    """``build_context`` over the bundled ontology and shapes (canonical IRIs)."""
    path = path or config.ONTOLOGY_DIR / "spacecoop.ttl"
    folder = shapes_dir or config.SHAPES_DIR
    shapes = [t for f in sorted(folder.glob("*.ttl")) for t in read_triples(f)]
    return build_context(read_triples(path), shapes)


def context_url(base: str = config.BASE) -> str:
    """The context's IRI under a base: what documents are processed against (offline)."""
    return base + CONTEXT_NAME


def published_context_url(settings: config.Settings) -> str:
    """The context URL documents name: on the server's public URL, where a consumer that
    got a document from us fetches the context (the base when no public URL is known:
    the CLI's exports, an app built without one)."""
    return (settings.public_url or settings.base) + CONTEXT_NAME


def context_link(url: str) -> str:
    """The ``Link`` header value naming ``url`` as the JSON-LD context of a JSON answer.

    >>> context_link("http://127.0.0.1:8000/context.jsonld")
    '<http://127.0.0.1:8000/context.jsonld>; rel="http://www.w3.org/ns/json-ld#context"; type="application/ld+json"'
    """
    return f'<{url}>; rel="http://www.w3.org/ns/json-ld#context"; type="{MEDIA_TYPE}"'


@functools.cache
def _canonical_context() -> JsonDoc:
    doc: JsonDoc = json.loads(config.CONTEXT_FILE.read_text(encoding="utf-8"))
    return doc


def _rebased(doc: Any, base: str) -> Any:
    if base == config.CANONICAL_BASE:
        return doc
    # The context only holds IRIs as plain strings: moving the base is a string rewrite.
    return json.loads(json.dumps(doc).replace(config.CANONICAL_BASE, base))


@functools.cache
def context(base: str = config.BASE) -> JsonDoc:
    """The context document as served for ``base`` (a copy is safe to change)."""
    doc: JsonDoc = _rebased(_canonical_context(), base)
    return doc


def document_loader(base: str = config.BASE, published: Iterable[str] = ()) -> Loader:
    """A pyld document loader that knows only our context, and refuses anything else.

    ``published``: URLs where a server of ours publishes the context for ``base`` (what
    its documents name), answered from the same file, never fetched.
    """
    known = {context_url(config.CANONICAL_BASE): config.CANONICAL_BASE, context_url(base): base,
             **dict.fromkeys(published, base)}

    def load(url: str, options: Any = None) -> dict[str, Any]:
        if url not in known:
            raise RemoteDocumentRefused(url)
        return {"contentType": MEDIA_TYPE, "contextUrl": None, "documentUrl": url,
                "document": copy.deepcopy(context(known[url]))}

    return load


# Belt and braces: pyld's own default loader would fetch over HTTP; any pyld call in this
# process that forgets to pass our loader still cannot reach the network.
pyld.set_document_loader(document_loader())


def _options(base: str, published: Iterable[str] = (), **extra: Any) -> dict[str, Any]:
    return {"documentLoader": document_loader(base, published), **extra}


def _named(doc: JsonDoc, context: str | None) -> JsonDoc:
    """``doc`` naming ``context`` (processed against the offline one; same terms)."""
    if context is not None and "@context" in doc:
        doc["@context"] = context
    return doc


# --- processing -------------------------------------------------------------------------
def from_nquads(nquads: str, base: str = config.BASE) -> list[JsonDoc]:
    """N-Quads → expanded JSON-LD (lossless; numbers and booleans native when canonical)."""
    expanded = pyld.from_rdf(nquads, _options(base, format=formats.N_QUADS.media_type))
    native: list[JsonDoc] = _native_values(expanded)
    return native


def native(value: JsonDoc) -> JsonDoc:
    """A value object as a JSON number/boolean if the RDF term survives the round trip
    (the one rule for every JSON-LD document of ours, whole-graph or streamed).

    >>> native({"@value": "4", "@type": XSD + "integer"}), native({"@value": "04", "@type": XSD + "integer"})
    ({'@value': 4}, {'@value': '04', '@type': 'http://www.w3.org/2001/XMLSchema#integer'})
    >>> native({"@value": "true", "@type": XSD + "boolean"})
    {'@value': True}
    >>> native({"@value": "1" + "0" * 21, "@type": XSD + "integer"})["@type"]  # pyld would read it back as a double
    'http://www.w3.org/2001/XMLSchema#integer'
    """
    lexical, dtype = value.get("@value"), value.get("@type")
    if dtype == XSD + "integer" and isinstance(lexical, str):
        try:
            number = int(lexical)
        except ValueError:
            return value
        # pyld writes a JSON integer back as str(n): only canonical lexical forms qualify, and
        # only below 10^21, where JSON-LD's number-to-RDF rule still gives an xsd:integer.
        return {"@value": number} if str(number) == lexical and abs(number) < 10**21 else value
    if dtype == XSD + "boolean" and lexical in ("true", "false"):
        return {"@value": lexical == "true"}
    return value


def _native_values(node: Any) -> Any:
    if isinstance(node, list):
        return [_native_values(x) for x in node]
    if isinstance(node, dict):
        if "@value" in node:
            return native(node)
        return {k: _native_values(v) for k, v in node.items()}
    return node


def compact(expanded: list[JsonDoc], base: str = config.BASE, context: str | None = None) -> JsonDoc:
    """Compact with our context; ``@context`` is a reference to its URL (``context``, else
    the base's: see ``published_context_url``)."""
    doc = pyld.compact(expanded, context_url(base), _options(base))
    if isinstance(doc.get("@graph"), list):
        # IRIs first, blank nodes (the ontology's class unions) after: people read entities.
        doc["@graph"].sort(key=lambda n: (str(n.get("id", "")).startswith("_:"), str(n.get("id", ""))))
    return _named(tidy(doc), context)


def frame(expanded: list[JsonDoc], frame_doc: JsonDoc, base: str = config.BASE,
          omit_graph: bool = False, context: str | None = None) -> JsonDoc:
    """Frame (JSON-LD 1.1) an expanded document with ``frame_doc``.

    With ``omit_graph`` a single top-level node is the document itself (one entity);
    otherwise the matches are always a ``@graph`` list (one per mission, say).
    ``context``: the context URL the document names (as for ``compact``).
    """
    # omitDefault: a property a frame asks for but a node lacks is left out, not set to null.
    doc = pyld.frame(expanded, frame_doc, _options(base, omitGraph=omit_graph, omitDefault=True))
    return _named(tidy(doc), context)


_FIRST_KEYS = ("@context", "id", "@id", "type", "@type", "label", "prefLabel", "altLabel")


def tidy(node: Any) -> Any:
    """Key order for people: id, type and labels first, the rest alphabetical; the values
    of a ``@reverse`` map always arrays (many things may point to one, and a functional
    property's key says nothing of its inverse).

    JSON object order and one-element arrays carry no meaning in JSON-LD: no triple changes.

    >>> list(tidy({"zeta": 1, "label": {"en": "x"}, "id": "scr:a", "alpha": [{"b": 1, "id": "y"}]}))
    ['id', 'label', 'alpha', 'zeta']
    >>> tidy({"id": "scr:planned", "@reverse": {"status": {"id": "scr:smile"}}})["@reverse"]
    {'status': [{'id': 'scr:smile'}]}
    """
    if isinstance(node, list):
        return [tidy(x) for x in node]
    if not isinstance(node, dict) or "@value" in node:
        return node
    first = [k for k in _FIRST_KEYS if k in node]
    rest = sorted((k for k in node if k not in first), key=lambda k: (k.startswith("@"), k.lower()))
    out = {k: node[k] if k == "@context" else tidy(node[k]) for k in first + rest}
    if isinstance(out.get("@reverse"), dict):
        out["@reverse"] = {k: v if isinstance(v, list) else [v] for k, v in out["@reverse"].items()}
    return out


def expand(doc: Any, base: str = config.BASE, published: Iterable[str] = ()) -> list[JsonDoc]:
    """Expand any JSON-LD document (for the round-trip checks), with the pinned loader
    (``published``: see ``document_loader``)."""
    expanded: list[JsonDoc] = pyld.expand(doc, _options(base, published))
    return expanded


def to_nquads(doc: Any, base: str = config.BASE, published: Iterable[str] = ()) -> str:
    """A JSON-LD document's RDF as N-Quads, by pyld."""
    nquads: str = pyld.to_rdf(doc, _options(base, published, format=formats.N_QUADS.media_type))
    return nquads


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
    frame_doc: JsonDoc = _rebased(json.loads(path.read_text(encoding="utf-8")), base)
    return frame_doc


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


def entity_document(nquads: str, iri: str, incoming: Iterable[str], base: str = config.BASE,
                    context: str | None = None) -> JsonDoc:
    """The framed JSON-LD document of one entity's description (``/resource/{slug}.jsonld``).

    Everything in the description is reachable from the entity — forward through its
    properties, backward through ``@reverse`` — except the labels of its classes: ``@type``
    values cannot embed nodes, so those class nodes ride along under ``@included``.
    ``context``: the context URL the document names (as for ``compact``).
    """
    expanded = from_nquads(nquads, base)
    doc = frame(expanded, entity_frame(iri, incoming, base), base, omit_graph=True, context=context)
    types: list[str] = next((n.get("@type", []) for n in expanded if n.get("@id") == iri), [])
    classes = [n for n in expanded if n.get("@id") in types and len(n) > 1]
    if classes:
        extra = compact(classes, base)
        doc["@included"] = extra.get("@graph", [{k: v for k, v in extra.items() if k != "@context"}])
    return doc


def main() -> None:  # pragma: no cover - a maintenance entry point
    """``python -m spacecoop.rdf.jsonld > ontology/context.jsonld`` regenerates the context."""
    print(format_context(context_from_ontology_file()), end="")


if __name__ == "__main__":  # pragma: no cover
    main()
