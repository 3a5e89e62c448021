"""The landing page at ``/``: what the graph is, how much of each thing it holds, and links.

The counts come from one SPARQL query through the engine (cached with its answers), so
the page always describes the graph actually being served. Like every page it is also
JSON (``/?format=json`` or ``Accept: application/json``).
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from spacecoop.engine.query_rules import QueryError
from spacecoop.engine.store import Engine
from spacecoop.web import pages

TITLE = "SpaceCoop KG"
DESCRIPTION = ("A linked-data knowledge graph of European–Chinese space cooperation: agencies, "
               "missions, spacecraft, instruments, launch vehicles, contributions and events, "
               "each fact traced to its source.")

# ?ns is bound (as a literal) to the served ontology namespace.
CLASS_COUNTS = """
PREFIX rdfs: <http://www.w3.org/2000/01/rdf-schema#>
SELECT ?class (COUNT(DISTINCT ?thing) AS ?things) (SAMPLE(?en) AS ?label) (SAMPLE(?zh) AS ?label_zh)
WHERE {
  ?thing a ?class .
  FILTER(STRSTARTS(STR(?class), STR(?ns)))
  OPTIONAL { ?class rdfs:label ?en FILTER(LANGMATCHES(LANG(?en), "en")) }
  OPTIONAL { ?class rdfs:label ?zh FILTER(LANGMATCHES(LANG(?zh), "zh")) }
}
GROUP BY ?class
ORDER BY DESC(?things) ?class
"""

LINKS = {
    "sparql": "/sparql",
    "queries": "/queries",
    "classes": "/class/",
    "missions": "/class/Mission",
    "agencies": "/class/Agency",
    "ontology": "/ontology",
    "timeline": "/timeline",
    "network": "/network",
    "dumps": "/dumps/",
    "void": "/.well-known/void",
    "api": "/docs",
}


async def class_counts(engine: Engine) -> list[dict[str, Any]]:
    """Every class of the ontology namespace that has instances, most populous first."""
    ns = engine.settings.base + "ontology#"
    rows = await engine.select(CLASS_COUNTS, ns=("literal", ns, None, None))
    out = []
    for row in rows:
        iri = row["class"][1]
        local = iri[len(ns):]
        out.append({
            "iri": iri,
            "name": local,
            "label": row["label"][1] if "label" in row else local,
            "label_zh": row["label_zh"][1] if "label_zh" in row else "",
            "things": int(row["things"][1]),
            "href": f"/class/{local}",
        })
    return out


async def landing_data(engine: Engine) -> dict[str, Any]:
    """The page's data (the same dict becomes HTML or JSON)."""
    note = ""
    try:
        classes = await class_counts(engine)
    except QueryError as err:  # e.g. a busy server: the page still links everywhere
        classes, note = [], f"class counts unavailable: {err.message}"
    return {
        "title": TITLE,
        "description": DESCRIPTION,
        "triples": engine.triple_count,
        "graphs": [{"iri": g, "name": g.rsplit("/", 1)[-1]} for g in engine.named_graphs],
        "version": engine.version,
        "classes": classes,
        "note": note,
        "base": engine.settings.base,
        "links": LINKS,
    }


def build_router(engine: Engine) -> APIRouter:
    """``GET /`` (and ``/index.json``): the landing page."""
    router = APIRouter()

    async def landing(request: Request) -> Response:
        return pages.respond(request, "landing.html", await landing_data(engine))

    router.add_api_route("/", landing, methods=["GET", "HEAD"], include_in_schema=False)
    router.add_api_route("/index.json", landing, methods=["GET", "HEAD"], include_in_schema=False)
    return router


__all__ = ["CLASS_COUNTS", "build_router", "class_counts", "landing_data"]
