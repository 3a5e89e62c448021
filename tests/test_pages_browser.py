"""The linked-data pages in a real browser (Playwright driving Debian's chromium).

No browser is ever downloaded: the system chromium is used, and the test is skipped if it
is missing. Screenshots go to tests/artifacts/ for a person to look at.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, Page

from .conftest import ARTIFACTS

pytestmark = [pytest.mark.live, pytest.mark.browser]


@pytest.fixture(params=[True, False], ids=["js", "no-js"])
def page(request: pytest.FixtureRequest, browser: Browser) -> Iterator[Page]:
    """A fresh page, with and without JavaScript: the pages must not need it."""
    context = browser.new_context(java_script_enabled=request.param,
                                  viewport={"width": 1200, "height": 900}, locale="en-GB")
    pg = context.new_page()
    yield pg
    context.close()


def test_entity_page(page: Page, live_url: str) -> None:
    page.goto(f"{live_url}/resource/smile")
    assert page.title().startswith("SMILE")
    h1 = page.locator("h1")
    assert h1.locator(".label-en").inner_text() == "SMILE"
    zh = h1.locator(".label-zh")
    assert zh.is_visible() and zh.inner_text() == "太阳风-磁层相互作用全景成像卫星"
    assert page.get_by_text("carried on this mission").is_visible()
    assert page.locator("blockquote").first.is_visible()
    script = page.locator('script[type="application/ld+json"]').inner_text()
    assert json.loads(script)["name"] == "SMILE"
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "entity-smile.png"), full_page=True)
    # Follow a relation, then an incoming link, by clicking.
    page.locator("#relations").get_by_role("link", name="Vega-C").click()
    page.wait_for_url(f"{live_url}/resource/vega-c")
    assert page.locator("h1 .label-en").inner_text() == "Vega-C"
    page.locator("#incoming").get_by_role("link", name="SMILE").click()
    page.wait_for_url(f"{live_url}/resource/smile")


def test_class_index(page: Page, live_url: str) -> None:
    page.goto(f"{live_url}/class/Mission")
    rows = page.locator("table#items tbody tr")
    assert rows.count() >= 10
    table = page.locator("table#items").inner_text()
    for text in ("SMILE", "嫦娥六号", "planned", "2026-04", "Vega-C"):
        assert text in table
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "class-mission.png"), full_page=True)
    page.get_by_role("link", name="Chang'e 6", exact=True).click()
    page.wait_for_url(f"{live_url}/resource/change-6")
    assert page.locator("h1 .label-zh").inner_text() == "嫦娥六号"


def test_ontology_documentation_anchor(page: Page, live_url: str) -> None:
    page.goto(f"{live_url}/ontology#launchedOn")
    term = page.locator("section#launchedOn")
    assert term.is_visible()
    assert "运载火箭" in term.inner_text() and "sc:LaunchVehicle" in term.inner_text()
    assert term.bounding_box()["y"] < 900  # the browser scrolled the hash IRI's term into view


def test_not_found_page(page: Page, live_url: str) -> None:
    # The suggestion is named by its label, found by the label index despite the typo.
    response = page.goto(f"{live_url}/resource/smiel")
    assert response.status == 404
    page.get_by_role("link", name="SMILE", exact=True).click()
    page.wait_for_url(f"{live_url}/resource/smile")


def test_the_search_box_finds_an_entity_by_its_chinese_name(page: Page, live_url: str) -> None:
    page.goto(f"{live_url}/ontology")
    box = page.get_by_role("searchbox", name="Search by name, in English or Chinese").first
    box.fill("嫦娥六号")
    box.press("Enter")
    page.wait_for_url("**/search?q=*")
    hits = page.locator("ol.hits li")
    assert hits.count() >= 1
    assert page.locator("ol.hits li mark").first.inner_text() == "嫦娥六号"
    hits.first.locator("a").first.click()
    page.wait_for_url("**/resource/**")
    assert "嫦娥六号" in page.locator("h1").inner_text()
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "search-result.png"), full_page=True)
