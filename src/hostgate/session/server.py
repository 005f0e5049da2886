"""The session server's HTTP face: sessions on deployed models, opened with bound tokens.

A client connects here with the token the management cluster gave it (via domain, or for a direct
connection); with the server's security switched off (VHI's setting, stored in the cluster and delivered with
heartbeat answers) also without one, as the user ``anonymous``. The token is checked locally against the cluster's public token keys (received at registration,
refreshed with heartbeats), so this server keeps opening and serving sessions while every management member is
down; it holds no key that could mint a token. A token of another cluster,
or for another server, is refused with "Token binding is invalid" (HG-3852).

JSON endpoints (every one but ``health`` needs ``Authorization: Bearer TOKEN`` while security is on; ``health``
without one says only ``{"status", "server", "cluster_id", "security"}``, with one also ``active_sessions``,
``capacity``, ``models`` and ``pools`` (each pool's figures, as ``GET /api/v1/pools``); errors are
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
``PUT    /api/v1/models/{name}`` ``{"text"}``                 activate a model (caller's Basic credentials, forwarded)
``DELETE /api/v1/models/{name}``                             withdraw it from new sessions (session/deployer.py)
``GET    /api/v1/models``                                    the models served here ``[{"name", "digest"}]``
``GET    /api/v1/models/{name}/catalog``                     its ModelCatalog (session/catalog_routes.py)
``GET    /api/v1/pools``                                     every pool's settings in force and figures
``GET    /api/v1/pools/{name}``                              one pool (a token for that pool)
``POST   /api/v1/pools/{name}/sessions``                     a ready session from the pool (201): a session id
``DELETE /api/v1/pools/{name}/sessions/{id}``                give it back (so does ``DELETE /sessions/{id}``)
=========================================================  ======================================================

Pools (session/pool_service.py): their endpoints take a token whose ``pool`` claim names the pool; such a
token opens no session of its own.

Decimal values travel as strings (JSON numbers would lose digits).
"""

from __future__ import annotations

import logging

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import Receive, Scope

from hostgate import tokens
from hostgate._bodies import DEFAULT_MAX_BODY, read_message, reply
from hostgate.errors import AuthenticationFailed, NotAuthorized, PoolNotFound, UsageError
from hostgate.messages import (
    AttributesWrite,
    Closed,
    EntityAnswer,
    EntityMove,
    OpenSession,
    OperationCall,
    Ping,
    ProcedureCall,
    Query,
    SessionHealth,
    encode,
)
from hostgate.models import Value
from hostgate.session._face import SessionFace, as_endpoint, bearer
from hostgate.session.admin_routes import admin_routes
from hostgate.session.catalog_routes import catalog_routes
from hostgate.session.deploy_routes import deploy_routes
from hostgate.session.deployer import Deployer
from hostgate.session.model_session import ModelSession
from hostgate.session.pool_service import PoolService
from hostgate.session.registry import SessionRegistry

__all__ = ["create_session_app"]

log = logging.getLogger("hostgate.session")


def _scope_bearer(scope: Scope) -> str | None:
    """``_bearer`` for a raw endpoint (session/_face.py): the same answers, from the scope's headers."""
    value = bearer(scope)
    if value is None:
        return None
    scheme, _, token = value.decode("latin-1").partition(" ")
    if scheme.lower() != "bearer" or not token:
        raise AuthenticationFailed("this request needs the token the management cluster gave you")
    return token


def _bearer(request: Request) -> str | None:
    """The Bearer token, or ``None`` for a request without ``Authorization`` (the registry decides: refused
    unless the server's security is off); a malformed header is refused here."""
    if "authorization" not in request.headers:
        return None
    scheme, _, value = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not value:
        raise AuthenticationFailed("this request needs the token the management cluster gave you")
    return value


def create_session_app(
    registry: SessionRegistry,
    *,
    max_body: int = DEFAULT_MAX_BODY,
    deployer: Deployer | None = None,
    pools: PoolService | None = None,
) -> SessionFace:
    def claims(request: Request) -> tokens.TokenClaims:
        return registry.claims(_bearer(request))

    async def health(request: Request) -> Response:
        # Anyone may learn that this server is up and whose it is (the connector proves a direct URL's cluster
        # with it); its models and load only a caller with a token of this cluster for this server (issue
        # #15, finding 8: the model names and session counts went to anyone). A bad token is a coded 401.
        # Its security setting too: a client without credentials learns from it whether to try at all.
        security = "on" if registry.security else "off"
        if "authorization" not in request.headers:
            return reply(SessionHealth("ok", registry.server, registry.cluster_id, security=security))
        claims(request)
        return reply(
            SessionHealth(
                "ok",
                registry.server,
                registry.cluster_id,
                registry.active,
                registry.capacity,
                tuple(registry.models.names()),
                security,
                tuple(p.status() for _, p in sorted(pools.pools.items())) if pools and pools.pools else None,
            )
        )

    async def open_session(request: Request) -> Response:
        who = claims(request)
        if who.pool:
            raise NotAuthorized(
                f"the token is for sessions of pool {who.pool!r}: acquire one with POST /api/v1/pools/{who.pool}/sessions"
            )
        body = await read_message(request, OpenSession)
        session = await registry.open(who, body.model, body.variables)
        return reply(session.info(), 201)

    async def show(request: Request) -> Response:
        return reply(registry.get(claims(request), request.path_params["id"]).info())

    async def ping(request: Request) -> Response:
        session = registry.get(claims(request), request.path_params["id"])
        if pools is not None and session.pool:
            pools.touch(session.id)  # the holder is alive: its lease starts again
        return reply(Ping(session.id, registry.server, session.operations))

    async def close(scope: Scope, receive: Receive) -> tuple[int, bytes]:
        session_id = scope["path_params"]["id"]
        await registry.close(registry.claims(_scope_bearer(scope)), session_id)
        return 200, encode(Closed(session_id))

    async def entity_get(request: Request) -> Response:
        found = await registry.call(claims(request), request.path_params["id"], lambda s: s.current_entity())
        return reply(EntityAnswer(found.name))

    async def entity_put(request: Request) -> Response:
        who = claims(request)  # the token before the body (issue #15, finding 4)
        name = (await read_message(request, EntityMove)).entity
        found = await registry.call(who, request.path_params["id"], lambda s: s.set_current_entity(name))
        return reply(EntityAnswer(found.name))

    async def attributes_get(request: Request) -> Response:
        raw = request.query_params.get("names")
        names = [n for n in raw.split(",") if n] if raw is not None else None

        async def read(s: ModelSession) -> tuple[str, dict[str, Value]]:
            values = await s.get_attributes(names)
            return s.entity.name if s.entity else "", values

        entity, values = await registry.call(claims(request), request.path_params["id"], read)
        # messages.Attributes on the wire; a Decimal encodes as a string (no digit lost).
        return reply({"entity": entity, "attributes": values})

    async def attributes_put(request: Request) -> Response:
        who = claims(request)
        values = (await read_message(request, AttributesWrite)).attributes
        found = await registry.call(who, request.path_params["id"], lambda s: s.set_attributes(values))
        return reply(EntityAnswer(found.name))

    async def operation(request: Request) -> Response:
        who = claims(request)
        parameters = (await read_message(request, OperationCall)).parameters
        name = request.path_params["name"]
        found = await registry.call(
            who,
            request.path_params["id"],
            lambda s: s.perform_entity_operation(name, parameters),
        )
        return reply(EntityAnswer(found.name))

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
        return reply(found)

    async def procedure(request: Request) -> Response:
        who = claims(request)
        body = await read_message(request, ProcedureCall)
        found = await registry.call(
            who,
            request.path_params["id"],
            lambda s: s.perform_table_procedure(body.table, body.procedure, body.inputs, body.filters),
        )
        return reply(found)

    async def query(request: Request) -> Response:
        who = claims(request)
        sql = (await read_message(request, Query)).sql
        found = await registry.call(who, request.path_params["id"], lambda s: s.query(sql))
        return reply(found)

    def pool_service() -> PoolService:
        if pools is None:
            raise PoolNotFound(f"session server {registry.server} runs no pools")
        return pools

    async def pools_status(request: Request) -> Response:
        return reply(pool_service().status(claims(request)))

    async def pool_status(request: Request) -> Response:
        return reply(pool_service().status(claims(request), request.path_params["name"])[0])

    async def pool_acquire(scope: Scope, receive: Receive) -> tuple[int, bytes]:
        # Raw (session/_face.py): the pooled acquire is what a pool exists to make fast (issue #18). The token
        # is checked first, as everywhere; the request has no body.
        who = registry.claims(_scope_bearer(scope))
        session = await pool_service().acquire(who, scope["path_params"]["name"])
        # The hand-out has just polled the host's socket (Pool._take_idle): not again for the answer.
        return 201, encode(session.info(connected=True))

    async def pool_sessions(request: Request) -> Response:
        # A pool-admin token (a member minted it for a Developer of the pool: management/pools.py, inspect).
        token = _bearer(request)
        if token is None:
            raise AuthenticationFailed("listing a pool's sessions needs a pool-admin token from the cluster")
        who = registry.token_keys.verify(
            token, kind="pool-admin", cluster_id=registry.cluster_id, server=registry.server
        )
        return reply(pool_service().sessions(who, request.path_params["name"]))

    async def pool_release(scope: Scope, receive: Receive) -> tuple[int, bytes]:
        who = registry.claims(_scope_bearer(scope))
        params = scope["path_params"]
        await pool_service().release(who, params["name"], params["id"])
        return 200, encode(Closed(params["id"]))

    session = "/api/v1/sessions/{id}"
    identity = {"X-Hostgate-Cluster-Id": registry.cluster_id, "X-Hostgate-Session-Server": registry.server}
    # The calls a session makes over and over first (shapes of one length are tried in this order; Starlette
    # tried the operations route tenth, issue #16).
    routes = [
        Route(f"{session}/operations/{{name}}", operation, methods=["POST"]),
        Route(f"{session}/entity", entity_get, methods=["GET"]),
        Route(f"{session}/entity", entity_put, methods=["PUT"]),
        Route(f"{session}/attributes", attributes_get, methods=["GET"]),
        Route(f"{session}/attributes", attributes_put, methods=["PUT"]),
        Route(f"{session}/recordsets/{{name}}", recordset, methods=["GET"]),
        Route(f"{session}/procedures", procedure, methods=["POST"]),
        Route(f"{session}/query", query, methods=["POST"]),
        Route(f"{session}/ping", ping, methods=["POST"]),
        Route(session, show, methods=["GET"]),
        Route(session, as_endpoint(close), methods=["DELETE"]),
        Route("/api/v1/sessions", open_session, methods=["POST"]),
        Route("/api/v1/health", health, methods=["GET"]),
        *deploy_routes(deployer),
        *catalog_routes(lambda: registry.models, claims),
        *admin_routes(registry),
        Route("/api/v1/pools/{name}/sessions", as_endpoint(pool_acquire), methods=["POST"]),
        Route("/api/v1/pools/{name}/sessions", pool_sessions, methods=["GET"]),
        Route("/api/v1/pools/{name}/sessions/{id}", as_endpoint(pool_release), methods=["DELETE"]),
        Route("/api/v1/pools/{name}", pool_status, methods=["GET"]),
        Route("/api/v1/pools", pools_status, methods=["GET"]),
    ]
    # A plain ASGI app inside the error boundary (session/_face.py: Starlette's application, router and
    # middleware stack cost a quarter of this server's CPU per call, issue #16).
    # The pooled acquire and the give-backs answer without Request and Response objects (issue #18).
    raw = {
        ("POST", "/api/v1/pools/{name}/sessions"): pool_acquire,
        ("DELETE", "/api/v1/pools/{name}/sessions/{id}"): pool_release,
        ("DELETE", session): close,
    }
    return SessionFace(routes, max_body=max_body, log=log, identity=identity, raw=raw)
