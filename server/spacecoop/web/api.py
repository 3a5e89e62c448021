"""Saved queries over HTTP: pages (``/queries``) and a typed REST API (``/api/queries``).

* ``GET /queries`` — the catalogue, as HTML or JSON (``pages.respond``);
* ``GET /queries/{name}`` — one query: description, SPARQL, a form for its parameters and
  its answer as a table whose IRIs read as labels and link to their pages;
* ``GET /api/queries`` — the catalogue for machines;
* ``GET /api/queries/{name}?param=value`` — one OpenAPI operation *per saved query*, with
  its typed parameters, answering SPARQL JSON results (or JSON-LD for a graph) and CSV
  with ``Accept: text/csv`` or ``format=csv``; its response schema names the query's columns;
* ``GET /docs``, ``GET /redoc`` — the OpenAPI document (one ``operationId`` per operation)
  in Swagger UI and ReDoc, both served from our own static files (``make assets`` vendors
  them from npm), so the documentation works with no internet.

Parameter values are validated into RDF terms by ``saved_queries.bind`` (a bad value is a
400 with one line saying what to send) and travel as ``Job.bindings``; they never become
query text.
"""

from __future__ import annotations

import inspect
import re
import warnings
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from typing import Any
from urllib.parse import urlencode

import orjson
from fastapi import APIRouter, FastAPI, Query, Request
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import HTMLResponse, Response

from spacecoop import config
from spacecoop.engine.query_rules import QueryError
from spacecoop.engine.store import Engine
from spacecoop.rdf import formats, iris, results
from spacecoop.rdf.results import Term
from spacecoop.saved import saved_queries as sq
from spacecoop.web import conneg, pages

TAG = "Saved queries"
# ``format=`` → media type: SELECT/ASK answers, and graphs (csv: one triple a row).
SELECT_TYPES = {"json": formats.SPARQL_JSON.media_type, "csv": formats.CSV.media_type}
GRAPH_TYPES = {"json": formats.JSON_LD.media_type, "turtle": formats.TURTLE.media_type,
               "ntriples": formats.N_TRIPLES.media_type, "csv": formats.CSV.media_type}
# OpenAPI schemas of the parameter types: what a generated client should send.
PARAM_SCHEMAS: dict[str, dict[str, Any]] = {
    "iri": {"type": "string", "format": "iri"},
    "string": {"type": "string", "maxLength": sq.MAX_STRING},
    "language": {"type": "string", "pattern": "^[A-Za-z]{1,8}(-[A-Za-z0-9]{1,8})*$"},
    "integer": {"type": "integer"},
    "date": {"type": "string", "format": "date"},
}
# How the HTML form asks for each type.
INPUT_TYPES = {"iri": "text", "string": "text", "language": "text", "integer": "number", "date": "date"}


def _error(status: int, message: str, headers: dict[str, str] | None = None, **extra: Any) -> Response:
    return Response(orjson.dumps({"error": message, **extra}), status_code=status, media_type="application/json",
                    headers=headers)


def _values(request: Request) -> dict[str, str]:
    """The query-string parameters that are values for the saved query (not ``format``)."""
    return {k: v for k, v in request.query_params.items() if k not in sq.RESERVED_PARAMS}


def _chosen_format(request: Request, offers: Mapping[str, str]) -> str | None:
    """``format=`` if given, else the client's ``Accept`` among ``offers``; None if neither fits."""
    explicit = request.query_params.get("format")
    if explicit:
        return explicit if explicit in offers else None
    media = conneg.negotiate(request.headers.get("accept"), [*offers.values(), "application/json"])
    if media == "application/json":
        return "json"
    return next((k for k, v in offers.items() if v == media), None)


async def answer(engine: Engine, query: sq.SavedQuery, values: Mapping[str, str], fmt: str) -> Response:
    """Run a saved query with parameter values and serialize its answer as ``fmt``."""
    try:
        if query.is_graph:
            graph_format = {"json": "jsonld", "csv": "ntriples"}.get(fmt, fmt)
            job = sq.bind(query, values, graph_format=graph_format, base=engine.settings.base)
        else:
            job = sq.bind(query, values, result_format=fmt, base=engine.settings.base)
    except sq.ParamError as err:
        return _error(400, str(err), param=err.param)
    try:
        ans = await engine.run(job)
    except QueryError as err:
        return _error(err.status, err.message, err.headers)
    body, media = ans.body, ans.media_type
    if query.is_graph and fmt == "csv":  # a graph as a table of triples
        res = sq.outcome(ans)
        body, media = results.to_csv(res.vars, res.rows), formats.CSV.media_type
    headers = {"Vary": "Accept"}
    if fmt == "csv":
        headers["Content-Disposition"] = f'inline; filename="{query.name}.csv"'
    return Response(body, media_type=media, headers=headers)


def _operation(engine: Engine, query: sq.SavedQuery) -> Callable[..., Any]:
    """The endpoint of one saved query, with a signature FastAPI turns into typed parameters."""
    offers = GRAPH_TYPES if query.is_graph else SELECT_TYPES

    async def endpoint(request: Request, **_: Any) -> Response:
        fmt = _chosen_format(request, offers)
        if fmt is None:
            return _error(406, f"this query answers {', '.join(offers.values())}; "
                               f"ask for one with Accept or format={'|'.join(offers)}")
        return await answer(engine, query, _values(request), fmt)

    # Python names p0, p1 … with the real name as alias: a parameter may be called `from`.
    params = [inspect.Parameter("request", inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=Request)]
    for i, p in enumerate(query.params):
        example = p.example or p.default
        # The declared default is documented with its JSON type; the endpoint itself reads the
        # raw query string and lets saved_queries.bind validate it (400, never FastAPI's 422).
        params.append(inspect.Parameter(
            f"p{i}", inspect.Parameter.KEYWORD_ONLY, annotation=str,
            default=Query(_typed(p, p.default) if p.default else None, alias=p.name, description=_param_doc(p),
                          examples=[_typed(p, example)] if example else None,
                          json_schema_extra=PARAM_SCHEMAS[p.type]),
        ))
    params.append(inspect.Parameter(
        "format", inspect.Parameter.KEYWORD_ONLY, annotation=str,
        default=Query(None, description=f"Answer format: {' | '.join(offers)} (else the Accept header decides)",
                      json_schema_extra={"enum": list(offers)}),
    ))
    endpoint.__signature__ = inspect.Signature(params)  # type: ignore[attr-defined]
    endpoint.__name__ = "query_" + query.name.replace("-", "_")
    return endpoint


def _typed(p: sq.Param, value: str) -> str | int:
    """A declared default or example as the JSON type the OpenAPI schema gives it."""
    return int(value) if p.type == "integer" else value


def _param_doc(p: sq.Param) -> str:
    default = f" Default: `{p.default}`." if p.default else " Optional: leave it out to answer for every value."
    return f"{p.help}.{default}"


def _operation_doc(query: sq.SavedQuery) -> str:
    binding = ("Parameters are validated and bound as RDF terms, never pasted into the query. "
               if query.params else "")
    kind = ("Answers JSON-LD (or Turtle, N-Triples, CSV of triples)." if query.is_graph
            else "Answers SPARQL JSON results (or CSV).")
    return f"{query.description}\n\n{binding}{kind}\n\n```sparql\n{query.sparql.strip()}\n```"


# One RDF term in SPARQL JSON results (SPARQL 1.1 Query Results JSON Format §3.2.2).
TERM_SCHEMA: dict[str, Any] = {
    "type": "object", "required": ["type", "value"],
    "properties": {
        "type": {"type": "string", "enum": ["uri", "literal", "bnode", "triple"]},
        "value": {"description": "the IRI, the literal's lexical form or the blank node's label"},
        "xml:lang": {"type": "string", "description": "a literal's language tag"},
        "datatype": {"type": "string", "format": "iri", "description": "a typed literal's datatype"},
    },
}
TRIPLE_COLUMNS = ("subject", "predicate", "object")  # a graph answer as CSV


def select_schema(columns: Iterable[str]) -> dict[str, Any]:
    """The JSON Schema of SPARQL JSON results whose rows bind ``columns`` (each may be unbound).

    >>> s = select_schema(["mission", "label"])
    >>> s["properties"]["head"]["properties"]["vars"]["items"]["enum"]
    ['mission', 'label']
    >>> sorted(s["properties"]["results"]["properties"]["bindings"]["items"]["properties"])
    ['label', 'mission']
    """
    names = list(columns)
    row: dict[str, Any] = {"type": "object", "additionalProperties": False, "properties": {
        c: {**TERM_SCHEMA, "description": f"?{c} (absent where unbound)"} for c in names}}
    if not names:  # columns unknown (a query that calls SERVICE is not parsed ahead): any variable
        row = {"type": "object", "additionalProperties": TERM_SCHEMA}
    return {
        "type": "object", "required": ["head", "results"],
        "properties": {
            "head": {"type": "object", "required": ["vars"], "properties": {
                "vars": {"type": "array", "items": {"type": "string", "enum": names}, "example": names}}},
            "results": {"type": "object", "required": ["bindings"], "properties": {
                "bindings": {"type": "array", "items": row}}},
        },
    }


def _answer_schemas(query: sq.SavedQuery) -> dict[str, dict[str, Any]]:
    """Each answer format's schema: the columns by name for a table, the boolean for ASK."""
    if query.is_graph:
        header = ",".join(TRIPLE_COLUMNS)
        return {GRAPH_TYPES["json"]: {"type": "object", "description": "a JSON-LD document (its @context "
                                      "is /context.jsonld)"},
                GRAPH_TYPES["turtle"]: {"type": "string"}, GRAPH_TYPES["ntriples"]: {"type": "string"},
                GRAPH_TYPES["csv"]: {"type": "string", "description": f"one triple a row, under the header `{header}`"}}
    if query.form == "ASK":
        return {SELECT_TYPES["json"]: {
                    "type": "object", "required": ["boolean"],
                    "properties": {"head": {"type": "object"}, "boolean": {"type": "boolean"}}},
                SELECT_TYPES["csv"]: {"type": "string", "description": "the header `_askResult`, then true or false"}}
    return {SELECT_TYPES["json"]: select_schema(query.columns),
            SELECT_TYPES["csv"]: {"type": "string", "description": f"one row per answer under the header "
                                                                  f"`{','.join(query.columns)}`"}}


def _responses(query: sq.SavedQuery) -> dict[int | str, dict[str, Any]]:
    content = {media: {"schema": schema} for media, schema in _answer_schemas(query).items()}
    error = {"application/json": {"schema": {"type": "object", "properties": {
        "error": {"type": "string"}, "param": {"type": "string"}}}}}
    return {200: {"description": "The answer", "content": content},
            400: {"description": "A parameter value is not valid (the message says what to send)",
                  "content": error},
            406: {"description": "None of the answer formats is acceptable", "content": error}}


# ---------------------------------------------------------------------------------------
# Pages
# ---------------------------------------------------------------------------------------
def _cell(term: Term | None, labels: Mapping[str, str], base: str) -> dict[str, Any] | None:
    """A term as the page shows it: the label of an IRI with a link, or a literal's text."""
    if term is None:
        return None
    if term[0] == "uri":
        return {"type": "uri", "value": term[1], "label": sq.display(term, labels, base),
                "href": iris.href(term[1], base)}
    if term[0] == "bnode":
        return {"type": "bnode", "value": term[1], "label": "_:" + term[1]}
    dt = term[3] if term[3] and term[3] != config.XSD_STRING else None
    return {"type": "literal", "value": term[1], "lang": term[2],
            "datatype": iris.curie(dt, base) if dt else None}


async def run_for_page(engine: Engine, query: sq.SavedQuery, values: Mapping[str, str]) -> dict[str, Any]:
    """The answer of a query for its page: vars and rows of display cells, or a boolean."""
    base = engine.settings.base
    job = sq.bind(query, values, result_format="json", graph_format="ntriples", base=base)
    res = sq.outcome(await engine.run(job))
    if res.kind == "ask":
        return {"kind": "ask", "boolean": res.boolean}
    labels: dict[str, str] = {}
    label_job = sq.label_job(sq.iris_in(res.rows))
    if label_job is not None:
        labels = sq.pick_labels(sq.outcome(await engine.run(label_job)).rows)
    rows = [{v: _cell(row.get(v), labels, base) for v in res.vars} for row in res.rows]
    return {"kind": res.kind, "vars": res.vars, "rows": rows, "count": len(rows)}


def _links(query: sq.SavedQuery, values: Mapping[str, str]) -> dict[str, str]:
    given = {k: v for k, v in values.items() if v}
    qs = ("?" + urlencode(given)) if given else ""
    sep = "&" if qs else "?"
    links = {"page": f"/queries/{query.name}{qs}", "api": f"/api/queries/{query.name}{qs}",
             "csv": f"/api/queries/{query.name}{qs}{sep}format=csv"}
    if query.is_graph:
        links["turtle"] = f"/api/queries/{query.name}{qs}{sep}format=turtle"
    return links


def build_router(engine: Engine) -> APIRouter:
    """The saved-query pages and REST API over ``engine``."""
    router = APIRouter()
    queries = sq.load_all()
    by_name = {q.name: q for q in queries}

    def catalogue() -> list[dict[str, Any]]:
        return [{**q.summary(), "links": {"page": f"/queries/{q.name}", "api": f"/api/queries/{q.name}"}}
                for q in queries]

    @router.get("/queries", include_in_schema=False)
    @router.get("/queries.json", include_in_schema=False)
    async def queries_page(request: Request) -> Response:
        return pages.respond(request, "queries.html", {"title": "Saved queries", "queries": catalogue()})

    @router.get("/queries/{name}", include_in_schema=False)
    async def query_page(request: Request, name: str) -> Response:
        query = by_name.get(name)
        if query is None:
            err = sq.UnknownQuery(name, list(by_name))
            return pages.respond(request, "queries.html", {"title": "Saved queries", "error": str(err),
                                                           "queries": catalogue()}, status_code=404)
        values = _values(request)
        data: dict[str, Any] = {**query.summary(), "sparql": query.sparql, "values": values,
                                "links": _links(query, values)}
        status = 200
        try:
            data["result"] = await run_for_page(engine, query, values)
        except sq.ParamError as err:
            data["error"], data["error_param"], status = str(err), err.param, 400
        except QueryError as err:
            data["error"], status = err.message, err.status
        fields = [{**p.as_dict(), "help": p.help, "input": INPUT_TYPES[p.type], "value": values.get(p.name, "")}
                for p in query.params]
        return pages.respond(request, "query.html", data, status_code=status, fields=fields)

    @router.get("/api/queries", tags=[TAG], summary="List the saved queries", operation_id="list_saved_queries",
                description="Every saved query with its title, description, tags, form and typed parameters.")
    async def api_list() -> Response:
        return Response(orjson.dumps({"queries": catalogue()}), media_type="application/json")

    for query in queries:  # one documented operation per saved query
        router.add_api_route(
            f"/api/queries/{query.name}", _operation(engine, query), methods=["GET"], tags=[TAG],
            summary=query.title, description=_operation_doc(query),
            operation_id="query_" + query.name.replace("-", "_"),
            response_class=Response, responses=_responses(query),
        )

    @router.get("/api/queries/{name}", include_in_schema=False)
    async def api_unknown(name: str) -> Response:
        return _error(404, str(sq.UnknownQuery(name, list(by_name))))

    return router


# ---------------------------------------------------------------------------------------
# The API documentation
# ---------------------------------------------------------------------------------------
VENDOR = "/static/vendor"
SWAGGER_JS, SWAGGER_CSS = f"{VENDOR}/swagger-ui/swagger-ui-bundle.js", f"{VENDOR}/swagger-ui/swagger-ui.css"
SWAGGER_ICON = f"{VENDOR}/swagger-ui/favicon-32x32.png"
REDOC_JS = f"{VENDOR}/redoc/redoc.standalone.js"
# Swagger UI would send the document to validator.swagger.io for its badge: never call out.
SWAGGER_PARAMETERS = {"validatorUrl": None}
# The viewers may load only from this server (ReDoc's sidebar shows a logo from its CDN: the
# browser never asks for it, and ReDoc hides the image it could not load).
DOCS_POLICY = ("default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; "
               "img-src 'self' data:; font-src 'self' data:; worker-src 'self' blob:; connect-src 'self'")


HTTP_METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")
_METHOD_SUFFIX = re.compile(rf"_(?:{'|'.join(HTTP_METHODS)})$")


def unique_operation_ids(schema: dict[str, Any]) -> dict[str, Any]:
    """Give each operation of a multi-method route (GET and HEAD …) an id of its own.

    FastAPI makes one id per route, ``{name}{path}_{one of its methods}``, and repeats it
    for every method; here each such operation ends in its own method instead.

    >>> doc = {"paths": {"/x": {"get": {"operationId": "x_x_head"}, "head": {"operationId": "x_x_head"}},
    ...                  "/y": {"get": {"operationId": "y_y_get"}}}}
    >>> [op["operationId"] for item in unique_operation_ids(doc)["paths"].values() for op in item.values()]
    ['x_x_get', 'x_x_head', 'y_y_get']
    """
    operations = [(method, op) for item in schema.get("paths", {}).values() for method, op in item.items()
                  if method in HTTP_METHODS and "operationId" in op]
    counts = Counter(op["operationId"] for _, op in operations)
    for method, op in operations:
        if counts[op["operationId"]] > 1:
            op["operationId"] = f"{_METHOD_SUFFIX.sub('', op['operationId'])}_{method}"
    return schema


def _assets_missing(*paths: str) -> list[str]:
    return [p for p in paths if not (config.STATIC_DIR / p.removeprefix("/static/")).is_file()]


def _no_assets_page(request: Request, missing: list[str]) -> HTMLResponse:
    """The documentation page without its viewer: say so, and point at the document itself."""
    notice = ("The documentation viewer is not installed on this server (run <code>make assets</code>); "
              f"the OpenAPI document itself is at <a href=\"{request.app.openapi_url}\">"
              f"{request.app.openapi_url}</a>.")
    return HTMLResponse(f"<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>API documentation"
                        f"</title></head><body><h1>API documentation</h1><p>{notice}</p>"
                        f"<!-- missing: {', '.join(missing)} --></body></html>")


def install_docs(app: FastAPI) -> None:
    """``/docs`` (Swagger UI) and ``/redoc`` from our own static files, over an OpenAPI
    document with one ``operationId`` per operation (create the app with
    ``docs_url=None, redoc_url=None``: FastAPI's own pages load their scripts from a CDN)."""

    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            with warnings.catch_warnings():  # the duplicates FastAPI warns about are what this fixes
                warnings.filterwarnings("ignore", message="Duplicate Operation ID", category=UserWarning)
                app.openapi_schema = unique_operation_ids(generate())
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]

    @app.get("/docs", include_in_schema=False)
    async def swagger_ui(request: Request) -> HTMLResponse:
        if missing := _assets_missing(SWAGGER_JS, SWAGGER_CSS):
            return _no_assets_page(request, missing)
        page = get_swagger_ui_html(openapi_url=str(app.openapi_url), title=f"{app.title} — API",
                                   swagger_js_url=SWAGGER_JS, swagger_css_url=SWAGGER_CSS,
                                   swagger_favicon_url=SWAGGER_ICON, swagger_ui_parameters=SWAGGER_PARAMETERS)
        page.headers["Content-Security-Policy"] = DOCS_POLICY
        return page

    @app.get("/redoc", include_in_schema=False)
    async def redoc(request: Request) -> HTMLResponse:
        if missing := _assets_missing(REDOC_JS):
            return _no_assets_page(request, missing)
        page = get_redoc_html(openapi_url=str(app.openapi_url), title=f"{app.title} — API",
                              redoc_js_url=REDOC_JS, redoc_favicon_url=SWAGGER_ICON, with_google_fonts=False)
        page.headers["Content-Security-Policy"] = DOCS_POLICY
        return page
