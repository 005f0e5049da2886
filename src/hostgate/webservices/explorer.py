"""The Web Services Explorer (#19): one static page at ``/ws/explorer`` that lists the deployed models, their
procedures with typed inputs and outputs, links each model's OpenAPI document and WSDL, and tries a call.

The page, its script and its style sheet are package data (``explorer_static/``), read once; nothing comes
from a CDN and there is no build step. The page reads ``GET /ws/v1/models`` (webservices/catalog_routes.py) and
posts to ``/ws/v1/models/{model}/procedures/{procedure}`` with the credentials the user typed (kept in the
tab's ``sessionStorage`` only). Every answer carries a Content-Security-Policy without inline script or style
(CSP Level 3): ``script-src 'self'``, so injected markup could not run even if a model's text ever reached the
page as HTML (the script builds everything with ``textContent``).
"""

from __future__ import annotations

from importlib import resources

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from hostgate.webservices import WS_PREFIX

__all__ = ["CSP", "explorer_routes"]

CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self'; "
    "form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
)
_FILES = {
    "": ("index.html", "text/html; charset=utf-8"),
    "/explorer.js": ("explorer.js", "text/javascript; charset=utf-8"),
    "/explorer.css": ("explorer.css", "text/css; charset=utf-8"),
    "/icon.svg": ("icon.svg", "image/svg+xml"),
}
_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    # Small files that change with a hostgate release: revalidate rather than serve a stale script.
    "Cache-Control": "no-cache",
}


def _read(name: str) -> bytes:
    return resources.files("hostgate.webservices").joinpath("explorer_static", name).read_bytes()


def explorer_routes() -> list[Route]:
    """``GET /ws/explorer`` (the page), its ``explorer.js``, ``explorer.css`` and ``icon.svg``."""
    routes = []
    for suffix, (name, media_type) in _FILES.items():
        body = _read(name)

        async def serve(request: Request, body: bytes = body, media_type: str = media_type) -> Response:
            return Response(body, media_type=media_type, headers=_HEADERS)

        routes.append(Route(f"{WS_PREFIX}/explorer{suffix}", serve, methods=["GET"]))
    return routes
