"""``hostgate samples``: where the files shipped with hostgate are, for an install without a source checkout
(``pipx install hostgate-*.whl``): the sample models and the model format's JSON Schema (package data)."""

from __future__ import annotations

import click

from hostgate._package_data import model_schema, sample_models
from hostgate.cli.output import handle_errors

__all__ = ["samples"]


@click.command()
@handle_errors
def samples() -> None:
    """Print the paths of the sample models and the model JSON Schema shipped with hostgate, one per line.

    Each sample expects its demo host (`hostgate testhost 3270|5250|vt`); copy one before changing it.
    """
    for path in sorted(sample_models().glob("*.yaml")):
        click.echo(str(path))
    click.echo(str(model_schema()))
