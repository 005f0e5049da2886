"""Terminal keys, shared by models (operations name them) and host drivers (which send them).

Keys are spelled in models as in VHI's Design Tool: ``Enter``, ``PF3`` (``F3`` is accepted for 5250
habits), ``PA1``, ``Clear``, ``Tab``, ``PageDown`` ... :func:`parse_key` is case-insensitive.
"""

from __future__ import annotations

from enum import StrEnum

from hostgate.models.host import HostType

__all__ = ["HOST_KEYS", "Key", "parse_key"]


class Key(StrEnum):
    """A key a host session can send. Attention keys (Enter, PFn, PAn, Clear, ...) transmit to the host;
    the others (Tab, cursor keys, ...) act locally on block-mode terminals and are sent as-is to VT hosts."""

    ENTER = "Enter"
    CLEAR = "Clear"
    PF1 = "PF1"
    PF2 = "PF2"
    PF3 = "PF3"
    PF4 = "PF4"
    PF5 = "PF5"
    PF6 = "PF6"
    PF7 = "PF7"
    PF8 = "PF8"
    PF9 = "PF9"
    PF10 = "PF10"
    PF11 = "PF11"
    PF12 = "PF12"
    PF13 = "PF13"
    PF14 = "PF14"
    PF15 = "PF15"
    PF16 = "PF16"
    PF17 = "PF17"
    PF18 = "PF18"
    PF19 = "PF19"
    PF20 = "PF20"
    PF21 = "PF21"
    PF22 = "PF22"
    PF23 = "PF23"
    PF24 = "PF24"
    PA1 = "PA1"
    PA2 = "PA2"
    PA3 = "PA3"
    ATTN = "Attn"
    SYSREQ = "SysReq"
    HELP = "Help"
    PRINT = "Print"
    PAGE_UP = "PageUp"
    PAGE_DOWN = "PageDown"
    TAB = "Tab"
    BACKTAB = "Backtab"
    HOME = "Home"
    END = "End"
    UP = "Up"
    DOWN = "Down"
    LEFT = "Left"
    RIGHT = "Right"
    BACKSPACE = "Backspace"
    DELETE = "Delete"
    ERASE_EOF = "EraseEOF"
    ESCAPE = "Escape"

    @property
    def is_attention(self) -> bool:
        """True for keys that send the screen to a block-mode host (and lock its keyboard)."""
        return self in _ATTENTION


_PF = frozenset(Key(f"PF{i}") for i in range(1, 25))
_ATTENTION = _PF | {
    Key.ENTER,
    Key.CLEAR,
    Key.PA1,
    Key.PA2,
    Key.PA3,
    Key.ATTN,
    Key.SYSREQ,
    Key.HELP,
    Key.PRINT,
    Key.PAGE_UP,
    Key.PAGE_DOWN,
}
_LOCAL_BLOCK = frozenset({Key.TAB, Key.BACKTAB, Key.HOME, Key.UP, Key.DOWN, Key.LEFT, Key.RIGHT})

HOST_KEYS: dict[HostType, frozenset[Key]] = {
    HostType.TN3270: _PF
    | _LOCAL_BLOCK
    | {Key.ENTER, Key.CLEAR, Key.PA1, Key.PA2, Key.PA3, Key.ATTN, Key.BACKSPACE, Key.DELETE, Key.ERASE_EOF},
    # ibm5250 sends Roll Up/Down as PageDown/PageUp, and has no PA keys.
    HostType.TN5250: _PF
    | _LOCAL_BLOCK
    | {Key.ENTER, Key.CLEAR, Key.HELP, Key.PRINT, Key.SYSREQ, Key.ATTN, Key.PAGE_UP, Key.PAGE_DOWN},
    # VT function keys beyond F12 have no standard escape sequence on a vt220 keyboard.
    HostType.VT: frozenset(Key(f"PF{i}") for i in range(1, 13))
    | _LOCAL_BLOCK
    | {Key.ENTER, Key.END, Key.PAGE_UP, Key.PAGE_DOWN, Key.BACKSPACE, Key.DELETE, Key.ESCAPE},
}

_BY_NAME = {k.value.lower(): k for k in Key} | {f"f{i}": Key(f"PF{i}") for i in range(1, 25)}
_BY_NAME |= {"rollup": Key.PAGE_DOWN, "rolldown": Key.PAGE_UP, "return": Key.ENTER, "esc": Key.ESCAPE}


def parse_key(name: str) -> Key | None:
    """The key called ``name`` (``"enter"``, ``"PF8"``, ``"F8"``, ``"RollUp"``), or None."""
    return _BY_NAME.get(name.strip().lower().replace("_", "").replace("-", ""))
