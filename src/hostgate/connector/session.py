"""Sessions on session servers, reached "via domain" through the management cluster (async core).

``connect_via_domain`` asks the cluster (through its alias, with failover between members) for a session server
of the domain and a token bound to it, then opens a session there. When the chosen server cannot be reached,
it asks again with that server excluded and reported, within the same overall deadline (session-server
failover). A session whose server goes away raises ``SessionLost``; connecting via the domain again lands on
another server.
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Self

import httpx

from hostgate.connector.cluster import ClusterClient
from hostgate.errors import (
    HostgateError,
    NoServerAvailable,
    SessionLost,
    error_from_payload,
)

__all__ = ["AsyncSession", "connect_via_domain"]


@dataclass(slots=True)
class AsyncSession:
    """An open session on a session server.

    >>> async with await connect_via_domain("vhi-prod-sea", "prod", "orders", user="u", password="p",
    ...                                     ca_file=Path("ca.pem")) as session:
    ...     await session.ping()
    """

    id: str
    server: str
    url: str
    token: str
    model: str
    _http: httpx.AsyncClient = field(repr=False)
    closed: bool = False

    async def _call(self, method: str, path: str, body: Any = None) -> Any:
        if self.closed:
            raise SessionLost(f"session {self.id} is closed")
        try:
            resp = await self._http.request(
                method, f"{self.url}{path}", json=body, headers={"Authorization": f"Bearer {self.token}"}
            )
        except httpx.HTTPError as exc:
            raise SessionLost(
                f"session {self.id} on session server {self.server} is lost ({type(exc).__name__})"
            ) from exc
        payload = resp.json() if resp.content else None
        if resp.status_code >= 400:
            raise error_from_payload(payload, resp.status_code)
        return payload

    async def ping(self) -> dict[str, Any]:
        """A round trip to the session (proves the session and its server are alive)."""
        result: dict[str, Any] = await self._call("POST", f"/api/v1/sessions/{self.id}/ping")
        return result

    async def info(self) -> dict[str, Any]:
        result: dict[str, Any] = await self._call("GET", f"/api/v1/sessions/{self.id}")
        return result

    async def close(self) -> None:
        if self.closed:
            return
        try:
            await self._call("DELETE", f"/api/v1/sessions/{self.id}")
        except HostgateError:
            pass  # closing a session whose server is gone is not an error for the caller
        finally:
            self.closed = True
            await self._http.aclose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()


async def connect_via_domain(
    alias: str,
    domain: str,
    model: str,
    *,
    user: str,
    password: str,
    ca_file: Path,
    hosts_file: Path | None = None,
    dns_servers: Sequence[str] = (),
    deadline: float = 10.0,
    server_connect_timeout: float = 2.0,
) -> AsyncSession:
    """Open a session on a session server of ``domain`` (VHI ``ConnectToModelViaDomain``)."""
    cluster = ClusterClient(
        alias, ca_file=ca_file, user=user, password=password, hosts_file=hosts_file, dns_servers=dns_servers,
        deadline=deadline,
    )  # fmt: skip
    loop = asyncio.get_running_loop()
    give_up = loop.time() + deadline
    tried: list[str] = []
    unreachable: list[str] = []
    tls = ssl.create_default_context(cafile=str(ca_file))
    last_error: HostgateError | None = None
    while loop.time() < give_up:
        answer = await cluster.request(
            "POST",
            "/api/v1/route",
            {"domain": domain, "model": model, "exclude": tried, "unreachable": unreachable},
        )
        route = answer.payload
        http = httpx.AsyncClient(
            verify=tls, timeout=httpx.Timeout(max(0.1, give_up - loop.time()), connect=server_connect_timeout)
        )
        try:
            resp = await http.post(
                f"{route['url']}/api/v1/sessions",
                json={"model": model},
                headers={"Authorization": f"Bearer {route['token']}"},
            )
        except httpx.HTTPError as exc:
            await http.aclose()
            tried.append(route["server"])
            unreachable = [route["server"]]
            last_error = SessionLost(
                f"session server {route['server']} did not answer ({type(exc).__name__})"
            )
            continue
        if resp.status_code >= 400:
            await http.aclose()
            raise error_from_payload(resp.json() if resp.content else None, resp.status_code)
        session = resp.json()
        return AsyncSession(session["id"], route["server"], route["url"], route["token"], model, http)
    raise NoServerAvailable(
        f"no session server of domain {domain!r} could be reached before the deadline"
        + (f" (last: {last_error.message})" if last_error else ""),
    )
