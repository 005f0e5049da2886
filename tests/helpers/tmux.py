"""A program in a tmux pane, driven like a user: ``send`` keys, ``wait_for`` text in ``capture-pane``.

Each :class:`Tmux` runs its own tmux server on a private socket (``-L`` with a unique name, no user config), so
nothing touches another tmux a developer or a parallel test runs, and ``close()`` kills that server only.

    with Tmux(["hostgate", "model", "capture", ...], cols=100, rows=30) as pane:
        pane.wait_for("SIGN ON")
        pane.send("C-e")
        pane.type("SignOn")
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import time
import uuid
from collections.abc import Callable, Sequence
from pathlib import Path
from types import TracebackType
from typing import Self

__all__ = ["Tmux", "TmuxError", "tmux_available"]


class TmuxError(AssertionError):
    pass


def tmux_available() -> bool:
    return shutil.which("tmux") is not None


class Tmux:
    def __init__(
        self,
        argv: Sequence[str],
        *,
        cols: int = 100,
        rows: int = 30,
        cwd: Path | None = None,
        env: dict[str, str] | None = None,
    ) -> None:
        self.socket = f"hostgate-test-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        self._socket_path: Path | None = None
        # The pane's shell runs the program, then records its exit status and stays, so a test can read the
        # last screen and the status after the program ended.
        command = f'{shlex.join(argv)}; echo "EXIT STATUS $?"; sleep 600'
        environment = {**os.environ, **(env or {}), "TERM": "screen-256color"}
        environment.pop("TMUX", None)
        # curses takes $LINES/$COLUMNS over the pane's real size (ncurses use_env): pytest-xdist's workers have
        # LINES=24 COLUMNS=80, and a user's shell may export them; the pane's size is what the test asked for.
        environment.pop("LINES", None)
        environment.pop("COLUMNS", None)
        self._run(
            "new-session",
            "-d",
            "-x",
            str(cols),
            "-y",
            str(rows),
            "-c",
            str(cwd or Path.cwd()),
            command,
            env=environment,
        )
        self._run("set-option", "-g", "escape-time", "0")
        self._socket_path = Path(self._run("display-message", "-p", "#{socket_path}").strip())

    def _run(self, *args: str, env: dict[str, str] | None = None) -> str:
        done = subprocess.run(
            ["tmux", "-L", self.socket, "-f", "/dev/null", *args],
            capture_output=True,
            text=True,
            timeout=30,
            env=env,
            check=False,
        )
        if done.returncode != 0:
            raise TmuxError(f"tmux {' '.join(args[:1])} failed: {done.stderr.strip()}")
        return done.stdout

    def screen(self) -> str:
        return self._run("capture-pane", "-p", "-J")

    def send(self, *keys: str) -> None:
        """tmux key names (``Enter``, ``Tab``, ``BTab``, ``F3``, ``C-e``, ``Escape``) or literal text."""
        self._run("send-keys", *keys)

    def type(self, text: str) -> None:
        """``text`` as literal keys (no key-name lookup: "Enter" typed as five letters)."""
        self._run("send-keys", "-l", text)

    def resize(self, cols: int, rows: int) -> None:
        self._run("resize-window", "-x", str(cols), "-y", str(rows))

    def wait_until(self, what: str, check: Callable[[str], bool], within: float = 30.0) -> str:
        """Poll the pane until ``check`` holds on its text (deadline sized for a loaded 2-core machine)."""
        deadline = time.monotonic() + within
        while True:
            text = self.screen()
            if check(text):
                return text
            if time.monotonic() > deadline:
                raise TmuxError(f"waited {within:.0f} s for {what}; the pane shows:\n{text}")
            time.sleep(0.05)  # the poll interval of a deadline loop, not a synchronisation sleep

    def wait_for(self, text: str | re.Pattern[str], within: float = 30.0) -> str:
        if isinstance(text, re.Pattern):
            pattern = text
            return self.wait_until(repr(pattern.pattern), lambda s: pattern.search(s) is not None, within)
        return self.wait_until(repr(text), lambda s: text in s, within)

    def wait_for_words(self, text: str, within: float = 30.0) -> str:
        """``text`` as words, wherever the program wrapped its lines."""
        return self.wait_until(repr(text), lambda s: text in " ".join(s.split()), within)

    def close(self) -> None:
        subprocess.run(
            ["tmux", "-L", self.socket, "-f", "/dev/null", "kill-server"],
            capture_output=True,
            timeout=30,
            check=False,
        )
        # tmux leaves the socket file behind after kill-server: remove ours, so runs do not pile them up.
        if self._socket_path is not None:
            self._socket_path.unlink(missing_ok=True)

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()
