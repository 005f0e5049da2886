"""Acceptance: `hostgate model capture` in a tmux pane, typed at like a user, against the REAL 3270, 5250 and
VT test hosts and the real capture engine. Each test captures the sign-on screen, the menu, the customer
list (with its recordset), the way back to the menu (Ctrl-O on a captured screen) and the customer form from scratch through the keyboard, writes the file (Ctrl-W), quits (Ctrl-Q), and
checks that `hostgate model check` accepts it, that the password typed never appears in it, and that its
entities recognise the host's screens when a fresh session walks them again.

Everything is polled with deadlines (capture-pane), never slept; each pane has its own tmux server on a
private socket, killed at the end.
"""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from hostgate.hosts import Key, open_session
from hostgate.models import HostType, Model, load_model
from hostgate.models.rules import all_match
from tests.helpers.hosts import HostProcess, host_3270, host_5250, host_vt
from tests.helpers.tmux import Tmux, tmux_available

pytestmark = pytest.mark.skipif(
    not tmux_available(), reason="tmux is missing: scripts/install-system-deps.sh"
)

__all__ = ["host_3270", "host_5250", "host_vt"]

ROOT = Path(__file__).resolve().parents[2]
PASSWORD = "LOVELACE"
PROMPT_ROW = 26  # 0-based: the message/prompt line under a 24-row host screen, its status and help lines
Answer = str | Callable[[re.Match[str]], str]


def _prompt(text: str) -> str:
    lines = text.splitlines()
    return lines[PROMPT_ROW] if len(lines) > PROMPT_ROW else ""


class Capture:
    """The TUI in a pane, with the conversation a user has with its dialogs."""

    def __init__(self, pane: Tmux) -> None:
        self.pane = pane

    def converse(self, answers: list[tuple[str, Answer]], done: str, within: float = 60.0) -> None:
        """Answer each prompt or panel the TUI shows (the first pattern that matches the prompt line, or the
        panel's key legend) until ``done`` is on the message line. An answer replaces the pre-filled default
        (Ctrl-U first); a panel gets Enter."""
        patterns = [(re.compile(p), a) for p, a in answers]
        last = ""
        while True:
            text = self.pane.wait_until(
                f"a prompt or {done!r}",
                lambda s, last=last: _prompt(s).rstrip() != last or done in _prompt(s) or "Enter accept" in s,
                within,
            )
            line = _prompt(text).rstrip()
            if done in line:
                return
            if "Enter accept" in text and line == "":
                if "!!" in text and "also match" not in text:
                    raise AssertionError(f"the engine refused the draft:\n{text}")
                last = line
                self.pane.send("Enter")
                self.pane.wait_until("the panel to close", lambda s: "Enter accept" not in s, within)
                continue
            for pattern, answer in patterns:
                found = pattern.search(line)
                if found:
                    reply = answer(found) if callable(answer) else answer
                    self.pane.send("C-u")
                    self.pane.type(reply)
                    self.pane.send("Enter")
                    # The line shows the reply being typed before Enter is taken: wait until the question is
                    # gone, so one question is never answered twice.
                    question = line[: found.end()]
                    text = self.pane.wait_until(
                        f"the TUI to take {reply!r}",
                        lambda s, question=question: not _prompt(s).startswith(question),
                        within,
                    )
                    last = ""
                    break
            else:
                # Not a question (yet): the line still shows the previous answer being taken, or a message.
                # Wait for it to change; a prompt nobody answers ends in wait_until's deadline, with the pane.
                last = line

    def mark(self, name: str, answers: list[tuple[str, Answer]] | None = None) -> None:
        self.pane.send("C-e")
        self.pane.wait_for("Entity name")
        self.pane.type(name)
        self.pane.send("Enter")
        self.converse(answers or [], f"entity {name} captured")

    def recognised(self, name: str) -> None:
        self.pane.wait_for(f"screen:{name} ")


def _values(kinds: dict[str, tuple[str, str]]) -> list[tuple[str, Answer]]:
    """Answers for the operation dialog: typed value -> (kind letter, name)."""

    def kind(found: re.Match[str]) -> str:
        return kinds[found.group(1)][0]

    def name(found: re.Match[str]) -> str:
        return kinds[found.group(1)][1]

    return [
        (r"'([^']*)' at \d+,\d+: l=literal", kind),
        (r"(?:parameter|variable|hidden) name for '([^']*)'", name),
        (r"Hidden value at \d+,\d+: hidden variable name", "password"),
    ]


@pytest.fixture
def hosts(host_3270: HostProcess, host_5250: HostProcess, host_vt: HostProcess) -> dict[str, HostProcess]:
    return {"3270": host_3270, "5250": host_5250, "vt": host_vt}


def _pane(kind: str, port: int, out: Path) -> Iterator[Tmux]:
    argv = [sys.executable, "-m", "hostgate.cli.main", "model", "capture"]
    argv += ["--host", f"127.0.0.1:{port}", "--type", kind, "--out", str(out)]
    with Tmux(argv, cols=100, rows=30, cwd=out.parent) as pane:
        yield pane


def _signon_keys(capture: Capture, kind: str) -> None:
    pane = capture.pane
    pane.type("ADA")
    pane.send("Tab")
    pane.type(PASSWORD)
    pane.send("Enter")
    pane.wait_for("MAIN MENU")


@pytest.mark.parametrize("kind", ["3270", "5250", "vt"])
def test_capture_signon_menu_and_list_through_the_keyboard(
    kind: str, hosts: dict[str, HostProcess], tmp_path: Path
) -> None:
    out = tmp_path / f"captured{kind}.yaml"
    port = hosts[kind].port
    for pane in _pane(kind, port, out):
        capture = Capture(pane)
        pane.wait_for("SIGN ON")
        pane.wait_for("screen:(new)")
        # Resize-safe: a terminal smaller than the host screen + 3 lines gets a notice, not a clipped screen.
        pane.resize(70, 20)
        pane.wait_for("Terminal too small")
        pane.resize(100, 30)
        pane.wait_for("SIGN ON")
        if kind == "vt":
            # A VT screen has no field map: the user marks the user id's region as an attribute.
            pane.send("C-t")
            capture.converse(
                [
                    (r"Attribute name", "userid"),
                    (r"^Row", "10"),
                    (r"^Column", "34"),
                    (r"^Length", "8"),
                    (r"^Writable", "y"),
                ],
                "region userid marked",
            )
        capture.mark("SignOn")
        capture.recognised("SignOn")

        _signon_keys(capture, kind)
        # The password shows masked on a block-mode host (a hidden field), and nowhere on VT (no echo).
        assert PASSWORD not in pane.screen()
        secret = "h" if kind == "vt" else "v"  # VT: the user says the second value is a hidden variable
        capture.mark(
            "Menu",
            [
                (r"Operation of SignOn .*: name", "signon"),
                *_values({"ADA": ("v", "userid"), PASSWORD: (secret, "password")}),
            ],
        )
        capture.recognised("Menu")

        pane.type("2")
        pane.send("Enter")
        pane.wait_for("CUSTOMER LIST")
        pane.send("C-r")
        capture.converse(
            [
                (r"Recordset name", "customers"),
                (r"Top row", "6"),
                (r"Bottom row", "22"),
                (r"pages forward", "PF8"),
                (r"pages back", "PF7"),
            ],
            "recordset customers marked",
        )
        capture.mark(
            "CustomerList",
            [(r"Operation of Menu .*: name", "open_list"), *_values({"2": ("l", "")})],
        )
        capture.recognised("CustomerList")

        # Back to a screen captured before: it is recognised, and Ctrl-O records the operation that led there.
        pane.send("F3")
        capture.recognised("Menu")
        pane.send("C-o")
        capture.converse(
            [(r"Operation of CustomerList .*: name", "back")], "CustomerList.back -> Menu recorded"
        )
        pane.type("1")
        pane.send("Enter")
        pane.wait_for("CUSTOMER FORM")
        capture.mark(
            "CustomerForm",
            [(r"Operation of Menu .*: name", "open_form"), *_values({"1": ("l", "")})],
        )

        pane.send("C-w")
        pane.wait_for(f"wrote {str(out)[:40]}")
        pane.send("C-q")
        pane.wait_for("EXIT STATUS 0")

    text = out.read_text()
    assert PASSWORD not in text
    check = subprocess.run(
        [sys.executable, "-m", "hostgate.cli.main", "model", "check", str(out)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert check.returncode == 0, check.stdout + check.stderr
    model = load_model(out)
    assert [e.name for e in model.entities] == ["SignOn", "Menu", "CustomerList", "CustomerForm"]
    assert model.entity("CustomerList").recordsets
    assert model.entity("CustomerList").operation("back").destinations == ("Menu",)
    assert model.entity("Menu").operation("open_form").destinations == ("CustomerForm",)
    _recognises_its_screens(model, port)


def _recognises_its_screens(model: Model, port: int) -> None:
    """A fresh session walks sign-on -> menu -> list; on each screen exactly the right entity matches."""
    import asyncio
    import dataclasses

    spec = dataclasses.replace(model.host, address="127.0.0.1", port=port)

    def only(screen: object) -> list[str]:
        return [e.name for e in model.entities if all_match(e.rules, screen)]  # type: ignore[arg-type]

    async def walk() -> None:
        async with open_session(spec) as host:
            screen = await host.connect()
            if spec.type is HostType.VT:
                screen = await host.wait_until("SIGN ON", timeout=30)
            assert only(screen) == ["SignOn"], screen.text
            await host.type_text("ADA")
            await host.send_key(Key.TAB)
            await host.type_text(PASSWORD)
            await host.send_key(Key.ENTER)
            screen = await host.wait_until(lambda s: "MAIN MENU" in s.text and "SELECTION" in s.text, 30)
            assert only(screen) == ["Menu"], screen.text
            await host.type_text("2")
            await host.send_key(Key.ENTER)
            screen = await host.wait_until(lambda s: "CUSTOMER LIST" in s.text and "PAGE" in s.text, 30)
            assert only(screen) == ["CustomerList"], screen.text

    asyncio.run(walk())
