"""The parts of `hostgate demo` that need no servers: its address options refuse bad input whole, the commands
it shows are quoted for a shell, and the closing table is plain text of any width."""

from __future__ import annotations

import shlex

import pytest

from hostgate.cli.demo import claims_table, parse_addresses
from hostgate.cli.demo_steps import Claim, Shell
from hostgate.errors import UsageError


def test_addresses_default_to_nothing_and_take_three_loopback_ones() -> None:
    assert parse_addresses(None, 3, "--addresses") == ()
    assert parse_addresses(" 127.0.0.21, 127.0.0.22,127.0.0.23 ", 3, "--addresses") == (
        "127.0.0.21",
        "127.0.0.22",
        "127.0.0.23",
    )


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("127.0.0.21,127.0.0.22", "takes 3 addresses"),
        ("127.0.0.21,127.0.0.22,10.0.0.1", "not a loopback address"),
        ("127.0.0.21,127.0.0.22,0.0.0.0", "not a loopback address"),
        ("127.0.0.21,127.0.0.22,::1", "not a loopback address"),
        ("127.0.0.21,127.0.0.22,localhost", "not an IP address"),
        ("127.0.0.21,127.0.0.21,127.0.0.22", "must be different"),
    ],
)
def test_bad_addresses_are_refused_with_a_code(text: str, says: str) -> None:
    with pytest.raises(UsageError) as caught:
        parse_addresses(text, 3, "--addresses")
    assert says in str(caught.value) and caught.value.code == "HG-1003"


def test_shown_commands_paste_into_a_shell_as_they_are() -> None:
    shell = Shell("/opt/my tools/hostgate", ("nsenter", "--net=/proc/42/ns/net"))
    line = shell.hostgate_line(("server", "--data-dir", "/tmp/demo run/workhorse01"))
    assert shlex.split(line) == [
        "nsenter", "--net=/proc/42/ns/net", "/opt/my tools/hostgate", "server", "--data-dir",
        "/tmp/demo run/workhorse01",
    ]  # fmt: skip


def test_kill_lines_need_no_namespace(capsys: pytest.CaptureFixture[str]) -> None:
    shell = Shell("hostgate", ("nsenter", "--net=/proc/42/ns/net"))
    shell.show_signal("KILL", "-1234")
    shell.show_signal("STOP", "1234")
    assert capsys.readouterr().out.splitlines() == ["   $ kill -KILL -- -1234", "   $ kill -STOP 1234"]


def test_the_claims_table_lines_up_and_says_what_did_not_hold() -> None:
    lines = claims_table([Claim("a short claim", "1.00 s", True), Claim("a longer claim here", "x", False)])
    assert lines[0].split() == ["claim", "measured", "in", "this", "run", "held"]
    assert lines[2].endswith("  yes") and lines[3].endswith("  NO")
    assert len({line.index("1.00 s" if "short" in line else "x  ") for line in lines[2:]}) == 1
