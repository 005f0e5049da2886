"""Host fixtures (real processes on loopback) and a tiny model-driven operation runner for the driver tests."""

from __future__ import annotations

from tests.helpers.hosts import host_3270, host_5250, host_vt

__all__ = ["host_3270", "host_5250", "host_vt"]
