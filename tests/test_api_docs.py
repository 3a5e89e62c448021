"""The API documentation: an OpenAPI document a client generator can use (one operationId
per operation, each saved query's answer described column by column) and its pages
(/docs, /redoc) served from our own static files, so that they work with no internet."""

from __future__ import annotations

import asyncio
import re
from collections import Counter
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, Page

from spacecoop import config
from spacecoop.saved import saved_queries as sq
from spacecoop.web import api
from spacecoop.web.app import create_app

from .conftest import ARTIFACTS
from .test_editor_browser import Recorder

QUERIES = sq.load_all()
TABLES = [q for q in QUERIES if q.form == "SELECT"]


def operations(spec: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [(path, method, op) for path, item in spec["paths"].items() for method, op in item.items()]


@pytest.fixture(scope="module")
def spec(app: httpx.Client) -> dict[str, Any]:
    document: dict[str, Any] = app.get("/openapi.json").json()
    return document


# --- the OpenAPI document -------------------------------------------------------------------
def test_every_operation_has_its_own_operation_id(spec: dict[str, Any]) -> None:
    ids = Counter(op["operationId"] for _, _, op in operations(spec))
    assert [i for i, n in ids.items() if n > 1] == []
    assert len(ids) == len(operations(spec)) > len(QUERIES)
    # GET and HEAD of one route are two operations, each named for its method.
    resource = spec["paths"]["/resource/{rest}"]
    assert {resource["get"]["operationId"], resource["head"]["operationId"]} == {
        "resource_resource__rest__get", "resource_resource__rest__head"}


def test_the_generated_document_warns_of_no_duplicate(recwarn: pytest.WarningsRecorder) -> None:
    create_app().openapi()
    assert [str(w.message) for w in recwarn if "Operation ID" in str(w.message)] == []


@pytest.mark.parametrize("query", TABLES, ids=[q.name for q in TABLES])
def test_each_saved_query_schema_names_the_columns_it_answers(spec: dict[str, Any], client: httpx.Client,
                                                              query: sq.SavedQuery) -> None:
    content = spec["paths"][f"/api/queries/{query.name}"]["get"]["responses"]["200"]["content"]
    schema = content["application/sparql-results+json"]["schema"]
    columns = schema["properties"]["head"]["properties"]["vars"]["items"]["enum"]
    row = schema["properties"]["results"]["properties"]["bindings"]["items"]
    assert columns and sorted(row["properties"]) == sorted(columns) and row["additionalProperties"] is False
    assert f"`{','.join(columns)}`" in content["text/csv"]["schema"]["description"]
    # The schema tells the truth: the live answer has these columns and binds no others.
    answer = client.get(f"/api/queries/{query.name}", headers={"Accept": "application/sparql-results+json"})
    assert answer.status_code == 200, answer.text
    data = answer.json()
    assert data["head"]["vars"] == columns
    for binding in data["results"]["bindings"]:
        assert set(binding) <= set(columns)
        for column, term in binding.items():
            assert term["type"] in row["properties"][column]["properties"]["type"]["enum"]
            assert set(term) <= set(api.TERM_SCHEMA["properties"])
    header = client.get(f"/api/queries/{query.name}", params={"format": "csv"}).text.splitlines()[0]
    assert header == ",".join(columns)


def test_ask_and_graph_queries_document_their_own_shapes(spec: dict[str, Any]) -> None:
    for q in QUERIES:
        content = spec["paths"][f"/api/queries/{q.name}"]["get"]["responses"]["200"]["content"]
        if q.form == "ASK":
            schema = content["application/sparql-results+json"]["schema"]
            assert schema["properties"]["boolean"] == {"type": "boolean"}
        elif q.is_graph:
            assert "subject,predicate,object" in content["text/csv"]["schema"]["description"]
            assert "application/ld+json" in content


# --- the pages --------------------------------------------------------------------------------
class References(HTMLParser):
    """Every URL an HTML page makes a browser load (src, href) and any absolute URL in its text."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.urls += [v for k, v in attrs if k in ("src", "href", "spec-url") and v]

    def handle_data(self, data: str) -> None:
        self.urls += re.findall(r"(?:https?:)?//[^\s'\"<>]+", data)


@pytest.mark.parametrize("path", ["/docs", "/redoc"])
def test_the_docs_pages_reference_only_our_own_files(client: httpx.Client, path: str) -> None:
    r = client.get(path)
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    refs = References()
    refs.feed(r.text)
    assert refs.urls, "the page loads nothing?"
    outside = [u for u in refs.urls if not u.startswith("/") or u.startswith("//")]
    assert outside == []
    for url in refs.urls:  # and each of them is there
        assert client.get(url).status_code == 200, url
    assert "/openapi.json" in r.text
    # … and the browser is told to load nothing from anywhere else.
    policy = r.headers["content-security-policy"]
    assert "default-src 'self'" in policy and "connect-src 'self'" in policy and "https:" not in policy


def test_without_the_vendored_viewer_the_docs_page_says_so(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(config, "STATIC_DIR", tmp_path)  # a build without `make assets`

    async def get(path: str) -> httpx.Response:
        transport = httpx.ASGITransport(app=create_app())
        async with httpx.AsyncClient(transport=transport, base_url="http://docs.test") as c:
            return await c.get(path)

    for path in ("/docs", "/redoc"):
        r = asyncio.run(get(path))
        assert r.status_code == 200
        assert "make assets" in r.text and '<a href="/openapi.json">' in r.text


# --- in a real browser, with every request outside our server refused ----------------------
@pytest.fixture
def page(browser: Browser, live_url: str) -> Any:
    context = browser.new_context(viewport={"width": 1280, "height": 1000}, locale="en-GB")
    pg = context.new_page()
    yield pg, Recorder(pg, live_url)
    context.close()


@pytest.mark.live
@pytest.mark.browser
def test_swagger_ui_renders_every_operation_offline(page: tuple[Page, Recorder], live_url: str,
                                                    spec: dict[str, Any]) -> None:
    pg, recorder = page
    pg.goto(f"{live_url}/docs")
    blocks = pg.locator(".opblock")
    blocks.first.wait_for()
    assert blocks.count() == len(operations(spec))
    q = next(q for q in TABLES if q.name == "agency-missions")
    op = pg.locator(f"#operations-Saved_queries-query_{q.name.replace('-', '_')}")
    assert q.title in op.inner_text()
    op.locator(".opblock-summary").click()  # open it: the answer's example names the columns
    example = op.locator(".responses-wrapper .example").first
    example.wait_for()
    for column in q.columns:
        assert f'"{column}"' in example.inner_text()
    assert recorder.outside == [], f"the docs reached outside our server: {recorder.outside}"
    assert "/static/vendor/swagger-ui/swagger-ui-bundle.js" in recorder.ours and recorder.errors == []
    ARTIFACTS.mkdir(exist_ok=True)
    pg.screenshot(path=str(ARTIFACTS / "api-docs.png"))


@pytest.mark.live
@pytest.mark.browser
def test_redoc_renders_the_saved_queries_offline(page: tuple[Page, Recorder], live_url: str) -> None:
    pg, recorder = page
    pg.goto(f"{live_url}/redoc")
    pg.locator("h2", has_text=TABLES[0].title).first.wait_for()  # the operation's own section
    assert pg.locator("h2", has_text=TABLES[-1].title).count() >= 1
    assert recorder.outside == [], f"ReDoc reached outside our server: {recorder.outside}"
    assert recorder.errors == []


def test_the_api_module_doctests() -> None:
    import doctest

    result = doctest.testmod(api)
    assert result.attempted > 0 and result.failed == 0
