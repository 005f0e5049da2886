"""Which "unreachable" reports a client may make: only about servers this member recently routed it to.

A report takes a session server out of routing on this member until its next heartbeat. Before issue #15
(finding 6) any user could name any server, even in a request that failed, and so empty a domain. Now a
report counts only when it names a server this member routed *that user* to within ``window`` seconds (each
routing allows one report), and at most ``per_minute`` reports of one user count per minute. The memory is
small and bounded (``users`` x ``per_user`` entries, least recently used dropped) and local to the member:
a client that failed over to another member has its report ignored there, and its ``exclude`` list still
keeps the server out of its own retry.
"""

from __future__ import annotations

import logging
from collections import OrderedDict, deque
from collections.abc import Iterable

from hostgate._clock import SYSTEM_CLOCK, Clock

__all__ = ["RouteReports"]

log = logging.getLogger("hostgate.management.routing")


class RouteReports:
    def __init__(
        self,
        *,
        clock: Clock = SYSTEM_CLOCK,
        window: float = 120.0,
        per_minute: int = 10,
        users: int = 10_000,
        per_user: int = 16,
    ) -> None:
        self._clock = clock
        self._window = window
        self._per_minute = per_minute
        self._users = users
        self._per_user = per_user
        self._routed: OrderedDict[str, OrderedDict[str, float]] = OrderedDict()
        self._accepted: dict[str, deque[float]] = {}

    def routed(self, user: str, server: str) -> None:
        """Remember that ``user`` was just given a token for ``server``."""
        # Most recently used last, by move_to_end (every route call: no dict rebuilt per call).
        servers = self._routed.get(user)
        if servers is None:
            servers = self._routed[user] = OrderedDict()
        else:
            self._routed.move_to_end(user)
        servers[server] = self._clock.monotonic()
        servers.move_to_end(server)
        while len(servers) > self._per_user:
            servers.popitem(last=False)
        while len(self._routed) > self._users:
            dropped, _ = self._routed.popitem(last=False)
            self._accepted.pop(dropped, None)

    def accept(self, user: str, reported: Iterable[str]) -> list[str]:
        """The reported servers that count (each consumes the routing it refers to); the rest are ignored."""
        now = self._clock.monotonic()
        servers = self._routed.get(user)
        recent = self._accepted.setdefault(user, deque())
        while recent and now - recent[0] > 60.0:
            recent.popleft()
        accepted: list[str] = []
        for name in dict.fromkeys(reported):
            when = servers.get(name) if servers is not None else None
            if when is None or now - when > self._window:
                log.info("ignoring %s's report that %s is unreachable: not routed there recently", user, name)
                continue
            if len(recent) >= self._per_minute:
                log.warning("ignoring %s's report that %s is unreachable: too many reports", user, name)
                continue
            assert servers is not None
            del servers[name]
            recent.append(now)
            accepted.append(name)
        if not recent:
            self._accepted.pop(user, None)
        return accepted
