"""``/metrics``: Prometheus text that a Prometheus parser reads, counting what was served.

Through the app as served (``client``: response cache, client identity and worker
processes included), each test reads the metrics before and after its own requests and
checks the difference, since the session's app has counted every earlier test's requests
too. One test starts a second app with other settings (its own registry, its own worker
count); one scrapes a real ``spacecoop serve`` process.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Mapping

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from starlette.testclient import TestClient

from spacecoop import config
from spacecoop.web import metrics

from .conftest import ROOT, in_process

Samples = Mapping[tuple[str, frozenset[tuple[str, str]]], float]
REQUESTS = "spacecoop_http_requests_total"
ENGINE_FAMILIES = {"spacecoop_workers", "spacecoop_workers_busy", "spacecoop_queue_length",
                   "spacecoop_queries_running", "spacecoop_query_timeouts", "spacecoop_refused",
                   "spacecoop_cache_hits", "spacecoop_cache_misses", "spacecoop_inline_answers"}


def parse(text: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    """Every sample of a scrape, keyed by its name and labels (by prometheus_client's own parser)."""
    return {(s.name, frozenset(s.labels.items())): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def scrape(client: TestClient | httpx.Client) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    response = client.get("/metrics")
    assert response.status_code == 200, response.text
    return parse(response.text)


def value(samples: Samples, name: str, **labels: str) -> float:
    """A sample's value; 0 for a series not there yet (a counter not yet incremented)."""
    return samples.get((name, frozenset(labels.items())), 0.0)


def requests(samples: Samples, route: str, method: str, status: int) -> float:
    return value(samples, REQUESTS, route=route, method=method, status=str(status))


def unique_query() -> str:
    """A query no other request has sent, so no cache has its answer yet."""
    return f"ASK {{ ?s a ?t }} # {uuid.uuid4()}"


def test_metrics_are_prometheus_text_never_cached(client: TestClient) -> None:
    first = client.get("/metrics")
    second = client.get("/metrics")
    assert first.headers["content-type"] == metrics.CONTENT_TYPE
    assert "version=0.0.4" in first.headers["content-type"]
    assert first.headers["cache-control"] == "no-store" and "etag" not in first.headers
    families = {f.name for f in text_string_to_metric_families(first.text)}
    assert ENGINE_FAMILIES | {"spacecoop_http_requests", "spacecoop_http_request_duration_seconds"} <= families
    before, after = parse(first.text), parse(second.text)
    # The second scrape was answered afresh, not replayed: it counts the first.
    assert requests(after, "metrics", "GET", 200) == requests(before, "metrics", "GET", 200) + 1
    assert value(after, "spacecoop_cache_hits_total", cache="response") == \
        value(before, "spacecoop_cache_hits_total", cache="response")


def test_sparql_requests_are_counted_by_route_method_and_status(client: TestClient) -> None:
    before = scrape(client)
    for _ in range(2):
        assert client.get("/sparql", params={"query": unique_query()}).status_code == 200
    assert client.post("/sparql", data={"query": unique_query()}).status_code == 200
    after = scrape(client)
    assert requests(after, "sparql", "GET", 200) - requests(before, "sparql", "GET", 200) == 2
    assert requests(after, "sparql", "POST", 200) - requests(before, "sparql", "POST", 200) == 1
    timed = "spacecoop_http_request_duration_seconds_count"
    assert value(after, timed, route="sparql") - value(before, timed, route="sparql") == 3


def test_a_refusal_before_any_route_is_counted(client: TestClient) -> None:
    """The layer is outside the client identity: its 401 for an unknown API key is counted."""
    before = scrape(client)
    refused = client.get("/sparql", params={"query": unique_query()}, headers={"X-API-Key": "not-issued"})
    assert refused.status_code == 401
    assert requests(scrape(client), "sparql", "GET", 401) - requests(before, "sparql", "GET", 401) == 1


def test_a_repeated_get_counts_a_response_cache_hit(client: TestClient) -> None:
    params = {"query": unique_query()}
    before = scrape(client)
    first, again = client.get("/sparql", params=params), client.get("/sparql", params=params)
    assert first.status_code == again.status_code == 200 and first.content == again.content
    after = scrape(client)
    hits = "spacecoop_cache_hits_total"
    assert value(after, hits, cache="response") - value(before, hits, cache="response") == 1
    # Both were counted as requests, the replayed one too: the layer is outside the cache.
    assert requests(after, "sparql", "GET", 200) - requests(before, "sparql", "GET", 200) == 2


def test_a_repeated_post_counts_an_answer_cache_hit(client: TestClient) -> None:
    query = unique_query()
    before = scrape(client)
    for _ in range(2):
        assert client.post("/sparql", data={"query": query}).status_code == 200
    after = scrape(client)
    hits, misses = "spacecoop_cache_hits_total", "spacecoop_cache_misses_total"
    assert value(after, hits, cache="answer") - value(before, hits, cache="answer") == 1
    assert value(after, misses, cache="answer") - value(before, misses, cache="answer") == 1


def test_a_missing_resource_counts_a_404(client: TestClient) -> None:
    before = scrape(client)
    assert client.get(f"/resource/no-such-thing-{uuid.uuid4()}").status_code == 404
    assert requests(scrape(client), "resource", "GET", 404) - requests(before, "resource", "GET", 404) == 1


def test_unknown_paths_and_methods_add_no_label_value(client: TestClient) -> None:
    marker = uuid.uuid4().hex
    before = scrape(client)
    assert client.get(f"/{marker}/setup.php").status_code == 404
    assert client.get(f"/.well-known/{marker}").status_code == 404
    odd = client.request(f"X{marker[:8].upper()}", "/sparql")
    after = scrape(client)
    assert requests(after, "other", "GET", 404) - requests(before, "other", "GET", 404) == 2
    assert requests(after, "sparql", "other", odd.status_code) - \
        requests(before, "sparql", "other", odd.status_code) == 1
    labels = {(name, value) for _, series in after for name, value in series}
    assert {v for n, v in labels if n == "route"} <= metrics.ROUTES
    assert {v for n, v in labels if n == "method"} <= metrics.METHODS | {"other"}
    assert not [v for _, v in labels if marker in v.lower()]


def test_workers_gauge_is_the_configured_workers(client: TestClient) -> None:
    defaults = config.Settings()  # the session's app was built from these
    assert value(scrape(client), "spacecoop_workers") == defaults.workers + defaults.reserve_workers


def test_each_app_has_its_own_registry(client: TestClient) -> None:
    settings = config.Settings(workers=2, reserve_workers=1)
    scrape(client)  # the session's app has answered requests before
    with in_process(settings) as other:
        fresh = scrape(other)
    assert value(fresh, "spacecoop_workers") == settings.workers + settings.reserve_workers
    # Nothing the session's app counted shows in the new app's first scrape.
    assert not [key for key in fresh if key[0] == REQUESTS]
    assert [key for key in scrape(client) if key[0] == REQUESTS]


@pytest.mark.live
def test_a_live_server_counts_its_requests(live_url: str) -> None:
    with httpx.Client(base_url=live_url, timeout=30) as http:
        response = http.get("/metrics")
        assert response.status_code == 200
        assert response.headers["content-type"] == metrics.CONTENT_TYPE
        before = parse(response.text)
        for _ in range(3):
            assert http.get("/sparql", params={"query": unique_query()}).status_code == 200
        assert http.get(f"/{uuid.uuid4().hex}").status_code == 404
        after = scrape(http)
    assert requests(after, "sparql", "GET", 200) - requests(before, "sparql", "GET", 200) == 3
    assert requests(after, "other", "GET", 404) - requests(before, "other", "GET", 404) == 1
    assert requests(after, "metrics", "GET", 200) - requests(before, "metrics", "GET", 200) == 1
    assert value(after, "spacecoop_workers") > 0


def test_every_metric_the_docs_name_is_served(client: TestClient) -> None:
    documented = set(re.findall(r"`(spacecoop_[a-z_]+)`", (ROOT / "docs" / "endpoint.md").read_text()))
    served = {name for name, _ in scrape(client)}
    assert documented and documented <= served, documented - served
