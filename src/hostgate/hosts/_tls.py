"""The TLS client context of every terminal driver (3270 through tnz, 5250 through ibm5250, VT through telnetlib3).

One function so the drivers cannot drift apart on security (issue #16): ibm5250 defaults to no certificate
check at all (field notes), so each driver used to build its own verifying context, and a fix to one would
have missed the other; the 3270 driver kept tnz's own, which checked no host name (issue #21). The rules:

- verify by default: ``CERT_REQUIRED`` against the system's CAs, or only ``host.tls_ca_file`` when the model
  names one (a host signed by a private CA, the usual case for an IBM i or z/OS host);
- ``check_hostname``: the certificate must name the model's ``host.address`` (a DNS name or an IP address in
  its subjectAltName); the drivers pass that address as the server name, so SNI carries it too;
- TLS 1.2 at least (RFC 8996 deprecates TLS 1.0 and 1.1);
- ``tls_verify: false`` turns checking off for that host only (a test system with a self-signed certificate).
  The version floor stays.
"""

from __future__ import annotations

import ssl

from hostgate.errors import HostUnreachable
from hostgate.models import HostSpec

__all__ = ["client_context", "host_context"]


def client_context(*, verify: bool = True, ca_file: str | None = None) -> ssl.SSLContext:
    """A client context by the rules above. Raises ``OSError`` / ``ssl.SSLError`` for an unreadable CA file."""
    context = ssl.create_default_context(cafile=ca_file or None)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    if not verify:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context


def host_context(spec: HostSpec, where: str) -> ssl.SSLContext | None:
    """The context for ``spec``'s host, or ``None`` when the model does not ask for TLS.

    ``where`` names the host in the error: ``HostUnreachable`` when ``host.tls_ca_file`` cannot be used.
    """
    if not spec.tls:
        return None
    try:
        return client_context(verify=spec.tls_verify, ca_file=spec.tls_ca_file or None)
    except (OSError, ssl.SSLError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise HostUnreachable(
            f"cannot connect to {where}: the model's host.tls_ca_file {spec.tls_ca_file!r} is not usable "
            f"({reason})",
            hint="Name a readable PEM file of CA certificates on the session server, or leave tls_ca_file out "
            "to use the system's CAs.",
        ) from exc
