"""The VT driver against a real curses program: Debian's dialog under telnetlib3-server --pty-exec. Its box
is drawn with DEC special graphics, which pyte drops while use_utf8 is on (field notes)."""

from __future__ import annotations

import shutil

import pytest

from hostgate.errors import HostDisconnected
from hostgate.hosts import Key, open_session
from tests.helpers.hosts import VtHost, sample_spec

DIALOG = shutil.which("dialog")
pytestmark = pytest.mark.skipif(DIALOG is None, reason="dialog is not installed (make sysdeps)")


async def test_dialog_box_is_drawn_with_line_characters_and_enter_closes_it() -> None:
    assert DIALOG is not None
    with VtHost([DIALOG, "--msgbox", "HELLO FROM DIALOG", "7", "40"]).start() as host:
        session = open_session(sample_spec("demovt", host.port))
        try:
            await session.connect()
            screen = await session.wait_until("HELLO FROM DIALOG", 10)
            box = "\n".join(screen.lines)
            assert "┌" in box and "┘" in box and "─" in box and "│" in box
            assert (
                "lqqq" not in box and "qqqk" not in box
            )  # raw DEC graphics letters would mean no translation
            await session.send_key(Key.ENTER)
            with pytest.raises(HostDisconnected):
                await session.wait_until("NEVER SHOWN", 10)
        finally:
            await session.disconnect()
