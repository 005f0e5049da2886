"""The audit trail's two places in the management API: the hook on every guarded write, and ``GET /api/v1/audit``.

The hook (:class:`WriteAudit`) runs in api/app.py ``write()`` once a write request has its answer, so every
change a face makes through a guarded route (users, domains, session servers, members, the cluster, token keys,
grants, LDAP settings: whatever routes are added later too) leaves one entry without its handler doing anything:

- who: the authenticated principal (a request the login gate did not authenticate leaves no entry: refusals
  of bad credentials are audited by the login guard, rate-limited, and an anonymous flood must not turn into
  store writes);
- from where: the client's address; what: the endpoint's name in messages/endpoints.py (``add_user``,
  ``create_domain``), so names stay stable as long as the typed client's; on what: the path parameters, else
  the body's ``name``; the outcome: ``ok`` or the answer's error code; detail: the request body's fields,
  scrubbed (no password, key, CSR or token is kept).

A duplicate of a hedged write answered from the first attempt's record (``X-Hostgate-Replayed``) applied
nothing and leaves no entry: the first attempt left one.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route, compile_path

from hostgate._bodies import reply
from hostgate.api._auth import PRINCIPAL_SCOPE_KEY
from hostgate.errors import InvalidField, UsageError
from hostgate.management.audit import AuditTrail
from hostgate.management.audit_query import Query
from hostgate.management.audit_records import AUDIT_PREFIX, AuditEntry
from hostgate.management.security import Principal
from hostgate.messages import API, Endpoint
from hostgate.messages.audit import AuditEntryView, AuditPage, parse_when

__all__ = ["WriteAudit", "audit_routes", "entry_view"]

_MAX_LIMIT = 1000


def _named_endpoints() -> list[tuple[str, re.Pattern[str], str]]:
    """(method, path pattern, endpoint name) of every management endpoint that is not a GET."""
    table = []
    for name, endpoint in vars(type(API)).items():
        if isinstance(endpoint, Endpoint) and endpoint.method != "GET":
            pattern, _, _ = compile_path(endpoint.path)
            table.append((endpoint.method, pattern, name))
    return table


class WriteAudit:
    """Records one entry per guarded write request (see the module doc)."""

    def __init__(self, trail: AuditTrail) -> None:
        self._trail = trail
        self._names = _named_endpoints()

    def action(self, method: str, path: str) -> str:
        for m, pattern, name in self._names:
            if m == method and pattern.match(path):
                return name
        return f"{method} {path}"  # a route missing from the table (a test keeps the table complete)

    def __call__(self, request: Request, status: int, body: Any, replayed: bool) -> None:
        principal = request.scope.get(PRINCIPAL_SCOPE_KEY)
        if replayed or not isinstance(principal, Principal):
            return
        params = {k: str(v) for k, v in request.path_params.items()}
        sent = _sent_body(request)
        target = "/".join(params.values()) or str(sent.get("name", ""))
        outcome = "ok"
        if status >= 400:
            outcome = str(body.get("code", f"HTTP {status}")) if isinstance(body, dict) else f"HTTP {status}"
        self._trail.record(
            actor=principal.name,
            action=self.action(request.method, request.url.path),
            target=target,
            source=request.client.host if request.client else "",
            outcome=outcome,
            detail=sent,
        )


def _sent_body(request: Request) -> dict[str, object]:
    """The request's JSON object body as the handler read it (cached by hostgate._bodies), else empty."""
    cached = getattr(request, "_body", None)
    if not isinstance(cached, bytes) or not cached:
        return {}
    try:
        value = json.loads(cached)
    except (ValueError, RecursionError):
        return {}
    return value if isinstance(value, dict) else {}


def entry_view(entry: AuditEntry) -> AuditEntryView:
    import datetime as dt

    at = dt.datetime.fromtimestamp(entry.time, dt.UTC).isoformat(timespec="milliseconds")
    return AuditEntryView(
        entry.time,
        at.replace("+00:00", "Z"),
        entry.member,
        entry.actor,
        entry.action,
        entry.target,
        entry.source,
        entry.outcome,
        dict(entry.detail),
    )


def _query(request: Request, now: float) -> Query:
    q = request.query_params
    unknown = sorted(set(q) - {"since", "until", "limit", "action", "order", "cursor"})
    if unknown:
        raise UsageError(
            f"unknown query parameter {unknown[0]!r} (known: since, until, limit, action, order, cursor)"
        )
    raw_limit = q.get("limit", "100")
    if not raw_limit.isascii() or not raw_limit.isdigit() or not 1 <= int(raw_limit) <= _MAX_LIMIT:
        raise InvalidField(f"limit {raw_limit[:20]!r} is not a whole number from 1 to {_MAX_LIMIT}")
    order = q.get("order", "newest")
    if order not in ("newest", "oldest"):
        raise InvalidField(f"order {order[:20]!r} is not one of newest, oldest")
    cursor = q.get("cursor")
    if cursor is not None and not cursor.startswith(AUDIT_PREFIX):
        raise InvalidField(f"cursor {cursor[:40]!r} is not the 'next' of an earlier page")
    since = parse_when(q["since"], now, "since") if "since" in q else None
    until = parse_when(q["until"], now, "until") if "until" in q else None
    return Query(since, until, int(raw_limit), q.get("action") or None, order == "oldest", cursor)


def audit_routes(
    trail: AuditTrail,
    principal: Callable[[Request], Principal],
    require_admin: Callable[[Principal], None],
    now: Callable[[], float],
) -> list[Route]:
    """``GET /api/v1/audit``: Administrators only (the trail names users, addresses and changes)."""

    async def audit(request: Request) -> Response:
        require_admin(principal(request))
        query = _query(request, now())
        page = await trail.read(query)
        views = tuple(entry_view(e) for e in page.entries)
        return reply(AuditPage(views, page.next, "oldest" if query.oldest_first else "newest"))

    return [Route("/api/v1/audit", audit, methods=["GET"])]
