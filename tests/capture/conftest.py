"""Real terminal hosts on loopback (session-scoped fixtures from tests/helpers/hosts.py), and the demo hosts
started as a changed application (``--variant list-title``) for replay."""

from __future__ import annotations

import sys
from collections.abc import Iterator, Sequence

import pytest

from tests.helpers.hosts import DEMO_HOSTS, HostProcess, MainframeHost, VtHost, host_3270, host_5250, host_vt

__all__ = ["changed_host", "host_3270", "host_5250", "host_vt"]


class ChangedMainframeHost(MainframeHost):
    """The 3270/5250 demo host with an extra argument (its --variant)."""

    def __init__(self, protocol: str, extra: Sequence[str]) -> None:
        super().__init__(protocol)
        self.extra = list(extra)

    def _spawn(self, argv: Sequence[str], env: dict[str, str] | None = None) -> None:
        super()._spawn([*argv, *self.extra], env)


def start_changed(kind: str) -> HostProcess:
    variant = ["--variant", "list-title"]
    if kind == "vt":
        return VtHost([sys.executable, str(DEMO_HOSTS / "vthost.py"), *variant]).start()
    return ChangedMainframeHost(kind, variant).start()


@pytest.fixture
def changed_host(request: pytest.FixtureRequest) -> Iterator[HostProcess]:
    with start_changed(request.param) as host:
        yield host
