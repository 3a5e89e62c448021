"""The response cache replays GET answers that carry our validator, and nothing else."""

from __future__ import annotations

import asyncio

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from spacecoop.web.middleware import GuardMiddleware
from spacecoop.web.response_cache import ResponseCache

calls: list[str] = []


async def stable(request: Request) -> Response:
    calls.append(request.url.path)
    return Response(f"answer {len(calls)}", media_type="text/plain")


async def volatile(request: Request) -> Response:
    calls.append(request.url.path)
    return Response(f"now {len(calls)}", headers={"Cache-Control": "no-store"})


async def failing(request: Request) -> Response:
    calls.append(request.url.path)
    return Response("no", status_code=400)


def cached_app(version: str = "v1") -> ResponseCache:
    inner = Starlette(routes=[Route("/stable", stable, methods=["GET", "HEAD"]), Route("/volatile", volatile),
                              Route("/failing", failing)])
    guarded = GuardMiddleware(inner, max_body=1024, version=lambda: version)
    return ResponseCache(guarded, lambda: version, max_entries=10, max_bytes=1 << 20)


def run(app: ResponseCache, *requests: tuple[str, str, dict[str, str]]) -> list[httpx.Response]:
    async def go() -> list[httpx.Response]:
        transport = httpx.ASGITransport(app=app)  # type: ignore[arg-type]
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            return [await client.request(method, path, headers=headers) for method, path, headers in requests]

    calls.clear()
    return asyncio.run(go())


def test_a_repeated_get_is_replayed_without_reaching_the_app() -> None:
    first, second = run(cached_app(), ("GET", "/stable", {}), ("GET", "/stable", {}))
    assert first.text == second.text == "answer 1" and calls == ["/stable"]
    assert second.headers["etag"] == first.headers["etag"]


def test_different_accept_headers_are_different_entries() -> None:
    a, b = run(cached_app(), ("GET", "/stable", {"Accept": "text/csv"}), ("GET", "/stable", {"Accept": "text/tsv"}))
    assert (a.text, b.text) == ("answer 1", "answer 2")


def test_if_none_match_is_answered_304_from_the_cache() -> None:
    app = cached_app()
    (first,) = run(app, ("GET", "/stable", {}))
    (again,) = run(app, ("GET", "/stable", {"If-None-Match": first.headers["etag"]}))
    assert again.status_code == 304 and again.content == b"" and calls == []


def test_no_store_answers_and_errors_are_never_replayed() -> None:
    responses = run(cached_app(), ("GET", "/volatile", {}), ("GET", "/volatile", {}),
                    ("GET", "/failing", {}), ("GET", "/failing", {}))
    assert [r.text for r in responses[:2]] == ["now 1", "now 2"] and calls.count("/failing") == 2


def test_head_is_served_from_a_cached_get_but_never_recorded() -> None:
    head_first, get, head_after = run(cached_app(), ("HEAD", "/stable", {}), ("GET", "/stable", {}),
                                      ("HEAD", "/stable", {}))
    assert head_first.status_code == 200 and head_first.content == b""
    assert get.text == "answer 2", "the HEAD miss must not have stored an empty body"
    assert head_after.status_code == 200 and head_after.content == b"" and calls == ["/stable", "/stable"]


def test_a_new_graph_version_never_sees_old_answers() -> None:
    (old,) = run(cached_app("v1"), ("GET", "/stable", {}))
    (new,) = run(cached_app("v2"), ("GET", "/stable", {}))
    assert old.headers["etag"] != new.headers["etag"]


def test_the_live_server_replays_sparql_answers_with_cors(client: httpx.Client) -> None:
    query = {"query": "SELECT (COUNT(*) AS ?n) WHERE { ?s ?p ?o }"}
    first = client.get("/sparql", params=query, headers={"Origin": "https://example.org"})
    second = client.get("/sparql", params=query, headers={"Origin": "https://example.org"})
    plain = client.get("/sparql", params=query)
    assert first.content == second.content and second.headers["access-control-allow-origin"] == "*"
    assert "access-control-allow-origin" not in plain.headers, "the Origin-less entry is kept apart"
