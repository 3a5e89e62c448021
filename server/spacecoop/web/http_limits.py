"""Bounded HTTP connections: what one client may make the server hold, and for how long.

uvicorn's httptools protocol accepts a request head of any length (httptools joins a
header's pieces until it ends, so a header that never ends grows without limit), lets a
connection that sends nothing, or sends its head a byte at a time, stay open for ever, and
accepts connections until the process runs out of file descriptors. This module owns the
bounds on all of that:

* the size and number of request-head fields (``431``, or ``414`` for a long target),
* the time to send a request head and a request body (``408``),
* the idle keep-alive time (uvicorn's own timer, with our setting),
* the number of open connections, kept below the file-descriptor limit, which it raises
  to the hard limit at start.

:func:`protocol_class` builds the uvicorn protocol class (passed as ``http=``);
:func:`limits_from_settings` reads the limits from :class:`~spacecoop.config.Settings`.
Everything else is uvicorn's :class:`HttpToolsProtocol`, unchanged.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import math
import resource
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, ClassVar

import httptools
from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol

from spacecoop.web.middleware import error_body

if TYPE_CHECKING:
    from uvicorn.config import Config
    from uvicorn.server import ServerState

    from spacecoop.config import Settings

# Descriptors kept for everything that is not a client connection: the listening socket,
# the event loop, pipes to the query workers, the store's files, logs, dumps being read.
FD_RESERVE = 64

_NEVER = math.inf


@dataclass(frozen=True)
class Limits:
    """The bounds one server applies to every connection (timeouts in seconds)."""

    max_header_bytes: int = 16 * 1024
    max_headers: int = 100
    header_timeout: float = 10.0
    body_timeout: float = 30.0
    keepalive_timeout: float = 5.0
    max_connections: int = 1024


def raise_fd_limit() -> int:
    """Raise the soft ``RLIMIT_NOFILE`` to the hard limit where allowed; return the soft limit.

    >>> raise_fd_limit() == resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    True
    """
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    # Some kernels refuse "unlimited" as a soft value; a million descriptors is plenty.
    wanted = 1 << 20 if hard == resource.RLIM_INFINITY else hard
    if soft != resource.RLIM_INFINITY and soft < wanted:
        with contextlib.suppress(ValueError, OSError):  # not allowed: keep the soft limit we have
            resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def connection_cap(requested: int, fd_soft_limit: int, reserve: int = FD_RESERVE) -> int:
    """How many connections to keep open at most: ``requested`` (0: as many as fit), below the fd limit.

    An explicit request above what the descriptors allow is lowered: running out of
    descriptors fails every request, including the ones already accepted.

    >>> connection_cap(0, 256)
    192
    >>> connection_cap(50, 256), connection_cap(10_000, 256)
    (50, 192)
    >>> connection_cap(0, 80)  # a tiny limit still leaves the reserve a quarter
    60
    """
    if fd_soft_limit == resource.RLIM_INFINITY:
        fd_soft_limit = 1 << 20
    fits = max(fd_soft_limit - reserve, fd_soft_limit * 3 // 4, 1)
    return min(requested, fits) if requested > 0 else fits


def limits_from_settings(settings: Settings, fd_soft_limit: int | None = None) -> Limits:
    """The limits a server applies, from its settings and its (already raised) fd limit."""
    if fd_soft_limit is None:
        fd_soft_limit = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    return Limits(
        max_header_bytes=settings.max_header_bytes,
        max_headers=settings.max_headers,
        header_timeout=settings.header_timeout,
        body_timeout=settings.body_timeout,
        keepalive_timeout=settings.keepalive_timeout,
        max_connections=connection_cap(settings.max_connections, fd_soft_limit),
    )


def protocol_class(limits: Limits) -> type[BoundedHttpToolsProtocol]:
    """A uvicorn HTTP protocol class applying ``limits`` (``uvicorn.run(app, http=...)``).

    >>> cls = protocol_class(Limits(max_headers=7))
    >>> issubclass(cls, HttpToolsProtocol), cls.limits.max_headers
    (True, 7)
    """
    return type("BoundedHttpToolsProtocol", (BoundedHttpToolsProtocol,), {"limits": replace(limits)})


class _Refused(Exception):
    """Raised inside a parser callback to stop parsing a request head that is too large."""


class BoundedHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with bounded heads, bodies, idle time and connection count.

    One lazy timer per connection enforces every deadline: phases only move ``_deadline``
    (a float), and the timer, when it fires early, re-arms itself for the current deadline,
    so a keep-alive request costs no timer calls beyond uvicorn's own.
    """

    limits: ClassVar[Limits] = Limits()

    def __init__(self, config: Config, server_state: ServerState, app_state: dict[str, Any],
                 _loop: asyncio.AbstractEventLoop | None = None) -> None:
        super().__init__(config, server_state, app_state, _loop)
        limits = self.limits
        self.timeout_keep_alive = limits.keepalive_timeout  # type: ignore[assignment]
        self._max_bytes = limits.max_header_bytes
        self._max_headers = limits.max_headers
        self._header_timeout = limits.header_timeout
        self._body_timeout = limits.body_timeout
        # Bytes received since the current head began, counted before the parser sees
        # them: httptools buffers an unfinished header itself, out of our sight.
        self._head_bytes = 0
        self._reading_head = True
        self._refusal = 0
        self._deadline = _NEVER
        self._timer: asyncio.TimerHandle | None = None

    # --- connection ----------------------------------------------------------------------
    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        """Start the first head's clock; make room, or refuse, past the connection cap."""
        super().connection_made(transport)
        self._set_deadline(self.loop.time() + self._header_timeout)
        if len(self.connections) > self.limits.max_connections:
            self._make_room()

    def connection_lost(self, exc: Exception | None) -> None:
        """Drop the deadline timer with the connection."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        super().connection_lost(exc)

    def _make_room(self) -> None:
        # Only reached at the cap, so a scan of every connection is affordable; closing a
        # batch at once keeps a stream of new connections from scanning on every accept.
        live = [c for c in self.connections if not _closing(c)]
        excess = len(live) - self.limits.max_connections
        if excess <= 0:
            return
        # Connections waiting for (or slowly sending) a head, with no response owed, hold
        # a descriptor and nothing else: close the oldest. Busy ones are never closed.
        idle = [c for c in live if c is not self and isinstance(c, BoundedHttpToolsProtocol) and c._idle()]
        batch = max(excess, min(len(idle), self.limits.max_connections // 64))
        for conn in heapq.nsmallest(batch, idle, key=lambda c: c._deadline):
            conn.transport.close()
        if len(idle) < excess:
            self._respond(503, "too many open connections; try again shortly", retry_after=1)

    def _idle(self) -> bool:
        return self._reading_head and (self.cycle is None or self.cycle.response_complete)

    # --- request heads -------------------------------------------------------------------
    def data_received(self, data: bytes) -> None:
        """uvicorn's ``data_received``, counting head bytes and answering refused heads."""
        self._unset_keepalive_if_required()
        if self._reading_head:
            self._head_bytes += len(data)
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            if self._should_upgrade():
                self.handle_websocket_upgrade()
            else:
                self._unsupported_upgrade_warning()
            return
        except httptools.HttpParserError:
            if self._refusal:
                self._refuse_head()
                return
            msg = "Invalid HTTP request received."
            self.logger.warning(msg)
            self.send_400_response(msg)
            return
        # Checked after feeding, so that a head ending in this chunk, followed by its body,
        # is judged exactly in on_headers_complete; what is kept stays under one chunk more.
        if not self._reading_head:
            return
        if self.headers is not None and len(self.headers) > self._max_headers:
            self._refusal = 431
            self._refuse_head()
        elif self._head_bytes > self._max_bytes:
            # A long target is told apart so a SPARQL client knows to switch to POST.
            self._refusal = 414 if len(getattr(self, "url", b"")) * 2 > self._head_bytes else 431
            self._refuse_head()

    def on_headers_complete(self) -> None:
        """Refuse a head past the limits, else start the body's clock."""
        # The limits are checked once per head, not per field: a field-by-field hook costs
        # a Python call per header on every request, and memory is bounded by the byte count.
        if len(self.headers) > self._max_headers:
            self._refusal = 431
            raise _Refused
        if self._head_bytes > self._max_bytes:
            # The chunks counted may hold the body too: measure the head itself.
            fields = sum(len(name) + len(value) + 4 for name, value in self.headers)
            if len(self.url) + fields > self._max_bytes:
                self._refusal = 414 if len(self.url) > fields else 431
                raise _Refused
        self._reading_head = False
        queued = self.cycle is not None and not self.cycle.response_complete
        super().on_headers_complete()
        # A pipelined request waits (reading paused) until the one before it is answered.
        self._set_deadline(_NEVER if queued else self.loop.time() + self._body_timeout)

    def on_message_complete(self) -> None:
        """The body is in: the next head's clock starts once the response is complete."""
        super().on_message_complete()
        self._reading_head = True
        self._head_bytes = 0
        # Usually the app is still answering: the body's deadline is left in place, and the
        # timer, should it fire first, sees a response owed and stands down.
        if self.cycle is None or self.cycle.response_complete:
            self._set_deadline(self.loop.time() + self._header_timeout)

    def on_response_complete(self) -> None:
        """uvicorn's handling, then the clock of whatever the client now owes us."""
        super().on_response_complete()
        if self.transport.is_closing():
            return
        if not self._reading_head:
            self._set_deadline(self.loop.time() + self._body_timeout)
        elif self.cycle.response_complete:
            # The next head is due within header_timeout of this response; an idle
            # connection is closed by this or by uvicorn's keep-alive timer, whichever is first.
            self._set_deadline(self.loop.time() + self._header_timeout)
        else:
            self._set_deadline(_NEVER)

    # --- deadlines -----------------------------------------------------------------------
    def _set_deadline(self, when: float) -> None:
        self._deadline = when
        if self._timer is None and when != _NEVER:
            self._timer = self.loop.call_at(when, self._on_timer)

    def _on_timer(self) -> None:
        self._timer = None
        if self.transport.is_closing() or self._deadline == _NEVER:
            return
        cycle = self.cycle
        if self._reading_head and cycle is not None and not cycle.response_complete:
            return  # the client owes nothing while the app answers; on_response_complete re-arms
        now = self.loop.time()
        if now < self._deadline:
            self._timer = self.loop.call_at(self._deadline, self._on_timer)
            return
        if not self._reading_head and self.flow.read_paused:
            # The app has not read the body buffered so far: the wait is ours, not the client's.
            self._set_deadline(now + self._body_timeout)
            return
        if self._reading_head:
            if self._head_bytes:
                self._respond(408, f"the request head took longer than {self._header_timeout:g} s")
            else:
                self.transport.close()
        elif cycle is not None and not cycle.response_started:
            # The app is waiting in receive(): it sees a disconnect and answers nothing.
            cycle.disconnected = True
            cycle.message_event.set()
            self._respond(408, f"the request body took longer than {self._body_timeout:g} s")
        else:
            self.transport.close()

    # --- answers -------------------------------------------------------------------------
    def _refuse_head(self) -> None:
        if self._refusal == 414:
            message = f"the request target is longer than {self._max_bytes:,} bytes; send long queries with POST"
        else:
            message = (f"the request head is over {self._max_bytes:,} bytes or "
                       f"{self._max_headers:,} header fields")
        self._respond(self._refusal, message)

    def _respond(self, status: int, message: str, retry_after: int | None = None) -> None:
        """Write a complete JSON error response and close the connection."""
        body = error_body(status, message)
        content = [STATUS_LINE[status]]
        for name, value in self.server_state.default_headers:
            content.extend([name, b": ", value, b"\r\n"])
        if retry_after is not None:
            content.append(b"retry-after: %d\r\n" % retry_after)
        content.extend([
            b"content-type: application/json\r\n",
            b"content-length: %d\r\n" % len(body),
            b"connection: close\r\n\r\n",
            body,
        ])
        self.transport.write(b"".join(content))
        self.transport.close()


def _closing(conn: object) -> bool:
    transport = getattr(conn, "transport", None)
    return transport is None or transport.is_closing()


__all__ = ["FD_RESERVE", "BoundedHttpToolsProtocol", "Limits", "connection_cap", "limits_from_settings",
           "protocol_class", "raise_fd_limit"]
