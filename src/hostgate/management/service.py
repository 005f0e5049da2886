"""The management service: one object whose methods every face (API, console, CLI) calls.

Reads come from the in-memory copy (:class:`ConfigCache`); writes go to the store and then wait until the
copy has seen them, so the member that made a change also shows it in its next answer. A write the copy has not
shown within ``visibility_timeout`` is still a success (it is committed), answered as "visibility: pending"
(``store.guard.note_unseen``). Write requests run as guarded calls (``self.writes``, management/writes.py).
"""

from __future__ import annotations

import asyncio
import json
import logging
import ssl
import time
from pathlib import Path
from urllib.parse import urlsplit

import httpx
from msgspec.structs import replace

from hostgate import pki
from hostgate.config.settings import Settings, StoreBackend
from hostgate.errors import (
    CompareFailed,
    Conflict,
    HostgateError,
    LastMember,
    MemberExists,
    MemberNotFound,
    NotSupported,
    StoreCorrupt,
    StoreUnavailable,
    UsageError,
    UserNotFound,
)
from hostgate.management.access import Access
from hostgate.management.audit import AuditTrail
from hostgate.management.cache import ConfigCache
from hostgate.management.deployments import DeploymentService
from hostgate.management.domains import DomainService
from hostgate.management.grant_admin import GrantAdmin, refuse_builtin_admin
from hostgate.management.install import BOOTSTRAP_FILE
from hostgate.management.pools import PoolAdmin
from hostgate.management.records import (
    CA_KEY,
    CLUSTER_KEY,
    ETCD_CA_KEY,
    MEMBERS_PREFIX,
    USERS_PREFIX,
    CaRecord,
    ClusterInfo,
    GrantRecord,
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
from hostgate.management.writes import WriteCalls
from hostgate.messages import ClusterStatus, JoinGrant, JoinRequest, MemberStatus
from hostgate.naming.target import url_host
from hostgate.store.base import MemberInfo, Store, StoreStatus
from hostgate.store.guard import note_unseen

__all__ = ["ClusterStatus", "JoinRequest", "ManagementService", "MemberStatus", "seed_store"]

log = logging.getLogger("hostgate.management")


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
    """The cluster's operations, one method each, for every face (API, console, CLI through the API).

    Guarantees:

    - **Reads come from memory.** ``cluster_info``, ``member_records``, ``users`` and ``authenticate`` read the
      member's copy (:class:`ConfigCache`), never the store, so they answer while any one member is up;
      ``cluster_status`` also asks the store and the other members, each bounded by ``probe_timeout``, and
      reports what did not answer instead of failing.
    - **Checked before written.** Every change first checks that the principal is an Administrator
      (``NotAuthorized``, HG-3002) and then the input (coded ``UsageError``/``InvalidField``); a refused
      request writes nothing.
    - **Read-your-writes.** A change returns once this member's copy shows it, or after
      ``visibility_timeout`` as a committed success marked "visibility: pending" (``store.guard.note_unseen``);
      never as an error that would tempt a retry.
    - **Compare-and-set, not last-writer-wins**, where a change depends on what is stored (rename, new user,
      new member record): a concurrent change makes it re-read (rename) or refuse ("already exists").
    - Membership changes keep the store's majority safe: a joiner is added as an etcd learner after its record
      is written (the record is removed again if the store refuses); a removal deletes the record while the
      full majority is still there, then the store member. A lone SQLite member refuses both with coded
      errors (``NotSupported``, ``LastMember``).

    Not thread-safe: use it from the server's event loop. ``authenticate`` runs argon2 in the calling thread
    (~0.1 s); the HTTP face calls it through ``LoginGuard``, off the loop and throttled.
    """

    def __init__(
        self,
        settings: Settings,
        store: Store,
        cache: ConfigCache,
        *,
        probe_timeout: float = 1.0,
        visibility_timeout: float = 5.0,
    ) -> None:
        self.settings = settings
        self.store = store
        self.cache = cache
        self.auth = Authenticator(cache)
        self.access = Access(cache)  # profiles and grants (management/access.py)
        self.grant_admin = GrantAdmin(store, cache, self.access, visibility_timeout=visibility_timeout)
        # Who changed what (management/audit.py): stored in the cluster, outside this member's copy.
        self.audit = AuditTrail(store, settings.server.member_name, settings.audit)
        self.router = Router()
        self.domains = DomainService(
            store, cache, self.router, visibility_timeout=visibility_timeout, access=self.access
        )
        self.writes = WriteCalls(store, settings.server.member_name)
        # Model deployments through a management session (management/deployments.py).
        self.deployments = DeploymentService(
            store,
            cache,
            self.domains,
            self.access,
            self.audit,
            settings.server.member_name,
            visibility_timeout=visibility_timeout,
        )
        # Pool definitions stored in the cluster and their delivery to session servers (management/pools.py).
        self.pools = PoolAdmin(store, cache, self.domains, self.access, visibility_timeout=visibility_timeout)
        self._visibility_timeout = visibility_timeout
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
        learners = {m.name for m in store_members if m.is_learner} | {
            r.name for r in records for m in store_members if m.is_learner and r.peer_url in m.peer_urls
        }
        members = tuple(
            MemberStatus(
                name=r.name,
                address=r.address,
                port=r.port,
                healthy=api_ok and store_ok,
                leader=r.name == leader_name,
                store_healthy=store_ok,
                detail=detail,
                role="learner" if r.name in learners else "voter",
            )
            for r, (api_ok, store_ok, detail) in zip(records, probes, strict=True)
        )
        return _with_fault_tolerance(
            ClusterStatus(
                name=info.name,
                id=info.id,
                answered_by=self.member_name,
                store=str(self.settings.store),
                quorum=bool(leader_name),
                members=members,
            ),
            etcd=self.settings.store is StoreBackend.ETCD,
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
                    code = _error_code(resp)
                    faults.append(f"API answered HTTP {resp.status_code}" + (f" ({code})" if code else ""))
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
        if not await self.cache.wait_for_revision(revision, self._visibility_timeout):
            note_unseen(revision)
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
            raise Conflict(f"user {name!r} already exists") from None
        if admin:
            # The account's cluster-wide Administrator grant (grants are the truth; the role stays in the
            # record for members of an earlier version during a rolling upgrade).
            await self.grant_admin.add(principal, GrantRecord("administrator", "user", name, "cluster"))
        log.info("user %s added by %s", name, principal.name)
        return record

    async def remove_user(self, principal: Principal, name: str) -> None:
        principal.require_admin()
        refuse_builtin_admin(name)
        kv = await self.store.get(user_key(name))
        if kv is None:
            raise UserNotFound(f"no user named {name!r}")
        if name.lower() == principal.name.lower():
            raise UsageError("you cannot remove the account you are logged in with")
        # Refuses the built-in admin and the last local Administrator; drops the account's own grants.
        await self.grant_admin.drop_user(principal, name)
        await self.store.compare_and_delete(user_key(name), kv.mod_revision)
        if not await self.cache.wait_until(
            lambda: self.cache.get(user_key(name)) is None, self._visibility_timeout
        ):
            note_unseen(kv.mod_revision + 1)

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
                raise MemberExists(
                    f"a member named {request.name!r} is already in cluster {self.cluster_info().name}"
                )
            if r.address == request.address and r.port == request.port:
                raise MemberExists(f"{request.address}:{request.port} is already member {r.name}")
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
        etcd_ca, etcd_cert_pem = self._sign_etcd_cert(request)
        host = url_host(request.address)
        record = MemberRecord(
            request.name,
            request.address,
            request.port,
            f"https://{host}:{request.etcd_peer_port}",
            f"https://{host}:{request.etcd_client_port}",
            time.time(),
        )
        # The record goes in first, so that the new member finds it (and its peers' records) when it starts.
        await self._write(member_key(record.name), record.encode(), 0)
        try:
            # As an etcd learner: it does not count towards the majority until it has started, caught up and
            # promoted itself (runtime/membership.py), so a join that is never started costs no fault
            # tolerance. The store waits out etcd's refusal to reconfigure within 5 s of a (re)connect.
            _, store_members = await self.store.add_member([record.peer_url], learner=True)
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
            info.id,
            info.name,
            cert_pem.decode(),
            ca.cert_pem,
            initial,
            str(self.settings.store),
            etcd_ca_pem=etcd_ca.cert_pem,
            etcd_cert_pem=etcd_cert_pem.decode(),
        )

    def _sign_etcd_cert(self, request: JoinRequest) -> tuple[CaRecord, bytes]:
        """The joiner's etcd client/peer certificate, from the member-only etcd CA (same key as its API one)."""
        raw = self.cache.get(ETCD_CA_KEY)
        if raw is None:
            raise StoreUnavailable("the member-only etcd CA is not loaded yet")
        etcd_ca = CaRecord.decode(ETCD_CA_KEY, raw)
        cert_pem = pki.sign_csr(
            pki.CertPair(etcd_ca.cert_pem.encode(), etcd_ca.key_pem.encode()),
            request.csr_pem.encode(),
            request.name,
            [request.address],
        )
        return etcd_ca, cert_pem

    async def remove_member(self, principal: Principal, name: str) -> MemberRecord:
        principal.require_admin()
        records = {r.name: r for r in self.member_records()}
        record = records.get(name)
        if record is None:
            leftover = await self._remove_leftover_store_member(name)
            if leftover is not None:
                return leftover
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

    async def _remove_leftover_store_member(self, name: str) -> MemberRecord | None:
        """A member whose record is gone but whose etcd member stayed (an earlier removal that failed half-way):
        finish the removal. The removed member itself waits for exactly this before it stops its etcd."""
        if self.settings.store is not StoreBackend.ETCD:
            return None
        leftover = [m for m in await self.store.members() if m.name == name]
        for m in leftover:
            await self.store.remove_member(m.id)
        if not leftover:
            return None
        log.info("etcd member %s (no member record left) removed", name)
        peer = leftover[0].peer_urls[0] if leftover[0].peer_urls else ""
        address = urlsplit(peer).hostname or ""
        return MemberRecord(name, address, 0, peer, "", 0.0)


def _error_code(resp: httpx.Response) -> str:
    """The hostgate error code of an error answer (HG-4011: not ready yet, HG-4010: removed), if any."""
    try:
        body = resp.json()
    except ValueError:
        return ""
    return str(body.get("code", "")) if isinstance(body, dict) else ""


def _with_fault_tolerance(status: ClusterStatus, *, etcd: bool) -> ClusterStatus:
    """Add the voting count, how many more voters may fail before writes stop, and whether it is degraded."""
    voters = [m for m in status.members if m.role == "voter"]
    up = sum(1 for m in voters if m.store_healthy)
    majority = len(voters) // 2 + 1
    tolerance = max(0, up - majority) if status.quorum else 0
    degraded = etcd and (not status.quorum or any(not m.healthy or m.role != "voter" for m in status.members))
    return replace(status, voters=len(voters), fault_tolerance=tolerance, degraded=degraded)


def _peer_context(settings: Settings) -> ssl.SSLContext:
    """TLS towards other members: verify them with the cluster CA, present this member's certificate."""
    ctx = ssl.create_default_context(cafile=str(settings.path(settings.tls.ca_file)))
    ctx.load_cert_chain(settings.path(settings.tls.cert_file), settings.path(settings.tls.key_file))
    return ctx
