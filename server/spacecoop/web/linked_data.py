"""Linked data over HTTP: dereferenceable IRIs, entity and class pages, the ontology, dumps,
the JSON-LD context and the VoID description.

IRI pattern (docs/linked-data.md): *direct content negotiation* on slash IRIs. The IRI of a
thing, ``{BASE}resource/{slug}``, answers ``200`` with the representation the client
prefers (HTML page, Turtle, JSON-LD, N-Triples, RDF/XML, page JSON); the response names the
document it sent in ``Content-Location`` (``/resource/{slug}.ttl``), lists every variant in
``Link: <…>; rel="alternate"`` and says ``Vary: Accept``. Each variant document has its own
fixed URL (``.html .ttl .nt .jsonld .rdf .json``; ``?format=`` too) that never negotiates.

Paths ↔ IRIs go through ``spacecoop.rdf.iris`` only, with the engine's base
(``SPACECOOP_BASE``), so a rebased deployment serves its own IRIs.
"""

from __future__ import annotations

import asyncio
import difflib
import os
import urllib.parse
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import orjson
from fastapi import APIRouter, Request
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse, Response

from spacecoop import config
from spacecoop.engine.jobs import Job
from spacecoop.engine.query_rules import QueryError
from spacecoop.engine.store import Engine
from spacecoop.linked import describe, dump_files, exports, search_service, void
from spacecoop.linked.void import Statistics as VoidStatistics  # the class has a method named void
from spacecoop.rdf import formats, iris, jsonld
from spacecoop.rdf.results import Term
from spacecoop.web import etags, middleware, pages
from spacecoop.web import search as search_pages
from spacecoop.web.conneg import negotiate

if TYPE_CHECKING:  # the drawing code is imported when a mission page is drawn
    from spacecoop.pictures import InlinePicture

HTML, PAGE_JSON = describe.PAGE_TYPES["html"], describe.PAGE_TYPES["json"]
# The RDF variants of a document (their media types: the formats table), in the order pages list them.
RDF_VARIANTS = (formats.TURTLE, formats.JSON_LD, formats.N_TRIPLES, formats.RDF_XML)
# ext → (media type, engine graph format or None when we serialise ourselves: pages, JSON-LD)
VARIANTS: dict[str, tuple[str, str | None]] = {
    "html": (HTML, None),
    **{f.extension: (f.media_type, None if f is formats.JSON_LD else f.name) for f in RDF_VARIANTS},
    "json": (PAGE_JSON, None),
}
# What conneg offers, in the server's order of preference for ties (and for */*).
OFFERS: tuple[tuple[str, str], ...] = (
    (HTML, "html"), ("application/xhtml+xml", "html"), *((f.media_type, f.extension) for f in RDF_VARIANTS),
    (PAGE_JSON, "json"),
)
PAGE_CACHE = "public, max-age=300"
DUMP_CACHE = "public, max-age=3600"
CONTEXT_CACHE = "public, max-age=86400"


def split_extension(name: str) -> tuple[str, str | None]:
    """``"smile.ttl"`` → ``("smile", "ttl")``; a name without a known extension is kept whole.

    >>> split_extension("smile.ttl"), split_extension("smile"), split_extension("v1.2")
    (('smile', 'ttl'), ('smile', None), ('v1.2', None))
    """
    stem, dot, ext = name.rpartition(".")
    return (stem, ext) if dot and stem and ext in VARIANTS else (name, None)


def choose_variant(request: Request, ext: str | None) -> str | None:
    """The variant (extension) to send; None means nothing acceptable (406).

    An extension wins, then ``?format=``, then the ``Accept`` header.
    """
    if ext:
        return ext
    fmt = request.query_params.get("format")
    if fmt:
        return variant_named(fmt)
    media = negotiate(request.headers.get("accept"), [m for m, _ in OFFERS])
    return dict(OFFERS)[media] if media else None


def variant_named(name: str) -> str | None:
    """The variant ``?format=`` names: a variant's extension, or a name of its RDF format.

    >>> variant_named("json"), variant_named("Turtle"), variant_named("rdf/xml"), variant_named("csv")
    ('json', 'ttl', 'rdf', None)
    """
    wanted = name.lower()
    if wanted in VARIANTS:
        return wanted
    found = formats.by_name(wanted, RDF_VARIANTS)
    return found.extension if found else None


def link_header(path: str, exts: tuple[str, ...] = tuple(VARIANTS)) -> str:
    """``Link`` alternates of a document, one per variant.

    >>> link_header("/resource/smile", ("ttl",))
    '</resource/smile.ttl>; rel="alternate"; type="text/turtle"'
    """
    return ", ".join(f'<{path}.{e}>; rel="alternate"; type="{VARIANTS[e][0]}"' for e in exts)


def cached(request: Request, etag: str, make: Callable[[], Response], cache_control: str) -> Response:
    """``304`` for a matching ``If-None-Match``, else the response, with validators set."""
    headers = {"ETag": etag, "Cache-Control": cache_control}
    if etags.not_modified(request, etag):
        return Response(status_code=304, headers=headers)
    response = make()
    response.headers.update(headers)
    return response


@dataclass
class _Caches:
    """Things derived once from the served graph (it does not change while serving)."""

    vocab: describe.Vocabulary | None = None
    entities: list[str] | None = None


class LinkedData:
    """The handlers, over one engine."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.dumps = dump_files.DumpCache(engine.settings, lambda: engine.snapshot, lambda: engine.version)
        engine.when_started(self.dumps.build_in_background)  # ready before the first /dumps/ request
        # The label index inside SPARQL: its SERVICE answered as VALUES (linked.search_service);
        # a remote store has no index, and the SERVICE stays a call the usual rules refuse.
        if not engine.is_remote:
            search_service.attach(engine, self.dumps.search_index)
        self._caches = _Caches()
        self._lock = asyncio.Lock()

    @property
    def base(self) -> str:
        return self.engine.settings.base

    # -- engine helpers ---------------------------------------------------------------
    async def graph(self, query: str, graph_format: str, **bindings: Term) -> bytes:
        job = Job(describe.for_base(query, self.base), graph_format=graph_format,
                  bindings=tuple(sorted(bindings.items())))
        return (await self.engine.run(job)).body

    async def select(self, query: str, **bindings: Term) -> list[dict[str, Term]]:
        return await self.engine.select(describe.for_base(query, self.base), **bindings)

    async def exists(self, iri: str) -> bool:
        answer = await self.engine.run(Job(describe.ENTITY_EXISTS, bindings=(("entity", ("uri", iri)),)))
        return bool(orjson.loads(answer.body).get("boolean"))

    async def vocabulary(self) -> describe.Vocabulary:
        async with self._lock:
            if self._caches.vocab is None:
                body = await self.graph(describe.ONTOLOGY_GRAPH, "ntriples")
                self._caches.vocab = describe.build_vocabulary(describe.parse_ntriples(body), self.base)
            return self._caches.vocab

    async def entity_slugs(self) -> list[str]:
        async with self._lock:
            if self._caches.entities is None:
                rows = await self.select(describe.ENTITY_IRIS,
                                         space=("literal", self.base + iris.RESOURCE, None, None))
                self._caches.entities = [iris.slug_of(describe.value(r["entity"]), self.base) or "" for r in rows]
            return self._caches.entities

    @property
    def context_url(self) -> str:
        """The context URL our JSON-LD documents name (and their ``Link`` header)."""
        return jsonld.published_context_url(self.engine.settings)

    def jsonld_response(self, doc: dict[str, Any]) -> Response:
        """A JSON-LD document, with its context also named in a ``Link`` header (for clients
        that read the body as plain JSON)."""
        return Response(jsonld.dumps(doc), media_type=formats.JSON_LD.media_type,
                        headers={"Link": jsonld.context_link(self.context_url)})

    def public_url(self, request: Request) -> str:
        """Where this server is reachable (for absolute links in VoID and schema.org)."""
        return self.engine.settings.public_url.rstrip("/") or str(request.base_url).rstrip("/")

    # -- entities ---------------------------------------------------------------------
    async def resource(self, request: Request, rest: str) -> Response:
        slug, ext = split_extension(rest)
        iri = iris.entity_iri(slug, self.base)
        if "/" in slug or not iris.is_iri(iri) or not await self.exists(iri):
            return await self.not_found(request, slug)
        return await self._negotiated(request, f"/{iris.RESOURCE}{slug}", ext,
                                      lambda variant: self._entity_variant(request, iri, variant))

    async def _negotiated(self, request: Request, path: str, ext: str | None,
                          render: Callable[[str], Awaitable[Response]]) -> Response:
        variant = choose_variant(request, ext)
        if variant is None:
            return self._not_acceptable(path)
        etag = etags.strong(self.engine.version, path, variant)
        if etags.not_modified(request, etag):
            response = Response(status_code=304)
        else:
            response = await render(variant)
        # A JSON-LD answer links its context instead of the alternates: pyld's default loader
        # (requests, up to 3.3 at least) fails on a response with several rel="alternate"
        # links, and a JSON-LD consumer is the one client that reads this answer's links.
        # A page with an optional part missing says no-store: it gets no validator to be kept by.
        degraded = response.headers.get("cache-control") == "no-store"
        kept = {} if degraded else {"ETag": etag, "Cache-Control": PAGE_CACHE}
        response.headers.update({**kept, "Link": response.headers.get("link") or link_header(path)})
        if ext is None:
            # The bare IRI answers differently per Accept; the variant has its own URL.
            response.headers["Vary"] = "Accept"
            response.headers["Content-Location"] = f"{path}.{variant}"
        return response

    def _not_acceptable(self, path: str) -> Response:
        formats = ", ".join(f"{m} ({path}.{e})" for e, (m, _) in VARIANTS.items())
        return Response(f"406 Not Acceptable: available representations are {formats}\n", status_code=406,
                        media_type="text/plain", headers={"Vary": "Accept", "Link": link_header(path)})

    async def _entity_variant(self, request: Request, iri: str, variant: str) -> Response:
        media, graph_format = VARIANTS[variant]
        binding = {"entity": ("uri", iri)}
        nt = await self.graph(describe.DESCRIBE_ENTITY, "ntriples", **binding)
        if graph_format:
            return Response(exports.serialize_triples(nt, variant, self.base), media_type=media)
        triples = describe.parse_ntriples(nt)
        if variant == "jsonld":
            return self.jsonld_response(await asyncio.to_thread(self._entity_jsonld, iri, nt, triples))
        graphs = [describe.value(r["graph"]) for r in await self.select(describe.ENTITY_GRAPHS, **binding)]
        page = describe.entity_page(iri, triples, await self.vocabulary(), graphs, self.base)
        if variant == "json":
            return Response(orjson.dumps(page), media_type=media)
        url = self.public_url(request) + page["path"]
        neighbourhood = await self._neighbourhood(iri, page)
        html = pages.render("entity.html", request=request, title=page["label"], **page,
                            schema_json=describe.script_json(describe.schema_org(page, url)),
                            neighbourhood=neighbourhood)
        # A notice in place of the picture is not what this URL stands for: never cached or tagged.
        degraded = {"Cache-Control": "no-store"} if neighbourhood and neighbourhood.notice else None
        return HTMLResponse(html, headers=degraded)

    async def _neighbourhood(self, iri: str, page: dict[str, Any]) -> InlinePicture | None:
        """A mission page shows its own part of the cooperation map (None for other things),
        or a notice in its place when it cannot be drawn: the page answers 200 either way."""
        if iris.term_iri("Mission", self.base) not in {t["iri"] for t in page["types"]}:
            return None
        from spacecoop.pictures import inline_network  # the drawing code: only for mission pages

        return await inline_network(self.engine, iri)

    def _entity_jsonld(self, iri: str, nt: bytes, triples: list[describe.Triple]) -> dict[str, Any]:
        return jsonld.entity_document(nt.decode("utf-8"), iri, describe.incoming_predicates(iri, triples), self.base,
                                      self.context_url)

    async def not_found(self, request: Request, slug: str) -> Response:
        """A helpful 404: what was asked, similar entities, where to look instead."""
        slugs = await self.entity_slugs()
        close = difflib.get_close_matches(slug, slugs, n=6, cutoff=0.5)
        close += [s for s in slugs if slug and slug in s and s not in close][: 6 - len(close)]
        # First what the label index finds for the words of the slug (/resource/SMILE, /resource/嫦娥六号).
        named = await self._named_like(urllib.parse.unquote(slug).replace("-", " ").replace("_", " "))
        by_slug = [(s, f"/{iris.RESOURCE}{s}") for s in close]
        suggestions = named + [s for s in by_slug if s[1] not in {href for _, href in named}]
        return not_found_page(request, "The graph says nothing about this IRI.", iris.entity_iri(slug, self.base),
                              suggestions[:8], [(label, f"/class/{name}") for name, label in INDEX_LINKS])

    async def _named_like(self, text: str) -> list[tuple[str, str]]:
        """(label, link) of the entities the label index finds for ``text`` (none before it is built)."""
        index = self.dumps.search_index()
        if index is None or not text.strip():
            return []
        hits = await asyncio.to_thread(index.search, text, None, None, 6)
        return [(hit.label, iris.href(hit.iri, self.base)) for hit in hits]

    # -- named graphs -----------------------------------------------------------------
    async def named_graph(self, request: Request, rest: str) -> Response:
        """A named graph's IRI (``{BASE}graph/{stem}``): its triples, or a page listing them."""
        stem, ext = split_extension(rest)
        # The path arrives decoded ("my missions"): encoded again as the loader named the graph.
        iri = iris.rebase(config.graph_iri(stem), self.base)
        binding = {"graph": ("uri", iri)}
        if "/" in stem or not iris.is_iri(iri) or not await self._graph_exists(binding):
            graphs = [(iris.local_name(g), iris.href(g, self.base)) for g in self.engine.named_graphs]
            return not_found_page(request, "There is no named graph with this IRI.", iri, [], graphs)
        path = iris.uri_path(iris.iri_to_path(iri, self.base) or "")
        return await self._negotiated(request, path, ext,
                                      lambda variant: self._graph_variant(request, binding, variant))

    async def _graph_exists(self, binding: dict[str, Term]) -> bool:
        answer = await self.engine.run(Job(describe.GRAPH_EXISTS, bindings=tuple(binding.items())))
        return bool(orjson.loads(answer.body).get("boolean"))

    async def _graph_variant(self, request: Request, binding: dict[str, Term], variant: str) -> Response:
        media = VARIANTS[variant][0]
        if variant not in ("html", "json"):
            return await self._triples_variant(describe.GRAPH_TRIPLES, variant, binding)
        iri = binding["graph"][1]
        rows = await self.select(describe.GRAPH_SUBJECTS, **binding)
        labels = {r["s"]: r["label"] for r in await self.select(describe.GRAPH_SUBJECT_LABELS, **binding)}
        rows = [r | {"label": labels[r["s"]]} if r["s"] in labels else r for r in rows]
        # The name is the file's stem as it was written ("my missions", not "my%20missions").
        name = urllib.parse.unquote(iris.local_name(iri))
        data = {"iri": iri, "name": name, "path": iris.iri_to_path(iri, self.base),
                "triples": sum(int(describe.value(r.get("triples"))) for r in rows),
                "subjects": [{"iri": describe.value(r["s"]), "href": iris.href(describe.value(r["s"]), self.base),
                              "label": describe.value(r.get("label")) or iris.curie(describe.value(r["s"]), self.base),
                              "triples": int(describe.value(r.get("triples")))}
                             for r in rows if r["s"][0] == "uri"],
                "formats": describe.format_links(iris.iri_to_path(iri, self.base) or "")}
        if variant == "json":
            return Response(orjson.dumps(data), media_type=media)
        return HTMLResponse(pages.render("graph.html", request=request, title=f"Named graph {data['name']}", **data))

    # -- ontology ---------------------------------------------------------------------
    async def ontology(self, request: Request, ext: str | None) -> Response:
        return await self._negotiated(request, "/" + iris.ONTOLOGY, ext, lambda v: self._ontology_variant(request, v))

    async def _triples_variant(self, query: str, variant: str, binding: dict[str, Term]) -> Response:
        """The triples ``query`` constructs, as the RDF or JSON-LD ``variant``: written from
        N-Triples with blank nodes canonically named (the class unions), so every request
        gets the same bytes, as the ETag promises."""
        media, graph_format = VARIANTS[variant]
        nt = await self.graph(query, "ntriples", **binding)
        if graph_format:
            return Response(exports.serialize_triples(nt, variant, self.base), media_type=media)
        doc = await asyncio.to_thread(lambda: jsonld.compact(jsonld.from_nquads(nt.decode(), self.base),
                                                             self.base, self.context_url))
        return self.jsonld_response(doc)

    async def _ontology_variant(self, request: Request, variant: str) -> Response:
        media, graph_format = VARIANTS[variant]
        if graph_format or variant == "jsonld":
            return await self._triples_variant(describe.ONTOLOGY_GRAPH, variant, {})
        data = await self._ontology_page()
        if variant == "json":
            return Response(orjson.dumps(data), media_type=media)
        return HTMLResponse(pages.render("ontology.html", request=request, title="Ontology", **data,
                                         schema_json=describe.script_json(_ontology_schema(data))))

    async def _ontology_page(self) -> dict[str, Any]:
        vocab = await self.vocabulary()
        counts = {describe.value(r["class"]): int(describe.value(r["n"]))
                  for r in await self.select(describe.CLASS_COUNTS) if r.get("class", ("",))[0] == "uri"}

        def ref(iri: str) -> dict[str, str]:
            local = iri.startswith(vocab.iri + "#")
            return {"iri": iri, "label": iris.curie(iri, self.base),
                    "href": f"#{iris.local_name(iri)}" if local else iri}

        def term(t: describe.VocabTerm) -> dict[str, Any]:
            return {"iri": t.iri, "local": t.local, "curie": iris.curie(t.iri, self.base), "kind": t.detail or t.kind,
                    "label": t.labels.get("en", ""), "label_zh": t.labels.get("zh", ""),
                    "definition": t.definition, "comment": t.comment,
                    "parents": [ref(p) for p in t.parents],
                    "children": [ref(c) for c in vocab.subclasses(t.iri)] if t.kind == "class" else [],
                    "domain": [ref(d) for d in t.domain], "range": [ref(r) for r in t.range],
                    "alignments": [{"relation": rel, **ref(i)} for rel, i in t.alignments],
                    "instances": counts.get(t.iri, 0),
                    "index": describe.class_href(t.iri, self.base) if t.kind == "class" else None}

        meta = {iris.local_name(p): [describe.value(v) for v in vals] for p, vals in vocab.meta.items()}
        return {"iri": vocab.iri, "name": (meta.get("title") or ["SpaceCoop ontology"])[0],
                "description": (meta.get("description") or [""])[0],
                "version": (meta.get("versionInfo") or [""])[0],
                "version_iri": (meta.get("versionIRI") or [""])[0],
                "license": (meta.get("license") or [""])[0],
                "classes": [term(t) for t in vocab.classes()],
                "properties": [term(t) for t in vocab.properties()],
                "datatypes": [term(t) for t in vocab.datatypes()],
                "formats": describe.format_links("/" + iris.ONTOLOGY)}

    async def ontology_version(self, request: Request, version: str) -> Response:
        vocab = await self.vocabulary()
        version_iris = {describe.value(v) for v in vocab.meta.get(describe.OWL + "versionIRI", [])}
        if iris.ontology_iri(self.base) + "/" + version not in version_iris:
            return await self.not_found(request, f"ontology/{version}")
        return await self.ontology(request, None)

    # -- class indexes ----------------------------------------------------------------
    async def class_list(self, request: Request) -> Response:
        page = await self._ontology_page()
        classes = [c for c in page["classes"]]
        return pages.respond(request, "class_index.html", {"classes": classes}, title="Classes")

    async def class_index(self, request: Request, name: str) -> Response:
        name = name.removesuffix(".json")
        vocab = await self.vocabulary()
        iri = iris.term_iri(name, self.base)
        term = vocab.terms.get(iri)
        if not describe.is_local_name(name) or term is None or term.kind != "class":
            indexes = [(c.labels.get("en", c.local), f"/class/{c.local}") for c in vocab.classes()]
            return not_found_page(request, f"The ontology has no class {name!r}.", iri, [], indexes)
        cls = ("uri", iri)
        members = await self.select(describe.CLASS_MEMBERS, **{"class": cls})
        related: dict[str, dict[str, list[dict[str, str]]]] = {}
        for col in describe.columns_for(name, vocab, self.base):
            query = describe.CLASS_RELATED_REVERSE if col.reverse else describe.CLASS_RELATED
            answer = await self.select(query, **{"class": cls, "rel": ("uri", iris.term_iri(col.prop, self.base))})
            values = describe.related_values(answer, self.base)
            if values:  # a column nobody has a value for is left out
                related[col.title] = values
        rows = describe.class_rows(members, related, self.base)
        data: dict[str, Any] = {"class": {"iri": iri, "local": name, "label": term.labels.get("en", name),
                          "label_zh": term.labels.get("zh", ""), "definition": term.definition,
                          "parents": [{"iri": p, "label": vocab.label(p) or iris.curie(p, self.base),
                                       "href": describe.class_href(p, self.base) or p} for p in term.parents],
                          "children": [{"iri": c, "label": vocab.label(c), "href": describe.class_href(c, self.base)}
                                       for c in vocab.subclasses(iri)]},
                "columns": list(related), "items": rows, "count": len(rows),
                "has_dates": any(r["date"] or r["earliest"] or r["latest"] or r["date_text"] for r in rows)}
        url = self.public_url(request)
        label = str(data["class"]["label"])
        schema = {"@context": "https://schema.org", "@type": "ItemList", "name": f"{label} index",
                  "numberOfItems": len(rows),
                  "itemListElement": [{"@type": "ListItem", "position": i + 1, "name": r["label"],
                                       "url": url + r["href"] if r["href"].startswith("/") else r["href"]}
                                      for i, r in enumerate(rows)]}
        return pages.respond(request, "class_index.html", data, title=label,
                             schema_json=describe.script_json(schema))

    # -- dumps, context, VoID ---------------------------------------------------------
    async def _dump(self, name: str) -> dump_files.Dump | Response:
        """A dump, or the answer to give while there is none: 202 while the background
        builder is at work, 503 if it failed. The server never waits for a dump, nor builds
        one in its own process when a builder was started (KeyError, ExportError: the caller's)."""
        dump = self.dumps.ready(name)
        if dump is not None:
            return dump
        if self.dumps.building:
            return middleware.error_response(202, f"the dumps are being built; try again in {DUMP_RETRY} s",
                                         {"Retry-After": str(DUMP_RETRY)})
        if self.dumps.builder_failed:
            return middleware.error_response(503, "the dumps could not be built (see the server's log); "
                                              "the SPARQL endpoint answers meanwhile", {"Retry-After": "60"})
        return await asyncio.to_thread(self.dumps.get, name)  # no builder (an app without its server)

    async def dump_list(self, request: Request) -> Response:
        files: list[dump_files.Dump] = []
        try:
            for n in self.dumps.names():
                got = await self._dump(n)
                if isinstance(got, Response):
                    return got
                files.append(got)
        except exports.ExportError as err:
            return Response(f"{err}\n", status_code=501, media_type="text/plain")
        data = {"files": [_dump_view(d) for d in files], "frames": jsonld.frame_names(),
                "context": "/" + jsonld.CONTEXT_NAME, "void": void.PATH}
        return pages.respond(request, "dumps.html", data, title="Dumps")

    async def dump_file(self, request: Request, name: str) -> Response:
        try:
            got = await self._dump(name)
        except KeyError:
            return not_found_page(request, f"There is no dump called {name!r}.", "",
                                  [(n, f"/dumps/{n}") for n in self.dumps.names()], [("All dumps", "/dumps/")])
        except exports.ExportError as err:
            return Response(f"{err}\n", status_code=501, media_type="text/plain")
        if isinstance(got, Response):
            return got
        dump = got
        disposition = "attachment" if name.endswith(".gz") else "inline"
        headers = {"Content-Disposition": f'{disposition}; filename="{dump.name}"', "Access-Control-Allow-Origin": "*"}
        if dump.media_type == formats.JSON_LD.media_type:
            headers["Link"] = jsonld.context_link(self.context_url)

        tag = etags.from_digest(dump.digest)

        def make() -> Response:
            # From disk, in chunks (and byte ranges): a dump may be far larger than memory allows.
            return FileResponse(dump.path, media_type=dump.media_type, headers={**headers, "ETag": tag},
                                stat_result=os.stat(dump.path))

        return cached(request, tag, make, DUMP_CACHE)

    async def context(self, request: Request) -> Response:
        body = jsonld.format_context(jsonld.context(self.base)).encode("utf-8")

        def make() -> Response:
            # Browser-side JSON-LD processors fetch contexts cross-origin.
            return Response(body, media_type=formats.JSON_LD.media_type, headers={"Access-Control-Allow-Origin": "*"})

        return cached(request, etags.strong(body), make, CONTEXT_CACHE)

    async def void(self, request: Request) -> Response:
        """The VoID + DCAT description: Turtle unless the client prefers another form."""
        media = _void_media(request)
        if media is None:
            return Response("406 Not Acceptable: " + ", ".join(VOID_OFFERS) + "\n", status_code=406,
                            media_type="text/plain", headers={"Vary": "Accept"})
        public = self.public_url(request)
        stats = await self._statistics()
        if isinstance(stats, Response):
            return stats
        files = self._whole_graph_dumps()
        graph = void.build_graph(stats, public, [_dump_info(public, n, d) for n, d in files], self.base)
        ext = next((e for e, (m, _) in VARIANTS.items() if m == media), "ttl")
        headers = {"Vary": "Accept", "Content-Location": f"{void.PATH}?format={ext}"}
        if media not in (HTML, PAGE_JSON):
            body = await asyncio.to_thread(void.serialize, graph, media, self.base, self.context_url)
            if media == formats.JSON_LD.media_type:
                headers["Link"] = jsonld.context_link(self.context_url)
            return Response(body, media_type=media, headers=headers)
        vocab = await self.vocabulary()
        data = void.summary(stats, vocab.label, self.base) | {
            "turtle": void.serialize(graph, formats.TURTLE.media_type, self.base).decode("utf-8"),
            "dumps": [{"href": "/dumps/" + n, "name": n, "size": d.size if d else None} for n, d in files],
            "sparql": "/sparql"}
        if media == PAGE_JSON:
            return Response(orjson.dumps(data), media_type=media, headers=headers)
        return HTMLResponse(pages.render("void.html", request=request, title="Dataset description", **data),
                            headers=headers)

    async def _statistics(self) -> VoidStatistics | Response:
        """The statistics the dumps' builder computed (202 while it works); counted here
        by SPARQL, within the query time limit, only where there is no builder (a remote
        store, or an app without its server) or it failed."""
        stats = self.dumps.statistics()
        if stats is not None:
            return stats
        if self.dumps.building:
            return middleware.error_response(202, f"the statistics are being counted; try again in {DUMP_RETRY} s",
                                         {"Retry-After": str(DUMP_RETRY)})
        return await void.statistics(self.engine.select, self.base)

    def _whole_graph_dumps(self) -> list[tuple[str, dump_files.Dump | None]]:
        """The dumps of the whole graph (not the framed views), each with its file if it is
        built: the description lists them all at once, with byte sizes once known."""
        if self.engine.is_remote:
            return []  # there are no dumps to list
        names = [n for n in self.dumps.names() if not (exports.parse_dump_name(n) or ("", "frame", False))[1]]
        return [(n, self.dumps.ready(n)) for n in names]


DUMP_RETRY = 5  # seconds a client is asked to wait for a dump being built (Retry-After)

VOID_OFFERS = (formats.TURTLE.media_type, HTML, *(f.media_type for f in void.RDF_FORMATS[1:]), PAGE_JSON)


def _void_media(request: Request) -> str | None:
    """The media type to describe the dataset in: ``?format=``, else ``Accept`` (Turtle first)."""
    fmt = request.query_params.get("format")
    if fmt:
        ext = variant_named(fmt)
        return VARIANTS[ext][0] if ext else None
    return negotiate(request.headers.get("accept"), list(VOID_OFFERS))


def _dump_info(public: str, name: str, d: dump_files.Dump | None) -> void.DumpInfo:
    fmt, _, gz = exports.parse_dump_name(name) or ("ttl", None, False)
    spec = exports.FORMATS[fmt]
    return void.DumpInfo(f"{public}/dumps/{name}", spec.media_type, spec.title, d.size if d else None, gz)


def not_found_page(request: Request, message: str, iri: str, suggestions: list[tuple[str, str]],
                   indexes: list[tuple[str, str]]) -> Response:
    """The helpful 404 (HTML, or JSON like every page): what was asked, what exists nearby."""
    data = {"status": 404, "path": request.url.path, "iri": iri, "message": message,
            "suggestions": [{"label": text, "href": href,
                             "slug": href[len(RESOURCE_PATH):] if href.startswith(RESOURCE_PATH) else None}
                            for text, href in suggestions],
            "indexes": [{"label": text, "href": href} for text, href in indexes]}
    return pages.respond(request, "not_found.html", data, status_code=404, title="Not found")


RESOURCE_PATH = f"/{iris.RESOURCE}"
INDEX_LINKS = (("Mission", "Missions"), ("Agency", "Agencies"), ("Instrument", "Instruments"),
               ("LaunchVehicle", "Launch vehicles"), ("Event", "Events"), ("Contribution", "Contributions"))


def _dump_view(d: dump_files.Dump) -> dict[str, Any]:
    fmt, frame, gz = exports.parse_dump_name(d.name) or ("ttl", None, False)
    title = f"framed JSON-LD: {frame}" if frame else exports.FORMATS[fmt].title
    return {"name": d.name, "href": f"/dumps/{d.name}", "media_type": d.media_type, "size": d.size,
            "etag": etags.from_digest(d.digest), "title": title + (", gzipped" if gz else ""), "gzipped": gz,
            "frame": frame}


def _ontology_schema(data: dict[str, Any]) -> dict[str, Any]:
    return {"@context": "https://schema.org", "@type": "DefinedTermSet", "@id": data["iri"], "name": data["name"],
            "description": data["description"],
            "hasDefinedTerm": [{"@type": "DefinedTerm", "@id": t["iri"], "name": t["label"], "termCode": t["local"],
                                "description": t["definition"]} for t in data["classes"] + data["properties"]]}


def build_router(engine: Engine) -> APIRouter:
    """The linked-data routes (included last: ``/resource/{…}`` is a catch-all)."""
    ld = LinkedData(engine)
    router = APIRouter(tags=["linked data"])
    methods = ["GET", "HEAD"]

    @router.api_route("/context.jsonld", methods=methods, include_in_schema=True)
    async def context(request: Request) -> Response:
        """The published JSON-LD ``@context`` that every export uses."""
        return await ld.context(request)

    @router.api_route(void.PATH, methods=methods)
    async def void_description(request: Request) -> Response:
        """VoID + DCAT description of the dataset (Turtle by default; JSON-LD, HTML by Accept)."""
        return await _guard(ld.void(request))

    @router.get("/dumps", include_in_schema=False)
    async def dumps_redirect() -> Response:
        return RedirectResponse("/dumps/", status_code=308)

    @router.api_route("/dumps/", methods=methods)
    async def dump_list(request: Request) -> Response:
        """The dumps on offer (HTML, or JSON with ``?format=json``)."""
        return await _guard(ld.dump_list(request))

    @router.api_route("/dumps/{name}", methods=methods)
    async def dump_file(request: Request, name: str) -> Response:
        """One dump file, with ``ETag`` and ``Cache-Control`` (``304`` on ``If-None-Match``)."""
        return await ld.dump_file(request, name)

    @router.api_route("/ontology", methods=methods)
    async def ontology(request: Request) -> Response:
        """The ontology: HTML documentation, or Turtle/JSON-LD/N-Triples/RDF/XML by ``Accept``."""
        return await _guard(ld.ontology(request, None))

    @router.api_route("/ontology.{ext}", methods=methods)
    async def ontology_variant(request: Request, ext: str) -> Response:
        if ext not in VARIANTS:
            return await ld.not_found(request, f"ontology.{ext}")
        return await _guard(ld.ontology(request, ext))

    @router.api_route("/ontology/{version}", methods=methods)
    async def ontology_version(request: Request, version: str) -> Response:
        return await _guard(ld.ontology_version(request, version))

    @router.api_route("/class/", methods=methods)
    async def class_list(request: Request) -> Response:
        """Every class of the ontology, with its number of instances."""
        return await _guard(ld.class_list(request))

    @router.get("/class", include_in_schema=False)
    async def class_redirect() -> Response:
        return RedirectResponse("/class/", status_code=308)

    @router.api_route("/class/{name}", methods=methods)
    async def class_index(request: Request, name: str) -> Response:
        """All instances of one class (``/class/Mission``), with status and dates; ``.json`` too."""
        return await _guard(ld.class_index(request, name))

    @router.api_route("/graph/{rest:path}", methods=methods)
    async def named_graph(request: Request, rest: str) -> Response:
        """A named graph (one source file): its triples by ``Accept``, or a page listing what it describes."""
        return await _guard(ld.named_graph(request, rest))

    @router.api_route("/resource/{rest:path}", methods=methods)
    async def resource(request: Request, rest: str) -> Response:
        """An entity IRI: its page or its description, by content negotiation or extension."""
        return await _guard(ld.resource(request, rest))

    # Search answers from the label index the dumps' builder makes: the same cache. Its own
    # router, so that its routes carry its tag alone.
    outer = APIRouter()
    outer.include_router(search_pages.build_router(engine, ld.dumps))
    outer.include_router(router)
    return outer


async def _guard(work: Awaitable[Response]) -> Response:
    """Engine errors (time limit, busy) as plain-text answers with their HTTP status."""
    try:
        return await work
    except QueryError as err:
        return Response(f"{err.message}\n", status_code=err.status, media_type="text/plain", headers=err.headers)
