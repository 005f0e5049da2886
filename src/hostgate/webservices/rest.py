"""The REST/JSON face: ``POST /ws/v1/models/{model}/procedures/{procedure}`` and the model's OpenAPI document.

A call: HTTP Basic credentials are checked with the cluster before the body is read; the body (capped) is a
JSON object of inputs, checked against the catalog; the answer is ``{"rows": [...], "columns": [...]}`` plus
``"session"`` (and the ``X-Hostgate-Session`` header) when the session was kept. Errors are RFC 9457
``application/problem+json`` bodies carrying hostgate's ``code``, ``hint`` and the request id.

The cluster for one call: the ``X-Hostgate-ServerName`` header wins over the ``ServerName`` query parameter,
which wins over plugin-cfg.xml's serverName (a header is what a client library or proxy sets for every call;
a query parameter is the one-off, and the more specific setting should not be overridden by a URL a user
pasted). Domain and pool: ``X-Hostgate-Domain`` / ``domain`` and ``X-Hostgate-Pool`` / ``pool`` the same way.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from hostgate._bodies import read_body
from hostgate.errors import AuthenticationFailed, HostgateError, InvalidField, TooManyAttempts
from hostgate.webservices.auth import REALM, basic_caller
from hostgate.webservices.invoke import Target
from hostgate.webservices.openapi import openapi_document
from hostgate.webservices.service import WebServices
from hostgate.webservices.types import check_inputs

__all__ = ["SESSION_HEADER", "problem", "rest_routes", "target_of"]

SESSION_HEADER = "X-Hostgate-Session"
_TRUE = frozenset({"true", "1", "yes"})


def problem(exc: HostgateError, request_id: str) -> JSONResponse:
    """``exc`` as an RFC 9457 problem (with hostgate's code, message and hint, as every face answers)."""
    payload = exc.to_payload()
    body = {
        "type": f"https://hostgate.invalid/errors/{payload['code']}",
        "title": type(exc).__name__,
        "status": exc.http_status,
        "detail": payload["message"],
        **payload,
        "request_id": request_id,
    }
    headers: dict[str, str] = {}
    if isinstance(exc, AuthenticationFailed):
        headers["WWW-Authenticate"] = REALM
    if isinstance(exc, TooManyAttempts):
        headers["Retry-After"] = str(max(1, int(exc.retry_after + 0.999)))
    return JSONResponse(body, exc.http_status, headers=headers, media_type="application/problem+json")


def _request_id(request: Request) -> str:
    state = request.scope.get("state") or {}
    return str(state.get("request_id", ""))


def target_of(request: Request) -> Target:
    h, q = request.headers, request.query_params
    server = h.get("x-hostgate-servername")
    source = "the request's X-Hostgate-ServerName header"
    if not server and q.get("ServerName"):
        server, source = q.get("ServerName"), "the request's ServerName query parameter"
    return Target(
        server_name=server or None,
        server_name_source=source if server else "",
        domain=h.get("x-hostgate-domain") or q.get("domain") or None,
        pool=h.get("x-hostgate-pool") or q.get("pool") or None,
        keep=(h.get("x-hostgate-keep") or q.get("keep") or "").lower() in _TRUE,
        session_id=h.get(SESSION_HEADER.lower()) or q.get("session") or None,
    )


def _coded(handler: Callable[[Request], Awaitable[Response]]) -> Callable[[Request], Awaitable[Response]]:
    async def run(request: Request) -> Response:
        try:
            return await handler(request)
        except HostgateError as exc:
            return problem(exc, _request_id(request))

    return run


def rest_routes(ws: WebServices) -> list[Route]:
    async def call(request: Request) -> Response:
        model = request.path_params["model"]
        name = request.path_params["procedure"]
        target = target_of(request)
        authorization = request.headers.get("authorization")
        caller, location = await ws.authenticated(basic_caller(authorization), target)
        procedure = await ws.procedure(model, name, authorization)
        body = await read_body(request, ws.max_body)
        try:
            values = json.loads(body) if body else {}
        except (ValueError, RecursionError):
            raise InvalidField("the body is not JSON: send a JSON object of the procedure's inputs") from None
        if not isinstance(values, dict):
            raise InvalidField("the body must be a JSON object of the procedure's inputs")
        inputs = check_inputs(procedure, values)
        result = await ws.run(caller, location, model, procedure, inputs, target)
        answer: dict[str, Any] = {"rows": list(result.rows), "columns": list(result.columns)}
        headers = {}
        if result.session_id:
            answer["session"] = result.session_id
            headers[SESSION_HEADER] = result.session_id
        return JSONResponse(answer, headers=headers)

    async def openapi(request: Request) -> Response:
        catalog = await ws.catalogs.model(request.path_params["model"], request.headers.get("authorization"))
        url = str(request.base_url).rstrip("/") or "/"
        return JSONResponse(openapi_document(catalog, server_url=url, pools=ws.invoker.pooled is not None))

    return [
        Route("/ws/v1/models/{model}/procedures/{procedure}", _coded(call), methods=["POST"]),
        Route("/ws/v1/models/{model}/openapi.json", _coded(openapi), methods=["GET"]),
    ]
