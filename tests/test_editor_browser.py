"""The SPARQL editor (YASGUI) in a real browser: Playwright driving Debian's chromium.

The browser is never downloaded: ``/usr/bin/chromium`` (installed by ``.ci/run``) is
used. Locally the test is skipped when it is missing; under CI (``CI=true``) that is a
failure instead. Every request the page makes is checked to stay on our server — the
editor must work with no internet.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from urllib.parse import urlsplit

import orjson
import pytest
from playwright.sync_api import Browser, Page, Route

from spacecoop import config
from spacecoop.engine.jobs import Job
from spacecoop.engine.store import Engine

from .conftest import ARTIFACTS

pytestmark = [pytest.mark.live, pytest.mark.browser]

QUERY = ("SELECT ?class (COUNT(?thing) AS ?things) WHERE { ?thing a ?class }\n"
         "GROUP BY ?class ORDER BY DESC(?things) LIMIT 5")

class Recorder:
    """Aborts and records every request that leaves our server; records page errors."""

    def __init__(self, page: Page, origin: str) -> None:
        self.origin = origin
        self.outside: list[str] = []
        self.ours: list[str] = []
        self.errors: list[str] = []
        page.route("**/*", self._route)
        page.on("pageerror", lambda e: self.errors.append(str(e)))

    def _route(self, route: Route) -> None:
        url = route.request.url
        parts = urlsplit(url)
        if f"{parts.scheme}://{parts.netloc}" == self.origin or parts.scheme == "data":
            self.ours.append(parts.path)
            route.continue_()
        else:
            self.outside.append(url)
            route.abort()


@pytest.fixture
def page(browser: Browser, live_url: str) -> Iterator[tuple[Page, Recorder]]:
    context = browser.new_context(viewport={"width": 1280, "height": 1000}, locale="en-GB")
    pg = context.new_page()
    recorder = Recorder(pg, live_url)
    yield pg, recorder
    context.close()


def saved_tabs(page: Page) -> list[dict[str, str]]:
    tabs: list[dict[str, str]] = json.loads(page.locator("#saved-tabs").inner_text())
    return tabs


def test_the_editor_runs_a_query_and_shows_rows(page: tuple[Page, Recorder], live_url: str) -> None:
    pg, recorder = page
    pg.goto(f"{live_url}/sparql")
    pg.wait_for_selector(".yasqe .CodeMirror")
    tabs = saved_tabs(pg)
    # A first visit: one tab, the first saved query; the others are in the menu.
    assert pg.locator(".tabsList .tab").count() == 1 <= len(tabs)
    assert pg.locator(".tabsList .tab").first.inner_text().startswith(tabs[0]["title"])
    # Type-free: set the editor's text through YASGUI's API, then press its run button.
    pg.evaluate("q => window.spacecoopYasgui.getTab().getYasqe().setValue(q)", QUERY)
    pg.locator(".yasqe_queryButton").click()
    rows = pg.locator(".yasr table tbody tr")
    rows.first.wait_for()
    assert rows.count() == 5
    assert "class" in pg.locator(".yasr table thead").inner_text()
    assert recorder.outside == [], f"the editor reached outside our server: {recorder.outside}"
    assert "/static/vendor/yasgui/yasgui.min.js" in recorder.ours
    assert recorder.errors == []
    ARTIFACTS.mkdir(exist_ok=True)
    pg.screenshot(path=str(ARTIFACTS / "sparql-editor.png"), full_page=True)


def test_each_saved_query_opens_from_the_menu_in_a_tab_of_its_own(page: tuple[Page, Recorder],
                                                                   live_url: str) -> None:
    pg, recorder = page
    pg.goto(f"{live_url}/sparql")
    pg.wait_for_selector(".yasqe .CodeMirror")
    tabs = saved_tabs(pg)
    menu = pg.locator("select#saved-query")
    assert menu.locator("option").all_inner_texts()[1:] == [t["title"] for t in tabs]
    if len(tabs) < 2:
        pytest.skip("only one saved query so far")
    menu.select_option(label=tabs[1]["title"])
    text = pg.evaluate("() => window.spacecoopYasgui.getTab().getYasqe().getValue()")
    assert text.strip() == tabs[1]["query"].strip()
    assert pg.locator(".tabsList .tab").count() == 2
    menu.select_option(label=tabs[1]["title"])  # already open: shown, not opened twice
    assert pg.locator(".tabsList .tab").count() == 2
    # The results of the first tab's query are above the fold: the menu took one line, not
    # the rows of tabs 20+ saved queries would make.
    assert pg.locator(".yasqe:visible").first.bounding_box()["y"] < 400
    assert recorder.outside == [] and recorder.errors == []


def test_the_readers_tabs_are_kept_across_reloads(page: tuple[Page, Recorder], live_url: str) -> None:
    pg, recorder = page
    pg.goto(f"{live_url}/sparql")
    pg.wait_for_selector(".yasqe .CodeMirror")
    mine = "SELECT ?s WHERE { ?s ?p ?o } LIMIT 3 # mine"
    pg.evaluate("() => { window.spacecoopYasgui.addTab(true); }")  # as YASGUI's + button does
    pg.wait_for_function("() => window.spacecoopYasgui.getTab().getYasqe()")
    editor = pg.locator(".CodeMirror:visible").first
    editor.click()
    pg.keyboard.press("Control+A")
    pg.keyboard.type(mine)  # as a reader types it
    pg.locator(".yasqe_queryButton:visible").first.click()  # and runs it
    pg.locator(".yasr table tbody tr").first.wait_for()
    pg.reload()
    pg.wait_for_function("() => window.spacecoopYasgui && window.spacecoopYasgui.getTab().getYasqe()")
    assert pg.locator(".tabsList .tab").count() == 2
    text = pg.evaluate("() => window.spacecoopYasgui.getTab().getYasqe().getValue()")
    assert text == mine  # the tab that was open is open again, with the reader's query
    assert recorder.outside == [] and recorder.errors == []


PREFIX_SC = f"PREFIX sc: <{config.SC}>\n"


@pytest.mark.parametrize("start,typed,completed", [
    ("SELECT * WHERE { ?m a ", "sc:Missi", "sc:Mission"),
    ("SELECT * WHERE { ?m ", "sc:launche", "sc:launchedOn"),
])
def test_the_editor_completes_our_classes_and_properties_offline(page: tuple[Page, Recorder], live_url: str,
                                                                 start: str, typed: str, completed: str) -> None:
    pg, recorder = page
    pg.goto(f"{live_url}/sparql")
    pg.wait_for_selector(".yasqe .CodeMirror")
    pg.evaluate("q => { const y = window.spacecoopYasgui.getTab().getYasqe(); y.setValue(q); y.focus();"
                " y.setCursor(y.lastLine(), y.getLine(y.lastLine()).length); }", PREFIX_SC + start)
    pg.keyboard.type(typed, delay=30)
    hint = pg.locator(".CodeMirror-hints .CodeMirror-hint", has_text=completed).first
    hint.wait_for()
    hint.click()
    text = pg.evaluate("() => window.spacecoopYasgui.getTab().getYasqe().getValue()")
    assert text.endswith(start + completed), text
    assert recorder.outside == [] and recorder.errors == []


@pytest.mark.parametrize("typed,label", [("scr:smi", "SMILE"), ("scr:嫦娥六", "嫦娥六号")])
def test_the_editor_completes_entities_by_name_from_our_index(page: tuple[Page, Recorder], live_url: str,
                                                              engine: Engine, typed: str, label: str) -> None:
    rows = orjson.loads(engine.run_sync(Job(f'SELECT ?s {{ ?s <{config.RDFS_LABEL}> ?l FILTER(STR(?l) = "{label}") }}'))
                        .body)["results"]["bindings"]
    completed = "scr:" + rows[0]["s"]["value"].removeprefix(str(config.SCR))
    pg, recorder = page
    pg.goto(f"{live_url}/sparql")
    pg.wait_for_selector(".yasqe .CodeMirror")
    start = f"PREFIX scr: <{config.SCR}>\nSELECT * WHERE {{ "
    pg.evaluate("q => { const y = window.spacecoopYasgui.getTab().getYasqe(); y.setValue(q); y.focus();"
                " y.setCursor(y.lastLine(), y.getLine(y.lastLine()).length); }", start)
    pg.keyboard.type(typed, delay=30)
    hints = pg.locator(".CodeMirror-hints .CodeMirror-hint")
    hints.first.wait_for()
    texts = hints.all_inner_texts()
    assert all(t.startswith("scr:") for t in texts), texts
    assert completed in texts
    assert "/api/search" in recorder.ours
    assert recorder.outside == [] and recorder.errors == []
