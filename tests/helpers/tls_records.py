"""The TLS records an HTTP answer arrives in, read off a raw socket (issue #16: one record per answer)."""

from __future__ import annotations

import contextlib
import socket
import ssl
from pathlib import Path

APPLICATION_DATA, ALERT = 23, 21  # TLS record content types (RFC 5246 section 6.2.1)


def records_of_one_answer(port: int, ca_file: Path, path: str) -> tuple[list[int], bytes]:
    """(content types of the TLS records the answer came in, the decrypted answer), over a raw socket."""
    ctx = ssl.create_default_context(cafile=str(ca_file))
    ctx.maximum_version = ssl.TLSVersion.TLSv1_2
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    tls = ctx.wrap_bio(incoming, outgoing, server_hostname="127.0.0.1")
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        while True:  # the handshake, through the memory BIOs
            try:
                tls.do_handshake()
                break
            except ssl.SSLWantReadError:
                sock.sendall(outgoing.read())
                incoming.write(sock.recv(65536))
        sock.sendall(outgoing.read())
        tls.write(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n".encode())
        sock.sendall(outgoing.read())
        raw = b""
        types: list[int] = []
        # Up to the server's close_notify alert, sent after the answer (Connection: close); waiting for the
        # TCP close instead would wait out the server's wait for our own close_notify.
        while ALERT not in types and (chunk := sock.recv(65536)):
            raw += chunk
            types, offset = [], 0
            while offset + 5 <= len(raw):  # record header: type (1), version (2), length (2)
                types.append(raw[offset])
                offset += 5 + int.from_bytes(raw[offset + 3 : offset + 5], "big")
    incoming.write(raw)
    plain = b""
    with contextlib.suppress(ssl.SSLZeroReturnError, ssl.SSLWantReadError):
        while data := tls.read(65536):
            plain += data
    return types, plain
