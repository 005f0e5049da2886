"""The session server's HTTP face: sessions on deployed models, opened with bound tokens.

A client connects here with the token the management cluster gave it (via domain, or for a direct
connection). The token is checked locally against the cluster's public token keys (received at registration,
refreshed with heartbeats), so this server keeps opening and serving sessions while every management member is
down; it holds no key that could mint a token. A token of another cluster,
or for another server, is refused with "Token binding is invalid" (HG-3852).

JSON endpoints (every one but ``health`` needs ``Authorization: Bearer TOKEN``; ``health`` without one says only
``{"status", "server", "cluster_id"}``, with one also ``active_sessions``, ``capacity`` and ``models``; errors are
``{"code", "message", "hint", "request_id"}`` with the error's HTTP status, every answer has ``X-Request-Id``;
``hostgate._http`` is the error boundary shared with the management API):

=========================================================  ======================================================
``POST   /api/v1/sessions`` ``{"model", "variables"}``       open: connect to the model's host and sign on (201)
``GET    /api/v1/sessions/{id}``                             the session (model, user, last entity, calls)
``DELETE /api/v1/sessions/{id}``                             sign off and disconnect
``POST   /api/v1/sessions/{id}/ping``                        the session and its server are alive (no host call)
``GET    /api/v1/sessions/{id}/entity``                      ``{"entity"}``: the current entity
``PUT    /api/v1/sessions/{id}/entity`` ``{"entity"}``       navigate there
``GET    /api/v1/sessions/{id}/attributes?names=a,b``        ``{"entity", "attributes"}`` (hidden ones masked)
``PUT    /api/v1/sessions/{id}/attributes`` ``{"attributes"}``  write attributes of the current entity
``POST   /api/v1/sessions/{id}/operations/{name}`` ``{"parameters"}``  ``{"entity"}`` reached
``GET    /api/v1/sessions/{id}/recordsets/{name}?max=N&filter.COL=V``  ``{"columns", "records"}``
``POST   /api/v1/sessions/{id}/procedures`` ``{"table", "procedure", "inputs", "filters"}``  ``{"columns", "records"}``
``POST   /api/v1/sessions/{id}/query`` ``{"sql"}``           ``{"columns", "records"}``
=========================================================  ======================================================

Decimal values travel as strings (JSON numbers would lose digits).
"""

from __future__ import annotations

import json
import logging
from decimal import Decimal
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from hostgate import tokens
from hostgate._bodies import DEFAULT_MAX_BODY, body_limit, read_body
from hostgate._http import coded_http_exceptions, error_boundary
from hostgate.errors import AuthenticationFailed, UsageError
from hostgate.models import Value
from hostgate.session.model_session import ModelSession
from hostgate.session.registry import SessionRegistry
from hostgate.session.values import Records

__all__ = ["create_session_app"]

log = logging.getLogger("hostgate.session")


def _bearer(request: Request) -> str:
    scheme, _, value = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not value:
        raise AuthenticationFailed("this request needs the token the management cluster gave you")
    return value


async def _body(request: Request) -> dict[str, Any]:
    """The JSON object of the body (capped, HG-1010): call it only after the token was checked."""
    raw = await read_body(request, body_limit(request))
    if not raw:
        return {}
    try:
        body = json.loads(raw)
    except (ValueError, RecursionError):  # json raises RecursionError, not ValueError, on deep nesting
        raise UsageError("the request body is not valid JSON (or is nested too deeply)") from None
    if not isinstance(body, dict):
        raise UsageError("the request body must be a JSON object")
    return body


def _text(body: dict[str, Any], name: str, default: str | None = None) -> str:
    value = body.get(name, default)
    if not isinstance(value, str):
        raise UsageError(f"field {name!r}: expected a string")
    return value


def _object(body: dict[str, Any], name: str) -> dict[str, Any]:
    value = body.get(name) or {}
    if not isinstance(value, dict):
        raise UsageError(f"field {name!r}: expected an object of name: value")
    return value


def _json(value: Value) -> Any:
    return str(value) if isinstance(value, Decimal) else value


def _records(found: Records) -> dict[str, Any]:
    return {
        "columns": list(found.columns),
        "records": [{k: _json(v) for k, v in row.items()} for row in found.rows],
    }


def create_session_app(registry: SessionRegistry, *, max_body: int = DEFAULT_MAX_BODY) -> Starlette:
    def claims(request: Request) -> tokens.TokenClaims:
        return registry.claims(_bearer(request))

    async def health(request: Request) -> Response:
        # Anyone may learn that this server is up and whose it is (the connector proves a direct URL's cluster
        # with it); its models and load only a caller with a token of this cluster for this server (issue
        # #15, finding 8: the model names and session counts went to anyone). A bad token is a coded 401.
        body: dict[str, Any] = {"status": "ok", "server": registry.server, "cluster_id": registry.cluster_id}
        if "authorization" in request.headers:
            claims(request)
            body |= {
                "active_sessions": registry.active,
                "capacity": registry.capacity,
                "models": registry.models.names(),
            }
        return JSONResponse(body)

    async def open_session(request: Request) -> Response:
        who = claims(request)
        body = await _body(request)
        session = await registry.open(who, _text(body, "model", ""), _object(body, "variables"))
        return JSONResponse(session.info(), status_code=201)

    async def show(request: Request) -> Response:
        return JSONResponse(registry.get(claims(request), request.path_params["id"]).info())

    async def ping(request: Request) -> Response:
        session = registry.get(claims(request), request.path_params["id"])
        return JSONResponse(
            {"session": session.id, "server": registry.server, "operations": session.operations}
        )

    async def close(request: Request) -> Response:
        await registry.close(claims(request), request.path_params["id"])
        return JSONResponse({"closed": request.path_params["id"]})

    async def entity_get(request: Request) -> Response:
        found = await registry.call(claims(request), request.path_params["id"], lambda s: s.current_entity())
        return JSONResponse({"entity": found.name})

    async def entity_put(request: Request) -> Response:
        who = claims(request)  # the token before the body (issue #15, finding 4)
        name = _text(await _body(request), "entity")
        found = await registry.call(who, request.path_params["id"], lambda s: s.set_current_entity(name))
        return JSONResponse({"entity": found.name})

    async def attributes_get(request: Request) -> Response:
        raw = request.query_params.get("names")
        names = [n for n in raw.split(",") if n] if raw is not None else None

        async def read(s: ModelSession) -> tuple[str, dict[str, Value]]:
            values = await s.get_attributes(names)
            return s.entity.name if s.entity else "", values

        entity, values = await registry.call(claims(request), request.path_params["id"], read)
        return JSONResponse({"entity": entity, "attributes": {k: _json(v) for k, v in values.items()}})

    async def attributes_put(request: Request) -> Response:
        who = claims(request)
        values = _object(await _body(request), "attributes")
        found = await registry.call(who, request.path_params["id"], lambda s: s.set_attributes(values))
        return JSONResponse({"entity": found.name})

    async def operation(request: Request) -> Response:
        who = claims(request)
        parameters = _object(await _body(request), "parameters")
        name = request.path_params["name"]
        found = await registry.call(
            who,
            request.path_params["id"],
            lambda s: s.perform_entity_operation(name, parameters),
        )
        return JSONResponse({"entity": found.name})

    async def recordset(request: Request) -> Response:
        params = request.query_params
        max_records: int | None = None
        if "max" in params:
            try:
                max_records = int(params["max"])
            except ValueError:
                raise UsageError(f"max={params['max']!r}: expected a whole number") from None
        filters = {k[len("filter.") :]: v for k, v in params.items() if k.startswith("filter.")}
        name = request.path_params["name"]
        found = await registry.call(
            claims(request),
            request.path_params["id"],
            lambda s: s.fetch_records(name, max_records, filters),
        )
        return JSONResponse(_records(found))

    async def procedure(request: Request) -> Response:
        who = claims(request)
        body = await _body(request)
        table, proc = _text(body, "table"), _text(body, "procedure")
        inputs, filters = _object(body, "inputs"), _object(body, "filters")
        found = await registry.call(
            who,
            request.path_params["id"],
            lambda s: s.perform_table_procedure(table, proc, inputs, filters),
        )
        return JSONResponse(_records(found))

    async def query(request: Request) -> Response:
        who = claims(request)
        sql = _text(await _body(request), "sql")
        found = await registry.call(who, request.path_params["id"], lambda s: s.query(sql))
        return JSONResponse(_records(found))

    session = "/api/v1/sessions/{id}"
    identity = {"X-Hostgate-Cluster-Id": registry.cluster_id, "X-Hostgate-Session-Server": registry.server}
    app = Starlette(
        middleware=[error_boundary(log, identity, "session server")],
        exception_handlers=coded_http_exceptions(),
        routes=[
            Route("/api/v1/health", health, methods=["GET"]),
            Route("/api/v1/sessions", open_session, methods=["POST"]),
            Route(session, show, methods=["GET"]),
            Route(session, close, methods=["DELETE"]),
            Route(f"{session}/ping", ping, methods=["POST"]),
            Route(f"{session}/entity", entity_get, methods=["GET"]),
            Route(f"{session}/entity", entity_put, methods=["PUT"]),
            Route(f"{session}/attributes", attributes_get, methods=["GET"]),
            Route(f"{session}/attributes", attributes_put, methods=["PUT"]),
            Route(f"{session}/operations/{{name}}", operation, methods=["POST"]),
            Route(f"{session}/recordsets/{{name}}", recordset, methods=["GET"]),
            Route(f"{session}/procedures", procedure, methods=["POST"]),
            Route(f"{session}/query", query, methods=["POST"]),
        ],
    )
    app.state.max_body = max_body
    return app
