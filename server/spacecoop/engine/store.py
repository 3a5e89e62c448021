"""Stores and the one query entry point: ``Engine.run(Job) -> Answer``.

Backends (chosen by ``--store``):

* ``oxigraph`` (default) — embedded Oxigraph in memory, loaded from the bundled files;
* ``oxigraph:PATH`` — a persistent Oxigraph store built once by ``spacecoop load``;
* ``memory`` — rdflib's in-memory Dataset and SPARQL engine;
* ``sparql:URL`` — a remote SPARQL 1.1 server, fronted with the same protocol and safety.

Embedded backends run in a pool of worker *processes*: a query that runs past its time
limit is stopped by killing its worker (freeing its CPU at once) and a fresh worker takes
its place, so one pathological query never blocks other clients. Queries go to the
engine as text, so Oxigraph evaluates them natively.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import functools
import logging
import multiprocessing as mp
import os
import shutil
import signal
import socket
import tempfile
import threading
import time
from collections.abc import Awaitable, Callable, Coroutine, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, TypeVar

import orjson

from spacecoop import config
from spacecoop.engine import channel, fair_share, query_rules, sandbox
from spacecoop.engine.cache import BoundedCache
from spacecoop.engine.cost import CostJudge
from spacecoop.engine.jobs import Answer, Job, Limits, bindings_written, bound_query
from spacecoop.engine.query_rules import QueryError
from spacecoop.engine.remote import RemoteBackend
from spacecoop.engine.sandbox import resolve_endpoints
from spacecoop.engine.store_folder import open_complete, store_facts
from spacecoop.rdf import formats, results, sparql_text
from spacecoop.rdf.loader import (
    Source,
    bundled_sources,
    fingerprint,
    load_dataset,
    load_oxigraph,
    read_quads,
    to_oxigraph,
    user_sources,
)
from spacecoop.rdf.results import Term, term_of
from spacecoop.rdf.sparql_errors import explain

T = TypeVar("T")
log = logging.getLogger("spacecoop")


# ===================================================================================
# Backends: evaluate a Job inside one process
# ===================================================================================
# What Oxigraph raises for a query it cannot evaluate: a client error, not a server fault
# (RuntimeError: e.g. an unsupported custom function, or SERVICE on an unbound variable).
_EVALUATION_ERRORS = (OSError, ValueError, TypeError, RuntimeError)


class OxigraphBackend:
    """Native Oxigraph evaluation of query text."""

    def __init__(self, store: Any) -> None:
        self.store = store

    def run(self, job: Job, limits: Limits) -> Answer:
        import pyoxigraph as ox

        dataset = _oxigraph_dataset(job)  # outside the try: a job that skipped admission is our fault, not the query's
        try:
            res = self.store.query(bound_query(job), base_iri=job.base_iri, **dataset)
        except SyntaxError as err:
            raise QueryError(400, explain(str(err), bound_query(job))) from None
        except _EVALUATION_ERRORS as err:
            raise QueryError(400, f"query failed: {_first_line(str(err))}") from None
        if isinstance(res, ox.QueryBoolean):
            return _boolean_answer(bool(res), job)
        if isinstance(res, ox.QuerySolutions):
            try:
                return _native_select_answer(res, job, limits)
            except _EVALUATION_ERRORS as err:
                raise QueryError(400, f"query failed: {_first_line(str(err))}") from None
        try:
            return _graph_answer(_capped(res, limits), job, limits)
        except _EVALUATION_ERRORS as err:
            raise QueryError(400, f"query failed: {_first_line(str(err))}") from None


def _oxigraph_dataset(job: Job) -> dict[str, Any]:
    """The query's RDF dataset as ``Store.query`` arguments (SPARQL 1.1 Protocol §2.1.4).

    Graphs named by the protocol (default-graph-uri / named-graph-uri) replace any FROM
    in the query, and only they are visible. A query with FROM / FROM NAMED gets exactly
    its graphs (``use_default_graph_as_union`` would silently override them). Otherwise
    the default graph is the union of all graphs. Graphs are only ever looked up in the
    store: Oxigraph never dereferences a FROM IRI, so ``FROM <file:…>`` reads nothing.
    """
    import pyoxigraph as ox

    if job.default_graphs or job.named_graphs:
        return {"default_graph": [ox.NamedNode(g) for g in job.default_graphs],
                "named_graphs": [ox.NamedNode(g) for g in job.named_graphs]}
    if job.seen.has_from:
        return {}
    return {"use_default_graph_as_union": True}


class RdflibBackend:
    """rdflib's own SPARQL engine over an in-memory Dataset (the reference implementation)."""

    def __init__(self, dataset: Any) -> None:
        import rdflib
        import rdflib.plugins.sparql

        # rdflib would otherwise *fetch* every FROM IRI (http:, file:) while evaluating.
        rdflib.plugins.sparql.SPARQL_LOAD_GRAPHS = False
        # … and rewrite every literal the query names to its canonical form ("01" → "1"),
        # which then matches no term of the data, whose lexical forms are kept as written.
        rdflib.NORMALIZE_LITERALS = False
        self.dataset = dataset

    def run(self, job: Job, limits: Limits) -> Answer:
        try:
            return self._run(job, limits)
        except (QueryError, MemoryError, RecursionError):
            raise  # already an answer, or one the worker gives (422, "nested too deeply")
        except Exception as err:  # rdflib raises many exception types for bad queries, also
            # while the answer is read (evaluation is lazy): all of them are the query's fault.
            raise QueryError(400, _rdflib_message(err)) from None

    def _run(self, job: Job, limits: Limits) -> Answer:
        from rdflib.plugins.sparql import prepareQuery

        prepared = prepareQuery(bound_query(job), base=job.base_iri)
        if job.default_graphs or job.named_graphs:
            # The protocol's graphs replace the query's FROM clauses (Protocol §2.1.4);
            # rdflib then builds that dataset from our graphs only (loading is off).
            prepared.algebra["datasetClause"] = _rdflib_dataset_clause(job)
        res = self.dataset.query(prepared)
        if res.type == "ASK":
            return _boolean_answer(bool(res.askAnswer), job)
        if res.type == "SELECT":
            variables = [str(v) for v in res.vars or []]
            rows = _capped(({v: term_of(_from_rdflib(r[v])) for v in variables if r[v] is not None}
                            for r in res), limits)
            return _select_answer(variables, rows, job, limits)
        import pyoxigraph as ox
        from rdflib import Literal, URIRef

        # A template may instantiate a literal as subject or predicate: that triple is left
        # out (SPARQL 1.1 Query §16.2), where rdflib would hand it on.
        triples = (ox.Triple(*(_from_rdflib(t) for t in (s, p, o)))
                   for s, p, o in res.graph or [] if not isinstance(s, Literal) and isinstance(p, URIRef))
        return _graph_answer(_capped(triples, limits), job, limits)


def _from_rdflib(term: Any) -> Any:
    """An rdflib answer's term for pyoxigraph's writers; 400 for an IRI that is not absolute.

    rdflib replaces the base with a query's ``BASE <relative/>`` instead of resolving one
    against the other (SPARQL 1.1 Query §4.1.1.1), and so may answer with relative IRIs.
    """
    try:
        return to_oxigraph(term)
    except ValueError:
        raise QueryError(400, f"the memory store made the relative IRI <{str(term)[:80]}>: it does not "
                              "resolve a relative BASE against the endpoint's URL; write BASE as a full IRI") from None


def _rdflib_message(err: Exception) -> str:
    """What to tell the client about an exception from rdflib: its parser's position and
    its own messages, but never Python's words from inside it (``'URIRef' object has …``).

    >>> _rdflib_message(Exception("Unknown namespace prefix : ex"))
    'query failed: Unknown namespace prefix : ex'
    >>> _rdflib_message(AttributeError("'URIRef' object has no attribute 'datatype'"))
    'query failed: the memory store cannot evaluate this query (a value of an unexpected type?)'
    """
    from pyparsing import ParseException
    from rdflib.plugins.sparql.sparql import SPARQLError

    if isinstance(err, ParseException):  # worded as Oxigraph words it, for sparql.friendly
        return f"SPARQL syntax error: error at {err.lineno}:{err.col}: {_first_line(err.msg)}"
    if type(err) is Exception or isinstance(err, (SPARQLError, NotImplementedError)):
        return f"query failed: {_first_line(str(err))}"  # rdflib's own words, for the query's author
    return "query failed: the memory store cannot evaluate this query (a value of an unexpected type?)"


def _rdflib_dataset_clause(job: Job) -> list[Any]:
    """default-graph-uri / named-graph-uri as the FROM / FROM NAMED clauses rdflib evaluates."""
    from rdflib import URIRef
    from rdflib.plugins.sparql.parserutils import CompValue

    return ([CompValue("DatasetClause", default=URIRef(g)) for g in job.default_graphs]
            + [CompValue("DatasetClause", named=URIRef(g)) for g in job.named_graphs])


def _used_prefixes(triples: Sequence[Any]) -> dict[str, str]:
    # Declare only the prefixes the answer uses: a 3-triple CONSTRUCT shouldn't carry 19 lines.
    used = set()
    for t in triples:
        for term in (t.subject, t.predicate, t.object):
            value = getattr(term, "value", "")
            if ":" in value:
                used.add(value)
            dt = getattr(term, "datatype", None)
            if dt is not None and not getattr(term, "language", None):
                used.add(dt.value)
    return {p: ns for p, ns in config.PREFIXES.items() if any(v.startswith(ns) for v in used)}


def _capped(items: Iterable[T], limits: Limits) -> list[T]:
    """Collect an answer, refusing it as soon as it passes the row cap (memory stays bounded)."""
    out: list[T] = []
    for item in items:
        if len(out) >= limits.max_rows:
            raise _too_many_rows(limits)
        out.append(item)
    return out


def _too_many_rows(limits: Limits) -> QueryError:
    return QueryError(422, f"the answer has more than {limits.max_rows:,} results; add a LIMIT "
                           "or download the dump at /dumps/")


def _check_size(body: bytes, limits: Limits) -> None:
    _check_size_of(len(body), limits)


def _check_size_of(size: int, limits: Limits) -> None:
    if size > limits.max_bytes:
        raise QueryError(422, f"the answer is larger than {limits.max_bytes:,} bytes; add a LIMIT "
                              "or download the dump at /dumps/")


def _native_select_answer(solutions: Any, job: Job, limits: Limits) -> Answer:
    """Serialize solutions with Oxigraph's own writers, streaming into a byte-capped buffer.

    Converting every term to Python and back cost ~40 % of a 1,000-row answer. The row cap
    is checked on the finished body, whose size the byte cap already bounds.
    """
    sink = _CappedSink(limits)
    fmt = formats.RESULT_ANSWERS[job.result_format]
    solutions.serialize(sink, format=fmt.results_format)
    body = b"".join(sink.parts)
    if more_rows_than(body, job.result_format, limits.max_rows):
        raise _too_many_rows(limits)
    return Answer("select", fmt.media_type, body)


class _CappedSink:
    """A write-only file that refuses to grow past the byte cap."""

    def __init__(self, limits: Limits) -> None:
        self.parts: list[bytes] = []
        self.size = 0
        self.limits = limits

    def write(self, chunk: bytes) -> int:
        self.size += len(chunk)
        _check_size_of(self.size, self.limits)
        self.parts.append(bytes(chunk))
        return len(chunk)

    def flush(self) -> None:
        """Nothing to flush: the parts are the answer."""


def more_rows_than(body: bytes, result_format: str, cap: int) -> bool:
    """Whether a serialized SELECT answer holds more than ``cap`` solutions.

    Every row costs at least one ``{`` (JSON), one line end (CSV, TSV) or one ``<result>``
    (XML), so a count of those settles most answers; a parse settles the rest.

    >>> more_rows_than(b'{"head":{"vars":[]},"results":{"bindings":[{},{}]}}', "json", 1)
    True
    >>> more_rows_than(b'{"head":{"vars":["x"]},"results":{"bindings":[{"x":{"value":"{{"}}]}}', "json", 1)
    False
    >>> more_rows_than(b'x\\r\\n"a\\r\\nb"\\r\\n', "csv", 1)
    False
    """
    if result_format == "tsv":  # a line break inside a term is escaped: lines are rows
        return body.count(b"\n") - 1 > cap
    if result_format == "xml":  # "<" inside text is escaped: this tag is only ever a row
        return body.count(b"<result>") > cap
    if result_format == "json":  # three "{" open the document, its head and its results
        if body.count(b"{") - 3 <= cap:
            return False
        return len(orjson.loads(body)["results"]["bindings"]) > cap
    if body.count(b"\r\n") - 1 <= cap:  # CSV: a quoted value may hold a line break
        return False
    import csv
    import io

    return sum(1 for _ in csv.reader(io.StringIO(body.decode(), newline=""))) - 1 > cap


def _select_answer(variables: list[str], rows: list[dict[str, Term]], job: Job, limits: Limits) -> Answer:
    body = results.SELECT_WRITERS[job.result_format](variables, rows)
    _check_size(body, limits)
    return Answer("select", formats.RESULT_ANSWERS[job.result_format].media_type, body, len(rows))


def _boolean_answer(value: bool, job: Job) -> Answer:
    body = results.BOOLEAN_WRITERS[job.result_format](value)
    return Answer("ask", formats.RESULT_ANSWERS[job.result_format].media_type, body)


def _graph_answer(triples: list[Any], job: Job, limits: Limits) -> Answer:
    """Serialize CONSTRUCT/DESCRIBE triples natively with pyoxigraph."""
    import pyoxigraph as ox

    fmt = formats.GRAPH_ANSWERS[job.graph_format]
    options: dict[str, Any] = {}
    if fmt in _PREFIXED:
        options["prefixes"] = _used_prefixes(triples)
    if fmt.quads:  # a graph answer lives in the default graph
        dg = ox.DefaultGraph()
        triples = [ox.Quad(t.subject, t.predicate, t.object, dg) for t in triples]
    body = ox.serialize(triples, format=fmt.rdf_format, **options) or b""
    _check_size(body, limits)
    kind = "describe" if job.seen.form == "DESCRIBE" else "construct"
    return Answer(kind, fmt.media_type, body, len(triples))


# The formats that declare prefixes (pyoxigraph writes them, and names with them).
_PREFIXED = (formats.TURTLE, formats.TRIG, formats.RDF_XML, formats.N3)


def _first_line(message: str) -> str:
    return message.strip().splitlines()[0][:300] if message.strip() else "unknown error"


# ===================================================================================
# Building a backend from a store spec (runs inside each worker)
# ===================================================================================
@dataclass(frozen=True)
class BackendSpec:
    """What a worker needs to open its backend: kind plus a snapshot path or store path."""

    kind: str  # "oxigraph-memory" | "oxigraph-path" | "rdflib"
    path: str
    offline: bool = True  # no network for the worker (see sandbox.py); False only for SERVICE allow-lists
    allowed: tuple[tuple[str, int], ...] = ()  # with an allow-list: the (address, port) pairs it may reach
    query_memory: int = 0  # bytes a query may allocate beyond the opened store (0: no limit)


def open_backend(spec: BackendSpec) -> OxigraphBackend | RdflibBackend:
    """Open the backend a spec describes (in the calling process)."""
    if spec.kind != "rdflib":
        return open_oxigraph(spec)

    return RdflibBackend(load_dataset([Source(Path(spec.path), None)]))


def open_oxigraph(spec: BackendSpec) -> OxigraphBackend:
    """An Oxigraph backend: the persistent store at the path, or the snapshot loaded in memory."""
    import pyoxigraph as ox

    if spec.kind == "oxigraph-path":
        return OxigraphBackend(ox.Store.read_only(spec.path))
    store = ox.Store()
    store.bulk_load(path=spec.path, format=formats.N_QUADS.rdf_format)
    return OxigraphBackend(store)


def _worker_main(sock: socket.socket, spec: BackendSpec, limits: Limits) -> None:
    # The parent handles Ctrl-C and kills workers itself.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        backend = open_backend(spec)
    except Exception as err:  # reported to the parent, which refuses to start
        channel.send(sock, ("error", 500, f"store could not be opened: {_first_line(str(err))}"))
        return

    # Oxigraph fetches SERVICE URLs itself: the worker can reach nothing, or only the
    # allow-listed endpoints (and, where the kernel cannot tell them apart, nothing).
    if spec.offline or not sandbox.restrict_network(spec.allowed):
        sandbox.forbid_network()
    if spec.query_memory:
        limit_memory(spec.query_memory)
    channel.send(sock, ("ready", os.getppid()))  # the forkserver: see WorkerPool._kill_forkserver
    while True:
        try:
            job = channel.receive(sock)
        except (EOFError, OSError):
            return
        try:
            started = time.perf_counter()
            answer = backend.run(job, limits)
            reply: tuple[Any, ...] = ("ok", replace(answer, seconds=time.perf_counter() - started))
        except QueryError as err:
            reply = ("error", err.status, err.message)
        except RecursionError:
            reply = ("error", 400, "the query is nested too deeply")
        except MemoryError:
            reply = ("error", 422, _TOO_MUCH_MEMORY.format(mb=spec.query_memory >> 20))
        except Exception as err:  # never leak internals; the message is a short summary
            reply = ("error", 500, f"query failed: {type(err).__name__}")
        try:
            channel.send(sock, reply)
        except OSError:  # the server has gone (or replaced this worker): nothing to answer
            return


_TOO_MUCH_MEMORY = ("the query was stopped: it needed more than the {mb:,} MB of memory a query may use; "
                    "simplify it or add a LIMIT")


def limit_memory(allowance: int) -> None:
    """Let this process allocate at most ``allowance`` bytes more than it holds now.

    RLIMIT_DATA counts the heap and private anonymous mappings (Linux ≥ 4.7), which is
    where a query's intermediate results live, and not the store's files mapped from disk.
    Past it, Python raises MemoryError and the engine's allocator aborts the process.
    """
    import resource

    try:
        status = Path("/proc/self/status").read_text()
        held = int(next(line.split()[1] for line in status.splitlines() if line.startswith("VmData:"))) * 1024
    except (OSError, StopIteration, ValueError):
        held = 0
    limit = held + allowance
    with contextlib.suppress(ValueError, OSError):
        resource.setrlimit(resource.RLIMIT_DATA, (limit, limit))


# ===================================================================================
# The worker pool
# ===================================================================================
# A query still running after this long is a long one: its worker drops to the lowest CPU
# priority, so that on a small machine the short queries of other clients (and the event
# loop) keep their cores. CFS weights nice 19 at ~1.5 % of nice 0.
DEMOTE_AFTER = 0.25
DEMOTED_NICE = 19
# Workers are forked by multiprocessing's forkserver, a process of its own that is asked
# for each one (from a thread: the answer may never come). A fork takes milliseconds; a
# forkserver that has forked workers before and has not forked the next one after this
# long (stopped, wedged) is hung: it is killed, and multiprocessing starts a new one.
SPAWN_DEADLINE = 5.0
READY_TIMEOUT = 120.0  # for a new worker to open the store
RETRY_DELAY, RETRY_DELAY_MAX = 0.5, 30.0  # between tries to replace a worker that did not start


class TryAgain(QueryError):
    """A 503 that passes: no worker could take the query now; ``retry_after`` is the
    wait (in seconds) to suggest to the client (``Retry-After``)."""

    retry_after = 1


class _Worker:
    """One query worker process and the server's end of its socket."""

    def __init__(self, ctx: Any, spec: BackendSpec, limits: Limits) -> None:
        # Blocks until the forkserver has forked the process: never called on the event loop.
        self.sock, child = socket.socketpair()
        try:
            self.process = ctx.Process(target=_worker_main, args=(child, spec, limits), daemon=True)
            self.process.start()
        except BaseException:
            self.sock.close()
            raise
        finally:
            child.close()
        # Signalled through a handle on the process itself: multiprocessing takes a worker
        # for gone (exit status 255) once the forkserver that forked it has been killed, and
        # would no longer signal it; a handle never reaches a process that reuses the pid.
        self._pidfd = _pidfd_of(self.process.pid)
        self.channel: channel.MessageReader | None = None
        self.demoted = False
        self.ready = False

    async def connect(self, on_lost: Callable[[], None]) -> channel.MessageReader:
        """Hand the socket to the event loop (once): answers are then read as they arrive;
        ``on_lost`` is called when the worker's end closes."""
        if self.channel is None:
            loop = asyncio.get_running_loop()
            _, self.channel = await loop.create_unix_connection(functools.partial(channel.MessageReader, on_lost),
                                                                sock=self.sock)
        return self.channel

    def _threads(self) -> list[int]:
        # Linux priorities are per thread: every thread of the worker is changed.
        pid = self.process.pid
        try:
            return [int(t) for t in os.listdir(f"/proc/{pid}/task")]
        except OSError:
            return [pid] if pid else []

    def renice(self, value: int) -> bool:
        """Set the worker's nice value; False when not permitted (raising it back needs privilege)."""
        try:
            for tid in self._threads():
                os.setpriority(os.PRIO_PROCESS, tid, value)
        except (OSError, AttributeError):
            return False
        self.demoted = value > 0
        return True

    def kill(self) -> None:
        """Stop the process and close its socket, without waiting: its exit status comes
        from the forkserver, which may be the part that hangs."""
        with contextlib.suppress(Exception):
            if self._pidfd is not None:
                signal.pidfd_send_signal(self._pidfd, signal.SIGKILL)
            else:
                self.process.kill()
        with contextlib.suppress(Exception):
            if self._pidfd is not None:
                os.close(self._pidfd)
                self._pidfd = None
        with contextlib.suppress(Exception):
            if self.channel is not None:
                self.channel.close()
            self.sock.close()


def _pidfd_of(pid: int | None) -> int | None:
    if pid is None or not hasattr(os, "pidfd_open"):
        return None
    try:
        return os.pidfd_open(pid)
    except OSError:  # kernels before 5.3
        return None


def _running_child(pid: int) -> bool:
    """Whether ``pid`` is a child of this process that has not exited (it is left unreaped:
    multiprocessing reaps its forkserver, and that is how it knows to start another)."""
    try:
        return os.waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is None
    except ChildProcessError:
        return False


def _expire(waiter: asyncio.Future[Any]) -> None:
    if not waiter.done():
        waiter.set_exception(TimeoutError())


def _reason(err: BaseException) -> str:
    return _first_line(str(err)) or type(err).__name__


class WorkerPool:
    """A fixed number of worker processes; a worker past its deadline is killed and replaced.

    Nothing here blocks the event loop: workers are forked from threads, a new worker is
    waited for in the background while the others serve, and a forkserver that stops
    forking is killed and replaced (``SPAWN_DEADLINE``).
    """

    def __init__(self, spec: BackendSpec, size: int, limits: Limits) -> None:
        self.spec, self.size, self.limits = spec, size, limits
        self._ctx = mp.get_context("forkserver")
        # Workers fork from a server process that has already imported the engine's modules:
        # a replacement for a killed worker is then ready in tens of ms rather than hundreds
        # (rdflib's import alone is ~0.2 s), which keeps the pool full under attack.
        engine_modules = ["rdflib.plugins.sparql"] if spec.kind == "rdflib" else []
        self._ctx.set_forkserver_preload(["spacecoop.engine.store", "spacecoop.engine.sandbox", *engine_modules])
        # Most recently used last (taken first): a worker that has just answered has the
        # store's hot pages in its caches and wakes faster than one idle for longer.
        self._idle: list[_Worker] = []
        self._waiting: collections.deque[asyncio.Future[_Worker]] = collections.deque()
        self._all: set[_Worker] = set()  # started and not stopped (booting, idle or busy)
        self._starting: list[_Worker] = []
        self._tasks: set[asyncio.Task[None]] = set()
        # The forkserver's pid, as the workers it forked report it: only a forkserver known
        # to have forked before is taken for hung (a new one may still be importing).
        self._forkserver: int | None = None
        self._closed = False
        self.timeouts = 0  # queries stopped at the time limit (for /metrics)

    @property
    def busy(self) -> int:
        """Workers answering a query now."""
        return sum(1 for w in self._all if w.ready) - len(self._idle)

    def spawn(self) -> None:
        """Start the worker processes (they load the store while the caller goes on).

        Blocking: for a thread of the caller's own (``Engine.launch``); ``start`` without
        it forks the workers off the event loop.
        """
        self._starting = [_Worker(self._ctx, self.spec, self.limits) for _ in range(self.size)]
        self._all.update(self._starting)

    async def start(self) -> None:
        """Wait until every worker is ready (spawning them first if ``spawn`` was not called)."""
        if not self._starting:
            self._starting = list(await asyncio.gather(*(self._spawn() for _ in range(self.size))))
        starting, self._starting = self._starting, []
        await asyncio.gather(*(self._await_ready(w) for w in starting))

    # -- starting workers -----------------------------------------------------------
    async def _spawn(self) -> _Worker:
        """A new worker process, forked in a thread; the forkserver is replaced if hung."""
        attempt = self._start_spawn()
        told = False
        try:
            while True:
                done, _ = await asyncio.wait({attempt}, timeout=SPAWN_DEADLINE)
                if done:
                    w = attempt.result()
                    self._all.add(w)
                    return w
                if await self._kill_forkserver():
                    attempt.cancel()  # it fails now that its forkserver is gone
                    attempt = self._start_spawn()
                elif not told:
                    told = True
                    log.warning("the forkserver has not started a query worker in %g s; still waiting",
                                SPAWN_DEADLINE)
        except asyncio.CancelledError:
            attempt.cancel()  # should the worker start after all, _settle stops it
            raise

    def _start_spawn(self) -> asyncio.Future[_Worker]:
        loop = asyncio.get_running_loop()
        attempt: asyncio.Future[_Worker] = loop.create_future()

        def fork() -> None:
            try:
                outcome: _Worker | Exception = _Worker(self._ctx, self.spec, self.limits)
            except Exception as err:  # e.g. EOFError: the forkserver died before it forked this one
                outcome = err
            try:
                loop.call_soon_threadsafe(self._settle, attempt, outcome)
            except RuntimeError:  # the loop has closed: the server has stopped
                if isinstance(outcome, _Worker):
                    outcome.kill()

        # A thread of its own, not the loop's executor: a fork that hangs holds its thread
        # until the forkserver is killed, and must hold up nothing else meanwhile.
        threading.Thread(target=fork, name="spacecoop-spawn", daemon=True).start()
        return attempt

    def _settle(self, attempt: asyncio.Future[_Worker], outcome: _Worker | Exception) -> None:
        if attempt.done() or self._closed:  # given up on: nobody will use the worker
            if isinstance(outcome, _Worker):
                outcome.kill()
            attempt.cancel()
        elif isinstance(outcome, _Worker):
            attempt.set_result(outcome)
        else:
            attempt.set_exception(outcome)

    async def _kill_forkserver(self) -> bool:
        """Kill the forkserver that has stopped forking; False if none is known to kill."""
        pid = self._forkserver
        if pid is None or not _running_child(pid):
            return False
        log.warning("the forkserver of the query workers (pid %d) did not start one within %g s; "
                    "replacing it", pid, SPAWN_DEADLINE)
        with contextlib.suppress(OSError):
            os.kill(pid, signal.SIGKILL)
        self._forkserver = None
        # Until it has exited, multiprocessing would still ask it for the next worker.
        for _ in range(500):
            if not _running_child(pid):
                break
            await asyncio.sleep(0.01)
        return True

    async def _await_ready(self, w: _Worker) -> None:
        try:
            reader = await w.connect(functools.partial(self._lost, w))
            msg = await asyncio.wait_for(reader.expect(), READY_TIMEOUT)
            if msg[0] != "ready":
                raise RuntimeError(msg[2])
        except BaseException:
            w.kill()
            self._all.discard(w)
            raise
        w.ready = True
        self._forkserver = msg[1]
        self._release(w)

    async def _replenish(self) -> None:
        """Start a worker in place of one that has gone, trying again until one starts."""
        delay = RETRY_DELAY
        while True:
            try:
                await self._await_ready(await self._spawn())
                return
            except Exception as err:  # a pool must not shrink for good: logged, and tried again
                log.warning("a new query worker did not start (%s); trying again in %g s", _reason(err), delay)
            await asyncio.sleep(delay)
            delay = min(2 * delay, RETRY_DELAY_MAX)

    def _background(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # -- serving --------------------------------------------------------------------
    def _release(self, w: _Worker) -> None:
        """Give a ready worker to the query waiting longest, or back to the idle list."""
        while self._waiting:
            waiter = self._waiting.popleft()
            if not waiter.done():
                waiter.set_result(w)
                return
        self._idle.append(w)

    async def _checkout(self, timeout: float) -> _Worker:
        if self._idle:  # the common case
            return self._idle.pop()
        loop = asyncio.get_running_loop()
        waiter: asyncio.Future[_Worker] = loop.create_future()
        self._waiting.append(waiter)
        expiry = loop.call_later(timeout, _expire, waiter)
        try:
            return await waiter
        except TimeoutError:
            if any(w.ready for w in self._all):
                raise TryAgain(503, "the server is busy; try again in a moment") from None
            raise TryAgain(503, "no query worker is available; try again") from None
        except asyncio.CancelledError:  # the client left, maybe just as a worker was handed over
            if waiter.done() and not waiter.cancelled() and waiter.exception() is None:
                self._release(waiter.result())
            raise
        finally:
            expiry.cancel()
            with contextlib.suppress(ValueError):
                self._waiting.remove(waiter)

    async def run(self, job: Job, timeout: float) -> Answer:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        w = await self._checkout(timeout)
        demote = loop.call_later(DEMOTE_AFTER, w.renice, DEMOTED_NICE)
        expiry: asyncio.TimerHandle | None = None
        try:
            assert w.channel is not None
            # Written before the reply is awaited: to a worker that has gone, this fails at
            # once, leaving no future with an error that nobody reads.
            w.channel.write(job)
            reply = w.channel.expect()
            expiry = loop.call_at(deadline, _expire, reply)
            msg = await reply
        except TimeoutError:
            self._replace(w)
            self.timeouts += 1
            raise QueryError(503, f"the query timed out: it was stopped at the {timeout:g} s time limit; "
                                  "simplify it or add a LIMIT") from None
        except (EOFError, OSError):
            self._replace(w)  # first: the pool stays whole even if this client leaves now
            raise await self._death(w) from None
        except asyncio.CancelledError:  # client went away: the worker may still be busy
            self._replace(w)
            raise
        finally:
            demote.cancel()
            if expiry is not None:
                expiry.cancel()
        if w.demoted and not w.renice(0):
            self._replace(w)  # cannot restore its priority here: a fresh worker takes its place
        else:
            self._release(w)
        if msg[0] == "ok":
            answer: Answer = msg[1]
            return answer
        raise QueryError(msg[1], msg[2])

    # -- workers that stop ----------------------------------------------------------
    async def _exit_status(self, w: _Worker) -> int | None:
        for _ in range(40):  # the process is ending: its exit status comes within a few ms
            if w.process.exitcode is not None:
                break
            await asyncio.sleep(0.005)
        status: int | None = w.process.exitcode
        return status

    async def _death(self, w: _Worker) -> QueryError:
        """What to tell the client whose query's worker stopped under it (logged here, once)."""
        code = await self._exit_status(w)
        log.warning("a query worker stopped during a query (exit status %s); replacing it", code)
        if code == -signal.SIGABRT:  # the engine's allocator gives up past the memory limit
            return QueryError(422, _TOO_MUCH_MEMORY.format(mb=self.spec.query_memory >> 20))
        return TryAgain(503, "the query's worker stopped; try again")

    def _lost(self, w: _Worker) -> None:
        # Called when a worker's socket closes. A busy worker's query sees it and answers
        # for it (run); an idle one has died on its own and is replaced now, not when a
        # query next picks it.
        if w in self._idle and not self._closed:
            self._idle.remove(w)
            self._replace(w)
            self._background(self._report_idle_death(w))

    async def _report_idle_death(self, w: _Worker) -> None:
        log.warning("an idle query worker stopped (exit status %s); replacing it", await self._exit_status(w))

    def _replace(self, w: _Worker) -> None:
        """Stop ``w``; a new worker takes its place in the background (the others serve meanwhile)."""
        w.kill()
        self._all.discard(w)
        if not self._closed:
            self._background(self._replenish())

    def close(self) -> None:
        """Stop every worker, and every start of one still under way."""
        self._closed = True
        for task in list(self._tasks):
            task.cancel()
        for w in list(self._all):
            w.kill()
        self._all.clear()
        self._idle.clear()


# ===================================================================================
# The engine: cache + pool (or remote), and the snapshot the workers load
# ===================================================================================
# Where the server mounts the SPARQL protocol, and its address when no public URL is set
# (the CLI, tests): together, the base IRI of every query (SPARQL 1.1 Protocol leaves the
# base to the service; "the service endpoint" is its own suggestion).
ENDPOINT_PATH = "/sparql"
DEFAULT_PUBLIC_URL = "http://127.0.0.1:8000"


def check_base_iri(iri: str) -> str:
    """An absolute IRI to resolve a query's relative IRIs against, or QueryError 400.

    >>> check_base_iri("http://127.0.0.1:8000/sparql")
    'http://127.0.0.1:8000/sparql'
    >>> try:
    ...     check_base_iri("relative/only")
    ... except QueryError as err:
    ...     print(err.status, err.message)
    400 the base IRI 'relative/only' is not an absolute IRI
    """
    import pyoxigraph as ox

    try:
        ox.NamedNode(iri)  # refuses a relative IRI ("No scheme found") as well as a malformed one
    except ValueError:
        raise QueryError(400, f"the base IRI {iri[:80]!r} is not an absolute IRI") from None
    return iri

# A query that a worker answered within INLINE_SECONDS is answered in the server process
# the next time it comes (whatever its comments and spacing): the graph is read-only, so
# the same query costs the same again, and for such a query the hop to a worker (two
# process wake-ups) costs more than the query. The server process then runs the job the
# worker ran, not the new text, however the new text is spelt.
INLINE_SECONDS = 0.002
# A new query is answered in the server process when the triples its anchored patterns
# can reach number at most this (their product: engine/cost.py), a bound that holds for any
# plan, so it needs no time limit: a few milliseconds of work at most.
INLINE_BOUND = 1000
INLINE_MEMORY = 4096  # shapes of quick queries remembered (oldest forgotten first)


@dataclass
class Engine:
    """The one query entry point for the server, pages, API, CLI and tests."""

    settings: config.Settings = field(default_factory=config.Settings)
    version: str = ""  # content hash of the served graph: the ETag seed
    triple_count: int = 0
    named_graphs: tuple[str, ...] = ()
    _pool: WorkerPool | None = None
    _remote: Any = None
    _local: OxigraphBackend | RdflibBackend | None = None
    _cache: BoundedCache[Answer] | None = None
    _inline: OxigraphBackend | None = None
    _judge: CostJudge | None = None  # bounds a new query's cost by the inline store's counts
    _quick: dict[str, Job] = field(default_factory=dict)  # shape → the job a worker answered quickly
    inline_answers: int = 0  # answered in the server process (see INLINE_SECONDS)
    cache_hits: int = 0
    cache_misses: int = 0
    # The workers shared fairly between clients (server use: set when the pool starts).
    share: fair_share.FairShare | None = None
    # Rewrites of a query's text before any rule reads it, added by the layers above (the
    # label index's SERVICE, answered here as VALUES: linked.search_service). Each gets the
    # text and the job's bindings (a saved query's parameters), before they are written in.
    query_expanders: list[Callable[[str, Mapping[str, Term]], str]] = field(default_factory=list)
    # What the workers open (the snapshot file, or the stamped store): set by ``prepare``.
    # The dumps and VoID are read from it too, so they hold what SPARQL answers from.
    snapshot: BackendSpec | None = None
    _tmpdir: str | None = None
    _launcher: threading.Thread | None = None
    _launch_error: BaseException | None = None
    _on_started: list[Callable[[], None]] = field(default_factory=list)

    @property
    def limits(self) -> Limits:
        return Limits(self.settings.max_result_rows, self.settings.max_result_bytes)

    @property
    def endpoint_url(self) -> str:
        """The URL of this engine's SPARQL endpoint: the base IRI of the queries it runs."""
        return (self.settings.public_url.rstrip("/") or DEFAULT_PUBLIC_URL) + ENDPOINT_PATH

    @property
    def is_remote(self) -> bool:
        return self.settings.store_spec.remote

    # -- lifecycle ------------------------------------------------------------------
    def prepare(self) -> BackendSpec | None:
        """Build what the workers open (a snapshot or a store path); None for a remote store."""
        self.snapshot = self._prepare()
        return self.snapshot

    def _prepare(self) -> BackendSpec | None:
        store = self.settings.store_spec  # a SettingError for a spec that names no store
        self._cache = BoundedCache(self.settings.cache_entries, self.settings.cache_bytes)
        if store.remote:
            self._remote = RemoteBackend(store.location, self.settings)
            self.version = ""
            self.share = self._fair_share()
            return None
        if store.persistent:
            spec = BackendSpec("oxigraph-path", store.location)
            # Only a store a complete `spacecoop load` stamped (StoreRefused otherwise): never a part of one.
            opened, stamp = open_complete(Path(spec.path))
            self._inline = OxigraphBackend(opened)
            self._judge = CostJudge(opened, INLINE_BOUND)
            self.version, self.triple_count, self.named_graphs = stamp.version, stamp.triples, stamp.named_graphs
            return spec
        in_oxigraph = store.kind == "oxigraph"
        spec = BackendSpec("oxigraph-memory" if in_oxigraph else "rdflib", self._snapshot(in_oxigraph))
        if in_oxigraph:
            # Loaded as the workers load it, so that both list unordered answers alike.
            self._inline = open_oxigraph(spec)
            self._judge = CostJudge(self._inline.store, INLINE_BOUND)
        return spec

    def sources(self) -> list[Source]:
        return user_sources(self.settings.data_files) if self.settings.data_files else bundled_sources()

    def _snapshot(self, through_store: bool) -> str:
        """The graph as one N-Quads file that each worker loads.

        Oxigraph's store keeps a literal's value rather than its lexical form (``"123.0"``
        comes back as ``"123"``): right for Oxigraph workers, which read queries the same
        way, but rdflib keeps what it reads, so its snapshot is written from the parsed
        quads, every term as the files spell it.
        """
        import pyoxigraph as ox

        self._tmpdir = tempfile.mkdtemp(prefix="spacecoop-")
        path = os.path.join(self._tmpdir, "snapshot.nq")
        if through_store:
            store = ox.Store()
            load_oxigraph(store, self.sources(), self.settings.base)
            store.dump(path, format=formats.N_QUADS.rdf_format)
            facts_of = store_facts(store)
        else:
            quads = ox.Dataset(q for source in self.sources() for q in read_quads(source, self.settings.base))
            ox.serialize(quads, path, format=formats.N_QUADS.rdf_format)
            facts_of = len(quads), tuple(sorted({q.graph_name.value for q in quads
                                                 if isinstance(q.graph_name, ox.NamedNode)}))
        self.version = fingerprint(self.sources(), self.settings.base)
        self.triple_count, self.named_graphs = facts_of
        return path

    def launch(self) -> None:
        """Begin ``start``'s slow part in a background thread (server start-up).

        The store's snapshot is built and the worker processes boot while the web app is
        still being imported and assembled; ``launched`` and ``start`` wait for it.
        """
        def spawn() -> None:
            try:
                self._spawn_pool()
            except BaseException as err:  # re-raised by launched(), in the caller's thread
                self._launch_error = err

        self._launcher = threading.Thread(target=spawn, name="spacecoop-launch", daemon=True)
        self._launcher.start()

    def launched(self) -> None:
        """Wait for ``launch``; raise what it raised (a LoadError for a broken file …)."""
        if self._launcher is not None:
            self._launcher.join()
        if self._launch_error is not None:
            raise self._launch_error

    async def start(self) -> None:
        """Start the worker pool (server use); returns once every worker is ready."""
        if self._launcher is None:
            self._spawn_pool()
        else:
            await asyncio.to_thread(self.launched)
        for callback in self._on_started:  # while the workers boot: they start in processes of their own
            callback()
        if self._pool is not None:
            await self._pool.start()

    def when_started(self, callback: Callable[[], None]) -> None:
        """Call ``callback`` from ``start`` once the store is loaded (server use only; not
        ``start_local``): for work that should be ready early but must not delay start-up,
        and so returns at once (the dumps' background build)."""
        self._on_started.append(callback)

    def _spawn_pool(self) -> None:
        spec = self.prepare()
        if spec is not None:
            allow = self.settings.service_urls
            spec = replace(spec, offline=not allow, query_memory=self.settings.query_memory_mb << 20,
                           allowed=_endpoint_addresses(allow))
            self._pool = WorkerPool(spec, self.settings.workers + self.settings.reserve_workers, self.limits)
            self.share = self._fair_share()
            self._pool.spawn()

    def _fair_share(self) -> fair_share.FairShare:
        s = self.settings
        return fair_share.FairShare(s.workers, s.reserve_workers, fair_share.Policy(
            concurrency=s.client_concurrency, queued=s.client_queue, budget=s.client_budget,
            window=s.budget_window, max_wait=s.queue_wait))

    def start_local(self) -> None:
        """Evaluate in this process, without time limits (CLI and tests)."""
        spec = self.prepare()
        if spec is not None:
            self._local = self._inline or open_backend(spec)

    def close(self) -> None:
        if self._pool:
            self._pool.close()
        self._inline = self._local = None  # release the store (a read-only handle on disk)
        if self._remote is not None:
            self._remote.close()
        if self._tmpdir:
            shutil.rmtree(self._tmpdir, ignore_errors=True)
            self._tmpdir = None

    # -- queries --------------------------------------------------------------------
    def admit(self, job: Job) -> Job:
        """The job as it will run: bindings written in as validated terms, a base IRI (the
        endpoint's URL unless the job names one), and the text passed through the rules
        every query obeys (``query_rules``), whichever route sent it. The job leaves with
        the facts of its text (scanned here unless its entry point brought them), which
        everything after this reads instead of the text."""
        expanded = self.expand(job.query, dict(job.bindings))
        if expanded != job.query:
            job = replace(job, query=expanded, facts=None)
        job = bindings_written(job)
        base_iri = check_base_iri(job.base_iri or self.endpoint_url)
        job = replace(job, base_iri=base_iri, facts=query_rules.check(job.query, self.settings, job.facts))
        return self._routed(job)

    def _routed(self, job: Job) -> Job:
        """The allowed SERVICE calls sent where the operator routes them (``IRI=URL`` in
        ``SPACECOOP_SERVICE_ALLOW``): the rules were checked on the IRIs the query names."""
        routes = {iri: url for iri, url in self.settings.service_routes if iri != url}
        if not routes or not job.facts or not job.facts.uses_service:
            return job
        routed = sparql_text.with_service_endpoints(job.query, routes)
        return job if routed == job.query else replace(job, query=routed, facts=sparql_text.facts(routed))

    def expand(self, text: str, bindings: Mapping[str, Term] | None = None) -> str:
        """``text`` through every ``query_expanders`` rewrite (itself when none applies);
        ``bindings`` are the values the job will bind (a rewrite may read a parameter's)."""
        for rewrite in self.query_expanders:
            text = rewrite(text, bindings or {})
        return text

    async def run(self, job: Job, timeout: float | None = None) -> Answer:
        """Answer a query (from the cache when the same job was answered before)."""
        job = self.admit(job)
        key = job.cache_key()
        if self._cache is not None and (hit := self._cache.get(key)) is not None:
            self.cache_hits += 1
            return hit
        self.cache_misses += 1
        t = timeout if timeout is not None else self.settings.query_timeout
        if self._remote is not None:
            remote = self._remote
            ans = await self._in_turn(lambda: remote.run(job, t, self.limits))
        elif self._pool is not None:
            ans = await self._run_pooled(self._pool, job, t)
        elif self._local is not None:
            ans = await asyncio.to_thread(self._local.run, job, self.limits)
        else:
            raise RuntimeError("engine not started")
        ans = servable(ans)
        if self._cache is not None and not job.seen.volatile:
            self._cache.put(key, ans)
        return ans

    async def _run_pooled(self, pool: WorkerPool, job: Job, timeout: float) -> Answer:
        """In a worker; in this process when its cost is bounded before it runs, or when
        the same query was quick there before.

        What runs in this process is either a query whose every triple pattern is anchored
        by a constant, with few enough triples behind those constants (``cost``: the bound
        holds for any plan, so it needs no time limit), or the very job a worker answered
        quickly (remembered by its shape): nothing else evaluates here.
        """
        shape = self._shape(job)
        if shape is not None and self._inline is not None:
            proven = self._quick.get(shape)
            if proven is not None or (self._judge is not None and self._judge.cheap(job.query, job.seen)):
                self.inline_answers += 1
                return self._inline.run(proven or job, self.limits)
        ans = await self._in_turn(lambda: pool.run(job, timeout))
        if shape is not None and ans.seconds < INLINE_SECONDS:
            self._quick[shape] = job
            if len(self._quick) > INLINE_MEMORY:
                del self._quick[next(iter(self._quick))]
        return ans

    async def _in_turn(self, work: Callable[[], Awaitable[Answer]]) -> Answer:
        """``work`` once the request's client has its fair share of a worker (``fair_share``);
        at once for work no client sent (the CLI, start-up)."""
        caller = fair_share.current_caller.get()
        if caller is None or self.share is None:
            return await work()
        async with self.share.slot(caller.client) as waited:
            caller.waited += waited
            return await work()

    def stats(self) -> dict[str, float]:
        """The engine's state and counters, for ``/metrics``: workers (general + reserve),
        busy workers, queries queued for a worker and running for clients, queries stopped at
        the time limit, fair-share refusals (429), answer-cache hits and misses, answers given
        in the server process."""
        pool, share = self._pool, self.share
        return {
            "workers": float(pool.size if pool else 0), "busy_workers": float(pool.busy if pool else 0),
            "queued": float(share.queued if share else 0), "running": float(share.running if share else 0),
            "timeouts": float(pool.timeouts if pool else 0), "refused": float(share.refused if share else 0),
            "cache_hits": float(self.cache_hits), "cache_misses": float(self.cache_misses),
            "inline_answers": float(self.inline_answers),
        }

    def _shape(self, job: Job) -> str | None:
        """The key a quick query is remembered by; None for one whose cost may change
        between runs (NOW(), RAND() …), that may call out (SERVICE), or that the scan
        could read more than one way."""
        seen = job.seen
        if self._inline is None or seen.volatile or seen.uses_service or seen.ambiguous:
            return None
        return job.shape_key()

    def run_sync(self, job: Job) -> Answer:
        """Blocking form of ``run`` for the CLI and tests (no event loop needed)."""
        if self._local is not None:
            return servable(self._local.run(self.admit(job), self.limits))
        return asyncio.run(self.run(job))

    async def select(self, query: str, **bindings: Term) -> list[dict[str, Term]]:
        """Run a SELECT and return rows of plain terms (for pages and pictures)."""
        ans = await self.run(Job(query, "json", bindings=tuple(sorted(bindings.items()))))
        return parse_json_rows(ans.body)


def servable(ans: Answer) -> Answer:
    """``ans`` as it may be sent: XML that XML 1.0 cannot hold (a literal with U+0000 …) is a 406."""
    if (problem := results.xml_problem(ans.media_type, ans.body)) is not None:
        raise QueryError(406, problem)
    return ans


def _endpoint_addresses(allow_list: Sequence[str]) -> tuple[tuple[str, int], ...]:
    """The addresses the operator's allow-list names, resolved once at start."""
    if not allow_list:
        return ()

    try:
        return resolve_endpoints(allow_list)
    except (OSError, ValueError) as err:
        raise ValueError(f"SPACECOOP_SERVICE_ALLOW: {err}") from None


def parse_json_rows(body: bytes) -> list[dict[str, Term]]:
    """SPARQL JSON results → rows of plain term tuples."""
    data = orjson.loads(body)
    out = []
    for b in data.get("results", {}).get("bindings", []):
        row: dict[str, Term] = {}
        for k, v in b.items():
            if v["type"] == "uri":
                row[k] = ("uri", v["value"])
            elif v["type"] == "bnode":
                row[k] = ("bnode", v["value"])
            else:
                row[k] = ("literal", v["value"], v.get("xml:lang"), v.get("datatype"))
        out.append(row)
    return out
