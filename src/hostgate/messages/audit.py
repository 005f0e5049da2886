"""The answer of ``GET /api/v1/audit`` and the time forms its query and ``hostgate audit`` accept.

Query (all optional): ``since`` and ``until`` (a time, below; ``until`` excluded), ``limit`` (1-1000, default
100), ``action`` (``add_user``, or a dotted family: ``login`` matches ``login.failed`` and ``login.lockout``),
``order`` (``newest``, the default, or ``oldest``) and ``cursor`` (the ``next`` of the previous page).
"""

from __future__ import annotations

import datetime as dt
import re

from hostgate.errors import UsageError
from hostgate.messages._base import Reply

__all__ = ["AuditEntryView", "AuditPage", "parse_when"]


class AuditEntryView(Reply, frozen=True):
    """One entry: when (``time``, seconds since the epoch, and ``at``, ISO 8601 UTC), which member recorded it,
    who, what, on what, from where, the outcome (``ok`` or an error code) and a few words (never a secret)."""

    time: float
    at: str
    member: str
    actor: str
    action: str
    target: str
    source: str
    outcome: str
    detail: dict[str, str]


class AuditPage(Reply, frozen=True):
    """Entries in the order asked for; ``next`` continues after the last one (``None``: nothing further)."""

    entries: tuple[AuditEntryView, ...]
    next: str | None = None
    order: str = "newest"


_AGO = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|m|h|d|w)\s*$")
_UNIT = {"s": 1, "m": 60, "h": 3600, "d": 86_400, "w": 604_800}


def parse_when(text: str, now: float, what: str = "time") -> float:
    """Seconds since the epoch of ``text``: a duration ago (``90s``, ``15m``, ``1h``, ``7d``, ``2w``), an ISO
    8601 time (``2026-11-30T05:00``, UTC unless it names an offset) or seconds since the epoch.
    ``UsageError`` (HG-1003) otherwise."""
    ago = _AGO.match(text)
    if ago:
        return now - float(ago.group(1)) * _UNIT[ago.group(2)]
    try:
        value = float(text)
    except ValueError:
        pass
    else:
        if value >= 0 and value == value and value != float("inf"):
            return value
    try:
        parsed = dt.datetime.fromisoformat(text.strip())
    except ValueError:
        raise UsageError(
            f"{what} {text[:40]!r} is not a time",
            hint="Give a duration ago (90s, 15m, 1h, 7d), an ISO 8601 time (2026-11-30T05:00, UTC unless an "
            "offset is given) or seconds since the epoch.",
        ) from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=dt.UTC)
    return parsed.timestamp()
