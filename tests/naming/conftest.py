"""Fixtures for the naming tests: the KB's example hosts file, a file writer, a real dnsmasq."""

from __future__ import annotations

import os
import socket
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import pytest

try:  # tests/ may or may not be a package; the helper is found either way.
    from tests.helpers.dnsmasq import Dnsmasq, dnsmasq_binary
except ModuleNotFoundError:
    from helpers.dnsmasq import Dnsmasq, dnsmasq_binary  # type: ignore[no-redef]

DATA = Path(__file__).parent / "data"
KB_HOSTS = DATA / "kb7021563-hosts"


@pytest.fixture
def kb_hosts() -> Path:
    """The example hosts file of VHI KB 7021563, verbatim. Its 10.0.0.x addresses are for parsing only."""
    return KB_HOSTS


@pytest.fixture
def write_file(tmp_path: Path) -> Callable[[str, str], Path]:
    """Write ``text`` to ``tmp_path/name``, replacing it whole as an editor's save would; return the path."""

    def write(name: str, text: str) -> Path:
        path = tmp_path / name
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(text, encoding="utf-8")
        tmp.replace(path)
        return path

    return write


def _need_dnsmasq() -> None:
    if dnsmasq_binary() is None:
        message = "dnsmasq is not installed (Debian dnsmasq-base; `make sysdeps`)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)


def _need_ipv6_loopback() -> None:
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_DGRAM) as sock:
            sock.bind(("::1", 0))
    except OSError:
        pytest.skip("no IPv6 loopback on this machine")


MakeDnsmasq = Callable[..., Dnsmasq]


@pytest.fixture
def make_dnsmasq(tmp_path: Path) -> Iterator[MakeDnsmasq]:
    """Start dnsmasq servers (``records``, ``listen=``, ``extra_args=``); all are stopped after the test."""
    _need_dnsmasq()
    started: list[Dnsmasq] = []

    def make(records: str = "", *, listen: str = "127.0.0.1", extra_args: Sequence[str] = ()) -> Dnsmasq:
        if ":" in listen:
            _need_ipv6_loopback()
        server = Dnsmasq(tmp_path / f"dns{len(started)}", records, listen=listen, extra_args=extra_args)
        started.append(server)
        return server.start()

    yield make
    for server in started:
        server.stop()


@pytest.fixture
def silent_dns() -> Iterator[str]:
    """A loopback UDP port, bound (so nothing else answers there) but never answering: a dead DNS server."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        yield f"127.0.0.1:{sock.getsockname()[1]}"


@pytest.fixture
def dnsmasq(make_dnsmasq: MakeDnsmasq) -> Dnsmasq:
    """A dnsmasq on 127.0.0.1 and a free port, with no records yet (``set_records`` to add)."""
    return make_dnsmasq()
