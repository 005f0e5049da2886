"""TCP keepalive on every connection to a host (issue #21), so a session server learns that a host, or the
network path to it, is gone even while a session sits idle (a pooled session waiting for a client).

Without it an idle connection to a host that lost power, or behind a firewall or NAT that dropped its state,
stays "open" for as long as nothing is sent; the next call then waits out TCP's retransmissions (about 15
minutes on Linux, ``tcp_retries2``). Linux's keepalive defaults are no help either: the first probe after two
hours of silence (tcp(7): ``tcp_keepalive_time`` 7200 s).

The values, per connection (tcp(7) ``TCP_KEEPIDLE`` / ``TCP_KEEPINTVL`` / ``TCP_KEEPCNT``):

- first probe after 60 s of silence: shorter than the idle timeout of common firewalls and NAT gateways (often
  5 to 60 minutes), so their state never expires under a live session;
- then every 15 s, and the connection is dropped after 4 unanswered probes: a dead host is noticed within
  about 2 minutes of silence (60 + 4 x 15 s), and the liveness poll (``hosts/_liveness.py``, ``POLLERR``)
  reports it at the next call.

A probe is an empty segment the peer's kernel answers; TN3270/TN5250/telnet servers see nothing of it.
"""

from __future__ import annotations

import socket
from typing import Protocol

__all__ = ["KEEPCNT", "KEEPIDLE", "KEEPINTVL", "keep_alive"]

KEEPIDLE = 60  # seconds of silence before the first probe
KEEPINTVL = 15  # seconds between probes
KEEPCNT = 4  # unanswered probes before the kernel drops the connection


class _Settable(Protocol):
    """A socket, or asyncio's TransportSocket (which passes setsockopt through)."""

    def setsockopt(self, level: int, option: int, value: int, /) -> None: ...


def keep_alive(sock: _Settable | None) -> None:
    """Switch keepalive on for ``sock`` with the values above (the per-connection ones only where the platform
    has them: Linux does; elsewhere the system's own timers apply)."""
    if sock is None:
        return
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
    for name, value in (("TCP_KEEPIDLE", KEEPIDLE), ("TCP_KEEPINTVL", KEEPINTVL), ("TCP_KEEPCNT", KEEPCNT)):
        option = getattr(socket, name, None)
        if option is not None:
            sock.setsockopt(socket.IPPROTO_TCP, option, value)
