"""The cluster's two small certificate authorities.

``hostgate install`` creates both; their keys live in the store, so any member can sign for a newcomer.

- The **cluster CA** (``ca.pem``) is what clients trust. It signs member certificates (TLS server + client:
  the management API, and members' calls to each other's API) and session-server certificates.
- The **etcd CA** (``etcd-ca.pem``) signs *only* members' etcd certificates, and it is the only CA etcd trusts
  on its client and peer ports. etcd has no authorisation of its own here (no v3 auth), so any certificate
  etcd accepts is root over the whole store (the CA keys, the token keys, every account). Session servers get
  their certificates from the cluster CA, which etcd does not trust: they cannot reach etcd at all.

Member certificates carry the member's IP addresses and the shared DNS name :data:`~hostgate._names.CLUSTER_DNS_NAME`, which
clients that dial several members at once use as the name to verify. Session-server certificates never carry
it, so a session server cannot pose as a management member either.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from hostgate._names import CLUSTER_DNS_NAME
from hostgate.errors import CertificateError

__all__ = [
    "ETCD_CA_PREFIX",
    "CertPair",
    "check_tls_files",
    "create_ca",
    "create_etcd_ca",
    "fingerprint",
    "issue_member_cert",
    "make_csr",
    "sign_csr",
    "sign_session_csr",
]

ETCD_CA_PREFIX = "hostgate etcd CA "
_VALIDITY = dt.timedelta(days=3650)


@dataclass(frozen=True, slots=True)
class CertPair:
    cert_pem: bytes
    key_pem: bytes


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def create_ca(cluster_id: str) -> CertPair:
    """A new self-signed CA for the cluster ``cluster_id`` (its common name names the cluster)."""
    return _create_ca(f"hostgate cluster CA {cluster_id}")


def create_etcd_ca(cluster_id: str) -> CertPair:
    """A new self-signed CA that signs only members' etcd certificates (the only CA etcd trusts)."""
    return _create_ca(f"{ETCD_CA_PREFIX}{cluster_id}")


def _create_ca(common_name: str) -> CertPair:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "hostgate"),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(_now() - dt.timedelta(minutes=5))
        .not_valid_after(_now() + _VALIDITY)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    return CertPair(cert.public_bytes(serialization.Encoding.PEM), _key_pem(key))


def make_csr(member_name: str) -> tuple[bytes, bytes]:
    """A private key and a certificate signing request for a joining member: ``(csr_pem, key_pem)``.

    The key never leaves the joining host; the cluster signs the request.
    """
    key = ec.generate_private_key(ec.SECP256R1())
    csr = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, member_name)]))
        .sign(key, hashes.SHA256())
    )
    return csr.public_bytes(serialization.Encoding.PEM), _key_pem(key)


def _load_ca(ca: CertPair) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    try:
        cert = x509.load_pem_x509_certificate(ca.cert_pem)
        key = serialization.load_pem_private_key(ca.key_pem, password=None)
    except ValueError as exc:
        raise CertificateError(f"the cluster CA cannot be read: {exc}") from exc
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise CertificateError("the cluster CA key is not an EC key")
    return cert, key


def sign_csr(ca: CertPair, csr_pem: bytes, member_name: str, addresses: Sequence[str]) -> bytes:
    """Sign a member's request: the certificate names ``member_name``, its IP ``addresses`` and the cluster.

    Used with the cluster CA (the member's API certificate) and with the etcd CA (its etcd certificate).
    """
    return _sign(ca, csr_pem, member_name, [CLUSTER_DNS_NAME, member_name], addresses)


def sign_session_csr(ca: CertPair, csr_pem: bytes, server_name: str, addresses: Sequence[str]) -> bytes:
    """Sign a session server's request with the cluster CA: its own name and addresses, never
    :data:`~hostgate._names.CLUSTER_DNS_NAME`. Server auth is its HTTPS face; client auth is its identity towards the
    management API (heartbeats), which is not etcd: etcd trusts only the etcd CA."""
    return _sign(ca, csr_pem, server_name, [server_name], addresses)


def _sign(
    ca: CertPair, csr_pem: bytes, member_name: str, dns_names: Sequence[str], addresses: Sequence[str]
) -> bytes:
    try:
        csr = x509.load_pem_x509_csr(csr_pem)
    except ValueError as exc:
        raise CertificateError(f"the certificate request is not valid PEM: {exc}") from exc
    if not csr.is_signature_valid:
        raise CertificateError("the certificate request's signature is invalid")
    ca_cert, ca_key = _load_ca(ca)
    sans: list[x509.GeneralName] = [x509.DNSName(n) for n in dns_names]
    for addr in addresses:
        try:
            sans.append(x509.IPAddress(ipaddress.ip_address(addr)))
        except ValueError as exc:
            raise CertificateError(f"{addr!r} is not an IP address") from exc
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, member_name)]))
        .issuer_name(ca_cert.subject)
        .public_key(csr.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(_now() - dt.timedelta(minutes=5))
        .not_valid_after(_now() + _VALIDITY)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.SubjectAlternativeName(sans), critical=False)
        .add_extension(
            x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]),
            critical=False,
        )
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    return cert.public_bytes(serialization.Encoding.PEM)


def issue_member_cert(ca: CertPair, member_name: str, addresses: Sequence[str]) -> CertPair:
    """Key + certificate for a member, in one step (used by install on the first server)."""
    csr_pem, key_pem = make_csr(member_name)
    return CertPair(sign_csr(ca, csr_pem, member_name, addresses), key_pem)


@functools.lru_cache(maxsize=4096)
def fingerprint(cert_pem: bytes) -> str:
    """SHA-256 of the certificate's DER form, as ``sha256:hex`` (what install prints for joiners to check).

    Memoised (a pure function of its input): every heartbeat is authenticated by its certificate's
    fingerprint, and parsing the PEM each time cost more than the rest of the heartbeat (issue #16). The bound
    covers a few thousand session servers; an unparsable input raises and is not remembered."""
    try:
        cert = x509.load_pem_x509_certificate(cert_pem)
    except ValueError as exc:
        raise CertificateError(f"not a PEM certificate: {exc}") from exc
    return "sha256:" + hashlib.sha256(cert.public_bytes(serialization.Encoding.DER)).hexdigest()


def _read(path: Path, what: str) -> bytes:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise CertificateError(f"{path}: {what} is missing") from None
    except OSError as exc:
        raise CertificateError(f"{path}: {what} cannot be read: {exc.strerror}") from None


def check_tls_files(cert_file: Path, key_file: Path, ca_file: Path) -> None:
    """Read a server's certificate, key and CA before anything starts: CertificateError (HG-4005) naming the
    file that is missing, unreadable or not PEM of the right kind, instead of a traceback from deep in the
    TLS setup of uvicorn or etcd (issue #15, finding 8)."""
    for path, what in ((ca_file, "the cluster CA certificate"), (cert_file, "this server's certificate")):
        try:
            x509.load_pem_x509_certificate(_read(path, what))
        except ValueError as exc:
            raise CertificateError(f"{path}: {what} is not a PEM certificate ({exc})") from None
    try:
        key = serialization.load_pem_private_key(_read(key_file, "this server's key"), password=None)
    except (ValueError, TypeError) as exc:  # TypeError: an encrypted key (hostgate writes none)
        raise CertificateError(
            f"{key_file}: this server's key is not an unencrypted PEM key ({exc})"
        ) from None
    cert = x509.load_pem_x509_certificate(cert_file.read_bytes())
    if cert.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    ) != key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    ):
        raise CertificateError(f"{key_file}: this key does not belong to the certificate {cert_file}")
