"""``GET /metrics`` on each HTTP face of a server, and the request timer around everything else (ASGI).

:class:`MetricsFace` is the outermost app of a face (outside the management API's gate, so a member waiting
for its majority is still measured and scraped). It answers ``/metrics`` itself and times every other request
by its route *template* (``/api/v1/domains/{name}``; Starlette's router and the session face leave the matched
``Route`` in ``scope["route"]``; the management API's two hot paths are recognised by the endpoint they set).

Who may scrape (docs/metrics.md): whoever holds the scrape token, a random secret kept in
``DATA_DIR/metrics-token`` (0600, made at the first start), sent as ``Authorization: Bearer TOKEN`` (Prometheus:
``authorization: {credentials_file: ...}``). No token, no figures: the names of domains, servers and models and
the rates of logins are nobody else's business. A cluster account is not used on purpose: session servers
have no accounts, and a scraper holding an account's password could log in.
"""

from __future__ import annotations

import hmac
import json
import os
import secrets
from pathlib import Path
from time import perf_counter
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from hostgate.api._hot import HEARTBEAT_PATH, ROUTE_PATH
from hostgate.config.settings import Settings
from hostgate.errors import ConfigError, HostgateError, MetricsAccessDenied
from hostgate.metrics import CONTENT_TYPE, NO_ROUTE, ServerMetrics

__all__ = ["METRICS_PATH", "MetricsFace", "ensure_token"]

METRICS_PATH = "/metrics"
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
_HOT_ENDPOINT = "hostgate.hot_endpoint"  # set by api/_hot.py HotRoutes.match on its two paths


def ensure_token(settings: Settings) -> bytes | None:
    """The scrape token (made, 0600, when its file is missing); ``None`` when ``[metrics] token_file`` is ""."""
    if not settings.metrics.token_file:
        return None
    path = settings.path(settings.metrics.token_file)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        pass
    except OSError as exc:
        raise ConfigError(f"metrics.token_file: cannot create {path}: {exc.strerror}") from exc
    else:
        with os.fdopen(fd, "w", encoding="ascii") as f:
            f.write(secrets.token_urlsafe(32) + "\n")
    try:
        token = Path(path).read_text(encoding="ascii").strip()
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"metrics.token_file: cannot read {path}: {exc}") from exc
    if len(token) < 16:
        raise ConfigError(
            f"metrics.token_file: {path} holds fewer than 16 characters; a scrape token must be long"
        )
    return token.encode("ascii")


def _template(scope: Scope) -> str:
    route = scope.get("route")
    if route is not None:
        path: str = route.path
        return path
    if scope.get(_HOT_ENDPOINT) is not None:
        return ROUTE_PATH if scope["path"] == ROUTE_PATH else HEARTBEAT_PATH
    return NO_ROUTE


class MetricsFace:
    """The outermost ASGI app of one face: ``/metrics`` (with the token), and a timer around ``app``."""

    def __init__(self, app: ASGIApp, metrics: ServerMetrics, face: str, token: bytes | None) -> None:
        self.app = app
        self.metrics = metrics
        self.face = face
        self._token = token
        self._observe = metrics.request_observer()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if scope["path"] == METRICS_PATH and self._token is not None:
            await self._scrape(scope, send)
            return
        # Every request of the face passes here, the routing and heartbeat hot paths included: kept to a clock
        # read, a wrapped send and one histogram observation (bench/metrics_cost.py).
        started = perf_counter()
        status = 500  # what the client saw if the app never answered (the boundary answers every error)

        async def send_timed(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_timed)
        finally:
            method = scope["method"]
            self._observe(
                (self.face, method if method in _METHODS else "OTHER", _template(scope), status),
                perf_counter() - started,
            )

    async def _scrape(self, scope: Scope, send: Send) -> None:
        error: HostgateError | None = None
        if scope["method"] not in ("GET", "HEAD"):
            error = MetricsAccessDenied("/metrics answers GET only")
        elif not self._authorized(scope):
            error = MetricsAccessDenied("/metrics needs the scrape token (Authorization: Bearer)")
        if error is not None:
            body = json.dumps(error.to_payload()).encode()
            headers = [
                (b"content-type", b"application/json"),
                (b"www-authenticate", b'Bearer realm="metrics"'),
            ]
            await _answer(
                send, error.http_status if scope["method"] in ("GET", "HEAD") else 405, headers, body
            )
            return
        text = self.metrics.exposition()
        await _answer(
            send, 200, [(b"content-type", CONTENT_TYPE.encode())], b"" if scope["method"] == "HEAD" else text
        )

    def _authorized(self, scope: Scope) -> bool:
        assert self._token is not None
        for name, value in scope["headers"]:
            if name == b"authorization":
                scheme, _, given = bytes(value).partition(b" ")
                return scheme.lower() == b"bearer" and hmac.compare_digest(given.strip(), self._token)
        return False


async def _answer(send: Send, status: int, headers: list[tuple[bytes, bytes]], body: bytes) -> None:
    start: dict[str, Any] = {
        "type": "http.response.start",
        "status": status,
        "headers": [*headers, (b"content-length", b"%d" % len(body)), (b"cache-control", b"no-store")],
    }
    await send(start)
    await send({"type": "http.response.body", "body": body})
