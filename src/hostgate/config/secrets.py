"""A session server's registration state (DATA_DIR/session-secrets.json, mode 0600).

It holds the cluster id and the cluster's *public* token keys, nothing that can sign: tokens are minted only
by management members (tokens.py). The keys are refreshed from the cluster with heartbeats and written here,
so a restarted session server checks tokens even while every management member is down. So is the server's
security switch (VHI's setting, stored in the cluster and delivered with heartbeat answers): a restart while
management is down keeps the last setting the cluster gave (``true`` when absent). The server's identity
towards the cluster is its TLS certificate (``member.pem``), not anything in this file.

A file written by an earlier version (``server_token``, ``signing_key_b64``: a shared symmetric key) is read
as "no keys yet": the old secrets are ignored, the file is rewritten without them after the first heartbeat
fetched the public keys, and until then tokens are refused with "Token binding is invalid".
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

from hostgate import tokens
from hostgate.errors import ConfigError

__all__ = ["SessionSecrets", "read_secrets", "write_secrets"]


@dataclass(frozen=True, slots=True)
class SessionSecrets:
    cluster_id: str
    token_keys: tuple[tokens.PublicKey, ...] = ()  # check the session tokens clients bring
    security: bool = True  # VHI's switch: off, clients need no token (session/registry.py)

    def to_json(self) -> bytes:
        return json.dumps(
            {
                "cluster_id": self.cluster_id,
                "token_keys": [k.to_json() for k in self.token_keys],
                "security": self.security,
            }
        ).encode()


def write_secrets(path: Path, secrets: SessionSecrets) -> None:
    """Write atomically (temp file + rename), so a crash never leaves a half-written key set."""
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(secrets.to_json())
    os.replace(tmp, path)


def read_secrets(path: Path) -> SessionSecrets:
    try:
        data = json.loads(path.read_text())
        keys = tuple(tokens.PublicKey.from_json(k) for k in data.get("token_keys", []))
        security = data.get("security", True)
        if not isinstance(security, bool):
            raise ValueError(f"security is {security!r}, not true or false")
        return SessionSecrets(str(data["cluster_id"]), keys, security)
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        raise ConfigError(
            f"{path}: the session server's registration cannot be read ({exc})",
            hint="Register the server again: `hostgate install --role session ...` into a new data directory.",
        ) from exc
