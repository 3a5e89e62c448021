"""The ``sparql:URL`` store: a remote SPARQL 1.1 server behind our protocol and safety.

Only the operator-configured URL is ever contacted. Bindings travel as a
leading ``VALUES`` block of validated terms, as for every backend, and the base IRI (our
endpoint's URL, not the remote one's) as a leading ``BASE``.
"""

from __future__ import annotations

import asyncio
from typing import Any

import httpx

from spacecoop import config
from spacecoop.engine.jobs import Answer, Job, Limits, bound_query
from spacecoop.engine.query_rules import QueryError
from spacecoop.rdf import formats


class RemoteBackend:
    """Forwards jobs to a remote endpoint with our timeout and size caps."""

    def __init__(self, url: str, settings: config.Settings) -> None:
        self.url = url
        self.timeout = settings.query_timeout
        self._client: httpx.AsyncClient | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    @property
    def client(self) -> httpx.AsyncClient:
        """One pooled client per event loop (the CLI runs a fresh loop per query)."""
        loop = asyncio.get_running_loop()
        if self._client is None or self._loop is not loop:
            self._client = httpx.AsyncClient(timeout=self.timeout, follow_redirects=False)
            self._loop = loop
        return self._client

    async def run(self, job: Job, timeout: float, limits: Limits) -> Answer:

        form = job.seen.form
        graph = form in ("CONSTRUCT", "DESCRIBE")
        asked = formats.GRAPH_ANSWERS[job.graph_format] if graph else formats.RESULT_ANSWERS[job.result_format]
        media = asked.media_type
        data: dict[str, Any] = {"query": with_base(bound_query(job), job.base_iri)}
        if job.default_graphs:
            data["default-graph-uri"] = list(job.default_graphs)
        if job.named_graphs:
            data["named-graph-uri"] = list(job.named_graphs)
        try:
            async with self.client.stream("POST", self.url, data=data, headers={"Accept": media},
                                          timeout=timeout) as resp:
                body = bytearray()
                async for chunk in resp.aiter_bytes():
                    body += chunk
                    if len(body) > limits.max_bytes:
                        raise QueryError(422, f"the answer is larger than {limits.max_bytes:,} bytes; add a LIMIT")
        except httpx.TimeoutException:
            raise QueryError(503, f"the query was stopped after the {timeout:g} s time limit") from None
        except httpx.HTTPError:
            raise QueryError(502, "the remote SPARQL store could not be reached") from None
        if resp.status_code >= 400:
            text = bytes(body[:300]).decode("utf-8", "replace").strip().splitlines()
            raise QueryError(400 if resp.status_code < 500 else 502,
                             "the remote store refused the query" + (f": {text[0]}" if text else ""))
        kind = form.lower() if form else "select"
        if kind == "select" and b'"boolean"' in body[:200]:
            kind = "ask"
        return Answer(kind, resp.headers.get("content-type", media).split(";")[0], bytes(body))

    def close(self) -> None:
        """Let go of the connection pool (closed on its own loop, if that still runs)."""
        if self._client is not None and self._loop is not None and not self._loop.is_closed():
            self._loop.create_task(self._client.aclose())
        self._client = None


def with_base(query: str, base_iri: str | None) -> str:
    """The query with ``base_iri`` declared before it, on its first line (so line numbers hold).

    A ``BASE`` of the query's own still applies, resolved against this one (SPARQL 1.1
    Query §4.1.1.1); the IRI is written by pyoxigraph from a checked term, never as text.

    >>> with_base("CONSTRUCT { <s> <p> 1 } WHERE {}", "http://h/sparql")
    'BASE <http://h/sparql> CONSTRUCT { <s> <p> 1 } WHERE {}'
    """
    if base_iri is None:
        return query
    import pyoxigraph as ox

    return f"BASE {ox.NamedNode(base_iri)} {query}"
