"""Bodies of the maintenance routes (issue #21): ``PUT /api/v1/cluster/leader`` (hand the store leadership to
a member before taking the leader down), and the live sessions of session servers (``hostgate sessions``)."""

from __future__ import annotations

from hostgate.messages._base import Message, Reply
from hostgate.messages.session import SessionInfo

__all__ = [
    "LeaderMove",
    "LeaderMoved",
    "ScreenField",
    "ScreenView",
    "SessionList",
    "SessionsAdminGrant",
]


class LeaderMove(Message, frozen=True):
    """``member``: the management member (by name) that should lead the store."""

    member: str


class LeaderMoved(Reply, frozen=True):
    """``previous``: the leader before the call; ``leader``: the one after it (the member asked for).
    ``moved`` is ``False`` when that member already led (nothing was done)."""

    previous: str
    leader: str
    moved: bool


class SessionsAdminGrant(Reply, frozen=True):
    """``POST /api/v1/session-servers/{name}/admin-token``: a short-lived token of kind ``sessions-admin``
    bound to session server ``server`` (an Administrator's), and the URL clients dial it at."""

    token: str
    expires_at: float
    server: str
    url: str


class SessionList(Reply, frozen=True):
    """``GET /api/v1/admin/sessions`` on a session server: every live session it serves."""

    server: str
    sessions: tuple[SessionInfo, ...]


class ScreenField(Reply, frozen=True):
    """A field of a session's current screen (1-based start of its data, as in models). ``text`` of a hidden
    (non-display) field is a run of ``*`` as long as the field: never its content (session/screens.py)."""

    row: int
    col: int
    length: int
    protected: bool
    hidden: bool
    numeric: bool
    intensified: bool
    text: str


class ScreenView(Reply, frozen=True):
    """``GET /api/v1/admin/sessions/{id}/screen`` on a session server (a sessions-admin token): the session's
    current screen as rows of text, hidden fields masked in the rows and the fields alike."""

    server: str
    session: str
    user: str
    model: str
    entity: str | None
    rows: int
    cols: int
    lines: tuple[str, ...]
    cursor: tuple[int, int]
    keyboard_locked: bool
    fields: tuple[ScreenField, ...]
