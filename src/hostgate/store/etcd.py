"""``EtcdStore``: the ``Store`` contract on an etcd cluster, over mutual TLS.

aetcd 1.0.0 supplies the protobuf messages and gRPC stubs but opens only insecure channels, so
``_SecureClient`` overrides its ``connect()`` to open a mutual-TLS channel. Requests then go straight to the
stubs, so each one carries its own deadline and, when it needs a quorum, etcd's ``hasleader`` metadata: a
member without a leader refuses such a request at once ("etcdserver: no leader") instead of holding it until
its own 7 s request timeout.

Retries (all bounded by ``write_timeout``, backoff 20-50 ms, never a fixed sleep):

- A request the member refused before proposing it (no leader, connection refused) is retried: this is what
  carries a write across a leader election, which on loopback takes about a second.
- Requests that are safe to repeat (reads, ``put``, ``delete``, lease calls) are also restarted when the
  member's leader changes while they are in flight: a proposal forwarded to a leader that just died is lost
  and would otherwise hang until the deadline. ``put`` and ``delete`` are therefore *at least once* across a
  leader failure (the same value may be written twice; ``delete`` may then answer ``False``).
- ``compare_and_set``/``compare_and_delete`` are exactly once: caught by a leader change, they are sent again
  only after a linearizable read by the new leader shows they never applied (``_checked``); when the outcome
  stays unknown they raise ``QuorumLost`` saying so, and the caller re-reads. Membership changes are never
  sent twice.
- Under a write guard (``store.guard``, hedged writes) every request is also bounded by the client's deadline,
  and the four writes become one txn with the guard's idempotency record (``_guarded_txn``); the records share
  one lease per ``retention / 5`` seconds rather than a lease per write.
- A member that has had no leader for longer than ``election_grace`` (default 3 s; an election on loopback
  or a LAN takes 1-2 s) makes writes fail with ``QuorumLost`` at once instead of after ``write_timeout``.

Errors at the seam: no leader / no commit within ``write_timeout`` → ``QuorumLost``; cannot reach the
member → ``StoreUnavailable``; history compacted under a watch → ``StoreUnavailable``.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import ipaddress
import logging
import math
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit

import aetcd
import grpc
from aetcd import rpc

from hostgate._names import CLUSTER_DNS_NAME
from hostgate.config.settings import Settings
from hostgate.errors import (
    CertificateError,
    CompareFailed,
    ConfigError,
    DeadlineExpired,
    HostgateError,
    MemberNotFound,
    QuorumLost,
    StoreError,
    StoreUnavailable,
)
from hostgate.store.base import EventKind, KeyValue, MemberInfo, Store, StoreEvent, StoreStatus
from hostgate.store.guard import RETENTION, WriteGuard, active_guard, idempotency_path

__all__ = ["EtcdStore", "EtcdTls", "fetch_status", "grpc_target"]

log = logging.getLogger(__name__)
T = TypeVar("T")

# etcd's api/v3rpc interceptor: with this metadata a member without a leader answers "no leader" at once.
_REQUIRE_LEADER = (("hasleader", "true"),)
_BACKOFF_FIRST = 0.02
_BACKOFF_MAX = 0.05
_UNHEALTHY_BACKOFF = 0.25
_LEADER_POLL = 0.025
_CHANNEL_OPTIONS: tuple[tuple[str, int], ...] = (
    # etcd's server-side keepalive policy rejects pings more often than every 5 s (--grpc-keepalive-min-time)
    # and pings without an active stream; a silent (SIGSTOP'd) member breaks a watch after ~15 s.
    ("grpc.keepalive_time_ms", 10_000),
    ("grpc.keepalive_timeout_ms", 5_000),
    ("grpc.keepalive_permit_without_calls", 0),
    ("grpc.http2.max_pings_without_data", 0),
    ("grpc.initial_reconnect_backoff_ms", 100),
    ("grpc.min_reconnect_backoff_ms", 100),
    ("grpc.max_reconnect_backoff_ms", 2_000),
    ("grpc.max_receive_message_length", 64 * 1024 * 1024),
)


@dataclass(frozen=True, slots=True)
class EtcdTls:
    """What a client shows etcd's client port: the cluster CA, this member's certificate and key.

    ``server_name`` is the name checked in the member's certificate; hostgate's member certificates all carry
    :data:`~hostgate._names.CLUSTER_DNS_NAME`, so one channel can dial several members by IP. ``None`` checks
    the host named in the URL instead (external etcd).
    """

    ca_pem: bytes
    cert_pem: bytes
    key_pem: bytes
    server_name: str | None = CLUSTER_DNS_NAME

    @classmethod
    def from_files(
        cls, ca_file: Path, cert_file: Path, key_file: Path, *, server_name: str | None = CLUSTER_DNS_NAME
    ) -> EtcdTls:
        try:
            return cls(ca_file.read_bytes(), cert_file.read_bytes(), key_file.read_bytes(), server_name)
        except OSError as exc:
            raise CertificateError(f"cannot read {exc.filename}: {exc.strerror}") from exc

    @classmethod
    def from_settings(cls, settings: Settings) -> EtcdTls:
        tls = settings.tls
        if settings.etcd.endpoints:  # external etcd: the files the operator configured for it
            return cls.from_files(
                settings.path(tls.ca_file),
                settings.path(tls.cert_file),
                settings.path(tls.key_file),
                server_name=None,
            )
        # hostgate's own members trust only the member-only etcd CA and this member's certificate from it.
        return cls.from_files(
            settings.path(tls.etcd_ca_file),
            settings.path(tls.etcd_cert_file),
            settings.path(tls.etcd_key_file),
            server_name=CLUSTER_DNS_NAME,
        )

    def credentials(self) -> grpc.ChannelCredentials:
        return grpc.ssl_channel_credentials(
            root_certificates=self.ca_pem, private_key=self.key_pem, certificate_chain=self.cert_pem
        )

    def channel_options(self) -> list[tuple[str, Any]]:
        options: list[tuple[str, Any]] = list(_CHANNEL_OPTIONS)
        if self.server_name:
            options.append(("grpc.ssl_target_name_override", self.server_name))
        return options


def grpc_target(endpoints: Sequence[str]) -> str:
    """``https://IP:port`` client URLs as one gRPC target, dialled in order (pick_first).

    One URL gives ``host:port``; several IP URLs of one family give ``ipv4:a:p,b:p`` (or ``ipv6:``).
    """
    if not endpoints:
        raise ConfigError("etcd: no client endpoints given")
    hosts: list[tuple[str, int]] = []
    for url in endpoints:
        parts = urlsplit(url if "//" in url else f"//{url}")
        if not parts.hostname:
            raise ConfigError(f"etcd endpoint {url!r} names no host")
        hosts.append((parts.hostname, parts.port or 2379))
    if len(hosts) == 1:
        host, port = hosts[0]
        return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    try:
        versions = {ipaddress.ip_address(h).version for h, _ in hosts}
    except ValueError:
        raise ConfigError(
            f"etcd endpoints {list(endpoints)}: several endpoints must be IP addresses"
        ) from None
    if versions == {4}:
        return "ipv4:" + ",".join(f"{h}:{p}" for h, p in hosts)
    if versions == {6}:
        return "ipv6:" + ",".join(f"[{h}]:{p}" for h, p in hosts)
    raise ConfigError(f"etcd endpoints {list(endpoints)}: mix IPv4 and IPv6; use one family")


class _SecureClient(aetcd.Client):  # type: ignore[misc]  # aetcd ships no type information
    """aetcd's client on a mutual-TLS channel; sets the same attributes as ``aetcd.Client.connect``."""

    def __init__(self, target: str, tls: EtcdTls, timeout: float) -> None:
        super().__init__(timeout=timeout)
        self._target = target
        self._tls = tls

    async def connect(self) -> None:
        if self._connected.is_set():
            return
        self.channel = grpc.aio.secure_channel(
            self._target, self._tls.credentials(), options=self._tls.channel_options()
        )
        self.kvstub = rpc.KVStub(self.channel)
        self.clusterstub = rpc.ClusterStub(self.channel)
        self.leasestub = rpc.LeaseStub(self.channel)
        self.maintenancestub = rpc.MaintenanceStub(self.channel)
        self.watchstub = rpc.WatchStub(self.channel)
        self._watcher = aetcd.watcher.Watcher(self.watchstub, timeout=self._timeout, metadata=self.metadata)
        self._connected.set()


async def fetch_status(client_url: str, tls: EtcdTls, *, timeout: float = 1.0) -> StoreStatus:
    """Maintenance ``Status`` of the member at ``client_url`` on a short-lived channel."""
    channel = grpc.aio.secure_channel(
        grpc_target([client_url]), tls.credentials(), options=tls.channel_options()
    )
    try:
        resp = await rpc.MaintenanceStub(channel).Status(rpc.StatusRequest(), timeout=timeout)
    except grpc.aio.AioRpcError as exc:
        raise StoreUnavailable(f"etcd member {client_url} did not answer: {_details(exc)}") from exc
    finally:
        await channel.close()
    return StoreStatus(resp.header.member_id, resp.leader, resp.header.revision, resp.version, resp.isLearner)


# --- error classification -------------------------------------------------------------------------------


class _Fault(enum.Enum):
    NO_LEADER = "the member has no leader"  # refused before proposing: safe to repeat anything
    NOT_SENT = "no member could be reached"  # connect failed: nothing was sent
    # Membership changes are refused until the leader has heard from every member for 5 s (etcd's
    # strict reconfiguration check, HealthInterval): refused before proposing, so safe to repeat.
    UNHEALTHY = "etcd refuses membership changes until every member has been connected for 5 s"
    LOST = "the connection broke mid-request"  # outcome unknown
    TIMEOUT = "no commit within the deadline"  # outcome unknown
    OTHER = "error"


_NO_LEADER_DETAILS = ("no leader", "proposal dropped", "too many requests", "not capable")
_TIMEOUT_DETAILS = ("request timed out", "leader changed")
_NOT_SENT_DETAILS = ("failed to connect", "connection refused", "dns resolution failed", "no route to host")
# A client certificate the server rejects shows, under TLS 1.3, only as "Unwrap failed (TSI_DATA_CORRUPTED)".
_TLS_DETAILS = ("handshake", "certificate", "ssl", "tsi_data_corrupted")


def _details(exc: grpc.aio.AioRpcError) -> str:
    return str(exc.details() or exc.code().name)


def _fault(exc: grpc.aio.AioRpcError) -> _Fault:
    code = exc.code()
    details = _details(exc).lower()
    if any(d in details for d in _NO_LEADER_DETAILS):
        return _Fault.NO_LEADER
    if code is grpc.StatusCode.DEADLINE_EXCEEDED or any(d in details for d in _TIMEOUT_DETAILS):
        return _Fault.TIMEOUT
    if code is grpc.StatusCode.UNAVAILABLE:
        if "unhealthy cluster" in details:
            return _Fault.UNHEALTHY
        if any(d in details for d in _TLS_DETAILS):
            return _Fault.OTHER
        if any(d in details for d in _NOT_SENT_DETAILS):
            return _Fault.NOT_SENT
        return _Fault.LOST
    return _Fault.OTHER


def _translate(exc: grpc.aio.AioRpcError, what: str) -> HostgateError:
    """A final, non-retryable gRPC error as hostgate's error."""
    code = exc.code()
    details = _details(exc)
    low = details.lower()
    if any(d in low for d in _TLS_DETAILS):
        return StoreUnavailable(
            f"{what}: etcd refused the TLS connection ({details})",
            hint="Check that etcd-ca.pem, etcd.pem and etcd-key.pem in the data directory belong to this cluster.",
        )
    if "not enough started members" in low:
        return QuorumLost(f"{what}: etcd refused, it would leave the cluster without a majority ({details})")
    if code is grpc.StatusCode.OUT_OF_RANGE and "compacted" in low:
        return StoreUnavailable(f"{what}: the revision asked for is compacted ({details})")
    if code is grpc.StatusCode.NOT_FOUND and "member" in low:
        return MemberNotFound(f"{what}: {details}")
    if code in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.CANCELLED, grpc.StatusCode.UNKNOWN):
        return StoreUnavailable(f"{what}: {details}")
    return StoreError(f"{what}: etcd answered {code.name}: {details}")


class _Mode(enum.Enum):
    READ = "read"  # no side effect: restart freely
    REPEATABLE = "repeatable"  # same end state if applied twice (put, delete, lease calls)
    CHECKED = "checked"  # resent only once a later leader shows it did not apply (compare-and-set)
    ONCE = "once"  # never resent once it may have reached the leader (membership changes)


class _LeaderChanged(Exception):
    """The member's leader changed while a restartable request was in flight."""


class _NotApplied(Exception):
    """The leader changed under a compare-and-X, and a later leader's linearizable read shows it never applied."""


# --- the leader monitor ---------------------------------------------------------------------------------


class _LeaderMonitor:
    """Samples the member's leader while requests are in flight (one poller for all of them).

    A request forwarded to a leader that then dies is lost and would wait for its deadline. Each subscriber's
    baseline is the first sample taken after it subscribed; a later sample naming another leader (or none)
    sets its event.
    """

    def __init__(self, probe: Callable[[], Awaitable[int]], interval: float) -> None:
        self._probe = probe
        self._interval = interval
        self._subscribers: dict[asyncio.Event, int | None] = {}
        self._task: asyncio.Task[None] | None = None

    @contextlib.asynccontextmanager
    async def watching(self) -> AsyncIterator[asyncio.Event]:
        changed = asyncio.Event()
        self._subscribers[changed] = None
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._poll(), name="etcd-leader-monitor")
        try:
            yield changed
        finally:
            self._subscribers.pop(changed, None)

    async def _poll(self) -> None:
        while self._subscribers:
            try:
                leader: int | None = await self._probe()
            except (grpc.aio.AioRpcError, StoreError):
                leader = None
            if leader is not None:
                for event, baseline in list(self._subscribers.items()):
                    if baseline is None:
                        self._subscribers[event] = leader
                    elif baseline != leader:
                        event.set()
            await asyncio.sleep(self._interval)  # sampling period while requests wait, not synchronisation

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task


# --- the store ------------------------------------------------------------------------------------------


def _prefix_range(prefix: str) -> tuple[bytes, bytes]:
    if not prefix:
        return b"\0", b"\0"  # etcd: key "\0" with range_end "\0" means every key
    return prefix.encode(), aetcd.utils.prefix_range_end(prefix.encode())


def _kv(kv: Any) -> KeyValue:
    return KeyValue(kv.key.decode(), bytes(kv.value), kv.mod_revision, kv.lease)


class EtcdStore(Store):
    """The store on an etcd cluster, reached over mutual TLS.

    ``endpoints`` are client URLs, this host's member first; the channel stays on the first that answers.
    ``write_timeout`` bounds every request, retries included.

    Example::

        store = EtcdStore(["https://127.0.0.1:2379", "https://127.0.0.2:2379"], EtcdTls.from_settings(s))
        revision = await store.put("/hostgate/x", b"1")
    """

    def __init__(
        self,
        endpoints: Sequence[str],
        tls: EtcdTls,
        *,
        write_timeout: float = 5.0,
        status_timeout: float = 1.0,
        election_grace: float = 3.0,
        retention: float = RETENTION,
    ) -> None:
        self._endpoints = tuple(endpoints)
        self._tls = tls
        self._write_timeout = write_timeout
        self._status_timeout = status_timeout
        self._client = _SecureClient(grpc_target(self._endpoints), tls, write_timeout)
        self._monitor = _LeaderMonitor(self._leader, _LEADER_POLL)
        self._election_grace = min(election_grace, write_timeout)
        # etcd refuses membership changes for 5 s after any peer (re)connects; give them time to pass that.
        self._reconfig_timeout = max(write_timeout, 8.0)
        self._leaderless_since: float | None = None
        self._leaderless_task: asyncio.Task[None] | None = None
        self._closed = False
        # Idempotency records: one shared lease, replaced every retention/5 s, lives retention*1.2 s, so every
        # record lives at least ``retention`` seconds and a lease grant costs one request a minute, not a write.
        self._retention = retention
        self._record_lease: tuple[int, float] | None = None  # (lease id, monotonic time granted)
        self._record_lease_lock = asyncio.Lock()

    @classmethod
    def from_settings(cls, settings: Settings) -> EtcdStore:
        endpoints = settings.etcd.endpoints or (settings.etcd_client_url,)
        return cls(endpoints, EtcdTls.from_settings(settings), write_timeout=settings.etcd.write_timeout)

    @property
    def endpoints(self) -> tuple[str, ...]:
        return self._endpoints

    async def _connected(self) -> _SecureClient:
        if self._closed:
            raise StoreUnavailable("the etcd store object is closed")
        await self._client.connect()
        return self._client

    async def _leader_and_term(self) -> tuple[int, int]:
        client = await self._connected()
        timeout = min(0.5, self._status_timeout)
        resp = await client.maintenancestub.Status(rpc.StatusRequest(), timeout=timeout)
        return int(resp.leader), int(resp.raftTerm)

    async def _leader(self) -> int:
        return (await self._leader_and_term())[0]

    # --- the retry loop -------------------------------------------------------------------------------------

    async def _request(
        self,
        what: str,
        attempt: Callable[[_SecureClient, float], Awaitable[T]],
        mode: _Mode,
        *,
        needs_leader: bool = True,
        timeout: float | None = None,
        not_applied: Callable[[], Awaitable[bool]] | None = None,
    ) -> T:
        """Run ``attempt(client, timeout)`` until it answers, retrying what is safe, within write_timeout."""
        loop = asyncio.get_running_loop()
        budget = self._write_timeout if timeout is None else timeout
        guard = active_guard()
        bounded = False  # the client's deadline, not write_timeout, ends this request
        if guard is not None:
            left = guard.check(what)
            if left < budget:
                budget, bounded = left, True
        deadline = loop.time() + budget
        backoff = _BACKOFF_FIRST
        last, last_exc = _Fault.OTHER, None
        uncertain = False  # an earlier attempt of this write may have been applied
        client = await self._connected()
        while True:
            remaining = deadline - loop.time()
            if remaining <= 0:
                if bounded:
                    raise self._past_deadline(what, uncertain=uncertain)
                raise self._give_up(what, last, last_exc, uncertain=uncertain, budget=budget)
            try:
                if mode is _Mode.ONCE:
                    result = await attempt(client, remaining)
                elif mode is _Mode.CHECKED:
                    assert not_applied is not None
                    result = await self._checked(attempt, client, remaining, not_applied)
                else:
                    result = await self._restartable(attempt, client, remaining)
                if needs_leader:
                    self._leaderless_since = None
                return result
            except _LeaderChanged:
                last, last_exc = _Fault.TIMEOUT, None
                uncertain = uncertain or mode is _Mode.REPEATABLE
                continue
            except _NotApplied:
                last, last_exc = _Fault.TIMEOUT, None
                continue
            except grpc.aio.UsageError as exc:  # the channel was closed under the request
                raise StoreUnavailable(f"{what}: the etcd store object was closed") from exc
            except grpc.aio.AioRpcError as exc:
                fault = _fault(exc)
                last, last_exc = fault, exc
                if fault is _Fault.OTHER:
                    raise _translate(exc, what) from exc
                if fault is _Fault.NO_LEADER:
                    self._note_no_leader(what)
                elif fault in (_Fault.LOST, _Fault.TIMEOUT):
                    if mode in (_Mode.ONCE, _Mode.CHECKED):
                        if bounded and deadline - loop.time() <= 0.05:
                            raise self._past_deadline(what, uncertain=True) from exc
                        raise self._give_up(what, fault, exc, uncertain=True, budget=budget) from exc
                    uncertain = uncertain or mode is _Mode.REPEATABLE
            remaining = deadline - loop.time()
            if remaining > 0:
                pause = _UNHEALTHY_BACKOFF if last is _Fault.UNHEALTHY else backoff
                await asyncio.sleep(min(pause, remaining))  # retry back-off, bounded by write_timeout
                backoff = min(backoff * 1.5, _BACKOFF_MAX)

    async def _restartable(
        self, attempt: Callable[[_SecureClient, float], Awaitable[T]], client: _SecureClient, timeout: float
    ) -> T:
        async with self._monitor.watching() as changed:
            task = asyncio.ensure_future(attempt(client, timeout))
            waiter = asyncio.ensure_future(changed.wait())
            try:
                await asyncio.wait((task, waiter), return_when=asyncio.FIRST_COMPLETED)
            finally:
                waiter.cancel()
                if not task.done():
                    task.cancel()
                    with contextlib.suppress(asyncio.CancelledError, grpc.aio.AioRpcError):
                        await task
            if task.cancelled():
                raise _LeaderChanged
            return task.result()

    async def _checked(
        self,
        attempt: Callable[[_SecureClient, float], Awaitable[T]],
        client: _SecureClient,
        timeout: float,
        not_applied: Callable[[], Awaitable[bool]],
    ) -> T:
        """One compare-and-X attempt that is abandoned only when it provably never applied.

        When the leader changes under it, the key is read linearizably, i.e. by a leader that has committed in
        a later term. An entry of the old term that this read does not show can never commit any more (Raft's
        leader completeness), so a key still at the expected revision means the attempt is dead and may be sent
        again. Otherwise the attempt's own answer is awaited (up to its deadline: outcome unknown).
        """
        async with self._monitor.watching() as changed:
            task = asyncio.ensure_future(attempt(client, timeout))
            check: asyncio.Future[bool] | None = None
            try:
                waiter = asyncio.ensure_future(changed.wait())
                try:
                    await asyncio.wait((task, waiter), return_when=asyncio.FIRST_COMPLETED)
                finally:
                    waiter.cancel()
                if not task.done():
                    check = asyncio.ensure_future(not_applied())
                    await asyncio.wait((task, check), return_when=asyncio.FIRST_COMPLETED)
                    if (
                        not task.done()
                        and not check.cancelled()
                        and check.exception() is None
                        and check.result()
                    ):
                        raise _NotApplied
                return await task
            finally:
                for fut in (task, check):
                    if fut is not None and not fut.done():
                        fut.cancel()
                        with contextlib.suppress(asyncio.CancelledError, grpc.aio.AioRpcError, StoreError):
                            await fut

    def _note_no_leader(self, what: str) -> None:
        """Fail at once when the member has been leaderless for longer than an election takes."""
        loop = asyncio.get_running_loop()
        now = loop.time()
        if self._leaderless_since is None:
            self._leaderless_since = now
            if self._leaderless_task is None or self._leaderless_task.done():
                self._leaderless_task = asyncio.create_task(self._track_leaderless(), name="etcd-leaderless")
        elif now - self._leaderless_since >= self._election_grace:
            raise QuorumLost(
                f"{what}: the store's member has had no leader for {now - self._leaderless_since:.1f} s; "
                "a majority of members is down or cut off"
            )

    async def _track_leaderless(self) -> None:
        """While the member reports no leader, keep asking, so the next request knows for how long.

        A rising raft term means an election is under way (our members run with ``--pre-vote``, so an
        isolated member's term stands still): the grace period then starts again.
        """
        term: int | None = None
        while self._leaderless_since is not None:
            await asyncio.sleep(0.1)  # sampling period while leaderless
            with contextlib.suppress(grpc.aio.AioRpcError, StoreError):
                leader, current = await self._leader_and_term()
                if leader:
                    self._leaderless_since = None
                elif term is not None and current > term and self._leaderless_since is not None:
                    self._leaderless_since = asyncio.get_running_loop().time()
                term = current

    def _give_up(
        self, what: str, fault: _Fault, exc: BaseException | None, *, uncertain: bool, budget: float
    ) -> StoreError:
        detail = f" ({_details(exc)})" if isinstance(exc, grpc.aio.AioRpcError) else ""
        outcome = "; it may or may not have been applied, read it again" if uncertain else ""
        if fault in (_Fault.NOT_SENT, _Fault.LOST):
            return StoreUnavailable(f"{what}: {fault.value} within {budget:g} s{outcome}{detail}")
        if fault is _Fault.UNHEALTHY:
            return QuorumLost(
                f"{what}: {fault.value}; a member was (re)connected recently, try again{detail}"
            )
        return QuorumLost(
            f"{what}: no etcd leader could commit it within {budget:g} s ({fault.value}){outcome}{detail}"
        )

    @staticmethod
    def _past_deadline(what: str, *, uncertain: bool) -> DeadlineExpired:
        if not uncertain:
            return DeadlineExpired(
                f"{what}: not applied, the client's deadline passed before the store answered"
            )
        return DeadlineExpired(
            f"{what}: the client's deadline passed while the store was committing it; it may or may not have "
            "been applied, and its idempotency record keeps it from being applied twice",
            hint="Read the current state before repeating the change.",
        )

    # --- key-value ------------------------------------------------------------------------------------------

    async def get(self, key: str, *, serializable: bool = False) -> KeyValue | None:
        request = rpc.RangeRequest(key=key.encode(), serializable=serializable)
        metadata = None if serializable else _REQUIRE_LEADER

        async def attempt(c: _SecureClient, timeout: float) -> Any:
            return await c.kvstub.Range(request, timeout=timeout, metadata=metadata)

        resp = await self._request(f"get {key}", attempt, _Mode.READ, needs_leader=not serializable)
        return _kv(resp.kvs[0]) if resp.kvs else None

    async def get_prefix(self, prefix: str, *, serializable: bool = False) -> tuple[list[KeyValue], int]:
        start, end = _prefix_range(prefix)
        request = rpc.RangeRequest(
            key=start,
            range_end=end,
            sort_order=rpc.RangeRequest.ASCEND,
            sort_target=rpc.RangeRequest.KEY,
            serializable=serializable,
        )
        metadata = None if serializable else _REQUIRE_LEADER

        async def attempt(c: _SecureClient, timeout: float) -> Any:
            return await c.kvstub.Range(request, timeout=timeout, metadata=metadata)

        resp = await self._request(f"get {prefix}*", attempt, _Mode.READ, needs_leader=not serializable)
        return [_kv(kv) for kv in resp.kvs], int(resp.header.revision)

    async def put(self, key: str, value: bytes, *, lease: int = 0) -> int:
        request = rpc.PutRequest(key=key.encode(), value=value, lease=lease)
        guard = active_guard()
        if guard is not None:
            _, revision = await self._guarded_txn(
                f"put {key}", guard, rpc.RequestOp(request_put=request), key
            )
            return revision

        async def attempt(c: _SecureClient, timeout: float) -> Any:
            return await c.kvstub.Put(request, timeout=timeout, metadata=_REQUIRE_LEADER)

        resp = await self._request(f"put {key}", attempt, _Mode.REPEATABLE)
        return int(resp.header.revision)

    async def delete(self, key: str) -> bool:
        request = rpc.DeleteRangeRequest(key=key.encode())
        guard = active_guard()
        if guard is not None:
            op = rpc.RequestOp(request_delete_range=request)
            resp, _ = await self._guarded_txn(f"delete {key}", guard, op, key)
            return resp is None or resp.responses[0].response_delete_range.deleted > 0

        async def attempt(c: _SecureClient, timeout: float) -> Any:
            return await c.kvstub.DeleteRange(request, timeout=timeout, metadata=_REQUIRE_LEADER)

        resp = await self._request(f"delete {key}", attempt, _Mode.REPEATABLE)
        return bool(resp.deleted > 0)

    async def _txn(self, what: str, key: str, expected_revision: int, success: rpc.RequestOp) -> Any:
        compare = rpc.Compare(
            key=key.encode(),
            target=rpc.Compare.MOD,
            result=rpc.Compare.EQUAL,
            mod_revision=expected_revision,
        )
        # On failure, read the key back so the error can say what it found.
        failure = rpc.RequestOp(request_range=rpc.RangeRequest(key=key.encode(), keys_only=True))
        request = rpc.TxnRequest(compare=[compare], success=[success], failure=[failure])

        async def attempt(c: _SecureClient, timeout: float) -> Any:
            return await c.kvstub.Txn(request, timeout=timeout, metadata=_REQUIRE_LEADER)

        async def not_applied() -> bool:
            kv = await self.get(key)
            return (kv.mod_revision if kv else 0) == expected_revision

        resp = await self._request(what, attempt, _Mode.CHECKED, not_applied=not_applied)
        if not resp.succeeded:
            kvs = resp.responses[0].response_range.kvs if resp.responses else []
            found = f"revision {kvs[0].mod_revision}" if kvs else "no key"
            raise CompareFailed(f"{what}: expected revision {expected_revision}, found {found}")
        return resp

    async def compare_and_set(self, key: str, value: bytes, expected_revision: int, *, lease: int = 0) -> int:
        put = rpc.RequestOp(request_put=rpc.PutRequest(key=key.encode(), value=value, lease=lease))
        guard = active_guard()
        if guard is not None:
            what = f"compare-and-set {key}"
            _, revision = await self._guarded_txn(what, guard, put, key, expected_revision)
            return revision
        resp = await self._txn(f"compare-and-set {key}", key, expected_revision, put)
        return int(resp.header.revision)

    async def compare_and_delete(self, key: str, expected_revision: int) -> None:
        delete = rpc.RequestOp(request_delete_range=rpc.DeleteRangeRequest(key=key.encode()))
        guard = active_guard()
        if guard is not None:
            await self._guarded_txn(f"compare-and-delete {key}", guard, delete, key, expected_revision)
            return
        await self._txn(f"compare-and-delete {key}", key, expected_revision, delete)

    # --- guarded writes (hedged requests; store.guard) -------------------------------------------------------

    async def _guarded_txn(
        self, what: str, guard: WriteGuard, op: rpc.RequestOp, key: str, expected_revision: int | None = None
    ) -> tuple[Any, int]:
        """``op`` and the guard's record in one txn: (etcd's answer or ``None`` if an earlier try of ours
        applied it, revision). Raises ``DuplicateWrite``, ``CompareFailed`` or ``DeadlineExpired``."""
        try:
            return await self._guarded_txn_once(what, guard, op, key, expected_revision)
        except StoreError as exc:
            if "lease not found" not in str(exc):
                raise
            # The shared lease expired early (it is never refreshed): take a new one and try once more.
            self._record_lease = None
            return await self._guarded_txn_once(what, guard, op, key, expected_revision)

    async def _guarded_txn_once(
        self, what: str, guard: WriteGuard, op: rpc.RequestOp, key: str, expected_revision: int | None
    ) -> tuple[Any, int]:
        guard.check(what)  # the last check before the write; _request bounds the write itself
        path = guard.path.encode()
        lease = await self._records_lease()
        compare = [
            rpc.Compare(
                key=path, target=rpc.Compare.MOD, result=rpc.Compare.EQUAL, mod_revision=guard.revision
            )
        ]
        if expected_revision is not None:
            compare.append(
                rpc.Compare(
                    key=key.encode(),
                    target=rpc.Compare.MOD,
                    result=rpc.Compare.EQUAL,
                    mod_revision=expected_revision,
                )
            )
        record = rpc.RequestOp(
            request_put=rpc.PutRequest(key=path, value=guard.pending_record(), lease=lease)
        )
        failure = [
            rpc.RequestOp(request_range=rpc.RangeRequest(key=path)),
            rpc.RequestOp(request_range=rpc.RangeRequest(key=key.encode(), keys_only=True)),
        ]
        request = rpc.TxnRequest(compare=compare, success=[op, record], failure=failure)

        async def attempt(c: _SecureClient, timeout: float) -> Any:
            return await c.kvstub.Txn(request, timeout=timeout, metadata=_REQUIRE_LEADER)

        async def not_applied() -> bool:
            # Exact: the record moves exactly when this txn applies.
            kv = await self.get(guard.path)
            return (kv.mod_revision if kv else 0) == guard.revision

        resp = await self._request(what, attempt, _Mode.CHECKED, not_applied=not_applied)
        if resp.succeeded:
            guard.revision = int(resp.header.revision)
            return resp, guard.revision
        records = resp.responses[0].response_range.kvs
        found_revision = int(records[0].mod_revision) if records else 0
        if found_revision != guard.revision:
            guard.revision = guard.conflict(bytes(records[0].value) if records else None, found_revision)
            return None, guard.revision
        kvs = resp.responses[1].response_range.kvs
        found = f"revision {kvs[0].mod_revision}" if kvs else "no key"
        raise CompareFailed(f"{what}: expected revision {expected_revision}, found {found}")

    async def _records_lease(self) -> int:
        rotate = self._retention / 5
        current = self._record_lease
        if current is not None and time.monotonic() - current[1] < rotate:
            return current[0]
        async with self._record_lease_lock:
            current = self._record_lease
            if current is None or time.monotonic() - current[1] >= rotate:
                granted_at = time.monotonic()
                current = (await self.grant_lease(self._retention + rotate), granted_at)
                self._record_lease = current
            return current[0]

    async def idempotency_record(self, key: str) -> KeyValue | None:
        return await self.get(idempotency_path(key))

    async def complete_idempotency_record(self, key: str, value: bytes, expected_revision: int) -> None:
        path = idempotency_path(key)
        # ignore_lease keeps the record on the lease its first write took: the answer does not extend retention.
        put = rpc.RequestOp(request_put=rpc.PutRequest(key=path.encode(), value=value, ignore_lease=True))
        await self._txn(f"record the answer of {path}", path, expected_revision, put)

    async def compact(self, revision: int) -> None:
        """Discard history before ``revision``; watches that start earlier then raise ``StoreUnavailable``.

        Not part of the ``Store`` contract (members compact on their own, ``--auto-compaction-*``).
        """
        request = rpc.CompactionRequest(revision=revision, physical=True)

        async def attempt(c: _SecureClient, timeout: float) -> Any:
            return await c.kvstub.Compact(request, timeout=timeout, metadata=_REQUIRE_LEADER)

        await self._request(f"compact at {revision}", attempt, _Mode.REPEATABLE)

    # --- watch ----------------------------------------------------------------------------------------------

    def watch_prefix(self, prefix: str, start_revision: int) -> AsyncIterator[StoreEvent]:
        """Every change under ``prefix`` from ``start_revision`` (inclusive), on a gRPC stream of its own.

        aetcd's shared ``Watcher`` is not used: it ignores a response that cancels a watch without a
        compaction revision (the iterator would then wait forever), and one stream per watch lets closing the
        iterator cancel exactly its own stream.
        """
        return self._watch(prefix, start_revision)

    async def _watch(self, prefix: str, start_revision: int) -> AsyncIterator[StoreEvent]:
        client = await self._connected()
        start, end = _prefix_range(prefix)
        create = rpc.WatchCreateRequest(key=start, range_end=end, start_revision=max(start_revision, 0))
        what = f"watch {prefix}* from revision {start_revision}"
        call = client.watchstub.Watch()
        try:
            await call.write(rpc.WatchRequest(create_request=create))
            while True:
                resp = await call.read()
                if resp is grpc.aio.EOF:
                    raise StoreUnavailable(f"{what}: etcd closed the watch stream")
                if resp.compact_revision:
                    raise StoreUnavailable(
                        f"{what}: history before revision {resp.compact_revision} is compacted; re-read and "
                        "watch again"
                    )
                if resp.canceled:
                    raise StoreUnavailable(f"{what}: etcd cancelled the watch: {resp.cancel_reason}")
                for ev in resp.events:
                    deleted = ev.type == rpc.Event.DELETE
                    yield StoreEvent(
                        EventKind.DELETE if deleted else EventKind.PUT,
                        ev.kv.key.decode(),
                        b"" if deleted else bytes(ev.kv.value),
                        ev.kv.mod_revision,
                    )
        except grpc.aio.AioRpcError as exc:
            raise StoreUnavailable(f"{what}: {_details(exc)}") from exc
        finally:
            call.cancel()

    # --- leases ---------------------------------------------------------------------------------------------

    async def grant_lease(self, ttl: float) -> int:
        """A lease of ``ttl`` rounded up to whole seconds; etcd raises it to its minimum (1.5 x election timeout)."""
        request = rpc.LeaseGrantRequest(TTL=max(1, math.ceil(ttl)))

        async def attempt(c: _SecureClient, timeout: float) -> Any:
            return await c.leasestub.LeaseGrant(request, timeout=timeout, metadata=_REQUIRE_LEADER)

        resp = await self._request("grant lease", attempt, _Mode.REPEATABLE)
        if resp.error:
            raise StoreError(f"grant lease: etcd answered {resp.error}")
        return int(resp.ID)

    async def refresh_lease(self, lease: int) -> None:
        request = rpc.LeaseKeepAliveRequest(ID=lease)

        async def attempt(c: _SecureClient, timeout: float) -> Any:
            call = c.leasestub.LeaseKeepAlive(iter([request]), timeout=timeout, metadata=_REQUIRE_LEADER)
            try:
                async for reply in call:
                    return reply
                return None
            finally:
                call.cancel()

        reply = await self._request(f"refresh lease {lease:x}", attempt, _Mode.REPEATABLE)
        if reply is None or reply.TTL <= 0:
            raise StoreError(f"lease {lease:x} has expired or was revoked")

    async def revoke_lease(self, lease: int) -> None:
        request = rpc.LeaseRevokeRequest(ID=lease)

        async def attempt(c: _SecureClient, timeout: float) -> Any:
            return await c.leasestub.LeaseRevoke(request, timeout=timeout, metadata=_REQUIRE_LEADER)

        try:
            await self._request(f"revoke lease {lease:x}", attempt, _Mode.REPEATABLE)
        except StoreError as exc:
            if "lease not found" not in str(exc):
                raise  # a lease that is already gone needs no revoking

    # --- membership and status ------------------------------------------------------------------------------

    async def members(self) -> list[MemberInfo]:
        async def attempt(c: _SecureClient, timeout: float) -> Any:
            return await c.clusterstub.MemberList(rpc.MemberListRequest(), timeout=timeout)

        resp = await self._request("list members", attempt, _Mode.READ, needs_leader=False)
        return [_member(m) for m in resp.members]

    async def add_member(
        self, peer_urls: list[str], *, learner: bool = False
    ) -> tuple[MemberInfo, list[MemberInfo]]:
        # A learner (etcd 3.4 raft learner) does not count towards the majority until promoted, so a member
        # that is added and never started costs the cluster no fault tolerance.
        request = rpc.MemberAddRequest(peerURLs=peer_urls, isLearner=learner)

        async def attempt(c: _SecureClient, timeout: float) -> Any:
            return await c.clusterstub.MemberAdd(request, timeout=timeout, metadata=_REQUIRE_LEADER)

        what = f"add member {','.join(peer_urls)}"
        resp = await self._request(what, attempt, _Mode.ONCE, timeout=self._reconfig_timeout)
        return _member(resp.member), [_member(m) for m in resp.members]

    async def remove_member(self, member_id: int) -> None:
        request = rpc.MemberRemoveRequest(ID=member_id)

        async def attempt(c: _SecureClient, timeout: float) -> Any:
            return await c.clusterstub.MemberRemove(request, timeout=timeout, metadata=_REQUIRE_LEADER)

        await self._request(
            f"remove member {member_id:x}", attempt, _Mode.ONCE, timeout=self._reconfig_timeout
        )

    async def promote_member(self, member_id: int) -> bool:
        """Promote a learner to a voting member: ``True`` once it votes, ``False`` while it has not caught up.

        etcd answers FAILED_PRECONDITION "can only promote a learner member which is in sync with leader" until
        the learner's log is close to the leader's (the caller retries), and "can only promote a learner
        member" for a member that already votes (an earlier promotion went through: ``True``). A learner's
        own etcd refuses the call ("rpc not supported for learner"): this store must talk to voters.
        """
        request = rpc.MemberPromoteRequest(ID=member_id)

        async def attempt(c: _SecureClient, timeout: float) -> Any:
            try:
                return await c.clusterstub.MemberPromote(request, timeout=timeout, metadata=_REQUIRE_LEADER)
            except grpc.aio.AioRpcError as exc:
                if exc.code() is grpc.StatusCode.FAILED_PRECONDITION:
                    return _details(exc)
                raise

        answer = await self._request(
            f"promote member {member_id:x}", attempt, _Mode.ONCE, timeout=self._reconfig_timeout
        )
        if not isinstance(answer, str):
            return True
        if "in sync" in answer:
            return False
        if "learner" in answer:
            return True  # "can only promote a learner member": it already votes
        raise StoreError(f"promote member {member_id:x}: etcd answered {answer}")

    async def status(self, client_url: str | None = None) -> StoreStatus:
        if client_url is not None and self._endpoints != (client_url,):
            return await fetch_status(client_url, self._tls, timeout=self._status_timeout)
        client = await self._connected()
        try:
            resp = await client.maintenancestub.Status(rpc.StatusRequest(), timeout=self._status_timeout)
        except grpc.aio.AioRpcError as exc:
            raise StoreUnavailable(f"etcd status: {_details(exc)}") from exc
        return StoreStatus(
            resp.header.member_id, resp.leader, resp.header.revision, resp.version, resp.isLearner
        )

    async def close(self) -> None:
        self._closed = True
        self._leaderless_since = None
        if self._leaderless_task is not None:
            self._leaderless_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._leaderless_task
        await self._monitor.close()
        await self._client.close()


def _member(m: Any) -> MemberInfo:
    return MemberInfo(m.ID, m.name, tuple(m.peerURLs), tuple(m.clientURLs), bool(m.isLearner))
