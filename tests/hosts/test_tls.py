"""The TLS client context every driver (3270, 5250, VT) shares (hosts/_tls.py), against a real TLS listener on
loopback: a certificate the session server does not trust, or that names another address, is refused during
the handshake; the model's ``tls_ca_file`` makes a private CA trusted; ``tls_verify: false`` accepts anything.

The listener speaks no terminal protocol: every assertion is about the TLS handshake, which it records from
its side (completed, or the alert the driver sent)."""

from __future__ import annotations

import contextlib
import socket
import ssl
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from hostgate import pki
from hostgate.errors import HostError, HostUnreachable
from hostgate.hosts import open_session
from hostgate.hosts._tls import client_context
from tests.helpers.hosts import sample_spec

KINDS = ["3270", "5250", "vt"]
BOUND = 30.0  # per handshake; generous for a loaded 2-core machine


class TlsListener:
    """Accepts TLS connections on 127.0.0.1 with ``cert``; records each handshake's outcome, then closes."""

    def __init__(self, cert: pki.CertPair, tmp: Path) -> None:
        (tmp / "host.pem").write_bytes(cert.cert_pem)
        (tmp / "host-key.pem").write_bytes(cert.key_pem)
        self.context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.context.load_cert_chain(tmp / "host.pem", tmp / "host-key.pem")
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.outcomes: list[str] = []
        self.seen = threading.Condition()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while True:
            try:
                raw, _ = self.sock.accept()
            except OSError:
                return  # closed by close()
            raw.settimeout(BOUND)
            try:
                with self.context.wrap_socket(raw, server_side=True):
                    outcome = "completed"
            except (OSError, ssl.SSLError) as exc:
                outcome = f"failed: {exc}"
            finally:
                raw.close()
            with self.seen:
                self.outcomes.append(outcome)
                self.seen.notify_all()

    def outcome(self) -> str:
        with self.seen:
            assert self.seen.wait_for(lambda: self.outcomes, BOUND), "no handshake reached the listener"
            return self.outcomes[0]

    def close(self) -> None:
        # Linux: shutdown() wakes a thread blocked in accept() (close() alone does not).
        with contextlib.suppress(OSError):
            self.sock.shutdown(socket.SHUT_RDWR)
        self.sock.close()
        self._thread.join(BOUND)


@pytest.fixture(scope="module")
def ca(tmp_path_factory: pytest.TempPathFactory) -> tuple[pki.CertPair, Path]:
    ca = pki.create_ca("tls-test")
    path = tmp_path_factory.mktemp("ca") / "host-ca.pem"
    path.write_bytes(ca.cert_pem)
    return ca, path


def listener(tmp_path: Path, ca: pki.CertPair, addresses: list[str]) -> Iterator[TlsListener]:
    server = TlsListener(pki.issue_member_cert(ca, "host", addresses), tmp_path)
    try:
        yield server
    finally:
        server.close()


@pytest.fixture
def host(tmp_path: Path, ca: tuple[pki.CertPair, Path]) -> Iterator[TlsListener]:
    yield from listener(tmp_path, ca[0], ["127.0.0.1"])


@pytest.fixture
def other_host(tmp_path: Path, ca: tuple[pki.CertPair, Path]) -> Iterator[TlsListener]:
    """A certificate of the right CA that names another address (127.0.0.2) than the one dialled."""
    yield from listener(tmp_path, ca[0], ["127.0.0.2"])


async def connect(kind: str, port: int, **changes: object) -> HostError | None:
    session = open_session(sample_spec(f"demo{kind}", port, tls=True, connect_timeout=BOUND, **changes))
    try:
        await session.connect()
    except HostError as exc:
        return exc
    finally:
        await session.disconnect()
    return None


@pytest.mark.parametrize("kind", KINDS)
async def test_a_host_with_an_untrusted_certificate_is_refused(kind: str, host: TlsListener) -> None:
    error = await connect(kind, host.port)
    assert isinstance(error, HostUnreachable), error
    assert "certificate verify failed" in error.message
    assert host.outcome().startswith("failed:")  # the driver hung up in the handshake, nothing was sent


@pytest.mark.parametrize("kind", KINDS)
async def test_a_certificate_for_another_address_is_refused_even_from_a_trusted_ca(
    kind: str, other_host: TlsListener, ca: tuple[pki.CertPair, Path]
) -> None:
    error = await connect(kind, other_host.port, tls_ca_file=str(ca[1]))
    assert isinstance(error, HostUnreachable), error
    assert "IP address mismatch" in error.message or "hostname mismatch" in error.message.lower()
    assert other_host.outcome().startswith("failed:")


@pytest.mark.parametrize("kind", KINDS)
async def test_a_wrong_name_is_refused_when_the_system_trusts_the_ca(
    kind: str, other_host: TlsListener, ca: tuple[pki.CertPair, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    # The CA trusted system-wide (OpenSSL reads SSL_CERT_FILE for the default paths): only the host-name check
    # stands between the driver and a host whose certificate names 127.0.0.2. The 3270 driver, on tnz's own
    # context, completed this handshake before issue #21.
    monkeypatch.setenv("SSL_CERT_FILE", str(ca[1]))
    error = await connect(kind, other_host.port)
    assert isinstance(error, HostUnreachable), error
    assert error.code == "HG-7001", error.code
    assert "IP address mismatch" in error.message or "hostname mismatch" in error.message.lower()
    assert other_host.outcome().startswith("failed:")


@pytest.mark.parametrize("kind", KINDS)
async def test_the_models_ca_file_makes_a_private_ca_trusted(
    kind: str, host: TlsListener, ca: tuple[pki.CertPair, Path]
) -> None:
    await connect(kind, host.port, tls_ca_file=str(ca[1]))  # the listener then hangs up: not a terminal
    assert host.outcome() == "completed"


@pytest.mark.parametrize("kind", KINDS)
async def test_tls_verify_false_accepts_an_untrusted_certificate(kind: str, host: TlsListener) -> None:
    await connect(kind, host.port, tls_verify=False)
    assert host.outcome() == "completed"


@pytest.mark.parametrize("kind", KINDS)
async def test_an_unreadable_ca_file_is_a_coded_error_naming_it(kind: str, tmp_path: Path) -> None:
    error = await connect(kind, 1, tls_ca_file=str(tmp_path / "missing.pem"))
    assert isinstance(error, HostUnreachable), error
    assert "tls_ca_file" in error.message and "missing.pem" in error.message


def test_the_context_verifies_checks_the_name_and_wants_tls_1_2() -> None:
    strict = client_context()
    assert strict.verify_mode is ssl.CERT_REQUIRED and strict.check_hostname
    assert strict.minimum_version is ssl.TLSVersion.TLSv1_2
    lax = client_context(verify=False)
    assert lax.verify_mode is ssl.CERT_NONE and not lax.check_hostname
    assert lax.minimum_version is ssl.TLSVersion.TLSv1_2
