"""Enrolment: what a new member or session server sends to the cluster, and the grant it gets back.

A management member joining (``POST /api/v1/cluster/members``) sends a ``JoinRequest`` with a CSR and receives a
``JoinGrant``; a session server registering (``POST /api/v1/session-servers``) sends a ``ServerRegistration``
and receives a ``SessionGrant``. The grants used to live in ``management/install.py`` and were rebuilt by the
CLI from raw dicts; now the member encodes and the enrolling side decodes the same definition
(``hostgate.runtime.enrol`` runs both flows).
"""

from __future__ import annotations

import msgspec

from hostgate.messages._base import Message, Reply

__all__ = ["JoinGrant", "JoinRequest", "PublicKey", "ServerRegistration", "SessionGrant"]


class PublicKey(Reply, frozen=True):
    """A public token key as session servers hold it (they can check tokens, never mint them)."""

    kid: str
    public_b64: str  # the raw 32-byte Ed25519 public key
    accept_until: float = 0.0  # 0: the signing key; else a retired key, accepted until then

    def to_json(self) -> dict[str, object]:
        return {"kid": self.kid, "public_b64": self.public_b64, "accept_until": self.accept_until}

    @classmethod
    def from_json(cls, data: object) -> PublicKey:
        """``ValueError`` unless ``data`` is a key as :meth:`to_json` writes it."""
        try:
            return msgspec.convert(data, cls, strict=True)
        except msgspec.ValidationError as exc:
            raise ValueError(
                f"a token key must be an object with 'kid' and 'public_b64' strings: {exc}"
            ) from None


class JoinRequest(Message, frozen=True):
    """A management member asking to join: its names, ports and a CSR for its certificate."""

    name: str
    address: str
    port: int
    etcd_client_port: int
    etcd_peer_port: int
    csr_pem: str


class JoinGrant(Reply, frozen=True):
    """What a cluster member answers to a join request (see ``ManagementService.join``)."""

    cluster_id: str
    cluster_name: str
    cert_pem: str
    ca_pem: str
    initial_cluster: str
    store: str
    # The member-only etcd CA and the joiner's etcd certificate from it (same key as its API certificate).
    etcd_ca_pem: str = ""
    etcd_cert_pem: str = ""


class ServerRegistration(Message, frozen=True):
    """A session server registering: where it listens, what clients dial (behind NAT), and a CSR."""

    name: str
    address: str
    port: int
    advertised_address: str
    advertised_port: int
    csr_pem: str


class SessionGrant(Reply, frozen=True):
    """What the management cluster answers when a session server registers."""

    cluster_id: str
    cluster_name: str
    cert_pem: str  # the session server's certificate, from the cluster CA (not trusted by etcd)
    ca_pem: str
    token_keys: tuple[PublicKey, ...]  # public keys only: session servers cannot mint tokens
