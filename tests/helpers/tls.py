"""A loopback TLS server's identity for tests of hostgate's own HTTP clients: a fresh CA, a certificate for
127.0.0.1 signed by it, and the server context that presents it (the client verifies with ``ca_file``)."""

from __future__ import annotations

import ssl
from dataclasses import dataclass
from pathlib import Path

from hostgate import pki

__all__ = ["LoopbackTls", "loopback_tls"]


@dataclass(frozen=True, slots=True)
class LoopbackTls:
    ca_file: Path
    server_context: ssl.SSLContext


def loopback_tls(directory: Path) -> LoopbackTls:
    ca = pki.create_ca("c1")
    cert = pki.issue_member_cert(ca, "m1", ["127.0.0.1"])
    (directory / "ca.pem").write_bytes(ca.cert_pem)
    (directory / "cert.pem").write_bytes(cert.cert_pem)
    (directory / "key.pem").write_bytes(cert.key_pem)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(directory / "cert.pem", directory / "key.pem")
    return LoopbackTls(directory / "ca.pem", context)
