"""The host a model drives: kind of terminal, address, TLS, terminal type and size."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

__all__ = ["DEFAULT_TERMINALS", "KNOWN_TERMINALS", "HostSpec", "HostType", "Terminal"]


class HostType(StrEnum):
    TN3270 = "3270"
    TN5250 = "5250"
    VT = "vt"


@dataclass(frozen=True, slots=True)
class Terminal:
    """The terminal hostgate claims to be: its type name (sent in telnet TTYPE) and screen size."""

    type: str
    rows: int
    cols: int


# Block-mode terminal types fix the screen size; the host formats screens for exactly this size.
KNOWN_TERMINALS: dict[HostType, dict[str, tuple[int, int]]] = {
    HostType.TN3270: {
        "IBM-3278-2": (24, 80),
        "IBM-3278-3": (32, 80),
        "IBM-3278-4": (43, 80),
        "IBM-3278-5": (27, 132),
        "IBM-3279-2": (24, 80),
        "IBM-3279-3": (32, 80),
        "IBM-3279-4": (43, 80),
        "IBM-3279-5": (27, 132),
    },
    HostType.TN5250: {
        "IBM-3179-2": (24, 80),
        "IBM-3180-2": (27, 132),
        "IBM-3477-FC": (27, 132),
        "IBM-3477-FG": (27, 132),
        "IBM-5251-11": (24, 80),
        "IBM-5555-C01": (24, 80),
    },
    HostType.VT: {},
}

DEFAULT_TERMINALS: dict[HostType, Terminal] = {
    HostType.TN3270: Terminal("IBM-3278-2", 24, 80),
    HostType.TN5250: Terminal("IBM-3179-2", 24, 80),
    # The telnetlib3 pty server maps TERM vt100 to "ansi"; vt220 survives (field notes).
    HostType.VT: Terminal("vt220", 24, 80),
}


@dataclass(frozen=True, slots=True)
class HostSpec:
    """Where and how to connect. ``encoding`` is the EBCDIC code page (3270/5250) or the byte encoding
    of a VT host (``utf8`` or ``latin1``)."""

    type: HostType
    address: str
    port: int
    terminal: Terminal
    tls: bool = False
    tls_verify: bool = True
    encoding: str = "cp037"
    connect_timeout: float = 10.0
    # PEM CA certificates to verify the host with instead of the system's (5250 and VT; hosts/_tls.py).
    tls_ca_file: str = ""
