"""The gRPC channel to etcd: mutual TLS, keepalive, the target string, one-off ``Status`` calls.

aetcd 1.0.0 supplies the protobuf messages and gRPC stubs but opens only insecure channels, so
:class:`SecureClient` overrides its ``connect()`` to open a mutual-TLS channel; :class:`EtcdTls` is what the
client shows etcd's client port. Requests then go straight to the stubs (``store/etcd.py``), each with its
own deadline and, when it needs a quorum, :data:`REQUIRE_LEADER`.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import aetcd
import grpc
from aetcd import rpc

from hostgate._names import CLUSTER_DNS_NAME
from hostgate.config.settings import Settings
from hostgate.errors import CertificateError, ConfigError, StoreUnavailable
from hostgate.store.base import StoreStatus
from hostgate.store.etcd_faults import details

__all__ = ["REQUIRE_LEADER", "EtcdTls", "SecureClient", "fetch_status", "grpc_target", "move_leader_at"]

# etcd's api/v3rpc interceptor: with this metadata a member without a leader answers "no leader" at once
# instead of holding the request until its own 7 s request timeout.
REQUIRE_LEADER = (("hasleader", "true"),)
_CHANNEL_OPTIONS: tuple[tuple[str, int], ...] = (
    # etcd's server-side keepalive policy rejects pings more often than every 5 s (--grpc-keepalive-min-time)
    # and pings without an active stream; a silent (SIGSTOP'd) member breaks a watch after ~15 s.
    ("grpc.keepalive_time_ms", 10_000),
    ("grpc.keepalive_timeout_ms", 5_000),
    ("grpc.keepalive_permit_without_calls", 0),
    ("grpc.http2.max_pings_without_data", 0),
    ("grpc.initial_reconnect_backoff_ms", 100),
    ("grpc.min_reconnect_backoff_ms", 100),
    ("grpc.max_reconnect_backoff_ms", 2_000),
    ("grpc.max_receive_message_length", 64 * 1024 * 1024),
)


@dataclass(frozen=True, slots=True)
class EtcdTls:
    """What a client shows etcd's client port: the cluster CA, this member's certificate and key.

    ``server_name`` is the name checked in the member's certificate; hostgate's member certificates all carry
    :data:`~hostgate._names.CLUSTER_DNS_NAME`, so one channel can dial several members by IP. ``None`` checks
    the host named in the URL instead (external etcd).
    """

    ca_pem: bytes
    cert_pem: bytes
    key_pem: bytes
    server_name: str | None = CLUSTER_DNS_NAME

    @classmethod
    def from_files(
        cls, ca_file: Path, cert_file: Path, key_file: Path, *, server_name: str | None = CLUSTER_DNS_NAME
    ) -> EtcdTls:
        try:
            return cls(ca_file.read_bytes(), cert_file.read_bytes(), key_file.read_bytes(), server_name)
        except OSError as exc:
            raise CertificateError(f"cannot read {exc.filename}: {exc.strerror}") from exc

    @classmethod
    def from_settings(cls, settings: Settings) -> EtcdTls:
        tls = settings.tls
        if settings.etcd.endpoints:  # external etcd: the files the operator configured for it
            return cls.from_files(
                settings.path(tls.ca_file),
                settings.path(tls.cert_file),
                settings.path(tls.key_file),
                server_name=None,
            )
        # hostgate's own members trust only the member-only etcd CA and this member's certificate from it.
        return cls.from_files(
            settings.path(tls.etcd_ca_file),
            settings.path(tls.etcd_cert_file),
            settings.path(tls.etcd_key_file),
            server_name=CLUSTER_DNS_NAME,
        )

    def credentials(self) -> grpc.ChannelCredentials:
        return grpc.ssl_channel_credentials(
            root_certificates=self.ca_pem, private_key=self.key_pem, certificate_chain=self.cert_pem
        )

    def channel_options(self) -> list[tuple[str, Any]]:
        options: list[tuple[str, Any]] = list(_CHANNEL_OPTIONS)
        if self.server_name:
            options.append(("grpc.ssl_target_name_override", self.server_name))
        return options


def grpc_target(endpoints: Sequence[str]) -> str:
    """``https://IP:port`` client URLs as one gRPC target, dialled in order (pick_first).

    One URL gives ``host:port``; several IP URLs of one family give ``ipv4:a:p,b:p`` (or ``ipv6:``).
    """
    if not endpoints:
        raise ConfigError("etcd: no client endpoints given")
    hosts: list[tuple[str, int]] = []
    for url in endpoints:
        parts = urlsplit(url if "//" in url else f"//{url}")
        if not parts.hostname:
            raise ConfigError(f"etcd endpoint {url!r} names no host")
        hosts.append((parts.hostname, parts.port or 2379))
    if len(hosts) == 1:
        host, port = hosts[0]
        return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    try:
        versions = {ipaddress.ip_address(h).version for h, _ in hosts}
    except ValueError:
        raise ConfigError(
            f"etcd endpoints {list(endpoints)}: several endpoints must be IP addresses"
        ) from None
    if versions == {4}:
        return "ipv4:" + ",".join(f"{h}:{p}" for h, p in hosts)
    if versions == {6}:
        return "ipv6:" + ",".join(f"[{h}]:{p}" for h, p in hosts)
    raise ConfigError(f"etcd endpoints {list(endpoints)}: mix IPv4 and IPv6; use one family")


class SecureClient(aetcd.Client):  # type: ignore[misc]  # aetcd ships no type information
    """aetcd's client on a mutual-TLS channel; sets the same attributes as ``aetcd.Client.connect``."""

    def __init__(self, target: str, tls: EtcdTls, timeout: float) -> None:
        super().__init__(timeout=timeout)
        self._target = target
        self._tls = tls

    async def connect(self) -> None:
        if self._connected.is_set():
            return
        self.channel = grpc.aio.secure_channel(
            self._target, self._tls.credentials(), options=self._tls.channel_options()
        )
        self.kvstub = rpc.KVStub(self.channel)
        self.clusterstub = rpc.ClusterStub(self.channel)
        self.leasestub = rpc.LeaseStub(self.channel)
        self.maintenancestub = rpc.MaintenanceStub(self.channel)
        self.watchstub = rpc.WatchStub(self.channel)
        self._watcher = aetcd.watcher.Watcher(self.watchstub, timeout=self._timeout, metadata=self.metadata)
        self._connected.set()


async def move_leader_at(leader_url: str, tls: EtcdTls, target_id: int, *, timeout: float) -> None:
    """Maintenance ``MoveLeader`` sent to the leader itself (etcd answers "not leader" from anyone else, as
    ``etcdctl move-leader`` knows: it looks the leader up first)."""
    channel = grpc.aio.secure_channel(
        grpc_target([leader_url]), tls.credentials(), options=tls.channel_options()
    )
    try:
        await rpc.MaintenanceStub(channel).MoveLeader(
            rpc.MoveLeaderRequest(targetID=target_id), timeout=timeout
        )
    except grpc.aio.AioRpcError as exc:
        raise StoreUnavailable(
            f"etcd member {leader_url} did not hand over the leadership: {details(exc)}"
        ) from exc
    finally:
        await channel.close()


async def fetch_status(client_url: str, tls: EtcdTls, *, timeout: float = 1.0) -> StoreStatus:
    """Maintenance ``Status`` of the member at ``client_url`` on a short-lived channel."""
    channel = grpc.aio.secure_channel(
        grpc_target([client_url]), tls.credentials(), options=tls.channel_options()
    )
    try:
        resp = await rpc.MaintenanceStub(channel).Status(rpc.StatusRequest(), timeout=timeout)
    except grpc.aio.AioRpcError as exc:
        raise StoreUnavailable(f"etcd member {client_url} did not answer: {details(exc)}") from exc
    finally:
        await channel.close()
    return StoreStatus(resp.header.member_id, resp.leader, resp.header.revision, resp.version, resp.isLearner)
