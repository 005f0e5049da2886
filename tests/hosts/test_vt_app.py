"""The curses program behind the VT test host (src/hostgate/testhosts/vthost.py) ends when its terminal goes away.

A pty server may run its program without making the pty its controlling terminal (then no SIGHUP arrives
when the server's side closes). The program's blocking ``getch()`` then returns ERR for ever, and it used to
loop on it at full CPU as an orphan: found at the #17 merge, six of them held 1.5 cores of the machine that
ran the suite, slowing every test after them.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

APP = Path(__file__).resolve().parents[2] / "src" / "hostgate" / "testhosts" / "vthost.py"


def _read_until(fd: int, marker: bytes, within: float) -> bytes:
    seen = b""
    deadline = time.monotonic() + within
    os.set_blocking(fd, False)
    while marker not in seen and time.monotonic() < deadline:
        try:
            seen += os.read(fd, 65536)
        except BlockingIOError:
            time.sleep(0.02)  # polling a pty for the program's first screen
    return seen


def test_the_program_ends_when_its_terminal_closes() -> None:
    master, slave = os.openpty()
    proc = subprocess.Popen(
        [sys.executable, str(APP)],
        stdin=slave,
        stdout=slave,
        stderr=slave,
        env={**os.environ, "TERM": "vt220"},
        start_new_session=False,  # no controlling terminal: nothing sends SIGHUP when the pty closes
    )
    os.close(slave)
    try:
        screen = _read_until(master, b"SIGN ON", 30.0)
        assert b"SIGN ON" in screen, screen[-500:]
        os.close(master)  # the pty server's side goes away
        try:
            proc.wait(timeout=30.0)  # generous for a loaded 2-core machine
        except subprocess.TimeoutExpired:
            raise AssertionError("the VT test program kept running after its terminal closed") from None
    finally:
        if proc.poll() is None:
            proc.kill()  # ours, by PID: never leave it spinning
            proc.wait(timeout=10)
