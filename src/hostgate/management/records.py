"""Typed records the management cluster keeps in the store, and where each one lives.

Every record is a frozen dataclass serialised as JSON (never pickle). A record that cannot be decoded
raises ``StoreCorrupt`` naming its key.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, fields
from typing import Any, Self

from hostgate.errors import StoreCorrupt

__all__ = [
    "CA_KEY",
    "CLUSTER_KEY",
    "MEMBERS_PREFIX",
    "PREFIX",
    "SIGNING_KEY",
    "USERS_PREFIX",
    "CaRecord",
    "ClusterInfo",
    "MemberRecord",
    "SigningKey",
    "UserRecord",
    "member_key",
    "user_key",
]

PREFIX = "/hostgate/"
CLUSTER_KEY = "/hostgate/cluster/info"
CA_KEY = "/hostgate/cluster/ca"
SIGNING_KEY = "/hostgate/cluster/signing-key"
MEMBERS_PREFIX = "/hostgate/members/"
USERS_PREFIX = "/hostgate/users/"


def member_key(name: str) -> str:
    return MEMBERS_PREFIX + name


def user_key(name: str) -> str:
    return USERS_PREFIX + name.lower()


class _Record:
    def encode(self) -> bytes:
        return json.dumps(asdict(self), sort_keys=True).encode()  # type: ignore[call-overload]

    @classmethod
    def decode(cls, key: str, raw: bytes) -> Self:
        try:
            data = json.loads(raw)
            if not isinstance(data, dict):
                raise TypeError("not an object")
            known = {f.name: f for f in fields(cls)}  # type: ignore[arg-type]
            values: dict[str, Any] = {k: v for k, v in data.items() if k in known}
            for name, f in known.items():
                if str(f.type).startswith("tuple") and isinstance(values.get(name), list):
                    values[name] = tuple(values[name])
            return cls(**values)
        except (ValueError, TypeError) as exc:
            raise StoreCorrupt(f"record {key} cannot be decoded: {exc}") from exc


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
class MemberRecord(_Record):
    name: str
    address: str
    port: int
    peer_url: str
    client_url: str
    joined_at: float

    @property
    def url(self) -> str:
        host = f"[{self.address}]" if ":" in self.address else self.address
        return f"https://{host}:{self.port}"


@dataclass(frozen=True, slots=True)
class UserRecord(_Record):
    name: str
    password_hash: str
    roles: tuple[str, ...] = ("user",)

    @property
    def is_admin(self) -> bool:
        return "admin" in self.roles
