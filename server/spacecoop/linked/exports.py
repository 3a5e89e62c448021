"""Dumps of the whole graph: one code path for ``spacecoop export`` and ``/dumps/``.

Formats: Turtle and N-Triples (the union of all named graphs), N-Quads and TriG (with
the named graphs, one per source file), JSON-LD (the union, compacted with the published
context) and framed JSON-LD (``--frame mission``: one nested document per mission).

The quads come from the same loader and sources as the engine (so a dump is exactly what
the endpoint serves), blank nodes are canonicalised and quads sorted, so the same graph
always gives the same bytes — and the same ``ETag``. Every dump is written as it is made,
in time and memory linear in the graph's size (``write_dump``); the server's files are
built, kept and listed by ``dump_files``.

>>> dump_name("ttl"), dump_name("jsonld", frame="mission")
('spacecoop.ttl', 'spacecoop-mission.jsonld')
>>> parse_dump_name("spacecoop.nq.gz"), parse_dump_name("spacecoop-mission.jsonld")
(('nq', None, True), ('jsonld', 'mission', False))
>>> parse_dump_name("other.ttl") is None
True
"""

from __future__ import annotations

import gzip
import io
import re
import shutil
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import pyoxigraph as ox

from spacecoop import config
from spacecoop.engine.store import BackendSpec, Engine
from spacecoop.rdf import formats, iris, jsonld, jsonld_stream

DUMP_STEM = "spacecoop"


@dataclass(frozen=True)
class DumpFormat:
    """One dump on offer: its row of the formats table, and how the dumps list names it."""

    format: formats.Format
    title: str

    @property
    def ext(self) -> str:
        return self.format.extension

    @property
    def media_type(self) -> str:
        return self.format.media_type

    @property
    def quads(self) -> bool:
        """Whether the dump keeps the named graphs (else it is their union)."""
        return self.format.quads

    @property
    def rdf_format(self) -> ox.RdfFormat | None:
        """pyoxigraph's writer; None for JSON-LD, which ``jsonld_stream`` writes."""
        return None if self.format is formats.JSON_LD else self.format.rdf_format


# Which dumps exist, by file extension (their media types and writers: the formats table).
FORMATS: dict[str, DumpFormat] = {d.ext: d for d in (
    DumpFormat(formats.TURTLE, "Turtle"),
    DumpFormat(formats.N_TRIPLES, "N-Triples"),
    DumpFormat(formats.N_QUADS, "N-Quads (named graphs)"),
    DumpFormat(formats.TRIG, "TriG (named graphs)"),
    DumpFormat(formats.JSON_LD, "JSON-LD (compacted)"),
)}
GZIP_MEDIA_TYPE = "application/gzip"
_NAME = re.compile(rf"^{DUMP_STEM}(?:-(?P<frame>[a-z0-9-]+))?\.(?P<ext>[a-z]+)(?P<gz>\.gz)?$")


class ExportError(Exception):
    """A dump that cannot be produced (unknown format or frame, or a remote store)."""


# --- names ------------------------------------------------------------------------------
def dump_name(fmt: str, frame: str | None = None, gz: bool = False) -> str:
    """The file name of a dump (the same under ``/dumps/`` and as the CLI's suggestion)."""
    stem = f"{DUMP_STEM}-{frame}" if frame else DUMP_STEM
    return f"{stem}.{fmt}" + (".gz" if gz else "")


def parse_dump_name(name: str) -> tuple[str, str | None, bool] | None:
    """``(format, frame, gzipped)`` for a dump file name, or None if it is not one."""
    m = _NAME.match(name)
    if not m or m["ext"] not in FORMATS or (m["frame"] and m["ext"] != "jsonld"):
        return None
    return m["ext"], m["frame"], bool(m["gz"])


# --- the graph --------------------------------------------------------------------------
def snapshot_quads(snapshot: BackendSpec) -> Iterator[ox.Quad]:
    """The quads of what an engine's workers open (``Engine.snapshot``): its stamped store,
    or the snapshot file it wrote at start — never the source files, which may have
    changed since, so that a dump holds exactly what SPARQL answers from."""
    if snapshot.kind == "oxigraph-path":
        yield from ox.Store.read_only(snapshot.path).quads_for_pattern(None, None, None, None)
    else:
        yield from ox.parse(path=snapshot.path, format=formats.N_QUADS.rdf_format)


def served_quads(settings: config.Settings, snapshot: BackendSpec | None) -> list[ox.Quad]:
    """The canonical quads an engine serves: from its snapshot, or (no engine running, as
    for ``spacecoop export``) from a snapshot made as ``serve`` would make it."""
    if settings.store_spec.remote:
        raise ExportError("dumps are not offered for a remote store; ask the remote server for its dump")
    if snapshot is not None:
        return canonical_quads(snapshot_quads(snapshot))
    engine = Engine(settings)
    try:
        made = engine.prepare()
        assert made is not None
        return canonical_quads(snapshot_quads(made))
    finally:
        engine.close()


def _sort_key(q: ox.Quad | ox.Triple) -> tuple[str, str, int, str, str]:
    # Subjects grouped and in order; rdf:type then rdfs:label first, as a person reads.
    p = q.predicate.value
    rank = 0 if p == config.RDF_TYPE else 1 if p == config.RDFS_LABEL else 2
    graph = str(q.graph_name) if isinstance(q, ox.Quad) else ""
    return graph, str(q.subject), rank, p, str(q.object)


def canonical_quads(quads: Iterable[ox.Quad]) -> list[ox.Quad]:
    """Deduplicated, blank nodes canonically renamed, sorted: same graph → same bytes."""
    dataset = ox.Dataset(quads)
    dataset.canonicalize(ox.CanonicalizationAlgorithm.UNSTABLE)
    return sorted(dataset, key=_sort_key)


def union_triples(quads: Iterable[ox.Quad]) -> list[ox.Triple]:
    """The default (union) graph: every triple once, sorted."""
    triples = {ox.Triple(q.subject, q.predicate, q.object) for q in quads}
    return sorted(triples, key=_sort_key)


def _used_prefixes(terms: Iterable[ox.Triple | ox.Quad], base: str) -> dict[str, str]:
    used: set[str] = set()
    for t in terms:
        for term in (t.subject, t.predicate, t.object):
            if isinstance(term, ox.NamedNode):
                used.add(term.value)
            elif isinstance(term, ox.Literal):
                used.add(term.datatype.value)
    return {p: ns for p, ns in iris.prefixes(base).items() if any(v.startswith(ns) for v in used)}


# --- serialisation ----------------------------------------------------------------------
def write_dump(quads: Sequence[ox.Quad], fmt: str, out: BinaryIO, base: str = config.BASE,
               frame: str | None = None, context: str | None = None,
               triples: Sequence[ox.Triple] | None = None) -> None:
    """Write one dump of canonical ``quads`` to ``out``, as it is made: in time and memory
    linear in the graph (JSON-LD node by node, ``jsonld_stream``), never a whole-graph
    document in memory. ``triples``: ``union_triples(quads)`` when the caller has it
    already (several dumps of one graph); ``context``: the context URL JSON-LD names."""
    if fmt not in FORMATS:
        raise ExportError(f"unknown format {fmt!r}; use one of {', '.join(FORMATS)}")
    spec = FORMATS[fmt]
    if frame and fmt != "jsonld":
        raise ExportError("a frame gives JSON-LD: use --format jsonld with --frame")
    if frame and frame not in jsonld.frame_names():
        raise ExportError(f"no frame {frame!r}; frames: {', '.join(jsonld.frame_names()) or 'none'}")
    if spec.quads and spec.rdf_format is not None:
        _ox_write(quads, out, spec.rdf_format, _used_prefixes(quads, base) if fmt == "trig" else None)
        return
    triples = union_triples(quads) if triples is None else triples
    if spec.rdf_format is not None:
        _ox_write(triples, out, spec.rdf_format, _used_prefixes(triples, base) if fmt == "ttl" else None)
    elif frame:
        jsonld_stream.write_framed(triples, frame, out, base, context or jsonld.context_url(base))
    else:
        jsonld_stream.write_compacted(triples, out, base, context or jsonld.context_url(base))


def _ox_write(items: Sequence[ox.Triple] | Sequence[ox.Quad], out: BinaryIO, fmt: ox.RdfFormat,
              prefixes: dict[str, str] | None) -> None:
    if prefixes:
        ox.serialize(items, out, format=fmt, prefixes=prefixes)
    else:
        ox.serialize(items, out, format=fmt)


def serialize(quads: Sequence[ox.Quad], fmt: str, base: str = config.BASE, frame: str | None = None,
              context: str | None = None) -> bytes:
    """One dump's bytes from canonical quads (for small graphs and tests: ``write_dump``
    writes the same bytes to a file)."""
    out = io.BytesIO()
    write_dump(quads, fmt, out, base, frame, context)
    return out.getvalue()


def serialize_triples(body: bytes, fmt: str, base: str = config.BASE) -> bytes:
    """Re-serialise an N-Triples answer in ``fmt`` (ttl, nt, rdf), sorted, so that an
    entity's description reads subject by subject — the same layout as the dumps."""
    # Blank nodes canonically renamed (the engine names them afresh for every answer): the
    # same description gives the same bytes, as its ETag promises.
    graph = ox.Dataset(ox.Quad(t.subject, t.predicate, t.object)
                       for t in ox.parse(body, format=formats.N_TRIPLES.rdf_format))
    graph.canonicalize(ox.CanonicalizationAlgorithm.UNSTABLE)
    triples = sorted((ox.Triple(q.subject, q.predicate, q.object) for q in graph), key=_sort_key)
    written = formats.by_extension(fmt, _SERIALIZED)
    if written is None:
        raise ExportError(f"unknown format {fmt!r}; use one of {', '.join(f.extension for f in _SERIALIZED)}")
    out = io.BytesIO()
    prefixes = _used_prefixes(triples, base) if written is not formats.N_TRIPLES else None
    _ox_write(triples, out, written.rdf_format, prefixes)
    return out.getvalue()


_SERIALIZED = (formats.TURTLE, formats.RDF_XML, formats.N_TRIPLES)  # a description's variants, by extension


def export(fmt: str, frame: str | None = None, settings: config.Settings | None = None) -> bytes:
    """The dump of the served graph in ``fmt`` (optionally framed): what both CLI and server send."""
    settings = settings or config.Settings()
    return serialize(served_quads(settings, None), fmt, settings.base, frame,
                     context=jsonld.published_context_url(settings))


def gzip_file(plain: Path, out: BinaryIO) -> None:
    """gzip ``plain`` into ``out`` streaming, with a fixed timestamp and no file name in the
    header, so the same dump always compresses to the same bytes."""
    with plain.open("rb") as src, gzip.GzipFile(filename="", mode="wb", fileobj=out, compresslevel=GZIP_LEVEL,
                                               mtime=0) as gz:
        shutil.copyfileobj(src, gz, 1 << 20)


GZIP_LEVEL = 6  # level 9 takes twice as long for about 3 % less on these files
