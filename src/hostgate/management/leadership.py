"""``hostgate cluster move-leader MEMBER`` (issue #21): hand the store leadership to a member before taking the
leader down for maintenance, so the cluster does not spend an election timeout without a leader (etcd's
``MoveLeader``, what ``etcdctl move-leader`` sends; etcd's runtime-reconfiguration guide recommends it before
removing or restarting the leader).
"""

from __future__ import annotations

import asyncio
import time

from hostgate.config.settings import Settings, StoreBackend
from hostgate.errors import MemberNotFound, NotSupported, StoreUnavailable, UsageError
from hostgate.management.records import MemberRecord
from hostgate.management.security import Principal
from hostgate.messages import LeaderMoved
from hostgate.store.base import MemberInfo, Store

__all__ = ["move_leader"]

# The new leader is in office within one election round once etcd answered; allow a busy machine a margin.
_SETTLE = 10.0


def _store_member(record: MemberRecord, members: list[MemberInfo]) -> MemberInfo | None:
    return next((m for m in members if record.peer_url in m.peer_urls or m.name == record.name), None)


async def move_leader(
    store: Store, settings: Settings, records: list[MemberRecord], principal: Principal, name: str
) -> LeaderMoved:
    """Make member ``name`` the store leader (an Administrator's call); answers the leader before and after.

    Refused: on a lone SQLite server (``NotSupported``: there is no leader to move), a name that is no member
    (``MemberNotFound``), a learner (``UsageError``: it does not vote, so it cannot lead)."""
    principal.require_admin()
    if settings.store is StoreBackend.SQLITE:
        raise NotSupported(
            "this is a lone server (SQLite store): it has no store leader to move; move-leader needs an etcd "
            "cluster of several members"
        )
    record = next((r for r in records if r.name == name), None)
    if record is None:
        known = ", ".join(sorted(r.name for r in records)) or "none"
        raise MemberNotFound(f"no management member named {name!r} (members: {known})")
    members = await store.members()
    target = _store_member(record, members)
    if target is None:
        raise StoreUnavailable(f"member {name!r} has no etcd member in the store's member list")
    if target.is_learner:
        raise UsageError(
            f"member {name!r} is still a learner (catching up, not voting) and cannot lead",
            hint="Wait until `hostgate cluster status` shows it as a voter.",
        )
    by_id = {m.id: m.name for m in members}
    before = await store.status()
    previous = by_id.get(before.leader_id, "")
    if before.leader_id == target.id:
        return LeaderMoved(previous, name, False)
    await store.move_leader(target.id)
    deadline = time.monotonic() + _SETTLE
    while time.monotonic() < deadline:
        now = await store.status()
        if now.leader_id == target.id:
            return LeaderMoved(previous, name, True)
        await asyncio.sleep(0.05)  # polling the member's view of the leader, bounded by _SETTLE
    raise StoreUnavailable(
        f"etcd accepted the hand-over to {name!r}, but it did not lead within {_SETTLE:g} s"
    )
