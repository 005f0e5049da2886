"""Reading and pruning the stored audit trail: ranged store reads and deletes, never the whole trail at once.

Reads are serializable (the local store member's copy, no majority needed: the trail can be read while writes
are refused) and bounded: a page scans at most ``SCAN_BUDGET`` entries, in chunks, whatever the filter; when
the budget runs out before the page is full, the page ends early with a ``next`` cursor to continue.

Pruning deletes by key range (store ``delete_range``), so it is idempotent: any member may run it, at any time,
twice. Two members pruning the excess over ``max_entries`` at the same instant may each delete one chunk of
the oldest entries; the trail then holds up to one chunk (``PRUNE_CHUNK``) fewer than ``max_entries``.
"""

from __future__ import annotations

from dataclasses import dataclass

from hostgate.management.audit_records import AUDIT_END, AUDIT_PREFIX, AuditEntry, time_key
from hostgate.store.base import Store

__all__ = ["PRUNE_CHUNK", "SCAN_BUDGET", "Page", "Pruned", "Query", "prune", "read_page"]

SCAN_BUDGET = 5_000
PRUNE_CHUNK = 1_000  # entries read per step when pruning by count (a few hundred KiB: under gRPC's 4 MiB)
_CHUNK = 500


@dataclass(frozen=True, slots=True)
class Query:
    since: float | None = None
    until: float | None = None  # excluded
    limit: int = 100
    action: str | None = None
    oldest_first: bool = False
    cursor: str | None = None  # the key of the last entry of the previous page


@dataclass(frozen=True, slots=True)
class Page:
    entries: tuple[AuditEntry, ...]
    next: str | None


def _matches(action: str | None, entry: AuditEntry) -> bool:
    return action is None or entry.action == action or entry.action.startswith(action + ".")


def _bounds(q: Query) -> tuple[str, str]:
    start = time_key(q.since) if q.since is not None else AUDIT_PREFIX
    end = time_key(q.until) if q.until is not None else AUDIT_END
    if q.cursor is not None and q.cursor.startswith(AUDIT_PREFIX):
        if q.oldest_first:
            start = max(start, q.cursor + "\0")  # strictly after the cursor
        else:
            end = min(end, q.cursor)  # strictly before it
    return start, end


async def read_page(store: Store, q: Query) -> Page:
    """One page of entries matching ``q``, in its order, and the cursor of the next page."""
    start, end = _bounds(q)
    found: list[AuditEntry] = []
    scanned = 0
    last = ""
    while start < end and len(found) < q.limit and scanned < SCAN_BUDGET:
        want = min(max(q.limit - len(found), _CHUNK if q.action else 1), SCAN_BUDGET - scanned)
        kvs = await store.get_range(start, end, limit=want, descending=not q.oldest_first, serializable=True)
        for kv in kvs:
            scanned += 1
            last = kv.key
            entry = AuditEntry.decode(kv.key, kv.value)
            if _matches(q.action, entry):
                found.append(entry)
                if len(found) == q.limit:
                    break
        if len(kvs) < want:
            return Page(tuple(found), None)  # the range is exhausted
        if q.oldest_first:
            start = last + "\0"
        else:
            end = last
    return Page(tuple(found), last if last and start < end else None)


@dataclass(frozen=True, slots=True)
class Pruned:
    """What one prune did (its log line)."""

    expired: int
    excess: int
    retention_days: float
    max_entries: int

    def __str__(self) -> str:
        return (
            f"audit prune: {self.expired} entries older than {self.retention_days:g} days and {self.excess} "
            f"beyond the newest {self.max_entries} removed"
        )


async def prune(store: Store, now: float, retention_days: float, max_entries: int) -> Pruned:
    """Delete entries older than ``retention_days``, then the oldest beyond ``max_entries``."""
    expired = await store.delete_range(AUDIT_PREFIX, time_key(now - retention_days * 86_400))
    excess = 0
    while (over := await store.count_range(AUDIT_PREFIX, AUDIT_END) - max_entries) > 0:
        oldest = await store.get_range(AUDIT_PREFIX, AUDIT_END, limit=min(over, PRUNE_CHUNK))
        if not oldest:
            break
        removed = await store.delete_range(AUDIT_PREFIX, oldest[-1].key + "\0")
        excess += removed
        if removed == 0:
            break  # another member is pruning the same entries: the rest is its work
    return Pruned(expired, excess, retention_days, max_entries)
