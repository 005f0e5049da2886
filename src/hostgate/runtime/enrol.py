"""Enrolment: one flow for a new management member (``install --join``) and a new session server
(``install --role session``).

Both do the same four steps, so they are written once: prepare the data directory (refused whole when it is not
empty or already in a cluster), make a key and CSR on this host (the key never leaves it), send the typed
request through the cluster's alias (``JoinRequest`` / ``ServerRegistration``) and write the data directory from
the typed grant that comes back (``JoinGrant`` / ``SessionGrant``, hostgate.messages). The CLI only prints.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from hostgate import pki
from hostgate.config.settings import Settings
from hostgate.connector.cluster import ClusterClient
from hostgate.management import install as inst
from hostgate.messages import API, JoinRequest, ServerRegistration

__all__ = ["Enrolled", "Enrolment", "enrol"]


@dataclass(frozen=True, slots=True)
class Enrolment:
    """What this host asks to become. ``role`` picks the endpoint and which fields apply:
    management members use the etcd ports; session servers the advertised address, alias and heartbeat."""

    role: Literal["management", "session"]
    address: str
    port: int
    member_name: str | None = None
    etcd_client_port: int = 2379
    etcd_peer_port: int = 2380
    management: str = ""  # session servers: the management cluster's alias, kept in hostgate.toml
    advertised_address: str = ""
    advertised_port: int = 0
    hosts_file: Path | None = None
    dns_servers: tuple[str, ...] = field(default=())
    heartbeat_interval: float = 2.0


@dataclass(frozen=True, slots=True)
class Enrolled:
    name: str
    cluster_id: str
    cluster_name: str
    through: str  # the member that answered
    settings: Settings


def enrol(data_dir: Path, plan: Enrolment, client: ClusterClient) -> Enrolled:
    """Enrol this host with the cluster ``client`` reaches; the data directory is written only on success."""
    if plan.role == "management":
        inst.prepare_join(data_dir)
        name = plan.member_name or inst.default_member_name()
    else:
        inst.prepare_session(data_dir)
        # A management member's data directory gains the session role under the member's own name.
        existing = inst.existing_management_member(data_dir.resolve())
        name = existing.server.member_name if existing else (plan.member_name or inst.default_member_name())
    csr, key_pem = pki.make_csr(name)
    if plan.role == "management":
        joined = client.call_sync(
            API.join,
            JoinRequest(
                name, plan.address, plan.port, plan.etcd_client_port, plan.etcd_peer_port, csr.decode()
            ),
        )
        grant = joined.payload
        settings = inst.install_joined(
            data_dir,
            grant=grant,
            key_pem=key_pem,
            address=plan.address,
            port=plan.port,
            member_name=name,
            etcd_client_port=plan.etcd_client_port,
            etcd_peer_port=plan.etcd_peer_port,
        )
        return Enrolled(name, grant.cluster_id, grant.cluster_name, joined.member, settings)
    registered = client.call_sync(
        API.register,
        ServerRegistration(
            name, plan.address, plan.port, plan.advertised_address, plan.advertised_port, csr.decode()
        ),
    )
    session_grant = registered.payload
    settings = inst.install_session(
        data_dir,
        grant=session_grant,
        key_pem=key_pem,
        member_name=name,
        address=plan.address,
        port=plan.port,
        management=plan.management,
        advertised_address=plan.advertised_address,
        advertised_port=plan.advertised_port,
        hosts_file=plan.hosts_file,
        dns_servers=plan.dns_servers,
        heartbeat_interval=plan.heartbeat_interval,
    )
    return Enrolled(name, session_grant.cluster_id, session_grant.cluster_name, registered.member, settings)
