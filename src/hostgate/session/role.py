"""Wiring of the session-server role from its data directory (used by ``hostgate server``)."""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from prometheus_client.registry import Collector

from hostgate import tokens
from hostgate.config.secrets import SessionSecrets, read_secrets, write_secrets
from hostgate.config.settings import Settings
from hostgate.connector.cluster import ClusterClient
from hostgate.errors import ConfigError
from hostgate.models.library import ModelLibrary
from hostgate.session._face import SessionFace
from hostgate.session.deployer import Credentials, Deployer
from hostgate.session.model_report import ModelReporter
from hostgate.session.offline import ManagementContact, OfflineBound
from hostgate.session.pool_config import load_pools_file
from hostgate.session.pool_metrics import PoolCollector
from hostgate.session.pool_service import PoolService
from hostgate.session.pool_sync import PoolSync
from hostgate.session.registration import Heartbeater
from hostgate.session.registry import SessionRegistry
from hostgate.session.server import create_session_app

__all__ = ["SessionRole", "start_session_role"]

log = logging.getLogger("hostgate.session")


@dataclass(frozen=True, slots=True)
class SessionRole:
    """The parts ``hostgate server`` runs: the HTTP app, the heartbeat loop, the sessions (closed, that is
    signed off, when the server stops), and the report of the models it holds (session/model_report.py)."""

    app: SessionFace
    heartbeat: Heartbeater
    registry: SessionRegistry
    pools: PoolService
    models: ModelReporter

    def collectors(self) -> list[Collector]:
        """The role's own Prometheus collectors, for the server's registry (docs/metrics.md): the pools'."""
        return [PoolCollector(self.pools)]


def start_session_role(settings: Settings) -> SessionRole:
    secrets_path = settings.path(settings.session.secrets_file)
    secrets = read_secrets(secrets_path)
    if secrets.cluster_id != settings.server.cluster_id:
        raise ConfigError(
            f"{settings.session.secrets_file}: registered with cluster {secrets.cluster_id}, but hostgate.toml "
            f"names cluster {settings.server.cluster_id}"
        )
    interval = settings.session.heartbeat_interval
    contact = ManagementContact(interval)
    registry = SessionRegistry(
        server=settings.server.member_name,
        cluster_id=secrets.cluster_id,
        token_keys=_key_set(secrets, secrets_path),
        capacity=settings.session.capacity,
        models=ModelLibrary(settings.path(settings.session.models_dir)),
        security=secrets.security,
        offline=OfflineBound(contact, settings.session.offline_grace),
    )
    # The last security setting the cluster gave, kept on disk: a restart while management is down keeps it.
    _log_security(registry.server, secrets.security, "at start (last setting from the cluster)")
    # Read (and validated whole) before anything runs: a bad pools file stops the start with every issue.
    file_pools = load_pools_file(settings.path(settings.session.pools_file))
    pools = PoolService(registry, file_pools)
    # Cluster-stored definitions win over the file's of the same name (session/pool_sync.py).
    pool_sync = PoolSync(pools, file_pools, settings.data_dir)
    if not secrets.token_keys:
        log.warning(
            "%s holds no token keys (registered by an earlier version); tokens are refused until the first "
            "heartbeat fetches them",
            secrets_path,
        )

    kept = [secrets]  # what is on disk now; both callbacks rewrite it whole

    def keep(updated: SessionSecrets) -> None:
        kept[0] = updated
        write_secrets(secrets_path, updated)

    def install_keys(keys: tuple[tokens.PublicKey, ...]) -> None:
        registry.token_keys = tokens.KeySet(keys)
        keep(dataclasses.replace(kept[0], token_keys=keys))

    def install_security(on: bool) -> None:
        registry.set_security(on)  # switched on: token-less sessions are closed in the background
        keep(dataclasses.replace(kept[0], security=on))
        _log_security(registry.server, on, "by the management cluster")

    client = ClusterClient(
        settings.session.management,
        ca_file=settings.path(settings.tls.ca_file),
        hosts_file=settings.path(settings.naming.hosts_file) if settings.naming.hosts_file else None,
        dns_servers=settings.naming.dns_servers,
        # Heartbeats are authenticated by this server's registered certificate.
        cert_file=settings.path(settings.session.cert_file or settings.tls.cert_file),
        key_file=settings.path(settings.session.key_file or settings.tls.key_file),
        keep_alive=True,
        deadline=max(0.5, min(interval, 2.0)),
    )
    heartbeat = Heartbeater(
        client,
        registry.server,
        interval,
        registry.capacity,
        lambda: registry.active,
        token_keys=secrets.token_keys,
        on_token_keys=install_keys,
        security=secrets.security,
        on_security=install_security,
        contact=contact,
        pool_sync=pool_sync,
        pools=pools.loads,
    )
    management = _management_client(settings)
    deployer = Deployer(registry, management, settings.session.management, on_token_keys=install_keys)
    app = create_session_app(registry, max_body=settings.security.max_body, deployer=deployer, pools=pools)
    # Models put in the data directory offline are recorded in the cluster by this report (its certificate).
    reporter = ModelReporter(
        registry.models, registry.server, lambda: management(None), deployer.gate, interval
    )
    return SessionRole(app, heartbeat, registry, pools, reporter)


def _management_client(settings: Settings) -> Callable[[Credentials | None], ClusterClient]:
    """Clients of the management session a deployment establishes: this server's alias, CA and registered
    certificate (as its heartbeats), with the deploying caller's forwarded credentials."""

    def client_for(credentials: Credentials | None) -> ClusterClient:
        given = credentials or Credentials()
        return ClusterClient(
            settings.session.management,
            ca_file=settings.path(settings.tls.ca_file),
            user=given.user,
            password=given.password,
            bearer=given.bearer,
            hosts_file=settings.path(settings.naming.hosts_file) if settings.naming.hosts_file else None,
            dns_servers=settings.naming.dns_servers,
            cert_file=settings.path(settings.session.cert_file or settings.tls.cert_file),
            key_file=settings.path(settings.session.key_file or settings.tls.key_file),
            deadline=settings.naming.deadline,
        )

    return client_for


def _log_security(server: str, on: bool, why: str) -> None:
    if on:
        log.info(
            "session server %s: security on %s: clients need a token from the management cluster", server, why
        )
    else:
        log.warning(
            "session server %s: security OFF %s: any client may open sessions here without a token (as user "
            "'anonymous')",
            server,
            why,
        )


def _key_set(secrets: SessionSecrets, path: Path) -> tokens.KeySet:
    try:
        return tokens.KeySet(secrets.token_keys)
    except ValueError as exc:
        raise ConfigError(
            f"{path}: the token keys in the session server's registration are malformed: {exc}",
            hint="Register the server again: `hostgate install --role session ...` into a new data directory.",
        ) from exc
