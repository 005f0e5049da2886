"""The console's Sessions page (issue #20): live sessions per session server, model, user and age; a session's
current screen with hidden fields masked; ending a session.

Who sees what:

- an Administrator sees every session of every server, views any session's screen and ends any session (each
  end is audited, ``console.session.end``); this is what ``hostgate sessions list|end`` lets an Administrator do;
- any other login (Developer, User) sees only its own sessions, read-only: no screen, no end button, and a
  forged POST is refused (HG-3002) and audited like every refused console change (console/web.py).

The sessions are asked of each live session server at each view (console/session_servers.py): a server that
does not answer is listed as such with its coded error, and a server without heartbeats is not asked at all.
Viewing a screen is not audited: the page refreshes itself every two seconds, and an entry per refresh would
drown the trail; ending is.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from hostgate.console.session_servers import SessionServers
from hostgate.console.web import Ctx, Page
from hostgate.errors import UsageError
from hostgate.management.access import Profile
from hostgate.messages import ScreenView

__all__ = ["SessionsPages", "age_text"]


def age_text(seconds: float) -> str:
    """``42 s``, ``3 min 05 s``, ``2 h 07 min``: an age read at a glance (no locale, no clock skew shown)."""
    s = max(0, int(seconds))
    if s < 60:
        return f"{s} s"
    if s < 3600:
        return f"{s // 60} min {s % 60:02d} s"
    return f"{s // 3600} h {(s % 3600) // 60:02d} min"


@dataclass(frozen=True, slots=True)
class SessionRow:
    server: str
    id: str
    user: str
    model: str
    domain: str
    entity: str
    pool: str
    opened: str  # UTC
    age: str
    age_seconds: float
    idle: str  # since the last call ("" when none was made)
    operations: int
    connected: bool


@dataclass(frozen=True, slots=True)
class ServerState:
    name: str
    live: bool
    answered: bool
    sessions: int
    error: str  # why it is not listed ("" when it answered)


@dataclass(frozen=True, slots=True)
class Sessions:
    everyone: bool  # an Administrator's view (every user's sessions); otherwise the login's own only
    servers: tuple[ServerState, ...]
    sessions: tuple[SessionRow, ...]


@dataclass(frozen=True, slots=True)
class Segment:
    text: str
    masked: bool  # a hidden (non-display) field: shown as a masked run, never its content


@dataclass(frozen=True, slots=True)
class ScreenLine:
    number: int
    segments: tuple[Segment, ...]


@dataclass(frozen=True, slots=True)
class ScreenPage:
    server: str
    screen: ScreenView
    lines: tuple[ScreenLine, ...]
    hidden_fields: int


def _segments(view: ScreenView) -> tuple[ScreenLine, ...]:
    """Each row cut into runs of plain cells and masked cells (the hidden fields' cells, as the server masked
    them), so the page can mark the masked runs for sighted and screen-reader users alike."""
    size = view.rows * view.cols
    masked = [False] * max(size, 0)
    for f in view.fields:
        if f.hidden and size > 0:
            start = (f.row - 1) * view.cols + f.col - 1
            for offset in range(min(f.length, size)):
                masked[(start + offset) % size] = True
    out = []
    for r, line in enumerate(view.lines):
        segments: list[Segment] = []
        for c, char in enumerate(line):
            hidden = r * view.cols + c < size and masked[r * view.cols + c]
            if segments and segments[-1].masked == hidden:
                segments[-1] = Segment(segments[-1].text + char, hidden)
            else:
                segments.append(Segment(char, hidden))
        out.append(ScreenLine(r + 1, tuple(segments)))
    return tuple(out)


class SessionsPages:
    """The page views and the end action, over one :class:`SessionServers` (app.py routes them)."""

    def __init__(self, servers: SessionServers) -> None:
        self._servers = servers

    async def listing(self, ctx: Ctx) -> Page:
        service = ctx.service
        who = ctx.who
        everyone = ctx.can(Profile.ADMINISTRATOR)
        registered = sorted(service.domains.servers())
        live = [name for name in registered if service.router.is_live(name)]
        answers = {g.server: g for g in await self._servers.gather(who, live)}
        now = time.time()
        states, rows = [], []
        for name in registered:
            found = answers.get(name)
            if found is None:
                states.append(ServerState(name, False, False, 0, "not live: no heartbeat from it"))
                continue
            if found.listing is None:
                states.append(ServerState(name, True, False, 0, found.error))
                continue
            mine = [s for s in found.listing.sessions if everyone or s.user.lower() == who.name.lower()]
            states.append(ServerState(name, True, True, len(mine), ""))
            for s in mine:
                rows.append(
                    SessionRow(
                        name, s.id, s.user, s.model, s.domain, s.entity or "", s.pool,
                        time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(s.created_at)),
                        age_text(now - s.created_at), round(now - s.created_at, 1),
                        age_text(now - s.last_used) if s.last_used else "", s.operations, s.connected,
                    )
                )  # fmt: skip
        data = Sessions(everyone, tuple(states), tuple(rows))
        return Page("sessions.html", "Sessions", data, live=True)

    async def screen(self, ctx: Ctx) -> Page:
        ctx.service.access.require(ctx.who, Profile.ADMINISTRATOR)  # as `hostgate sessions`
        params = ctx.request.query_params
        server, session_id = params.get("server", "").strip(), params.get("id", "").strip()
        if not server or not session_id:
            raise UsageError("a session's screen needs its server and id (?server=NAME&id=ID)")
        view = await self._servers.screen(ctx.who, server, session_id)
        hidden = sum(1 for f in view.fields if f.hidden)
        page = ScreenPage(server, view, _segments(view), hidden)
        return Page("session_screen.html", f"Session {view.session}", page, live=True)

    async def end(self, ctx: Ctx) -> str:
        ctx.service.access.require(ctx.who, Profile.ADMINISTRATOR)
        server, session_id = ctx.field("server"), ctx.field("id")
        if not server or not session_id:
            raise UsageError("ending a session needs its server and id")
        closed = await self._servers.end(ctx.who, server, session_id)
        ctx.service.audit.record(
            actor=ctx.who.name, action="console.session.end", target=f"{server}/{closed.closed}",
            source=ctx.source,
        )  # fmt: skip
        return f"session {closed.closed} on {server} ended"
