"""The management server's JSON API (Starlette).

Every answer carries ``X-Hostgate-Cluster-Id`` and ``X-Hostgate-Member`` so a client can tell which cluster and
member answered, and an ``X-Request-Id`` (``hostgate._http``, the error boundary shared with the session server). Only ``/api/v1/health`` and ``/api/v1/ca`` (the public CA certificate) answer without
credentials; everything else needs HTTP Basic credentials of a cluster account, and changes need an
Administrator. Errors are ``{"code", "message", "hint", "request_id"}`` with the error's HTTP status; no traceback
leaves (an unexpected exception is ``InternalError``, HG-1000, logged once with its traceback).
Every POST/PUT/DELETE that changes the store runs as a guarded write (``Idempotency-Key``,
``X-Hostgate-Deadline``; management/writes.py), so a hedged duplicate is answered, never applied twice.
"""

from __future__ import annotations

import base64
import binascii
import logging
from collections.abc import Awaitable, Callable
from dataclasses import asdict
from typing import Any

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from hostgate import tokens
from hostgate._bodies import body_limit, read_json
from hostgate._http import coded_http_exceptions, error_boundary
from hostgate.api._auth import PRINCIPAL_SCOPE_KEY, BasicAuthGate
from hostgate.errors import AuthenticationFailed, UsageError
from hostgate.management.login_guard import LoginGuard
from hostgate.management.records import CA_KEY, CaRecord
from hostgate.management.routing import Heartbeat
from hostgate.management.security import Principal
from hostgate.management.service import JoinRequest, ManagementService
from hostgate.management.writes import (
    DEADLINE_HEADER,
    IDEMPOTENCY_HEADER,
    WriteAnswer,
    fingerprint,
    json_body,
)

__all__ = ["create_app"]

log = logging.getLogger("hostgate.api")
_HOT_PATHS = frozenset({"/api/v1/route", "/api/v1/session-servers/{name}/heartbeat"})
Handler = Callable[[Request], Awaitable[Response]]


def _credentials(request: Request) -> tuple[str, str]:
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "basic" or not value:
        raise AuthenticationFailed("this request needs credentials (HTTP Basic)")
    try:
        user, sep, password = base64.b64decode(value, validate=True).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError):
        raise AuthenticationFailed("the Authorization header is malformed") from None
    if not sep:
        raise AuthenticationFailed("the Authorization header is malformed")
    return user, password


def _client_cert(request: Request) -> str | None:
    """The verified TLS client certificate (PEM) of this request, from the ASGI TLS extension that
    hostgate's uvicorn protocol fills in (runtime/tls_scope.py); ``None`` when none was presented."""
    chain = request.scope.get("extensions", {}).get("tls", {}).get("client_cert_chain") or []
    return str(chain[0]) if chain else None


def _str_list(value: object) -> bool:
    return isinstance(value, list) and all(isinstance(v, str) for v in value)


async def _json_body(request: Request, fields: dict[str, Any], limit: int | None = None) -> dict[str, Any]:
    # Capped (HG-1010); every caller has checked the credentials first.
    body = await read_json(request, body_limit(request) if limit is None else limit)
    if not isinstance(body, dict):
        raise UsageError("the request body must be a JSON object")
    out: dict[str, Any] = {}
    for name, typ in fields.items():
        value = body.get(name)
        if not isinstance(value, typ) or isinstance(value, bool):
            raise UsageError(f"field {name!r}: expected {getattr(typ, '__name__', typ)}, got {value!r}")
        out[name] = value
    return out


def create_app(service: ManagementService) -> Starlette:
    def principal(request: Request) -> Principal:
        # BasicAuthGate checked the credentials before the route ran (off the event loop, throttled).
        found = request.scope.get(PRINCIPAL_SCOPE_KEY)
        if isinstance(found, Principal):
            return found
        _credentials(request)  # none, or malformed: its coded error
        raise AuthenticationFailed("wrong user name or password")

    async def write(handler: Handler, request: Request) -> Response:
        """One write request as a guarded call (management/writes.py): recorded, or the first answer."""
        what = f"{request.method} {request.url.path}"
        guard = service.writes.open(
            request.headers.get(IDEMPOTENCY_HEADER), request.headers.get(DEADLINE_HEADER), what
        )

        async def print_() -> str:
            # Asked for after the handler ran: it has authenticated the caller and read the body, which
            # hostgate._bodies caches on the request. Never read it here: a handler that refused before reading
            # (over the size cap) must not wait for a body the client may never send.
            cached = getattr(request, "_body", None)
            body = cached if isinstance(cached, bytes) else b""
            auth = request.headers.get("authorization", "")
            return fingerprint(request.method, request.url.path, auth, body)

        async def call() -> WriteAnswer:
            response = await handler(request)
            return WriteAnswer(response.status_code, json_body(bytes(response.body)))

        answer = await service.writes.run(guard, call, print_)
        if answer.status >= 500:
            log.warning("%s failed: %s", what, answer.body)
        body = answer.body
        if isinstance(body, dict) and "code" in body:
            # A coded error answer (recorded, or replayed to a duplicate) names this request, like every other.
            body = {**body, "request_id": request.state.request_id}
        response = (
            Response(status_code=answer.status)
            if body is None
            else JSONResponse(body, status_code=answer.status)
        )
        for name, value in answer.headers:
            response.headers[name] = value
        return response

    def guarded(handler: Handler) -> Handler:
        """A route that changes the store: a guarded write (recorded with its key, or the first answer).

        Routes that write nothing (health, reads, routing, tokens, heartbeats) are not wrapped.
        """

        async def wrapped(request: Request) -> Response:
            return await write(handler, request)

        return wrapped

    async def health(request: Request) -> Response:
        return JSONResponse(
            {"status": "ok", "member": service.member_name, "cluster_id": service.settings.server.cluster_id}
        )

    async def ca(request: Request) -> Response:
        raw = service.cache.get(CA_KEY)
        if raw is None:
            return Response(status_code=503)
        return Response(CaRecord.decode(CA_KEY, raw).cert_pem, media_type="application/x-pem-file")

    async def cluster_status(request: Request) -> Response:
        principal(request)
        status = await service.cluster_status()
        return JSONResponse(asdict(status))

    async def cluster_rename(request: Request) -> Response:
        who = principal(request)
        body = await _json_body(request, {"name": str})
        info = await service.rename_cluster(who, body["name"])
        return JSONResponse(asdict(info))

    async def members_join(request: Request) -> Response:
        who = principal(request)
        body = await _json_body(
            request,
            {
                "name": str,
                "address": str,
                "port": int,
                "etcd_client_port": int,
                "etcd_peer_port": int,
                "csr_pem": str,
            },
        )
        grant = await service.join(who, JoinRequest(**body))
        return JSONResponse(asdict(grant), status_code=201)

    async def members_remove(request: Request) -> Response:
        who = principal(request)
        record = await service.remove_member(who, request.path_params["name"])
        return JSONResponse({"removed": record.name, "address": record.address})

    async def users_list(request: Request) -> Response:
        principal(request).require_admin()
        return JSONResponse([{"name": u.name, "roles": list(u.roles)} for u in service.users()])

    async def users_add(request: Request) -> Response:
        who = principal(request)
        body = await _json_body(request, {"name": str, "password": str})
        admin = (await request.json()).get("admin") is True
        user = await service.add_user(who, body["name"], body["password"], admin)
        return JSONResponse({"name": user.name, "roles": list(user.roles)}, status_code=201)

    async def users_remove(request: Request) -> Response:
        who = principal(request)
        await service.remove_user(who, request.path_params["name"])
        return JSONResponse({"removed": request.path_params["name"]})

    async def whoami(request: Request) -> Response:
        who = principal(request)
        return JSONResponse({"name": who.name, "roles": list(who.roles)})

    async def servers_list(request: Request) -> Response:
        principal(request)
        return JSONResponse([asdict(v) for v in service.domains.server_views()])

    async def servers_register(request: Request) -> Response:
        who = principal(request)
        body = await _json_body(
            request,
            {
                "name": str,
                "address": str,
                "port": int,
                "advertised_address": str,
                "advertised_port": int,
                "csr_pem": str,
            },
        )
        grant = await service.domains.register_server(who, **body)
        return JSONResponse(grant.to_json(), status_code=201)

    async def servers_remove(request: Request) -> Response:
        who = principal(request)
        await service.domains.remove_server(who, request.path_params["name"])
        return JSONResponse({"removed": request.path_params["name"]})

    async def servers_heartbeat(request: Request) -> Response:
        name = request.path_params["name"]
        # Authenticated by the server's own TLS client certificate (its registered fingerprint), not by any
        # token: session servers hold nothing that could vouch for another server. Checked before the body
        # is read (capped small: a heartbeat is a few numbers).
        service.domains.authenticate_server(name, _client_cert(request))
        body = await _json_body(
            request,
            {"active_sessions": int, "capacity": int, "interval": float | int},
            service.settings.security.heartbeat_max_body,
        )
        keys_version = service.domains.heartbeat(
            request.path_params["name"],
            _client_cert(request),
            Heartbeat(
                request.path_params["name"],
                body["active_sessions"],
                body["capacity"],
                float(body["interval"]),
            ),
        )
        return JSONResponse({"token_keys": keys_version})

    async def token_keys(request: Request) -> Response:
        # A registered session server (by its certificate), or any account of the cluster.
        if service.domains.server_by_certificate(_client_cert(request)) is None:
            principal(request)
        keys = service.domains.token_keys.public()
        return JSONResponse({"version": tokens.key_set_version(keys), "keys": [k.to_json() for k in keys]})

    async def token_keys_rotate(request: Request) -> Response:
        who = principal(request)
        keys = await service.domains.token_keys.rotate(who)
        return JSONResponse({"version": tokens.key_set_version(keys), "keys": [k.to_json() for k in keys]})

    async def domains_list(request: Request) -> Response:
        principal(request)
        return JSONResponse([asdict(d) for d in service.domains.domains()])

    async def domains_create(request: Request) -> Response:
        who = principal(request)
        body = await _json_body(request, {"name": str})
        return JSONResponse(asdict(await service.domains.create_domain(who, body["name"])), status_code=201)

    async def domains_show(request: Request) -> Response:
        principal(request)
        return JSONResponse(asdict(service.domains.domain(request.path_params["name"])))

    async def domains_delete(request: Request) -> Response:
        who = principal(request)
        await service.domains.delete_domain(who, request.path_params["name"])
        return JSONResponse({"removed": request.path_params["name"]})

    async def domains_add_server(request: Request) -> Response:
        who = principal(request)
        body = await _json_body(request, {"weight": int, "priority": int})
        rec = await service.domains.add_server(
            who, request.path_params["name"], request.path_params["server"], body["weight"], body["priority"]
        )
        return JSONResponse(asdict(rec))

    async def domains_remove_server(request: Request) -> Response:
        who = principal(request)
        rec = await service.domains.remove_server_from_domain(
            who, request.path_params["name"], request.path_params["server"]
        )
        return JSONResponse(asdict(rec))

    async def route(request: Request) -> Response:
        who = principal(request)
        body = await _json_body(request, {"domain": str})
        raw = await request.json()
        model = raw.get("model", "")
        exclude = raw.get("exclude", [])
        unreachable = raw.get("unreachable", [])
        if not isinstance(model, str) or not _str_list(exclude) or not _str_list(unreachable):
            raise UsageError(
                "fields 'model' (string), 'exclude' and 'unreachable' (lists of names) are malformed"
            )
        answer = service.domains.route(who, body["domain"], model, exclude, unreachable)
        return JSONResponse(asdict(answer))

    async def grant_direct(request: Request) -> Response:
        who = principal(request)
        body = await _json_body(request, {"server": str})
        model = (await request.json()).get("model", "")
        if not isinstance(model, str):
            raise UsageError("field 'model': expected str")
        return JSONResponse(asdict(service.domains.grant_direct(who, body["server"], model)))

    routes = [
        Route("/api/v1/health", health, methods=["GET"]),
        Route("/api/v1/ca", ca, methods=["GET"]),
        Route("/api/v1/whoami", whoami, methods=["GET"]),
        Route("/api/v1/cluster", cluster_status, methods=["GET"]),
        Route("/api/v1/cluster/name", guarded(cluster_rename), methods=["PUT"]),
        Route("/api/v1/cluster/members", guarded(members_join), methods=["POST"]),
        Route("/api/v1/cluster/members/{name}", guarded(members_remove), methods=["DELETE"]),
        Route("/api/v1/session-servers", servers_list, methods=["GET"]),
        Route("/api/v1/session-servers", guarded(servers_register), methods=["POST"]),
        Route("/api/v1/session-servers/{name}", guarded(servers_remove), methods=["DELETE"]),
        Route("/api/v1/session-servers/{name}/heartbeat", servers_heartbeat, methods=["POST"]),
        Route("/api/v1/token-keys", token_keys, methods=["GET"]),
        Route("/api/v1/token-keys/rotate", guarded(token_keys_rotate), methods=["POST"]),
        Route("/api/v1/domains", domains_list, methods=["GET"]),
        Route("/api/v1/domains", guarded(domains_create), methods=["POST"]),
        Route("/api/v1/domains/{name}", domains_show, methods=["GET"]),
        Route("/api/v1/domains/{name}", guarded(domains_delete), methods=["DELETE"]),
        Route("/api/v1/domains/{name}/servers/{server}", guarded(domains_add_server), methods=["PUT"]),
        Route("/api/v1/domains/{name}/servers/{server}", guarded(domains_remove_server), methods=["DELETE"]),
        Route("/api/v1/route", route, methods=["POST"]),
        Route("/api/v1/tokens", grant_direct, methods=["POST"]),
        Route("/api/v1/users", users_list, methods=["GET"]),
        Route("/api/v1/users", guarded(users_add), methods=["POST"]),
        Route("/api/v1/users/{name}", guarded(users_remove), methods=["DELETE"]),
    ]
    # Starlette tries the routes in order, a regular expression each: the hot paths first (issue #16; the route
    # call was 20th). Neither path overlaps another route's, so the order changes no match.
    routes.sort(key=lambda r: r.path not in _HOT_PATHS)
    guard = LoginGuard(service.auth, service.settings.security)
    identity = {
        "X-Hostgate-Cluster-Id": service.settings.server.cluster_id,
        "X-Hostgate-Member": service.member_name,
    }
    app = Starlette(
        routes=routes,
        exception_handlers=coded_http_exceptions(),
        # The error boundary outermost, so that whatever the login gate or a route raises is coded.
        middleware=[
            error_boundary(log, identity, "management API"),
            Middleware(BasicAuthGate, guard=guard, identity=identity),
        ],
    )
    app.state.max_body = service.settings.security.max_body
    return app
