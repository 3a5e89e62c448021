"""The dataset description at ``/.well-known/void``: VoID and DCAT, generated from the live graph.

Every number (triples, entities, classes, properties, per-class and per-property
partitions, per-named-graph subsets) is counted by SPARQL through the engine when the
description is asked for (and cached with the engine's answers), so the description
can never drift from the data. Dumps are listed with their byte sizes (once built: the
description never waits for a dump).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from rdflib import BNode, Graph, Literal, URIRef

from spacecoop import config
from spacecoop.linked import describe
from spacecoop.rdf import formats, iris, jsonld
from spacecoop.rdf.results import Term

PATH = "/.well-known/void"
LICENSE = "https://creativecommons.org/licenses/by/4.0/"
IANA = "https://www.iana.org/assignments/media-types/"
SPARQL_PROTOCOL = "https://www.w3.org/TR/sparql11-protocol/"
TITLE = "SpaceCoop KG"
DESCRIPTION = ("A linked-data knowledge graph of European–Chinese space cooperation: agencies, "
               "missions, spacecraft, instruments, launch vehicles, contributions and events, "
               "each fact traced to a quote from its source article.")

Select = Callable[..., Awaitable[list[dict[str, Term]]]]


def dataset_iri(base: str = config.BASE) -> str:
    """The IRI of the dataset the description is about (for the Service Description too)."""
    return iris.path_to_iri(PATH, base) + "#dataset"


@dataclass
class DumpInfo:
    """One downloadable file, as the description lists it."""

    url: str
    media_type: str
    title: str
    size: int | None  # None while the file is being built
    gzipped: bool = False


@dataclass
class Statistics:
    """What the live graph says about itself."""

    triples: int = 0
    entities: int = 0
    distinct_subjects: int = 0
    distinct_objects: int = 0
    properties: dict[str, int] = field(default_factory=dict)  # property → triples
    classes: dict[str, int] = field(default_factory=dict)  # class → entities
    graphs: dict[str, int] = field(default_factory=dict)  # named graph → triples
    examples: list[str] = field(default_factory=list)
    sources: list[str] = field(default_factory=list)
    vocabularies: list[str] = field(default_factory=list)
    linksets: list[tuple[str, str, int]] = field(default_factory=list)  # (property, target space, triples)


def _int(row: dict[str, Term], var: str) -> int:
    return int(describe.value(row.get(var)) or 0)


async def statistics(select: Select, base: str = config.BASE) -> Statistics:
    """Count the served graph with the ``VOID_*`` queries (``select`` is ``engine.select``)."""
    space = ("literal", base + iris.RESOURCE, None, None)
    totals = (await select(describe.VOID_TOTALS))[0]
    stats = Statistics(
        triples=_int(totals, "triples"),
        distinct_subjects=_int(totals, "subjects"),
        distinct_objects=_int(totals, "objects"),
        entities=_int((await select(describe.VOID_ENTITIES, space=space))[0], "n"),
        properties={describe.value(r["property"]): _int(r, "n") for r in await select(describe.VOID_PROPERTIES)},
        classes={describe.value(r["class"]): _int(r, "n") for r in await select(describe.CLASS_COUNTS)
                 if r.get("class", ("",))[0] == "uri"},
        graphs={describe.value(r["graph"]): _int(r, "n") for r in await select(describe.VOID_GRAPHS)},
        sources=[describe.value(r["source"]) for r in await select(describe.for_base(describe.VOID_SOURCES, base))],
    )
    stats.linksets = [(describe.value(r["property"]), describe.value(r["space"]), _int(r, "n"))
                      for r in await select(describe.VOID_LINKSETS)]
    examples = await select(describe.for_base(describe.VOID_EXAMPLES, base))
    seen: set[str] = set()
    for r in examples:  # two of each class, in a stable order
        entity = describe.value(r["entity"])
        if entity not in seen and len(seen) < 6:
            seen.add(entity)
            stats.examples.append(entity)
    stats.vocabularies = vocabularies(list(stats.properties) + list(stats.classes), base)
    return stats


def vocabularies(terms: Sequence[str], base: str = config.BASE) -> list[str]:
    """The namespaces (of ``config.PREFIXES``) that the used properties and classes come from.

    >>> vocabularies(["http://www.w3.org/2000/01/rdf-schema#label", "https://x.example/p"])
    ['http://www.w3.org/2000/01/rdf-schema#']
    """
    spaces = sorted(iris.prefixes(base).values(), key=len, reverse=True)
    used = {next((ns for ns in spaces if t.startswith(ns)), "") for t in terms}
    return sorted(u for u in used if u)


def build_graph(stats: Statistics, public: str, dumps: Sequence[DumpInfo], base: str = config.BASE) -> Graph:
    """The VoID + DCAT description as an rdflib graph.

    ``public`` is the server's address (``SPACECOOP_PUBLIC_URL`` or the request's), where
    the endpoint and the dumps actually are.
    """
    g = Graph()
    for prefix, space in (("void", config.VOID), ("dcat", config.DCAT), ("dcterms", config.DCTERMS), ("sd", config.SD),
                          ("xsd", config.XSD), ("foaf", config.FOAF), ("rdfs", config.RDFS)):
        g.bind(prefix, space)
    for prefix, ours in iris.prefixes(base).items():
        if prefix in ("sc", "scr", "scg"):
            g.bind(prefix, ours)
    ds = URIRef(dataset_iri(base))
    endpoint = URIRef(public + "/sparql")
    g.add((ds, config.RDF.type, config.VOID.Dataset))
    g.add((ds, config.RDF.type, config.DCAT.Dataset))
    g.add((ds, config.DCTERMS.title, Literal(TITLE, lang="en")))
    g.add((ds, config.DCTERMS.description, Literal(DESCRIPTION, lang="en")))
    g.add((ds, config.DCTERMS.license, URIRef(LICENSE)))
    g.add((ds, config.DCTERMS.creator, Literal("SpaceCoop KG project")))
    g.add((ds, config.DCAT.landingPage, URIRef(public + "/")))
    g.add((ds, config.FOAF.homepage, URIRef(public + "/")))
    for kw in ("space cooperation", "ESA", "CNSA", "linked data"):
        g.add((ds, config.DCAT.keyword, Literal(kw, lang="en")))
    for source in stats.sources:
        g.add((ds, config.DCTERMS.source, URIRef(source)))
    _add_void(g, ds, stats, endpoint, dumps, base)
    _add_linksets(g, ds, stats)
    _add_dcat(g, ds, endpoint, dumps)
    return g


def _add_void(g: Graph, ds: URIRef, stats: Statistics, endpoint: URIRef, dumps: Sequence[DumpInfo],
              base: str) -> None:
    g.add((ds, config.VOID.sparqlEndpoint, endpoint))
    for d in dumps:
        if not d.gzipped:
            g.add((ds, config.VOID.dataDump, URIRef(d.url)))
    g.add((ds, config.VOID.uriSpace, Literal(base + iris.RESOURCE)))
    g.add((ds, config.VOID.rootResource, URIRef(iris.ontology_iri(base))))
    for ex in stats.examples:
        g.add((ds, config.VOID.exampleResource, URIRef(ex)))
    for space in stats.vocabularies:
        g.add((ds, config.VOID.vocabulary, URIRef(space)))
    for offered in (formats.TURTLE, formats.JSON_LD, formats.N_QUADS):
        g.add((ds, config.VOID.feature, URIRef(offered.iri)))
    for prop, count in (("triples", stats.triples), ("entities", stats.entities),
                        ("classes", len(stats.classes)), ("properties", len(stats.properties)),
                        ("distinctSubjects", stats.distinct_subjects),
                        ("distinctObjects", stats.distinct_objects)):
        g.add((ds, config.VOID[prop], Literal(count, datatype=config.XSD.integer)))
    for cls, n in sorted(stats.classes.items()):
        part = BNode()
        g.add((ds, config.VOID.classPartition, part))
        g.add((part, config.VOID["class"], URIRef(cls)))
        g.add((part, config.VOID.entities, Literal(n, datatype=config.XSD.integer)))
    for prop, n in sorted(stats.properties.items()):
        part = BNode()
        g.add((ds, config.VOID.propertyPartition, part))
        g.add((part, config.VOID.property, URIRef(prop)))
        g.add((part, config.VOID.triples, Literal(n, datatype=config.XSD.integer)))
    for graph, n in sorted(stats.graphs.items()):
        sub = BNode()
        g.add((ds, config.VOID.subset, sub))
        g.add((sub, config.RDF.type, config.VOID.Dataset))
        g.add((sub, config.SD.name, URIRef(graph)))
        g.add((sub, config.DCTERMS.title, Literal(f"named graph {iris.local_name(graph)}", lang="en")))
        g.add((sub, config.VOID.triples, Literal(n, datatype=config.XSD.integer)))


def _add_dcat(g: Graph, ds: URIRef, endpoint: URIRef, dumps: Sequence[DumpInfo]) -> None:
    service = endpoint
    g.add((service, config.RDF.type, config.DCAT.DataService))
    g.add((service, config.DCTERMS.title, Literal("SpaceCoop KG SPARQL endpoint", lang="en")))
    g.add((service, config.DCAT.endpointURL, endpoint))
    g.add((service, config.DCAT.endpointDescription, endpoint))  # the Service Description is served there
    g.add((service, config.DCAT.servesDataset, ds))
    g.add((service, config.DCTERMS.conformsTo, URIRef(SPARQL_PROTOCOL)))
    g.add((service, config.DCTERMS.license, URIRef(LICENSE)))
    via_endpoint = URIRef(str(endpoint) + "#distribution")
    g.add((ds, config.DCAT.distribution, via_endpoint))
    g.add((via_endpoint, config.RDF.type, config.DCAT.Distribution))
    g.add((via_endpoint, config.DCTERMS.title, Literal("SPARQL endpoint", lang="en")))
    g.add((via_endpoint, config.DCAT.accessURL, endpoint))
    g.add((via_endpoint, config.DCAT.accessService, service))
    for d in dumps:
        dist = URIRef(d.url)
        g.add((ds, config.DCAT.distribution, dist))
        g.add((dist, config.RDF.type, config.DCAT.Distribution))
        g.add((dist, config.DCTERMS.title, Literal(d.title + (", gzipped" if d.gzipped else ""), lang="en")))
        g.add((dist, config.DCAT.downloadURL, dist))
        g.add((dist, config.DCAT.accessURL, dist))
        g.add((dist, config.DCAT.mediaType, URIRef(IANA + d.media_type)))
        g.add((dist, config.DCTERMS["format"], Literal(d.media_type)))
        g.add((dist, config.DCTERMS.license, URIRef(LICENSE)))
        if d.size is not None:
            g.add((dist, config.DCAT.byteSize, Literal(d.size, datatype=config.XSD.nonNegativeInteger)))
        if d.gzipped:
            g.add((dist, config.DCAT.compressFormat, URIRef(IANA + "application/gzip")))


# The datasets our links point into, by the namespace of their IRIs: described here so a
# linkset can name its target (the SPARQL endpoint is the one federated queries call).
LINK_TARGETS = {
    str(config.WD): {"id": "wikidata", "title": "Wikidata", "homepage": "https://www.wikidata.org/",
                     "endpoint": "https://query.wikidata.org/sparql"},
}


def _add_linksets(g: Graph, ds: URIRef, stats: Statistics) -> None:
    """One ``void:Linkset`` per linking property and target dataset, its triples counted."""
    for prop, space, n in stats.linksets:
        target = LINK_TARGETS.get(space)
        if target is None:
            continue
        other = URIRef(f"{ds}-{target['id']}")
        g.add((other, config.RDF.type, config.VOID.Dataset))
        g.add((other, config.DCTERMS.title, Literal(target["title"], lang="en")))
        g.add((other, config.FOAF.homepage, URIRef(target["homepage"])))
        g.add((other, config.VOID.uriSpace, Literal(space)))
        g.add((other, config.VOID.sparqlEndpoint, URIRef(target["endpoint"])))
        links = URIRef(f"{ds}-{target['id']}-{iris.local_name(prop)}")
        g.add((ds, config.VOID.subset, links))
        g.add((links, config.RDF.type, config.VOID.Linkset))
        g.add((links, config.VOID.subjectsTarget, ds))
        g.add((links, config.VOID.objectsTarget, other))
        g.add((links, config.VOID.linkPredicate, URIRef(prop)))
        g.add((links, config.VOID.triples, Literal(n, datatype=config.XSD.integer)))
        g.add((links, config.DCTERMS.description, Literal(
            "Each link cites the public page that states it (an sc:Citation in the graph, with "
            "sc:citedSource and sc:citedQuote).", lang="en")))


# The RDF media types the description is written in (HTML and JSON are pages of it).
RDF_FORMATS = (formats.TURTLE, formats.JSON_LD, formats.N_TRIPLES, formats.RDF_XML)


def serialize(g: Graph, media_type: str, base: str = config.BASE, context: str | None = None) -> bytes:
    """The description in one of ``RDF_FORMATS``, by media type (JSON-LD compacted with
    the published context, named ``context``: see ``jsonld.published_context_url``)."""
    fmt = formats.by_media_type(media_type, RDF_FORMATS)
    if fmt is None:
        raise ValueError(f"the description is not written as {media_type!r}")
    if fmt is formats.JSON_LD:
        nt = g.serialize(format=formats.N_TRIPLES.rdflib)
        return jsonld.dumps(jsonld.compact(jsonld.from_nquads(nt, base), base, context))
    return g.serialize(format=fmt.rdflib, encoding="utf-8")


def summary(stats: Statistics, vocab_label: Callable[[str], str], base: str = config.BASE) -> dict[str, Any]:
    """The statistics as the HTML/JSON page shows them."""
    return {
        "dataset": dataset_iri(base),
        "triples": stats.triples, "entities": stats.entities,
        "distinct_subjects": stats.distinct_subjects, "distinct_objects": stats.distinct_objects,
        "uri_space": base + iris.RESOURCE,
        "classes": [{"iri": c, "curie": iris.curie(c, base), "label": vocab_label(c), "entities": n,
                     "href": describe.class_href(c, base)} for c, n in sorted(stats.classes.items())],
        "properties": [{"iri": p, "curie": iris.curie(p, base), "label": vocab_label(p), "triples": n}
                       for p, n in sorted(stats.properties.items())],
        "graphs": [{"iri": g, "name": iris.local_name(g), "triples": n} for g, n in sorted(stats.graphs.items())],
        "examples": [{"iri": e, "href": iris.href(e, base)} for e in stats.examples],
        "vocabularies": stats.vocabularies,
        "linksets": [{"property": p, "curie": iris.curie(p, base), "target": LINK_TARGETS[t]["title"], "triples": n}
                     for p, t, n in stats.linksets if t in LINK_TARGETS],
    }
