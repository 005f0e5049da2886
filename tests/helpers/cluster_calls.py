"""Which management API paths the ClusterClients of this process call, in order (a test of a connector's kept
state asserts what it did not ask the cluster again)."""

from __future__ import annotations

from typing import Any

import pytest

from hostgate.connector import ClusterClient

__all__ = ["count_cluster_calls"]


def count_cluster_calls(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """From now until the test ends: the path of every ``ClusterClient.call``, appended as it is made."""
    called: list[str] = []
    real = ClusterClient.call

    async def counted(self: ClusterClient, endpoint: Any, body: Any, **kw: Any) -> Any:
        called.append(endpoint.path)
        return await real(self, endpoint, body, **kw)

    monkeypatch.setattr(ClusterClient, "call", counted)
    return called
