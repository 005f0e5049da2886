"""Terminal drivers behind one :class:`HostSession` contract: 3270 (tnz), 5250 (ibm5250), VT (telnetlib3 +
pyte). ``open_session(spec)`` picks the driver for a model's host.

    from hostgate.hosts import Key, open_session

    async with open_session(model.host) as host:
        screen = await host.connect()
        await host.fill_field(10, 34, "ADA")
        await host.send_key(Key.ENTER)
        menu = await host.wait_until(model.entity("Menu").matches, timeout=5)
"""

from __future__ import annotations

from hostgate.hosts.base import Condition, Field, Fill, HostSession, Input, Screen, TypeText, as_predicate
from hostgate.models import HostSpec, HostType, Key

__all__ = [
    "Condition",
    "Field",
    "Fill",
    "HostSession",
    "Input",
    "Key",
    "Screen",
    "TypeText",
    "as_predicate",
    "open_session",
]


def open_session(spec: HostSpec, *, keyboard_timeout: float = 5.0) -> HostSession:
    """A new, unconnected session for ``spec`` (``await session.connect()`` opens it). Drivers are imported
    on first use, so a process that only speaks VT never loads tnz."""
    if spec.type is HostType.TN3270:
        from hostgate.hosts.tn3270 import Tn3270Session

        return Tn3270Session(spec, keyboard_timeout=keyboard_timeout)
    if spec.type is HostType.TN5250:
        from hostgate.hosts.tn5250 import Tn5250Session

        return Tn5250Session(spec, keyboard_timeout=keyboard_timeout)
    from hostgate.hosts.vt import VtSession

    return VtSession(spec, keyboard_timeout=keyboard_timeout)
