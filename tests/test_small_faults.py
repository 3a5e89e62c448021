"""Small faults an operator or a curator runs into (issue 21, point 6), each tried for real:
HEAD on every GET route; a Turtle file with a byte-order mark; a control character XML
cannot hold; a data file whose name holds a space; a file that is a folder, unreadable or
not UTF-8 — through ``spacecoop validate``, ``spacecoop load`` and ``spacecoop serve --data``.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator

import httpx
import pytest
from fastapi.routing import iter_route_contexts
from starlette.routing import Mount

from spacecoop import saved_queries as sq
from spacecoop.app import create_app

from .conftest import LiveServer

# --- HEAD answers wherever GET does ---------------------------------------------------------
# A sample for each path parameter of each route: one that exists and, where the route
# looks something up, one that does not (a 404 must be the same for HEAD too).
QUERY = sq.load_all()[0].name
SAMPLES: dict[str, list[str]] = {
    "/queries/{name}": [QUERY, "no-such-query"],
    "/api/queries/{name}": [QUERY, "no-such-query"],
    "/dumps/{name}": ["spacecoop.nt", "nothing.ttl"],
    "/ontology.{ext}": ["ttl", "xyz"],
    "/ontology/{version}": ["0.1.0", "9.9.9"],
    "/class/{name}": ["Mission", "NoSuchClass"],
    "/graph/{rest:path}": ["missions", "missions.ttl", "no-such-graph"],
    "/resource/{rest:path}": ["smile", "smile.jsonld", "no-such-thing"],
    "/static": ["site.css", "no-such-file.css"],
}
# The headers a HEAD answer must share with the GET answer, when the GET has them.
SAME_HEADERS = ("content-type", "etag", "content-length", "cache-control", "vary", "link", "content-location",
                "content-disposition", "location", "allow")
_PARAM = re.compile(r"\{[^}]+\}")


def get_urls() -> list[str]:
    """Every GET route of the app, as URLs with sample path parameters (a new route whose
    parameters have no sample fails here rather than go untested)."""
    urls: list[str] = []
    for context in iter_route_contexts(create_app().routes):
        path = context.path or ""
        if isinstance(context.route, Mount):
            urls += [f"{path}/{sample}" for sample in SAMPLES[path]]
        elif "GET" in (context.methods or ()):
            if not _PARAM.search(path):
                urls.append(path)
                continue
            assert path in SAMPLES, f"no sample path parameters for the GET route {path}: add them to SAMPLES"
            urls += [_PARAM.sub(sample, path) for sample in SAMPLES[path]]
    return list(dict.fromkeys(urls))  # a route may also be reached by a sample of a broader one


URLS = get_urls()


@pytest.fixture(scope="module")
def uncached() -> Iterator[str]:
    """A real server with its response cache off, so that no HEAD is answered from a cached GET."""
    srv = LiveServer(env={"SPACECOOP_CACHE_ENTRIES": "0"})
    yield srv.url
    srv.stop()


def test_the_routes_named_in_the_issue_are_among_those_tried() -> None:
    assert {"/timeline", "/network", "/queries", f"/queries/{QUERY}", "/api/queries", f"/api/queries/{QUERY}",
            "/docs", "/static/site.css"} <= set(URLS)


@pytest.mark.parametrize("url", URLS)
def test_head_answers_as_get_does(uncached: str, url: str) -> None:
    with httpx.Client(base_url=uncached, timeout=60) as client:
        head = client.head(url)  # first: nothing about this URL has been asked before
        get = client.get(url)
        while head.status_code == 202 or get.status_code == 202:  # being built in the background
            time.sleep(float(get.headers.get("retry-after", "1")))
            head, get = client.head(url), client.get(url)
    assert head.status_code == get.status_code != 405, url
    assert head.content == b""
    expected = {name: get.headers[name] for name in SAME_HEADERS if name in get.headers}
    assert {name: head.headers.get(name) for name in expected} == expected, url
