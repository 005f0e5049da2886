"""How the CLI speaks: coded errors on stderr (code, message, hint), tables or JSON on stdout."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from functools import wraps
from typing import Any, NoReturn, ParamSpec, TypeVar

import click
from rich.console import Console, ConsoleDimensions
from rich.markup import escape

from hostgate.errors import Conflict, HostgateError, UsageError

__all__ = [
    "EXIT_CONFLICT",
    "EXIT_USAGE",
    "console",
    "emit_json",
    "fail",
    "handle_errors",
    "make_console",
    "print_error",
]

EXIT_USAGE = 2
EXIT_CONFLICT = 4

P = ParamSpec("P")
R = TypeVar("R")

# Wide enough for any line hostgate prints (paths are at most PATH_MAX, 4096), small enough that a renderable
# sized to the console's full width would still be harmless.
_UNWRAPPED_WIDTH = 100_000


class _Console(Console):
    """A rich console that wraps only on a terminal.

    rich wraps at the terminal's width, and at 80 columns (or ``$COLUMNS``) when its output is a pipe or a file,
    so a long data-dir or model path broke lines that scripts and tests read (issue #14.9: the suite failed from
    a clone in a deeper folder). Whether the output is a terminal is asked at every print, because the CLI's
    module-level console outlives the streams (``click.testing.CliRunner`` swaps ``sys.stdout``).
    """

    @property
    def size(self) -> ConsoleDimensions:
        measured = super().size
        if self.is_terminal:
            return measured
        return ConsoleDimensions(_UNWRAPPED_WIDTH, measured.height)

    @size.setter
    def size(self, new_size: tuple[int, int]) -> None:
        self._width, self._height = new_size


def make_console(*, stderr: bool = False, soft_wrap: bool = False) -> Console:
    """Every rich console of the CLI comes from here (never wraps when not writing to a terminal)."""
    return _Console(stderr=stderr, highlight=False, soft_wrap=soft_wrap)


console = make_console()
_err = make_console(stderr=True)


def fail(err: HostgateError) -> NoReturn:
    """Print ``error HG-NNNN: message`` and its hint to stderr, then exit 1 (2 for usage errors, 4 for a
    conflict: "already exists", which a script creating something idempotently may take as done)."""
    print_error(err)
    sys.exit(EXIT_USAGE if isinstance(err, UsageError) else EXIT_CONFLICT if isinstance(err, Conflict) else 1)


def print_error(err: HostgateError) -> None:
    """``error HG-NNNN: message`` and its hint on stderr (the caller decides the exit code)."""
    payload = err.to_payload(public=False)  # this host's own paths help its operator
    _err.print(
        f"[bold red]error {payload['code']}[/]: {escape(payload['message'])}", markup=True, soft_wrap=True
    )
    if payload.get("hint"):
        _err.print(f"hint: {payload['hint']}", markup=False, soft_wrap=True)


def emit_json(data: Any) -> None:
    click.echo(json.dumps(data, indent=2, sort_keys=True))


def handle_errors(func: Callable[P, R]) -> Callable[P, R]:
    """Turn a ``HostgateError`` into its coded message on stderr (exit 2 for a ``UsageError``, else 1) and
    Ctrl-C into "interrupted" (exit 130), instead of a traceback.

    It catches nothing else: an ``OSError`` or any other exception is a seam that forgot to translate it into
    a coded error (STYLE.md 3), and its traceback is the bug report."""

    @wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return func(*args, **kwargs)
        except HostgateError as exc:
            fail(exc)
        except KeyboardInterrupt:
            _err.print("interrupted")
            sys.exit(130)

    return wrapper
