"""A keep-alive HTTP/1.1 load generator: asyncio Protocols on raw sockets (uvloop if installed).

wrk's job without wrk, and with one thing wrk cannot do cheaply: every request may be a
different text. ``run_load`` keeps N connections busy, one request in flight on each, for
a fixed time; the requests are taken in order from a sequence shared by the connections
(request k goes to whichever connection is free next), so a sequence of distinct texts
means no server sees a text twice. Each connection may be bound to a local source address
(any of 127/8 on Linux) so the server sees a distinct client. Responses are framed by
Content-Length, chunked encoding or the connection's close.

    python bench/loadgen.py --self-test                  # the generator's own ceiling
    python bench/loadgen.py http://127.0.0.1:8000/sparql?query=ASK%7B%7D -c 8 -s 5

The self-test runs a tiny raw-asyncio HTTP responder in a child process (one core for it,
one for the generator) and loads it twice: fixed-length answers, then chunked ones.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import socket
import statistics
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Coroutine, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar, cast
from urllib.parse import urlsplit

T = TypeVar("T")
NO_BODY_STATUSES = frozenset({204, 304})
SAMPLE_BYTES = 300  # of the first body of each status, kept to show what a refusal said


@dataclass(frozen=True)
class Head:
    """What the framing of one response needs from its status line and headers."""

    status: int
    length: int | None  # body bytes; None: chunked, or until the connection closes
    chunked: bool
    retry_after: float | None  # seconds; 0.0 when it was an HTTP date; None when there was none
    close: bool  # the server will close the connection after this response


def header_value(lowered_head: bytes, name: bytes) -> bytes | None:
    """The value of header ``name`` (lower-case) in a lower-cased response head, or None."""
    start = lowered_head.find(b"\r\n" + name + b":")
    if start < 0:
        return None
    start += len(name) + 3
    return lowered_head[start:lowered_head.find(b"\r\n", start)].strip()


def parse_head(head: bytes) -> Head:
    """Parse a response head (status line and headers, ending with the blank line)."""
    low = head.lower()
    status = int(head[9:12])
    chunked = b"chunked" in (header_value(low, b"transfer-encoding") or b"")
    length_value = header_value(low, b"content-length")
    if status < 200 or status in NO_BODY_STATUSES:
        length: int | None = 0
    elif chunked or length_value is None:
        length = None
    else:
        length = int(length_value)
    retry = header_value(low, b"retry-after")
    try:
        retry_after = float(retry) if retry is not None else None
    except ValueError:  # an HTTP date: present, but not a delay this client can honour
        retry_after = 0.0
    return Head(status, length, chunked and length is None, retry_after,
                header_value(low, b"connection") == b"close" or head.startswith(b"HTTP/1.0"))


def scan_chunks(buf: bytes | bytearray, pos: int) -> tuple[int, bool]:
    """Walk a chunked body from ``pos``: (where to resume, whether the body is complete).

    Resumable, so a large body arriving in pieces is walked once, not once per piece.
    """
    while True:
        line_end = buf.find(b"\r\n", pos)
        if line_end < 0:
            return pos, False
        size = int(bytes(buf[pos:line_end]).split(b";", 1)[0], 16)
        if size == 0:  # the last chunk, then trailers (usually none) and a blank line
            end = buf.find(b"\r\n\r\n", pos)
            return (end + 4, True) if end >= 0 else (pos, False)
        chunk_end = line_end + 2 + size + 2
        if len(buf) < chunk_end:
            return pos, False
        pos = chunk_end


@dataclass
class LoadResult:
    """What one load run measured; latencies are of the responses completed in time."""

    seconds: float
    connections: int
    sent: int = 0
    statuses: Counter[int] = field(default_factory=Counter)
    retry_after: Counter[int] = field(default_factory=Counter)  # responses with Retry-After, by status
    errors: int = 0  # connections refused, reset or closed mid-response before the deadline
    samples: dict[int, bytes] = field(default_factory=dict, repr=False)  # the first body per status, cut
    latencies: list[float] = field(default_factory=list, repr=False)  # seconds

    @property
    def completed(self) -> int:
        return sum(self.statuses.values())

    @property
    def rps(self) -> float:
        """Responses per second, whatever their status."""
        return self.completed / self.seconds

    @property
    def ok_rps(self) -> float:
        """Answers (200) per second."""
        return self.statuses.get(200, 0) / self.seconds

    def percentile_ms(self, q: float) -> float | None:
        return percentile_ms(self.latencies, q)

    def as_dict(self) -> dict[str, Any]:
        """The figures, JSON-ready (no raw latencies)."""
        return {"seconds": self.seconds, "connections": self.connections, "sent": self.sent,
                "completed": self.completed, "rps": round(self.rps, 1), "ok_rps": round(self.ok_rps, 1),
                "statuses": {str(k): v for k, v in sorted(self.statuses.items())},
                "retry_after": {str(k): v for k, v in sorted(self.retry_after.items())},
                "errors": self.errors, "p50_ms": self.percentile_ms(0.5), "p99_ms": self.percentile_ms(0.99),
                "samples": {str(k): v.decode("utf-8", "replace") for k, v in sorted(self.samples.items())}}


def percentile_ms(latencies: Sequence[float], q: float) -> float | None:
    """The ``q`` quantile (nearest rank) of latencies in seconds, in milliseconds; None if empty."""
    if not latencies:
        return None
    ordered = sorted(latencies)
    if q == 0.5:
        return round(1000 * statistics.median(ordered), 2)
    return round(1000 * ordered[min(len(ordered) - 1, int(q * len(ordered)))], 2)


def get_request(host: str, port: int, path_and_query: str, accept: str) -> bytes:
    """A keep-alive GET, ready to write; ``path_and_query`` must already be percent-encoded."""
    return (f"GET {path_and_query} HTTP/1.1\r\nHost: {host}:{port}\r\nAccept: {accept}\r\n"
            "User-Agent: spacecoop-loadgen\r\n\r\n").encode("ascii")


class _Run:
    """State shared by the connections of one run: the request cursor and the tallies."""

    def __init__(self, requests: Sequence[bytes], seconds: float, honour_retry_after: bool) -> None:
        self.loop = asyncio.get_running_loop()
        self.requests = requests
        self.count = len(requests)
        self.cursor = 0
        self.started = self.loop.time()
        self.deadline = self.started + seconds
        self.honour_retry_after = honour_retry_after
        self.result = LoadResult(seconds, 0)

    def next_request(self) -> bytes | None:
        if self.loop.time() >= self.deadline:
            return None
        try:
            request = self.requests[self.cursor % self.count]
        except IndexError:  # a lazy sequence that ran out: the run ends now, and is timed so
            self.deadline = self.loop.time()
            self.result.seconds = self.deadline - self.started
            return None
        self.cursor += 1
        return request


class _Client(asyncio.Protocol):
    """One connection: write a request, frame its response, record it, write the next."""

    def __init__(self, run: _Run) -> None:
        self.run = run
        self.buf = bytearray()
        self.head: Head | None = None
        self.body_start = 0
        self.pos = 0  # where the body starts, or where the chunk walk resumes
        self.sent_at = 0.0
        self.in_flight = False
        self.transport: asyncio.Transport | None = None
        self.lost: asyncio.Future[None] = run.loop.create_future()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's transports do not subclass it
        self.send_next()

    def send_next(self) -> None:
        assert self.transport is not None
        if self.transport.is_closing():
            return
        request = self.run.next_request()
        if request is None:
            self.transport.close()
            return
        self.in_flight = True
        self.sent_at = time.perf_counter()
        self.run.result.sent += 1
        self.transport.write(request)

    def data_received(self, data: bytes) -> None:
        buf = self.buf
        buf += data
        if self.head is None:
            end = buf.find(b"\r\n\r\n")
            if end < 0:
                return
            self.head = parse_head(bytes(buf[:end + 4]))
            self.body_start = self.pos = end + 4
        head = self.head
        if head.length is not None:
            if len(buf) - self.pos < head.length:
                return
        elif head.chunked:
            self.pos, done = scan_chunks(buf, self.pos)
            if not done:
                return
        else:
            return  # framed by the close: connection_lost completes it
        self.complete(head)

    def complete(self, head: Head) -> None:
        run, result = self.run, self.run.result
        self.in_flight = False
        self.head = None
        if run.loop.time() <= run.deadline:  # answers after the deadline are not counted
            result.statuses[head.status] += 1
            result.latencies.append(time.perf_counter() - self.sent_at)
            if head.retry_after is not None:
                result.retry_after[head.status] += 1
            if head.status not in result.samples:  # what a refusal said, for the report
                result.samples[head.status] = bytes(self.buf[self.body_start:self.body_start + SAMPLE_BYTES])
        self.buf.clear()
        assert self.transport is not None
        if head.close:
            self.transport.close()  # the slot reconnects
        elif run.honour_retry_after and head.retry_after and head.status in (429, 503):
            run.loop.call_later(head.retry_after, self.send_next)
        else:
            self.send_next()

    def connection_lost(self, exc: Exception | None) -> None:
        if self.in_flight:
            if self.head is not None and self.head.length is None and not self.head.chunked:
                self.complete(self.head)
            elif self.run.loop.time() < self.run.deadline:
                self.run.result.errors += 1
        if not self.lost.done():
            self.lost.set_result(None)


async def _slot(run: _Run, host: str, port: int, source: str | None) -> None:
    """Keep one connection open until the deadline, reconnecting when the server closes it."""
    loop = run.loop
    local = (source, 0) if source else None
    while loop.time() < run.deadline:
        try:
            transport, client = await loop.create_connection(lambda: _Client(run), host, port, local_addr=local)
        except OSError:
            run.result.errors += 1
            await asyncio.sleep(0.05)
            continue
        sock = transport.get_extra_info("socket")
        if sock is not None:  # small requests must leave at once, not wait for an ACK
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        await asyncio.wait({client.lost}, timeout=max(0.0, run.deadline - loop.time()))
        if not client.lost.done():
            transport.abort()  # the deadline: a request still in flight is dropped
            await client.lost


async def run_load(host: str, port: int, requests: Sequence[bytes], connections: int, seconds: float,
                   source: str | Sequence[str] | None = None, honour_retry_after: bool = False) -> LoadResult:
    """Load ``host:port`` for ``seconds`` with ``connections`` keep-alive connections.

    Requests are sent in order, round-robin over ``requests`` (a long or lazy sequence of
    distinct texts makes every request new; ``result.sent > len(requests)`` says it wrapped; a
    lazy one that raises IndexError ends the run there).
    ``source`` binds every connection to that local address; a list of addresses binds
    connection i to ``source[i % len(source)]`` (as many clients). With ``honour_retry_after`` a
    connection answered 429/503 with a Retry-After waits that long before its next request.
    """
    run = _Run(requests, seconds, honour_retry_after)
    run.result.connections = connections
    sources = [source] if source is None or isinstance(source, str) else list(source)
    await asyncio.gather(*(_slot(run, host, port, sources[i % len(sources)]) for i in range(connections)))
    return run.result


async def read_response(reader: asyncio.StreamReader) -> tuple[Head, bytes]:
    """Read one whole response from a stream (for clients that send one request at a time)."""
    head = parse_head(await reader.readuntil(b"\r\n\r\n"))
    if head.length is not None:
        return head, await reader.readexactly(head.length)
    if not head.chunked:
        return head, await reader.read()
    body = bytearray()
    while True:
        size = int((await reader.readuntil(b"\r\n")).split(b";", 1)[0], 16)
        if size == 0:
            while await reader.readuntil(b"\r\n") != b"\r\n":  # trailers
                pass
            return head, bytes(body)
        body += (await reader.readexactly(size + 2))[:-2]


def run_sync(coro: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine to completion on uvloop when it is installed, else asyncio's loop."""
    try:
        import uvloop
    except ImportError:
        return asyncio.run(coro)
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        return runner.run(coro)


# --- the self-test: a responder as cheap as HTTP gets, to find the generator's ceiling ---

FIXED = (b"HTTP/1.1 200 OK\r\nContent-Type: application/sparql-results+json\r\nContent-Length: 2\r\n\r\n{}")
CHUNKED = (b"HTTP/1.1 200 OK\r\nContent-Type: text/turtle\r\nTransfer-Encoding: chunked\r\n\r\n"
           b"5\r\nhello\r\n7;ext=1\r\n, world\r\n0\r\nX-Trailer: yes\r\n\r\n")


class _Responder(asyncio.Protocol):
    """Answers each request head with a constant response (chunked when the path says so)."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)
        self.buf = b""

    def data_received(self, data: bytes) -> None:
        self.buf += data
        while (end := self.buf.find(b"\r\n\r\n")) >= 0:
            head, self.buf = self.buf[:end], self.buf[end + 4:]
            self.transport.write(CHUNKED if b"chunked" in head.split(b"\r\n", 1)[0] else FIXED)


async def _serve_responder(port: int) -> None:
    server = await asyncio.get_running_loop().create_server(_Responder, "127.0.0.1", port, backlog=1024)
    async with server:
        await server.serve_forever()


def _wait_port(port: int, timeout: float = 10.0) -> None:
    started = time.perf_counter()
    while time.perf_counter() - started < timeout:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            time.sleep(0.02)
    raise RuntimeError(f"the responder on port {port} did not start")


def self_test(connections: int, seconds: float) -> dict[str, dict[str, Any]]:
    """The generator's ceiling against the raw responder: fixed-length and chunked answers."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = int(s.getsockname()[1])
    proc = subprocess.Popen([sys.executable, __file__, "--responder", str(port)], start_new_session=True)
    try:
        _wait_port(port)
        out = {}
        for name, path in (("fixed-length", "/sparql?query=x"), ("chunked", "/chunked?query=x")):
            requests = [get_request("127.0.0.1", port, f"{path}{i}", "*/*") for i in range(1000)]
            result = run_sync(run_load("127.0.0.1", port, requests, connections, seconds))
            out[name] = result.as_dict()
        return out
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(10)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("url", nargs="?", help="load this URL with one repeated GET")
    ap.add_argument("-c", "--connections", type=int, default=8)
    ap.add_argument("-s", "--seconds", type=float, default=5.0)
    ap.add_argument("--accept", default="application/sparql-results+json")
    ap.add_argument("--source", help="local address to bind the connections to (e.g. 127.0.0.7)")
    ap.add_argument("--self-test", action="store_true", help="measure the ceiling against a raw responder")
    ap.add_argument("--responder", type=int, metavar="PORT", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.responder:
        run_sync(_serve_responder(args.responder))
    elif args.self_test:
        for name, figures in self_test(args.connections, args.seconds).items():
            print(f"{name}: {figures['rps']:,.0f} req/s at {args.connections} connections, "
                  f"p50 {figures['p50_ms']} ms, p99 {figures['p99_ms']} ms, statuses {figures['statuses']}, "
                  f"errors {figures['errors']}")
    elif args.url:
        url = urlsplit(args.url)
        host, port = url.hostname or "127.0.0.1", url.port or 80
        target = url.path + (f"?{url.query}" if url.query else "")
        result = run_sync(run_load(host, port, [get_request(host, port, target, args.accept)], args.connections,
                                   args.seconds, args.source))
        print(result.as_dict())
    else:
        ap.error("give a URL or --self-test")


if __name__ == "__main__":
    main()
