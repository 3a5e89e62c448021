"""The formats table: every RDF and SPARQL-results format the package reads or writes, once.

One row per format: the engine's name for it (``Job.result_format`` / ``Job.graph_format``),
the other short names ``format=`` accepts, its media type and the aliases clients send for
it, its file extensions, pyoxigraph's ``RdfFormat`` / ``QueryResultsFormat``, rdflib's
serializer name, its name in http://www.w3.org/ns/formats/, and whether a file in it keeps
its own named graphs. Every module that needs one of these asks here.

>>> by_extension(".ttl").media_type, by_extension("owl").name
('text/turtle', 'rdfxml')
>>> by_media_type("Application/N-Triples; charset=utf-8").name
'ntriples'
>>> by_name("xml", RESULT_FORMATS).media_type, by_name("xml", RDF_FORMATS).media_type
('application/sparql-results+xml', 'application/rdf+xml')
>>> GRAPH_ANSWERS["trig"].quads, GRAPH_ANSWERS["turtle"].rdf_format
(True, <RdfFormat Turtle>)
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from spacecoop import config

if TYPE_CHECKING:
    import pyoxigraph as ox


@dataclass(frozen=True)
class Format:
    """One RDF or SPARQL-results format (a row of the table)."""

    name: str  # the engine's name: Job.result_format / Job.graph_format
    title: str
    media_type: str
    extensions: tuple[str, ...]  # without the dot; the first is the one files are written with
    oxigraph: str  # the member of pyoxigraph's RdfFormat / QueryResultsFormat
    w3c: str  # its local name in http://www.w3.org/ns/formats/
    names: tuple[str, ...] = ()  # more short names for it (``format=ttl``), besides ``name``
    aliases: tuple[str, ...] = ()  # more media types clients ask for it by
    quads: bool = False  # a file in it keeps its own named graphs
    rdflib: str = ""  # rdflib's serializer name (RDF formats only)
    results: bool = False  # a SPARQL results format (SELECT / ASK), not an RDF one

    @property
    def extension(self) -> str:
        """The extension files in this format are written with (no dot)."""
        return self.extensions[0]

    @property
    def short_names(self) -> tuple[str, ...]:
        """Every short name: the engine's first."""
        return (self.name, *self.names)

    @property
    def media_types(self) -> tuple[str, ...]:
        """The media type, then its aliases."""
        return (self.media_type, *self.aliases)

    @property
    def iri(self) -> str:
        """The format's IRI (``sd:resultFormat``, ``void:feature``)."""
        return str(config.W3C_FORMATS[self.w3c])

    @property
    def rdf_format(self) -> ox.RdfFormat:
        """pyoxigraph's ``RdfFormat`` for this format (ValueError for a results format)."""
        import pyoxigraph as ox  # at call time: the table is read where pyoxigraph is not loaded (results' writers)

        if self.results:
            raise ValueError(f"{self.title} is a SPARQL results format, not an RDF one")
        found: ox.RdfFormat = getattr(ox.RdfFormat, self.oxigraph)
        return found

    @property
    def results_format(self) -> ox.QueryResultsFormat:
        """pyoxigraph's ``QueryResultsFormat`` for this format (ValueError for an RDF format)."""
        import pyoxigraph as ox  # at call time, as above

        if not self.results:
            raise ValueError(f"{self.title} is an RDF format, not a SPARQL results format")
        found: ox.QueryResultsFormat = getattr(ox.QueryResultsFormat, self.oxigraph)
        return found


# --- the rows -----------------------------------------------------------------------------
SPARQL_JSON = Format("json", "SPARQL results in JSON", "application/sparql-results+json", ("srj",), "JSON",
                     "SPARQL_Results_JSON", aliases=("application/json",), results=True)
SPARQL_XML = Format("xml", "SPARQL results in XML", "application/sparql-results+xml", ("srx",), "XML",
                    "SPARQL_Results_XML", aliases=("application/xml", "text/xml"), results=True)
CSV = Format("csv", "SPARQL results in CSV", "text/csv", ("csv",), "CSV", "SPARQL_Results_CSV", results=True)
TSV = Format("tsv", "SPARQL results in TSV", "text/tab-separated-values", ("tsv",), "TSV", "SPARQL_Results_TSV",
             results=True)

TURTLE = Format("turtle", "Turtle", "text/turtle", ("ttl",), "TURTLE", "Turtle", names=("ttl",),
                aliases=("application/x-turtle",), rdflib="turtle")
N_TRIPLES = Format("ntriples", "N-Triples", "application/n-triples", ("nt",), "N_TRIPLES", "N-Triples",
                   names=("nt", "n-triples"), aliases=("text/plain",), rdflib="nt")  # text/plain: N-Triples 1.0
JSON_LD = Format("jsonld", "JSON-LD", "application/ld+json", ("jsonld",), "JSON_LD", "JSON-LD",
                 names=("json-ld", "json"), aliases=("application/json",), rdflib="json-ld")
RDF_XML = Format("rdfxml", "RDF/XML", "application/rdf+xml", ("rdf", "owl", "xml"), "RDF_XML", "RDF_XML",
                 names=("rdf", "xml", "rdf/xml"), aliases=("application/xml", "text/xml"), rdflib="xml")
N_QUADS = Format("nquads", "N-Quads", "application/n-quads", ("nq",), "N_QUADS", "N-Quads", names=("nq",),
                 quads=True, rdflib="nquads")
TRIG = Format("trig", "TriG", "application/trig", ("trig",), "TRIG", "TriG", quads=True, rdflib="trig")
N3 = Format("n3", "N3", "text/n3", ("n3",), "N3", "N3", rdflib="n3")

# In the engine's order of preference (the first answers ``*/*``).
RESULT_FORMATS: tuple[Format, ...] = (SPARQL_JSON, SPARQL_XML, CSV, TSV)
RDF_FORMATS: tuple[Format, ...] = (TURTLE, N_TRIPLES, JSON_LD, RDF_XML, N_QUADS, TRIG, N3)
ALL: tuple[Format, ...] = RESULT_FORMATS + RDF_FORMATS

# What the engine answers in, by its name: SELECT/ASK, and CONSTRUCT/DESCRIBE (no N3).
RESULT_ANSWERS: dict[str, Format] = {f.name: f for f in RESULT_FORMATS}
GRAPH_ANSWERS: dict[str, Format] = {f.name: f for f in RDF_FORMATS if f is not N3}


# --- lookups ------------------------------------------------------------------------------
def by_name(name: str, among: Iterable[Format] = ALL) -> Format | None:
    """The format a short name (``format=``, case-insensitive) stands for, or None.

    A name may stand for two formats (``json``: SPARQL results or JSON-LD): ``among``
    says which kind is meant; the first row that has it wins.

    >>> by_name("TTL").name, by_name("json", RDF_FORMATS).name, by_name("csv", RDF_FORMATS)
    ('turtle', 'jsonld', None)
    """
    wanted = name.strip().lower()
    return next((f for f in among if wanted in f.short_names), None)


def by_media_type(media_type: str, among: Iterable[Format] = ALL) -> Format | None:
    """The format of a media type (parameters and case ignored), or None; a format's own
    media type wins over another's alias.

    >>> by_media_type("application/json").name, by_media_type("application/json", RDF_FORMATS).name
    ('json', 'jsonld')
    >>> by_media_type("image/png") is None
    True
    """
    wanted = media_type.split(";", 1)[0].strip().lower()
    rows = tuple(among)
    return next((f for f in rows if f.media_type == wanted), None) \
        or next((f for f in rows if wanted in f.aliases), None)


def by_extension(extension: str, among: Iterable[Format] = RDF_FORMATS) -> Format | None:
    """The RDF format of a file extension (with or without its dot, any case), or None.

    >>> by_extension(".NQ").quads, by_extension("trig").quads, by_extension(".txt")
    (True, True, None)
    """
    wanted = extension.lower().removeprefix(".")
    return next((f for f in among if wanted in f.extensions), None)


__all__ = ["ALL", "CSV", "GRAPH_ANSWERS", "JSON_LD", "N3", "N_QUADS", "N_TRIPLES", "RDF_FORMATS", "RDF_XML",
           "RESULT_ANSWERS", "RESULT_FORMATS", "SPARQL_JSON", "SPARQL_XML", "TRIG", "TSV", "TURTLE", "Format",
           "by_extension", "by_media_type", "by_name"]
