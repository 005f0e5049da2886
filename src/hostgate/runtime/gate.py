"""``ApiGate``: the management API's front door while the member cannot (or may no longer) serve.

``hostgate server`` binds its HTTPS port at once, before the store is ready, so that a member waiting for a
majority after a cold start, or catching up as a learner, can say so, and a member that was removed can say
that. Until :meth:`ApiGate.open` hands it the real application, and again after :meth:`ApiGate.refuse`, every
request (``/api/v1/health`` included) is answered ``503`` with the coded error, stamped like every other
answer with the cluster id and member name. The connector counts these codes as "not answering" and moves on
to the next member (``connector/cluster.py``), as it does for ``HG-2001``.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from hostgate.errors import HostgateError, MemberNotReady

__all__ = ["ApiGate"]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
App = Callable[[Scope, Receive, Send], Awaitable[None]]


class ApiGate:
    """An ASGI application that forwards to the real API only while the member serves."""

    def __init__(self, cluster_id: str, member: str) -> None:
        self._cluster_id = cluster_id
        self._member = member
        self._app: App | None = None
        self._refusal: HostgateError | None = MemberNotReady(f"member {member} is starting")
        self._detail: dict[str, Any] = {"state": "starting"}

    @property
    def serving(self) -> bool:
        return self._refusal is None and self._app is not None

    @property
    def refusal(self) -> HostgateError | None:
        return self._refusal

    def open(self, app: App) -> None:
        """Serve ``app`` from now on."""
        self._app = app
        self._refusal = None
        self._detail = {}

    def refuse(self, error: HostgateError, **detail: Any) -> None:
        """Answer every request with ``error`` (503) and ``detail`` in the body, from now on."""
        self._refusal = error
        self._detail = detail

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        refusal = self._refusal
        if refusal is None and self._app is not None:
            await self._app(scope, receive, send)
            return
        if scope["type"] != "http":
            return
        error = refusal or MemberNotReady(f"member {self._member} is starting")
        body = json.dumps(
            {**error.to_payload(), **self._detail, "member": self._member, "cluster_id": self._cluster_id}
        ).encode()
        headers = [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
            (b"x-hostgate-cluster-id", self._cluster_id.encode()),
            (b"x-hostgate-member", self._member.encode()),
        ]
        await send({"type": "http.response.start", "status": error.http_status, "headers": headers})
        await send({"type": "http.response.body", "body": body})
