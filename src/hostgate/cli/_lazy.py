"""The ``hostgate`` click group: commands imported on first use (the table is ``cli/main.py``'s ``COMMANDS``)."""

from __future__ import annotations

import importlib
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NoReturn

import click

from hostgate.cli.main import COMMANDS

__all__ = ["LazyGroup", "cli"]


class LazyGroup(click.Group):
    """A group whose subcommands are ``"module:attr"`` strings, imported when a command is looked up to run.

    The command list (``hostgate --help``) is drawn from the stored summaries, so listing imports nothing; a
    command given by object (``add_command``) works as in any click group."""

    def __init__(self, *args: object, lazy: dict[str, tuple[str, str]], **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.lazy = dict(lazy)

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *self.lazy})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name in self.commands or cmd_name not in self.lazy:
            return super().get_command(ctx, cmd_name)
        module_name, _, attr = self.lazy[cmd_name][0].partition(":")
        command = getattr(importlib.import_module(module_name), attr)
        if not isinstance(command, click.Command):
            raise TypeError(f"{self.lazy[cmd_name][0]} is not a click command")
        self.commands[cmd_name] = command  # loaded once
        return command

    def main(
        self,
        args: Sequence[str] | None = None,
        prog_name: str | None = None,
        complete_var: str | None = None,
        standalone_mode: bool = True,
        **extra: Any,
    ) -> Any:
        """click's ``main``, with its own usage errors coded (HG-1071, exit 2) like every other error."""
        if not standalone_mode:
            return super().main(args, prog_name, complete_var, False, **extra)
        try:
            rv = super().main(args, prog_name, complete_var, False, **extra)
        except click.exceptions.NoArgsIsHelpError as exc:
            exc.show()  # `hostgate` alone: its help, as click shows it
            sys.exit(exc.exit_code)
        except click.UsageError as exc:
            _usage_error(exc)
        except click.ClickException as exc:
            exc.show()
            sys.exit(exc.exit_code)
        except click.Abort:
            click.echo("Aborted!", err=True)
            sys.exit(1)
        # Not standalone, click answers ctx.exit(n) (--version, --help) with n, and a command's return value
        # otherwise (hostgate's commands return None).
        sys.exit(rv if isinstance(rv, int) else 0)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        # click's own listing, with each not-yet-loaded command stood in for by a stub holding its summary
        # (click shortens the summary exactly as it would the real command's help).
        rows: list[tuple[str, click.Command]] = []
        for name in self.list_commands(ctx):
            if name in self.commands or name not in self.lazy:
                cmd = self.get_command(ctx, name)
            else:
                cmd = click.Command(name, help=self.lazy[name][1])
            if cmd is not None and not cmd.hidden:
                rows.append((name, cmd))
        if rows:
            limit = formatter.width - 6 - max(len(name) for name, _ in rows)
            with formatter.section("Commands"):
                formatter.write_dl([(name, cmd.get_short_help_str(limit)) for name, cmd in rows])


def _usage_error(exc: click.UsageError) -> NoReturn:
    # click's own layout (usage line, where help is), with the coded line hostgate prints for every error.
    from hostgate.errors import CommandLineError

    err = CommandLineError(exc.format_message())
    lines = []
    if exc.ctx is not None:
        lines.append(exc.ctx.get_usage())
        lines.append(f"Try '{exc.ctx.command_path} --help' for help.\n")
    lines.append(f"error {err.code}: {err.message}")
    click.echo("\n".join(lines), err=True)
    sys.exit(2)


_DATA_DIR = "hostgate.version_data_dir"


def _remember_data_dir(ctx: click.Context, _param: click.Parameter, value: Path | None) -> None:
    ctx.meta[_DATA_DIR] = value


def _version(ctx: click.Context, _param: click.Parameter, value: bool) -> None:
    # Not eager: click runs it after --data-dir (declared first), in either order on the command line.
    if not value or ctx.resilient_parsing:
        return
    from hostgate.cli.version_info import print_version

    print_version(ctx.meta.get(_DATA_DIR))
    ctx.exit(0)


@click.group(
    cls=LazyGroup,
    lazy=COMMANDS,
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 110},
)
@click.option(
    "--data-dir",
    type=click.Path(file_okay=False, path_type=Path),
    expose_value=False,
    callback=_remember_data_dir,
    help="With --version: also say which store the data directory DIRECTORY uses.",
)
@click.option(
    "--version",
    is_flag=True,
    expose_value=False,
    callback=_version,
    help="Show the version, Python, the etcd found (and its version), then exit.",
)
@click.pass_context
def cli(ctx: click.Context) -> None:
    """hostgate: terminal host applications as APIs, behind a failover management cluster.

    Exit codes: 0 done; 1 an error (its code, HG-NNNN, on stderr); 2 a usage error (HG-1003, HG-1071); 4 a
    conflict: what was to be created already exists (HG-1070; a member's name at a join, HG-1074); 130
    interrupted. `cluster status`: 0 healthy, 1 degraded, 2 down, 3 could not tell.
    """
    if ctx.meta.get(_DATA_DIR) is not None:
        raise click.UsageError(
            "--data-dir here belongs to --version; give a command its own --data-dir after it"
        )
