"""Served as on a fresh machine: pictures need no system Graphviz, and pages outlive a bad renderer.

Each test starts a real ``spacecoop serve``:

* with a PATH that holds no ``dot`` (nor anything else): the bundled Graphviz from PyPI
  draws the timeline, the map and every mission's neighbourhood, as SVG and PNG;
* with the renderer turned off (``SPACECOOP_GRAPHVIZ=off``): every page still answers 200
  with a short notice where the picture would be, the JSON needs no renderer, and only the
  image files answer 503, with one short line;
* with a renderer that fails, or hangs past its time limit: the mission page still answers
  200, with the notice, and is not cached as if it were the page.

``../shared/tools/fresh-machine`` (Graphviz and Chromium made unusable) runs these as well.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import httpx
import pytest

from .conftest import LiveServer

pytestmark = pytest.mark.live

HTML = {"Accept": "text/html"}
NOTICE = '<p class="picture-notice'  # the element, not the stylesheet's rule
MISSIONS = "SELECT ?m WHERE { ?m a <https://spacecoop.example/ontology#Mission> } ORDER BY ?m"


def mission_paths(client: httpx.Client) -> list[str]:
    """Every mission's page, asked of the server itself."""
    r = client.get("/sparql", params={"query": MISSIONS}, headers={"Accept": "application/sparql-results+json"})
    assert r.status_code == 200, r.text
    iris = [b["m"]["value"] for b in r.json()["results"]["bindings"]]
    assert len(iris) >= 10  # the article's 12 missions
    return ["/" + iri.split("/", 3)[3] for iri in iris]


def neighbourhood(html: str) -> str:
    """The mission page's picture section."""
    match = re.search(r'<section id="neighbourhood">(.*?)</section>', html, re.S)
    assert match, "the mission page has no neighbourhood section"
    return match.group(1)


def is_short_line(text: str) -> bool:
    """What a 503 may say: one line, no traceback, no file path."""
    return len(text.strip().splitlines()) == 1 and "Traceback" not in text and not re.search(r"(^|\s)/\w", text)


def serve(**env: str) -> Iterator[httpx.Client]:
    server = LiveServer(env={"SPACECOOP_GRAPHVIZ": "", **env})
    try:
        with httpx.Client(base_url=server.url, timeout=60) as client:
            yield client
    finally:
        server.stop()


@pytest.fixture(scope="module")
def no_dot_on_path(tmp_path_factory: pytest.TempPathFactory) -> Iterator[httpx.Client]:
    empty = tmp_path_factory.mktemp("empty-path")  # no dot, no chromium, nothing
    yield from serve(PATH=str(empty))


@pytest.fixture(scope="module")
def renderer_off() -> Iterator[httpx.Client]:
    yield from serve(SPACECOOP_GRAPHVIZ="off")


@pytest.fixture(scope="module")
def bad_renderer(tmp_path_factory: pytest.TempPathFactory) -> Iterator[httpx.Client]:
    """A dot-compatible program that hangs on SMILE's neighbourhood and fails on everything else."""
    folder = tmp_path_factory.mktemp("bad-renderer")
    script = folder / "bad-dot"
    script.write_text('#!/bin/sh\ninput=$(cat)\ncase "$input" in *"Cooperation around SMILE"*) exec sleep 300;; esac\n'
                      "echo 'Error: the renderer is broken' >&2\nexit 1\n")
    script.chmod(0o755)
    yield from serve(SPACECOOP_GRAPHVIZ=str(script))


# ---------------------------------------------------------------------------------------
# no system Graphviz: the bundled one draws everything
# ---------------------------------------------------------------------------------------
def test_pictures_are_drawn_with_no_dot_on_path(no_dot_on_path: httpx.Client) -> None:
    for path in ("/timeline.svg", "/network.svg", "/network.svg?mission=smile"):
        r = no_dot_on_path.get(path)
        assert r.status_code == 200, r.text
        assert r.headers["content-type"].startswith("image/svg+xml") and "<svg" in r.text and "<a " in r.text
    for path in ("/timeline.png", "/network.png?mission=change-6"):
        r = no_dot_on_path.get(path)
        assert r.status_code == 200, r.text
        assert r.headers["content-type"] == "image/png" and r.content.startswith(b"\x89PNG\r\n\x1a\n")
    page = no_dot_on_path.get("/timeline", headers=HTML)
    assert page.status_code == 200 and 'role="img"' in page.text and NOTICE not in page.text


def test_every_mission_page_has_its_map_with_no_dot_on_path(no_dot_on_path: httpx.Client) -> None:
    for path in mission_paths(no_dot_on_path):
        r = no_dot_on_path.get(path, headers=HTML)
        assert r.status_code == 200, f"{path} → {r.status_code}"
        section = neighbourhood(r.text)
        assert "<svg" in section and NOTICE not in section, path


# ---------------------------------------------------------------------------------------
# no renderer at all: pages answer 200 with a notice, image files 503
# ---------------------------------------------------------------------------------------
def test_every_mission_page_answers_200_with_a_notice(renderer_off: httpx.Client) -> None:
    for path in mission_paths(renderer_off):
        r = renderer_off.get(path, headers=HTML)
        assert r.status_code == 200, f"{path} → {r.status_code}"
        section = neighbourhood(r.text)
        assert "<svg" not in section and NOTICE in section
        assert "cannot be drawn right now" in section and "SPACECOOP_GRAPHVIZ=off" in section
        assert 'id="provenance"' in r.text and 'id="data"' in r.text  # the rest of the page is there
        assert r.headers.get("cache-control") == "no-store" and "etag" not in r.headers


def test_picture_pages_keep_their_data_and_json(renderer_off: httpx.Client) -> None:
    for page in ("/timeline", "/network", "/network?mission=smile"):
        r = renderer_off.get(page, headers=HTML)
        assert r.status_code == 200, r.text
        assert NOTICE in r.text and "<table" in r.text and 'role="img"' not in r.text
    data = renderer_off.get("/timeline.json")
    assert data.status_code == 200 and data.json()["counts"]["missions"] >= 10


def test_image_files_answer_503_in_one_line(renderer_off: httpx.Client) -> None:
    for path in ("/timeline.svg", "/timeline.png", "/network.svg", "/network.png?mission=smile"):
        r = renderer_off.get(path)
        assert r.status_code == 503, f"{path} → {r.status_code}"
        assert r.headers["content-type"].startswith("text/plain") and is_short_line(r.text), r.text
        assert "turned off" in r.text
    assert renderer_off.get("/network.svg", params={"mission": "no-such-mission"}).status_code == 404


# ---------------------------------------------------------------------------------------
# a renderer that fails or hangs
# ---------------------------------------------------------------------------------------
def test_a_failing_renderer_leaves_the_page_up(bad_renderer: httpx.Client) -> None:
    r = bad_renderer.get("/resource/change-6", headers=HTML)
    assert r.status_code == 200
    section = neighbourhood(r.text)
    assert NOTICE in section and "the renderer is broken" in section and "<svg" not in section
    image = bad_renderer.get("/network.svg")
    assert image.status_code == 503 and is_short_line(image.text) and "failed" in image.text


def test_a_renderer_past_its_time_limit_leaves_the_page_up(bad_renderer: httpx.Client) -> None:
    from spacecoop.pictures import INLINE_TIMEOUT

    r = bad_renderer.get("/resource/smile", headers=HTML)
    assert r.status_code == 200
    section = neighbourhood(r.text)
    assert NOTICE in section and f"longer than {INLINE_TIMEOUT:g} s" in section
    assert 'id="provenance"' in r.text and r.headers.get("cache-control") == "no-store"
