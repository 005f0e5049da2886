"""How the CLI speaks: coded errors on stderr (code, message, hint), tables or JSON on stdout."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from functools import wraps
from typing import Any, NoReturn, ParamSpec, TypeVar

import click
from rich.console import Console
from rich.markup import escape

from hostgate.errors import HostgateError, UsageError

__all__ = ["console", "emit_json", "fail", "handle_errors"]

P = ParamSpec("P")
R = TypeVar("R")
console = Console(highlight=False)
_err = Console(stderr=True, highlight=False)


def fail(err: HostgateError) -> NoReturn:
    """Print ``error HG-NNNN: message`` and its hint to stderr, then exit 1 (2 for usage errors)."""
    payload = err.to_payload()
    _err.print(
        f"[bold red]error {payload['code']}[/]: {escape(payload['message'])}", markup=True, soft_wrap=True
    )
    if payload.get("hint"):
        _err.print(f"hint: {payload['hint']}", markup=False, soft_wrap=True)
    sys.exit(2 if isinstance(err, UsageError) else 1)


def emit_json(data: Any) -> None:
    click.echo(json.dumps(data, indent=2, sort_keys=True))


def handle_errors(func: Callable[P, R]) -> Callable[P, R]:
    """Turn every ``HostgateError`` (and a stray OS error) into a coded message instead of a traceback."""

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
