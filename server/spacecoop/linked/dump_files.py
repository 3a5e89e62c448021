"""The files under ``/dumps/`` and the dataset's statistics: built once per graph version,
outside the server process, kept on disk and served from disk.

Who builds them:

* ``spacecoop load`` writes them into the new store's folder (``spacecoop-dumps/``) before
  it stamps the store, so a stamped store carries its dumps and its VoID statistics and
  ``serve`` has every one at once (``load --no-dumps`` leaves them to the server);
* otherwise — an embedded store, or a stored folder built for another base, context URL
  or version — one background process at low CPU priority builds them into a temporary
  folder after start (``DumpCache.build_in_background``): the statistics first (seconds),
  then each dump, streamed to its file in time linear in the graph's size. Until a file is
  there the server answers 202 with ``Retry-After``; it never builds one in its own process.

A folder's ``manifest.json`` names the graph version, base and context URL the files were
made for, with each file's size and SHA-256 (its ETag's seed) and the statistics; a
manifest for anything else is ignored, so no dump of one graph is served for another.

>>> Manifest.from_json(Manifest("v1", "https://b/", "https://b/context.jsonld").to_json()).version
'v1'
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import hashlib
import logging
import multiprocessing as mp
import os
import shutil
import signal
import sqlite3
import sys
import tempfile
import threading
import weakref
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from pathlib import Path
from typing import BinaryIO

import orjson

from spacecoop import config
from spacecoop.engine.jobs import Job, Limits, with_facts
from spacecoop.engine.store import BackendSpec, Engine, open_backend, parse_json_rows
from spacecoop.linked import exports, search, void
from spacecoop.rdf import jsonld
from spacecoop.rdf.results import Term

log = logging.getLogger("spacecoop")

FOLDER = "spacecoop-dumps"  # inside a store folder built by `spacecoop load`
MANIFEST = "manifest.json"
MANIFEST_FORMAT = 1
BUILDER_NICE = 5  # below the query workers (nice 0): serving comes first, yet the build is not starved


@dataclass(frozen=True)
class Dump:
    """A dump file, ready to send."""

    name: str
    media_type: str
    path: Path
    size: int
    digest: str  # the SHA-256 of its bytes, in hex (web.etags makes the file's ETag of it)
    # The temporary folder the file is in, kept alive (and so on disk) while the dump is.
    folder: Scratch | None = field(default=None, compare=False, repr=False)

    @property
    def body(self) -> bytes:
        """The file's bytes (small graphs and tests: the server sends the file itself)."""
        return self.path.read_bytes()


@dataclass(frozen=True)
class SearchFile:
    """The label index, ready to open (``search.SearchIndex``)."""

    path: Path
    size: int
    folder: Scratch | None = field(default=None, compare=False, repr=False)  # kept alive, as a Dump's


@dataclass
class Manifest:
    """What a dumps folder holds and what it was built for."""

    version: str  # the graph's fingerprint (the ETag seed)
    base: str
    context: str  # the context URL the JSON-LD dumps name
    statistics: void.Statistics | None = None
    dumps: dict[str, tuple[str, int, str]] = field(default_factory=dict)  # name → media type, size, SHA-256
    search: int | None = None  # the size of the label index (search.FILE_NAME), once built

    def to_json(self) -> bytes:
        return orjson.dumps({"format": MANIFEST_FORMAT, "version": self.version, "base": self.base,
                             "context": self.context,
                             "statistics": dataclasses.asdict(self.statistics) if self.statistics else None,
                             "dumps": {n: list(v) for n, v in self.dumps.items()}, "search": self.search},
                            option=orjson.OPT_INDENT_2)

    @classmethod
    def from_json(cls, data: bytes) -> Manifest:
        """The manifest in ``data``; ValueError if it is not one this version writes."""
        try:
            got = orjson.loads(data)
            if got.get("format") != MANIFEST_FORMAT:
                raise ValueError("another manifest format")
            stats = got.get("statistics")
            indexed = got.get("search")  # absent from manifests written before search
            return cls(str(got["version"]), str(got["base"]), str(got["context"]),
                       void.Statistics(**stats) if stats else None,
                       {str(n): (str(m), int(s), _digest(d)) for n, (m, s, d) in got["dumps"].items()},
                       int(indexed) if indexed is not None else None)
        except (orjson.JSONDecodeError, AttributeError, KeyError, TypeError, ValueError) as err:
            raise ValueError(f"not a dumps manifest ({err})") from None

    def files(self, folder: Path) -> dict[str, Dump]:
        return {n: Dump(n, m, folder / n, s, d) for n, (m, s, d) in self.dumps.items()}


def _digest(recorded: object) -> str:
    # Manifests written before the digest was recorded held the file's ETag: its first 32
    # hex digits, in quotes, which make the same ETag again.
    return str(recorded).strip('"')


def adoptable_index(manifest: Manifest, folder: Path) -> SearchFile | None:
    """The label index a ``spacecoop load`` left in ``folder`` (its manifest read), if it
    is there whole: the size the manifest recorded."""
    index = folder / search.FILE_NAME
    if manifest.search is not None and index.is_file() and index.stat().st_size == manifest.search:
        return SearchFile(index, manifest.search)
    return None


def read_manifest(folder: Path, version: str, base: str) -> Manifest | None:
    """The manifest of ``folder`` if it was built for this graph version and base, with
    every file it lists there at its size; else None."""
    try:
        found = Manifest.from_json((folder / MANIFEST).read_bytes())
    except (OSError, ValueError):
        return None
    if (found.version, found.base) != (version, base) or found.statistics is None:
        return None
    if any(not d.path.is_file() or d.path.stat().st_size != d.size for d in found.files(folder).values()):
        return None
    return found


def usable(manifest: Manifest, folder: Path, context: str) -> dict[str, Dump]:
    """The files of a manifest a server naming ``context`` may send: all of them, but the
    JSON-LD ones only if they name that context (``load`` knew another public URL).

    >>> m = Manifest("v", "https://b/", "https://b/context.jsonld",
    ...              dumps={"spacecoop.nt": ("application/n-triples", 1, "e"),
    ...                     "spacecoop.jsonld.gz": ("application/gzip", 1, "f")})
    >>> sorted(usable(m, Path("/s"), "http://127.0.0.1:8000/context.jsonld"))
    ['spacecoop.nt']
    """
    same = manifest.context == context
    return {n: d for n, d in manifest.files(folder).items()
            if same or (exports.parse_dump_name(n) or ("jsonld", None, False))[0] != "jsonld"}


def dump_names() -> list[str]:
    """Every dump offered, plain then gzipped, frames last."""
    plain = [exports.dump_name(f) for f in exports.FORMATS] + [exports.dump_name("jsonld", fr)
                                                                 for fr in jsonld.frame_names()]
    return [n for p in plain for n in (p, p + ".gz")]


class Scratch:
    """A fresh temporary folder, removed once nothing refers to it (or at exit)."""

    def __init__(self) -> None:
        self.path = Path(tempfile.mkdtemp(prefix="spacecoop-dumps-"))
        weakref.finalize(self, shutil.rmtree, self.path, True)


# --- building ---------------------------------------------------------------------------
class _Hashing:
    """A binary file that also counts and hashes (SHA-256) what is written to it."""

    def __init__(self, out: BinaryIO) -> None:
        self.out, self.size, self.digest = out, 0, hashlib.sha256()

    def write(self, chunk: bytes | bytearray | memoryview) -> int:
        self.size += len(chunk)
        self.digest.update(chunk)
        return self.out.write(chunk)

    def flush(self) -> None:
        self.out.flush()

    @property
    def hexdigest(self) -> str:
        return self.digest.hexdigest()


def statistics(snapshot: BackendSpec, base: str) -> void.Statistics:
    """The VoID statistics of a snapshot, by the same queries (``describe.VOID_*``) and the
    same backend as the endpoint, with no time limit (the builder's own process)."""
    backend = open_backend(snapshot)
    unbounded = Limits(max_rows=sys.maxsize, max_bytes=sys.maxsize)

    async def select(query: str, **bindings: Term) -> list[dict[str, Term]]:
        job = with_facts(Job(query, "json", bindings=tuple(sorted(bindings.items()))))
        return parse_json_rows(backend.run(job, unbounded).body)

    # Not asyncio.run: it takes over SIGINT to cancel the coroutine, and one that never
    # suspends (as here) finishes regardless, so Ctrl-C during `spacecoop load` was lost.
    loop = asyncio.new_event_loop()
    try:
        return loop.run_until_complete(void.statistics(select, base))
    finally:
        loop.close()


def build(snapshot: BackendSpec, folder: Path, manifest: Manifest, names: list[str] | None = None,
          count: bool = True, index: bool = True) -> Iterator[Dump | SearchFile | void.Statistics]:
    """Build the statistics (unless not ``count``), the label index (unless not ``index``),
    then each dump named (plain before its gzip; default every one) into ``folder``; yield
    each as it is done, and write ``manifest.json`` last (so a folder with a manifest is complete)."""
    folder.mkdir(parents=True, exist_ok=True)
    if count:
        manifest.statistics = statistics(snapshot, manifest.base)
        yield manifest.statistics
    quads = exports.canonical_quads(exports.snapshot_quads(snapshot))
    if index:
        built = search.build_index(quads, folder / search.FILE_NAME)
        manifest.search = built.bytes
        yield SearchFile(folder / search.FILE_NAME, built.bytes)
    triples = exports.union_triples(quads)
    for name in dump_names() if names is None else names:
        fmt, frame, gz = exports.parse_dump_name(name) or ("", None, False)
        path = folder / name
        with path.open("wb") as f:
            out = _Hashing(f)
            if gz:
                exports.gzip_file(folder / name.removesuffix(".gz"), out)  # type: ignore[arg-type]
            else:
                exports.write_dump(quads, fmt, out, manifest.base, frame, manifest.context,  # type: ignore[arg-type]
                                   triples)
        media = exports.GZIP_MEDIA_TYPE if gz else exports.FORMATS[fmt].media_type
        manifest.dumps[name] = (media, out.size, out.hexdigest)
        yield Dump(name, media, path, out.size, out.hexdigest)
    (folder / MANIFEST).write_bytes(manifest.to_json())


def build_for_store(store_folder: Path, version: str, settings: config.Settings) -> Path:
    """``spacecoop load``'s step: the dumps and statistics of the (closed, verified) store at
    ``store_folder``, written into its ``spacecoop-dumps/`` before it is stamped."""
    folder = store_folder / FOLDER
    manifest = Manifest(version, settings.base, jsonld.published_context_url(settings))
    for _ in build(BackendSpec("oxigraph-path", str(store_folder)), folder, manifest):
        pass
    return folder


# --- the server's view ------------------------------------------------------------------
class DumpCache:
    """The dumps and statistics of the served graph, as the server knows them: found in the
    stamped store's folder, or arriving from the background builder one by one."""

    def __init__(self, settings: config.Settings, snapshot: Callable[[], BackendSpec | None] | None = None,
                 version: Callable[[], str] | None = None) -> None:
        """``snapshot``, ``version``: what the serving engine opened and its graph version
        (``Engine.snapshot``, ``Engine.version``, known once it has started); without them
        a snapshot is made as ``serve`` would make it."""
        self.settings = settings
        self.snapshot = snapshot or (lambda: None)
        self.version = version or (lambda: "")
        self._dumps: dict[str, Dump] = {}
        self._stats: void.Statistics | None = None
        self._search: SearchFile | None = None
        self._index: search.SearchIndex | None = None
        self._arrived = threading.Condition()  # a dump came from the builder, or it ended
        self._building = False
        self._started = False  # the background builder was started (server use)
        self._local = threading.Lock()  # the in-process build (no builder: an app without its server)
        self._folder: Scratch | None = None

    @property
    def context(self) -> str:
        return jsonld.published_context_url(self.settings)

    def names(self) -> list[str]:
        """Every dump offered, plain then gzipped, frames last."""
        return dump_names()

    def _check(self, name: str) -> None:
        parsed = exports.parse_dump_name(name)
        if parsed is None or (parsed[1] and parsed[1] not in jsonld.frame_names()):
            raise KeyError(name)

    def ready(self, name: str) -> Dump | None:
        """The dump called ``name`` if it is built, else None, without waiting or building;
        ``KeyError`` if there is no such dump."""
        self._check(name)
        with self._arrived:
            return self._dumps.get(name)

    def statistics(self) -> void.Statistics | None:
        """The VoID statistics, once computed (None before, and for a remote store)."""
        with self._arrived:
            return self._stats

    def search_index(self) -> search.SearchIndex | None:
        """The label index, once built (None before, for a remote store, and for a file
        that cannot be opened: logged once, and then as if its build had failed)."""
        with self._arrived:
            if self._index is None and self._search is not None:
                try:
                    self._index = search.SearchIndex(self._search.path)
                except (OSError, ValueError, sqlite3.Error) as err:
                    log.warning("search: the label index %s cannot be opened (%s)", self._search.path, err)
                    self._search = None
            return self._index

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

    def get(self, name: str) -> Dump:
        """The dump called ``name``, waiting for the builder, or (none started) building every
        dump here once; ``KeyError`` if there is no such dump, ExportError for a remote store."""
        self._check(name)
        with self._arrived:
            self._arrived.wait_for(lambda: name in self._dumps or not self._building)
            if name in self._dumps:
                return self._dumps[name]
        with self._local:
            if name not in self._dumps:
                self._build_here()
            return self._dumps[name]

    def _build_here(self) -> None:
        if self.settings.store_spec.remote:
            raise exports.ExportError("dumps are not offered for a remote store; ask the remote server for its dump")
        snapshot, engine = self.snapshot(), None
        if snapshot is None:
            engine = Engine(self.settings)
            snapshot = engine.prepare()
            assert snapshot is not None
        try:
            manifest = Manifest(self.version() or (engine.version if engine else ""), self.settings.base, self.context)
            for done in build(snapshot, self._scratch().path, manifest):
                self._arrive(done)
        finally:
            if engine is not None:
                engine.close()

    def _arrive(self, done: Dump | SearchFile | void.Statistics) -> None:
        with self._arrived:
            if isinstance(done, Dump):
                self._dumps.setdefault(done.name, dataclasses.replace(done, folder=self._folder))
            elif isinstance(done, SearchFile):
                self._search = self._search or dataclasses.replace(done, folder=self._folder)
            else:
                self._stats = done
            self._arrived.notify_all()

    def _scratch(self) -> Scratch:
        """This server's temporary folder for the files it builds."""
        self._folder = Scratch()
        return self._folder

    # -- the server: found in the store, or built in the background ----------------------
    def build_in_background(self) -> None:
        """Find the dumps beside the stamped store, or start building them in a process of
        their own, at low CPU priority.

        pyld and the serialisers would hold the interpreter lock for seconds in a thread of
        the server, and every request meanwhile would wait. The builder sends the
        statistics, then each dump's file as it is done (whole-graph dumps first, the framed
        views last). A remote store has no dumps, so nothing starts.
        """
        if self._building or self.settings.store_spec.remote:
            return
        snapshot = self.snapshot()
        if snapshot is not None and snapshot.kind == "oxigraph-path":
            self._adopt(Path(snapshot.path) / FOLDER)
        missing = [n for n in self.names() if n not in self._dumps]
        if not missing and self._stats is not None and self._search is not None:
            return
        # A gzipped file is made from its plain one: a plain one found in the store is built again.
        missing = [n for n in self.names() if n in missing or n + ".gz" in missing]
        # Forked from the workers' forkserver: a process without the server's threads.
        ctx = mp.get_context("forkserver")
        receiver, sender = ctx.Pipe(duplex=False)
        manifest = Manifest(self.version(), self.settings.base, self.context)
        process = ctx.Process(target=_builder_main, daemon=True, name="spacecoop-dumps",
                              args=(snapshot, self._scratch().path, manifest, missing, self._stats is None,
                                    self._search is None, self.settings, sender))
        process.start()
        sender.close()
        self._building = self._started = True
        threading.Thread(target=self._receive, args=(receiver, process), name="spacecoop-dumps",
                         daemon=True).start()

    def _adopt(self, folder: Path) -> None:
        """Take the statistics and the files a ``spacecoop load`` left in the store's folder
        for this graph (the JSON-LD ones if they name this server's context)."""
        manifest = read_manifest(folder, self.version(), self.settings.base)
        if manifest is None:
            return
        found = usable(manifest, folder, self.context)
        index = adoptable_index(manifest, folder)
        with self._arrived:
            self._stats = manifest.statistics
            self._dumps.update(found)
            if index is not None:
                self._search = index
        log.info("dumps: %d of %d files and the statistics from %s", len(found), len(self.names()), folder)

    def _receive(self, receiver: Connection, process: BaseProcess) -> None:
        try:
            while True:
                self._arrive(receiver.recv())  # EOFError once the builder has sent all (or died)
        except (EOFError, OSError):
            pass
        finally:
            receiver.close()
            process.join()
            if process.exitcode and process.exitcode != -signal.SIGTERM:  # SIGTERM: the server is stopping
                log.warning("building the dumps in the background failed (exit status %s)", process.exitcode)
            with self._arrived:
                self._building = False
                self._arrived.notify_all()


def _builder_main(snapshot: BackendSpec | None, folder: Path, manifest: Manifest, names: list[str], count: bool,
                  index: bool, settings: config.Settings, sender: Connection) -> None:
    """The background builder's process: build each file and send word of it, in order."""
    with contextlib.suppress(OSError):
        os.nice(BUILDER_NICE)
    engine = None
    try:
        if snapshot is None:  # an engine that has not said what it opened: open as serve would
            engine = Engine(settings)
            snapshot = engine.prepare()
            manifest.version = manifest.version or engine.version
        assert snapshot is not None
        for done in build(snapshot, folder, manifest, names, count, index):
            sender.send(done)
    except exports.ExportError as err:
        log.warning("dumps: %s", err)
    finally:
        sender.close()
        if engine is not None:
            engine.close()
