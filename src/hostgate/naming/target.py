"""``host[:port]`` parsing shared by every hostgate client, so ``alias:9440`` means one thing everywhere.

Accepted forms::

    vhi-prod-sea            host only: the caller's default port
    vhi-prod-sea:9440       host and port
    10.0.0.1:9440           IPv4 literal and port
    [::1]:9440              IPv6 literal and port: brackets are required with a port (RFC 3986 3.2.2)
    ::1                     bare IPv6 literal: it has several colons, so none of them can be a port separator
    [fe80::1%eth0]:9440     scoped (link-local) IPv6 literal; the zone is kept (RFC 6874 in spirit, unescaped)

Host names are not checked against the KB's letters-digits-hyphens rule here: a target may be a name of the
system resolver (Docker names carry underscores) that only the ``system`` source knows.
"""

from __future__ import annotations

import ipaddress
import re

from hostgate.errors import UsageError

__all__ = ["format_target", "is_ip_literal", "parse_target", "url_host"]

_BRACKETED = re.compile(r"^\[(?P<host>[^\[\]]*)\](?::(?P<port>[^:]*))?$")
_HINT = "Give HOST, HOST:PORT or [IPv6]:PORT, for example vhi-prod-sea:9440 or [::1]:9440."


def is_ip_literal(text: str) -> bool:
    """True when ``text`` is an IPv4 or IPv6 address (a zone such as ``%eth0`` allowed on IPv6)."""
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def _port(text: str, target: str) -> int:
    if not text.isascii() or not text.isdigit():
        raise UsageError(f"{target!r}: port {text!r} is not a number", hint=_HINT)
    port = int(text)
    if not 0 < port < 65536:
        raise UsageError(f"{target!r}: port {port} is outside 1-65535", hint=_HINT)
    return port


def parse_target(target: str, default_port: int) -> tuple[str, int]:
    """Split ``target`` into ``(host, port)``; ``default_port`` when it names no port.

    >>> parse_target("vhi-prod-sea:9441", 9440)
    ('vhi-prod-sea', 9441)
    >>> parse_target("[::1]", 9440)
    ('::1', 9440)

    Raises ``UsageError`` naming the target for an empty host, a bad port, unbalanced brackets, or brackets
    around something that is not an IPv6 literal.
    """
    text = target.strip()
    if not text:
        raise UsageError("empty address: expected HOST or HOST:PORT", hint=_HINT)
    if any(ch.isspace() for ch in text):
        raise UsageError(f"{target!r}: an address cannot contain spaces", hint=_HINT)
    if text.startswith("["):
        match = _BRACKETED.match(text)
        if match is None:
            raise UsageError(f"{target!r}: unbalanced brackets", hint=_HINT)
        host = match["host"]
        try:
            ipaddress.IPv6Address(host)
        except ValueError:
            raise UsageError(f"{target!r}: only an IPv6 address goes inside [brackets]", hint=_HINT) from None
        port_text = match["port"]
        return host, default_port if port_text is None else _port(port_text, target)
    if "[" in text or "]" in text:
        raise UsageError(f"{target!r}: unbalanced brackets", hint=_HINT)
    colons = text.count(":")
    if colons == 0:
        return text, default_port
    if colons == 1:
        host, port_text = text.split(":")
        if not host:
            raise UsageError(f"{target!r}: no host before the port", hint=_HINT)
        return host, _port(port_text, target)
    try:
        ipaddress.IPv6Address(text)
    except ValueError:
        raise UsageError(
            f"{target!r}: not an IPv6 address; write an IPv6 address with a port as [address]:port",
            hint=_HINT,
        ) from None
    return text, default_port


def url_host(host: str) -> str:
    """``host`` as it goes before ``:port`` in an address or URL: an IPv6 literal in brackets (RFC 3986
    3.2.2), an IPv4 literal or a name unchanged.

    >>> url_host("fe80::1%eth0"), url_host("10.0.0.1"), url_host("vhi-prod-sea")
    ('[fe80::1%eth0]', '10.0.0.1', 'vhi-prod-sea')

    A zone stays as it is, not escaped as ``%25`` (RFC 6874): the same URLs go to httpx, which hands the host
    to ``getaddrinfo`` as written, and ``getaddrinfo("fe80::1%25eth0")`` finds nothing.
    """
    return f"[{host}]" if ":" in host else host


def format_target(host: str, port: int) -> str:
    """The inverse of :func:`parse_target`: ``[v6]:port`` for IPv6 literals, ``host:port`` otherwise."""
    return f"{url_host(host)}:{port}"
