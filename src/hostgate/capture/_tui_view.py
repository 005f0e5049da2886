"""What the capture TUI shows and what a key means, without curses: pure functions the TUI (``tui.py``) draws
and the unit tests check.

The layout never needs more than the host screen plus :data:`EXTRA_ROWS` lines: the host screen drawn as it is
at the top left (rows x cols of the terminal type), then a status line, a help line and a message/prompt line.
Dialogs are drawn over the host screen area, so they need no room of their own.
"""

from __future__ import annotations

import curses
import textwrap
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import Enum

from hostgate.capture.faces import key_from_name
from hostgate.hosts.base import Field, Screen
from hostgate.models import Key

__all__ = [
    "EXTRA_ROWS",
    "HELP_TEXT",
    "Action",
    "Command",
    "HostKey",
    "Move",
    "Run",
    "Style",
    "TypeChars",
    "decode_key",
    "help_line",
    "key_from_name",
    "needed_size",
    "render_screen",
    "status_line",
    "too_small_lines",
]

EXTRA_ROWS = 3  # status, help, message/prompt


class Style(Enum):
    """How a cell is drawn: block-mode field attributes, distinguished (the TUI maps them to curses
    attributes; capture-pane in the tests sees only the text, so hidden fields are also masked in text)."""

    PLAIN = "plain"  # VT text, or text outside any field
    PROTECTED = "protected"
    INPUT = "input"  # unprotected: underlined
    HIDDEN = "hidden"  # unprotected non-display: underlined, content masked
    INTENSE = "intense"  # protected and intensified


@dataclass(frozen=True, slots=True)
class Run:
    """``text`` drawn at 1-based column ``col`` of a host row in one :class:`Style`."""

    col: int
    text: str
    style: Style


MASK = "*"


def _style(field: Field | None) -> Style:
    if field is None:
        return Style.PLAIN
    if field.protected:
        return Style.INTENSE if field.intensified else Style.PROTECTED
    return Style.HIDDEN if field.hidden else Style.INPUT


def render_screen(
    screen: Screen, typed_secret: Mapping[tuple[int, int], int] | None = None
) -> list[list[Run]]:
    """The host rows as runs of one style each. A hidden field shows ``MASK`` for each character the user
    typed into it (``typed_secret``: field start -> count; the driver's snapshot has it blank) and never its
    text, so neither the screen nor a screenshot of the TUI shows a password."""
    typed_secret = typed_secret or {}
    by_cell: dict[int, tuple[Field, int]] = {}
    for f in screen.fields:
        start = (f.row - 1) * screen.cols + f.col - 1
        for i in range(f.length):
            by_cell[(start + i) % (screen.rows * screen.cols)] = (f, i)
    rows: list[list[Run]] = []
    for r, line in enumerate(screen.lines, start=1):
        runs: list[Run] = []
        text = line.ljust(screen.cols)[: screen.cols]
        for c, ch in enumerate(text, start=1):
            found = by_cell.get((r - 1) * screen.cols + c - 1)
            style = _style(found[0] if found else None)
            if found is not None and style is Style.HIDDEN:
                f, i = found
                ch = MASK if i < typed_secret.get((f.row, f.col), 0) else " "
            if runs and runs[-1].style is style:
                runs[-1] = Run(runs[-1].col, runs[-1].text + ch, style)
            else:
                runs.append(Run(c, ch, style))
        rows.append(runs)
    return rows


def needed_size(screen_rows: int, screen_cols: int) -> tuple[int, int]:
    """(rows, cols) of terminal the TUI needs for a host screen of that size."""
    return screen_rows + EXTRA_ROWS, screen_cols


def too_small_lines(have: tuple[int, int], need: tuple[int, int], width: int, note: str = "") -> list[str]:
    """The notice shown instead of the screen while the terminal is too small (wrapped to ``width``)."""
    text = (
        f"Terminal too small: {have[1]}x{have[0]} (columns x rows); the capture needs {need[1]}x{need[0]} "
        f"(the host screen {need[1]}x{need[0] - EXTRA_ROWS} + {EXTRA_ROWS} lines). Enlarge the window; "
        f"the session stays open. Ctrl-Q quits. {note}"
    )
    return textwrap.wrap(text, max(width, 10))


def status_line(
    *,
    host: str,
    terminal: str,
    screen: Screen,
    entities: int,
    pending: int,
    recognised: str | None,
    width: int,
) -> str:
    """host, terminal, cursor, keyboard, the entity this screen is recognised as, counts; cut to ``width``
    (the last message has the line below it: it must not push these out of an 80-column line)."""
    row, col = screen.cursor
    lock = "X-LOCKED" if screen.keyboard_locked else "ready"
    text = (
        f"{host} {terminal}  {row},{col}  {lock}  screen:{recognised or '(new)'}  "
        f"entities:{entities}  inputs:{pending}"
    )
    return text[:width].ljust(width)


HELP_LINE = (
    "^E entity ^O operation ^R recordset ^T region ^X forget ^W write ^Q quit ^G help | "
    "F1-F12 PF1-12 S-F1-12 PF13-24 ^P PF/PA/Clear/Attn ^L Clear"
)
# What an 80-column line holds (a 24x80 host leaves no more): the capture keys and where the rest is.
HELP_LINE_80 = "^E entity ^O op ^R rows ^T region ^W write ^Q quit ^G help | F1-12 PF ^P key"

HELP_TEXT = (
    "Host keys",
    "  Enter            Enter                Tab / Shift-Tab   Tab / Backtab",
    "  F1..F12          PF1..PF12            Shift-F1..F12     PF13..PF24 (also Ctrl-F, Alt-F)",
    "  Ctrl-P           prompt for any key: 1-24 (PF), PF13, PA1-PA3, Clear, Attn, SysReq, Enter ...",
    "  Ctrl-L           Clear                Esc then 1..3     PA1..PA3",
    "  arrows, Home     move the cursor      Backspace, Delete, End (EraseEOF)   edit the field",
    "  PageUp/PageDown  PageUp/PageDown (5250 roll keys; VT sends them as-is)",
    "  anything else    typed at the cursor (recorded; a hidden field's text is never kept)",
    "Capture",
    "  Ctrl-E  mark this screen as an entity: name, proposed rules (and what else they match),",
    "          attributes; the inputs since the last entity become an operation of it",
    "  Ctrl-O  name the operation that led here and choose literal/parameter/variable/hidden",
    "          for each typed value (also asked at Ctrl-E; on a screen already captured it",
    "          records the operation with that entity as destination)",
    "  Ctrl-R  mark rows top..bottom as a recordset (and its paging keys)",
    "  Ctrl-T  mark a region (row, col, length) as an attribute (VT screens have no field map)",
    "          (both: added to the captured entity this screen is, else kept for the next Ctrl-E)",
    "  Ctrl-X  forget the inputs since the last entity (start the operation over)",
    "  Ctrl-W  write the model file      Ctrl-Q  quit (asks to save)      Ctrl-G  this help",
)


def help_line(width: int) -> str:
    line = HELP_LINE if width >= len(HELP_LINE) else HELP_LINE_80
    return line[:width].ljust(width)


# ---- keys ---------------------------------------------------------------------------------------------


class Command(Enum):
    MARK_ENTITY = "entity"
    MARK_RECORDSET = "recordset"
    NAME_OPERATION = "operation"
    MARK_REGION = "region"
    WRITE = "write"
    QUIT = "quit"
    HELP = "help"
    DISCARD = "discard"
    KEY_PROMPT = "key-prompt"
    RESIZE = "resize"
    REDRAW = "redraw"


@dataclass(frozen=True, slots=True)
class HostKey:
    key: Key


@dataclass(frozen=True, slots=True)
class TypeChars:
    text: str


@dataclass(frozen=True, slots=True)
class Move:
    """A cursor move by (rows, cols) on a block-mode screen (VT hosts get the arrow key itself)."""

    rows: int
    cols: int


Action = HostKey | TypeChars | Move | Command


def _ctrl(letter: str) -> int:
    return ord(letter.upper()) - ord("A") + 1


_CONTROL: dict[int, Action] = {
    _ctrl("E"): Command.MARK_ENTITY,
    _ctrl("R"): Command.MARK_RECORDSET,
    _ctrl("O"): Command.NAME_OPERATION,
    _ctrl("T"): Command.MARK_REGION,
    _ctrl("W"): Command.WRITE,
    _ctrl("Q"): Command.QUIT,
    _ctrl("G"): Command.HELP,
    _ctrl("X"): Command.DISCARD,
    _ctrl("P"): Command.KEY_PROMPT,
    _ctrl("L"): HostKey(Key.CLEAR),
    _ctrl("I"): HostKey(Key.TAB),
    _ctrl("J"): HostKey(Key.ENTER),
    _ctrl("M"): HostKey(Key.ENTER),
    127: HostKey(Key.BACKSPACE),
    _ctrl("H"): HostKey(Key.BACKSPACE),
}

_ARROWS = {
    curses.KEY_UP: (Key.UP, Move(-1, 0)),
    curses.KEY_DOWN: (Key.DOWN, Move(1, 0)),
    curses.KEY_LEFT: (Key.LEFT, Move(0, -1)),
    curses.KEY_RIGHT: (Key.RIGHT, Move(0, 1)),
}

_SPECIAL: dict[int, Action] = {
    curses.KEY_ENTER: HostKey(Key.ENTER),
    curses.KEY_BTAB: HostKey(Key.BACKTAB),
    curses.KEY_BACKSPACE: HostKey(Key.BACKSPACE),
    curses.KEY_DC: HostKey(Key.DELETE),
    curses.KEY_HOME: HostKey(Key.HOME),
    curses.KEY_END: HostKey(Key.ERASE_EOF),
    curses.KEY_PPAGE: HostKey(Key.PAGE_UP),
    curses.KEY_NPAGE: HostKey(Key.PAGE_DOWN),
    curses.KEY_RESIZE: Command.RESIZE,
}


def _function_key(code: int) -> Action | None:
    """F1-F12 are PF1-PF12; terminfo numbers Shift-F1..F12 as F13-F24 (xterm, tmux), Ctrl-F as F25-F36
    and Alt-F as F49-F60: all three give PF13-PF24, since terminals differ in which of them reach us."""
    n = code - curses.KEY_F0
    if 1 <= n <= 24:
        return HostKey(Key(f"PF{n}"))
    if 25 <= n <= 36:
        return HostKey(Key(f"PF{n - 12}"))
    if 49 <= n <= 60:
        return HostKey(Key(f"PF{n - 36}"))
    return None


def decode_key(code: str | int, *, block_mode: bool, after_escape: bool = False) -> Action | None:
    """What a key from curses ``get_wch`` means (a str for a character, an int for a function key; None:
    ignored). ``after_escape``: the previous key was Esc (Esc 1..3 is PA1..PA3, as x3270's Alt-1..3 are)."""
    if isinstance(code, str):
        if after_escape and code in "123":
            return HostKey(Key(f"PA{code}"))
        if ord(code) in _CONTROL:
            return _CONTROL[ord(code)]
        if ord(code) < 32 or 127 <= ord(code) < 160:
            return None
        return TypeChars(code)
    if code in _ARROWS:
        key, move = _ARROWS[code]
        return move if block_mode else HostKey(key)
    if code in _SPECIAL:
        return _SPECIAL[code]
    if curses.KEY_F0 < code <= curses.KEY_F0 + 63:
        return _function_key(code)
    return None


def wrap_lines(lines: Sequence[str], width: int) -> list[str]:
    out: list[str] = []
    for line in lines:
        out.extend(textwrap.wrap(line, width, subsequent_indent="    ", drop_whitespace=False) or [""])
    return out
