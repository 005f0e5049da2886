"""A lone management member in process: the real ``ManagementService`` over a real ``SqliteStore`` and
``ConfigCache``, its HTTP face through ``httpx.ASGITransport`` (no sockets, no subprocesses).

Seeded like a new cluster: cluster record, CA, the member's own record, token keys, an Administrator
(``admin``, holding cluster-wide Administrator) and an account with the plain user role (``operator``, no
grant: ``await member.grant("user", "operator")`` before it routes). Login throttling is off (no fail delay, no
backoff, no lockout) so that refused logins cost no time; tests of the throttle use ``LoginGuard`` directly.

    member = await start_member(tmp_path)
    async with member.http() as api:
        assert (await api.get("/api/v1/whoami")).json()["name"] == "admin"
"""

from __future__ import annotations

import functools
import time
from dataclasses import dataclass
from pathlib import Path

import argon2
import httpx

from hostgate import pki
from hostgate.api.app import create_app
from hostgate.config.settings import SecuritySettings, ServerSettings, Settings, StoreBackend
from hostgate.management.cache import ConfigCache
from hostgate.management.grant_admin import ensure_grants
from hostgate.management.records import (
    CA_KEY,
    CLUSTER_KEY,
    ETCD_CA_KEY,
    PREFIX,
    CaRecord,
    ClusterInfo,
    GrantRecord,
    MemberRecord,
    UserRecord,
    member_key,
    user_key,
)
from hostgate.management.security import ADMIN_ROLE, Principal
from hostgate.management.service import ManagementService
from hostgate.management.token_keys import ensure_token_keys
from hostgate.store.sqlite import SqliteStore
from tests.helpers.etcd import write_member_files

__all__ = [
    "ADMIN",
    "CLUSTER_ID",
    "CLUSTER_NAME",
    "OPERATOR",
    "PASSWORD",
    "InProcessMember",
    "password_hash",
    "start_member",
]

CLUSTER_ID = "test-cluster"
CLUSTER_NAME = "vhi-prod-sea"
PASSWORD = "correct-horse-battery"
MEMBER = "m1"
ADMIN = Principal("admin", (ADMIN_ROLE,))
OPERATOR = Principal("operator", ("user",))


# The seeded accounts' hashes: argon2id like production's, at the lowest cost argon2 allows. A hash carries its
# own parameters and the member verifies with them (argon2-cffi reads them from the hash), so the code path is
# the production one, but each login check of a seeded account costs microseconds, not ~0.3 s of CPU and 64 MiB
# (several per test, hundreds per run). Passwords set through the service (user add, passwd) and the dummy
# hash for unknown users keep production's cost (security.hash_password).
_SEED_HASHER = argon2.PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)


@functools.cache
def password_hash(password: str) -> str:
    """An argon2id hash of a test account's password, cheap to verify (see ``_SEED_HASHER``), made once."""
    return _SEED_HASHER.hash(password)


LENIENT = SecuritySettings(
    login_fail_delay=0.0,
    login_free_failures=1_000_000,
    lockout_failures=1_000_000,
    login_backoff=0.001,
    login_backoff_max=0.001,
)


@dataclass
class InProcessMember:
    settings: Settings
    store: SqliteStore
    cache: ConfigCache
    service: ManagementService
    ca: pki.CertPair

    def http(self, user: str = "admin", password: str = PASSWORD) -> httpx.AsyncClient:
        """A client of the member's JSON API (in process), with these Basic credentials (none if ``user`` is
        empty)."""
        return httpx.AsyncClient(
            transport=httpx.ASGITransport(app=create_app(self.service)),
            base_url=f"https://{MEMBER}",
            auth=(user, password) if user else None,
        )

    async def grant(self, profile: str, user: str, scope_kind: str = "cluster", scope: str = "") -> None:
        """Grant ``profile`` to ``user`` (cluster-wide unless a scope is named), as the built-in admin."""
        await self.service.grant_admin.add(ADMIN, GrantRecord(profile, "user", user, scope_kind, scope))

    async def close(self) -> None:
        await self.service.audit.close()
        await self.cache.close()
        await self.store.close()


async def start_member(data_dir: Path, *, visibility_timeout: float = 5.0) -> InProcessMember:
    ca = pki.create_ca(CLUSTER_ID)
    write_member_files(data_dir, ca, MEMBER, "127.0.0.1")
    settings = Settings(
        data_dir=data_dir,
        server=ServerSettings(member_name=MEMBER, address="127.0.0.1", cluster_id=CLUSTER_ID),
        store=StoreBackend.SQLITE,
        security=LENIENT,
    )
    store = SqliteStore(data_dir / "store.sqlite3", member_name=MEMBER)
    ca_record = CaRecord(ca.cert_pem.decode(), ca.key_pem.decode()).encode()
    seeds = {
        CLUSTER_KEY: ClusterInfo(CLUSTER_ID, CLUSTER_NAME, time.time()).encode(),
        CA_KEY: ca_record,
        ETCD_CA_KEY: ca_record,
        member_key(MEMBER): MemberRecord(MEMBER, "127.0.0.1", 9443, "", "", time.time()).encode(),
        user_key("admin"): UserRecord("admin", password_hash(PASSWORD), (ADMIN_ROLE,)).encode(),
        user_key("operator"): UserRecord("operator", password_hash(PASSWORD), ("user",)).encode(),
    }
    for key, value in seeds.items():
        await store.put(key, value)
    cache = ConfigCache(store, PREFIX)
    await cache.start()
    await ensure_token_keys(store, cache)
    await ensure_grants(store, cache)  # as a member's start does: admin's role becomes its grant
    service = ManagementService(settings, store, cache, visibility_timeout=visibility_timeout)
    return InProcessMember(settings, store, cache, service, ca)
