"""``hostgate model``: work with model files (``check`` validates one and lists every issue)."""

from __future__ import annotations

from pathlib import Path

import click

from hostgate.cli.output import console, emit_json
from hostgate.errors import ModelError
from hostgate.models import Model, load_model

__all__ = ["model"]


@click.group("model")
def model() -> None:
    """Model files: the screens of a host application and how to drive them (docs/models.md)."""


def _summary(loaded: Model) -> dict[str, object]:
    return {
        "valid": True,
        "name": loaded.name,
        "format_version": loaded.format_version,
        "host": {
            "type": loaded.host.type.value,
            "address": loaded.host.address,
            "port": loaded.host.port,
            "terminal": f"{loaded.host.terminal.type} ({loaded.host.terminal.rows}x{loaded.host.terminal.cols})",
        },
        "entities": [e.name for e in loaded.entities],
        "operations": sum(len(e.operations) for e in loaded.entities),
        "recordsets": sum(len(e.recordsets) for e in loaded.entities),
        "tables": [t.name for t in loaded.tables],
        "procedures": [f"{p.table}.{p.name}" for p in loaded.procedures],
    }


@model.command("check")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON (errors included).")
def check(file: Path, as_json: bool) -> None:
    """Validate the model FILE. Exit 0 and a summary when it is valid; exit 1 listing every error with its
    path (entities.SignOn.attributes.password.row: ...) and line when it is not."""
    try:
        loaded = load_model(file)
    except ModelError as exc:
        issues = exc.issues
        if as_json:
            emit_json(
                {
                    "valid": False,
                    "code": exc.code,
                    "message": exc.message.splitlines()[0],
                    "errors": [{"path": i.path, "message": i.message, "line": i.line} for i in issues],
                }
            )
        else:
            click.echo(f"{file}: invalid model ({exc.code}), {len(issues) or 1} error(s):", err=True)
            for issue in issues or ():
                click.echo(f"  {issue}", err=True)
            if not issues:
                click.echo(f"  {exc.message}", err=True)
            click.echo(f"hint: {exc.hint}", err=True)
        raise SystemExit(1) from None
    summary = _summary(loaded)
    if as_json:
        emit_json(summary)
        return
    host = loaded.host
    console.print(f"{file}: valid model [bold]{loaded.name}[/] (format {loaded.format_version})", markup=True)
    console.print(
        f"  host: {host.type.value} {host.address}:{host.port}, {host.terminal.type} "
        f"{host.terminal.rows}x{host.terminal.cols}",
        markup=False,
    )
    console.print(
        f"  {len(loaded.entities)} entities, {summary['operations']} operations, {summary['recordsets']} recordsets, "
        f"{len(loaded.tables)} tables, {len(loaded.procedures)} procedures",
        markup=False,
    )
