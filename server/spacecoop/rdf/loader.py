"""The one loader: reads RDF files into named graphs, for every consumer.

Every file becomes one named graph (``graph/<stem>`` for data, ``graph/ontology`` for the
ontology, ``graph/queries`` for the saved-query catalogue). Files are parsed once, by
pyoxigraph (fast, streaming, precise error positions); the quads then go into whichever
sink the caller needs: an Oxigraph store (the server), or an rdflib ``Dataset`` (pyshacl,
exports, JSON-LD).

>>> [s.graph.rsplit("/", 1)[-1] for s in bundled_sources(include_catalogue=False)][:1]
['ontology']
"""

from __future__ import annotations

import hashlib
import io
import os
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Protocol

import pyoxigraph as ox
from rdflib import BNode, Dataset, Literal, URIRef
from rdflib.term import Node

from spacecoop import config
from spacecoop.rdf import formats, query_files
from spacecoop.rdf.errors import LoadError

CATALOGUE_GRAPH = config.graph_iri("queries")
ONTOLOGY_GRAPH = config.graph_iri("ontology")


@dataclass(frozen=True)
class Source:
    """One file to load, and the named graph it goes into (None: keep the file's own graphs)."""

    path: Path
    graph: str | None

    @property
    def url(self) -> str:
        """The file's own ``file:`` URL: the base its relative IRIs resolve against (RFC 3986 §5.1.3)."""
        return self.path.resolve().as_uri()

    @property
    def file_format(self) -> formats.Format:
        """The file's RDF format, by its extension (``LoadError`` for one that names none)."""
        found = formats.by_extension(self.path.suffix)
        if found is None:
            known = sorted(f".{e}" for f in formats.RDF_FORMATS for e in f.extensions)
            raise LoadError(self.path, None, None, f"unknown RDF file type {self.path.suffix.lower()!r}; use one of "
                            + ", ".join(known))
        return found

    @property
    def format(self) -> ox.RdfFormat:
        """pyoxigraph's format for the file."""
        return self.file_format.rdf_format


def bundled_sources(include_catalogue: bool = True) -> list[Source]:
    """The ontology and data files shipped with the project, one named graph each."""
    sources = [Source(p, ONTOLOGY_GRAPH if p.stem == "spacecoop" else config.graph_iri(f"ontology-{p.stem}"))
               for p in sorted(config.ONTOLOGY_DIR.glob("*.ttl"))]
    sources += [Source(p, config.graph_iri(p.stem)) for p in sorted(config.DATA_DIR.glob("*.ttl"))]
    if include_catalogue:
        sources.append(Source(config.QUERIES_DIR, CATALOGUE_GRAPH))
    return sources


def user_sources(paths: Sequence[str | Path]) -> list[Source]:
    """Sources for ``--data FILE…``: triples go into ``graph/<stem>``, quads keep their graphs.

    A folder is refused (``LoadError``): only the bundled query folder is read as a folder.
    """
    out = []
    for p in map(Path, paths):
        if p.is_dir():
            raise _folder_error(p)
        src = Source(p, None)
        out.append(src if src.file_format.quads else Source(p, config.graph_iri(p.stem)))
    return out


def read_quads(source: Source, base: str = config.BASE) -> Iterator[ox.Quad]:
    """Parse one source into quads, rebased from the canonical base to ``base``."""
    if source.path.is_dir():
        if source.path.resolve() != config.QUERIES_DIR.resolve():
            raise _folder_error(source.path)
        quads: Iterable[ox.Quad] = _catalogue_quads(source)  # the saved-query folder, published as RDF
    else:
        quads = _parse_file(source)
    if base != config.CANONICAL_BASE:
        quads = (_rebase_quad(q, base) for q in quads)
    yield from quads


def _parse_file(source: Source) -> Iterator[ox.Quad]:
    to_graph = ox.NamedNode(source.graph) if source.graph else None
    with open_rdf_file(source.path) as f:
        try:
            # ox.parse has no to_graph (only Store.load does): move default-graph triples ourselves.
            for q in ox.parse(input=f, format=source.format, base_iri=source.url):
                if to_graph is not None and isinstance(q.graph_name, ox.DefaultGraph):
                    q = ox.Quad(q.subject, q.predicate, q.object, to_graph)
                yield q
        except SyntaxError as err:
            raise LoadError(source.path, err.lineno, err.offset, _short(err.msg)) from None
        except (OSError, ValueError) as err:
            raise LoadError(source.path, None, None, _short(str(err))) from None


UTF8_BOM = b"\xef\xbb\xbf"


def open_rdf_file(path: Path) -> io.BufferedReader:
    """``path`` opened for parsing: past a UTF-8 byte-order mark, which some editors write
    first and the Turtle family of parsers reads as text ("\\ufeff is not a valid subject").

    A file that cannot be opened (missing, a folder, not readable) is a ``LoadError`` that
    says what to do.
    """
    try:
        f = path.open("rb")
    except IsADirectoryError:
        raise _folder_error(path) from None
    except FileNotFoundError:
        raise LoadError(path, None, None, "no such file; check the name and the folder") from None
    except PermissionError:
        raise LoadError(path, None, None, "cannot be read (permission denied); make it readable "
                        "(chmod a+r) or run as a user who may read it") from None
    except OSError as err:
        raise LoadError(path, None, None, f"cannot be read ({err.strerror or err})") from None
    if f.read(len(UTF8_BOM)) != UTF8_BOM:
        f.seek(0)
    return f


def _folder_error(path: Path) -> LoadError:
    return LoadError(path, None, None, "is a folder, not an RDF file; name the files in it "
                     f"(e.g. {path / '*.ttl'})")


def _short(message: str) -> str:
    # pyoxigraph says "Parser error between line 3 column 11 and line 5 column 1: X";
    # the position is already in the prefix we print, so keep the reason.
    reason = message.split(": ", 1)[1] if message.startswith("Parser error") and ": " in message else message
    if "UTF-8" in reason:  # e.g. a file saved as Latin-1 or UTF-16
        reason += "; RDF files are read as UTF-8: save the file as UTF-8"
    return reason


def _catalogue_quads(source: Source) -> Iterator[ox.Quad]:
    graph = query_files.catalogue_graph()
    g = ox.NamedNode(source.graph or CATALOGUE_GRAPH)
    for s, p, o in graph:
        yield ox.Quad(to_oxigraph(s), to_oxigraph(p), to_oxigraph(o), g)  # type: ignore[arg-type]


def _rebase_iri(value: str, base: str) -> str:
    return base + value[len(config.CANONICAL_BASE):] if value.startswith(config.CANONICAL_BASE) else value


def _rebase_term(term: Any, base: str) -> Any:
    if isinstance(term, ox.NamedNode):
        return ox.NamedNode(_rebase_iri(term.value, base))
    if isinstance(term, ox.Literal) and term.datatype.value.startswith(config.CANONICAL_BASE):
        return ox.Literal(term.value, datatype=ox.NamedNode(_rebase_iri(term.datatype.value, base)))
    return term


def _rebase_quad(q: ox.Quad, base: str) -> ox.Quad:
    return ox.Quad(_rebase_term(q.subject, base), _rebase_term(q.predicate, base),
                   _rebase_term(q.object, base), _rebase_term(q.graph_name, base))


# --- term conversion between the two libraries ----------------------------------------
def to_oxigraph(term: Node) -> ox.NamedNode | ox.BlankNode | ox.Literal:
    """rdflib term → pyoxigraph term."""
    if isinstance(term, URIRef):
        return ox.NamedNode(str(term))
    if isinstance(term, BNode):
        return ox.BlankNode(str(term))
    if isinstance(term, Literal):
        if term.language:
            return ox.Literal(str(term), language=term.language)
        if term.datatype:
            return ox.Literal(str(term), datatype=ox.NamedNode(str(term.datatype)))
        return ox.Literal(str(term))
    raise TypeError(f"cannot convert {term!r}")


def to_rdflib(term: ox.NamedNode | ox.BlankNode | ox.Literal) -> Node:
    """pyoxigraph term → rdflib term (lexical forms kept exactly)."""
    if isinstance(term, ox.NamedNode):
        return URIRef(term.value)
    if isinstance(term, ox.BlankNode):
        return BNode(term.value)
    if term.language:
        return Literal(term.value, lang=term.language)
    dt = term.datatype.value
    if dt == config.XSD_STRING:
        return Literal(term.value)
    return Literal(term.value, datatype=URIRef(dt), normalize=False)


# --- sinks --------------------------------------------------------------------------------
class LoadProgress(Protocol):
    """Receives loading progress: bytes read of each file, then its quad count."""

    def read(self, source: Source, done: int, total: int) -> None: ...

    def finished(self, source: Source, quads: int, seconds: float) -> None: ...


class _CountingReader(io.RawIOBase):
    """A binary file that reports how far it has been read (for the progress bar)."""

    def __init__(self, f: io.BufferedReader, on_read: Callable[[int], None]) -> None:
        self._f = f
        self._done = f.tell()
        self._on_read = on_read

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        n = self._f.readinto(buffer)
        self._done += n or 0
        self._on_read(self._done)
        return n or 0

    def close(self) -> None:
        self._f.close()
        super().close()


def load_oxigraph(store: ox.Store, sources: Sequence[Source], base: str = config.BASE,
                  progress: LoadProgress | None = None) -> int:
    """Stream every source into an Oxigraph store; returns the number of quads loaded.

    Files are bulk-loaded as a stream (memory bounded by the store, not the file) unless
    they must be rebased or are derived (the query catalogue).
    """
    total = 0
    for source in sources:
        start = time.perf_counter()
        before = len(store)
        if source.path.is_file() and base == config.CANONICAL_BASE:
            _bulk_load_file(store, source, progress)
        else:
            store.bulk_extend(read_quads(source, base))
        added = len(store) - before
        total += added
        if progress:
            progress.finished(source, added, time.perf_counter() - start)
    return total


def _bulk_load_file(store: ox.Store, source: Source, progress: LoadProgress | None) -> None:
    size = source.path.stat().st_size
    if source.file_format in LINE_FORMATS and size >= 2 * PIECE_BYTES and LOAD_THREADS > 1:
        _bulk_load_pieces(store, source, size, progress)
        return
    to_graph = ox.NamedNode(source.graph) if source.graph else None
    reader = _CountingReader(open_rdf_file(source.path),
                             lambda done: progress.read(source, done, size) if progress else None)
    try:
        store.bulk_load(input=io.BufferedReader(reader, 1 << 20), format=source.format, to_graph=to_graph,
                        base_iri=source.url)
    except SyntaxError as err:
        raise LoadError(source.path, err.lineno, err.offset, _short(err.msg)) from None
    finally:
        reader.close()


# pyoxigraph's bulk loader parses on one thread. A line-based file can be cut at any line
# end, so big N-Triples / N-Quads files are cut into pieces that load on every core.
LINE_FORMATS = (formats.N_TRIPLES, formats.N_QUADS)
PIECE_BYTES = 48 << 20
LOAD_THREADS = min(os.cpu_count() or 1, 8)


def _bulk_load_pieces(store: ox.Store, source: Source, size: int, progress: LoadProgress | None) -> None:
    """Load a big line-based file as pieces in parallel; memory stays a few pieces.

    A blank-node label names the same node throughout one document, but each bulk load
    is a document of its own: so the pieces that mention ``_:`` are set aside in a
    temporary file and loaded last, together, as one document.
    """
    to_graph = ox.NamedNode(source.graph) if source.graph else None

    def load(data: bytes | IO[bytes]) -> None:
        store.bulk_load(input=data, format=source.format, to_graph=to_graph)

    failure: BaseException | None = None
    done = 0
    with tempfile.TemporaryFile(prefix="spacecoop-blank-nodes-") as with_blank_nodes:
        with ThreadPoolExecutor(LOAD_THREADS) as pool:
            pending: set[Future[None]] = set()
            for piece in _pieces(source.path):
                if b"_:" in piece:
                    with_blank_nodes.write(piece)
                else:
                    pending.add(pool.submit(load, piece))
                while len(pending) > LOAD_THREADS and failure is None:
                    finished, pending = wait(pending, return_when=FIRST_COMPLETED)
                    failure = _first_failure(finished)
                if failure is not None:
                    break
                done += len(piece)
                if progress:
                    progress.read(source, done, size)
            failure = failure or _first_failure(wait(pending).done)
        if failure is None and with_blank_nodes.tell():
            with_blank_nodes.seek(0)
            try:
                load(with_blank_nodes)
            except SyntaxError as err:
                failure = err
    if isinstance(failure, SyntaxError):
        _raise_first_error(source)
    if failure is not None:
        raise failure


def _first_failure(finished: set[Future[None]]) -> BaseException | None:
    return next((err for f in finished if (err := f.exception()) is not None), None)


def _raise_first_error(source: Source) -> None:
    """Re-read the file in one pass for the position of its first error (pieces have their own)."""
    for _ in _parse_file(source):
        pass
    raise LoadError(source.path, None, None, "the file could not be parsed")


def _pieces(path: Path) -> Iterator[bytes]:
    """The file's bytes in pieces of about ``PIECE_BYTES``, each ending at a line end."""
    rest = b""
    with open_rdf_file(path) as f:
        while block := f.read(PIECE_BYTES):
            block = rest + block
            cut = block.rfind(b"\n") + 1
            piece, rest = (block[:cut], block[cut:]) if cut else (b"", block)
            if piece:
                yield piece
    if rest:
        yield rest


def load_dataset(sources: Sequence[Source] | None = None, base: str = config.BASE) -> Dataset:
    """The graph as an rdflib ``Dataset`` (one named graph per file, default graph = union).

    This is what pyshacl, exports and JSON-LD use; the server asks Oxigraph, built from
    the very same quads.
    """
    ds = Dataset(default_union=True)
    for prefix, ns in config.PREFIXES.items():
        ds.bind(prefix, _rebase_iri(ns, base), override=True)
    for source in sources if sources is not None else bundled_sources():
        for q in read_quads(source, base):
            g = q.graph_name
            ctx = ds.default_graph if isinstance(g, ox.DefaultGraph) else ds.graph(to_rdflib(g))  # type: ignore[arg-type]
            ctx.add((to_rdflib(q.subject), to_rdflib(q.predicate), to_rdflib(q.object)))  # type: ignore[arg-type]
    return ds


def fingerprint(sources: Sequence[Source], base: str = config.BASE) -> str:
    """A short hash of the sources' bytes and the base: the graph's version (ETag seed)."""
    digest = hashlib.sha256(base.encode())
    for source in sources:
        files = sorted(source.path.glob("**/*")) if source.path.is_dir() else [source.path]
        for path in files:
            if path.is_file():
                digest.update(path.name.encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()[:16]


def check_sources(sources: Sequence[Source]) -> list[LoadError]:
    """Parse every source and collect syntax errors (all of them, not just the first)."""
    errors = []
    for source in sources:
        try:
            for _ in read_quads(source, config.CANONICAL_BASE):
                pass
        except LoadError as err:
            errors.append(err)
    return errors
