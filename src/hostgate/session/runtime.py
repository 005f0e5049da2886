"""Wiring of the session-server role from its data directory (used by ``hostgate server``)."""

from __future__ import annotations

import base64
from dataclasses import dataclass

from starlette.applications import Starlette

from hostgate.config.secrets import read_secrets
from hostgate.config.settings import Settings
from hostgate.connector.cluster import ClusterClient
from hostgate.errors import ConfigError
from hostgate.models.library import ModelLibrary
from hostgate.session.registration import Heartbeater
from hostgate.session.registry import SessionRegistry
from hostgate.session.server import create_session_app

__all__ = ["SessionRole", "start_session_role"]


@dataclass(frozen=True, slots=True)
class SessionRole:
    """The parts ``hostgate server`` runs: the HTTP app, the heartbeat loop, and the sessions (closed, that
    is signed off, when the server stops)."""

    app: Starlette
    heartbeat: Heartbeater
    registry: SessionRegistry


def start_session_role(settings: Settings) -> SessionRole:
    secrets = read_secrets(settings.path(settings.session.secrets_file))
    if secrets.cluster_id != settings.server.cluster_id:
        raise ConfigError(
            f"{settings.session.secrets_file}: registered with cluster {secrets.cluster_id}, but hostgate.toml "
            f"names cluster {settings.server.cluster_id}"
        )
    try:
        signing_key = base64.b64decode(secrets.signing_key_b64, validate=True)
    except ValueError:  # binascii.Error
        raise ConfigError(
            f"{settings.path(settings.session.secrets_file)}: signing_key_b64 is not base64",
            hint="Register the session server again (`hostgate install --role session`) to get a new file.",
        ) from None
    registry = SessionRegistry(
        server=settings.server.member_name,
        cluster_id=secrets.cluster_id,
        signing_key=signing_key,
        capacity=settings.session.capacity,
        models=ModelLibrary(settings.path(settings.session.models_dir)),
    )
    interval = settings.session.heartbeat_interval
    client = ClusterClient(
        settings.session.management,
        ca_file=settings.path(settings.tls.ca_file),
        hosts_file=settings.path(settings.naming.hosts_file) if settings.naming.hosts_file else None,
        dns_servers=settings.naming.dns_servers,
        bearer=secrets.server_token,
        keep_alive=True,
        deadline=max(0.5, min(interval, 2.0)),
    )
    heartbeat = Heartbeater(client, registry.server, interval, registry.capacity, lambda: registry.active)
    return SessionRole(create_session_app(registry, max_body=settings.security.max_body), heartbeat, registry)
