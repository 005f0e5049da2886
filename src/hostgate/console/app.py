"""The console's routes under ``/console``, and :func:`mount_console`, which adds them to a member's app.

Login goes through the member's own :class:`LoginGuard` (the one the JSON API's Basic credentials go through):
argon2 off the event loop, failures counted per user and address with backoff and lockout, failures and
lockouts in the audit trail. The login form is protected by a double-submit token (a ``__Host-`` cookie and
the same value in the form), since no session exists yet to bind a token to; SameSite=Strict cookies and the
CSP's ``form-action 'self'`` narrow it further.
"""

from __future__ import annotations

import math
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from importlib.resources import files

import jinja2
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from hostgate.console import pages
from hostgate.console.capture import Capture, Captures, login_key
from hostgate.console.capture_page import capture_routes
from hostgate.console.models_page import ModelsPages
from hostgate.console.pools_page import pools_routes
from hostgate.console.services_page import services_routes
from hostgate.console.session_servers import SessionServers
from hostgate.console.sessions import SESSION_TTL, ConsoleSessions, check_csrf
from hostgate.console.sessions_page import SessionsPages
from hostgate.console.web import (
    COOKIE,
    PRELOGIN_COOKIE,
    Action,
    Ctx,
    FormError,
    JsonSuffix,
    Page,
    PageView,
    Views,
    read_form,
    security_headers,
    send_with_headers,
    wants_json,
)
from hostgate.errors import AuthenticationFailed, CsrfRefused, HostgateError, TooManyAttempts
from hostgate.management.login_guard import LoginGuard
from hostgate.management.service import ManagementService

__all__ = ["console_routes", "mount_console"]


def _environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("hostgate.console", "templates"),
        autoescape=True,  # every value is escaped unless a template says otherwise (none does)
        undefined=jinja2.StrictUndefined,  # a misspelt name fails the test that renders it, not silently
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["percent"] = lambda v: f"{v * 100:.0f} %"
    return env


def _safe_next(value: str) -> str:
    """Only a path of this console (never another origin: no open redirect)."""
    if value.startswith("/console/") and not value.startswith("//") and "\\" not in value:
        return value
    return "/console/overview"


@dataclass(frozen=True, slots=True)
class LoginForm:
    next: str
    user: str
    token: str  # the double-submit token, also in the pre-login cookie


def _cookie(response: Response, name: str, value: str, max_age: int) -> None:
    # __Host- prefix: Secure, Path=/, no Domain (the browser refuses it otherwise); HttpOnly: no script reads it;
    # SameSite=Strict: no other site's page can make the browser send it.
    response.set_cookie(name, value, max_age=max_age, path="/", secure=True, httponly=True, samesite="strict")


def console_routes(
    service: ManagementService,
    guard: LoginGuard,
    *,
    clock: Callable[[], float] = time.time,
    captures: Captures | None = None,
) -> list[BaseRoute]:
    """``clock``: wall time of the console's sessions (expiry, idle timeout); tests drive it. ``captures``: this
    member's live captures (the Capture page; :func:`mount_console` makes them and closes them at the stop)."""
    if captures is None:
        captures = Captures(service.settings.capture)
    sessions = ConsoleSessions(service, clock=clock)
    views = Views(service, sessions, _environment())
    servers = SessionServers(service)
    live_sessions, models = SessionsPages(servers), ModelsPages(servers)

    def login_form(
        request: Request, token: str, error: FormError | None, status: int, user: str = ""
    ) -> Response:
        ctx = Ctx(request, service, sessions, error=error)
        nxt = _safe_next(request.query_params.get("next", "") or str(getattr(request.state, "next", "")))
        response = views.render(ctx, Page("login.html", "Log in", LoginForm(nxt, user, token), status=status))
        _cookie(response, PRELOGIN_COOKIE, token, 3600)
        return response

    async def login_get(request: Request) -> Response:
        try:
            sessions.find(request.cookies.get(COOKIE))
        except HostgateError:
            token = request.cookies.get(PRELOGIN_COOKIE) or secrets.token_urlsafe(32)
            return login_form(request, token, None, 200)
        nxt = _safe_next(request.query_params.get("next", ""))
        return security_headers(RedirectResponse(nxt, status_code=303))

    async def login_post(request: Request) -> Response:
        token = request.cookies.get(PRELOGIN_COOKIE) or ""
        fresh = secrets.token_urlsafe(32)
        user = ""
        try:
            form = await read_form(request)
            request.state.next = form.get("next", "")
            user = form.get("user", "").strip()[:64]
            if not token or not secrets.compare_digest(token, form.get("csrf", "")):
                raise CsrfRefused(
                    "the login form's token does not match this browser's (reload the login page)"
                )
            source = request.client.host if request.client else "unknown"
            principal = await guard.authenticate(user, form.get("password", ""), source)
            session_token, session = await sessions.create(principal)
        except HostgateError as exc:
            if wants_json(request):
                response = security_headers(JSONResponse(exc.to_payload(), status_code=exc.http_status))
            else:
                payload = exc.to_payload()
                error = FormError("login", payload["code"], payload["message"], payload["hint"])
                response = login_form(request, fresh, error, exc.http_status, user)
            if isinstance(exc, TooManyAttempts):
                response.headers["Retry-After"] = str(max(1, math.ceil(exc.retry_after)))
            return response
        service.audit.record(
            actor=principal.name, action="login.console", target=principal.name, source=source,
            detail={"member": service.member_name},
        )  # fmt: skip
        nxt = _safe_next(form.get("next", ""))
        if wants_json(request):
            response = JSONResponse(
                {"user": principal.name, "csrf": session.csrf, "expires_at": session.expires_at}
            )
        else:
            response = RedirectResponse(nxt, status_code=303)
        _cookie(response, COOKIE, session_token, int(SESSION_TTL))
        response.delete_cookie(PRELOGIN_COOKIE, path="/", secure=True, httponly=True, samesite="strict")
        return security_headers(response)

    async def logout(request: Request) -> Response:
        token = request.cookies.get(COOKIE)
        ctx = Ctx(request, service, sessions)
        try:
            ctx.session, ctx.principal = sessions.find(token)
            form = await read_form(request)
            check_csrf(ctx.session, request.headers.get("x-csrf-token") or form.get("csrf"))
        except HostgateError as exc:
            if isinstance(exc, AuthenticationFailed):
                response: Response = RedirectResponse("/console/login", status_code=303)
                response.delete_cookie(COOKIE, path="/", secure=True, httponly=True, samesite="strict")
                return security_headers(response)
            return views.error_page(ctx, exc)
        await sessions.end(token)
        # A capture of this login ends with it (its host connection closed now, not at the idle timeout).
        await captures.end(login_key(token or ""), "logout")
        service.audit.record(
            actor=ctx.who.name, action="logout.console", target=ctx.who.name, source=ctx.source
        )
        response = RedirectResponse("/console/login", status_code=303)
        response.delete_cookie(COOKIE, path="/", secure=True, httponly=True, samesite="strict")
        return security_headers(response)

    async def root(request: Request) -> Response:
        return security_headers(RedirectResponse("/console/overview", status_code=303))

    def act(action: Action, form: str, back: PageView, page: str) -> Route:
        return Route(
            f"/{page}/{form}", views.action(action, form, back, f"/console/{page}"), methods=["POST"]
        )

    static = StaticFiles(directory=str(files("hostgate.console") / "static"))
    return [
        Route("/", root, methods=["GET"]),
        Route("/login", login_get, methods=["GET"]),
        Route("/login", login_post, methods=["POST"]),
        Route("/logout", logout, methods=["POST"]),
        Route("/status", views.page(pages.status_page, activity=False), methods=["GET"]),
        Route("/overview", views.page(pages.overview_page), methods=["GET"]),
        Route("/cluster", views.page(pages.cluster_page), methods=["GET"]),
        Route("/cluster/alias", views.page(pages.alias_page), methods=["GET"]),
        act(pages.rename_cluster, "rename", pages.cluster_page, "cluster"),
        act(pages.remove_member, "remove-member", pages.cluster_page, "cluster"),
        Route("/domains", views.page(pages.domains_page), methods=["GET"]),
        act(pages.create_domain, "create", pages.domains_page, "domains"),
        act(pages.delete_domain, "delete", pages.domains_page, "domains"),
        act(pages.add_domain_server, "add-server", pages.domains_page, "domains"),
        act(pages.remove_domain_server, "remove-server", pages.domains_page, "domains"),
        Route("/security", views.page(pages.security_page), methods=["GET"]),
        act(pages.add_user, "add-user", pages.security_page, "security"),
        act(pages.remove_user, "remove-user", pages.security_page, "security"),
        act(pages.add_grant, "add-grant", pages.security_page, "security"),
        act(pages.remove_grant, "remove-grant", pages.security_page, "security"),
        Route("/audit", views.page(pages.audit_page), methods=["GET"]),
        *pools_routes(views),
        *services_routes(views),
        Route("/sessions", views.page(live_sessions.listing), methods=["GET"]),
        Route("/sessions/screen", views.page(live_sessions.screen), methods=["GET"]),
        act(live_sessions.end, "end", live_sessions.listing, "sessions"),
        Route("/models", views.page(models.listing), methods=["GET"]),
        act(models.activate, "activate", models.listing, "models"),
        act(models.deactivate, "deactivate", models.listing, "models"),
        *capture_routes(views, captures),
        Mount("/static", app=send_with_headers(static)),
    ]


def mount_console(
    app: Starlette, service: ManagementService, guard: LoginGuard, *, clock: Callable[[], float] = time.time
) -> Captures:
    """Serve the console at ``/console`` of ``app`` (a member's JSON API app, whose error boundary, identity
    headers and login guard it shares). Returns the member's live captures (also ``app.state.console_captures``):
    whoever runs the app closes them at its stop (``await captures.close()``)."""

    def ended(capture: Capture, why: str) -> None:
        service.audit.record(
            actor=capture.user, action="console.capture.end", target=capture.host, source="member",
            detail={"type": capture.spec.type.value, "model": capture.model, "why": why,
                    "member": service.member_name},
        )  # fmt: skip

    captures = Captures(service.settings.capture, on_end=ended)
    app.state.console_captures = captures
    routes = console_routes(service, guard, clock=clock, captures=captures)
    app.router.routes.append(Mount("/console", app=JsonSuffix(Starlette(routes=routes))))
    return captures
