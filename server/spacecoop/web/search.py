"""Search by name, in English or Chinese: ``/api/search`` (JSON) and ``/search`` (a page,
also JSON), both answered from the label index (``linked.search``) that the dumps' builder
makes beside the dumps (``linked.dump_files``) — never built in the server process. Until it
is there both answer 202 with ``Retry-After``, as the dumps do.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import orjson
from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from spacecoop.engine.fair_share import current_caller
from spacecoop.engine.query_rules import QueryError
from spacecoop.engine.store import Engine
from spacecoop.linked import search
from spacecoop.linked.dump_files import DumpCache
from spacecoop.rdf import iris
from spacecoop.web import pages
from spacecoop.web.middleware import error_response

PATH, API_PATH = "/search", "/api/search"
RETRY = 5  # seconds: the index comes first from the builder, before the dumps
MAX_LIMIT = 50
TAG = "search"


def marked(snippet: str) -> list[tuple[str, bool]]:
    """A hit's snippet as (text, matched) runs, for the page to mark the matches.

    >>> marked("嫦娥«六号»")
    [('嫦娥', False), ('六号', True)]
    """
    out: list[tuple[str, bool]] = []
    for i, part in enumerate(snippet.replace("»", "«").split("«")):
        if part:
            out.append((part, i % 2 == 1))
    return out


def hit_json(hit: search.Hit) -> dict[str, Any]:
    """One hit as the API gives it."""
    return {"iri": hit.iri, "label": hit.label, "lang": hit.lang or None, "types": list(hit.types),
            "score": round(hit.score, 4), "snippet": hit.snippet}


def build_router(engine: Engine, dumps: DumpCache) -> APIRouter:
    """The search routes over the dumps' cache of ``engine`` (which holds the index)."""
    router = APIRouter(tags=[TAG])

    async def found(q: str, lang: str | None, type_iri: str | None, limit: int) -> list[search.Hit] | Response:
        index = dumps.search_index()
        if index is None:
            if engine.is_remote:
                return error_response(404, "search is offered over the embedded store only; "
                                           "this server fronts a remote SPARQL endpoint")
            if dumps.building:
                return error_response(202, f"the search index is being built; try again in {RETRY} s",
                                      {"Retry-After": str(RETRY)})
            return error_response(503, "search is not available: its index could not be built (see the "
                                       "server's log)", {"Retry-After": "60"})
        # No worker, but the client's query-time budget all the same (a flood of searches is
        # refused like a flood of queries).
        caller, share = current_caller.get(), engine.share
        try:
            if caller is not None and share is not None:
                share.within_budget(caller.client)
        except QueryError as err:
            return error_response(err.status, err.message, err.headers)
        started = time.perf_counter()
        hits = await asyncio.to_thread(index.search, q, lang, type_iri, limit)
        if caller is not None and share is not None:
            share.charge(caller.client, time.perf_counter() - started)
        return hits

    @router.get(API_PATH, summary="Find entities by name", operation_id="search",
                description="Labels, names, titles and identifiers in every language: English by words and "
                            "their beginnings, Chinese by characters; case, accents and apostrophes ignored; "
                            "one typo forgiven in words of five letters or more. Best first: the exact label, "
                            "then labels that begin with the text, then every word, then a forgiven typo; "
                            "ties go to the better-connected entity.")
    async def api_search(q: str = Query(..., description="what to look for, e.g. 嫦娥 or smile", max_length=1000),
                         lang: str | None = Query(None, description="only labels in this language (en, zh …)",
                                                  max_length=35),
                         type: str | None = Query(None, description="only entities of this class (its IRI)",
                                                  max_length=2000),
                         limit: int = Query(10, ge=1, le=MAX_LIMIT)) -> Response:
        hits = await found(q, lang, type, limit)
        if isinstance(hits, Response):
            return hits
        return Response(orjson.dumps({"query": q, "results": [hit_json(h) for h in hits]}),
                        media_type="application/json")

    @router.get(PATH, include_in_schema=False)
    async def search_page(request: Request, q: str = "", lang: str | None = None) -> Response:
        hits = await found(q, lang or None, None, 20) if q.strip() else []
        if isinstance(hits, Response):
            return hits
        base = engine.settings.base
        results = [{**hit_json(h), "href": iris.href(h.iri, base), "parts": marked(h.snippet),
                    "type_names": [iris.local_name(t) for t in h.types]} for h in hits]
        data = {"title": f"Search: {q}" if q else "Search", "query": q, "results": results}
        return pages.respond(request, "search.html", data)

    return router

