"""``EtcdStore``: the ``Store`` contract on an etcd cluster, over mutual TLS.

The store is four rooms:

- ``etcd_channel.py``: the mutual-TLS gRPC channel (aetcd opens only insecure ones), its target string, and
  etcd's ``hasleader`` metadata: a member without a leader refuses a request that carries it at once
  ("etcdserver: no leader") instead of holding it until its own 7 s request timeout;
- ``etcd_faults.py``: what a gRPC error means (refused before proposing, outcome unknown, final) and its
  coded error;
- ``etcd_retry.py``: the retry loop (bounded by ``write_timeout``), the leader monitor that restarts requests
  caught by a leader change, and the "leaderless for longer than an election" check;
- this module: the requests themselves (key-value, compare-and-set, watch, leases, membership) and guarded
  writes: under a write guard (``store.guard``, hedged writes) the four writes become one txn with the guard's
  idempotency record (``etcd_guarded.py``); the records share one lease per ``retention / 5`` seconds rather
  than a lease per write.

``put`` and ``delete`` are *at least once* across a leader failure; ``compare_and_set`` and
``compare_and_delete`` exactly once (or ``QuorumLost`` saying the outcome is unknown); membership changes are
never sent twice (``etcd_retry.py`` says how).

Errors at the seam: no leader / no commit within ``write_timeout`` → ``QuorumLost``; cannot reach the
member → ``StoreUnavailable``; history compacted under a watch → ``StoreUnavailable``.
"""

from __future__ import annotations

import logging
import math
from collections.abc import AsyncIterator, Callable, Sequence
from typing import Any

import aetcd
import grpc
from aetcd import rpc

from hostgate.config.settings import Settings
from hostgate.errors import CompareFailed, QuorumLost, StoreError, StoreUnavailable
from hostgate.store.base import EventKind, KeyValue, Store, StoreEvent, StoreStatus
from hostgate.store.etcd_channel import (
    REQUIRE_LEADER,
    EtcdTls,
    SecureClient,
    fetch_status,
    grpc_target,
    move_leader_at,
)
from hostgate.store.etcd_cluster import EtcdMembership
from hostgate.store.etcd_faults import details
from hostgate.store.etcd_guarded import GuardedWrites
from hostgate.store.etcd_retry import Mode, Requests
from hostgate.store.guard import RETENTION, active_guard, idempotency_path

__all__ = ["EtcdStore", "EtcdTls", "fetch_status", "grpc_target"]

log = logging.getLogger(__name__)


def _prefix_range(prefix: str) -> tuple[bytes, bytes]:
    if not prefix:
        return b"\0", b"\0"  # etcd: key "\0" with range_end "\0" means every key
    return prefix.encode(), aetcd.utils.prefix_range_end(prefix.encode())


def _kv(kv: Any) -> KeyValue:
    return KeyValue(kv.key.decode(), bytes(kv.value), kv.mod_revision, kv.lease)


class EtcdStore(EtcdMembership, Store):
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
        self._status_timeout = status_timeout
        self._rpc = Requests(
            SecureClient(grpc_target(self._endpoints), tls, write_timeout),
            write_timeout=write_timeout,
            status_timeout=status_timeout,
            election_grace=election_grace,
        )
        # etcd refuses membership changes for 5 s after any peer (re)connects; give them time to pass that.
        self._reconfig_timeout = max(write_timeout, 8.0)
        self._guarded = GuardedWrites(self._rpc, self.get, self.grant_lease, retention)

    def time_requests(self, timer: Callable[[str, float], None]) -> None:
        super().time_requests(timer)
        self._rpc.timer = timer  # every request of this store goes through its retry loop

    @classmethod
    def from_settings(cls, settings: Settings) -> EtcdStore:
        endpoints = settings.etcd.endpoints or (settings.etcd_client_url,)
        return cls(endpoints, EtcdTls.from_settings(settings), write_timeout=settings.etcd.write_timeout)

    @property
    def endpoints(self) -> tuple[str, ...]:
        return self._endpoints

    # --- key-value ------------------------------------------------------------------------------------------

    async def get(self, key: str, *, serializable: bool = False) -> KeyValue | None:
        request = rpc.RangeRequest(key=key.encode(), serializable=serializable)
        metadata = None if serializable else REQUIRE_LEADER

        async def attempt(c: SecureClient, timeout: float) -> Any:
            return await c.kvstub.Range(request, timeout=timeout, metadata=metadata)

        resp = await self._rpc.request(f"get {key}", attempt, Mode.READ, needs_leader=not serializable)
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
        metadata = None if serializable else REQUIRE_LEADER

        async def attempt(c: SecureClient, timeout: float) -> Any:
            return await c.kvstub.Range(request, timeout=timeout, metadata=metadata)

        resp = await self._rpc.request(f"get {prefix}*", attempt, Mode.READ, needs_leader=not serializable)
        return [_kv(kv) for kv in resp.kvs], int(resp.header.revision)

    async def put(self, key: str, value: bytes, *, lease: int = 0) -> int:
        request = rpc.PutRequest(key=key.encode(), value=value, lease=lease)
        guard = active_guard()
        if guard is not None:
            _, revision = await self._guarded.txn(
                f"put {key}", guard, rpc.RequestOp(request_put=request), key
            )
            return revision

        async def attempt(c: SecureClient, timeout: float) -> Any:
            return await c.kvstub.Put(request, timeout=timeout, metadata=REQUIRE_LEADER)

        resp = await self._rpc.request(f"put {key}", attempt, Mode.REPEATABLE)
        return int(resp.header.revision)

    async def delete(self, key: str) -> bool:
        request = rpc.DeleteRangeRequest(key=key.encode())
        guard = active_guard()
        if guard is not None:
            op = rpc.RequestOp(request_delete_range=request)
            resp, _ = await self._guarded.txn(f"delete {key}", guard, op, key)
            return resp is None or resp.responses[0].response_delete_range.deleted > 0

        async def attempt(c: SecureClient, timeout: float) -> Any:
            return await c.kvstub.DeleteRange(request, timeout=timeout, metadata=REQUIRE_LEADER)

        resp = await self._rpc.request(f"delete {key}", attempt, Mode.REPEATABLE)
        return bool(resp.deleted > 0)

    # --- ranges (records outside the in-memory copy: the audit trail) --------------------------------------

    async def put_many(self, items: Sequence[tuple[str, bytes]]) -> int:
        # One txn without comparisons: atomic, one revision; etcd caps a txn at --max-txn-ops (128 by default).
        ops = [rpc.RequestOp(request_put=rpc.PutRequest(key=k.encode(), value=v)) for k, v in items]
        request = rpc.TxnRequest(success=ops)

        async def attempt(c: SecureClient, timeout: float) -> Any:
            return await c.kvstub.Txn(request, timeout=timeout, metadata=REQUIRE_LEADER)

        resp = await self._rpc.request(f"put {len(ops)} keys", attempt, Mode.REPEATABLE)
        return int(resp.header.revision)

    async def _range(self, what: str, request: Any, serializable: bool) -> Any:
        metadata = None if serializable else REQUIRE_LEADER

        async def attempt(c: SecureClient, timeout: float) -> Any:
            return await c.kvstub.Range(request, timeout=timeout, metadata=metadata)

        return await self._rpc.request(what, attempt, Mode.READ, needs_leader=not serializable)

    async def get_range(
        self, start: str, end: str, *, limit: int = 0, descending: bool = False, serializable: bool = False
    ) -> list[KeyValue]:
        request = rpc.RangeRequest(
            key=start.encode(),
            range_end=end.encode(),
            limit=max(limit, 0),
            sort_order=rpc.RangeRequest.DESCEND if descending else rpc.RangeRequest.ASCEND,
            sort_target=rpc.RangeRequest.KEY,
            serializable=serializable,
        )
        resp = await self._range(f"get [{start}, {end})", request, serializable)
        return [_kv(kv) for kv in resp.kvs]

    async def count_range(self, start: str, end: str, *, serializable: bool = False) -> int:
        request = rpc.RangeRequest(
            key=start.encode(), range_end=end.encode(), count_only=True, serializable=serializable
        )
        resp = await self._range(f"count [{start}, {end})", request, serializable)
        return int(resp.count)

    async def delete_range(self, start: str, end: str) -> int:
        request = rpc.DeleteRangeRequest(key=start.encode(), range_end=end.encode())

        async def attempt(c: SecureClient, timeout: float) -> Any:
            return await c.kvstub.DeleteRange(request, timeout=timeout, metadata=REQUIRE_LEADER)

        resp = await self._rpc.request(f"delete [{start}, {end})", attempt, Mode.REPEATABLE)
        return int(resp.deleted)

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

        async def attempt(c: SecureClient, timeout: float) -> Any:
            return await c.kvstub.Txn(request, timeout=timeout, metadata=REQUIRE_LEADER)

        async def not_applied() -> bool:
            kv = await self.get(key)
            return (kv.mod_revision if kv else 0) == expected_revision

        resp = await self._rpc.request(what, attempt, Mode.CHECKED, not_applied=not_applied)
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
            _, revision = await self._guarded.txn(what, guard, put, key, expected_revision)
            return revision
        resp = await self._txn(f"compare-and-set {key}", key, expected_revision, put)
        return int(resp.header.revision)

    async def compare_and_delete(self, key: str, expected_revision: int) -> None:
        delete = rpc.RequestOp(request_delete_range=rpc.DeleteRangeRequest(key=key.encode()))
        guard = active_guard()
        if guard is not None:
            await self._guarded.txn(f"compare-and-delete {key}", guard, delete, key, expected_revision)
            return
        await self._txn(f"compare-and-delete {key}", key, expected_revision, delete)

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

        async def attempt(c: SecureClient, timeout: float) -> Any:
            return await c.kvstub.Compact(request, timeout=timeout, metadata=REQUIRE_LEADER)

        await self._rpc.request(f"compact at {revision}", attempt, Mode.REPEATABLE)

    # --- watch ----------------------------------------------------------------------------------------------

    def watch_prefix(self, prefix: str, start_revision: int) -> AsyncIterator[StoreEvent]:
        """Every change under ``prefix`` from ``start_revision`` (inclusive), on a gRPC stream of its own.

        aetcd's shared ``Watcher`` is not used: it ignores a response that cancels a watch without a
        compaction revision (the iterator would then wait forever), and one stream per watch lets closing the
        iterator cancel exactly its own stream.
        """
        return self._watch(prefix, start_revision)

    async def _watch(self, prefix: str, start_revision: int) -> AsyncIterator[StoreEvent]:
        client = await self._rpc.connected()
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
            raise StoreUnavailable(f"{what}: {details(exc)}") from exc
        finally:
            call.cancel()

    # --- leases ---------------------------------------------------------------------------------------------

    async def grant_lease(self, ttl: float) -> int:
        """A lease of ``ttl`` rounded up to whole seconds; etcd raises it to its minimum (1.5 x election timeout)."""
        request = rpc.LeaseGrantRequest(TTL=max(1, math.ceil(ttl)))

        async def attempt(c: SecureClient, timeout: float) -> Any:
            return await c.leasestub.LeaseGrant(request, timeout=timeout, metadata=REQUIRE_LEADER)

        resp = await self._rpc.request("grant lease", attempt, Mode.REPEATABLE)
        if resp.error:
            raise StoreError(f"grant lease: etcd answered {resp.error}")
        return int(resp.ID)

    async def refresh_lease(self, lease: int) -> None:
        request = rpc.LeaseKeepAliveRequest(ID=lease)

        async def attempt(c: SecureClient, timeout: float) -> Any:
            call = c.leasestub.LeaseKeepAlive(iter([request]), timeout=timeout, metadata=REQUIRE_LEADER)
            try:
                async for reply in call:
                    return reply
                return None
            finally:
                call.cancel()

        reply = await self._rpc.request(f"refresh lease {lease:x}", attempt, Mode.REPEATABLE)
        if reply is None or reply.TTL <= 0:
            raise StoreError(f"lease {lease:x} has expired or was revoked")

    async def revoke_lease(self, lease: int) -> None:
        request = rpc.LeaseRevokeRequest(ID=lease)

        async def attempt(c: SecureClient, timeout: float) -> Any:
            return await c.leasestub.LeaseRevoke(request, timeout=timeout, metadata=REQUIRE_LEADER)

        try:
            await self._rpc.request(f"revoke lease {lease:x}", attempt, Mode.REPEATABLE)
        except StoreError as exc:
            if "lease not found" not in str(exc):
                raise  # a lease that is already gone needs no revoking

    # --- status ------------------------------------------------------------------------------------------

    async def status(self, client_url: str | None = None) -> StoreStatus:
        if client_url is not None and self._endpoints != (client_url,):
            return await fetch_status(client_url, self._tls, timeout=self._status_timeout)
        client = await self._rpc.connected()
        try:
            resp = await client.maintenancestub.Status(rpc.StatusRequest(), timeout=self._status_timeout)
        except grpc.aio.AioRpcError as exc:
            raise StoreUnavailable(f"etcd status: {details(exc)}") from exc
        return StoreStatus(
            resp.header.member_id, resp.leader, resp.header.revision, resp.version, resp.isLearner
        )

    async def move_leader(self, member_id: int) -> None:
        # Issue #21 (`hostgate cluster move-leader`): to the current leader, found through this member.
        local = await self.status()
        if local.leader_id == 0:
            raise QuorumLost("there is no store leader to hand the leadership over from")
        if local.leader_id == member_id:
            return
        members = {m.id: m for m in await self.members()}
        leader = members.get(local.leader_id)
        if leader is None or not leader.client_urls:
            raise StoreUnavailable(f"the store leader {local.leader_id:x} is not in the member list")
        await move_leader_at(leader.client_urls[0], self._tls, member_id, timeout=self._reconfig_timeout)

    async def close(self) -> None:
        await self._rpc.close()
