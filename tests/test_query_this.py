""""Query this" on an entity page opens the SPARQL editor with a query about the entity, in a
tab of its own (not the endpoint's raw answer): over HTTP, and in a real browser."""

from __future__ import annotations

import html
import re
from collections.abc import Iterator
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from playwright.sync_api import Browser, Page

from spacecoop import config
from spacecoop.linked.describe import entity_query

from .conftest import ARTIFACTS
from .test_editor_browser import Recorder

HTML = {"Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"}  # what browsers send
LINK = re.compile(r'<a class="query-this" href="([^"]+)"')


def query_this_link(client: httpx.Client, slug: str) -> str:
    page = client.get(f"/resource/{slug}", headers=HTML)
    assert page.status_code == 200
    found = LINK.search(page.text)
    assert found, "no Query this link"
    return html.unescape(found.group(1))


@pytest.mark.parametrize("slug,label", [("smile", "SMILE"), ("change-6", "Chang'e 6")])
def test_the_link_opens_the_editor_with_the_entity_query_in_its_fragment(client: httpx.Client, slug: str,
                                                                         label: str) -> None:
    link = urlsplit(query_this_link(client, slug))
    assert (link.path, link.query) == ("/sparql", "")  # no ?query=: that would be a protocol request
    given = parse_qs(link.fragment)
    assert given["query"] == [entity_query(config.resource_iri(slug))] and given["tabTitle"] == [label]
    # What the browser gets at the link: the editor, not results.
    page = client.get(link.path, headers=HTML)
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert 'id="yasgui"' in page.text and "populateFromUrl: false" in page.text
    # The query itself works.
    answer = client.get("/sparql", params={"query": given["query"][0]},
                        headers={"Accept": "application/sparql-results+json"})
    assert answer.status_code == 200 and len(answer.json()["results"]["bindings"]) > 5


@pytest.fixture
def page(browser: Browser, live_url: str) -> Iterator[tuple[Page, Recorder]]:
    context = browser.new_context(viewport={"width": 1280, "height": 1000}, locale="en-GB")
    pg = context.new_page()
    yield pg, Recorder(pg, live_url)
    context.close()


@pytest.mark.live
@pytest.mark.browser
def test_clicking_query_this_shows_the_query_in_a_tab_and_its_answer(page: tuple[Page, Recorder],
                                                                      live_url: str) -> None:
    pg, recorder = page
    pg.goto(f"{live_url}/resource/smile")
    pg.get_by_role("link", name="Query this").click()
    pg.wait_for_url(re.compile(re.escape(live_url) + r"/sparql#query="))
    pg.wait_for_function("() => window.spacecoopYasgui && window.spacecoopYasgui.getTab().getYasqe()")
    text = pg.evaluate("() => window.spacecoopYasgui.getTab().getYasqe().getValue()")
    assert text == entity_query(config.resource_iri("smile"))
    tabs = pg.locator(".tabsList .tab")
    assert tabs.first.inner_text().startswith("SMILE") and "active" in (tabs.first.get_attribute("class") or "")
    assert tabs.count() == 2  # the linked query's tab, before the first visit's saved-query tab
    rows = pg.locator(".yasr table tbody tr")  # and it ran
    rows.first.wait_for()
    assert rows.count() > 5 and "valueLabel" in pg.locator(".yasr table thead").inner_text()
    assert recorder.outside == [] and recorder.errors == []
    ARTIFACTS.mkdir(exist_ok=True)
    pg.screenshot(path=str(ARTIFACTS / "query-this.png"))
