"""A session server's registration secrets (DATA_DIR/session-secrets.json, mode 0600)."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

from hostgate.errors import ConfigError

__all__ = ["SessionSecrets", "read_secrets", "write_secrets"]


@dataclass(frozen=True, slots=True)
class SessionSecrets:
    cluster_id: str
    server_token: str  # this server's identity towards the management cluster (heartbeats)
    signing_key_b64: str  # checks the session tokens clients bring

    def to_json(self) -> bytes:
        return json.dumps(
            {
                "cluster_id": self.cluster_id,
                "server_token": self.server_token,
                "signing_key_b64": self.signing_key_b64,
            }
        ).encode()


def write_secrets(path: Path, secrets: SessionSecrets) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(secrets.to_json())


def read_secrets(path: Path) -> SessionSecrets:
    try:
        data = json.loads(path.read_text())
        return SessionSecrets(
            str(data["cluster_id"]), str(data["server_token"]), str(data["signing_key_b64"])
        )
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ConfigError(
            f"{path}: the session server's registration cannot be read ({exc})",
            hint="Register the server again: `hostgate install --role session ...` into a new data directory.",
        ) from exc
