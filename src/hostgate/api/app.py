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
import time
from collections.abc import Awaitable, Callable

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import Receive, Scope

from hostgate import tokens
from hostgate._bodies import read_message, receive_body, reply
from hostgate._http import coded_http_exceptions, error_boundary
from hostgate.api._auth import PRINCIPAL_SCOPE_KEY, BasicAuthGate
from hostgate.api._hot import HotRoutes, HotStarlette, as_endpoint
from hostgate.api.audit_routes import WriteAudit, audit_routes
from hostgate.api.backup_routes import backup_routes
from hostgate.api.deploy_routes import deploy_routes
from hostgate.api.grant_routes import grant_routes, grant_view
from hostgate.api.ldap_routes import ldap_routes
from hostgate.api.login_routes import login_routes
from hostgate.api.maintenance_routes import maintenance_routes
from hostgate.api.pool_routes import pool_routes
from hostgate.errors import AuthenticationFailed, DomainNotFound, HostgateError
from hostgate.management.access import Profile
from hostgate.management.cli_tokens import CliTokens
from hostgate.management.ldap.admin import LdapAdmin
from hostgate.management.login_guard import LoginGuard
from hostgate.management.records import CA_KEY, CaRecord, DomainRecord
from hostgate.management.routing import NO_POOLS, Heartbeat, pool_figures
from hostgate.management.security import Principal
from hostgate.management.service import ManagementService
from hostgate.management.writes import (
    DEADLINE_HEADER,
    IDEMPOTENCY_HEADER,
    REPLAYED_HEADER,
    WriteAnswer,
    fingerprint,
    json_body,
)
from hostgate.messages import (
    HEARTBEAT_HOLDS,
    ClusterName,
    ClusterRename,
    DomainCreate,
    DomainMember,
    DomainServerSettings,
    DomainView,
    Health,
    HeartbeatAnswer,
    HeartbeatReport,
    JoinRequest,
    MemberRemovedAnswer,
    NewUser,
    Removed,
    RouteRequest,
    SecuritySwitch,
    ServerRegistration,
    ServerSecurity,
    TokenKeysAnswer,
    TokenRequest,
    UserView,
    decode_request,
    encode,
    heartbeat_holds,
    openapi,
)
from hostgate.metrics import UNKNOWN, ServerMetrics

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


def _client_cert(scope: Scope) -> str | None:
    """The verified TLS client certificate (PEM) of this request, from the ASGI TLS extension that
    hostgate's uvicorn protocol fills in (runtime/tls_scope.py); ``None`` when none was presented."""
    chain = scope.get("extensions", {}).get("tls", {}).get("client_cert_chain") or []
    return str(chain[0]) if chain else None


_HOLDS = HEARTBEAT_HOLDS.lower().encode()


def _holds(scope: Scope) -> bytes | None:
    """The versions a heartbeat's sender already holds (``X-Hostgate-Heartbeat-Holds``), read from the raw
    ASGI headers (a hot path: no header object); ``None`` from a server of an earlier version."""
    for name, value in scope["headers"]:
        if name == _HOLDS:
            return bytes(value)
    return None


def _domain_view(record: DomainRecord) -> DomainView:
    return DomainView(
        record.name, tuple(DomainMember(m.server, m.weight, m.priority) for m in record.members)
    )


def create_app(service: ManagementService, metrics: ServerMetrics | None = None) -> Starlette:
    def principal(request: Request) -> Principal:
        # BasicAuthGate checked the credentials before the route ran (off the event loop, throttled).
        found = request.scope.get(PRINCIPAL_SCOPE_KEY)
        if isinstance(found, Principal):
            return found
        _credentials(request)  # none, or malformed: its coded error
        raise AuthenticationFailed("wrong user name or password")

    audit_write = WriteAudit(service.audit)

    async def write(handler: Handler, request: Request) -> Response:
        """One write request as a guarded call (management/writes.py): recorded, or the first answer."""
        what = f"{request.method} {request.url.path}"
        try:
            guard = service.writes.open(
                request.headers.get(IDEMPOTENCY_HEADER), request.headers.get(DEADLINE_HEADER), what
            )
        except HostgateError as exc:
            audit_write(request, exc.http_status, exc.to_payload(), False)
            raise

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
        # Every guarded write leaves one audit entry (api/audit_routes.py); a replayed duplicate applied nothing.
        audit_write(request, answer.status, answer.body, any(n == REPLAYED_HEADER for n, _ in answer.headers))
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
        return reply(Health("ok", service.member_name, service.settings.server.cluster_id))

    async def ca(request: Request) -> Response:
        raw = service.cache.get(CA_KEY)
        if raw is None:
            return Response(status_code=503)
        return Response(CaRecord.decode(CA_KEY, raw).cert_pem, media_type="application/x-pem-file")

    async def openapi_document(request: Request) -> Response:
        principal(request)
        return reply(openapi())

    async def cluster_status(request: Request) -> Response:
        principal(request)
        return reply(await service.cluster_status())

    async def cluster_rename(request: Request) -> Response:
        who = principal(request)
        body = await read_message(request, ClusterRename)
        info = await service.rename_cluster(who, body.name)
        return reply(ClusterName(info.id, info.name, info.created_at))

    async def members_join(request: Request) -> Response:
        who = principal(request)
        grant = await service.join(who, await read_message(request, JoinRequest))
        return reply(grant, 201)

    async def members_remove(request: Request) -> Response:
        who = principal(request)
        record = await service.remove_member(who, request.path_params["name"])
        return reply(MemberRemovedAnswer(record.name, record.address))

    async def users_list(request: Request) -> Response:
        principal(request).require_admin()
        # Roles as the grants decide them (an account's stored role is what earlier versions read).
        return reply([UserView(u.name, service.auth.principal(u.name).roles) for u in service.users()])

    async def users_add(request: Request) -> Response:
        who = principal(request)
        body = await read_message(request, NewUser)
        user = await service.add_user(who, body.name, body.password, body.admin)
        return reply(UserView(user.name, service.auth.principal(user.name).roles), 201)

    async def users_remove(request: Request) -> Response:
        who = principal(request)
        await service.remove_user(who, request.path_params["name"])
        return reply(Removed(request.path_params["name"]))

    async def whoami(request: Request) -> Response:
        who = principal(request)
        profiles = tuple(grant_view(g) for g in service.access.effective(who))
        return reply(UserView(who.name, tuple(who.roles), profiles))

    async def servers_list(request: Request) -> Response:
        principal(request)
        return reply(service.domains.server_views())

    async def servers_register(request: Request) -> Response:
        who = principal(request)
        body = await read_message(request, ServerRegistration)
        grant = await service.domains.register_server(
            who,
            name=body.name,
            address=body.address,
            port=body.port,
            advertised_address=body.advertised_address,
            advertised_port=body.advertised_port,
            csr_pem=body.csr_pem,
        )
        return reply(grant, 201)

    async def servers_remove(request: Request) -> Response:
        who = principal(request)
        await service.domains.remove_server(who, request.path_params["name"])
        return reply(Removed(request.path_params["name"]))

    heartbeat_max_body = service.settings.security.heartbeat_max_body
    max_body = service.settings.security.max_body

    async def servers_heartbeat(scope: Scope, receive: Receive) -> bytes:
        # A hot path (api/_hot.py): the ASGI scope and receive, no Request; the answer's JSON.
        name = scope["path_params"]["name"]
        # Authenticated by the server's own TLS client certificate (its registered fingerprint), not by any
        # token: session servers hold nothing that could vouch for another server. Checked before the body
        # is read (capped small: a heartbeat is a few numbers).
        try:
            server = service.domains.authenticate_server(name, _client_cert(scope))
            body = decode_request(await receive_body(scope, receive, heartbeat_max_body), HeartbeatReport)
            keys_version = service.domains.accept_heartbeat(
                server,
                Heartbeat(
                    name,
                    body.active_sessions,
                    body.capacity,
                    body.interval,
                    pool_figures(body.pools) if body.pools else NO_POOLS,
                ),
            )
        except HostgateError as exc:
            if metrics is not None:
                metrics.heartbeat_received(exc.code)
            raise
        if metrics is not None:
            metrics.heartbeat_received("accepted")
        pools = service.pools.version_for(name)
        # A conditional heartbeat (messages.HEARTBEAT_HOLDS): the report above is recorded whatever follows;
        # when the server already holds every version this answer would name, it gets 204 (b"") instead.
        holds = _holds(scope)
        if holds is not None and holds == heartbeat_holds(keys_version, server.security, pools).encode():
            return b""
        return encode(HeartbeatAnswer(keys_version, server.security, pools))

    async def servers_security(request: Request) -> Response:
        who = principal(request)
        name = request.path_params["name"]
        service.access.require(who, Profile.ADMINISTRATOR, server=name)
        body = await read_message(request, SecuritySwitch)
        # Audited by the guarded write around this handler (every admin change is, issue #17).
        record = await service.domains.set_security(who, name, body.security == "on")
        return reply(ServerSecurity(name, "on" if record.security else "off"))

    async def token_keys(request: Request) -> Response:
        # A registered session server (by its certificate), or any account of the cluster.
        if service.domains.server_by_certificate(_client_cert(request.scope)) is None:
            principal(request)
        keys = service.domains.token_keys.public()
        return reply(TokenKeysAnswer(tokens.key_set_version(keys), tuple(keys)))

    async def token_keys_rotate(request: Request) -> Response:
        who = principal(request)
        keys = await service.domains.token_keys.rotate(who)
        return reply(TokenKeysAnswer(tokens.key_set_version(keys), tuple(keys)))

    async def domains_list(request: Request) -> Response:
        principal(request)
        return reply([_domain_view(d) for d in service.domains.domains()])

    async def domains_create(request: Request) -> Response:
        who = principal(request)
        body = await read_message(request, DomainCreate)
        return reply(_domain_view(await service.domains.create_domain(who, body.name)), 201)

    async def domains_show(request: Request) -> Response:
        principal(request)
        return reply(_domain_view(service.domains.domain(request.path_params["name"])))

    async def domains_delete(request: Request) -> Response:
        who = principal(request)
        await service.domains.delete_domain(who, request.path_params["name"])
        return reply(Removed(request.path_params["name"]))

    async def domains_add_server(request: Request) -> Response:
        who = principal(request)
        body = await read_message(request, DomainServerSettings)
        rec = await service.domains.add_server(
            who, request.path_params["name"], request.path_params["server"], body.weight, body.priority
        )
        return reply(_domain_view(rec))

    async def domains_remove_server(request: Request) -> Response:
        who = principal(request)
        rec = await service.domains.remove_server_from_domain(
            who, request.path_params["name"], request.path_params["server"]
        )
        return reply(_domain_view(rec))

    async def route(scope: Scope, receive: Receive) -> bytes:
        # A hot path (api/_hot.py): the ASGI scope and receive, no Request; the answer's JSON.
        who = scope.get(PRINCIPAL_SCOPE_KEY)  # set by BasicAuthGate, as principal() reads it
        if not isinstance(who, Principal):
            who = principal(Request(scope, receive))  # none or wrong: its coded error, as every route's
        # One pass: every field type-checked (HG-1011), after the credentials, capped.
        body = decode_request(await receive_body(scope, receive, max_body), RouteRequest)
        try:
            answer = service.domains.route(
                who, body.domain, body.model, list(body.exclude), list(body.unreachable), body.pool
            )
        except HostgateError as exc:
            if metrics is not None:
                # A domain that does not exist is not a label: any client could grow the metric without bound.
                metrics.route_decision(UNKNOWN if isinstance(exc, DomainNotFound) else body.domain, exc.code)
            raise
        if metrics is not None:
            metrics.route_decision(body.domain, "routed")
        return encode(answer)

    async def grant_direct(request: Request) -> Response:
        who = principal(request)
        body = await read_message(request, TokenRequest)
        # The User profile (on the model or pool, a domain of the server, or cluster-wide) is checked there.
        return reply(service.domains.grant_direct(who, body.server, body.model, pool=body.pool))

    routes = [
        Route("/api/v1/health", health, methods=["GET"]),
        Route("/api/v1/ca", ca, methods=["GET"]),
        Route("/api/v1/openapi.json", openapi_document, methods=["GET"]),
        Route("/api/v1/whoami", whoami, methods=["GET"]),
        Route("/api/v1/cluster", cluster_status, methods=["GET"]),
        Route("/api/v1/cluster/name", guarded(cluster_rename), methods=["PUT"]),
        Route("/api/v1/cluster/members", guarded(members_join), methods=["POST"]),
        Route("/api/v1/cluster/members/{name}", guarded(members_remove), methods=["DELETE"]),
        Route("/api/v1/session-servers", servers_list, methods=["GET"]),
        Route("/api/v1/session-servers", guarded(servers_register), methods=["POST"]),
        Route("/api/v1/session-servers/{name}", guarded(servers_remove), methods=["DELETE"]),
        Route("/api/v1/session-servers/{name}/heartbeat", as_endpoint(servers_heartbeat), methods=["POST"]),
        Route("/api/v1/session-servers/{name}/security", guarded(servers_security), methods=["PUT"]),
        Route("/api/v1/token-keys", token_keys, methods=["GET"]),
        Route("/api/v1/token-keys/rotate", guarded(token_keys_rotate), methods=["POST"]),
        Route("/api/v1/domains", domains_list, methods=["GET"]),
        Route("/api/v1/domains", guarded(domains_create), methods=["POST"]),
        Route("/api/v1/domains/{name}", domains_show, methods=["GET"]),
        Route("/api/v1/domains/{name}", guarded(domains_delete), methods=["DELETE"]),
        Route("/api/v1/domains/{name}/servers/{server}", guarded(domains_add_server), methods=["PUT"]),
        Route("/api/v1/domains/{name}/servers/{server}", guarded(domains_remove_server), methods=["DELETE"]),
        Route("/api/v1/route", as_endpoint(route), methods=["POST"]),
        Route("/api/v1/tokens", grant_direct, methods=["POST"]),
        Route("/api/v1/users", users_list, methods=["GET"]),
        Route("/api/v1/users", guarded(users_add), methods=["POST"]),
        Route("/api/v1/users/{name}", guarded(users_remove), methods=["DELETE"]),
        *ldap_routes(LdapAdmin(service.store, service.cache, service.auth.directories), principal, guarded),
        *grant_routes(service.grant_admin, principal, guarded),
        *audit_routes(
            service.audit, principal, lambda p: service.access.require(p, Profile.ADMINISTRATOR), time.time
        ),
        *deploy_routes(service.deployments, principal, guarded),
        *pool_routes(service.pools, principal, guarded),
        *backup_routes(service, principal),
        *maintenance_routes(service, principal, guarded),
    ]
    # Starlette tries the routes in order, a regular expression each: the hot paths first (issue #16; the route
    # call was 20th). Neither path overlaps another route's, so the order changes no match.
    routes.sort(key=lambda r: r.path not in _HOT_PATHS)
    guard = LoginGuard(service.auth, service.settings.security, audit=service.audit)
    if metrics is not None:
        guard.on_failure = metrics.login_failed
    identity = {
        "X-Hostgate-Cluster-Id": service.settings.server.cluster_id,
        "X-Hostgate-Member": service.member_name,
    }
    app = HotStarlette(
        routes=routes,
        exception_handlers=coded_http_exceptions(),
        # The error boundary outermost, so that whatever the login gate or a route raises is coded.
        middleware=[
            error_boundary(log, identity, "management API"),
            Middleware(BasicAuthGate, guard=guard, identity=identity),
        ],
    )
    # The hot paths skip Starlette's layers and router, inside the same boundary and gate (api/_hot.py).
    app.serve_hot(HotRoutes(route=route, heartbeat=servers_heartbeat))
    app.state.max_body = service.settings.security.max_body
    # Closed by whoever runs the app (runtime/server.py), before the audit writer stops: its pending counts of
    # failed logins are audit entries (management/login_audit.py).
    app.state.login_guard = guard
    # `hostgate login` tokens: the gate finds their check on the app, as the bodies find their limit.
    cli_logins = CliTokens(
        service.domains.token_keys,
        service.cache,
        service.settings.server.cluster_id,
        service.auth.principal,
    )
    app.state.cli_login = cli_logins.verify
    app.router.routes.extend(login_routes(service, cli_logins, guard, principal, guarded))
    return app
