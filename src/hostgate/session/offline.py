"""A session server while every management member is down: which expired tokens it may still accept.

Issue #17: when no management member answers, session servers keep running their sessions (tokens are checked
locally against the cluster's public keys, tokens.py) and *may* accept a user whom the cluster verified
recently, within a configurable bound, saying so in the log; past the bound they refuse.

The rule, applied only to a token that is valid in every respect but its expiry (signature, key, cluster and
server binding are checked as always):

- the server counts as cut off from management when no member has answered one of its heartbeats for longer
  than the heartbeat failure threshold: ``MISS_FACTOR`` heartbeat intervals, the same factor by which members
  stop counting a silent session server as live (management/routing.py), so both sides agree on "gone";
- while cut off, an expired token is accepted if it expired at most ``[session] offline_grace`` seconds ago,
  with a WARNING naming the user and how long ago they were verified (once per token, not once per call). The
  bound counts from the expiry, not from the issue: the cluster vouches for the user until the token expires
  (session tokens live 15 minutes), and the bound is how long past that the server trusts the cluster's last
  word. Counted from the issue, a bound shorter than the token lifetime (the default 300 s against 900 s)
  would never let anyone in;
- otherwise it is refused: ``OfflineBoundExceeded`` (HG-3220) while cut off, saying since when management is
  unreachable, how long ago the user was verified and the bound; the usual "the token has expired" while
  management answers (then the client can simply get a new token).

Silence is counted from the last answered heartbeat, or from the server's start when none has been answered
yet: a server restarted while management is down is cut off one threshold after its start. Time comes from an
injected :class:`~hostgate._clock.Clock` (monotonic for the silence, wall for token times), so tests step it.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field

from hostgate import tokens
from hostgate._clock import SYSTEM_CLOCK, Clock
from hostgate.errors import OfflineBoundExceeded

__all__ = ["DEFAULT_OFFLINE_GRACE", "MISS_FACTOR", "ManagementContact", "OfflineBound"]

log = logging.getLogger("hostgate.session")

# Members count a session server as gone after 1.5 missed intervals (management/routing.Router.miss_factor).
MISS_FACTOR = 1.5
DEFAULT_OFFLINE_GRACE = 300.0
_WARNED_MAX = 10_000


@dataclass(slots=True)
class ManagementContact:
    """When this session server last heard from any management member (an answered heartbeat)."""

    interval: float
    clock: Clock = SYSTEM_CLOCK
    _heard_monotonic: float = field(init=False)
    _heard_wall: float = field(init=False)
    ever_heard: bool = field(init=False, default=False)

    def __post_init__(self) -> None:
        # Not heard yet: silence counts from the start (a restart while every member is down).
        self._heard_monotonic = self.clock.monotonic()
        self._heard_wall = self.clock.wall()

    @property
    def threshold(self) -> float:
        return self.interval * MISS_FACTOR

    def heard(self) -> None:
        self._heard_monotonic = self.clock.monotonic()
        self._heard_wall = self.clock.wall()
        self.ever_heard = True

    def silent_for(self) -> float | None:
        """Seconds since a member last answered, when that is past the failure threshold; else ``None``."""
        silent = self.clock.monotonic() - self._heard_monotonic
        return silent if silent > self.threshold else None

    def since_text(self) -> str:
        """When management was last heard from (or this server started), as UTC text for messages."""
        stamp = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(self._heard_wall))
        return stamp if self.ever_heard else f"{stamp} (this server's start; never reached)"


@dataclass(slots=True)
class OfflineBound:
    """Decides about a token that passed every check but its expiry (see the module docstring)."""

    contact: ManagementContact
    grace: float = DEFAULT_OFFLINE_GRACE
    _warned: set[str] = field(default_factory=set)

    def check(self, claims: tokens.TokenClaims) -> tokens.TokenClaims:
        """``claims`` of a token that is valid but for its expiry (``KeySet.verify``'s ``on_expired``), if the
        bound lets it in; else the error."""
        now = self.contact.clock.wall()
        silent = self.contact.silent_for()
        if silent is None:
            raise tokens.expired_error()  # management answers: the client gets a new token there
        verified_ago = max(0.0, now - claims.issued_at)
        expired_ago = max(0.0, now - claims.expires_at)
        since = self.contact.since_text()
        if expired_ago > self.grace:
            raise OfflineBoundExceeded(
                f"management unreachable since {since} ({silent:.0f} s); user {claims.user!r} was verified "
                f"{verified_ago:.0f} s ago and the token expired {expired_ago:.0f} s ago, beyond this session "
                f"server's offline bound of {self.grace:.0f} s"
            )
        key = claims.token_id or f"{claims.user}/{claims.issued_at}"
        if key not in self._warned:
            if len(self._warned) >= _WARNED_MAX:
                self._warned.clear()
            self._warned.add(key)
            log.warning(
                "management unreachable since %s (%.0f s): accepting user %s with an expired token, verified "
                "%.0f s ago, expired %.0f s ago (offline bound %.0f s)",
                since,
                silent,
                claims.user,
                verified_ago,
                expired_ago,
                self.grace,
            )
        return claims
