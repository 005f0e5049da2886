"""Open-file limit and the connection cap it must leave room for.

Every connection a face holds open is a file descriptor. Linux starts a process with a soft ``RLIMIT_NOFILE``
that is often 1,024 (systemd and most shells) although the hard limit is far higher (524,288 on systemd
hosts): with that soft limit, a member that 1,000 session servers heartbeat to over kept connections runs out of
descriptors before it reaches ``[security] max_connections``, and ``accept()`` then fails with ``EMFILE``: the
event loop logs an error and retries, and the client sees a timeout instead of the coded 503 (HG-1030).

So at start the soft limit is raised to the hard limit (``setrlimit(2)``: an unprivileged process may raise its
soft limit up to the hard one), and the cap each face enforces is what the configured value and the descriptors
allow together: ``min(max_connections, (soft limit - reserve) / faces)``. The effective cap is logged.
"""

from __future__ import annotations

import logging
import resource
from dataclasses import dataclass

__all__ = ["FD_RESERVE", "ConnectionCap", "connection_cap", "raise_open_file_limit"]

log = logging.getLogger("hostgate.server")

# Descriptors kept for everything but client connections: the store (SQLite files or etcd gRPC channels), the
# etcd child's pipes, log files, the listening sockets, session servers' host connections and the dialer's
# outgoing calls, the thread pools' wake-up pipes.
FD_RESERVE = 256
_MIN_CAP = 16


@dataclass(frozen=True, slots=True)
class ConnectionCap:
    """What ``connection_cap`` decided: the cap per face, and the limits it was derived from."""

    configured: int
    effective: int
    soft_limit: int  # RLIMIT_NOFILE soft limit after raising (-1: unlimited)
    hard_limit: int


def raise_open_file_limit() -> tuple[int, int]:
    """Raise the soft RLIMIT_NOFILE to the hard limit; returns (soft, hard) as they are afterwards."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and (hard == resource.RLIM_INFINITY or soft < hard):
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
        except (ValueError, OSError) as exc:
            # e.g. macOS refuses RLIM_INFINITY for RLIMIT_NOFILE (OPEN_MAX): keep what we have.
            log.warning("could not raise the open-file limit from %d to %s: %s", soft, hard, exc)
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    return _finite(soft), _finite(hard)


def _finite(limit: int) -> int:
    return -1 if limit == resource.RLIM_INFINITY else limit


def connection_cap(configured: int, faces: int) -> ConnectionCap:
    """Raise the open-file limit, then the connection cap each of ``faces`` HTTP faces can keep (logged)."""
    soft, hard = raise_open_file_limit()
    effective = configured
    if soft >= 0:
        room = max(_MIN_CAP, (soft - FD_RESERVE) // max(1, faces))
        effective = min(configured, room)
    cap = ConnectionCap(configured, effective, soft, hard)
    if effective < configured:
        log.warning(
            "connection cap %d per HTTP face, below [security] max_connections = %d: the open-file limit is "
            "%d (hard limit %d); raise it (ulimit -n, systemd LimitNOFILE=) to reach the configured cap",
            effective,
            configured,
            soft,
            hard,
        )
    else:
        log.info(
            "connection cap %d per HTTP face (open-file limit %s)",
            effective,
            "unlimited" if soft < 0 else soft,
        )
    return cap
