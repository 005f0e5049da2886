"""Creating a server's data directory: the first server of a new cluster, or a member joining one.

What install writes (DATA_DIR):

- ``hostgate.toml``: this server's configuration;
- ``ca.pem``: the cluster CA certificate (public; clients pass it with ``--ca-file``);
- ``member.pem`` / ``member-key.pem`` (0600): this member's certificate and key, signed by the cluster CA;
- ``etcd-ca.pem``, ``etcd.pem`` / ``etcd-key.pem`` (0600), management members only: the member-only etcd CA and
  this member's etcd client/peer certificate from it (etcd trusts that CA alone; see pki.py);
- ``bootstrap.json`` (0600, first server only): the new cluster's records (id, name, both CA keys, the Ed25519
  token keys, ``admin`` account, this member), written into the store by the first ``hostgate server`` start
  and then deleted. Seeding is idempotent, so a crash half-way is repaired by the next start.

Nothing is written when a check fails: every check runs before the first file is created, and files are
written to a temporary directory that is renamed into place last.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import socket
import tempfile
import time
import uuid
from dataclasses import dataclass, replace
from pathlib import Path

from hostgate import pki
from hostgate.config.secrets import SessionSecrets, write_secrets
from hostgate.config.settings import (
    CONFIG_FILE,
    EtcdSettings,
    Settings,
    StoreBackend,
    load_settings,
    settings_from_mapping,
    write_settings,
)
from hostgate.errors import AlreadyInCluster, ConfigError, DataDirError, JoinFailed
from hostgate.management.records import (
    CA_KEY,
    CLUSTER_KEY,
    ETCD_CA_KEY,
    GRANTS_KEY,
    TOKEN_KEYS_KEY,
    CaRecord,
    ClusterInfo,
    GrantRecord,
    GrantSet,
    MemberRecord,
    UserRecord,
    member_key,
    user_key,
)
from hostgate.management.security import ADMIN_ROLE, hash_password, validate_new_password
from hostgate.management.token_keys import new_key_set
from hostgate.management.validation import check_cluster_name
from hostgate.messages import JoinGrant, SessionGrant

__all__ = [
    "BOOTSTRAP_FILE",
    "InstallResult",
    "JoinGrant",
    "default_member_name",
    "install_first",
    "install_joined",
    "prepare_join",
]

BOOTSTRAP_FILE = "bootstrap.json"
_SESSION_CERT = "session.pem"
_SESSION_KEY = "session-key.pem"


@dataclass(frozen=True, slots=True)
class InstallResult:
    settings: Settings
    cluster_id: str
    cluster_name: str
    ca_fingerprint: str
    generated_password_file: Path | None


def default_member_name() -> str:
    """This host's short name, as the KB's "unique server name"."""
    name = socket.gethostname().split(".")[0]
    return "".join(c if c.isalnum() or c == "-" else "-" for c in name).strip("-") or "hostgate"


def _check_fresh(data_dir: Path) -> None:
    if (data_dir / CONFIG_FILE).exists():
        try:
            existing = load_settings(data_dir, env={})
            cluster = existing.server.cluster_id or "unknown"
        except (ConfigError, DataDirError):
            cluster = "unknown (its hostgate.toml is unreadable)"
        raise AlreadyInCluster(f"{data_dir} already holds a hostgate server of cluster {cluster}")
    if data_dir.exists() and any(data_dir.iterdir()):
        raise DataDirError(
            f"{data_dir} is not empty", hint="Give install a new or empty directory (--data-dir)."
        )


def _write_private(path: Path, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)


def _commit_dir(staging: Path, data_dir: Path) -> None:
    data_dir.parent.mkdir(parents=True, exist_ok=True)
    if data_dir.exists():
        data_dir.rmdir()  # checked empty above
    os.replace(staging, data_dir)


def _write_data_dir(
    settings: Settings,
    *,
    ca_pem: bytes,
    cert_pem: bytes,
    key_pem: bytes,
    private: dict[str, bytes] | None = None,
    etcd: tuple[bytes, bytes, bytes] | None = None,
) -> None:
    """Write a new data directory all at once: staged beside it, renamed into place last.

    ``etcd`` is (etcd CA, etcd certificate, etcd key) for a management member.
    """
    data_dir = settings.data_dir
    staging = Path(tempfile.mkdtemp(prefix=".hostgate-install-", dir=data_dir.parent))
    try:
        write_settings(replace(settings, data_dir=staging))
        (staging / settings.tls.ca_file).write_bytes(ca_pem)
        (staging / settings.tls.cert_file).write_bytes(cert_pem)
        _write_private(staging / settings.tls.key_file, key_pem)
        if etcd is not None:
            (staging / settings.tls.etcd_ca_file).write_bytes(etcd[0])
            (staging / settings.tls.etcd_cert_file).write_bytes(etcd[1])
            _write_private(staging / settings.tls.etcd_key_file, etcd[2])
        for name, data in (private or {}).items():
            _write_private(staging / name, data)
        (staging / "logs").mkdir()
        _commit_dir(staging, data_dir)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


def _settings(
    data_dir: Path,
    member_name: str,
    address: str,
    port: int,
    store: StoreBackend,
    cluster_id: str,
    etcd: EtcdSettings,
) -> Settings:

    # Build through the same checks a loaded file goes through, so install refuses what load would refuse.
    raw = {
        "store": {"backend": str(store)},
        "server": {"member_name": member_name, "address": address, "port": port, "cluster_id": cluster_id},
        "etcd": {
            "client_port": etcd.client_port,
            "peer_port": etcd.peer_port,
            "initial_cluster": etcd.initial_cluster,
            "initial_cluster_state": etcd.initial_cluster_state,
        },
    }
    return settings_from_mapping(raw, data_dir, {}, "the install options")


def install_first(
    data_dir: Path,
    *,
    address: str,
    port: int,
    member_name: str | None,
    cluster_name: str | None,
    store: StoreBackend,
    admin_password: str | None,
    etcd_client_port: int = 2379,
    etcd_peer_port: int = 2380,
) -> InstallResult:
    """Create a new cluster whose first member lives in ``data_dir``."""
    data_dir = data_dir.resolve()
    _check_fresh(data_dir)
    member_name = member_name or default_member_name()
    cluster_name = cluster_name or default_member_name()
    check_cluster_name(cluster_name)
    if admin_password is not None:
        validate_new_password(admin_password)
    cluster_id = str(uuid.uuid4())
    probe = _settings(
        data_dir,
        member_name,
        address,
        port,
        store,
        cluster_id,
        EtcdSettings(etcd_client_port, etcd_peer_port),
    )
    initial_cluster = f"{member_name}={probe.etcd_peer_url}"
    settings = _settings(
        data_dir,
        member_name,
        address,
        port,
        store,
        cluster_id,
        EtcdSettings(etcd_client_port, etcd_peer_port, initial_cluster, "new"),
    )
    generated = admin_password is None
    password = admin_password or secrets.token_urlsafe(18)

    ca = pki.create_ca(cluster_id)
    member = pki.issue_member_cert(ca, member_name, [address])
    etcd_ca = pki.create_etcd_ca(cluster_id)
    etcd_member = pki.issue_member_cert(etcd_ca, member_name, [address])
    now = time.time()
    records: dict[str, str] = {
        CA_KEY: CaRecord(ca.cert_pem.decode(), ca.key_pem.decode()).encode().decode(),
        ETCD_CA_KEY: CaRecord(etcd_ca.cert_pem.decode(), etcd_ca.key_pem.decode()).encode().decode(),
        TOKEN_KEYS_KEY: new_key_set(now).encode().decode(),
        user_key("admin"): UserRecord("admin", hash_password(password), (ADMIN_ROLE,)).encode().decode(),
        # The built-in admin's cluster-wide Administrator grant (management/grants.py): from the start, the
        # grants are the one truth about who administers the cluster.
        GRANTS_KEY: GrantSet((GrantRecord("administrator", "user", "admin", "cluster", "", "install", now),))
        .encode()
        .decode(),
        member_key(member_name): MemberRecord(
            member_name, address, port, settings.etcd_peer_url, settings.etcd_client_url, now
        )
        .encode()
        .decode(),
        # Last: the cluster record marks a completely seeded store.
        CLUSTER_KEY: ClusterInfo(cluster_id, cluster_name, now).encode().decode(),
    }

    private = {BOOTSTRAP_FILE: json.dumps(records, indent=1).encode()}
    password_file: Path | None = None
    if generated:
        private["admin-password"] = (password + "\n").encode()
        password_file = data_dir / "admin-password"
    _write_data_dir(
        settings,
        ca_pem=ca.cert_pem,
        cert_pem=member.cert_pem,
        key_pem=member.key_pem,
        private=private,
        etcd=(etcd_ca.cert_pem, etcd_member.cert_pem, etcd_member.key_pem),
    )
    return InstallResult(settings, cluster_id, cluster_name, pki.fingerprint(ca.cert_pem), password_file)


def existing_management_member(data_dir: Path) -> Settings | None:
    """The settings of a management member in ``data_dir`` that could take the session role too, else None."""
    if not (data_dir / CONFIG_FILE).exists():
        return None
    settings = load_settings(data_dir, env={})
    if settings.is_session:
        raise AlreadyInCluster(
            f"{data_dir} already runs a session server of cluster {settings.server.cluster_id}"
        )
    return settings


def _add_session_role(
    settings: Settings,
    *,
    grant: SessionGrant,
    key_pem: bytes,
    management: str,
    port: int,
    advertised_address: str,
    advertised_port: int,
    heartbeat_interval: float,
) -> Settings:
    """One host, both roles, one data directory. The session role gets its own certificate files: the
    member's certificate names the cluster and is trusted by peers as a member's, which a session face must
    not present; heartbeats are authenticated by the registered session certificate."""

    if grant.cluster_id != settings.server.cluster_id:
        raise AlreadyInCluster(
            f"{settings.data_dir} is a member of cluster {settings.server.cluster_id}; its session server cannot "
            f"join cluster {grant.cluster_id}"
        )
    if port == settings.server.port:
        raise DataDirError(
            f"port {port} is this member's management API port; give the session role another --port"
        )
    updated = replace(
        settings,
        server=replace(settings.server, roles=(*settings.server.roles, "session")),
        session=replace(
            settings.session,
            management=management,
            port=port,
            advertised_address=advertised_address,
            advertised_port=advertised_port,
            heartbeat_interval=heartbeat_interval,
            cert_file=_SESSION_CERT,
            key_file=_SESSION_KEY,
        ),
    )
    settings.path(_SESSION_CERT).write_bytes(grant.cert_pem.encode())
    _write_private(settings.path(_SESSION_KEY), key_pem)
    write_secrets(
        settings.path(updated.session.secrets_file), SessionSecrets(grant.cluster_id, grant.token_keys)
    )
    write_settings(updated)
    return updated


def prepare_session(data_dir: Path) -> None:
    """A session server installs into a new directory, or beside a management member of the same cluster."""
    if existing_management_member(data_dir.resolve()) is None:
        _check_fresh(data_dir.resolve())


def prepare_join(data_dir: Path) -> None:
    """Checks a join does before contacting the cluster: the directory must not belong to any cluster."""
    _check_fresh(data_dir.resolve())


def install_joined(
    data_dir: Path,
    *,
    grant: JoinGrant,
    key_pem: bytes,
    address: str,
    port: int,
    member_name: str,
    etcd_client_port: int,
    etcd_peer_port: int,
) -> Settings:
    """Write the data directory of a member the cluster has just accepted."""
    data_dir = data_dir.resolve()
    _check_fresh(data_dir)
    store = StoreBackend(grant.store)
    settings = _settings(
        data_dir,
        member_name,
        address,
        port,
        store,
        grant.cluster_id,
        EtcdSettings(etcd_client_port, etcd_peer_port, grant.initial_cluster, "existing"),
    )
    if not grant.etcd_ca_pem or not grant.etcd_cert_pem:
        raise JoinFailed(
            "the cluster answered without an etcd certificate: it runs an earlier hostgate version",
            hint="Run the same hostgate version on every member.",
        )
    _write_data_dir(
        settings,
        ca_pem=grant.ca_pem.encode(),
        cert_pem=grant.cert_pem.encode(),
        key_pem=key_pem,
        etcd=(grant.etcd_ca_pem.encode(), grant.etcd_cert_pem.encode(), key_pem),
    )
    return settings


def install_session(
    data_dir: Path,
    *,
    grant: SessionGrant,
    key_pem: bytes,
    member_name: str,
    address: str,
    port: int,
    management: str,
    advertised_address: str,
    advertised_port: int,
    hosts_file: Path | None,
    dns_servers: tuple[str, ...],
    heartbeat_interval: float,
) -> Settings:
    """Write the data directory of a session server the cluster has just registered."""

    data_dir = data_dir.resolve()
    existing = existing_management_member(data_dir)
    if existing is not None:
        return _add_session_role(
            existing,
            grant=grant,
            key_pem=key_pem,
            management=management,
            port=port,
            advertised_address=advertised_address,
            advertised_port=advertised_port,
            heartbeat_interval=heartbeat_interval,
        )
    _check_fresh(data_dir)
    raw = {
        "server": {
            "member_name": member_name,
            "address": address,
            "port": port,
            "cluster_id": grant.cluster_id,
            "roles": ["session"],
        },
        "naming": {
            "hosts_file": str(hosts_file.resolve()) if hosts_file else "",
            "dns_servers": list(dns_servers),
        },
        "session": {
            "management": management,
            "port": port,
            "advertised_address": advertised_address,
            "advertised_port": advertised_port,
            "heartbeat_interval": heartbeat_interval,
        },
    }
    settings = settings_from_mapping(raw, data_dir, {}, "the install options")
    secrets = SessionSecrets(grant.cluster_id, grant.token_keys)
    _write_data_dir(
        settings,
        ca_pem=grant.ca_pem.encode(),
        cert_pem=grant.cert_pem.encode(),
        key_pem=key_pem,
        private={settings.session.secrets_file: secrets.to_json()},
    )
    return settings
