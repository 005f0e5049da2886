"""uvicorn's HTTP protocol, plus the ASGI TLS extension: the client certificate reaches the app.

uvicorn (0.54) verifies a client certificate during the handshake (``ssl_cert_reqs=CERT_OPTIONAL`` with the
cluster CA) but does not tell the application which one was presented: its scope has no ``extensions.tls``.
Session-server heartbeats are authenticated by that certificate, so this protocol fills in the ASGI TLS
extension (https://asgi.readthedocs.io/en/latest/specs/tls.html): ``scope["extensions"]["tls"]
["client_cert_chain"]`` is ``[PEM]`` of the verified peer certificate, or ``[]`` when none was presented.

asyncio calls ``connection_made`` once the TLS handshake has completed, so the peer certificate is known
there; it is the same for every request on the connection. uvicorn picks the h11 protocol here (httptools is
not installed); a server that installs httptools must subclass its protocol the same way.
"""

from __future__ import annotations

import asyncio
import ssl
from typing import Any

from uvicorn.protocols.http.h11_impl import H11Protocol

__all__ = ["TlsScopeH11Protocol"]


class TlsScopeH11Protocol(H11Protocol):
    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        ssl_object: ssl.SSLObject | None = transport.get_extra_info("ssl_object")
        if ssl_object is None:
            return
        der = ssl_object.getpeercert(binary_form=True)
        chain = [ssl.DER_cert_to_PEM_cert(der)] if der else []
        inner = self.app

        async def app(scope: Any, receive: Any, send: Any) -> None:
            if scope.get("type") == "http":
                scope.setdefault("extensions", {})["tls"] = {"client_cert_chain": chain}
            await inner(scope, receive, send)

        self.app = app
