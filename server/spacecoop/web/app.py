"""Assembles the FastAPI application from the routers; holds no business logic."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from spacecoop import __version__, config
from spacecoop.engine.store import Engine
from spacecoop.web import api, landing, linked_data, metrics, middleware, sparql
from spacecoop.web import pictures as picture_pages
from spacecoop.web.clients import ClientIdentity, Identities
from spacecoop.web.response_cache import ResponseCache
from spacecoop.web.sparql import front_door

# Each module exposes ``build_router(engine) -> APIRouter``; order matters only for
# overlapping paths (the catch-all linked-data routes go last).
ROUTER_MODULES = (sparql, landing, api, picture_pages, metrics, linked_data)


def asgi_app(settings: config.Settings | None = None, engine: Engine | None = None) -> metrics.RequestMetrics:
    """The app as served: ``create_app`` with its SPARQL front door, behind the in-memory
    response cache, each request's client named (``clients``) and counted (``metrics``)."""
    app = create_app(settings, engine)
    served_engine: Engine = app.state.engine
    served = front_door(app.state.routers[sparql.__name__], app, served_engine.settings)
    cached = ResponseCache(served, lambda: served_engine.version, served_engine.settings.cache_entries,
                           served_engine.settings.cache_bytes)
    # Every request's client is named before anything answers it.
    named = ClientIdentity(cached, Identities.from_settings(served_engine.settings))
    # Outermost: every request is counted, cached replays and refusals (401, 429) too.
    return metrics.instrument(named, app.state.routers[metrics.__name__], cached)


def create_app(settings: config.Settings | None = None, engine: Engine | None = None) -> FastAPI:
    """The SpaceCoop KG web application over one engine (a new one unless given)."""
    engine = engine or Engine(settings or config.Settings())

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await engine.start()
        try:
            yield
        finally:
            engine.close()

    app = FastAPI(
        title="SpaceCoop KG",
        version=__version__,
        description="A linked-data knowledge graph of European–Chinese space cooperation: "
        "SPARQL endpoint, saved queries, linked-data pages and JSON-LD.",
        lifespan=lifespan,
        docs_url=None, redoc_url=None,  # ours, from our own static files: spacecoop.web.api.install_docs
    )
    app.state.engine = engine
    middleware.install(app, engine.settings)
    app.mount("/static", StaticFiles(directory=config.STATIC_DIR), name="static")
    app.state.routers = {}
    for module in ROUTER_MODULES:
        app.state.routers[module.__name__] = module.build_router(engine)
        app.include_router(app.state.routers[module.__name__])
    api.install_docs(app)  # after the routes: it documents them all
    return app
