"""Real terminal hosts on loopback (session-scoped fixtures from tests/helpers/hosts.py)."""

from __future__ import annotations

from tests.helpers.hosts import host_3270, host_5250, host_vt

__all__ = ["host_3270", "host_5250", "host_vt"]
