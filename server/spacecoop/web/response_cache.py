"""Whole GET responses kept in memory, served before the web framework runs.

The graph is read-only between releases, so a GET answer that carries our ETag (see
``middleware.request_tag``) is a pure function of the graph version, the URL and the
negotiation headers. This outermost ASGI layer keeps such responses (bounded in entries
and bytes) and replays them without routing, middleware or a query worker, so a popular
query costs about as much as a static file. ``If-None-Match`` is answered 304 here too.

Responses that opt out of validators (``Cache-Control: no-store``, e.g. NOW()/RAND()
answers and errors), streamed ones and large ones are passed through untouched.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from spacecoop.engine.cache import BoundedCache
from spacecoop.web import etags
from spacecoop.web.middleware import ASGIApp, Message, Receive, Scope, Send, header, request_tag

MAX_ENTRY_BYTES = 1 << 20


@dataclass(frozen=True)
class CachedResponse:
    status: int
    headers: list[tuple[bytes, bytes]]
    body: bytes


class ResponseCache:
    """ASGI wrapper: replay cached GET responses, remember new cacheable ones."""

    def __init__(self, app: ASGIApp, version: Callable[[], str], max_entries: int, max_bytes: int) -> None:
        self.app = app
        self.version = version
        self.cache: BoundedCache[CachedResponse] = BoundedCache(max_entries, max_bytes)
        # Look-ups of GET and HEAD requests with a validator (for /metrics): replayed, or passed on.
        self.hits = 0
        self.misses = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        tag = request_tag(scope, self.version()) if scope["type"] == "http" else None
        if tag is None:
            await self.app(scope, receive, send)
            return
        # CORS adds Access-Control-Allow-Origin only for requests with an Origin header.
        key = tag + ("+origin" if header(scope, b"origin") is not None else "")
        hit = self.cache.get(key)
        if hit is None:
            self.misses += 1
            # Record GET answers only: a HEAD answer has no body to replay.
            recorder = self._recorder(key, tag, send) if scope["method"] == "GET" else send
            await self.app(scope, receive, recorder)
            return
        self.hits += 1
        inm = header(scope, b"if-none-match")
        if inm and etags.matches(inm, tag, exists=True):  # a cached 200: the representation exists
            headers = [(k, v) for k, v in hit.headers if k not in (b"content-length", b"content-type")]
            await send({"type": "http.response.start", "status": 304, "headers": headers})
            await send({"type": "http.response.body", "body": b""})
            return
        await send({"type": "http.response.start", "status": hit.status, "headers": hit.headers})
        await send({"type": "http.response.body", "body": b"" if scope["method"] == "HEAD" else hit.body})

    def _recorder(self, key: str, tag: str, send: Send) -> Send:
        start: Message | None = None
        chunks: list[bytes] = []
        size = 0

        async def record(message: Message) -> None:
            nonlocal start, size
            if message["type"] == "http.response.start":
                start = message
            elif message["type"] == "http.response.body" and start is not None:
                chunks.append(message.get("body", b""))
                size += len(chunks[-1])
                if not message.get("more_body", False) and size <= MAX_ENTRY_BYTES and _cacheable(start, tag):
                    self.cache.put(key, CachedResponse(start["status"], list(start["headers"]), b"".join(chunks)))
            await send(message)

        return record


def _cacheable(start: Message, tag: str) -> bool:
    """Only complete 200 answers that carry this request's own validator."""
    headers = {k.lower(): v for k, v in start.get("headers", [])}
    return start["status"] == 200 and headers.get(b"etag") == tag.encode() \
        and b"no-store" not in headers.get(b"cache-control", b"")
