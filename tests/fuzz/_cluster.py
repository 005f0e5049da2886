"""A fresh lone management member in process, for the fuzz tests of both faces: the shared in-process member
(tests/helpers/inprocess.py: the real ``create_app`` over a real SqliteStore, ConfigCache and
ManagementService, seeded like a new cluster) with an account with no role, session servers s1 and s2, and
domain prod with s1.

Its security settings are lenient (no fail delay, no backoff, no lockout): with the defaults every refused
login waits 0.5 s and a fuzzer's wrong passwords soon lock the Administrator out, so examples with the right
password would all be 429. A 429 with Retry-After is still a correct answer wherever it comes.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from pathlib import Path

import httpx
from starlette.types import ASGIApp, Receive, Scope, Send

from hostgate import pki
from hostgate.api.app import create_app
from hostgate.management.cache import ConfigCache
from hostgate.management.records import UserRecord, user_key
from hostgate.store.sqlite import SqliteStore
from tests.helpers import inprocess

__all__ = ["AS_SERVER_HEADER", "CLUSTER", "PASSWORD", "Member", "basic", "start_member"]

CLUSTER = inprocess.CLUSTER_ID
PASSWORD = inprocess.PASSWORD


# A request with this header is handled as if it came over TLS with session server s1's client certificate
# (what runtime/tls_scope.py puts in the ASGI scope under uvicorn), so heartbeats get past the certificate check.
AS_SERVER_HEADER = b"x-fuzz-as-server"


class _ClientCertificate:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.cert_pem = ""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and any(k == AS_SERVER_HEADER for k, _ in scope["headers"]):
            scope = {**scope, "extensions": {"tls": {"client_cert_chain": [self.cert_pem]}}}
        await self.app(scope, receive, send)


def basic(user: str, password: str) -> bytes:
    return b"Basic " + base64.b64encode(f"{user}:{password}".encode())


@dataclass
class Member:
    http: httpx.AsyncClient
    store: SqliteStore
    cache: ConfigCache

    async def close(self) -> None:
        await self.http.aclose()
        await self.cache.close()
        await self.store.close()

    async def admin(self, method: str, path: str, body: object = None) -> httpx.Response:
        resp = await self.http.request(
            method, path, json=body, headers={"Authorization": basic("admin", PASSWORD).decode()}
        )
        assert resp.status_code in (200, 201), resp.text
        return resp


def _server(name: str) -> dict[str, object]:
    csr, _key = pki.make_csr(name)
    return {
        "name": name,
        "address": "127.0.0.1",
        "port": 9,
        "advertised_address": "",
        "advertised_port": 0,
        "csr_pem": csr.decode(),
    }


async def start_member(data_dir: Path) -> Member:
    inproc = await inprocess.start_member(data_dir)
    # The fuzzer's "operator" has no role at all (the shared member's has the user role).
    revision = await inproc.store.put(
        user_key("operator"), UserRecord("operator", inprocess.password_hash(PASSWORD), ()).encode()
    )
    assert await inproc.cache.wait_for_revision(revision)
    app = _ClientCertificate(create_app(inproc.service))
    http = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="https://m1")
    member = Member(http, inproc.store, inproc.cache)
    app.cert_pem = (await member.admin("POST", "/api/v1/session-servers", _server("s1"))).json()["cert_pem"]
    await member.admin("POST", "/api/v1/session-servers", _server("s2"))
    await member.admin("POST", "/api/v1/domains", {"name": "prod"})
    await member.admin("PUT", "/api/v1/domains/prod/servers/s1", {"weight": 1, "priority": 1})
    return member
