"""The console's plumbing: one view function per page, rendered as HTML or as its JSON twin; login, CSRF and
security headers around every one.

A view returns a :class:`Page` (a template name and a frozen dataclass of what it shows). The same value is
rendered by the template (HTML) or encoded as JSON (the twin) when the request asks for it: an ``Accept`` header
preferring ``application/json``, or the page's path with a ``.json`` suffix (``/console/domains.json``).
An action (a POST) is a function that changes something and returns what it did; the HTML answer is a 303 back
to its page (Post/Redirect/Get), and a refusal re-renders that page with the error next to the form that caused
it (its code, message and hint) and the error's HTTP status. The JSON answer of an action is ``{"done": ...}`` or
the coded error.

Every response carries a strict Content-Security-Policy (scripts, styles and everything else from this origin
only: no inline script or style, no CDN), ``X-Content-Type-Options: nosniff``, ``Referrer-Policy: no-referrer``
and ``frame-ancestors 'none'`` (no framing: clickjacking). Pages are ``Cache-Control: no-store``: they show
who is logged in.
"""

from __future__ import annotations

import json
import urllib.parse
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import jinja2
import msgspec
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from hostgate.console.sessions import ConsoleSession, ConsoleSessions, check_csrf
from hostgate.errors import BodyTooLarge, ConsoleLoginRequired, HostgateError, UsageError
from hostgate.management.access import Profile
from hostgate.management.security import Principal
from hostgate.management.service import ManagementService

__all__ = [
    "COOKIE",
    "CSP",
    "Action",
    "Ctx",
    "JsonSuffix",
    "Page",
    "PageView",
    "StatusBar",
    "Views",
    "security_headers",
]

COOKIE = "__Host-hgconsole"  # __Host-: Secure, Path=/, no Domain (RFC 6265bis section 4.1.3.2)
PRELOGIN_COOKIE = "__Host-hgprelogin"  # the login form's double-submit token (no session exists yet)
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
# Sent by console.js with its own polling (a live page's refresh): not a person's activity, so it does not slide
# the idle timeout (console/sessions.py); the status bar's poll is the status page, which never does.
POLL_HEADER = "x-hostgate-poll"
_FORM_LIMIT = 64 * 1024
_JSON_KEY = "hostgate.console.json"


def security_headers(response: Response, *, cache: bool = False) -> Response:
    response.headers["Content-Security-Policy"] = CSP
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "no-referrer"
    response.headers["X-Frame-Options"] = "DENY"
    if not cache:
        response.headers["Cache-Control"] = "no-store"
    return response


class JsonSuffix:
    """``/console/x.json`` is ``/console/x`` asking for its JSON twin (the suffix is taken off the path)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"].endswith(".json") and "/static/" not in scope["path"]:
            scope = dict(scope)
            scope["path"] = scope["path"][: -len(".json")]
            scope["raw_path"] = scope["path"].encode()
            scope[_JSON_KEY] = True
        await self.app(scope, receive, send)


def wants_json(request: Request) -> bool:
    if request.scope.get(_JSON_KEY):
        return True
    accept = request.headers.get("accept", "")
    return "application/json" in accept and "text/html" not in accept


@dataclass(frozen=True, slots=True)
class StatusBar:
    """Shown on every page: which cluster, which member served this page, who is logged in (and as what)."""

    cluster: str
    cluster_id: str
    member: str
    user: str
    profile: str


@dataclass(frozen=True, slots=True)
class FormError:
    """A refused action, shown next to the form that caused it (``form``: that form's name)."""

    form: str
    code: str
    message: str
    hint: str
    # (field, why) of each problem, when the error names them (InvalidPoolDefinition): shown next to each field
    fields: tuple[tuple[str, str], ...] = ()

    def about(self, form: str, name: str) -> str:
        """Why field ``name`` of ``form`` was refused ("" when it was not)."""
        if self.form != form:
            return ""
        return "; ".join(why for where, why in self.fields if where == name)


@dataclass(frozen=True, slots=True)
class Page:
    template: str
    title: str
    data: object  # a frozen dataclass: what the page shows, and its JSON twin
    live: bool = False  # the page shows live state: the browser refreshes its regions (static/console.js)
    status: int = 200
    path: str = ""  # the page's own path when another URL answers with it (a refused action's POST)


@dataclass
class Ctx:
    """One request as a view sees it."""

    request: Request
    service: ManagementService
    sessions: ConsoleSessions
    session: ConsoleSession | None = None
    principal: Principal | None = None
    form: Mapping[str, str] = field(default_factory=dict)
    error: FormError | None = None

    @property
    def who(self) -> Principal:
        if self.principal is None:
            raise ConsoleLoginRequired("you are not logged in to the console")
        return self.principal

    def can(self, profile: Profile) -> bool:
        return self.principal is not None and self.service.access.holds(self.principal, profile)

    @property
    def source(self) -> str:
        return self.request.client.host if self.request.client else "unknown"

    def field(self, name: str) -> str:
        return self.form.get(name, "").strip()

    def int_field(self, name: str, default: int) -> int:
        raw = self.field(name)
        if not raw:
            return default
        try:
            return int(raw)
        except ValueError:
            raise UsageError(f"field {name!r}: {raw!r} is not a whole number") from None


PageView = Callable[[Ctx], Awaitable[Page]]
Action = Callable[[Ctx], Awaitable[str]]


def profile_label(service: ManagementService, principal: Principal) -> str:
    for profile in (Profile.ADMINISTRATOR, Profile.DEVELOPER, Profile.USER):
        if service.access.holds(principal, profile):
            return profile.label
    return "no cluster-wide profile"


async def read_form(request: Request) -> dict[str, str]:
    """A form (urlencoded) or a JSON object of strings; capped, so a huge body is refused before it is read."""
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > _FORM_LIMIT:
            raise BodyTooLarge(f"a console form is at most {_FORM_LIMIT} bytes")
    if request.headers.get("content-type", "").startswith("application/json"):
        try:
            parsed = json.loads(body or b"{}")
        except (ValueError, RecursionError):
            raise UsageError("the request body is not a JSON object") from None
        if not isinstance(parsed, dict):
            raise UsageError("the request body is not a JSON object")
        return {str(k): "" if v is None else str(v) for k, v in parsed.items()}
    try:
        pairs = urllib.parse.parse_qsl(body.decode(), keep_blank_values=True, max_num_fields=100)
    except (UnicodeDecodeError, ValueError):
        raise UsageError("the form cannot be read") from None
    return dict(pairs)


def payload_of(exc: HostgateError) -> dict[str, str]:
    """The coded error as the console shows it: a usage error's default hint speaks of a command's --help,
    which a console user has none of; the form is what to correct."""
    payload = exc.to_payload()
    if isinstance(exc, UsageError) and exc.hint == UsageError.hint:
        payload["hint"] = "Correct the value in the form and submit it again."
    return payload


def _jsonable(value: object) -> Any:
    return msgspec.to_builtins(value)


class Views:
    """Turns view functions and actions into Starlette endpoints (see the module doc)."""

    def __init__(
        self, service: ManagementService, sessions: ConsoleSessions, env: jinja2.Environment
    ) -> None:
        self.service = service
        self.sessions = sessions
        self.env = env

    def status_bar(self, ctx: Ctx) -> StatusBar:
        info = self.service.cluster_info()
        who = ctx.principal
        return StatusBar(
            cluster=info.name,
            cluster_id=info.id,
            member=self.service.member_name,
            user=who.name if who is not None else "",
            profile=profile_label(self.service, who) if who is not None else "",
        )

    def render(self, ctx: Ctx, page: Page) -> Response:
        bar = self.status_bar(ctx)
        if wants_json(ctx.request):
            body: dict[str, Any] = {
                "title": page.title,
                "status_bar": _jsonable(bar),
                "page": _jsonable(page.data),
            }
            if ctx.error is not None:
                body["error"] = _jsonable(ctx.error)
            return security_headers(JSONResponse(body, status_code=page.status))
        html = self.env.get_template(
            page.template
        ).render(
            page=page.data,
            title=page.title,
            live=page.live,
            bar=bar,
            path=page.path or ctx.request.url.path,
            csrf=ctx.session.csrf if ctx.session is not None else "",
            admin=ctx.can(Profile.ADMINISTRATOR),
            can_capture=ctx.can(Profile.DEVELOPER),  # the Capture page's nav entry (issue #22)
            error=ctx.error,
            done=ctx.request.query_params.get("done", "")[:200],
        )
        return security_headers(
            Response(html, status_code=page.status, media_type="text/html; charset=utf-8")
        )

    def error_page(self, ctx: Ctx, exc: HostgateError) -> Response:
        payload = payload_of(exc)
        if wants_json(ctx.request):
            return security_headers(JSONResponse(payload, status_code=exc.http_status))
        ctx.error = FormError("", payload["code"], payload["message"], payload["hint"])
        return self.render(ctx, Page("error.html", "Error", payload, status=exc.http_status))

    def _audit_refusal(self, ctx: Ctx, path: str, exc: HostgateError) -> None:
        """A refused console change leaves an audit entry, as a refused API write does (api/audit_routes.py):
        a User-profile login's forged POST or a POST without its CSRF token is worth knowing about."""
        self.service.audit.record(
            actor=ctx.principal.name if ctx.principal is not None else "-",
            action="console." + path.removeprefix("/console/").replace("/", "."),
            source=ctx.source,
            outcome=exc.code,
            detail={"message": exc.message[:200]},
        )

    def _login_redirect(self, request: Request) -> Response:
        target = urllib.parse.quote(request.url.path, safe="/")
        return security_headers(RedirectResponse(f"/console/login?next={target}", status_code=303))

    def _session(self, request: Request) -> tuple[ConsoleSession, Principal]:
        return self.sessions.find(request.cookies.get(COOKIE))

    async def _activity(self, request: Request, session: ConsoleSession) -> None:
        """A person used the console: the idle timeout starts again (not for the console's own polling)."""
        if not request.headers.get(POLL_HEADER):
            await self.sessions.touch(request.cookies.get(COOKIE) or "", session)

    def page(self, view: PageView, *, activity: bool = True) -> Callable[[Request], Awaitable[Response]]:
        """A GET page that needs a login. ``activity=False``: opening it does not slide the idle timeout (the
        status bar's poll)."""

        async def endpoint(request: Request) -> Response:
            ctx = Ctx(request, self.service, self.sessions)
            try:
                ctx.session, ctx.principal = self._session(request)
            except ConsoleLoginRequired as exc:
                if wants_json(request):
                    return security_headers(JSONResponse(exc.to_payload(), status_code=exc.http_status))
                return self._login_redirect(request)
            if activity:
                await self._activity(request, ctx.session)
            try:
                return self.render(ctx, await view(ctx))
            except HostgateError as exc:
                return self.error_page(ctx, exc)

        return endpoint

    def action(
        self, act: Action, form: str, back: PageView, back_path: str
    ) -> Callable[[Request], Awaitable[Response]]:
        """A POST that changes something: login and the session's CSRF token checked before the body is used."""

        async def endpoint(request: Request) -> Response:
            ctx = Ctx(request, self.service, self.sessions)
            try:
                ctx.session, ctx.principal = self._session(request)
                ctx.form = await read_form(request)
                check_csrf(ctx.session, request.headers.get("x-csrf-token") or ctx.form.get("csrf"))
            except ConsoleLoginRequired as exc:
                if wants_json(request):
                    return security_headers(JSONResponse(exc.to_payload(), status_code=exc.http_status))
                return self._login_redirect(request)
            except HostgateError as exc:
                self._audit_refusal(ctx, f"{back_path}/{form}", exc)
                return self.error_page(ctx, exc)
            await self._activity(request, ctx.session)
            try:
                done = await act(ctx)
            except HostgateError as exc:
                self._audit_refusal(ctx, f"{back_path}/{form}", exc)
                payload = payload_of(exc)
                problems = tuple(getattr(exc, "problems", ()))
                ctx.error = FormError(form, payload["code"], payload["message"], payload["hint"], problems)
                if wants_json(request):
                    return security_headers(JSONResponse(payload, status_code=exc.http_status))
                try:
                    page = await back(ctx)
                except HostgateError as inner:
                    return self.error_page(ctx, inner)
                status = exc.http_status
                return self.render(
                    ctx, Page(page.template, page.title, page.data, page.live, status, back_path)
                )
            if wants_json(request):
                return security_headers(JSONResponse({"done": done}))
            query = urllib.parse.urlencode({"done": done})
            return security_headers(RedirectResponse(f"{back_path}?{query}", status_code=303))

        return endpoint


def send_with_headers(app: ASGIApp) -> ASGIApp:
    """``app`` (static files) with the console's security headers on every answer (cacheable)."""

    async def wrapped(scope: Scope, receive: Receive, send: Send) -> None:
        async def stamped(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                headers += [
                    (b"content-security-policy", CSP.encode()),
                    (b"x-content-type-options", b"nosniff"),
                    (b"referrer-policy", b"no-referrer"),
                ]
                message = {**message, "headers": headers}
            await send(message)

        await app(scope, receive, stamped)

    return wrapped
