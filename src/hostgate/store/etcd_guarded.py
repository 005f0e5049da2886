"""Guarded writes on etcd: a hedged write and its idempotency record in one txn (``store.guard``).

Under a write guard the store's four writes (``put``, ``delete``, ``compare_and_set``, ``compare_and_delete``)
become one etcd txn that also compares and moves the guard's record (``/hostgate-writes/<key>``), so a
duplicate of a hedged request can never apply twice: the record moves exactly when the write applies. The
records share one lease, replaced every ``retention / 5`` s and living ``retention * 1.2`` s, so every record
lives at least ``retention`` seconds and a lease grant costs one request a minute, not one per write.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

from aetcd import rpc

from hostgate.errors import CompareFailed, StoreError
from hostgate.store.base import KeyValue
from hostgate.store.etcd_channel import REQUIRE_LEADER, SecureClient
from hostgate.store.etcd_retry import Mode, Requests
from hostgate.store.guard import WriteGuard

__all__ = ["GuardedWrites"]


class GuardedWrites:
    """The guarded txn of one store: ``get`` and ``grant_lease`` are the store's own (retried) calls."""

    def __init__(
        self,
        rpc_: Requests,
        get: Callable[[str], Awaitable[KeyValue | None]],
        grant_lease: Callable[[float], Awaitable[int]],
        retention: float,
    ) -> None:
        self._rpc = rpc_
        self._get = get
        self._grant_lease = grant_lease
        self._retention = retention
        self._record_lease: tuple[int, float] | None = None  # (lease id, monotonic time granted)
        self._record_lease_lock = asyncio.Lock()

    async def txn(
        self, what: str, guard: WriteGuard, op: rpc.RequestOp, key: str, expected_revision: int | None = None
    ) -> tuple[Any, int]:
        """``op`` and the guard's record in one txn: (etcd's answer or ``None`` if an earlier try of ours
        applied it, revision). Raises ``DuplicateWrite``, ``CompareFailed`` or ``DeadlineExpired``."""
        try:
            return await self._txn_once(what, guard, op, key, expected_revision)
        except StoreError as exc:
            if "lease not found" not in str(exc):
                raise
            # The shared lease expired early (it is never refreshed): take a new one and try once more.
            self._record_lease = None
            return await self._txn_once(what, guard, op, key, expected_revision)

    async def _txn_once(
        self, what: str, guard: WriteGuard, op: rpc.RequestOp, key: str, expected_revision: int | None
    ) -> tuple[Any, int]:
        guard.check(what)  # the last check before the write; the retry loop bounds the write itself
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

        async def attempt(c: SecureClient, timeout: float) -> Any:
            return await c.kvstub.Txn(request, timeout=timeout, metadata=REQUIRE_LEADER)

        async def not_applied() -> bool:
            # Exact: the record moves exactly when this txn applies.
            kv = await self._get(guard.path)
            return (kv.mod_revision if kv else 0) == guard.revision

        resp = await self._rpc.request(what, attempt, Mode.CHECKED, not_applied=not_applied)
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
                current = (await self._grant_lease(self._retention + rotate), granted_at)
                self._record_lease = current
            return current[0]
