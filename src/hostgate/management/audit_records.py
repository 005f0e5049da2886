"""Audit entries as the store keeps them: where they live, how their keys sort, and what they may never hold.

Entries live under :data:`AUDIT_PREFIX`, outside the configuration prefix (``/hostgate/``) that every member's
:class:`~hostgate.management.cache.ConfigCache` loads and watches: a member never holds the trail in memory,
only what one request reads. (``/hostgate-audit/`` sorts before ``/hostgate/`` byte-wise, ``-`` < ``/``, so
an etcd prefix range of one never covers the other.)

A key is ``/hostgate-audit/<time in ns, 20 digits>/<member>/<counter>``: keys sort by time across members
(their clocks as NTP keeps them), and the member name and its counter make two entries of one nanosecond
distinct. Each key is chosen when the entry is recorded, so writing it again after a failed try is harmless.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass

from hostgate.errors import StoreCorrupt

__all__ = [
    "AUDIT_END",
    "AUDIT_PREFIX",
    "REMOVED",
    "AuditEntry",
    "entry_key",
    "scrub",
    "time_key",
]

AUDIT_PREFIX = "/hostgate-audit/"
AUDIT_END = "/hostgate-audit0"  # the first key after every key under AUDIT_PREFIX ("/" + 1 is "0")
REMOVED = "(removed)"
# A field whose name says it may hold a secret is never kept, whatever its value: passwords (password,
# bind_password, new_password), keys (key_pem, private keys), CSRs, tokens, the Authorization header.
_SECRET_NAME = re.compile(r"pass|secret|token|key|csr|pem|credential|authoriz|cookie", re.IGNORECASE)
_MAX_FIELDS = 32
_MAX_VALUE = 256


def entry_key(time_ns: int, member: str, counter: int) -> str:
    return f"{AUDIT_PREFIX}{time_ns:020d}/{member}/{counter:010d}"


_LATEST_NS = 10**20 - 1  # 20 digits (the year 5138): a later time would not sort as a number


def time_key(seconds: float) -> str:
    """The bound between entries before ``seconds`` (since the epoch) and entries at or after it."""
    return f"{AUDIT_PREFIX}{min(max(0, int(seconds * 1e9)), _LATEST_NS):020d}"


def _scrubbed(value: object) -> object:
    if isinstance(value, Mapping):
        return {str(k): REMOVED if _SECRET_NAME.search(str(k)) else _scrubbed(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_scrubbed(v) for v in value]
    return value


def _text(value: object) -> str:
    text = value if isinstance(value, str) else json.dumps(value, sort_keys=True, separators=(",", ":"))
    return text if len(text) <= _MAX_VALUE else text[: _MAX_VALUE - 1] + "…"


def scrub(detail: Mapping[str, object] | None) -> tuple[tuple[str, str], ...]:
    """``detail`` as an entry keeps it: secret-named fields (at any depth) replaced by ``(removed)``, nested
    values as compact JSON, each value at most 256 characters, at most 32 fields (sorted by name)."""
    if not detail:
        return ()
    clean = _scrubbed(detail)
    assert isinstance(clean, dict)
    return tuple((k, _text(v)) for k, v in sorted(clean.items())[:_MAX_FIELDS])


@dataclass(frozen=True, slots=True)
class AuditEntry:
    """One audit entry: ``time`` in seconds since the epoch, the ``member`` that recorded it, who (``actor``),
    what (``action``, ``target``), from where (``source``), ``outcome`` (``ok`` or an error code) and
    ``detail`` (scrubbed: never a secret). ``key`` is where it is stored."""

    key: str
    time: float
    member: str
    actor: str
    action: str
    target: str
    source: str
    outcome: str
    detail: tuple[tuple[str, str], ...] = ()

    def encode(self) -> bytes:
        raw = {
            "time": self.time,
            "member": self.member,
            "actor": self.actor,
            "action": self.action,
            "target": self.target,
            "source": self.source,
            "outcome": self.outcome,
            "detail": dict(self.detail),
        }
        return json.dumps(raw, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()

    @classmethod
    def decode(cls, key: str, raw: bytes) -> AuditEntry:
        try:
            d = json.loads(raw)
            detail = d.get("detail") or {}
            return cls(
                key,
                float(d["time"]),
                str(d["member"]),
                str(d["actor"]),
                str(d["action"]),
                str(d["target"]),
                str(d["source"]),
                str(d["outcome"]),
                tuple((str(k), str(v)) for k, v in detail.items()),
            )
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise StoreCorrupt(f"the audit entry {key} cannot be decoded: {exc}") from exc
