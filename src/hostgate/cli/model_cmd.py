"""``hostgate model``: work with model files: ``check`` validates one and lists every issue, ``deploy`` puts a
valid one on a session server (atomically, or not at all), ``list`` shows what a session server serves: the
cluster's deployment records (``hostgate activatemodel``), or one server's models directory (``--data-dir``)."""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path
from typing import Any, NoReturn
from urllib.parse import urlencode

import click
from rich.markup import escape

from hostgate.cli.capture_cmd import capture
from hostgate.cli.deploy_cmds import Reach, management_options
from hostgate.cli.output import console, emit_json, handle_errors
from hostgate.config.settings import load_settings
from hostgate.errors import ModelError, UsageError
from hostgate.messages import API
from hostgate.models import Model, ModelLibrary, deploy_model, load_model

__all__ = ["model"]


@click.group("model")
def model() -> None:
    """Model files: the screens of a host application and how to drive them (docs/models.md)."""


model.add_command(capture)


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


def _refused(file: Path, exc: ModelError, as_json: bool, what: str = "invalid model") -> NoReturn:
    """Report every issue of a refused model (stderr, or JSON on stdout) and exit 1."""
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
        click.echo(f"{file}: {what} ({exc.code}), {len(issues) or 1} error(s):", err=True)
        for issue in issues or ():
            click.echo(f"  {issue}", err=True)
        if not issues:
            click.echo(f"  {exc.message}", err=True)
        click.echo(f"hint: {exc.hint}", err=True)
    raise SystemExit(1) from None


def _models_dir(data_dir: Path) -> Path:
    settings = load_settings(data_dir)
    if not settings.is_session:
        raise UsageError(
            f"{settings.data_dir} is not a session server's data directory (roles: {', '.join(settings.server.roles)})",
            hint="Models are deployed on session servers (`hostgate install --role session`).",
        )
    return settings.path(settings.session.models_dir)


@model.command("check")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON (errors included).")
def check(file: Path, as_json: bool) -> None:
    """Validate the model FILE. Exit 0 and a summary when it is valid; exit 1 listing every error with its
    path (entities.SignOn.attributes.password.row: ...) and line when it is not."""
    try:
        loaded = load_model(file)
    except ModelError as exc:
        _refused(file, exc, as_json)
    summary = _summary(loaded)
    if as_json:
        emit_json(summary)
        return
    host = loaded.host
    console.print(
        f"{escape(str(file))}: valid model [bold]{escape(loaded.name)}[/] (format {loaded.format_version})",
        markup=True,
    )
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


_DATA_DIR = click.option(
    "--data-dir",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="The session server's data directory (models go to its [session] models_dir).",
)


@model.command("deploy")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@_DATA_DIR
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON (errors included).")
@handle_errors
def deploy(file: Path, data_dir: Path, as_json: bool) -> None:
    """Deploy the model FILE on the session server of DATA_DIR, as models_dir/NAME.yaml (NAME: the model's
    name). The whole model is validated first; an invalid one is refused with every error and its path, and
    nothing is written (the version deployed before stays). The running server uses the new version for
    sessions opened from now on; open sessions keep theirs. This is the offline path: no cluster is asked
    (no credentials, no Developer profile); the session server reports the models it holds to its cluster at
    its start and within a heartbeat interval of a change, which records this one as deployed "(offline)".
    `hostgate activatemodel --server S FILE` deploys through the server's management session (Developer
    profile checked, deployment recorded with the user's name)."""
    directory = _models_dir(data_dir)
    try:
        loaded, target, replaced = deploy_model(file, directory)
    except ModelError as exc:
        _refused(file, exc, as_json, "model refused, nothing deployed")
    if as_json:
        emit_json({"deployed": loaded.name, "file": str(target), "replaced": replaced})
        return
    verb = "replaced the earlier version" if replaced else "new model"
    console.print(
        f"Deployed model [bold]{escape(loaded.name)}[/] to {escape(str(target))} ({verb}).", markup=True
    )


@model.command("list")
@click.option(
    "--data-dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Local form: the models directory of the session server of this data directory, each model checked "
    "as the server would load it (no cluster needed).",
)
@click.option(
    "--server", "server_name", metavar="SESSIONSERVER", help="Cluster form: only this session server."
)
@click.option("--domain", metavar="DOMAIN", help="Cluster form: only the session servers of DOMAIN.")
@management_options
@click.option("--json", "as_json", is_flag=True, help="Print the models as JSON.")
@handle_errors
def list_models(
    data_dir: Path | None, server_name: str | None, domain: str | None, as_json: bool, **kw: Any
) -> None:
    """List deployed models. Without --data-dir: the deployments the cluster recorded (`hostgate
    activatemodel`), from any member through --management ALIAS: server, model, digest, who and when (all
    servers, or --server / --domain). With --data-dir: what the session server of that data directory has in
    its models directory (models put there with `hostgate model deploy --data-dir` included)."""
    reach = Reach.of(kw)
    if data_dir is not None:
        if server_name or domain:
            raise UsageError(
                "--server and --domain read the cluster's records; --data-dir reads one directory"
            )
        _list_local(data_dir, as_json)
        return
    params = {k: v for k, v in (("server", server_name), ("domain", domain)) if v}
    query = "?" + urlencode(params) if params else ""
    client = reach.cluster()
    answer = client.call_sync(_with_query(query), None)
    rows = answer.payload
    if as_json:
        emit_json(
            {
                "answered_by": answer.member,
                "deployments": [
                    {
                        "server": r.server,
                        "model": r.model,
                        "digest": r.digest,
                        "deployed_by": r.deployed_by,
                        "deployed_at": r.deployed_at,
                        "recorded_by": r.recorded_by,
                    }
                    for r in rows
                ],
            }
        )
        return
    if not rows:
        console.print("No deployments recorded" + (f" ({query[1:]})." if query else "."), markup=False)
        return
    for r in rows:
        when = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(r.deployed_at))
        console.print(
            f"{r.server}: {r.model} ({r.digest}) deployed by {r.deployed_by} at {when} UTC", markup=False
        )


def _with_query(query: str) -> Any:
    """The deployments endpoint with its query string (the typed client fills path parameters only; braces
    doubled so that filling them leaves the query as it is)."""
    escaped = query.replace("{", "{{").replace("}", "}}")
    return dataclasses.replace(API.deployments, path=API.deployments.path + escaped)


def _list_local(data_dir: Path, as_json: bool) -> None:
    directory = _models_dir(data_dir)
    rows: list[dict[str, object]] = []
    for name, found in ModelLibrary(directory).check_all().items():
        if isinstance(found, ModelError):
            first = found.issues[0] if found.issues else found.message.splitlines()[0]
            rows.append({"name": name, "valid": False, "code": found.code, "error": str(first)})
        else:
            host = found.model.host
            rows.append(
                {
                    "name": name,
                    "valid": True,
                    "host": f"{host.type.value} {host.address}:{host.port}",
                    "entities": len(found.model.entities),
                    "digest": found.digest,
                }
            )
    if as_json:
        emit_json({"directory": str(directory), "models": rows})
        return
    if not rows:
        console.print(f"No models in {directory}.", markup=False)
        return
    for row in rows:
        if row["valid"]:
            console.print(
                f"{row['name']}: {row['host']}, {row['entities']} entities ({row['digest']})", markup=False
            )
        else:
            console.print(f"{row['name']}: INVALID {row['code']}: {row['error']}", markup=False)
