"""``GET /api/v1/cluster/backup`` and the backup file ``hostgate cluster backup`` writes (docs/operations.md).

The answer is every key under ``/hostgate/`` read at one store revision (a consistent point in time, as an
etcd snapshot is), values in base64. The file is three parts::

    hostgate-backup 1\\n
    {"cluster_id": ..., "store": ..., "taken_at": ..., "size": N, "sha256": "..."}\\n     (the manifest)
    N bytes: the answer's JSON                                                           (the payload)

:func:`read_backup` checks all of it (magic line, manifest, size, SHA-256, the payload against the manifest,
the records a restore needs) before anything is restored; anything else is ``BackupInvalid`` (HG-7211).
"""

from __future__ import annotations

import hashlib
import json

import msgspec

from hostgate.errors import BackupInvalid
from hostgate.messages._base import Reply, encode

__all__ = ["MAGIC", "BackupDump", "BackupEntry", "BackupManifest", "read_backup", "write_backup"]

MAGIC = b"hostgate-backup 1\n"
# What a restore cannot do without (management/records.py): the cluster, its CA and the member-only etcd CA.
REQUIRED_KEYS = ("/hostgate/cluster/info", "/hostgate/cluster/ca", "/hostgate/cluster/etcd-ca")


class BackupEntry(Reply, frozen=True):
    key: str
    value_b64: str


class BackupDump(Reply, frozen=True):
    """The cluster's configuration at one store revision: who took it from which member, and every key."""

    cluster_id: str
    cluster_name: str
    store: str  # sqlite or etcd: the backend it was read from
    member: str
    revision: int
    taken_at: float
    entries: tuple[BackupEntry, ...]


class BackupManifest(Reply, frozen=True):
    cluster_id: str
    cluster_name: str
    store: str
    member: str
    revision: int
    taken_at: float
    entries: int
    size: int
    sha256: str
    hostgate_version: str = ""


def write_backup(dump: BackupDump, version: str) -> bytes:
    """The file's bytes for ``dump``."""
    payload = encode(dump)
    manifest = BackupManifest(
        dump.cluster_id,
        dump.cluster_name,
        dump.store,
        dump.member,
        dump.revision,
        dump.taken_at,
        len(dump.entries),
        len(payload),
        hashlib.sha256(payload).hexdigest(),
        version,
    )
    return MAGIC + encode(manifest) + b"\n" + payload


def read_backup(data: bytes, source: str) -> tuple[BackupManifest, BackupDump]:
    """The manifest and the dump of a backup file's bytes, every check passed; else ``BackupInvalid``."""
    if not data.startswith(MAGIC):
        raise BackupInvalid(
            f"{source} is not a hostgate backup (it does not start with {MAGIC[:-1].decode()!r})"
        )
    head, sep, payload = data[len(MAGIC) :].partition(b"\n")
    if not sep:
        raise BackupInvalid(f"{source}: the manifest is cut off")
    try:
        manifest = msgspec.json.decode(head, type=BackupManifest)
    except msgspec.ValidationError as exc:
        raise BackupInvalid(f"{source}: the manifest is not valid ({exc})") from None
    except msgspec.DecodeError:
        raise BackupInvalid(f"{source}: the manifest is not JSON") from None
    if len(payload) != manifest.size:
        raise BackupInvalid(
            f"{source}: {len(payload)} bytes of data where the manifest says {manifest.size} (truncated or appended to)"
        )
    digest = hashlib.sha256(payload).hexdigest()
    if digest != manifest.sha256:
        raise BackupInvalid(
            f"{source}: the SHA-256 checksum does not match (the file was changed or damaged)"
        )
    try:
        dump = msgspec.json.decode(payload, type=BackupDump)
    except (msgspec.ValidationError, msgspec.DecodeError, RecursionError) as exc:
        raise BackupInvalid(f"{source}: the data is not a backup of a hostgate cluster ({exc})") from None
    if (dump.cluster_id, len(dump.entries)) != (manifest.cluster_id, manifest.entries):
        raise BackupInvalid(f"{source}: the manifest does not describe the data")
    keys = {e.key for e in dump.entries}
    missing = [k for k in REQUIRED_KEYS if k not in keys]
    if missing:
        raise BackupInvalid(f"{source}: the backup lacks {', '.join(missing)}")
    return manifest, dump


def manifest_text(manifest: BackupManifest) -> str:
    """The manifest as indented JSON (what ``hostgate cluster backup`` prints)."""
    return json.dumps(msgspec.to_builtins(manifest), indent=1)
