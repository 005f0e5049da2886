"""``ADDRESS:PORT`` as a user writes a terminal host (``hostgate model capture --host``, the member's
``[capture] hosts``): one parser for the CLI, the console and the settings (a bottom module: errors only)."""

from __future__ import annotations

import ipaddress

from hostgate.errors import HostAddressInvalid

__all__ = ["parse_host"]


def parse_host(text: str) -> tuple[str, int]:
    """ADDRESS:PORT (an IPv6 literal in brackets) -> (address, port); HostAddressInvalid otherwise."""
    address, sep, port = text.rpartition(":")
    if address.startswith("[") and address.endswith("]"):
        address = address[1:-1]
        try:
            ipaddress.IPv6Address(address)
        except ValueError:
            raise HostAddressInvalid(f"--host {text!r}: {address!r} is not an IPv6 address") from None
    if not sep or not address or (":" in address and not text.startswith("[")):
        raise HostAddressInvalid(f"--host {text!r} is not ADDRESS:PORT")
    if not port.isdigit() or not 1 <= int(port) <= 65535:
        raise HostAddressInvalid(f"--host {text!r}: the port must be a number 1-65535")
    return address, int(port)
