"""Dereferenceable IRIs on the app as served (in this process): content negotiation, headers,
extensions, the 404 page, the ontology, class indexes, and the HTML parsed with the standard
library; a deployment rebased with ``SPACECOOP_BASE`` on a live server."""

from __future__ import annotations

import json
from html.parser import HTMLParser
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from pyld import jsonld as pyld
from rdflib import Dataset, Graph, Literal, URIRef
from rdflib.namespace import RDF, RDFS

from spacecoop import config
from spacecoop.engine.store import Engine, Job
from spacecoop.rdf import jsonld

from .conftest import LiveServer

SCR = str(config.SCR)
SC = str(config.SC)
ENTITIES = ("smile", "esa", "nils", "vega-c", "meeting-2026-01-13", "change-6", "status-planned")
RDF_TYPES = {"text/turtle": "turtle", "application/n-triples": "nt", "application/rdf+xml": "xml"}
EXTENSIONS = {"ttl": "text/turtle", "nt": "application/n-triples", "rdf": "application/rdf+xml",
              "jsonld": "application/ld+json", "html": "text/html", "json": "application/json"}


# --- a small HTML reader ----------------------------------------------------------------
class Page(HTMLParser):
    """Collects links, ``lang`` spans, JSON-LD scripts, ids and text of an HTML page."""

    def __init__(self, html: str) -> None:
        super().__init__()
        self.links: list[str] = []
        self.head_links: list[dict[str, str]] = []
        self.ids: set[str] = set()
        self.zh: list[str] = []
        self.scripts: list[str] = []
        self.h1 = ""
        self.text: list[str] = []
        self._stack: list[tuple[str, dict[str, str]]] = []
        self._script: list[str] | None = None
        self.feed(html)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "a" and "href" in a:
            self.links.append(a["href"])
        if tag == "link":
            self.head_links.append(a)
        if "id" in a:
            self.ids.add(a["id"])
        if tag == "script" and a.get("type") == "application/ld+json":
            self._script = []
        self._stack.append((tag, a))

    def handle_endtag(self, tag: str) -> None:
        if tag == "script" and self._script is not None:
            self.scripts.append("".join(self._script))
            self._script = None
        while self._stack:
            if self._stack.pop()[0] == tag:
                break

    def handle_data(self, data: str) -> None:
        if self._script is not None:
            self._script.append(data)
            return
        self.text.append(data)
        if any(a.get("lang") == "zh" for _, a in self._stack) and data.strip():
            self.zh.append(data.strip())
        if any(t == "h1" for t, _ in self._stack):
            self.h1 += data

    @property
    def all_text(self) -> str:
        return " ".join(" ".join(self.text).split())


def schema_loader(url: str, options: Any = None) -> dict[str, Any]:
    """Test-only loader: schema.org's context reduced to its vocabulary (no network)."""
    if url.rstrip("/") in ("https://schema.org", "http://schema.org"):
        return {"contentType": "application/ld+json", "contextUrl": None, "documentUrl": url,
                "document": {"@context": {"@vocab": "https://schema.org/"}}}
    return jsonld.document_loader()(url, options)


# --- fixtures ---------------------------------------------------------------------------
@pytest.fixture(scope="module")
def entity_slugs(union: Graph) -> list[str]:
    return sorted({str(s)[len(SCR):] for s in union.subjects() if str(s).startswith(SCR)})


def served_context(client: httpx.Client) -> str:
    """The context URL the server's JSON-LD names: on its own origin."""
    return str(client.base_url).rstrip("/") + "/context.jsonld"


def parse_rdf(body: bytes, media: str, context: str = "") -> Graph:
    """``context``: where the server publishes the context its JSON-LD names (read offline)."""
    if media == "application/ld+json":
        doc = jsonld.expand(json.loads(body), published=[context])
        return Graph().parse(data=jsonld.to_nquads(doc), format="nt")
    return Graph().parse(data=body.decode("utf-8"), format=RDF_TYPES[media])


# --- content negotiation ----------------------------------------------------------------
@pytest.mark.parametrize("slug", ENTITIES)
@pytest.mark.parametrize("media", [*RDF_TYPES, "application/ld+json"])
def test_iri_negotiates_rdf(client: httpx.Client, slug: str, media: str, union: Graph) -> None:
    r = client.get(f"/resource/{slug}", headers={"Accept": media})
    assert r.status_code == 200
    assert r.headers["content-type"].split(";")[0] == media
    ext = {v: k for k, v in EXTENSIONS.items()}[media]
    assert r.headers["content-location"] == f"/resource/{slug}.{ext}"
    assert "accept" in r.headers["vary"].lower()
    g = parse_rdf(r.content, media, served_context(client))
    me = URIRef(SCR + slug)
    # The description: its own triples, incoming links, labels of what it links to.
    assert set(union.predicate_objects(me)) == set(g.predicate_objects(me))
    assert set(union.subject_predicates(me)) <= set(g.subject_predicates(me))
    for o in union.objects(me, None):
        if isinstance(o, URIRef) and (o, RDFS.label, None) in union:
            assert (o, RDFS.label, None) in g, o


@pytest.mark.parametrize("slug", ENTITIES)
def test_iri_negotiates_html_and_json(client: httpx.Client, slug: str) -> None:
    browser = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"
    r = client.get(f"/resource/{slug}", headers={"Accept": browser})
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    assert r.headers["content-location"] == f"/resource/{slug}.html"
    r = client.get(f"/resource/{slug}", headers={"Accept": "application/json"})
    assert r.headers["content-type"] == "application/json"
    assert r.json()["iri"] == SCR + slug


def test_link_header_lists_every_variant(client: httpx.Client) -> None:
    r = client.get("/resource/smile", headers={"Accept": "text/turtle"})
    link = r.headers["link"]
    for ext, media in EXTENSIONS.items():
        assert f'</resource/smile.{ext}>; rel="alternate"; type="{media}"' in link
    assert r.headers["etag"] and "max-age" in r.headers["cache-control"]


def test_preferences_and_wildcards(client: httpx.Client) -> None:
    def negotiated(accept: str | None) -> str:
        headers = {"Accept": accept} if accept is not None else {}
        return client.get("/resource/smile", headers=headers).headers["content-location"].rsplit(".", 1)[1]

    assert negotiated("text/turtle;q=0.5, application/ld+json") == "jsonld"
    assert negotiated("application/rdf+xml, text/turtle;q=0.9") == "rdf"
    assert negotiated("*/*") == "html"
    assert negotiated("text/*;q=0.5, text/html;q=0") == "ttl"
    r = client.get("/resource/smile", headers={"Accept": "image/png"})
    assert r.status_code == 406 and "/resource/smile.ttl" in r.text


@pytest.mark.parametrize("ext", list(EXTENSIONS))
def test_extensions_and_format_parameter(client: httpx.Client, ext: str) -> None:
    r = client.get(f"/resource/vega-c.{ext}", headers={"Accept": "image/png"})  # the extension wins
    assert r.status_code == 200
    assert r.headers["content-type"].split(";")[0] == EXTENSIONS[ext]
    assert "content-location" not in r.headers
    q = client.get("/resource/vega-c", params={"format": ext})
    assert q.headers["content-type"].split(";")[0] == EXTENSIONS[ext]
    assert q.headers["content-location"] == f"/resource/vega-c.{ext}"
    assert q.content == r.content


def test_conditional_get(client: httpx.Client) -> None:
    r = client.get("/resource/smile.ttl")
    again = client.get("/resource/smile.ttl", headers={"If-None-Match": r.headers["etag"]})
    assert again.status_code == 304 and not again.content


def test_every_entity_iri_resolves(client: httpx.Client, entity_slugs: list[str]) -> None:
    assert len(entity_slugs) > 100
    for slug in entity_slugs:
        r = client.get(f"/resource/{slug}.ttl")
        assert r.status_code == 200, slug
        assert f"scr:{slug}" in r.text or f"<{SCR}{slug}>" in r.text, slug


def test_jsonld_of_an_entity_is_its_framed_document(client: httpx.Client) -> None:
    doc = client.get("/resource/smile.jsonld").json()
    assert doc["@context"] == served_context(client)
    assert doc["id"] == "scr:smile" and [v["label"]["en"] for v in doc["launchedOn"]] == ["Vega-C"]
    instruments = {i["id"] for i in doc["instruments"]}
    assert "scr:smile-uv-imager" in instruments  # incoming links nested with @reverse keys
    ttl = Graph().parse(data=client.get("/resource/smile.ttl").text, format="turtle")
    from rdflib.compare import isomorphic

    assert isomorphic(parse_rdf(json.dumps(doc).encode(), "application/ld+json", served_context(client)), ttl)


# --- the 404 page -----------------------------------------------------------------------
def test_unknown_iri_gets_a_helpful_404(client: httpx.Client) -> None:
    for accept in ("text/html", "text/turtle"):
        r = client.get("/resource/smiel", headers={"Accept": accept})
        assert r.status_code == 404
        assert r.headers["content-type"].startswith("text/html")
        page = Page(r.text)
        assert "/resource/smile" in page.links  # a suggestion
        assert "/class/Mission" in page.links and "/sparql" in page.links
    r = client.get("/resource/nothing-like-this.json")
    assert r.status_code == 404
    assert client.get("/resource/smiel", params={"format": "json"}).json()["suggestions"][0]["slug"] == "smile"
    assert client.get("/resource/smile.exe").status_code == 404
    assert client.get("/resource/a/b").status_code == 404


# --- entity pages, parsed ---------------------------------------------------------------
def test_entity_page_content(client: httpx.Client) -> None:
    page = Page(client.get("/resource/change-6").text)
    assert page.h1.strip().startswith("Chang'e 6")
    assert "嫦娥六号" in page.zh
    assert "/class/Mission" in page.links  # its type
    assert "/resource/moon" in page.links  # a relation
    assert "/resource/nils" in page.links and "/resource/dorn" in page.links  # incoming
    assert "carried on this mission" in page.all_text
    assert "/resource/article-esa-cnsa-2026" in page.links  # provenance
    assert "touching down on May 8th" in page.all_text  # the quote
    assert "2024" in page.all_text and "year" in page.all_text  # a date with its precision
    for ext in ("ttl", "nt", "jsonld", "rdf", "json"):
        assert f"/resource/change-6.{ext}" in page.links
    alternates = {a.get("type") for a in page.head_links if a.get("rel") == "alternate"}
    assert {"text/turtle", "application/ld+json"} <= alternates


def test_entity_page_embeds_schema_org(client: httpx.Client) -> None:
    page = Page(client.get("/resource/esa").text)
    assert len(page.scripts) == 1
    doc = json.loads(page.scripts[0])
    assert doc["@context"] == "https://schema.org"
    expanded = pyld.expand(doc, {"documentLoader": schema_loader})
    node = expanded[0]
    assert node["@id"] == SCR + "esa"
    assert node["@type"] == ["https://schema.org/GovernmentOrganization"]
    assert node["https://schema.org/name"][0]["@value"] == "European Space Agency"
    assert {v["@value"] for v in node["https://schema.org/alternateName"]} >= {"欧洲空间局", "ESA"}
    event = json.loads(Page(client.get("/resource/meeting-2026-01-13").text).scripts[0])
    assert event["@type"] == "Event" and event["startDate"] == "2026-01-13"


def test_query_this_link_runs(client: httpx.Client, engine: Engine) -> None:
    page = Page(client.get("/resource/smile").text)
    href = next(h for h in page.links if h.startswith("/sparql#"))  # the editor, with the query in a tab
    query = parse_qs(urlsplit(href).fragment)["query"][0]
    rows = json.loads(engine.run_sync(Job(query)).body)["results"]["bindings"]
    props = {r["property"]["value"] for r in rows}
    assert SC + "launchedOn" in props and SC + "carriedOn" in props


def test_links_on_pages_resolve(client: httpx.Client) -> None:
    seen: set[str] = set()
    for start in ("/resource/smile", "/resource/esa", "/class/Mission", "/class/Instrument", "/ontology"):
        for href in Page(client.get(start).text).links:
            path = href.split("#")[0]
            if path.startswith(("/resource/", "/class/", "/ontology", "/dumps/", "/graph/")) and path not in seen:
                seen.add(path)
                assert client.get(path).status_code == 200, f"{start} → {href}"
    assert len(seen) > 30


# --- the ontology -----------------------------------------------------------------------
def test_ontology_dereferences(client: httpx.Client, dataset: Dataset) -> None:
    onto = dataset.graph(URIRef(config.graph_iri("ontology")))
    r = client.get("/ontology", headers={"Accept": "text/turtle"})
    assert r.status_code == 200 and r.headers["content-location"] == "/ontology.ttl"
    from rdflib.compare import isomorphic

    assert isomorphic(Graph().parse(data=r.text, format="turtle"), onto)
    doc = client.get("/ontology", headers={"Accept": "application/ld+json"}).json()
    assert isomorphic(parse_rdf(json.dumps(doc).encode(), "application/ld+json", served_context(client)), onto)
    assert client.get("/ontology.nt").headers["content-type"] == "application/n-triples"
    assert client.get("/ontology/0.1.0", headers={"Accept": "text/turtle"}).status_code == 200
    assert client.get("/ontology/9.9.9").status_code == 404


def test_ontology_documentation(client: httpx.Client, dataset: Dataset) -> None:
    r = client.get("/ontology", headers={"Accept": "text/html"})
    page = Page(r.text)
    onto = dataset.graph(URIRef(config.graph_iri("ontology")))
    terms = {str(s)[len(SC):] for s in onto.subjects(RDF.type, None) if str(s).startswith(SC)}
    assert terms and terms <= page.ids  # every term has an anchor: its hash IRI lands on it
    text = page.all_text
    assert "launched on" in text and "运载火箭" in page.zh
    assert "The launch vehicle that launched, or is to launch, a mission." in text
    assert "wdt:P375" in text  # an alignment
    assert "sc:Mission or sc:Spacecraft or sc:Event" in text  # a union range
    label_zh = str(next(o for o in onto.objects(URIRef(SC + "Mission"), RDFS.label) if o.language == "zh"))
    assert label_zh in page.zh
    data = client.get("/ontology.json").json()
    assert {c["local"] for c in data["classes"]} >= {"Mission", "Agency", "Instrument", "LaunchVehicle"}


# --- named graphs -----------------------------------------------------------------------
def test_named_graph_dereferences(client: httpx.Client, dataset: Dataset) -> None:
    from rdflib.compare import isomorphic

    missions = dataset.graph(URIRef(config.graph_iri("missions")))
    r = client.get("/graph/missions", headers={"Accept": "text/turtle"})
    assert r.status_code == 200 and r.headers["content-location"] == "/graph/missions.ttl"
    assert isomorphic(Graph().parse(data=r.text, format="turtle"), missions)
    page = Page(client.get("/graph/missions").text)
    assert "/resource/smile" in page.links
    assert client.get("/graph/missions.json").json()["triples"] == len(missions)
    assert "/graph/missions" in Page(client.get("/resource/smile").text).links  # provenance links it
    assert client.get("/graph/nope").status_code == 404


# --- class indexes ----------------------------------------------------------------------
@pytest.mark.parametrize("cls", ["Mission", "Agency", "Instrument", "LaunchVehicle", "Event", "Country"])
def test_class_index_lists_every_instance(client: httpx.Client, union: Graph, cls: str) -> None:
    members = {str(s) for s in union.subjects(RDF.type, URIRef(SC + cls))}
    data = client.get(f"/class/{cls}.json").json()
    assert {i["iri"] for i in data["items"]} == members
    page = Page(client.get(f"/class/{cls}").text)
    for iri in members:
        assert "/resource/" + iri[len(SCR):] in page.links
    for item in data["items"]:
        if item["label_zh"]:
            assert item["label_zh"] in page.zh


def test_mission_index_has_status_and_dates(client: httpx.Client) -> None:
    data = client.get("/class/Mission", params={"format": "json"}).json()
    assert "status" in data["columns"] and data["has_dates"]
    smile = next(i for i in data["items"] if i["iri"] == SCR + "smile")
    assert smile["columns"]["status"][0]["label"] == "planned"
    assert smile["earliest"] == "2026-04"
    assert smile["columns"]["launch vehicle"][0]["href"] == "/resource/vega-c"
    text = Page(client.get("/class/Mission").text).all_text
    assert "planned" in text and "2026-04" in text


def test_class_list_and_unknown_class(client: httpx.Client) -> None:
    data = client.get("/class/", params={"format": "json"}).json()
    assert {"Mission", "Agency"} <= {c["local"] for c in data["classes"]}
    r = client.get("/class/Spaceship")
    assert r.status_code == 404 and "/class/Mission" in Page(r.text).links


# --- a rebased deployment ---------------------------------------------------------------
@pytest.fixture(scope="module")
def rebased(rebased_server: LiveServer) -> str:
    """The live server rebased to https://kg.example.org/ (the session's: test_jsonld reads it too)."""
    return rebased_server.url


@pytest.mark.live
def test_rebased_server_serves_its_own_iris(rebased: str) -> None:
    base = "https://kg.example.org/"
    with httpx.Client(base_url=rebased, timeout=30) as c:
        g = Graph().parse(data=c.get("/resource/smile.ttl").text, format="turtle")
        assert (URIRef(base + "resource/smile"), URIRef(base + "ontology#launchedOn"),
                URIRef(base + "resource/vega-c")) in g
        assert (URIRef(base + "resource/smile"), RDFS.label, Literal("SMILE", lang="en")) in g
        page = Page(c.get("/resource/smile").text)
        assert "/resource/vega-c" in page.links and "/class/Mission" in page.links
        ctx = c.get("/context.jsonld").json()["@context"]
        assert ctx["@vocab"] == base + "ontology#"
        doc = c.get("/resource/smile.jsonld").json()
        assert doc["@context"] == served_context(c)  # fetchable where the document came from
        assert jsonld.expand(doc, base, published=[served_context(c)])[0]["@id"] == base + "resource/smile"
        assert c.get("/class/Mission.json").json()["count"] > 10


def test_a_description_with_blank_nodes_gives_the_same_bytes_whatever_their_labels() -> None:
    """The engine labels blank nodes afresh for every answer (the ontology's class unions):
    the Turtle of one description is the same bytes every time, as its ETag promises."""
    from spacecoop.linked import exports

    one = (b'<http://x/c> <http://www.w3.org/2002/07/owl#unionOf> _:a .\n'
           b'_:a <http://www.w3.org/1999/02/22-rdf-syntax-ns#first> <http://x/d> .\n')
    other = one.replace(b"_:a", b"_:f00d")
    for fmt in ("ttl", "nt", "rdf"):
        assert exports.serialize_triples(one, fmt) == exports.serialize_triples(other, fmt)
