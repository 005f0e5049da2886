"""The management service: one object whose methods every face (API, console, CLI) calls.

Reads come from the in-memory copy (:class:`ConfigCache`); writes go to the store and then wait until the
copy has seen them, so the member that made a change also shows it in its next answer.
"""

from __future__ import annotations

import asyncio
import json
import logging
import ssl
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

from hostgate import pki
from hostgate.config.settings import Settings, StoreBackend
from hostgate.errors import (
    CompareFailed,
    HostgateError,
    JoinFailed,
    LastMember,
    MemberNotFound,
    NotSupported,
    StoreCorrupt,
    StoreUnavailable,
    UsageError,
)
from hostgate.management.cache import ConfigCache
from hostgate.management.domains import DomainService
from hostgate.management.install import BOOTSTRAP_FILE, JoinGrant
from hostgate.management.records import (
    CA_KEY,
    CLUSTER_KEY,
    MEMBERS_PREFIX,
    USERS_PREFIX,
    CaRecord,
    ClusterInfo,
    MemberRecord,
    UserRecord,
    member_key,
    user_key,
)
from hostgate.management.routing import Router
from hostgate.management.security import (
    ADMIN_ROLE,
    Authenticator,
    Principal,
    hash_password,
    validate_new_password,
    validate_user_name,
)
from hostgate.management.validation import check_cluster_name
from hostgate.store.base import MemberInfo, Store, StoreStatus

__all__ = ["ClusterStatus", "JoinRequest", "ManagementService", "MemberStatus", "seed_store"]

log = logging.getLogger("hostgate.management")


@dataclass(frozen=True, slots=True)
class MemberStatus:
    name: str
    address: str
    port: int
    healthy: bool
    leader: bool
    store_healthy: bool
    detail: str


@dataclass(frozen=True, slots=True)
class ClusterStatus:
    name: str
    id: str
    answered_by: str
    store: str
    quorum: bool
    members: tuple[MemberStatus, ...]


@dataclass(frozen=True, slots=True)
class JoinRequest:
    name: str
    address: str
    port: int
    etcd_client_port: int
    etcd_peer_port: int
    csr_pem: str


async def seed_store(store: Store, data_dir: Path) -> bool:
    """Write a new cluster's records from ``bootstrap.json`` once; ``True`` if this start seeded the store."""
    path = data_dir / BOOTSTRAP_FILE
    if not path.exists():
        return False
    try:
        records: dict[str, str] = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise StoreCorrupt(f"{path} cannot be read: {exc}") from exc
    existing = await store.get(CLUSTER_KEY)
    if existing is not None:
        ours = ClusterInfo.decode(CLUSTER_KEY, records[CLUSTER_KEY].encode())
        theirs = ClusterInfo.decode(CLUSTER_KEY, existing.value)
        if ours.id != theirs.id:
            raise StoreCorrupt(f"the store already holds cluster {theirs.id}, not {ours.id}")
    else:
        for key, value in records.items():
            if key == CLUSTER_KEY:
                continue
            await store.put(key, value.encode())
        await store.put(CLUSTER_KEY, records[CLUSTER_KEY].encode())
    path.unlink()
    return existing is None


class ManagementService:
    def __init__(
        self,
        settings: Settings,
        store: Store,
        cache: ConfigCache,
        *,
        probe_timeout: float = 1.0,
    ) -> None:
        self.settings = settings
        self.store = store
        self.cache = cache
        self.auth = Authenticator(cache)
        self.router = Router()
        self.domains = DomainService(store, cache, self.router)
        self._probe_timeout = probe_timeout
        self._peer_ssl = _peer_context(settings)

    # --- reads (from memory) -----------------------------------------------------------------------------

    @property
    def member_name(self) -> str:
        return self.settings.server.member_name

    def cluster_info(self) -> ClusterInfo:
        info = self.cache.decode(CLUSTER_KEY, ClusterInfo.decode)
        if info is None:
            raise StoreUnavailable("this member has not loaded the cluster's configuration yet")
        return info

    def member_records(self) -> list[MemberRecord]:
        return [MemberRecord.decode(k, v) for k, v in self.cache.items(MEMBERS_PREFIX)]

    def authenticate(self, user: str, password: str) -> Principal:
        return self.auth.authenticate(user, password)

    async def cluster_status(self) -> ClusterStatus:
        info = self.cluster_info()
        records = self.member_records()
        store_members: list[MemberInfo] = []
        local: StoreStatus | None = None
        try:
            store_members = await asyncio.wait_for(self.store.members(), self._probe_timeout)
            local = await self.store.status()
        except (HostgateError, TimeoutError) as exc:
            log.warning("store status unavailable: %s", exc)
        names_by_id = {m.id: m.name for m in store_members}
        leader_name = names_by_id.get(local.leader_id, "") if local else ""
        if self.settings.store is StoreBackend.SQLITE:
            leader_name = self.member_name
        probes = await asyncio.gather(*(self._probe(r) for r in records))
        members = tuple(
            MemberStatus(
                name=r.name,
                address=r.address,
                port=r.port,
                healthy=api_ok and store_ok,
                leader=r.name == leader_name,
                store_healthy=store_ok,
                detail=detail,
            )
            for r, (api_ok, store_ok, detail) in zip(records, probes, strict=True)
        )
        return ClusterStatus(
            name=info.name,
            id=info.id,
            answered_by=self.member_name,
            store=str(self.settings.store),
            quorum=bool(leader_name),
            members=members,
        )

    async def _probe(self, record: MemberRecord) -> tuple[bool, bool, str]:
        """(management API up, store member up, detail) for one member, within the probe timeout."""
        faults: list[str] = []
        api_ok = record.name == self.member_name
        if not api_ok:
            try:
                async with httpx.AsyncClient(verify=self._peer_ssl, timeout=self._probe_timeout) as client:
                    resp = await client.get(f"{record.url}/api/v1/health")
                api_ok = (
                    resp.status_code == 200
                    and resp.json().get("cluster_id") == self.settings.server.cluster_id
                )
                if not api_ok:
                    faults.append(f"API answered HTTP {resp.status_code}")
            except httpx.TimeoutException:
                faults.append("API: no answer in time")
            except httpx.ConnectError:
                faults.append("API: unreachable")
            except (httpx.HTTPError, ValueError, ssl.SSLError) as exc:
                faults.append(f"API: {type(exc).__name__}")
        store_ok = True
        if self.settings.store is StoreBackend.ETCD:
            try:
                await asyncio.wait_for(self.store.status(record.client_url), self._probe_timeout)
            except (HostgateError, TimeoutError) as exc:
                store_ok = False
                faults.append("store member unreachable")
                log.debug("store member %s: %s", record.client_url, exc)
        return api_ok, store_ok, "; ".join(faults) or "ok"

    def users(self) -> list[UserRecord]:
        return [UserRecord.decode(k, v) for k, v in self.cache.items(USERS_PREFIX)]

    # --- writes (need the store's majority) ----------------------------------------------------------------

    async def _write(self, key: str, value: bytes, expected_revision: int | None = None) -> int:
        if expected_revision is None:
            revision = await self.store.put(key, value)
        else:
            revision = await self.store.compare_and_set(key, value, expected_revision)
        await self.cache.wait_for_revision(revision)
        return revision

    async def rename_cluster(self, principal: Principal, new_name: str) -> ClusterInfo:
        principal.require_admin()
        new_name = new_name.strip()
        check_cluster_name(new_name)  # `a..b` passed the older character check (issue #15, finding 8)
        for _ in range(5):
            current = await self.store.get(CLUSTER_KEY)
            if current is None:
                raise StoreUnavailable("the cluster record is missing from the store")
            info = ClusterInfo.decode(CLUSTER_KEY, current.value)
            renamed = ClusterInfo(info.id, new_name, info.created_at)
            try:
                await self._write(CLUSTER_KEY, renamed.encode(), current.mod_revision)
            except CompareFailed:
                continue
            log.info("cluster renamed from %r to %r by %s", info.name, new_name, principal.name)
            return renamed
        raise CompareFailed("the cluster record kept changing while renaming; try again")

    async def add_user(self, principal: Principal, name: str, password: str, admin: bool) -> UserRecord:
        principal.require_admin()
        validate_user_name(name)
        validate_new_password(password)
        record = UserRecord(name, hash_password(password), (ADMIN_ROLE,) if admin else ("user",))
        try:
            await self._write(user_key(name), record.encode(), 0)
        except CompareFailed:
            raise UsageError(f"user {name!r} already exists") from None
        log.info("user %s added by %s", name, principal.name)
        return record

    async def remove_user(self, principal: Principal, name: str) -> None:
        principal.require_admin()
        kv = await self.store.get(user_key(name))
        if kv is None:
            raise UsageError(f"no user named {name!r}")
        if name.lower() == principal.name.lower():
            raise UsageError("you cannot remove the account you are logged in with")
        await self.store.compare_and_delete(user_key(name), kv.mod_revision)
        await self.cache.wait_until(lambda: self.cache.get(user_key(name)) is None)

    async def join(self, principal: Principal, request: JoinRequest) -> JoinGrant:
        principal.require_admin()
        if self.settings.store is not StoreBackend.ETCD:
            raise NotSupported(
                f"member {self.member_name} runs a single-server SQLite store; members can join only a "
                "cluster installed with --store etcd"
            )
        records = self.member_records()
        for r in records:
            if r.name == request.name:
                raise JoinFailed(
                    f"a member named {request.name!r} is already in cluster {self.cluster_info().name}",
                    hint="Choose another --member-name, or `hostgate cluster remove` the old member first.",
                )
            if r.address == request.address and r.port == request.port:
                raise JoinFailed(f"{request.address}:{request.port} is already member {r.name}")
        ca_raw = self.cache.get(CA_KEY)
        if ca_raw is None:
            raise StoreUnavailable("the cluster CA is not loaded yet")
        ca = CaRecord.decode(CA_KEY, ca_raw)
        cert_pem = pki.sign_csr(
            pki.CertPair(ca.cert_pem.encode(), ca.key_pem.encode()),
            request.csr_pem.encode(),
            request.name,
            [request.address],
        )
        host = f"[{request.address}]" if ":" in request.address else request.address
        record = MemberRecord(
            request.name,
            request.address,
            request.port,
            f"https://{host}:{request.etcd_peer_port}",
            f"https://{host}:{request.etcd_client_port}",
            time.time(),
        )
        # The record goes in first: once the store counts the new member, writes need it to be running.
        await self._write(member_key(record.name), record.encode(), 0)
        try:
            # The store waits out etcd's refusal to reconfigure within 5 s of a member (re)connecting.
            _, store_members = await self.store.add_member([record.peer_url])
        except HostgateError:
            await self.store.delete(member_key(record.name))
            raise
        peers_by_url = {r.peer_url: r.name for r in [*records, record]}
        initial = ",".join(
            f"{m.name or peers_by_url.get(m.peer_urls[0], '')}={m.peer_urls[0]}" for m in store_members
        )
        log.info("member %s (%s) joined, added by %s", record.name, record.address, principal.name)
        info = self.cluster_info()
        return JoinGrant(
            info.id, info.name, cert_pem.decode(), ca.cert_pem, initial, str(self.settings.store)
        )

    async def remove_member(self, principal: Principal, name: str) -> MemberRecord:
        principal.require_admin()
        records = {r.name: r for r in self.member_records()}
        record = records.get(name)
        if record is None:
            raise MemberNotFound(
                f"no member named {name!r} (members: {', '.join(sorted(records)) or 'none'})"
            )
        if len(records) == 1:
            raise LastMember(f"{name} is the cluster's last member")
        store_members = await self.store.members()
        target = [m for m in store_members if m.name == name or record.peer_url in m.peer_urls]
        # Remove the record while the store still has its full majority, then the store member.
        kv = await self.store.get(member_key(name))
        if kv is not None:
            await self.store.compare_and_delete(member_key(name), kv.mod_revision)
        for m in target:
            await self.store.remove_member(m.id)
        log.info("member %s removed by %s", name, principal.name)
        return record


def _peer_context(settings: Settings) -> ssl.SSLContext:
    """TLS towards other members: verify them with the cluster CA, present this member's certificate."""
    ctx = ssl.create_default_context(cafile=str(settings.path(settings.tls.ca_file)))
    ctx.load_cert_chain(settings.path(settings.tls.cert_file), settings.path(settings.tls.key_file))
    return ctx
