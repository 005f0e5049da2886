"""The ``[naming]`` section of hostgate.toml turned into an alias resolver.

This lives on the config side so that ``hostgate.naming`` (and the connector above it) never imports
``hostgate.config``: a client application resolves aliases from its own arguments and has no hostgate.toml.
"""

from __future__ import annotations

from pathlib import Path

from hostgate.config.settings import NamingSettings
from hostgate.errors import ConfigError, UsageError
from hostgate.naming.dns import parse_name_server
from hostgate.naming.resolver import SYSTEM_HOSTS, AliasResolver, SystemLookup, getaddrinfo_lookup

__all__ = ["alias_resolver"]


def alias_resolver(
    naming: NamingSettings,
    *,
    base_dir: Path | None = None,
    system_hosts: str | Path | None = SYSTEM_HOSTS,
    system_lookup: SystemLookup = getaddrinfo_lookup,
) -> AliasResolver:
    """A resolver for ``[naming]``; a relative ``hosts_file`` is under ``base_dir``.

    Raises ``ConfigError`` naming the field (``naming.dns_servers``, ``naming.sources``) for a bad value.
    """
    hosts_file: Path | None = None
    if naming.hosts_file:
        hosts_file = Path(naming.hosts_file)
        if base_dir is not None and not hosts_file.is_absolute():
            hosts_file = base_dir / hosts_file
    try:
        servers = [parse_name_server(s) for s in naming.dns_servers]
    except UsageError as exc:
        raise ConfigError(f"naming.dns_servers: {exc.message}") from exc
    try:
        return AliasResolver(
            hosts_file=hosts_file,
            system_hosts=system_hosts,
            dns_servers=servers,
            sources=naming.sources,
            system_lookup=system_lookup,
        )
    except UsageError as exc:
        raise ConfigError(f"naming.sources: {exc.message}") from exc
