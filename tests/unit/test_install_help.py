"""`hostgate install --help` names every HOSTGATE_* variable install reads (issue #21)."""

from __future__ import annotations

import click

from hostgate.cli.server_cmds import install


def _help() -> str:
    ctx = click.Context(install, info_name="hostgate install", terminal_width=110, max_content_width=110)
    return install.get_help(ctx)


def test_every_variable_install_reads_is_in_its_help() -> None:
    read = sorted(str(p.envvar) for p in install.params if isinstance(p, click.Option) and p.envvar)
    assert read == ["HOSTGATE_CA_FILE", "HOSTGATE_HOSTS_FILE"]
    text = " ".join(_help().split())
    for var in read:
        assert f"Env: {var}" in text, var
    assert "reads HOSTGATE_CA_FILE (--ca-file) and HOSTGATE_HOSTS_FILE (--hosts-file), and no other" in text
