"""Cross-cutting HTTP behaviour for every route: ``install(app, settings)``.

* CORS: any origin may read (GET, HEAD, POST queries), never with credentials;
* ``X-Content-Type-Options: nosniff`` on every response;
* a request-body limit (413), enforced on the ``Content-Length`` header *and* on the bytes
  actually received, so a chunked or lying upload cannot get past it;
* any unhandled exception becomes a short JSON 500 — no traceback, path or library name
  reaches the client (the traceback goes to the server log);
* validators for GET answers: the graph is read-only, so a GET answer is a function of
  the graph version, the URL and the negotiation headers. Its ETag is computed from
  exactly those, which lets a matching ``If-None-Match`` be answered 304 *before* any
  query runs;
* HEAD on every GET route: a HEAD request is routed as a GET and answered with that GET's
  status and headers and no body (RFC 9110 §9.3.2). FastAPI routes declared with
  ``@router.get`` accept GET only, so without this a HEAD was 405 — until the response
  cache held the GET and replayed its headers.

A route opts out of caching by setting its own ``ETag`` or ``Cache-Control``.
"""

from __future__ import annotations

import http
import logging
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

import orjson
from fastapi import FastAPI
from fastapi.responses import Response
from starlette.middleware.cors import CORSMiddleware

from spacecoop import config
from spacecoop.web import etags

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

log = logging.getLogger("spacecoop")

CACHE_CONTROL = "public, max-age=60"
# Headers a GET answer may vary on; they are part of its ETag.
VARY_HEADERS = (b"accept", b"accept-language")
CORS_EXPOSED = ["ETag", "Content-Length", "Content-Type", "Retry-After"]


def error_response(status: int, message: str, headers: dict[str, str] | None = None) -> Response:
    """A short JSON error (``error_body``), never cached."""
    return Response(error_body(status, message), status_code=status, media_type="application/json",
                    headers={"Cache-Control": "no-store", **(headers or {})})


def error_body(status: int, message: str) -> bytes:
    """The one JSON error shape: ``{"status": 400, "error": "Bad Request", "message": …}``.

    >>> error_body(413, "too big")
    b'{"status":413,"error":"Request Entity Too Large","message":"too big"}'
    """
    try:
        phrase = http.HTTPStatus(status).phrase
    except ValueError:
        phrase = "Error"
    return orjson.dumps({"status": status, "error": phrase, "message": message})


class _BodyTooLarge(Exception):
    """Raised from ``receive`` when the request body passes the limit."""


def header(scope: Scope, name: bytes) -> bytes | None:
    for key, value in scope.get("headers", ()):
        if key == name:
            return bytes(value)
    return None


def request_tag(scope: Scope, version: str) -> str | None:
    """The validator a 200 GET answer to this request carries (None for other methods).

    A GET answer is a function of the graph version, the URL and the negotiation headers,
    so its tag is computed from exactly those, before any route runs.
    """
    if scope.get("method") not in ("GET", "HEAD") or not version:
        return None  # no version (a remote store): the data may change under us
    # Both the response cache and the guard ask, for the same request: hash it once.
    key = (version, scope.get("path", ""), bytes(scope.get("query_string", b"")))
    memo = scope.get(_TAG_MEMO)
    if memo is not None and memo[0] == key:
        return str(memo[1])
    tag = etags.weak(*key, *(header(scope, name) or b"" for name in VARY_HEADERS))
    scope[_TAG_MEMO] = (key, tag)
    return tag


_TAG_MEMO = "spacecoop.request_tag"
# What may carry a response's body (the latter two are ASGI extensions, e.g. a file response).
_BODY_MESSAGES = ("http.response.body", "http.response.pathsend", "http.response.zerocopysend")


class GuardMiddleware:
    """Body limit, nosniff, safe 500s, ETag/304 and HEAD as one pure ASGI middleware.

    Pure ASGI (rather than ``BaseHTTPMiddleware``) so that streaming request and response
    bodies pass through without being buffered.
    """

    def __init__(self, app: ASGIApp, max_body: int, version: Callable[[], str]) -> None:
        self.app = app
        self.max_body = max_body
        self.version = version

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = header(scope, b"content-length")
        if declared is not None and (not declared.strip().isdigit() or int(declared) > self.max_body):
            status = 413 if declared.strip().isdigit() else 400
            await self._send_error(scope, send, status, self._too_large_message()
                                   if status == 413 else "invalid Content-Length header")
            return
        tag = request_tag(scope, self.version())
        inm = header(scope, b"if-none-match")
        # Before the route runs, only a named tag can match: "*" asks whether the resource
        # has a representation at all, which the route's answer (200 or not) tells.
        if tag and inm and etags.matches(inm, tag, exists=False):
            await self._send_not_modified(send, tag)
            return
        wildcard = bool(tag and inm and etags.matches(inm, tag, exists=True))
        started = exceeded = replaced = False
        received = 0
        # A copy: the server reads the method from its own scope to know it must send no body.
        head = scope["method"] == "HEAD"
        routed = {**scope, "method": "GET"} if head else scope

        async def limited_receive() -> Message:
            nonlocal received, exceeded
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_body:
                    exceeded = True
                    raise _BodyTooLarge
            return message

        async def guarded_send(message: Message) -> None:
            nonlocal started, replaced
            if exceeded:  # a route swallowed _BodyTooLarge (e.g. as "cannot parse body"): still 413
                if not started:
                    started = True
                    await self._send_error(scope, send, 413, self._too_large_message())
                return
            if replaced:  # the body of a 200 answered as 304
                return
            if head and message["type"] in _BODY_MESSAGES:  # the GET's body: only its end is told
                if not message.get("more_body", False):
                    await send({"type": "http.response.body", "body": b""})
                return
            if message["type"] == "http.response.start":
                started = True
                if wildcard and message["status"] == 200 and tag:
                    replaced = True
                    await self._send_not_modified(send, tag)
                    return
                message["headers"] = self._decorate(list(message.get("headers", [])), message["status"], tag)
            await send(message)

        try:
            await self.app(routed, limited_receive, guarded_send)
        except _BodyTooLarge:
            if not started:
                await self._send_error(scope, send, 413, self._too_large_message())
        except Exception:
            log.exception("unhandled error on %s %s", scope.get("method"), scope.get("path"))
            if not started:
                await self._send_error(scope, send, 500, "the server could not answer this request; "
                                                         "the error has been logged")

    def _too_large_message(self) -> str:
        return f"the request body is larger than the {self.max_body:,}-byte limit"

    @staticmethod
    def _decorate(headers: list[tuple[bytes, bytes]], status: int, tag: str | None) -> list[tuple[bytes, bytes]]:
        names = {k.lower() for k, _ in headers}
        if b"x-content-type-options" not in names:
            headers.append((b"x-content-type-options", b"nosniff"))
        if tag and status == 200 and b"etag" not in names and b"cache-control" not in names:
            headers.append((b"etag", tag.encode()))
            headers.append((b"cache-control", CACHE_CONTROL.encode()))
            vary = {v.strip().lower() for k, val in headers if k.lower() == b"vary" for v in val.split(b",")}
            missing = [h for h in VARY_HEADERS if h not in vary]
            if missing:
                headers = [(k, v) for k, v in headers if k.lower() != b"vary"]
                headers.append((b"vary", b", ".join(sorted(vary | set(missing)))))
        return headers

    @staticmethod
    async def _send_not_modified(send: Send, tag: str) -> None:
        await send({"type": "http.response.start", "status": 304, "headers": [
            (b"etag", tag.encode()), (b"cache-control", CACHE_CONTROL.encode()),
            (b"vary", b", ".join(VARY_HEADERS)), (b"x-content-type-options", b"nosniff"),
            (b"access-control-allow-origin", b"*")]})
        await send({"type": "http.response.body", "body": b""})

    @staticmethod
    async def _send_error(scope: Scope, send: Send, status: int, message: str) -> None:
        body = error_body(status, message)
        headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                   (b"x-content-type-options", b"nosniff"), (b"cache-control", b"no-store")]
        if header(scope, b"origin") is not None:
            headers.append((b"access-control-allow-origin", b"*"))
        if status == 413:
            headers.append((b"connection", b"close"))  # the rest of the upload is not read
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": b"" if scope.get("method") == "HEAD" else body})


# CORS: any origin may read, never with credentials (a cookie must never be honoured cross-site).
CORS_OPTIONS: dict[str, Any] = {
    "allow_origins": ["*"],
    "allow_credentials": False,
    "allow_methods": ["GET", "HEAD", "POST", "OPTIONS"],
    "allow_headers": ["*"],
    "expose_headers": CORS_EXPOSED,
    "max_age": 86400,
}


def install(app: FastAPI, settings: config.Settings) -> None:
    """Add CORS and the guard to ``app`` (the guard outermost, so it sees every response)."""
    app.add_middleware(CORSMiddleware, **CORS_OPTIONS)
    app.add_middleware(GuardMiddleware, max_body=settings.max_request_bytes, version=_engine_version(app))


def wrap(inner: ASGIApp, app: FastAPI, settings: config.Settings) -> ASGIApp:
    """``inner`` with exactly the behaviour ``install`` gives ``app``'s routes (for routes served outside it)."""
    return GuardMiddleware(CORSMiddleware(inner, **CORS_OPTIONS), settings.max_request_bytes, _engine_version(app))


def _engine_version(app: FastAPI) -> Callable[[], str]:
    def version() -> str:
        engine = getattr(app.state, "engine", None)
        return str(getattr(engine, "version", "") or "")

    return version


__all__ = ["CACHE_CONTROL", "CORS_OPTIONS", "GuardMiddleware", "error_body", "header", "install",
           "request_tag", "wrap"]
