"""The management server's in-memory copy of the replicated configuration, fed by a store watch.

ARCHITECTURE.md: "reads survive, writes need a majority". Authentication, cluster status and routing read this
copy, never the store, so they keep working while any one member is up. The copy is loaded with a
serializable read of the local store member (works without a quorum) and then follows a prefix watch; when the
watch breaks it reloads and watches again, logging one line each time.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import TypeVar

from hostgate.errors import HostgateError, StoreError
from hostgate.store.base import EventKind, Store

__all__ = ["ConfigCache"]

log = logging.getLogger("hostgate.management.cache")
R = TypeVar("R")


class ConfigCache:
    """This member's copy of every record under ``prefix``, following the store's watch.

    Guarantees:

    - After ``start()`` it holds exactly the keys under ``prefix`` as one revision of the store had them; from
      then the watch's changes are applied in revision order: the copy may lag behind the store, never runs
      ahead of it, never loses a change (after a broken watch it is reloaded whole) and never goes back (a
      reload older than the copy, from a member that lags behind, is ignored).
    - Reads (``get``, ``items``, ``decode``, ``revision``) are plain memory reads: they never touch the store
      and never wait, so logins, status and routing answer while the store has no majority or is unreachable.
    - A broken watch is logged (one line), the last copy keeps being served, and the copy is reloaded (a
      serializable read: no majority needed) and followed again every ``retry_delay`` seconds until that
      works; changes made meanwhile, deletes included, then show up.
    - ``wait_for_revision``/``wait_until`` give read-your-writes after a put and return ``False`` on timeout,
      never raise and never wait past ``timeout``.
    - ``decode`` runs a decoder once per stored value; a decoded record is never served for bytes that are no
      longer stored (records are frozen, so sharing them is safe).

    Not thread-safe: use it from one event loop (the one that called ``start()``).
    """

    def __init__(self, store: Store, prefix: str, *, retry_delay: float = 0.5) -> None:
        self._store = store
        self._prefix = prefix
        self._data: dict[str, bytes] = {}
        # (key, decoder) -> (the raw bytes decoded, the record): valid while the same bytes object is stored.
        self._decoded: dict[tuple[str, object], tuple[bytes, object]] = {}
        self._revision = 0
        self._changed = asyncio.Condition()
        self._task: asyncio.Task[None] | None = None
        self._retry_delay = retry_delay
        self.loaded = asyncio.Event()

    @property
    def revision(self) -> int:
        return self._revision

    def get(self, key: str) -> bytes | None:
        return self._data.get(key)

    def items(self, prefix: str) -> list[tuple[str, bytes]]:
        return sorted((k, v) for k, v in self._data.items() if k.startswith(prefix))

    def decode(self, key: str, decoder: Callable[[str, bytes], R]) -> R | None:
        """The record at ``key``, decoded once per stored value (records are frozen, so sharing is safe)."""
        raw = self._data.get(key)
        if raw is None:
            return None
        memo = self._decoded.get((key, decoder))
        if memo is not None and memo[0] is raw:
            return memo[1]  # type: ignore[return-value]  # stored by this decoder, so of its type
        value = decoder(key, raw)
        self._decoded[(key, decoder)] = (raw, value)
        return value

    async def start(self) -> None:
        await self._load()
        self._task = asyncio.create_task(self._follow(), name="config-cache-watch")

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def wait_for_revision(self, revision: int, timeout: float = 5.0) -> bool:
        """Wait until the copy has seen ``revision`` (read-your-writes after a put); ``False`` on timeout."""
        return await self.wait_until(lambda: self._revision >= revision, timeout)

    async def wait_until(self, predicate: Callable[[], bool], timeout: float = 5.0) -> bool:
        """Wait until ``predicate()`` holds for the copy; ``False`` on timeout."""
        async with self._changed:
            try:
                await asyncio.wait_for(self._changed.wait_for(predicate), timeout)
            except TimeoutError:
                return False
        return True

    async def _load(self) -> None:
        kvs, revision = await self._store.get_prefix(self._prefix, serializable=True)
        async with self._changed:
            if revision < self._revision:
                # A serializable read may be answered by a member that lags behind (an etcd follower that has
                # not applied what this copy already shows): keep the newer copy and watch on from it.
                log.info(
                    "config reload answered revision %d, older than this copy's %d; kept",
                    revision,
                    self._revision,
                )
                return
            self._data = {kv.key: kv.value for kv in kvs}
            self._decoded.clear()
            self._revision = revision
            self._changed.notify_all()
        self.loaded.set()

    async def _follow(self) -> None:
        while True:
            try:
                async for event in self._store.watch_prefix(self._prefix, self._revision + 1):
                    async with self._changed:
                        if event.kind is EventKind.PUT:
                            self._data[event.key] = event.value
                        else:
                            self._data.pop(event.key, None)
                            self._decoded = {k: v for k, v in self._decoded.items() if k[0] != event.key}
                        self._revision = max(self._revision, event.mod_revision)
                        self._changed.notify_all()
                log.info("config watch ended; reloading")
            except asyncio.CancelledError:
                raise
            except (StoreError, HostgateError) as exc:
                log.warning(
                    "config watch broke (%s); serving the last copy, reloading in %.1f s",
                    exc,
                    self._retry_delay,
                )
            await asyncio.sleep(self._retry_delay)  # back-off between reload attempts, not synchronisation
            try:
                await self._load()
            except HostgateError as exc:
                log.warning(
                    "config reload failed (%s); serving the last copy (revision %d)", exc, self._revision
                )
