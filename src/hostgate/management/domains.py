"""Session servers, load-distribution domains and "connect via domain" routing, as service functions.

Durable facts (a session server's registration, domains and their members) are store records; liveness and
load are the router's soft state, fed by heartbeats to every management member. Routing reads only memory, so
it keeps working while any one management member is up.
"""

from __future__ import annotations

import dataclasses
import logging
import re
import time
from dataclasses import dataclass

from hostgate import pki, tokens
from hostgate.errors import (
    AuthenticationFailed,
    CompareFailed,
    Conflict,
    DomainNotFound,
    InvalidField,
    NotAuthorized,
    ServerCertificateRefused,
    SessionServerNotFound,
    StoreUnavailable,
    UsageError,
)
from hostgate.management.access import Access, Profile
from hostgate.management.cache import ConfigCache
from hostgate.management.records import (
    CA_KEY,
    CLUSTER_KEY,
    DOMAINS_PREFIX,
    SESSION_SERVERS_PREFIX,
    CaRecord,
    ClusterInfo,
    DomainMember,
    DomainRecord,
    SessionServerRecord,
    domain_key,
    session_server_key,
)
from hostgate.management.route_reports import RouteReports
from hostgate.management.routing import MAX_PRIORITY, MAX_WEIGHT, MIN_PRIORITY, MIN_WEIGHT, Heartbeat, Router
from hostgate.management.security import Principal
from hostgate.management.token_keys import TokenKeys
from hostgate.management.validation import check_host, check_ip, check_port
from hostgate.messages import RouteAnswer, ServerView, SessionGrant
from hostgate.store.base import Store
from hostgate.store.guard import note_unseen

__all__ = ["DomainService", "RouteAnswer", "ServerView"]

log = logging.getLogger("hostgate.management.domains")
# Where deployment records live (management/deployments.py, which imports this module).
DEPLOYMENTS_PREFIX = "/hostgate/deployments/"
_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
SESSION_TOKEN_TTL = tokens.SESSION_TOKEN_TTL


# One decoder object each: ConfigCache memoises by (key, decoder), and a bound classmethod is a new object
# (hashed anew) at every attribute access.
_DECODE_SERVER = SessionServerRecord.decode
_DECODE_DOMAIN = DomainRecord.decode
_ROUTE_MEMORY = 10_000  # entries per route memo: bounded whatever domains, users and models clients name


@dataclass(frozen=True, slots=True)
class _RoutePlan:
    """What routing needs of one domain, read from the copy at ``revision`` (issue #16: re-reading the domain,
    each server's record and the cluster record on every call was two fifths of a route call's CPU)."""

    revision: int
    record: DomainRecord
    servers: dict[str, SessionServerRecord]  # the domain's registered servers
    cluster_id: str | None  # None before the cluster record is loaded (answered when a token is minted)


def _check_name(what: str, name: str) -> None:
    if not _NAME_RE.match(name):
        raise UsageError(f"{what} name {name!r} must be letters, digits, '.', '_' or '-' (at most 64)")


class DomainService:
    """Session servers, domains, heartbeats and "connect via domain" routing, for every face.

    Guarantees:

    - **Routing never reads the store.** ``route``, ``grant_direct``, ``heartbeat``, ``authenticate_server`` and
      ``server_views`` read the member's copy and the :class:`Router`'s memory only, so they keep working
      while any one management member is up (and keep the routing path independent of the store's speed).
    - **Heartbeats are authenticated by the certificate alone:** the TLS client certificate must be the one
      registered for the server the heartbeat names (its fingerprint is in the server's record), so a removed
      server's certificate stops counting as soon as the removal is shown, and no server can speak for
      another. Impossible figures are refused (``InvalidField``) before anything changes.
    - **Changes** are for Administrators only, checked whole before anything is written, and shown by this
      member's next read (or answered "visibility: pending"). Domain membership is updated by
      compare-and-set with re-reads, so two members editing one domain at once lose neither change.
    - **A route request that fails changes nothing:** the domain is looked up first; an "unreachable" report
      counts only for a server this member routed that same user to (:class:`RouteReports`), and then only
      until that server's next heartbeat.
    - **Tokens only for granted users:** ``route`` and ``grant_direct`` need the User profile on the model, on
      the domain (a domain grant covers the models routed through it and its servers) or cluster-wide
      (``Access.require``, NotAuthorized HG-3002 naming the user, the model/domain and the grant to add).
    - Tokens are minted with the cluster's current signing key, bound to one session server, user, model and
      domain, valid for ``SESSION_TOKEN_TTL`` seconds; an account without a role gets none.

    Not thread-safe: use it from the server's event loop. Liveness is per member (soft state, not replicated).
    """

    def __init__(
        self,
        store: Store,
        cache: ConfigCache,
        router: Router,
        *,
        visibility_timeout: float = 5.0,
        access: Access | None = None,
    ) -> None:
        self.store = store
        self.cache = cache
        self.router = router
        self.access = access or Access(cache)  # who may connect to which model (management/access.py)
        self.token_keys = TokenKeys(store, cache)
        self._visibility_timeout = visibility_timeout
        self.reports = RouteReports(clock=router.clock)
        # Routing's memory of the copy, valid while the copy's revision is the one noted (any change to the
        # configuration, grants included, starts it again): per domain its plan; per (principal, model, domain)
        # the revision at which Access.require let it route.
        self._route_plans: dict[str, _RoutePlan] = {}
        self._route_allowed: dict[tuple[Principal, str, str], int] = {}

    async def _seen(self, revision: int) -> None:
        """Wait until this member's copy shows ``revision``; past the wait, the answer says "pending"."""
        if not await self.cache.wait_for_revision(revision, self._visibility_timeout):
            note_unseen(revision)

    async def _gone(self, key: str, revision: int) -> None:
        """Wait until this member's copy no longer holds ``key`` (deleted before ``revision``)."""
        if not await self.cache.wait_until(lambda: self.cache.get(key) is None, self._visibility_timeout):
            note_unseen(revision)

    # --- reads ---------------------------------------------------------------------------------------------

    def _cluster(self) -> ClusterInfo:
        info = self.cache.decode(CLUSTER_KEY, ClusterInfo.decode)
        if info is None:
            raise StoreUnavailable("this member has not loaded the cluster's configuration yet")
        return info

    def servers(self) -> dict[str, SessionServerRecord]:
        # cache.decode: each record decoded once per stored value. The routing loop asks every second, and
        # decoding 1,000 records anew each time was a tenth of a member's heartbeat CPU (bench/routing.py).
        out: dict[str, SessionServerRecord] = {}
        for key, _ in self.cache.items(SESSION_SERVERS_PREFIX):
            rec = self.cache.decode(key, _DECODE_SERVER)
            if rec is not None:
                out[rec.name] = rec
        return out

    def domains(self) -> list[DomainRecord]:
        found = (self.cache.decode(k, DomainRecord.decode) for k, _ in self.cache.items(DOMAINS_PREFIX))
        return [rec for rec in found if rec is not None]

    def domain(self, name: str) -> DomainRecord:
        rec = self.cache.decode(domain_key(name), _DECODE_DOMAIN)
        if rec is None:
            raise DomainNotFound(f"no domain named {name!r}")
        return rec

    def server_views(self) -> list[ServerView]:
        now = self.router.clock.monotonic()
        member_of: dict[str, list[str]] = {}
        for d in self.domains():
            for m in d.members:
                member_of.setdefault(m.server, []).append(d.name)
        views = []
        for name, rec in sorted(self.servers().items()):
            state = self.router.state(name)
            views.append(
                ServerView(
                    name=name,
                    address=rec.address,
                    port=rec.port,
                    advertised=f"{rec.advertised_address}:{rec.advertised_port}",
                    live=self.router.is_live(name),
                    active_sessions=state.active_sessions if state else 0,
                    capacity=state.capacity if state else 0,
                    seconds_since_heartbeat=round(now - state.last_seen, 3) if state else None,
                    domains=tuple(sorted(member_of.get(name, []))),
                    security="on" if rec.security else "off",
                )
            )
        return views

    # --- session servers -------------------------------------------------------------------------------------

    async def register_server(
        self,
        principal: Principal,
        *,
        name: str,
        address: str,
        port: int,
        advertised_address: str,
        advertised_port: int,
        csr_pem: str,
    ) -> SessionGrant:
        principal.require_admin()
        _check_name("session server", name)
        check_ip("address", address)
        check_port("port", port)
        if advertised_address:
            check_host("advertised_address", advertised_address)
        check_port("advertised_port", advertised_port, allow_zero=True)  # 0: the same as port
        info = self._cluster()
        if name in self.servers():
            raise Conflict(
                f"a session server named {name!r} is already registered in cluster {info.name}",
                hint="Choose another --member-name, or `hostgate servers remove NAME` first.",
            )
        ca_raw = self.cache.get(CA_KEY)
        if ca_raw is None:
            raise StoreUnavailable("the cluster CA is not loaded yet")
        ca = CaRecord.decode(CA_KEY, ca_raw)
        # Signed by the cluster CA as a session server: no member name, and etcd (which trusts only the
        # member-only etcd CA) refuses it on both its ports.
        cert_pem = pki.sign_session_csr(
            pki.CertPair(ca.cert_pem.encode(), ca.key_pem.encode()), csr_pem.encode(), name, [address]
        )
        record = SessionServerRecord(
            name,
            address,
            port,
            advertised_address or address,
            advertised_port or port,
            pki.fingerprint(cert_pem),
            time.time(),
        )
        try:
            revision = await self.store.compare_and_set(session_server_key(name), record.encode(), 0)
        except CompareFailed:
            raise Conflict(f"a session server named {name!r} was registered meanwhile") from None
        await self._seen(revision)
        log.info("session server %s (%s) registered by %s", name, record.url, principal.name)
        return SessionGrant(info.id, info.name, cert_pem.decode(), ca.cert_pem, self.token_keys.public())

    async def remove_server(self, principal: Principal, name: str) -> None:
        principal.require_admin()
        kv = await self.store.get(session_server_key(name))
        if kv is None:
            raise SessionServerNotFound(f"no session server named {name!r}")
        for d in self.domains():
            if any(m.server == name for m in d.members):
                await self._update_domain(d.name, lambda rec, n=name: _without(rec, n))
        await self.store.compare_and_delete(session_server_key(name), kv.mod_revision)
        # Its deployment records (management/deployments.py) go with it: withdrawing them needs the server's
        # certificate, which the removal has just revoked.
        for key, _ in self.cache.items(f"{DEPLOYMENTS_PREFIX}{name}/"):
            await self.store.delete(key)
        await self._gone(session_server_key(name), kv.mod_revision + 1)
        self.router.forget(name)

    async def set_security(self, principal: Principal, name: str, on: bool) -> SessionServerRecord:
        """Store VHI's security switch of session server ``name`` (compare-and-set: a concurrent change of the
        record, a removal say, is re-read, never overwritten). The server learns it from its next heartbeat
        answer. The caller checks that ``principal`` may change the server (an Administrator)."""
        for _ in range(5):
            kv = await self.store.get(session_server_key(name))
            if kv is None:
                raise SessionServerNotFound(f"no session server named {name!r}")
            current = SessionServerRecord.decode(kv.key, kv.value)
            if current.security == on:
                return current
            updated = dataclasses.replace(current, security=on)
            try:
                revision = await self.store.compare_and_set(
                    session_server_key(name), updated.encode(), kv.mod_revision
                )
            except CompareFailed:
                continue
            await self._seen(revision)
            log.warning(
                "session server %s: security switched %s by %s", name, "on" if on else "off", principal.name
            )
            return updated
        raise CompareFailed(f"session server {name!r} kept changing; try again")

    def authenticate_server(self, server: str, client_cert_pem: str | None) -> SessionServerRecord:
        """The session server ``server``, if the TLS client certificate of this request is the one registered
        for it (the cluster CA verified the chain during the handshake; the fingerprint pins the one server).
        A removed server's record is gone, so its certificate stops working at once."""
        if not client_cert_pem:
            raise AuthenticationFailed(
                f"session server {server!r} must present its TLS client certificate",
                hint="Heartbeats are authenticated by the certificate registration gave the server.",
            )
        record = self.cache.decode(session_server_key(server), _DECODE_SERVER)
        if record is None:
            raise SessionServerNotFound(f"session server {server!r} is not registered (was it removed?)")
        if pki.fingerprint(client_cert_pem.encode()) != record.cert_fingerprint:
            raise ServerCertificateRefused(
                f"the client certificate is not the one registered for session server {server!r}"
            )
        return record

    def server_by_certificate(self, client_cert_pem: str | None) -> SessionServerRecord | None:
        """The registered session server whose certificate this is, if any."""
        if not client_cert_pem:
            return None
        fp = pki.fingerprint(client_cert_pem.encode())
        return next((r for r in self.servers().values() if r.cert_fingerprint == fp), None)

    def heartbeat(self, server: str, client_cert_pem: str | None, beat: Heartbeat) -> str:
        """Record a heartbeat authenticated by the server's certificate; returns the token key set's version."""
        return self.accept_heartbeat(self.authenticate_server(server, client_cert_pem), beat)

    def accept_heartbeat(self, record: SessionServerRecord, beat: Heartbeat) -> str:
        """Record a heartbeat of the server ``authenticate_server`` returned ``record`` for (the API checks the
        certificate before it reads the body, and once is enough); returns the token key set's version."""
        server = record.name
        if beat.server != server:
            # The certificate vouches for ``server`` only: it must not keep another server live.
            raise ServerCertificateRefused(
                f"session server {server!r} cannot send a heartbeat for {beat.server!r}"
            )
        _check_heartbeat(beat)
        self.router.heartbeat(beat)
        return self.token_keys.version()

    # --- domains ---------------------------------------------------------------------------------------------

    async def create_domain(self, principal: Principal, name: str) -> DomainRecord:
        principal.require_admin()
        _check_name("domain", name)
        record = DomainRecord(name, ())
        try:
            revision = await self.store.compare_and_set(domain_key(name), record.encode(), 0)
        except CompareFailed:
            raise Conflict(f"domain {name!r} already exists") from None
        await self._seen(revision)
        return record

    async def delete_domain(self, principal: Principal, name: str) -> None:
        principal.require_admin()
        kv = await self.store.get(domain_key(name))
        if kv is None:
            raise DomainNotFound(f"no domain named {name!r}")
        await self.store.compare_and_delete(domain_key(name), kv.mod_revision)
        await self._gone(domain_key(name), kv.mod_revision + 1)

    async def add_server(
        self, principal: Principal, domain: str, server: str, weight: int, priority: int
    ) -> DomainRecord:
        principal.require_admin()
        if not MIN_WEIGHT <= weight <= MAX_WEIGHT:
            raise UsageError(
                f"field 'weight': {weight} is outside {MIN_WEIGHT}-{MAX_WEIGHT}",
                hint="A weight is the server's share within its priority tier (1-1000); to stop routing to a "
                "server, remove it from the domain (`hostgate domain remove-server`).",
            )
        if not MIN_PRIORITY <= priority <= MAX_PRIORITY:
            raise UsageError(
                f"field 'priority': {priority} is outside {MIN_PRIORITY}-{MAX_PRIORITY}",
                hint="Priority 1 is the first tier; higher numbers are used only when every lower tier is down.",
            )
        if server not in self.servers():
            raise SessionServerNotFound(f"no session server named {server!r} is registered in this cluster")
        member = DomainMember(server, weight, priority)
        return await self._update_domain(domain, lambda rec: _with(rec, member))

    async def remove_server_from_domain(self, principal: Principal, domain: str, server: str) -> DomainRecord:
        principal.require_admin()
        rec = self.domain(domain)
        if not any(m.server == server for m in rec.members):
            raise SessionServerNotFound(f"{server!r} is not a member of domain {domain!r}")
        return await self._update_domain(domain, lambda r: _without(r, server))

    async def _update_domain(self, name: str, change: object) -> DomainRecord:
        for _ in range(5):
            kv = await self.store.get(domain_key(name))
            if kv is None:
                raise DomainNotFound(f"no domain named {name!r}")
            updated: DomainRecord = change(DomainRecord.decode(kv.key, kv.value))  # type: ignore[operator]
            try:
                revision = await self.store.compare_and_set(
                    domain_key(name), updated.encode(), kv.mod_revision
                )
            except CompareFailed:
                continue
            await self._seen(revision)
            return updated
        raise CompareFailed(f"domain {name!r} kept changing; try again")

    # --- routing ---------------------------------------------------------------------------------------------

    def route(
        self,
        principal: Principal,
        domain: str,
        model: str,
        exclude: list[str],
        unreachable: list[str],
        pool: str = "",
    ) -> RouteAnswer:
        if pool:  # a pool's route (issue #18) is a branch of its own: the model route below stays as it was
            return self._route_pool(principal, domain, pool, exclude, unreachable)
        # The domain first: a request that fails changes nothing (issue #15, finding 6).
        revision = self.cache.revision
        plan = self._route_plans.get(domain)
        if plan is None or plan.revision != revision:
            plan = self._route_plan(domain, revision)
        # User on the model, on the domain (it covers the models routed through it) or cluster-wide (#17):
        # checked once per principal, model, domain and revision of the copy (grants are in the copy).
        allowed_key = (principal, model, domain)
        if self._route_allowed.get(allowed_key) != revision:
            self.access.require(principal, Profile.USER, model=model or None, domain=domain)
            if len(self._route_allowed) >= _ROUTE_MEMORY:
                self._route_allowed.clear()
            self._route_allowed[allowed_key] = revision
        if unreachable:  # most calls report nothing
            for name in self.reports.accept(principal.name, unreachable):
                self.router.report_unreachable(name)
        chosen = self.router.pick(plan.record, plan.servers, exclude=[*exclude, *unreachable])
        answer = self._mint(principal, chosen, model, domain, "", plan.cluster_id)
        self.reports.routed(principal.name, chosen.name)
        return answer

    def _route_plan(self, domain: str, revision: int) -> _RoutePlan:
        record = self.domain(domain)
        # Only the domain's own servers are decoded: the routing path must not grow with the installation.
        servers = {
            m.server: rec
            for m in record.members
            if (rec := self.cache.decode(session_server_key(m.server), _DECODE_SERVER)) is not None
        }
        info = self.cache.decode(CLUSTER_KEY, ClusterInfo.decode)
        plan = _RoutePlan(revision, record, servers, info.id if info is not None else None)
        if len(self._route_plans) >= _ROUTE_MEMORY:
            self._route_plans.clear()
        self._route_plans[domain] = plan
        return plan

    def _route_pool(
        self,
        principal: Principal,
        domain: str,
        pool: str,
        exclude: list[str],
        unreachable: list[str],
    ) -> RouteAnswer:
        """A server of the domain running ``pool``, idle sessions first (Router.pick_pool), and a token for
        that pool there (issue #18)."""
        # The domain first: a request that fails changes nothing (issue #15, finding 6).
        record = self.domain(domain)
        # User on the pool, on its model (as the domain's servers report it) or on the domain, or cluster-wide;
        # decided before any server is chosen, so a refused caller learns nothing about where the pool runs.
        model = self.router.pool_model(record, pool)
        self.access.require(principal, Profile.USER, model=model or None, domain=record.name, pool=pool)
        if unreachable:
            for name in self.reports.accept(principal.name, unreachable):
                self.router.report_unreachable(name)
        servers = {
            m.server: rec
            for m in record.members
            if (rec := self.cache.decode(session_server_key(m.server), SessionServerRecord.decode))
            is not None
        }
        chosen = self.router.pick_pool(record, servers, pool, exclude=[*exclude, *unreachable])
        answer = self.grant(principal, chosen, "", record.name, pool=pool)
        self.reports.routed(principal.name, chosen.name)
        return answer

    def grant_direct(self, principal: Principal, server: str, model: str, *, pool: str = "") -> RouteAnswer:
        # User on the model or pool, on a domain of the server, or cluster-wide: decided before the server is
        # looked up, so a refused caller learns nothing about which servers exist.
        self.access.require(principal, Profile.USER, model=model or None, pool=pool or None, server=server)
        rec = self.cache.decode(session_server_key(server), _DECODE_SERVER)
        if rec is None:
            raise SessionServerNotFound(f"no session server named {server!r}")
        return self.grant(principal, rec, model, "", pool=pool)

    def grant(
        self, principal: Principal, server: SessionServerRecord, model: str, domain: str, *, pool: str = ""
    ) -> RouteAnswer:
        return self._mint(principal, server, model, domain, pool, None)

    def _mint(
        self,
        principal: Principal,
        server: SessionServerRecord,
        model: str,
        domain: str,
        pool: str,
        cluster_id: str | None,  # None: read it from the copy (its error when not loaded yet)
    ) -> RouteAnswer:
        if not principal.roles:
            raise NotAuthorized(f"user {principal.name!r} has no role")
        if cluster_id is None:
            cluster_id = self._cluster().id
        # A busy account's calls within a second share one signature (tokens.REUSE_WINDOW).
        token, expires = self.token_keys.signer().mint_session(
            SESSION_TOKEN_TTL,
            cluster_id=cluster_id,
            server=server.name,
            user=principal.name,
            model=model,
            domain=domain,
            pool=pool,
        )
        return RouteAnswer(
            server.name, server.url, server.advertised_address, server.advertised_port, token, expires
        )


_MAX_SESSIONS = 1_000_000


def _check_heartbeat(beat: Heartbeat) -> None:
    # `not low <= x <= high` also refuses NaN, which Python's json accepts as a number.
    if not 0 <= beat.active_sessions <= _MAX_SESSIONS:
        raise InvalidField(
            f"heartbeat field 'active_sessions': {beat.active_sessions} is outside 0-{_MAX_SESSIONS}"
        )
    if not 0 <= beat.capacity <= _MAX_SESSIONS:
        raise InvalidField(f"heartbeat field 'capacity': {beat.capacity} is outside 0-{_MAX_SESSIONS}")
    if not 0.05 <= beat.interval <= 3600.0:
        raise InvalidField(f"heartbeat field 'interval': {beat.interval!r} is outside 0.05-3600 seconds")
    if beat.pools:
        _check_pool_figures(beat)


_MAX_POOLS = 256


def _check_pool_figures(beat: Heartbeat) -> None:
    """Per-pool figures of a heartbeat (issue #18): whole numbers in range, names like every other name."""
    if len(beat.pools) > _MAX_POOLS:
        raise InvalidField(f"heartbeat field 'pools': {len(beat.pools)} pools, at most {_MAX_POOLS}")
    for name, figures in beat.pools.items():
        if not _NAME_RE.match(name):
            raise InvalidField(f"heartbeat field 'pools': {name[:80]!r} is not a pool name")
        for what in ("idle", "busy", "pending", "max_concurrent"):
            value = getattr(figures, what)
            if not 0 <= value <= _MAX_SESSIONS:
                raise InvalidField(
                    f"heartbeat field 'pools.{name}.{what}': {value} is outside 0-{_MAX_SESSIONS}"
                )


def _with(rec: DomainRecord, member: DomainMember) -> DomainRecord:
    others = tuple(m for m in rec.members if m.server != member.server)
    return DomainRecord(rec.name, tuple(sorted((*others, member), key=lambda m: m.server)))


def _without(rec: DomainRecord, server: str) -> DomainRecord:
    return DomainRecord(rec.name, tuple(m for m in rec.members if m.server != server))
