"""Dumps of the whole graph: one code path for ``spacecoop export`` and ``/dumps/``.

Formats: Turtle and N-Triples (the union of all named graphs), N-Quads and TriG (with
the named graphs, one per source file), JSON-LD (the union, compacted with the published
context) and framed JSON-LD (``--frame mission``: one nested document per mission).

The quads come from the same loader and sources as the engine (so a dump is exactly what
the endpoint serves), blank nodes are canonicalised and quads sorted, so the same graph
always gives the same bytes — and the same ``ETag``.

>>> dump_name("ttl"), dump_name("jsonld", frame="mission")
('spacecoop.ttl', 'spacecoop-mission.jsonld')
>>> parse_dump_name("spacecoop.nq.gz"), parse_dump_name("spacecoop-mission.jsonld")
(('nq', None, True), ('jsonld', 'mission', False))
>>> parse_dump_name("other.ttl") is None
True
"""

from __future__ import annotations

import argparse
import contextlib
import gzip
import hashlib
import logging
import multiprocessing as mp
import os
import re
import signal
import sys
import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from pathlib import Path
from typing import TYPE_CHECKING

import pyoxigraph as ox

from spacecoop import config, iris, jsonld

if TYPE_CHECKING:  # store imports the modules that import this one
    from spacecoop.store import BackendSpec

log = logging.getLogger("spacecoop")

DUMP_STEM = "spacecoop"
RDF_TYPE = "http://www.w3.org/1999/02/22-rdf-syntax-ns#type"
RDFS_LABEL = "http://www.w3.org/2000/01/rdf-schema#label"


@dataclass(frozen=True)
class DumpFormat:
    """One dump format: file extension, media type, and whether it keeps named graphs."""

    ext: str
    media_type: str
    title: str
    quads: bool
    rdf_format: ox.RdfFormat | None  # None: JSON-LD, written by pyld


FORMATS: dict[str, DumpFormat] = {
    "ttl": DumpFormat("ttl", "text/turtle", "Turtle", False, ox.RdfFormat.TURTLE),
    "nt": DumpFormat("nt", "application/n-triples", "N-Triples", False, ox.RdfFormat.N_TRIPLES),
    "nq": DumpFormat("nq", "application/n-quads", "N-Quads (named graphs)", True, ox.RdfFormat.N_QUADS),
    "trig": DumpFormat("trig", "application/trig", "TriG (named graphs)", True, ox.RdfFormat.TRIG),
    "jsonld": DumpFormat("jsonld", jsonld.MEDIA_TYPE, "JSON-LD (compacted)", False, None),
}
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
        yield from ox.parse(path=snapshot.path, format=ox.RdfFormat.N_QUADS)


def _served_quads(settings: config.Settings, snapshot: BackendSpec | None) -> list[ox.Quad]:
    """The canonical quads an engine serves: from its snapshot, or (no engine running, as
    for ``spacecoop export``) from a snapshot made as ``serve`` would make it."""
    if settings.store.startswith("sparql:"):
        raise ExportError("dumps are not offered for a remote store; ask the remote server for its dump")
    if snapshot is not None:
        return canonical_quads(snapshot_quads(snapshot))
    from spacecoop.store import Engine  # at call time: store imports this module's importers

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
    rank = 0 if p == RDF_TYPE else 1 if p == RDFS_LABEL else 2
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
def _ox_bytes(items: Iterable[ox.Triple] | Iterable[ox.Quad], fmt: ox.RdfFormat,
              prefixes: dict[str, str] | None = None) -> bytes:
    """pyoxigraph's serialiser, to bytes (it returns None only when given a file)."""
    body = ox.serialize(items, format=fmt, prefixes=prefixes) if prefixes else ox.serialize(items, format=fmt)
    assert body is not None
    return body


def serialize(quads: list[ox.Quad], fmt: str, base: str = config.BASE, frame: str | None = None,
              expanded: list[jsonld.JsonDoc] | None = None, context: str | None = None) -> bytes:
    """One dump's bytes from canonical quads (``expanded``, ``context``: see ``jsonld_document``)."""
    if fmt not in FORMATS:
        raise ExportError(f"unknown format {fmt!r}; use one of {', '.join(FORMATS)}")
    spec = FORMATS[fmt]
    if frame and fmt != "jsonld":
        raise ExportError("a frame gives JSON-LD: use --format jsonld with --frame")
    if spec.quads and spec.rdf_format is not None:
        return _ox_bytes(quads, spec.rdf_format, _used_prefixes(quads, base) if fmt == "trig" else None)
    triples = union_triples(quads)
    if spec.rdf_format is not None:
        return _ox_bytes(triples, spec.rdf_format, _used_prefixes(triples, base) if fmt == "ttl" else None)
    return jsonld_document(triples, base, frame, expanded, context)


def serialize_triples(body: bytes, fmt: str, base: str = config.BASE) -> bytes:
    """Re-serialise an N-Triples answer in ``fmt`` (ttl, nt, rdf), sorted, so that an
    entity's description reads subject by subject — the same layout as the dumps."""
    triples = sorted(ox.parse(body, format=ox.RdfFormat.N_TRIPLES), key=_sort_key)
    formats = {"ttl": ox.RdfFormat.TURTLE, "rdf": ox.RdfFormat.RDF_XML, "nt": ox.RdfFormat.N_TRIPLES}
    return _ox_bytes(triples, formats[fmt], _used_prefixes(triples, base) if fmt != "nt" else None)


def expand(triples: list[ox.Triple], base: str = config.BASE) -> list[jsonld.JsonDoc]:
    """Triples as expanded JSON-LD: the step every JSON-LD document of them starts from."""
    return jsonld.from_nquads(_ox_bytes(triples, ox.RdfFormat.N_TRIPLES).decode("utf-8"), base)


def jsonld_document(triples: list[ox.Triple], base: str = config.BASE, frame: str | None = None,
                    expanded: list[jsonld.JsonDoc] | None = None, context: str | None = None) -> bytes:
    """Compacted (or framed) JSON-LD of some triples, by pyld, with the published context.

    ``expanded``: the same triples already through ``expand``, when several documents are
    made of them (the expansion costs more than compacting or framing, and pyld leaves
    its input as it was). ``context``: the context URL the document names
    (``jsonld.published_context_url``; default the base's).
    """
    if expanded is None:
        expanded = expand(triples, base)
    if frame:
        try:
            frame_doc = jsonld.load_frame(frame, base)
        except KeyError as err:
            raise ExportError(str(err.args[0])) from None
        return jsonld.dumps(jsonld.frame(expanded, frame_doc, base, context=context))
    return jsonld.dumps(jsonld.compact(expanded, base, context))


def export(fmt: str, frame: str | None = None, settings: config.Settings | None = None) -> bytes:
    """The dump of the served graph in ``fmt`` (optionally framed): what both CLI and server send."""
    settings = settings or config.Settings()
    return serialize(_served_quads(settings, None), fmt, settings.base, frame,
                     context=jsonld.published_context_url(settings))


# --- cached dumps for the server --------------------------------------------------------
@dataclass(frozen=True)
class Dump:
    """A ready-to-send dump file."""

    name: str
    media_type: str
    body: bytes
    etag: str


def _etag(body: bytes) -> str:
    return '"' + hashlib.sha256(body).hexdigest()[:32] + '"'


def gzip_bytes(body: bytes) -> bytes:
    """gzip with a fixed timestamp, so the same dump always compresses to the same bytes."""
    return gzip.compress(body, compresslevel=9, mtime=0)


class DumpCache:
    """Every dump, built once per process (the served graph never changes while the
    server runs), each behind its own lock so a burst of first requests builds a file once.

    The server builds them at start-up, in the background (``build_in_background``): a
    first ``/dumps/`` request then finds them ready instead of waiting seconds for pyld.
    """

    def __init__(self, settings: config.Settings, snapshot: Callable[[], BackendSpec | None] | None = None) -> None:
        """``snapshot``: where the serving engine's snapshot is (``Engine.snapshot``, known
        once it has started); without it a snapshot is made as ``serve`` would make it."""
        self.settings = settings
        self.snapshot = snapshot or (lambda: None)
        self._quads: list[ox.Quad] | None = None
        self._expanded: list[jsonld.JsonDoc] | None = None
        self._dumps: dict[str, Dump] = {}
        self._lock = threading.Lock()
        self._locks: dict[str, threading.Lock] = {}
        self._arrived = threading.Condition()  # a dump came from the builder, or it ended
        self._building = False
        self._started = False  # the background builder was started (server use)

    def quads(self) -> list[ox.Quad]:
        with self._lock:
            if self._quads is None:
                self._quads = _served_quads(self.settings, self.snapshot())
            return self._quads

    def expanded(self) -> list[jsonld.JsonDoc]:
        """The union graph as expanded JSON-LD, made once for the compacted dump and every frame."""
        quads = self.quads()
        with self._lock:
            if self._expanded is None:
                self._expanded = expand(union_triples(quads), self.settings.base)
            return self._expanded

    def get(self, name: str) -> Dump:
        """The dump called ``name`` (e.g. ``spacecoop.ttl.gz``); ``KeyError`` if there is none."""
        parsed = parse_dump_name(name)
        if parsed is None or (parsed[1] and parsed[1] not in jsonld.frame_names()):
            raise KeyError(name)
        with self._arrived:  # being built in the background: it comes sooner than a second build
            self._arrived.wait_for(lambda: name in self._dumps or not self._building)
        with self._lock:
            lock = self._locks.setdefault(name, threading.Lock())
        with lock:
            if name not in self._dumps:
                self._dumps[name] = self._build(name, *parsed)
            return self._dumps[name]

    def ready(self, name: str) -> Dump | None:
        """The dump called ``name`` if it is built, else None, without waiting or building;
        ``KeyError`` if there is no such dump."""
        parsed = parse_dump_name(name)
        if parsed is None or (parsed[1] and parsed[1] not in jsonld.frame_names()):
            raise KeyError(name)
        with self._arrived:
            return self._dumps.get(name)

    @property
    def building(self) -> bool:
        """Whether the background builder is still at work."""
        with self._arrived:
            return self._building

    @property
    def builder_failed(self) -> bool:
        """Whether the background builder ended without sending every dump: the server then
        says so rather than building a dump in its own process."""
        with self._arrived:
            return self._started and not self._building and len(self._dumps) < len(self.names())

    def _build(self, name: str, fmt: str, frame: str | None, gz: bool) -> Dump:
        if gz:
            plain = self.get(dump_name(fmt, frame))
            body = gzip_bytes(plain.body)
            return Dump(name, GZIP_MEDIA_TYPE, body, _etag(body))
        expanded = self.expanded() if fmt == "jsonld" else None
        body = serialize(self.quads(), fmt, self.settings.base, frame, expanded,
                         jsonld.published_context_url(self.settings))
        return Dump(name, FORMATS[fmt].media_type, body, _etag(body))

    def names(self) -> list[str]:
        """Every dump offered, plain then gzipped, frames last."""
        plain = [dump_name(f) for f in FORMATS] + [dump_name("jsonld", fr) for fr in jsonld.frame_names()]
        return [n for p in plain for n in (p, p + ".gz")]

    # -- building at start-up ------------------------------------------------------------
    def build_in_background(self) -> None:
        """Start building every dump in a process of its own, at low CPU priority.

        pyld is pure Python: in a thread of the server it would hold the interpreter lock
        for seconds, and every request meanwhile would wait for it. The builder sends each
        dump as it is done (whole-graph dumps first, the framed views last); a request for
        one not yet sent waits for it rather than building it a second time. A remote store
        has no dumps, so nothing starts; if the builder fails, ``get`` builds here as before.
        """
        if self._building or self.settings.store.startswith("sparql:"):
            return
        # Forked from the workers' forkserver: a process without the server's threads.
        ctx = mp.get_context("forkserver")
        receiver, sender = ctx.Pipe(duplex=False)
        names = [n for n in self.names() if n not in self._dumps]
        process = ctx.Process(target=_build_dumps, args=(self.settings, self.snapshot(), names, sender), daemon=True,
                              name="spacecoop-dumps")
        process.start()
        sender.close()
        self._building = self._started = True
        threading.Thread(target=self._receive, args=(receiver, process), name="spacecoop-dumps",
                         daemon=True).start()

    def _receive(self, receiver: Connection, process: BaseProcess) -> None:
        try:
            while True:
                dump = receiver.recv()  # EOFError once the builder has sent all (or died)
                with self._arrived:
                    self._dumps.setdefault(dump.name, dump)
                    self._arrived.notify_all()
        except (EOFError, OSError):
            pass
        finally:
            receiver.close()
            process.join()
            if process.exitcode and process.exitcode != -signal.SIGTERM:  # SIGTERM: the server is stopping
                log.warning("building the dumps in the background failed (exit status %s); "
                            "each is built when first asked for", process.exitcode)
            with self._arrived:
                self._building = False
                self._arrived.notify_all()


BUILDER_NICE = 5  # below the query workers (nice 0): serving comes first, yet the build is not starved


def _build_dumps(settings: config.Settings, snapshot: BackendSpec | None, names: list[str],
                 sender: Connection) -> None:
    """The background builder's process: build each dump and send it, in order."""
    with contextlib.suppress(OSError):
        os.nice(BUILDER_NICE)
    cache = DumpCache(settings, lambda: snapshot)
    try:
        for name in names:
            sender.send(cache.get(name))
    except ExportError as err:  # the server's own request gets the same error, and says it
        log.warning("dumps: %s", err)
    finally:
        sender.close()


# --- the CLI ----------------------------------------------------------------------------
def cli_export(args: argparse.Namespace) -> int:
    """``spacecoop export --format ttl|nt|nq|trig|jsonld [--frame NAME] [-o FILE]``.

    ``--frame`` gives framed JSON-LD (so ``--format`` may be left out); an output name
    ending in ``.gz`` is gzipped. The bytes are those of the same file under ``/dumps/``.
    """
    fmt = "jsonld" if args.frame and args.format == "ttl" else args.format
    try:
        body = export(fmt, args.frame)
    except ExportError as err:
        print(f"spacecoop export: {err}", file=sys.stderr)
        return 2
    if args.output:
        out = Path(args.output)
        out.write_bytes(gzip_bytes(body) if out.suffix == ".gz" else body)
        print(f"wrote {out} ({out.stat().st_size:,} bytes, {fmt}"
              + (f", frame {args.frame}" if args.frame else "") + ")", file=sys.stderr)
    else:
        sys.stdout.buffer.write(body)
        sys.stdout.buffer.flush()
    return 0
