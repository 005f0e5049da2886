"""Is the host still on the other end? One non-blocking ``poll()`` of the connection's socket.

Terminal libraries notice a closed connection only when they read from it: tnz only while its private loop
runs (``wait()``), ibm5250 only inside a receive. A call answered from the screen already held (a snapshot, a
local key, ``connected``) would never read, so a host killed or closed under an open session went unnoticed.
Every driver call therefore asks the kernel first. What it can learn without reading:

- the peer closed or shut down its sending side (FIN: a host that closed politely, or a killed host whose
  sockets the kernel closed): ``POLLRDHUP`` (Linux, poll(2));
- the connection was reset or failed (RST, keepalive timeout): ``POLLHUP`` / ``POLLERR``;
- bytes are waiting (``POLLIN``): the host said something the library has not applied yet.

Data the host sent before it closed (a "LOGON REJECTED" screen) stays readable after the FIN, so a driver
that sees the close first drains what is there, then reports the loss quoting the screen.

Where ``POLLRDHUP`` does not exist (non-Linux), a readable plain socket is peeked (``MSG_PEEK``): an empty
peek is the FIN. The cost is one system call per driver call (about a microsecond).
"""

from __future__ import annotations

import select
import socket
from dataclasses import dataclass
from typing import Protocol

__all__ = ["Liveness", "Pollable", "probe"]

_RDHUP: int = getattr(select, "POLLRDHUP", 0)
_GONE = select.POLLHUP | select.POLLERR | select.POLLNVAL | _RDHUP
_MASK = select.POLLIN | _RDHUP


class Pollable(Protocol):
    """A socket, or asyncio's TransportSocket: anything with the descriptor to poll."""

    def fileno(self) -> int: ...


@dataclass(frozen=True, slots=True)
class Liveness:
    """What one poll saw: ``gone`` (closed or reset by the peer) and ``pending`` (bytes to read)."""

    gone: bool
    pending: bool

    @property
    def quiet(self) -> bool:
        """Nothing happened: the library has nothing to apply and the host is still there."""
        return not self.gone and not self.pending


QUIET = Liveness(gone=False, pending=False)
GONE = Liveness(gone=True, pending=False)


def probe(sock: Pollable | None) -> Liveness:
    """Poll ``sock`` without blocking. A missing or already closed socket is ``gone``."""
    if sock is None:
        return GONE
    try:
        fd = sock.fileno()
    except OSError:
        return GONE
    if fd < 0:
        return GONE
    poller = select.poll()  # a fresh one: poll objects must not be shared between threads
    poller.register(fd, _MASK)
    events = poller.poll(0)
    if not events:
        return QUIET
    revents = events[0][1]
    if revents & _GONE:
        return Liveness(gone=True, pending=bool(revents & select.POLLIN))
    if not _RDHUP and isinstance(sock, socket.socket):
        return _peek(sock)
    return Liveness(gone=False, pending=True)


def _peek(sock: socket.socket) -> Liveness:
    try:
        # socket.socket.recv, not the TLS wrapper's: this peeks at the raw TCP stream, which is all that is
        # needed to tell "bytes" from "end of stream".
        data = socket.socket.recv(sock, 1, socket.MSG_PEEK | socket.MSG_DONTWAIT)
    except BlockingIOError:
        return QUIET
    except OSError:
        return GONE
    return Liveness(gone=not data, pending=bool(data))
