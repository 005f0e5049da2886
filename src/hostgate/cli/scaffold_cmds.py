"""``hostgate scaffold MODEL --out DIR``: a small runnable project for one model (VHI's Web Builder, #19).

MODEL is a model file (read and validated here, no cluster needed) or the name of a deployed model, whose
catalog is read from the cluster (``--management ALIAS``, as the caller: webservices/catalog.py). The project
(webservices/scaffold.py) connects via domain through the alias its own settings name.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import click

from hostgate.cli.deploy_cmds import Reach, management_options
from hostgate.cli.output import emit_json, handle_errors
from hostgate.connector import ClusterLocation
from hostgate.errors import ModelError, UsageError
from hostgate.messages.catalog import ModelCatalog
from hostgate.models import load_model
from hostgate.models.describe import describe
from hostgate.models.library import text_digest
from hostgate.webservices.catalog import ClusterCatalog
from hostgate.webservices.scaffold import module_name, scaffold

__all__ = ["scaffold_cmd"]


def _from_file(path: Path) -> ModelCatalog:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ModelError(f"cannot read model file {path}: {exc}") from exc
    return describe(load_model(text), digest=text_digest(text))


def _from_cluster(name: str, reach: Reach) -> ModelCatalog:
    if reach.ca_file is None or not reach.management:
        raise UsageError(
            f"{name!r} is not a model file; to read the deployed model {name!r} from the cluster give "
            "--management ALIAS[:PORT] and --ca-file (or HOSTGATE_SERVER and HOSTGATE_CA_FILE)"
        )
    location = ClusterLocation(
        reach.management, reach.ca_file, hosts_file=reach.hosts_file, dns_servers=reach.dns_servers
    )
    return asyncio.run(ClusterCatalog(location).model(name, reach.authorization()))


@click.command("scaffold")
@click.argument("model_ref", metavar="MODEL")
@click.option(
    "--out",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="The directory to write the project into (new or empty; see --force).",
)
@click.option(
    "--force", is_flag=True, help="Write into a directory that holds files (generated files are replaced)."
)
@management_options
@click.option("--json", "as_json", is_flag=True, help="Print the files written as JSON.")
@handle_errors
def scaffold_cmd(model_ref: str, out: Path, force: bool, as_json: bool, **kw: Any) -> None:
    """Generate a small runnable project for MODEL: a typed client, a web app, a README and a live test.

    MODEL is a model file, or a deployed model's name read from the cluster with --management. The project
    holds a typed Python client over the connector (a dataclass per table row, a function per procedure), a
    minimal web app listing a table and calling a procedure, a README and a pytest test against a live
    cluster. The project connects via domain through the alias its settings name
    (HOSTGATE_ALIAS, HOSTGATE_DOMAIN, ...; its README). Model names with '-' or '.' become '_' in Python names."""
    reach = Reach.of(kw)
    path = Path(model_ref)
    catalog = _from_file(path) if path.is_file() else _from_cluster(model_ref, reach)
    written = scaffold(catalog, out, force=force)
    if as_json:
        emit_json(
            {"model": catalog.model, "module": module_name(catalog.model), "files": [str(p) for p in written]}
        )
        return
    click.echo(f"scaffolded model {catalog.model} into {out}:")
    for p in written:
        click.echo(f"  {p.relative_to(out)}")
    click.echo(f"next: read {out / 'README.md'} (settings), then run pytest there against your cluster")
