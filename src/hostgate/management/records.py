"""Typed records the management cluster keeps in the store, and where each one lives.

Every record is a frozen dataclass serialised as JSON (never pickle). A record that cannot be decoded
raises ``StoreCorrupt`` naming its key.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from typing import Any, Self

import msgspec

from hostgate.errors import StoreCorrupt
from hostgate.naming.target import url_host

__all__ = [
    "CA_KEY",
    "CLUSTER_KEY",
    "DOMAINS_PREFIX",
    "ETCD_CA_KEY",
    "GRANTS_KEY",
    "MEMBERS_PREFIX",
    "PREFIX",
    "SESSION_SERVERS_PREFIX",
    "SIGNING_KEY",
    "TOKEN_KEYS_KEY",
    "USERS_PREFIX",
    "CaRecord",
    "ClusterInfo",
    "DomainMember",
    "DomainRecord",
    "GrantRecord",
    "GrantSet",
    "MemberRecord",
    "SessionServerRecord",
    "SigningKey",
    "TokenKey",
    "TokenKeySet",
    "UserRecord",
    "domain_key",
    "group_key",
    "member_key",
    "session_server_key",
    "user_key",
]

PREFIX = "/hostgate/"
CLUSTER_KEY = "/hostgate/cluster/info"
CA_KEY = "/hostgate/cluster/ca"
# The member-only etcd CA (pki.create_etcd_ca): any member signs a joining member's etcd certificate with it.
ETCD_CA_KEY = "/hostgate/cluster/etcd-ca"
# Ed25519 token keys (tokens.py): members sign with the active one; session servers get only public keys.
TOKEN_KEYS_KEY = "/hostgate/cluster/token-keys"
# Earlier versions' symmetric HS256 key, which session servers held too: deleted at start (token_keys.py).
SIGNING_KEY = "/hostgate/cluster/signing-key"
MEMBERS_PREFIX = "/hostgate/members/"
USERS_PREFIX = "/hostgate/users/"


def member_key(name: str) -> str:
    return MEMBERS_PREFIX + name


def user_key(name: str) -> str:
    return USERS_PREFIX + name.lower()


_DECODERS: dict[type, msgspec.json.Decoder[Any]] = {}


class _Record:
    def encode(self) -> bytes:
        return json.dumps(asdict(self), sort_keys=True).encode()  # type: ignore[call-overload]

    @classmethod
    def decode(cls, key: str, raw: bytes) -> Self:
        """The record stored at ``key``, every field type-checked (nested records and tuples included); fields
        a newer version added are ignored. ``StoreCorrupt`` names the key and the field otherwise."""
        decoder = _DECODERS.get(cls)
        if decoder is None:
            decoder = _DECODERS[cls] = msgspec.json.Decoder(cls)
        try:
            record: Self = decoder.decode(raw)
        except (msgspec.ValidationError, msgspec.DecodeError) as exc:
            raise StoreCorrupt(f"record {key} cannot be decoded: {exc}") from None
        # RecursionError (nesting deeper than any record hostgate writes) is left to the error boundary: an
        # internal error (HG-1000) logged with its traceback, as before typed records.
        return record


@dataclass(frozen=True, slots=True)
class ClusterInfo(_Record):
    id: str
    name: str
    created_at: float


@dataclass(frozen=True, slots=True)
class CaRecord(_Record):
    cert_pem: str
    key_pem: str


@dataclass(frozen=True, slots=True)
class SigningKey(_Record):
    key_b64: str


@dataclass(frozen=True, slots=True)
class TokenKey(_Record):
    """One Ed25519 token key. ``retired_at`` 0: the active (signing) key; else when rotation retired it, and
    its public half is served until the last token it signed has expired."""

    kid: str
    private_pem: str
    public_b64: str
    created_at: float
    retired_at: float = 0.0


@dataclass(frozen=True, slots=True)
class TokenKeySet(_Record):
    keys: tuple[TokenKey, ...] = ()

    @property
    def active(self) -> TokenKey | None:
        return next((k for k in self.keys if not k.retired_at), None)


@dataclass(frozen=True, slots=True)
class MemberRecord(_Record):
    name: str
    address: str
    port: int
    peer_url: str
    client_url: str
    joined_at: float

    @property
    def url(self) -> str:
        return f"https://{url_host(self.address)}:{self.port}"


@dataclass(frozen=True, slots=True)
class UserRecord(_Record):
    name: str
    password_hash: str
    roles: tuple[str, ...] = ("user",)

    @property
    def is_admin(self) -> bool:
        return "admin" in self.roles


SESSION_SERVERS_PREFIX = "/hostgate/session-servers/"
DOMAINS_PREFIX = "/hostgate/domains/"


def session_server_key(name: str) -> str:
    return SESSION_SERVERS_PREFIX + name


def domain_key(name: str) -> str:
    return DOMAINS_PREFIX + name


@dataclass(frozen=True, slots=True)
class SessionServerRecord(_Record):
    """A session server's durable registration (soft state, its load and liveness, stays in memory)."""

    name: str
    address: str  # the address it listens on
    port: int
    advertised_address: str  # what clients must dial (differs behind NAT)
    advertised_port: int
    cert_fingerprint: str
    registered_at: float
    # VHI's security switch: on, clients need a token the cluster minted; off, the server accepts any client.
    # A record written before the switch existed decodes as on (msgspec takes the default for a missing field).
    security: bool = True

    @property
    def url(self) -> str:
        return f"https://{url_host(self.advertised_address)}:{self.advertised_port}"


@dataclass(frozen=True, slots=True)
class DomainMember(_Record):
    server: str
    weight: int = 1
    priority: int = 1


@dataclass(frozen=True, slots=True)
class DomainRecord(_Record):
    name: str
    members: tuple[DomainMember, ...] = ()


# Every grant of a profile, in ONE record: the store offers compare-and-set on one key only, and the rule "no
# change leaves the cluster without a local Administrator" must be checked against the very state it changes
# (two Administrators removing each other's grants at once must not both succeed). Under PREFIX, so every
# member's ConfigCache serves the checks from memory (no quorum needed). Absent in a store made before grants
# (management/grants.py: the "admin" role then stands for cluster-wide Administrator until it is migrated).
GRANTS_KEY = "/hostgate/grants"


@dataclass(frozen=True, slots=True)
class GrantRecord(_Record):
    """One grant: ``profile`` (user, developer, administrator) to a ``subject`` (a local or directory user
    name, or a directory group: its DN or bare name) on a scope (``cluster``, or a named model, domain or
    pool). Kinds are plain strings, not enums: a kind a newer version adds is ignored by an older member
    instead of making the whole set undecodable."""

    profile: str
    subject_kind: str  # "user" | "group"
    subject: str
    scope_kind: str  # "cluster" | "model" | "domain" | "pool"
    scope: str = ""  # the model, domain or pool name; "" for the cluster
    granted_by: str = ""
    granted_at: float = 0.0

    def same_grant(self, other: GrantRecord) -> bool:
        """The same profile, subject and scope (who granted it and when do not make another grant)."""
        return self.identity == other.identity

    @property
    def identity(self) -> tuple[str, str, str, str, str]:
        subject = self.subject.lower() if self.subject_kind == "user" else group_key(self.subject)
        return (self.profile, self.subject_kind, subject, self.scope_kind, self.scope)


@dataclass(frozen=True, slots=True)
class GrantSet(_Record):
    grants: tuple[GrantRecord, ...] = ()


def group_key(group: str) -> str:
    """A group as compared: lower case (LDAP DNs and cn values compare case-insensitively, RFC 4517 4.2.15
    distinguishedNameMatch / caseIgnoreMatch), white space around ``,`` and ``=`` of a DN dropped."""
    return ",".join("=".join(p.strip() for p in rdn.split("=", 1)) for rdn in group.lower().split(","))
