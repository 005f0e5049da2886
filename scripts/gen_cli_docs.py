"""Write docs/cli.md from the commands' own --help (run: .venv/bin/python scripts/gen_cli_docs.py)."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from hostgate.cli.main import cli

OUT = Path(__file__).resolve().parents[1] / "docs" / "cli.md"


def _walk(cmd: click.Command, path: list[str]) -> list[tuple[list[str], click.Command]]:
    found = [(path, cmd)]
    if isinstance(cmd, click.Group):
        # list_commands/get_command, not .commands: the top group loads its commands on use (cli/_lazy.py).
        ctx = click.Context(cmd, info_name=" ".join(path))
        for name in sorted(cmd.list_commands(ctx)):
            sub = cmd.get_command(ctx, name)
            if sub is not None:
                found += _walk(sub, [*path, name])
    return found


def render() -> str:
    parts = [
        "# hostgate command reference",
        "",
        "Generated from each command's `--help` by `scripts/gen_cli_docs.py`; `tests/unit/test_cli_docs.py` fails",
        "when it is out of date.",
        "",
    ]
    for path, cmd in _walk(cli, ["hostgate"]):
        # The names the real CLI gives every command (inherited from the group): click caches the help option
        # on a command once built, so rendering with other names would depend on what ran before.
        if hasattr(cmd, "_help_option"):
            cmd._help_option = None  # drop a help option cached by an earlier in-process run (click >= 8.2)
        ctx = click.Context(
            cmd,
            info_name=" ".join(path),
            terminal_width=110,
            max_content_width=110,
            help_option_names=["-h", "--help"],
        )
        parts += [f"## {' '.join(path)}", "", "```text", cmd.get_help(ctx).rstrip(), "```", ""]
    return "\n".join(parts)


if __name__ == "__main__":
    OUT.write_text(render())
    sys.exit(0)
