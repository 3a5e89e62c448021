"""Pictures: the timeline and the cooperation map drawn from the graph by saved queries.

Checked against the bundled graph: every mission and event of the graph (counted by
SPARQL through the engine) is in the timeline SVG; every agency, mission and contribution
is on the map; every link in both SVGs answers 200 on the live server; the CLI writes
valid SVG and PNG; the pages embed the SVG. A fixture graph shows that new data (and a
status never seen before) appears without code changes.
"""

from __future__ import annotations

import asyncio
import os
import struct
import subprocess
import sys
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest

from spacecoop import config, pictures
from spacecoop.engine.store import Engine, Job, parse_json_rows
from spacecoop.pictures import dates, graphviz, network, timeline
from spacecoop.rdf import iris

from .conftest import ROOT

SVG_NS = "{http://www.w3.org/2000/svg}"
XLINK_HREF = "{http://www.w3.org/1999/xlink}href"
FIXTURE = ROOT / "tests" / "fixtures" / "pictures.ttl"
PREFIX = "PREFIX sc: <https://spacecoop.example/ontology#>\n"


# ---------------------------------------------------------------------------------------
# helpers
# ---------------------------------------------------------------------------------------
def select(engine: Engine, query: str) -> list[dict[str, tuple]]:
    return parse_json_rows(engine.run_sync(Job(PREFIX + query)).body)


def iris_of(engine: Engine, query: str) -> set[str]:
    return {row["x"][1] for row in select(engine, query)}


def count(engine: Engine, where: str) -> int:
    rows = select(engine, f"SELECT (COUNT(DISTINCT ?x) AS ?n) WHERE {{ {where} }}")
    return int(rows[0]["n"][1])


def svg_hrefs(svg: str) -> list[str]:
    """Every link in an SVG document (xlink:href or href on <a>)."""
    root = ET.fromstring(svg)
    out = []
    for a in root.iter(f"{SVG_NS}a"):
        href = a.get(XLINK_HREF) or a.get("href")
        if href:
            out.append(href)
    return out


def png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG file"
    assert data[12:16] == b"IHDR"
    width, height = struct.unpack(">II", data[16:24])
    return width, height


def path_of(iri: str) -> str:
    path = iris.iri_to_path(iri, config.BASE)
    assert path is not None, iri
    return path


@pytest.fixture(scope="module")
def timeline_svg(client: httpx.Client) -> str:
    r = client.get("/timeline.svg")
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("image/svg+xml")
    return r.text


@pytest.fixture(scope="module")
def network_svg(client: httpx.Client) -> str:
    r = client.get("/network.svg")
    assert r.status_code == 200, r.text
    return r.text


@pytest.fixture(scope="module")
def client(app: httpx.Client) -> httpx.Client:  # module-scoped: the SVGs are fetched once
    return app


@pytest.fixture(scope="module")
def fixture_engine() -> Iterator[Engine]:
    eng = Engine(config.Settings(data_files=(str(config.ONTOLOGY_DIR / "spacecoop.ttl"), str(FIXTURE))))
    eng.start_local()
    yield eng
    eng.close()


def fixture_link(iri: str) -> str:
    return iris.iri_to_path(iri, config.BASE) or iri


# ---------------------------------------------------------------------------------------
# the timeline on the bundled graph
# ---------------------------------------------------------------------------------------
def test_timeline_has_every_mission_and_event(engine: Engine, timeline_svg: str) -> None:
    expected = iris_of(engine, "SELECT DISTINCT ?x WHERE { { ?x a sc:Mission } UNION { ?x a sc:Event } }")
    n = count(engine, "{ ?x a sc:Mission } UNION { ?x a sc:Event }")
    assert len(expected) == n > 20  # the article's 12 missions and 15 events, give or take
    hrefs = set(svg_hrefs(timeline_svg))
    missing = sorted(path_of(i) for i in expected if path_of(i) not in hrefs)
    assert not missing, f"not on the timeline: {missing}"


def test_timeline_json_counts_match_sparql(engine: Engine, client: httpx.Client) -> None:
    data = client.get("/timeline.json").json()
    assert data["counts"]["missions"] == count(engine, "?x a sc:Mission")
    assert data["counts"]["events"] == count(engine, "?x a sc:Event")
    items = [i for g in data["groups"] for i in g["items"]]
    assert len({i["iri"] for i in items}) == len(items), "an item is drawn twice"


def test_timeline_keeps_date_precision(engine: Engine, timeline_svg: str) -> None:
    """A month stays a month, a lower bound stays open, a vague period keeps its words."""
    smile = iris.entity_iri("smile", config.BASE)
    rows = select(engine, f"SELECT ?d WHERE {{ <{smile}> sc:earliestDate ?d }}")
    assert rows and rows[0]["d"][3].endswith("gYearMonth")
    assert "no earlier than Apr 2026" in timeline_svg
    assert "early and mid&#45;2000s" in timeline_svg or "early and mid-2000s" in timeline_svg
    assert "Jan 2024" in timeline_svg  # Einstein Probe launch: a month
    assert "8 May 2024" in timeline_svg  # Chang'e 6 landing: a day
    for fake in ("1 Apr 2026", "1 Jan 2024", "1 Jan 2000", "2026-04-01"):
        assert fake not in timeline_svg, f"a made-up exact day: {fake}"


def test_timeline_colours_statuses_with_a_legend(engine: Engine, timeline_svg: str) -> None:
    labels = {r["l"][1] for r in select(engine, """
        PREFIX skos: <http://www.w3.org/2004/02/skos/core#>
        SELECT DISTINCT ?l WHERE { ?x sc:status ?s . { ?x a sc:Mission } UNION { ?x a sc:Event }
                                   ?s skos:prefLabel ?l FILTER(LANG(?l) = "en") }""")}
    assert labels
    for label in labels:
        assert f"legend: {label}" in timeline_svg


# ---------------------------------------------------------------------------------------
# the cooperation map on the bundled graph
# ---------------------------------------------------------------------------------------
def test_network_has_every_mission_agency_and_contribution(engine: Engine, network_svg: str) -> None:
    hrefs = set(svg_hrefs(network_svg))
    missions = iris_of(engine, "SELECT ?x WHERE { ?x a sc:Mission }")
    providers = iris_of(engine, "SELECT DISTINCT ?x WHERE { ?c a sc:Contribution ; sc:providedBy ?x }")
    agencies = iris_of(engine, "SELECT ?x WHERE { ?x a sc:Agency }")
    contributions = iris_of(engine, "SELECT ?x WHERE { ?x a sc:Contribution ; sc:providedBy [] ; "
                                    "sc:contributionTo [] }")
    assert contributions and missions and agencies
    for group in (missions, providers, agencies, contributions):
        missing = sorted(path_of(i) for i in group if path_of(i) not in hrefs)
        assert not missing, f"not on the map: {missing}"


def test_network_edges_are_labelled_and_sides_distinct(network_svg: str) -> None:
    for relation in ("edge-providedBy", "edge-carriedOn", "edge-launchedOn", "edge-participation"):
        assert relation in network_svg
    assert "carried on" in network_svg and "launches" in network_svg and "partner" in network_svg
    assert "side-europe" in network_svg and "side-china" in network_svg
    assert style_colour("europe") in network_svg and style_colour("china") in network_svg


def style_colour(side: str) -> str:
    from spacecoop.pictures import style

    return style.SIDE_STYLE[side][0]


def test_mission_neighbourhood(client: httpx.Client) -> None:
    r = client.get("/network.svg", params={"mission": "smile"})
    assert r.status_code == 200
    hrefs = set(svg_hrefs(r.text))
    for slug in ("smile", "esa", "cnsa", "vega-c", "smile-soft-x-ray-imager", "smile-esa-payload-module"):
        assert f"/resource/{slug}" in hrefs
    assert "/resource/change-4" not in hrefs and "/resource/double-star" not in hrefs
    assert client.get("/network.svg", params={"mission": "no-such-mission"}).status_code == 404
    assert client.get("/network.svg", params={"mission": "esa"}).status_code == 404  # not a mission
    assert client.get("/network", params={"mission": "../etc"}).status_code == 404


def test_inline_network_for_the_mission_page(engine: Engine) -> None:
    inline = asyncio.run(pictures.inline_network(engine, iris.entity_iri("change-6", config.BASE)))
    assert inline and not inline.notice
    assert inline.svg.startswith("<svg") and 'role="img"' in inline.svg and "<title" in inline.svg
    assert "/resource/nils" in inline.svg and "/resource/esa" in inline.svg
    assert not asyncio.run(pictures.inline_network(engine, iris.entity_iri("esa", config.BASE)))


def test_inline_network_is_a_notice_when_the_renderer_is_off(engine: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SPACECOOP_GRAPHVIZ", "off")
    inline = asyncio.run(pictures.inline_network(engine, iris.entity_iri("smile", config.BASE)))
    assert inline and not inline.svg
    assert "cannot be drawn" in inline.notice and "SPACECOOP_GRAPHVIZ=off" in inline.notice


# ---------------------------------------------------------------------------------------
# links, pages, accessibility
# ---------------------------------------------------------------------------------------
def test_mission_pages_show_their_own_neighbourhood_and_other_pages_do_not(client: httpx.Client) -> None:
    smile = client.get("/resource/smile", headers={"Accept": "text/html"}).text
    assert 'id="neighbourhood"' in smile and "<svg" in smile
    assert "China National Space Administration" in smile.split('id="neighbourhood"')[1]
    esa = client.get("/resource/esa", headers={"Accept": "text/html"}).text
    assert 'id="neighbourhood"' not in esa


def test_every_link_in_the_pictures_resolves(client: httpx.Client, timeline_svg: str, network_svg: str) -> None:
    smile = client.get("/network.svg", params={"mission": "smile"}).text
    hrefs = sorted(set(svg_hrefs(timeline_svg)) | set(svg_hrefs(network_svg)) | set(svg_hrefs(smile)))
    assert len(hrefs) > 40
    broken = []
    for href in hrefs:
        assert not urlsplit(href).netloc, f"pages link locally, got {href}"
        r = client.get(href, headers={"Accept": "text/html"})
        if r.status_code != 200:
            broken.append(f"{href} → {r.status_code}")
    assert not broken, broken


def test_pages_embed_the_svg_inline(client: httpx.Client) -> None:
    for page, query in (("/timeline", "timeline-items"), ("/network", "network-edges")):
        r = client.get(page, headers={"Accept": "text/html"})
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
        html = r.text
        assert "<svg" in html and 'role="img"' in html and "<?xml" not in html
        assert "<title id=" in html and "<desc id=" in html
        assert f"/queries/{query}" in html
        assert "<script" not in html.split("<svg", 1)[1].split("</svg>", 1)[0], "the picture needs no JS"
    data = client.get("/network", headers={"Accept": "application/json"}).json()
    assert {"nodes", "edges", "title"} <= set(data)


def test_every_link_on_the_pages_resolves(client: httpx.Client) -> None:
    """The download links, the saved-query links and the data tables under the pictures."""
    import re

    hrefs: set[str] = set()
    for page in ("/timeline", "/network", "/network?mission=smile"):
        html = client.get(page, headers={"Accept": "text/html"}).text
        main = html.split("<main>", 1)[1].split("</main>", 1)[0]
        main = re.sub(r"<svg.*?</svg>", "", main, flags=re.S)  # the SVG's links are checked above
        hrefs |= {h.replace("&amp;", "&") for h in re.findall(r'href="([^"#]+)"', main)}
    assert {"/timeline.svg", "/network.png", "/queries/timeline-items", "/queries/network-edges"} <= hrefs
    broken = [f"{h} → {r.status_code}" for h in sorted(hrefs)
              if (r := client.get(h, headers={"Accept": "text/html"})).status_code != 200]
    assert not broken, broken


def test_png_endpoints(client: httpx.Client) -> None:
    for path in ("/timeline.png", "/network.png", "/network.png?mission=double-star"):
        r = client.get(path)
        assert r.status_code == 200 and r.headers["content-type"] == "image/png"
        width, height = png_size(r.content)
        assert width > 300 and height > 150


def test_svg_is_accessible(timeline_svg: str) -> None:
    root = ET.fromstring(timeline_svg)
    assert root.get("role") == "img"
    assert root.find(f"{SVG_NS}title") is not None and root.find(f"{SVG_NS}desc") is not None
    links = list(root.iter(f"{SVG_NS}a"))
    assert links and all(a.get("{http://www.w3.org/1999/xlink}title") for a in links), "every link has a title"


# ---------------------------------------------------------------------------------------
# the CLI
# ---------------------------------------------------------------------------------------
@pytest.mark.parametrize(("picture", "mission"), [("timeline", None), ("network", None), ("network", "smile"),
                                                  ("timeline", "tianwen-3")])
def test_cli_render_svg_and_png(tmp_path: Path, picture: str, mission: str | None) -> None:
    for suffix in ("svg", "png"):
        out = tmp_path / f"{picture}.{suffix}"
        cmd = [sys.executable, "-m", "spacecoop", "render", picture, "-o", str(out)]
        if mission:
            cmd += ["--mission", mission]
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr
        data = out.read_bytes()
        if suffix == "svg":
            root = ET.fromstring(data)
            assert root.tag == f"{SVG_NS}svg" and root.get("role") == "img"
            assert svg_hrefs(data.decode())
        else:
            width, height = png_size(data)
            assert width > 200 and height > 100


def test_cli_render_refuses_bad_output(tmp_path: Path) -> None:
    done = subprocess.run([sys.executable, "-m", "spacecoop", "render", "timeline", "-o", str(tmp_path / "x.gif")],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 2 and ".svg or .png" in done.stderr
    done = subprocess.run([sys.executable, "-m", "spacecoop", "render", "network", "--mission", "nope",
                           "-o", str(tmp_path / "x.svg")], capture_output=True, text=True, timeout=120)
    assert done.returncode == 1 and "mission" in done.stderr


# ---------------------------------------------------------------------------------------
# new data appears without code changes (fixture graph)
# ---------------------------------------------------------------------------------------
def test_fixture_timeline_draws_every_date_form(fixture_engine: Engine) -> None:
    rows = pictures.query_rows(fixture_engine, "timeline-items")
    picture = pictures.make_timeline(rows, fixture_link)
    items = {i["iri"].rsplit("/", 1)[-1]: i for g in picture.data["groups"] for i in g["items"]}
    assert items["fixture-mission"]["form"] == "period"
    assert items["fixture-launch"]["form"] == "point" and items["fixture-launch"]["when"] == "15 Mar 2010"
    assert items["fixture-landing"]["form"] == "unit" and items["fixture-landing"]["when"] == "Jul 2011"
    assert items["fixture-planned-launch"]["form"] == "from"
    assert items["fixture-planned-launch"]["when"] == "no earlier than Apr 2030"
    assert items["fixture-review"]["form"] == "window"
    assert items["fixture-stop"]["form"] == "until" and items["fixture-stop"]["group"].endswith("fixture-mission")
    assert items["fixture-undated-mission"]["form"] == "undated"
    assert items["fixture-orphan"]["group"] is None  # drawn in "Other events"
    svg = picture.svg()
    assert "legend: paused" in svg  # a status the code has never seen gets a colour and a legend entry
    assert set(svg_hrefs(svg)) >= {f"/resource/{k}" for k in items}


def test_fixture_network(fixture_engine: Engine) -> None:
    nodes = pictures.query_rows(fixture_engine, "network-nodes")
    edges = pictures.query_rows(fixture_engine, "network-edges")
    picture = pictures.make_network(nodes, edges, fixture_link)
    relations = {(e["from"].rsplit("/", 1)[-1], e["relation"], e["to"].rsplit("/", 1)[-1])
                 for e in picture.data["edges"]}
    assert ("fixture-agency-eu", "providedBy", "fixture-imager") in relations
    assert ("fixture-agency-cn", "providedBy", "fixture-rocket") in relations
    assert ("fixture-agency-cn", "providedBy", "fixture-mission") in relations
    assert ("fixture-imager", "carriedOn", "fixture-mission") in relations
    assert ("fixture-rocket", "launchedOn", "fixture-mission") in relations
    # participation is folded into the contributions between the same two nodes
    assert not any(r == "participation" and a == "fixture-agency-cn" for a, r, _ in relations)
    dot = picture.dot
    assert 'dir="back"' in dot  # the Chinese side is drawn to the right, arrows still towards the mission
    assert "测试航天局" in picture.svg()


# ---------------------------------------------------------------------------------------
# units: dates, DOT escaping, the dot wrapper
# ---------------------------------------------------------------------------------------
def test_dates_keep_their_precision() -> None:
    month = dates.parse_period("2026-04", dates.XSD + "gYearMonth")
    assert month is not None and month.precision == "month" and (month.end - month.start).days == 30
    year = dates.parse_period("2028", dates.XSD + "gYear")
    assert year is not None and year.text == "2028" and (year.end - year.start).days == 366
    assert dates.parse_period("not a date", None) is None
    assert dates.parse_period("2024-02-30", dates.XSD + "date") is None
    item = timeline.Item("x", "event", "X", earliest=month)
    assert item.form == "from" and item.when == "no earlier than Apr 2026"


def test_month_box_is_a_month_wide() -> None:
    axis = timeline.Axis(0.0, [2026], {2026: 120.0})
    item = timeline.Item("x", "event", "X", date=dates.parse_period("2026-04", None))
    x0, x1 = timeline._span(item, axis)
    assert x1 - x0 == pytest.approx(120.0 * 30 / 365, abs=0.1)


def test_dot_quoting_cannot_be_escaped() -> None:
    nasty = 'a" ] ; evil [label="x\\N'
    g = graphviz.Graph("t")
    g.node("n", label=nasty, URL="/resource/n")
    source = g.source()
    assert '\\"' in source and "\\\\N" in source
    svg = graphviz.render(source).decode()
    assert "evil" in svg and ET.fromstring(svg) is not None
    assert "&quot;" not in graphviz.html_text("plain") and graphviz.html_text("<b>") == "&lt;b&gt;"


def test_the_bundled_renderer_is_used_and_nothing_is_missing() -> None:
    assert Path(graphviz.program()).name == graphviz.BUNDLED  # from PyPI: no system package
    assert graphviz.missing_reason() is None


def test_missing_renderer_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SPACECOOP_GRAPHVIZ", "no-such-graphviz-program")
    with pytest.raises(graphviz.GraphvizError, match=r"'no-such-graphviz-program' .* is not installed"):
        graphviz.render('digraph "unique-for-this-test" { a }')
    reason = graphviz.missing_reason()
    assert reason and "\n" not in reason and "no-such-graphviz-program" in reason
    monkeypatch.setenv("SPACECOOP_GRAPHVIZ", "off")
    with pytest.raises(graphviz.GraphvizError, match="turned off"):
        graphviz.render('digraph "unique-for-this-test" { a }')


def fake_renderer(tmp_path: Path, body: str) -> str:
    """A dot-compatible program that misbehaves: a shell script."""
    script = tmp_path / "fake-dot"
    script.write_text(f"#!/bin/sh\n{body}\n")
    script.chmod(0o755)
    return str(script)


def test_renderer_time_limit_stops_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pid_file = tmp_path / "pid"
    monkeypatch.setenv("SPACECOOP_GRAPHVIZ", fake_renderer(tmp_path, f"echo $$ > {pid_file}; exec sleep 300"))
    with pytest.raises(graphviz.GraphvizError, match=r"longer than 0\.5 s"):
        graphviz.render('digraph "another-unique-graph" { a }', timeout=0.5)
    with pytest.raises(ProcessLookupError):  # stopped and reaped, not left running
        os.kill(int(pid_file.read_text()), 0)


def test_renderer_failure_is_one_short_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    failing = fake_renderer(tmp_path, "echo 'Error: syntax error in line 1' >&2; exit 1")
    monkeypatch.setenv("SPACECOOP_GRAPHVIZ", failing)
    with pytest.raises(graphviz.GraphvizError, match=r"^Graphviz \(fake-dot\) failed: Error: syntax error in line 1$"):
        graphviz.render('digraph "a-third-unique-graph" { a }')
    assert str(tmp_path) not in (graphviz.missing_reason() or "no reason")


def test_png_draws_chinese_glyphs_from_the_bundled_font() -> None:
    """Without the font every Chinese character is the same empty box: two differ only with it."""
    def png(text: str) -> bytes:
        g = graphviz.Graph("glyphs", node_defaults={"fontname": "Liberation Sans", "shape": "plaintext"})
        g.node("n", label=text)
        return graphviz.render(g.source(), "png", dpi=144)

    assert png_size(png("天")) == png_size(png("问"))
    assert png("天") != png("问")
    assert graphviz.png_font().is_file()


def test_png_is_bounded_by_its_pixels() -> None:
    huge = b'<svg xmlns="http://www.w3.org/2000/svg" width="20000pt" height="20000pt"></svg>'
    with pytest.raises(graphviz.GraphvizError, match="too large"):
        graphviz.rasterise(huge, 144)


def test_network_neighbourhood_unit() -> None:
    n = network.Network(
        {"m": network.Node("m", "mission", "M"), "i": network.Node("i", "instrument", "I"),
         "a": network.Node("a", "agency", "A"), "o": network.Node("o", "mission", "O"),
         "b": network.Node("b", "agency", "B")},
        [network.Edge("a", "i", "providedBy", "contributed"), network.Edge("i", "m", "carriedOn", "carried on"),
         network.Edge("b", "o", "providedBy", "launch")])
    near = network.neighbourhood(n, "m")
    assert set(near.nodes) == {"m", "i", "a"}
    assert len(near.edges) == 2


def test_pictures_follow_the_served_base() -> None:
    """With SPACECOOP_BASE elsewhere, the queries and the links move with it."""
    eng = Engine(config.Settings(base="https://kg.example.org/"))
    eng.start_local()
    try:
        link = pictures.local_link(eng.settings.base)
        pic = pictures.make_timeline(pictures.query_rows(eng, "timeline-items"), link)
        assert pic.data["counts"]["missions"] >= 10
        assert "/resource/smile" in svg_hrefs(pic.svg())
        net = pictures.make_network(pictures.query_rows(eng, "network-nodes"),
                                    pictures.query_rows(eng, "network-edges"), link,
                                    "https://kg.example.org/resource/smile")
        assert "/resource/vega-c" in svg_hrefs(net.svg())
        public = pictures.public_link(eng.settings.with_(public_url="https://kg.example.org/"))
        assert public("https://kg.example.org/resource/smile") == "https://kg.example.org/resource/smile"
    finally:
        eng.close()
