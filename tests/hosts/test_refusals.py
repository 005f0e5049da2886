"""A host that refuses the session with a message screen and hangs up ("no available device", "logon
rejected"): the keyboard stays locked, so the driver only sees the close, and the error must quote the
host's words instead of only "the connection was closed". Real refusing hosts on loopback, speaking the real
negotiation: tests/hosts/apps/tn3270_reject.py (RFC 1576 / RFC 2355), tn5250_reject.py (RFC 1205), and a
program under telnetlib3-server that prints its message and exits (VT)."""

from __future__ import annotations

import dataclasses
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from hostgate.errors import HostDisconnected, HostError, HostUnreachable
from hostgate.hosts import open_session
from hostgate.session.model_session import ModelSession
from tests.helpers.hosts import APPS, HostProcess, RefusingHost, VtHost, sample_model, sample_spec

KINDS = ["3270", "5250", "vt"]
MESSAGES = {
    "3270": "IKT00405I LOGON REJECTED - NO AVAILABLE DEVICE",
    "5250": "CPF1110 DEVICE NOT AVAILABLE",
    "vt": "NO SESSIONS AVAILABLE - TRY AGAIN LATER",
}


@pytest.fixture(params=KINDS)
def refusing(request: pytest.FixtureRequest) -> Iterator[tuple[str, HostProcess]]:
    kind = request.param
    message = MESSAGES[kind]
    if kind == "vt":
        host: HostProcess = VtHost([sys.executable, str(APPS / "vt_reject.py"), message]).start()
    else:
        host = RefusingHost(kind, message).start()
    with host:
        yield kind, host


async def test_a_refusal_screen_is_quoted_in_the_error(refusing: tuple[str, HostProcess]) -> None:
    kind, host = refusing
    session = open_session(sample_spec(f"demo{kind}", host.port, connect_timeout=10.0))
    started = time.monotonic()
    try:
        with pytest.raises(HostError) as caught:
            await session.connect()
            # A VT host has no keyboard lock: its message may count as a first screen before the close
            # arrives, so the close then surfaces on the next call (HG-7002), still quoting the message.
            assert kind == "vt", "a block-mode refusal keeps the keyboard locked: connect must fail"
            await session.wait_until("NEVER SHOWN", 10)
    finally:
        await session.disconnect()
    assert time.monotonic() - started < 5, "the close was not noticed: the driver waited for its timeout"
    expected = (HostUnreachable, HostDisconnected) if kind == "vt" else HostUnreachable
    assert isinstance(caught.value, expected), caught.value
    assert "the host closed the connection" in caught.value.message
    assert MESSAGES[kind] in caught.value.message, caught.value.message
    assert not session.connected


async def test_the_model_runtime_reports_the_refusal_with_the_hosts_words(
    refusing: tuple[str, HostProcess],
) -> None:
    kind, host = refusing
    model = sample_model(f"demo{kind}")
    model = dataclasses.replace(
        model, host=dataclasses.replace(model.host, address="127.0.0.1", port=host.port)
    )
    runtime = ModelSession(model, open_session(model.host))
    with pytest.raises((HostUnreachable, HostDisconnected)) as caught:
        await runtime.open()
    if kind != "vt":
        assert isinstance(caught.value, HostUnreachable)
    assert MESSAGES[kind] in caught.value.message, caught.value.message
    assert not runtime.connected


@pytest.mark.skipif(shutil.which("s3270") is None, reason="s3270 (Debian package s3270) is not installed")
def test_the_refusing_3270_host_speaks_tn3270e_to_an_independent_client(tmp_path: Path) -> None:
    """s3270 negotiates TN3270E (RFC 2355) where tnz, as hostgate uses it, stays with RFC 1576: the test host
    must show its screen to both (built to the protocol, not to one client)."""
    trace = tmp_path / "s3270.trace"
    with RefusingHost("3270", MESSAGES["3270"]).start() as host:
        script = f"Connect(127.0.0.1:{host.port})\nWait(10,Output)\nAscii()\n"
        done = subprocess.run(
            ["s3270", "-model", "3279-2", "-trace", "-tracefile", str(trace)],
            input=script,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    log = trace.read_text(errors="replace")
    assert "TN3270E option negotiation complete" in log, log
    assert "RCVD TN3270E(3270-DATA" in log, log
    assert MESSAGES["3270"] in done.stdout, done.stdout + done.stderr
