"""``spacecoop serve``: running the app (``spacecoop load`` builds stores: load_command.py).

``spacecoop serve`` says what it serves, as uvicorn and Datasette do: where it listens,
the store and its size, the workers and the time limit, what optional part is missing,
then one access-log line per request (``--quiet`` turns that off).

The base's path is where the server answers (docs/deploy.md): with
``SPACECOOP_BASE=https://example.org/kg/`` the IRI ``https://example.org/kg/resource/smile``
is served at ``/kg/resource/smile`` — and at ``/resource/smile`` too, so a reverse proxy
may pass the path through or strip the prefix.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import sys
import time
from collections.abc import Awaitable, Callable, MutableMapping, Sequence
from typing import Any
from urllib.parse import quote, unquote, urlsplit

from spacecoop import config
from spacecoop.engine.store import ENDPOINT_PATH, Engine
from spacecoop.engine.store_folder import StoreRefused
from spacecoop.rdf.errors import LoadError

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

WILDCARD_HOSTS = ("0.0.0.0", "::", "")  # every interface: no address a client could use

# Vendored browser assets (``make assets``): without them a page loads but does nothing.
VENDORED = (("yasgui", "the SPARQL editor (/sparql in a browser)"), ("swagger-ui", "the API documentation (/docs)"),
            ("redoc", "the API documentation (/redoc)"))


def settings_from_args(args: argparse.Namespace) -> config.Settings:
    """CLI flags override the environment-derived defaults."""
    changes: dict[str, object] = {}
    if getattr(args, "store", None):
        changes["store"] = args.store
    if getattr(args, "data", None):
        changes["data_files"] = tuple(args.data)
    if getattr(args, "timeout", None):
        changes["query_timeout"] = args.timeout
    if getattr(args, "workers", None):
        changes["workers"] = args.workers
    return config.Settings().with_(**changes)


def listen_url(host: str, port: int, base: str) -> str:
    """Where the server answers, under the base's path (the public URL when none is set).

    >>> listen_url("127.0.0.1", 8000, "https://spacecoop.example/")
    'http://127.0.0.1:8000/'
    >>> listen_url("::1", 8001, "https://example.org/kg/")
    'http://[::1]:8001/kg/'
    """
    return f"http://{f'[{host}]' if ':' in host else host}:{port}{base_path(base)}"


def base_path(base: str) -> str:
    """The path of a (normalised) base: ``/`` or ``/kg/``."""
    return urlsplit(base).path


class BasePath:
    """ASGI wrapper: a request under the base's path is answered as the same request at the root.

    Everything behind it (routes, IRI ↔ path, the response cache) knows one set of paths,
    relative to the base; ``root_path`` is left alone, since a stripped path may itself
    start with the prefix (base ``…/resource/``: ``/resource/resource/smile``).
    """

    def __init__(self, app: ASGIApp, prefix: str) -> None:
        self.app = app
        encoded = prefix.rstrip("/")  # "/kg": ASCII, maybe %-escaped (config.normalise_base)
        self.prefix = unquote(encoded)  # as ASGI gives the path: decoded
        self.raw_prefix = encoded.encode("ascii")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            path: str = scope["path"]
            if path == self.prefix or path.startswith(self.prefix + "/"):
                scope = dict(scope)
                scope["path"] = path[len(self.prefix):] or "/"
                raw = scope.get("raw_path")
                if raw is not None:  # the client may have escaped the prefix its own way
                    scope["raw_path"] = (raw[len(self.raw_prefix):] if raw.startswith(self.raw_prefix)
                                         else quote(scope["path"]).encode("ascii")) or b"/"
        await self.app(scope, receive, send)


# Bytes a request target may show as they are in a log line (printable ASCII but space);
# any other byte is percent-encoded, so a target can neither forge nor garble a line.
_SHOWN = bytes(range(0x21, 0x7f))
MAX_LOGGED_TARGET = 2000
FLUSH_SECONDS = 0.05


class AccessLog:
    """ASGI wrapper: one line per HTTP request,
    ``METHOD target status milliseconds client waited milliseconds`` — the client as the
    fair share counts it (``web.clients``) and how long its queries waited for a worker.

    Off the hot path: a line is formatted with bytes ``%`` and appended to a list; the
    list is written with one ``os.write`` at most every ``FLUSH_SECONDS`` (the first line
    of a quiet spell arms the timer), however many requests finished meanwhile — no
    logging module, no lock, no write or wake-up per request.
    """

    def __init__(self, app: ASGIApp, fd: int, caller_key: str = "") -> None:
        self.app = app
        self.fd = fd
        self.caller_key = caller_key  # where the request's Caller is in the scope (web.clients.SCOPE_KEY)
        self._pending: list[bytes] = []

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 0

        async def logged(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, logged)
        finally:
            self.record(scope, status, time.perf_counter() - started)

    def record(self, scope: Scope, status: int, seconds: float) -> None:
        """Queue the line of one finished request (status 0: none was sent)."""
        if self.fd < 0:
            return
        target = scope.get("raw_path") or quote(scope["path"]).encode("ascii")
        if scope.get("query_string"):
            target += b"?" + scope["query_string"]
        if target.translate(None, _SHOWN):  # some byte is not printable ASCII: rare, so checked in C first
            target = b"".join(bytes([c]) if 0x20 < c < 0x7f else b"%%%02X" % c for c in target)
        if len(target) > MAX_LOGGED_TARGET:
            target = target[:MAX_LOGGED_TARGET] + b"..."
        caller = scope.get(self.caller_key)
        who, waited = (caller.client.label.encode("ascii", "replace"), caller.waited) if caller else (b"-", 0.0)
        line = b"%s %s %s %.1fms %s waited %.1fms\n" % (scope["method"].encode("ascii", "replace"), target,
                                                       b"%d" % status if status else b"-", seconds * 1000,
                                                       who, waited * 1000)
        if not self._pending:
            asyncio.get_running_loop().call_later(FLUSH_SECONDS, self.flush)
        self._pending.append(line)

    def flush(self) -> None:
        """Write the queued lines (a reader that went away turns the log off)."""
        data = b"".join(self._pending)
        self._pending.clear()
        try:
            while data and self.fd >= 0:
                data = data[os.write(self.fd, data):]
        except BlockingIOError:
            pass  # a full pipe: drop these lines rather than stall every request
        except OSError:
            self.fd = -1


def missing_parts() -> list[str]:
    """What optional part is missing on this machine, one line each (empty: nothing).

    The picture renderer is tried for real (``graphviz.missing_reason`` draws a one-node
    graph), so this takes a few tenths of a second: ``cli_serve`` asks while the store loads.
    """
    from spacecoop.pictures import graphviz  # at call time: imported while the store loads (start-up time)

    out = []
    reason = graphviz.missing_reason()
    if reason:
        out.append(reason)
    for name, what in VENDORED:
        folder = config.STATIC_DIR / "vendor" / name
        if not folder.is_dir() or not any(folder.iterdir()):
            out.append(f"{what}: its browser assets are missing from {folder}; run `make assets`")
    return out


def banner(url: str, settings: config.Settings, engine: Engine, access_log: bool,
           warnings: Sequence[str] = ()) -> str:
    """The lines ``spacecoop serve`` prints once it listens (``warnings``: what is missing, …)."""
    store = settings.store_spec
    if store.remote:
        size = f"remote SPARQL endpoint {store.location}"
    else:
        kind = f"Oxigraph at {store.location}" if store.persistent else \
            {"oxigraph": "Oxigraph, in memory", "memory": "rdflib, in memory"}[store.kind]
        data = ", ".join(settings.data_files) if settings.data_files else "the bundled graph"
        size = f"{kind}: {data}, {engine.triple_count:,} triples in {len(engine.named_graphs)} named graphs"
    workers = f"{settings.workers} query worker{'s' if settings.workers != 1 else ''}"
    lines = [
        f"spacecoop serve: listening on {url} (SPARQL endpoint {url.rstrip('/')}{ENDPOINT_PATH})",
        f"  store      {size}",
        f"  base IRI   {settings.base}" + ("" if settings.public_url == url else f", public URL {settings.public_url}"),
        f"  queries    {workers}, time limit {settings.query_timeout:g} s, at most {settings.max_result_rows:,} rows",
        f"  per client {settings.client_concurrency} at once, {settings.client_budget:g} s of query time per "
        f"{settings.budget_window:g} s, at most {settings.queue_wait:g} s in the queue; "
        f"{settings.reserve_workers} reserve workers for light clients"
        + (f"; X-Forwarded-For from {', '.join(settings.trusted_proxies)}" if settings.trusted_proxies else "")
        + (f"; {len(settings.api_keys)} API keys" if settings.api_keys else ""),
    ]
    lines += [f"  warning    {w}" for w in warnings]
    lines.append("  access log below (method, path, status, time); --quiet turns it off" if access_log
                 else "  access log off (--quiet)")
    return "\n".join(lines)


def cli_serve(args: argparse.Namespace) -> int:
    """Serve the app with uvicorn (uvloop + httptools when installed)."""
    settings = settings_from_args(args)
    url = listen_url(args.host, args.port, settings.base)
    warnings: list[str] = []
    if not settings.public_url:
        if args.host in WILDCARD_HOSTS:
            warnings.append(f"listening on every interface and SPACECOOP_PUBLIC_URL is not set: links, the "
                            f"endpoint's base IRI and JSON-LD contexts name {url}, which other machines cannot "
                            "reach; set it to the address clients use (docs/deploy.md)")
        settings = settings.with_(public_url=url)
    engine = Engine(settings)
    # The store loads and the query workers boot while the web framework is imported
    # and the optional parts are tried.
    engine.launch()
    warnings += missing_parts()
    # Importing the framework builds ~10^5 long-lived objects: collecting garbage while they
    # pile up costs ~50 ms and finds nothing; frozen afterwards, they stay out of every later
    # collection too (shorter pauses while serving).
    gc.disable()
    import uvicorn

    from spacecoop.web import clients  # here, as the app: importing the framework overlaps the store loading
    from spacecoop.web.app import asgi_app  # here: importing the framework overlaps the store loading

    try:
        app: ASGIApp = asgi_app(settings, engine)
        engine.launched()
    except (LoadError, StoreRefused, ValueError, FileNotFoundError) as err:
        engine.close()
        print(f"spacecoop serve: {err}", file=sys.stderr)
        return 1
    finally:
        gc.freeze()
        gc.enable()
    if base_path(settings.base) != "/":
        app = BasePath(app, base_path(settings.base))
    # No standard output at all (started with it closed): nowhere to log to.
    logged = not args.quiet and sys.stdout is not None
    access_log = AccessLog(app, sys.stdout.fileno(), clients.SCOPE_KEY) if logged else None
    if access_log is not None:
        app = access_log
    # Bounded heads, bodies, idle time and connection count (http_limits.py); imported here,
    # with uvicorn, so the import overlaps the store's loading like the framework's does.
    from spacecoop.web import http_limits

    limits = http_limits.limits_from_settings(settings, http_limits.raise_fd_limit())
    server_config = uvicorn.Config(app, host=args.host, port=args.port, log_level="warning", access_log=False,
                                   ws="none", http=http_limits.protocol_class(limits))

    class Server(uvicorn.Server):
        async def startup(self, sockets: Any = None) -> None:
            await super().startup(sockets)  # the engine has started (lifespan), the port is bound
            if not self.should_exit:
                print(banner(url, settings, engine, access_log is not None, warnings), file=sys.stderr, flush=True)

    Server(server_config).run()
    if access_log is not None:
        access_log.flush()  # the last lines, queued in the moments before the server stopped
    return 0
