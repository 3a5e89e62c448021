"""HTML pages: one Jinja2 environment and the rule that every page is also JSON.

A page handler builds one context dict; ``respond`` sends it as HTML (for browsers) or as
JSON (``?format=json``, a ``.json`` URL or ``Accept: application/json``), Datasette-style.
"""

from __future__ import annotations

from typing import Any

import orjson
from fastapi import Request
from fastapi.responses import HTMLResponse, Response
from jinja2 import Environment, FileSystemLoader, select_autoescape

from spacecoop import config

env = Environment(
    loader=FileSystemLoader(str(config.TEMPLATES_DIR)),
    autoescape=select_autoescape(["html", "xml", "svg"]),
    trim_blocks=True,
    lstrip_blocks=True,
)


def wants_json(request: Request) -> bool:
    """True when the client asked for the JSON form of a page."""
    if request.query_params.get("format") == "json" or request.url.path.endswith(".json"):
        return True
    accept = request.headers.get("accept", "").lower()
    return "application/json" in accept and "text/html" not in accept


def render(template: str, **context: Any) -> str:
    """Render a template to a string (the base layout gets ``title`` and ``nav``)."""
    return env.get_template(template).render(**context)


def respond(request: Request, template: str, data: dict[str, Any], status_code: int = 200,
            **html_only: Any) -> Response:
    """HTML or JSON for the same page data; ``html_only`` extras never reach the JSON."""
    if wants_json(request):
        return Response(orjson.dumps(data, default=str), status_code=status_code,
                        media_type="application/json", headers={"Vary": "Accept"})
    html = render(template, request=request, **data, **html_only)
    return HTMLResponse(html, status_code=status_code, headers={"Vary": "Accept"})
