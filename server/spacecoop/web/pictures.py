"""The picture routes: ``/timeline`` and ``/network`` pages, their SVG, PNG and JSON forms.

The drawing is ``spacecoop.pictures``'s; here, what each URL answers. A page is its data
too: when the renderer is missing or fails, the page answers 200 with a notice where the
picture would be, and only the image files answer 503.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from spacecoop.pictures import (
    Picture,
    PictureError,
    graphviz,
    local_link,
    mission_iri,
    network_picture,
    timeline_picture,
    unavailable_notice,
)
from spacecoop.web.pages import respond, wants_json


def build_router(engine: Any) -> APIRouter:
    """``/timeline`` and ``/network`` pages, their SVG, PNG and JSON forms."""
    router = APIRouter(tags=["pictures"])
    link = local_link(engine.settings.base)
    makers = {"timeline": timeline_picture, "network": network_picture}

    async def picture(kind: str, request: Request) -> Picture:
        mission = mission_iri(engine, request.query_params.get("mission"))
        return await makers[kind](engine, link, mission)

    async def page(kind: str, request: Request) -> Response:
        try:
            pic = await picture(kind, request)
        except PictureError as err:
            return respond(request, f"{kind}.html", {"title": "Not found", "error": err.message},
                           status_code=err.status, svg="", notice="", picture=None)
        svg = notice = ""
        if not wants_json(request):  # the JSON is the data alone: it needs no renderer
            try:
                svg = await asyncio.to_thread(pic.svg, True)
            except graphviz.GraphvizError as err:  # the page is its data too: 200, a notice in place
                notice = unavailable_notice(str(err))
        mission = request.query_params.get("mission") or ""
        suffix = f"?mission={mission}" if mission else ""
        response = respond(request, f"{kind}.html", pic.data, svg=svg, notice=notice, picture=pic, suffix=suffix)
        if notice:  # not what the URL stands for: never cached, never given the graph's ETag
            response.headers["Cache-Control"] = "no-store"
        return response

    async def image(kind: str, fmt: str, request: Request) -> Response:
        try:
            pic = await picture(kind, request)
            if fmt == "svg":
                body = (await asyncio.to_thread(pic.svg)).encode("utf-8")
            else:
                body = await asyncio.to_thread(pic.render, "png")
        except PictureError as err:
            return Response(err.message + "\n", status_code=err.status, media_type="text/plain")
        except graphviz.GraphvizError as err:
            return Response(f"The picture cannot be drawn right now: {err}.\n", status_code=503,
                            media_type="text/plain", headers={"Retry-After": "60"})
        media = "image/svg+xml" if fmt == "svg" else "image/png"
        return Response(body, media_type=media, headers={"Content-Disposition": f'inline; filename="{kind}.{fmt}"'})

    for kind in ("timeline", "network"):
        for path in (f"/{kind}", f"/{kind}.json"):
            router.add_api_route(path, _bind_page(page, kind), methods=["GET"], include_in_schema=False)
        for fmt in ("svg", "png"):
            router.add_api_route(f"/{kind}.{fmt}", _bind_image(image, kind, fmt), methods=["GET"],
                                 summary=f"The {kind} as {fmt.upper()}", response_class=Response)
    return router


def _bind_page(page: Callable[..., Any], kind: str) -> Callable[[Request], Any]:
    async def handler(request: Request) -> Response:
        response: Response = await page(kind, request)
        return response
    return handler


def _bind_image(image: Callable[..., Any], kind: str, fmt: str) -> Callable[[Request], Any]:
    async def handler(request: Request) -> Response:
        response: Response = await image(kind, fmt, request)
        return response
    return handler
