"""Where the management cluster is: one frozen value built once and handed to every call that reaches it.

Before this value the same parameters (alias, CA file, hosts file, DNS servers, deadline, ...) were spelled
out in every connect function and passed along one by one (issue #16). A client application that connects
often builds one and passes it instead of the alias::

    prod = ClusterLocation("vhi-prod-sea", Path("ca.pem"), hosts_file=Path("hosts"))
    with connect_to_model_via_domain(prod, "prod", "orders", user="u", password="p") as session:
        ...
"""

from __future__ import annotations

import hashlib
import ssl
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from hostgate.errors import UsageError
from hostgate.naming.target import parse_target

__all__ = ["ClusterLocation"]

DEFAULT_PORT = 9440


@dataclass(frozen=True, slots=True)
class ClusterLocation:
    """The management cluster's alias (``host[:port]``, re-resolved at every connection, KB 7021563), the
    cluster CA its members' certificates must chain to, the naming sources to resolve the alias with, the
    deadline of one call, and the stagger between members (``None``: learned per alias, naming/stagger.py).

    Raises ``UsageError`` for an alias that is not ``host[:port]`` when it is built, not at the first call.
    """

    alias: str
    ca_file: Path
    hosts_file: Path | None = None
    dns_servers: tuple[str, ...] = ()
    system_hosts: Path | None = None
    deadline: float = 10.0
    delay: float | None = None
    host: str = field(init=False, repr=False, compare=False)
    port: int = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        # Accept what callers have always passed (str paths, lists) and keep the value hashable and frozen.
        object.__setattr__(self, "ca_file", Path(self.ca_file))
        object.__setattr__(self, "dns_servers", tuple(self.dns_servers))
        if self.hosts_file is not None:
            object.__setattr__(self, "hosts_file", Path(self.hosts_file))
        host, port = parse_target(self.alias, DEFAULT_PORT)
        object.__setattr__(self, "host", host)
        object.__setattr__(self, "port", port)

    @classmethod
    def of(
        cls,
        alias: str | ClusterLocation,
        *,
        ca_file: Path | None,
        hosts_file: Path | None = None,
        dns_servers: Sequence[str] = (),
        deadline: float = 10.0,
    ) -> ClusterLocation:
        """``alias`` itself when it already is a location, else a location from the keyword arguments (the
        connect functions' long form, kept for applications written against it)."""
        if isinstance(alias, ClusterLocation):
            return alias
        if ca_file is None:
            raise UsageError(
                f"no cluster CA given for {alias!r}",
                hint="Pass ca_file=Path('ca.pem') (the cluster's CA certificate), or a ClusterLocation.",
            )
        return cls(alias, ca_file, hosts_file=hosts_file, dns_servers=tuple(dns_servers), deadline=deadline)

    def server_tls(self) -> ssl.SSLContext:
        """A TLS context trusting only the cluster CA, for the session servers the cluster routes to."""
        return ssl.create_default_context(cafile=str(self.ca_file))

    def shared_server_tls(self) -> ssl.SSLContext:
        """:meth:`server_tls`, one per CA for the whole process (see ``_trusting``): only for code that never
        changes the context (httpx and httpcore set ALPN on the context they are given, at every connection)."""
        try:
            pem = self.ca_file.read_bytes()
        except OSError:
            return self.server_tls()  # raises as it always did
        return _trusting(pem)


_TRUSTING: dict[bytes, ssl.SSLContext] = {}
_TRUSTING_MAX = 64


def _trusting(ca_pem: bytes) -> ssl.SSLContext:
    """A client TLS context that trusts only the CA certificates in ``ca_pem``, one per CA for the process.

    Making one parses the CA and sets OpenSSL up: about half a millisecond per connect before (issue #18). The
    context is never changed after it is made here (whoever takes it must not change it either), so connects and
    threads share it; a CA file rewritten on disk has other bytes, so it gets its own context.
    """
    key = hashlib.sha256(ca_pem).digest()
    context = _TRUSTING.get(key)
    if context is None:
        context = ssl.create_default_context(cadata=ca_pem.decode("ascii", errors="replace"))
        if len(_TRUSTING) >= _TRUSTING_MAX:
            _TRUSTING.clear()
        _TRUSTING[key] = context
    return context
