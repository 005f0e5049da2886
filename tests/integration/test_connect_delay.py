"""``[naming] connect_delay`` is the stagger of the server's own cluster clients (issue #21: it was read, checked
and then never used).

A server applies it at start (``runtime.server.configure_naming``, called by ``serve``) to the stagger every
cluster client of the process shares: the most the dialer waits for a pending member before trying the next
address, and its delay while it has no answer times. Measured over real sockets: an alias of two loopback
addresses, the first accepting TCP and never answering (a frozen member), the second recording when it is dialled.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from hostgate import pki
from hostgate.cli.lab import common_free_port
from hostgate.config.settings import NamingSettings, ServerSettings, Settings, load_settings
from hostgate.connector.cluster import ADAPTIVE_DELAY, ClusterClient
from hostgate.errors import ConfigError, HostgateError
from hostgate.naming.stagger import DEFAULT_DELAY
from hostgate.runtime.server import configure_naming

ALIAS = "vhi-stagger"


@contextlib.contextmanager
def _frozen_then_recording(port: int) -> Iterator[list[float]]:
    """127.0.0.1:port accepts TCP (kernel backlog) and never answers; 127.0.0.2:port notes when it is dialled."""
    frozen = socket.create_server(("127.0.0.1", port))
    second = socket.create_server(("127.0.0.2", port))
    seen: list[float] = []

    def accept() -> None:
        with contextlib.suppress(OSError):
            conn, _ = second.accept()
            seen.append(time.monotonic())
            conn.close()

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield seen
    finally:
        frozen.close()
        second.close()
        thread.join(5)


def _settings(tmp_path: Path, connect_delay: float) -> Settings:
    return Settings(
        data_dir=tmp_path,
        server=ServerSettings("m1", "127.0.0.1", cluster_id="stagger-test"),
        naming=NamingSettings(connect_delay=connect_delay),
    )


def _second_dialled_after(tmp_path: Path, settings: Settings) -> float:
    port = common_free_port(["127.0.0.1", "127.0.0.2"])
    hosts = tmp_path / "hosts"
    hosts.write_text(f"127.0.0.1 m1 {ALIAS}\n127.0.0.2 m2 {ALIAS}\n")
    ca = tmp_path / "ca.pem"
    ca.write_bytes(pki.create_ca("stagger-test").cert_pem)
    configure_naming(settings)
    client = ClusterClient(f"{ALIAS}:{port}", ca_file=ca, hosts_file=hosts, deadline=2.5)
    with _frozen_then_recording(port) as seen:
        start = time.monotonic()
        with pytest.raises(HostgateError):
            asyncio.run(client.request("GET", "/api/v1/health"))
    assert seen, "the second address was never dialled"
    return seen[0] - start


@pytest.fixture(autouse=True)
def _shared_delay_restored() -> Iterator[None]:
    yield
    ADAPTIVE_DELAY.set_cap(DEFAULT_DELAY)  # the process-wide stagger, shared with every other test


def test_connect_delay_sets_how_long_a_silent_member_holds_up_the_next(tmp_path: Path) -> None:
    slow = _second_dialled_after(tmp_path, _settings(tmp_path, 1.5))
    assert slow >= 1.4, slow
    fast = _second_dialled_after(tmp_path, _settings(tmp_path, 0.05))
    assert fast < 1.0, fast  # 50 ms on a quiet machine; generous for a loaded one


@pytest.mark.parametrize("value", ["30", "nan", "inf"])
def test_a_connect_delay_past_rfc_8305s_maximum_is_refused_naming_the_key(tmp_path: Path, value: str) -> None:
    (tmp_path / "hostgate.toml").write_text(
        '[server]\nmember_name = "m1"\naddress = "127.0.0.1"\ncluster_id = "c"\n[naming]\n'
        f"connect_delay = {value}\n"
    )
    with pytest.raises(ConfigError, match=r"naming\.connect_delay") as info:
        load_settings(tmp_path, env={})
    assert value != "30" or "2.0 s" in info.value.message  # nan and inf: "expected a finite number"
