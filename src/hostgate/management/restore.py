"""``hostgate cluster restore``: a new data directory, the first member of a cluster rebuilt from a backup.

As in etcd's disaster recovery (``etcdutl snapshot restore`` with a new ``--initial-cluster``): the restored
member starts a *new* store of one member (SQLite, or a new etcd cluster) holding the backup's keys; further
members join it with ``hostgate install --join`` as usual. What stays: the cluster id and name, both CAs and
their keys (so ``ca.pem`` on clients and the session servers' certificates keep working), token keys, users,
grants, directories, domains, session-server registrations and deployments. What is new: this member's
certificates (signed by the backed-up CAs, for the address given), its record (the backup's member records are
dropped: those members are gone), the store's own state.

The keys reach the store the way ``install`` seeds a new cluster: ``bootstrap.json`` (0600), written into the
store by the first ``hostgate server`` start (cluster record last, so a start that fails half-way is repaired by
the next one) and then deleted. So the store kind of the new member is free: a backup of a lone SQLite server
restored with ``--store etcd`` is the migration to an etcd cluster.

Every check runs before the first file is written; the directory is staged beside its place and renamed last.
"""

from __future__ import annotations

import base64
import binascii
import json
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

from hostgate import pki
from hostgate.config.settings import EtcdSettings, Settings, StoreBackend
from hostgate.errors import BackupInvalid, HostgateError, RestoreFailed, RestoreTargetNotEmpty
from hostgate.management.install import (
    BOOTSTRAP_FILE,
    _settings,
    _write_data_dir,
)
from hostgate.management.records import (
    CA_KEY,
    CLUSTER_KEY,
    ETCD_CA_KEY,
    MEMBERS_PREFIX,
    CaRecord,
    ClusterInfo,
    MemberRecord,
    member_key,
)
from hostgate.messages import BackupDump

__all__ = ["RestorePlan", "restore"]


@dataclass(frozen=True, slots=True)
class RestorePlan:
    """Where the restored member lives and which store it starts."""

    data_dir: Path
    address: str
    port: int
    member_name: str
    store: StoreBackend
    etcd_client_port: int = 2379
    etcd_peer_port: int = 2380


def _records(dump: BackupDump, source: str) -> dict[str, str]:
    records: dict[str, str] = {}
    for entry in dump.entries:
        try:
            records[entry.key] = base64.b64decode(entry.value_b64, validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            raise BackupInvalid(
                f"{source}: the value of {entry.key[:120]} is not a hostgate record"
            ) from None
    return records


def _check_target(data_dir: Path) -> None:
    if data_dir.exists() and (not data_dir.is_dir() or any(data_dir.iterdir())):
        raise RestoreTargetNotEmpty(f"{data_dir} exists and is not an empty directory")


def restore(dump: BackupDump, plan: RestorePlan, source: str) -> Settings:
    """Write the new data directory for ``plan`` from ``dump`` (already checked by ``read_backup``)."""
    data_dir = plan.data_dir.resolve()
    _check_target(data_dir)
    records = _records(dump, source)
    try:
        info = ClusterInfo.decode(CLUSTER_KEY, records[CLUSTER_KEY].encode())
        ca_record = CaRecord.decode(CA_KEY, records[CA_KEY].encode())
        etcd_ca_record = CaRecord.decode(ETCD_CA_KEY, records[ETCD_CA_KEY].encode())
    except HostgateError as exc:
        raise BackupInvalid(f"{source}: {exc.message}") from None
    if info.id != dump.cluster_id:
        raise BackupInvalid(
            f"{source}: the cluster record names cluster {info.id}, the backup {dump.cluster_id}"
        )
    probe = _settings(
        data_dir,
        plan.member_name,
        plan.address,
        plan.port,
        plan.store,
        info.id,
        EtcdSettings(plan.etcd_client_port, plan.etcd_peer_port),
    )
    # A new store of one member: a new etcd cluster (a new initial-cluster token), as etcd's disaster recovery.
    settings = _settings(
        data_dir,
        plan.member_name,
        plan.address,
        plan.port,
        plan.store,
        info.id,
        EtcdSettings(
            plan.etcd_client_port,
            plan.etcd_peer_port,
            f"{plan.member_name}={probe.etcd_peer_url}",
            "new",
        ),
    )
    ca = pki.CertPair(ca_record.cert_pem.encode(), ca_record.key_pem.encode())
    etcd_ca = pki.CertPair(etcd_ca_record.cert_pem.encode(), etcd_ca_record.key_pem.encode())
    try:
        member = pki.issue_member_cert(ca, plan.member_name, [plan.address])
        etcd_member = pki.issue_member_cert(etcd_ca, plan.member_name, [plan.address])
    except (ValueError, TypeError) as exc:
        raise BackupInvalid(f"{source}: the backed-up CA cannot sign ({exc})") from None
    seeded = {k: v for k, v in records.items() if not k.startswith(MEMBERS_PREFIX) and k != CLUSTER_KEY}
    seeded[member_key(plan.member_name)] = (
        MemberRecord(
            plan.member_name,
            plan.address,
            plan.port,
            settings.etcd_peer_url,
            settings.etcd_client_url,
            time.time(),
        )
        .encode()
        .decode()
    )
    seeded[CLUSTER_KEY] = records[CLUSTER_KEY]  # last: the cluster record marks a completely seeded store
    restored = {
        "from": source,
        "taken_at": dump.taken_at,
        "revision": dump.revision,
        "member": dump.member,
        "store": dump.store,
        "restore_id": str(uuid.uuid4()),
    }
    try:
        _write_data_dir(
            settings,
            ca_pem=ca.cert_pem,
            cert_pem=member.cert_pem,
            key_pem=member.key_pem,
            private={
                BOOTSTRAP_FILE: json.dumps(seeded, indent=1).encode(),
                "restored.json": json.dumps(restored, indent=1).encode(),
            },
            etcd=(etcd_ca.cert_pem, etcd_member.cert_pem, etcd_member.key_pem),
        )
    except OSError as exc:
        raise RestoreFailed(f"cannot write {data_dir}: {exc.strerror}") from exc
    return settings
