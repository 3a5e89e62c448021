"""``GET /metrics``: the server's requests, query workers and caches in Prometheus text format.

* Requests are counted by ``RequestMetrics``, the outermost ASGI layer of the served app, so
  answers replayed by the response cache and refusals (401, the fair share's 429) are
  counted like any other: ``spacecoop_http_requests_total{route,method,status}`` and the
  ``spacecoop_http_request_duration_seconds{route}`` histogram.
* ``route`` is one of a fixed set of names (``ROUTES``) chosen from the path's first
  segment, never the path itself: anyone may send any path, and every new label value
  would be a new series kept for ever. Methods outside ``METHODS`` are counted as "other".
* The engine (workers, queue, time limits, refusals, answer cache) and the response cache
  are read only when scraped (``EngineState``): nothing is kept for them per request.

Each app has its own ``CollectorRegistry`` (several apps may live in one process: the
tests, a benchmark), never prometheus_client's global one.

The count per request is a few integer additions on plain dicts, turned into metric
families only at scrape time: an ASGI server runs every request on one event-loop thread,
and ``/metrics`` is answered on that thread too (an ``async`` route, no thread pool), so the
tallies need no lock — prometheus_client's own ``Counter`` and ``Histogram`` take one on
every increment.
"""

from __future__ import annotations

import time
from bisect import bisect_left
from collections.abc import Iterator

from fastapi import APIRouter
from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_PLAIN_0_0_4, CollectorRegistry, ProcessCollector, generate_latest
from prometheus_client.metrics_core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.utils import floatToGoString

from spacecoop.engine.store import ENDPOINT_PATH, Engine
from spacecoop.linked import void
from spacecoop.web.middleware import ASGIApp, Message, Receive, Scope, Send
from spacecoop.web.response_cache import ResponseCache

PATH = "/metrics"
# The text format Prometheus reads everywhere (prometheus_client's CONTENT_TYPE_LATEST is
# now the 1.0.0 format with UTF-8 names; our names and labels are plain ASCII either way).
CONTENT_TYPE = CONTENT_TYPE_PLAIN_0_0_4

# A path's first segment, its extension dropped ("ontology.ttl" → "ontology"), names its route.
SEGMENT_ROUTES = {
    ENDPOINT_PATH.strip("/"): "sparql",
    "resource": "resource",
    "graph": "graph",
    "ontology": "ontology", "class": "ontology", "context": "ontology",  # context.jsonld: the ontology's terms
    "queries": "queries",
    "api": "api",
    "dumps": "dumps",
    "search": "search",
    "timeline": "pictures", "network": "pictures",
    "static": "static",
    "docs": "docs", "redoc": "docs", "openapi": "docs",
    PATH.strip("/"): "metrics",
    "index": "landing",
}
# Whole paths whose first segment alone would not say (the root's is empty, like "//x"'s).
PATH_ROUTES = {"/": "landing", void.PATH: "void"}
ROUTES = frozenset({*SEGMENT_ROUTES.values(), *PATH_ROUTES.values(), "other"})
METHODS = frozenset({"GET", "HEAD", "POST", "OPTIONS", "PUT", "DELETE", "PATCH"})
# Seconds: a replayed answer takes well under a millisecond, a query may run to its time limit.
BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
# The buckets' ``le`` labels, written as prometheus_client writes its own ("1.0", "+Inf").
BOUNDS = (*map(floatToGoString, BUCKETS), "+Inf")
# What a server sends when the app raised, or returned without answering.
NO_ANSWER_STATUS = 500


def route_of(path: str) -> str:
    """The route name a request path is counted under: one of ``ROUTES``, whatever the path.

    >>> route_of("/sparql"), route_of("/resource/mission/smile"), route_of("/ontology.ttl")
    ('sparql', 'resource', 'ontology')
    >>> route_of("/"), route_of("/index.json"), route_of("/.well-known/void"), route_of("/timeline.svg")
    ('landing', 'landing', 'void', 'pictures')
    >>> route_of("/wp-admin/setup.php"), route_of("/.well-known/security.txt"), route_of("//resource")
    ('other', 'other', 'other')
    """
    whole = PATH_ROUTES.get(path)
    if whole is not None:
        return whole
    segment = path[1:].partition("/")[0]
    return SEGMENT_ROUTES.get(segment.partition(".")[0], "other")


class Durations:
    """One route's request durations: a count per bucket (the last: beyond ``BUCKETS``) and their sum."""

    __slots__ = ("counts", "seconds")

    def __init__(self) -> None:
        self.counts = [0] * (len(BUCKETS) + 1)
        self.seconds = 0.0

    def cumulative(self) -> list[tuple[str, float]]:
        """The buckets as Prometheus writes them: ``le`` bounds, each count including the smaller ones."""
        out, total = [], 0
        for bound, count in zip(BOUNDS, self.counts, strict=True):
            total += count
            out.append((bound, float(total)))
        return out


class RequestTally:
    """The requests served, counted in plain dicts; a collector that writes them as metric families."""

    def __init__(self) -> None:
        self.requests: dict[tuple[str, str, int], int] = {}
        self.durations: dict[str, Durations] = {}

    def add(self, path: str, method: str, status: int, seconds: float) -> None:
        """Count one finished request (the hot path: a few dict and list operations)."""
        route = route_of(path)
        key = (route, method if method in METHODS else "other", status)
        self.requests[key] = self.requests.get(key, 0) + 1
        durations = self.durations.get(route)
        if durations is None:
            durations = self.durations[route] = Durations()
        durations.counts[bisect_left(BUCKETS, seconds)] += 1  # the first bound >= seconds: "le"
        durations.seconds += seconds

    def collect(self) -> Iterator[Metric]:
        """The tallies as metric families (prometheus_client's ``Collector`` protocol)."""
        requests = CounterMetricFamily("spacecoop_http_requests_total", "HTTP requests answered, by route name, "
                                       "method and status", labels=["route", "method", "status"])
        for (route, method, status), count in sorted(self.requests.items()):
            requests.add_metric([route, method, str(status)], count)
        yield requests
        durations = HistogramMetricFamily("spacecoop_http_request_duration_seconds", "Time from a request's "
                                          "arrival to the end of its answer, by route name", labels=["route"])
        for route, times in sorted(self.durations.items()):
            durations.add_metric([route], times.cumulative(), times.seconds)
        yield durations


class EngineState:
    """A collector reading the engine's state and counters (``Engine.stats``) and the response
    cache's hits and misses when scraped."""

    def __init__(self, engine: Engine, response_cache: ResponseCache | None = None) -> None:
        self.engine = engine
        self.response_cache = response_cache  # set by ``instrument``: a bare ``create_app`` has none

    def collect(self) -> Iterator[Metric]:
        """The engine's and caches' metric families (prometheus_client's ``Collector`` protocol)."""
        stats = self.engine.stats()
        yield GaugeMetricFamily("spacecoop_workers", "Query worker processes (general and reserve)",
                                value=stats["workers"])
        yield GaugeMetricFamily("spacecoop_workers_busy", "Query workers running a query", value=stats["busy_workers"])
        yield GaugeMetricFamily("spacecoop_queue_length", "Queries waiting for a worker", value=stats["queued"])
        yield GaugeMetricFamily("spacecoop_queries_running", "Clients' queries holding a worker",
                                value=stats["running"])
        yield CounterMetricFamily("spacecoop_query_timeouts_total", "Queries stopped at the time limit",
                                  value=stats["timeouts"])
        yield CounterMetricFamily("spacecoop_refused_total", "Queries refused by the fair share (answered 429)",
                                  value=stats["refused"])
        yield CounterMetricFamily("spacecoop_inline_answers_total", "Answers given in the server process "
                                  "(queries already proven quick in a worker)", value=stats["inline_answers"])
        hits = CounterMetricFamily("spacecoop_cache_hits_total", "Answers found in a cache: whole responses "
                                   "(response) or query answers (answer)", labels=["cache"])
        misses = CounterMetricFamily("spacecoop_cache_misses_total", "Cache look-ups that found nothing",
                                     labels=["cache"])
        hits.add_metric(["answer"], stats["cache_hits"])
        misses.add_metric(["answer"], stats["cache_misses"])
        if self.response_cache is not None:
            hits.add_metric(["response"], self.response_cache.hits)
            misses.add_metric(["response"], self.response_cache.misses)
        yield hits
        yield misses


class RequestMetrics:
    """ASGI layer: counts every HTTP request in ``tally`` once its answer is sent."""

    def __init__(self, app: ASGIApp, tally: RequestTally) -> None:
        self.app, self.tally = app, tally

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = NO_ANSWER_STATUS

        async def counted(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, counted)
        finally:
            self.tally.add(scope["path"], scope["method"], status, time.perf_counter() - started)


class MetricsRouter(APIRouter):
    """``GET /metrics`` over the app's own registry: its requests, its engine, its caches."""

    def __init__(self, engine: Engine) -> None:
        super().__init__()
        self.tally = RequestTally()
        self.state = EngineState(engine)
        self.registry = CollectorRegistry()
        self.registry.register(self.tally)
        self.registry.register(self.state)
        ProcessCollector(registry=self.registry)  # memory, CPU, open descriptors: read from /proc when scraped
        self.add_api_route(PATH, self.scrape, methods=["GET"], include_in_schema=False)

    async def scrape(self) -> Response:
        """The metrics now. ``async`` on purpose: read on the event loop, beside the tallies'
        writers, never from a thread pool; ``no-store``: never given an ETag, never cached."""
        return Response(generate_latest(self.registry), media_type=CONTENT_TYPE,
                        headers={"Cache-Control": "no-store"})


def build_router(engine: Engine) -> MetricsRouter:
    """``GET /metrics`` for ``engine``'s app (``instrument`` connects it to the served app)."""
    return MetricsRouter(engine)


def instrument(app: ASGIApp, router: MetricsRouter, response_cache: ResponseCache) -> RequestMetrics:
    """``app`` (the app as served) with its requests counted in ``router``'s metrics, which
    report ``response_cache``'s hits and misses too."""
    router.state.response_cache = response_cache
    return RequestMetrics(app, router.tally)


__all__ = ["BUCKETS", "CONTENT_TYPE", "METHODS", "PATH", "ROUTES", "Durations", "EngineState", "MetricsRouter",
           "RequestMetrics", "RequestTally", "build_router", "instrument", "route_of"]
