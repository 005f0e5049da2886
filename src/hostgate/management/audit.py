"""The audit trail: who changed what, when, from where (issue #17), kept in the cluster's store.

``AuditTrail.record`` is what the rest of the code calls. It never raises and never makes its caller wait for
the store: it scrubs the entry (no secret is ever kept: management/audit_records.py), logs it, and puts it on
this member's bounded queue. One writer task per member drains the queue in batches (one atomic store write
of up to ``BATCH`` entries), so a burst of changes costs a few store writes, not one each.

When the store cannot take entries (no quorum, unreachable), they wait on the queue and the writer retries
with a backoff; the first failure of an outage is logged once. When the queue is full, further entries are
counted, not queued, and one ``audit.dropped`` entry with the count is written once the store takes entries
again (the loss is logged too). Entries still queued when the member stops are logged as lost.

Entries live outside the configuration prefix the members hold in memory (see audit_records.py); they are
read a page at a time and pruned by age and count (audit_query.py; ``[audit]`` settings). The periodic prune
runs on every member: deletes by key range are idempotent.

Not thread-safe: call ``record`` from the server's event loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import itertools
import logging
import random
from collections import deque
from collections.abc import Mapping

from hostgate._clock import SYSTEM_CLOCK, Clock
from hostgate.config.settings import AuditSettings
from hostgate.errors import HostgateError
from hostgate.management.audit_query import Page, Pruned, Query, prune, read_page
from hostgate.management.audit_records import AuditEntry, entry_key, scrub
from hostgate.store.base import Store

__all__ = ["BATCH", "AuditTrail"]

log = logging.getLogger("hostgate.audit")

BATCH = 99  # entries per store write, plus one "audit.dropped" entry: etcd's txn limit is 128 operations
_RETRY_FIRST = 0.2
_RETRY_MAX = 5.0


class AuditTrail:
    """This member's side of the audit trail. ``AuditTrail()`` (no store) only logs.

    Example::

        trail = AuditTrail(store, "m1", settings.audit)
        trail.record(actor="admin", action="add_user", target="bob", source="10.0.0.7")
        page = await trail.read(Query(limit=20))
        await trail.close()
    """

    def __init__(
        self,
        store: Store | None = None,
        member: str = "",
        settings: AuditSettings | None = None,
        *,
        clock: Clock = SYSTEM_CLOCK,
        retry_max: float = _RETRY_MAX,
    ) -> None:
        self._store = store
        self._member = member or "-"
        self._settings = settings or AuditSettings()
        self._clock = clock
        self._retry_max = retry_max
        self._queue: deque[AuditEntry] = deque()
        self._dropped = 0  # entries refused by a full queue, not yet written as an "audit.dropped" entry
        self._dropped_entry: AuditEntry | None = (
            None  # that entry, once built (its key is kept across retries)
        )
        self._counter = itertools.count()
        self._wake: asyncio.Event | None = None
        self._writer: asyncio.Task[None] | None = None
        self._pruner: asyncio.Task[None] | None = None
        self._closed = False
        self.written = 0  # entries stored by this member since it started (tests, diagnostics)

    # --- recording ---------------------------------------------------------------------------------------

    def record(
        self,
        *,
        actor: str,
        action: str,
        target: str = "",
        source: str = "",
        outcome: str = "ok",
        detail: Mapping[str, object] | None = None,
    ) -> None:
        """Keep one entry. ``actor``: the user (or session server) that acted; ``action``: what was done (an
        endpoint's name from messages/endpoints.py, ``add_user``, or a dotted verb, ``login.failed``,
        ``login.lockout``, ``model.deploy``); ``target``: what it acted on; ``source``: the client address;
        ``outcome``: ``ok`` or the error code; ``detail``: a few words; fields named like a secret are removed.

        Never raises, never waits: the entry is queued for this member's writer (see the module doc)."""
        try:
            entry = self._entry(actor, action, target, source, outcome, detail)
            log.info(
                "audit: %s %s %s from %s: %s %s",
                entry.actor, entry.action, entry.target, entry.source or "-", entry.outcome, dict(entry.detail),
            )  # fmt: skip
            if self._store is None or self._closed:
                return
            if len(self._queue) >= self._settings.queue:
                if self._dropped == 0:
                    log.warning(
                        "audit: %d entries wait for the store; further entries are counted and dropped",
                        len(self._queue),
                    )
                self._dropped += 1
                return
            self._queue.append(entry)
            self._kick()
        except Exception:  # the contract: recording never fails the caller
            log.exception("audit: could not record %s %s by %s", action, target, actor)

    def _entry(
        self,
        actor: str,
        action: str,
        target: str,
        source: str,
        outcome: str,
        detail: Mapping[str, object] | None,
    ) -> AuditEntry:
        now = self._clock.wall()
        key = entry_key(int(now * 1e9), self._member, next(self._counter))
        return AuditEntry(
            key, now, self._member, actor or "-", action, target, source, outcome or "ok", scrub(detail)
        )

    def _kick(self) -> None:
        """Start the writer if needed (on the running loop) and wake it."""
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            return  # no loop here: the entry waits for start() or the next record() on the loop
        if self._wake is None:
            self._wake = asyncio.Event()
        if self._writer is None or self._writer.done():
            # A context of its own: the first record() may come from a guarded request (store.guard), whose
            # guard must not follow the writer's store calls.
            self._writer = asyncio.create_task(
                self._write_loop(), name="audit-writer", context=contextvars.Context()
            )
        self._wake.set()

    async def _write_loop(self) -> None:
        assert self._store is not None and self._wake is not None
        failures = 0
        while True:
            if not self._queue and not self._dropped and self._dropped_entry is None:
                self._wake.clear()
                await self._wake.wait()
                continue
            batch = list(itertools.islice(self._queue, BATCH))
            if self._dropped and self._dropped_entry is None:
                self._dropped_entry = self._entry(
                    "hostgate", "audit.dropped", self._member, "", "ok", {"count": str(self._dropped)}
                )
                self._dropped = 0
            extra = [self._dropped_entry] if self._dropped_entry is not None else []
            try:
                await self._store.put_many([(e.key, e.encode()) for e in (*batch, *extra)])
            except HostgateError as exc:
                failures += 1
                if failures == 1:
                    log.warning(
                        "audit: the store does not take entries (%s); %d wait on this member (at most %d)",
                        exc, len(self._queue), self._settings.queue,
                    )  # fmt: skip
                # Backoff between tries while the store has no quorum, not synchronisation.
                await asyncio.sleep(min(_RETRY_FIRST * 2 ** min(failures - 1, 10), self._retry_max))
                continue
            if failures:
                log.info("audit: the store takes entries again (after %d failed tries)", failures)
                failures = 0
            for _ in batch:
                self._queue.popleft()
            self.written += len(batch) + len(extra)
            if extra:
                log.warning("audit: %s entries were lost to a full queue (recorded as audit.dropped)",
                            dict(extra[0].detail)["count"])  # fmt: skip
                self._dropped_entry = None

    @property
    def pending(self) -> int:
        """Entries recorded but not yet stored (queued, or counted as dropped)."""
        return len(self._queue) + self._dropped + (self._dropped_entry is not None)

    async def flush(self, timeout: float) -> bool:
        """Wait until every recorded entry is stored; ``False`` after ``timeout``."""
        self._kick()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while self.pending and loop.time() < deadline:
            await asyncio.sleep(0.02)  # poll interval, bounded by the deadline
        return not self.pending

    # --- lifecycle, pruning, reading ---------------------------------------------------------------------

    def start(self) -> None:
        """Start the writer and the periodic prune (on the running loop)."""
        if self._store is None or self._closed:
            return
        self._kick()
        if self._pruner is None:
            self._pruner = asyncio.create_task(
                self._prune_loop(), name="audit-prune", context=contextvars.Context()
            )

    async def close(self, timeout: float = 2.0) -> None:
        """Stop; entries the store has not taken within ``timeout`` are logged as lost."""
        if self._closed:
            return
        if self._store is not None and self.pending:
            await self.flush(timeout)
        self._closed = True
        for task in (self._writer, self._pruner):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        if self.pending:
            log.warning("audit: %d entries were not stored before this member stopped", self.pending)

    async def prune(self) -> Pruned:
        assert self._store is not None
        s = self._settings
        return await prune(self._store, self._clock.wall(), s.retention_days, s.max_entries)

    async def _prune_loop(self) -> None:
        interval = self._settings.prune_interval
        while True:
            # Spread over the members (each prunes; the deletes are idempotent), first one soon after start.
            await asyncio.sleep(interval * random.uniform(0.5, 1.0))  # the prune period
            try:
                log.info("%s", await self.prune())
            except HostgateError as exc:
                log.warning("audit prune failed (%s); next try in about %.0f s", exc, interval)

    async def read(self, query: Query) -> Page:
        """One page of stored entries (``StoreUnavailable`` when no store member answers)."""
        if self._store is None:
            return Page((), None)
        return await read_page(self._store, query)
