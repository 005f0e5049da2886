"""Bodies of the maintenance routes (issue #21): ``PUT /api/v1/cluster/leader`` (hand the store leadership to
a member before taking the leader down)."""

from __future__ import annotations

from hostgate.messages._base import Message, Reply

__all__ = ["LeaderMove", "LeaderMoved"]


class LeaderMove(Message, frozen=True):
    """``member``: the management member (by name) that should lead the store."""

    member: str


class LeaderMoved(Reply, frozen=True):
    """``previous``: the leader before the call; ``leader``: the one after it (the member asked for).
    ``moved`` is ``False`` when that member already led (nothing was done)."""

    previous: str
    leader: str
    moved: bool
