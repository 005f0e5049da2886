"""Checks of what an Administrator types: names, ports, addresses (issue #15, finding 8).

Each raises :class:`~hostgate.errors.InvalidField` (HG-1011, HTTP 400) naming the field, so that a bad value
is refused whole before anything is written.
"""

from __future__ import annotations

import ipaddress
import re

from hostgate.errors import InvalidField

__all__ = ["check_cluster_name", "check_host", "check_ip", "check_port"]

# RFC 1123 section 2.1 host name labels: letters, digits, hyphens; no hyphen at either end; 1-63 characters.
_LABEL = re.compile(r"(?!-)[A-Za-z0-9-]{1,63}(?<!-)\Z")


def _is_host_name(value: str) -> bool:
    labels = value.split(".")
    return 0 < len(value) <= 253 and all(_LABEL.match(label) for label in labels)


def check_cluster_name(name: str) -> None:
    """A cluster is named after its DNS alias (KB 7021563): a host name (``a..b`` or ``-a`` is not)."""
    if not _is_host_name(name):
        raise InvalidField(
            f"cluster name {name!r} must be a DNS name: dot-separated labels of letters, digits and hyphens "
            "(no empty label, no hyphen at either end of a label, at most 253 characters)"
        )


def check_port(field: str, port: int, *, allow_zero: bool = False) -> None:
    low = 0 if allow_zero else 1
    if isinstance(port, bool) or not low <= port <= 65535:
        raise InvalidField(f"{field}: port {port!r} is outside {low}-65535")


def check_ip(field: str, address: str) -> None:
    """One IP address a peer can dial (0.0.0.0 and :: mean "every interface", which nobody can dial)."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        raise InvalidField(f"{field}: {address!r} is not an IP address") from None
    if ip.is_unspecified:
        raise InvalidField(f"{field}: {address} means every interface; give the server's own address")


def check_host(field: str, value: str) -> None:
    """A host name or an IP literal (what a client can dial), nothing else (no URL, no port, no spaces)."""
    try:
        ipaddress.ip_address(value)
        return
    except ValueError:
        pass
    if not _is_host_name(value):
        raise InvalidField(f"{field}: {value!r} is neither a host name nor an IP address")
