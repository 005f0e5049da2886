"""The full-screen terminal face of ``hostgate model capture`` (issue #22), on stdlib curses.

The host screen is drawn as it is at the top left (rows x cols of the terminal type), then a status line, a
help line and a message/prompt line: the TUI never needs more than the host screen + 3 lines, and says so
(instead of drawing a clipped screen) while the terminal is smaller. Dialogs are drawn over the host screen.

Keys the user types go to the engine (:class:`~hostgate.capture.Recorder`, with what the engine adds for
the faces: ``_tui_flows.FaceRecorder``), which drives the host and records
them; capture commands are control keys (``_tui_view.HELP_TEXT`` lists them all). The engine's calls are
coroutines and run one at a time on the caller's event loop (``run``): curses is synchronous, and the drivers
keep their blocking libraries on threads of their own, so nothing else needs the loop meanwhile.

    app = CaptureTui(recorder, run=loop.run_until_complete, host="127.0.0.1:3270", terminal="IBM-3278-2",
                     save=write_model)
    curses.wrapper(app.main)
"""

from __future__ import annotations

import contextlib
import curses
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, TypeVar

from hostgate.capture._tui_flows import mark_entity, mark_recordset, mark_region, name_operation
from hostgate.capture._tui_view import (
    EXTRA_ROWS,
    HELP_TEXT,
    Command,
    HostKey,
    Move,
    Style,
    TypeChars,
    decode_key,
    help_line,
    render_screen,
    status_line,
    too_small_lines,
    wrap_lines,
)
from hostgate.capture.faces import CaptureState, FaceRecorder, key_from_name, recognised
from hostgate.errors import HostDisconnected, HostgateError
from hostgate.hosts.base import Screen
from hostgate.models import Key

__all__ = ["CaptureTui"]

T = TypeVar("T")

_POLL_MS = 100  # how long get_wch waits: typed text is sent after this much quiet (one Typed per burst)
_REFRESH_S = 0.4  # how often an idle TUI reads the host screen again (VT hosts draw in several writes)
_ESC = "\x1b"


class CaptureTui:
    def __init__(
        self,
        recorder: FaceRecorder,
        *,
        run: Callable[[Awaitable[Any]], Any],
        host: str,
        terminal: str,
        block_mode: bool,
        save: Callable[[str], str],
    ) -> None:
        self.recorder = recorder
        self._run = run
        self.host = host
        self.terminal = terminal
        self.block_mode = block_mode
        self._save = save
        self.state = CaptureState()
        self.message = "Ctrl-G: keys"
        self.screen: Screen = recorder.screen
        self._typed = ""
        self._secret_counts: dict[tuple[int, int], int] = {}
        self._stdscr: Any = None
        self._last_refresh = 0.0
        self._host_gone = False
        self._panel: tuple[str, Sequence[str]] | None = None
        self._discard_armed = False

    # ---- curses plumbing -------------------------------------------------------------------------------

    def main(self, stdscr: Any) -> None:
        """The loop ``curses.wrapper`` runs: until the user quits."""
        self._stdscr = stdscr
        curses.raw()  # Ctrl-Q, Ctrl-S, Ctrl-C reach us as keys (they are capture commands or ignored)
        curses.noecho()
        stdscr.keypad(True)
        stdscr.timeout(_POLL_MS)
        if curses.has_colors():
            curses.start_color()
            curses.use_default_colors()
            curses.init_pair(1, curses.COLOR_CYAN, -1)
            curses.init_pair(2, curses.COLOR_GREEN, -1)
            curses.init_pair(3, curses.COLOR_RED, -1)
        after_escape = False
        while True:
            self.draw()
            code = self._get()
            if code is None:
                self._idle()
                continue
            if code == _ESC:
                after_escape = True
                continue
            if self._too_small():
                # Only Ctrl-Q works on the notice: at once when nothing is unsaved; else a second Ctrl-Q
                # discards (saving needs the prompt line, which a too small terminal does not show).
                if code == "\x11":
                    if not self.state.dirty or self._discard_armed:
                        return
                    self._discard_armed = True
                continue
            self._discard_armed = False
            action = decode_key(code, block_mode=self.block_mode, after_escape=after_escape)
            after_escape = False
            if action is None:
                continue
            if isinstance(action, TypeChars):
                self._typed += action.text
                continue
            self._flush()
            if action is Command.QUIT:
                if self._quit():
                    return
            else:
                self._act(action)

    def _get(self) -> str | int | None:
        try:
            code: str | int = self._stdscr.get_wch()
        except curses.error:
            return None
        return code

    def _size(self) -> tuple[int, int]:
        rows, cols = self._stdscr.getmaxyx()
        return int(rows), int(cols)

    def _too_small(self) -> bool:
        rows, cols = self._size()
        return rows < self.screen.rows + EXTRA_ROWS or cols < self.screen.cols

    def _put(self, y: int, x: int, text: str, attr: int = 0) -> None:
        rows, cols = self._size()
        if y >= rows or x >= cols:
            return
        text = text[: cols - x]
        # Writing the bottom-right cell moves the cursor past the end: curses reports it, harmlessly.
        with contextlib.suppress(curses.error):
            self._stdscr.addstr(y, x, text, attr)

    def _attr(self, style: Style) -> int:
        color = curses.has_colors()
        if style is Style.INPUT:
            return curses.A_UNDERLINE | (curses.color_pair(2) if color else 0)
        if style is Style.HIDDEN:
            return curses.A_UNDERLINE | (curses.color_pair(3) if color else 0)
        if style is Style.INTENSE:
            return curses.A_BOLD
        if style is Style.PROTECTED:
            return curses.color_pair(1) if color else 0
        return 0

    def draw(self, panel: tuple[str, Sequence[str]] | None = None, prompt: str | None = None) -> None:
        stdscr = self._stdscr
        stdscr.erase()
        rows, cols = self._size()
        if self._too_small():
            need = (self.screen.rows + EXTRA_ROWS, self.screen.cols)
            note = ""
            if self.state.dirty:
                note = (
                    "Unsaved captures: Ctrl-Q again discards them."
                    if self._discard_armed
                    else "There are unsaved captures: enlarge the window to save them (Ctrl-W)."
                )
            for y, line in enumerate(too_small_lines((rows, cols), need, cols, note)):
                self._put(y, 0, line)
            stdscr.refresh()
            return
        base = self.screen.rows
        if panel is None:
            for y, runs in enumerate(render_screen(self.screen, self._secret_counts)):
                for run in runs:
                    self._put(y, run.col - 1, run.text, self._attr(run.style))
        else:
            title, lines = panel
            self._put(0, 0, f" {title} ".center(self.screen.cols, "="), curses.A_BOLD)
            shown = wrap_lines(lines, self.screen.cols - 1)
            room = base - 1
            if len(shown) > room:
                shown = [*shown[: room - 1], "... (more than fits)"]
            for y, line in enumerate(shown, start=1):
                self._put(y, 0, line)
        recognised_as = recognised(self.recorder)
        extra = []
        if self.state.recordsets:
            extra.append(f"{len(self.state.recordsets)} recordset(s) marked")
        if self.state.regions:
            extra.append(f"{len(self.state.regions)} region(s) marked")
        message = "; ".join([*extra, self.message] if self.message else extra)
        self._put(
            base,
            0,
            status_line(
                host=self.host,
                terminal=self.terminal,
                screen=self.screen,
                entities=len(self.recorder.entities),
                pending=len(self.recorder.pending) + (1 if self._typed else 0),
                recognised=recognised_as,
                width=self.screen.cols,
            ),
            curses.A_REVERSE,
        )
        self._put(base + 1, 0, help_line(self.screen.cols), curses.A_DIM)
        if prompt is None:
            self._put(base + 2, 0, message[: self.screen.cols])
        else:
            # A long question keeps its end (where the typing goes) in view.
            visible = prompt[-(cols - 1) :] if len(prompt) >= cols else prompt
            self._put(base + 2, 0, visible)
            stdscr.move(base + 2, min(len(visible), cols - 1))
        if prompt is None and panel is None:
            row, col = self.screen.cursor
            stdscr.move(min(row - 1, base - 1), min(col - 1, cols - 1))
        stdscr.refresh()

    # ---- the Prompter the dialogs use ------------------------------------------------------------------

    def ask(self, question: str, default: str = "") -> str | None:
        text = default
        while True:
            self.draw(panel=self._panel, prompt=f"{question}: {text}")
            code = self._get()
            if code is None:
                continue
            if code == _ESC:
                return None
            if code in ("\n", "\r", curses.KEY_ENTER):
                return text
            if code in ("\x7f", "\x08", curses.KEY_BACKSPACE):
                text = text[:-1]
            elif code == "\x15":  # Ctrl-U: clear the line
                text = ""
            elif isinstance(code, str) and code.isprintable():
                text += code

    def show(self, title: str, lines: Sequence[str], keys: str) -> str:
        self._panel = (title, lines)
        try:
            while True:
                self.draw(panel=self._panel, prompt="")
                code = self._get()
                if code is None:
                    continue
                if code == _ESC:
                    return ""
                if code in ("\r", curses.KEY_ENTER):
                    code = "\n"
                if isinstance(code, str) and code in keys:
                    return code
        finally:
            self._panel = None

    # ---- actions -------------------------------------------------------------------------------------

    def _call(self, coro: Awaitable[Screen]) -> None:
        """One engine call; its screen becomes the one shown. A host error is shown, not raised: the user
        can still write what was captured."""
        try:
            self.screen = self._run(coro)
        except HostDisconnected as exc:
            self._host_gone = True
            self.message = f"{exc.code}: host closed the connection; Ctrl-W writes, Ctrl-Q quits"
        except HostgateError as exc:
            self.message = f"{exc.code}: {exc.message.splitlines()[0]}"

    def _flush(self) -> None:
        if not self._typed:
            return
        text, self._typed = self._typed, ""
        field = self.screen.field_at(*self.screen.cursor) if self.block_mode else None
        if field is not None and field.hidden and not field.protected:
            start = (field.row, field.col)
            self._secret_counts[start] = self._secret_counts.get(start, 0) + len(text)
        self._call(self.recorder.type_text(text))

    def _idle(self) -> None:
        self._flush()
        now = time.monotonic()
        if not self._host_gone and now - self._last_refresh >= _REFRESH_S:
            self._last_refresh = now
            self._call(self.recorder.refresh())

    def _act(self, action: HostKey | Move | Command) -> None:
        if isinstance(action, HostKey):
            self._press(action.key)
        elif isinstance(action, Move):
            row = (self.screen.cursor[0] - 1 + action.rows) % self.screen.rows + 1
            col = (self.screen.cursor[1] - 1 + action.cols) % self.screen.cols + 1
            self._call(self.recorder.move_cursor(row, col))
        elif action is Command.KEY_PROMPT:
            answer = self.ask("Key: 1-24 (PF), PA1-PA3, Clear, Attn, SysReq, Enter, ...")
            if answer:
                key = key_from_name(answer)
                if key is None:
                    self.message = f"{answer!r} is not a key"
                else:
                    self._press(key)
        elif action is Command.WRITE:
            self._write()
        elif action is Command.DISCARD:
            if self.recorder.pending:
                self.recorder.discard_pending()
                self.state.operation = None
                self.message = "inputs since the last entity forgotten"
            else:
                self.message = "no inputs to forget"
        elif action is Command.HELP:
            self.show("Keys (any listed key or Esc closes)", HELP_TEXT, "\n q")
        elif action in (Command.RESIZE, Command.REDRAW):
            curses.update_lines_cols()
        else:
            self._dialog(action)

    def _press(self, key: Key) -> None:
        if key.is_attention:
            self._secret_counts.clear()
        elif key is Key.BACKSPACE and self.block_mode:
            field = self.screen.field_at(*self.screen.cursor)
            if field is not None and field.hidden:
                start = (field.row, field.col)
                self._secret_counts[start] = max(0, self._secret_counts.get(start, 0) - 1)
        self.message = key.value
        self._call(self.recorder.press(key))

    def _dialog(self, command: Command) -> None:
        flows = {
            Command.MARK_ENTITY: mark_entity,
            Command.MARK_RECORDSET: mark_recordset,
            Command.NAME_OPERATION: name_operation,
            Command.MARK_REGION: mark_region,
        }
        try:
            self.message = flows[command](self.recorder, self, self.state)
        except HostgateError as exc:
            self.message = f"{exc.code}: {exc.message.splitlines()[0]}"

    def _write(self) -> bool:
        try:
            self.message = self._save(self.recorder.model_yaml())
        except HostgateError as exc:
            self.message = f"{exc.code}: {exc.message.splitlines()[0]}"
            return False
        self.state.dirty = False
        return True

    def _quit(self) -> bool:
        if not self.state.dirty:
            return True
        while True:
            answer = self.ask("Save the model before quitting? y=save n=discard (Esc: stay)", "y")
            if answer is None:
                return False
            if answer.strip().lower().startswith("n"):
                return True
            if answer.strip().lower().startswith("y"):
                return self._write()
