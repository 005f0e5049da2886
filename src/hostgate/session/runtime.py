"""Wiring of the session-server role from its data directory (used by ``hostgate server``)."""

from __future__ import annotations

import base64

from starlette.applications import Starlette

from hostgate.config.secrets import read_secrets
from hostgate.config.settings import Settings
from hostgate.connector.cluster import ClusterClient
from hostgate.errors import ConfigError
from hostgate.session.registration import Heartbeater
from hostgate.session.server import SessionRegistry, create_session_app

__all__ = ["start_session_role"]


def start_session_role(settings: Settings) -> tuple[Starlette, Heartbeater]:
    secrets = read_secrets(settings.path(settings.session.secrets_file))
    if secrets.cluster_id != settings.server.cluster_id:
        raise ConfigError(
            f"{settings.session.secrets_file}: registered with cluster {secrets.cluster_id}, but hostgate.toml "
            f"names cluster {settings.server.cluster_id}"
        )
    registry = SessionRegistry(
        server=settings.server.member_name,
        cluster_id=secrets.cluster_id,
        signing_key=base64.b64decode(secrets.signing_key_b64),
        capacity=settings.session.capacity,
    )
    interval = settings.session.heartbeat_interval
    client = ClusterClient(
        settings.session.management,
        ca_file=settings.path(settings.tls.ca_file),
        hosts_file=settings.path(settings.naming.hosts_file) if settings.naming.hosts_file else None,
        dns_servers=settings.naming.dns_servers,
        bearer=secrets.server_token,
        deadline=max(0.5, min(interval, 2.0)),
    )
    heartbeat = Heartbeater(
        client, registry.server, interval, registry.capacity, lambda: len(registry.sessions)
    )
    return create_session_app(registry), heartbeat
