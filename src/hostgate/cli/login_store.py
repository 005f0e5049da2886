"""Where ``hostgate login`` keeps its token: one file per cluster, readable by its owner only.

``$XDG_STATE_HOME/hostgate/logins/<cluster id>.json`` (``~/.local/state/hostgate/logins/`` without it: the
XDG Base Directory specification's place for state that should persist but is not worth backing up). Keyed by
the cluster id read from the cluster CA (``--ca-file``), not by the alias: the token is only ever sent to the
cluster that CA identifies, over TLS verified with it, whatever alias or member address a command names.

The file is written under umask 077 to a temporary file in the same directory and renamed into place (a
reader sees the old file or the new one, never half of one), 0600 in a 0700 directory; a stored login whose
file or directory other users could read is refused (``LoginFileUnsafe``), like ssh refuses such a key.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import stat
from dataclasses import asdict, dataclass
from pathlib import Path

from hostgate.errors import LoginFileUnsafe

__all__ = ["StoredLogin", "delete_login", "load_login", "login_dir", "login_path", "save_login"]

_SAFE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")


@dataclass(frozen=True, slots=True)
class StoredLogin:
    cluster_id: str
    user: str
    token: str
    expires_at: float  # seconds since the epoch
    server: str = ""  # the alias (or member) logged in through: where `hostgate logout` ends the login
    ca_file: str = (
        ""  # the cluster CA it was made with (absolute): `hostgate logout --all` dials each cluster
    )


def login_dir() -> Path:
    base = os.environ.get("XDG_STATE_HOME", "")
    # The specification says a relative path in XDG_STATE_HOME is invalid and must be ignored.
    root = Path(base) if base and os.path.isabs(base) else Path.home() / ".local" / "state"
    return root / "hostgate" / "logins"


def login_path(cluster_id: str) -> Path:
    if not _SAFE_NAME.match(cluster_id):
        raise LoginFileUnsafe(f"cluster id {cluster_id[:80]!r} cannot name a login file")
    return login_dir() / f"{cluster_id}.json"


def _private_dir(path: Path) -> None:
    """Create ``path`` (and its parents) 0700, and narrow it to 0700 if it exists wider (we own it)."""
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    for d in (path, path.parent):
        info = d.stat()
        if info.st_uid == os.getuid() and stat.S_IMODE(info.st_mode) & 0o077:
            d.chmod(0o700)


def save_login(login: StoredLogin) -> Path:
    path = login_path(login.cluster_id)
    old_umask = os.umask(0o077)
    try:
        _private_dir(path.parent)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                json.dump(asdict(login), f)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, path)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()
            raise
        dir_fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)  # the rename itself survives a crash
        finally:
            os.close(dir_fd)
    finally:
        os.umask(old_umask)
    return path


def load_login(cluster_id: str) -> StoredLogin | None:
    """The stored login for this cluster, or None; ``LoginFileUnsafe`` if it is unreadable or open to others."""
    path = login_path(cluster_id)
    try:
        info = path.stat()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise LoginFileUnsafe(f"cannot read the stored login {path}: {exc.strerror}") from exc
    for what, mode, uid in (
        (path, info.st_mode, info.st_uid),
        (path.parent, path.parent.stat().st_mode, path.parent.stat().st_uid),
    ):
        if uid != os.getuid() or stat.S_IMODE(mode) & 0o077:
            raise LoginFileUnsafe(
                f"the stored login {what} is {stat.S_IMODE(mode):04o} or not yours: other users could read "
                "the token; it was not used"
            )
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        login = StoredLogin(
            cluster_id=str(data["cluster_id"]),
            user=str(data["user"]),
            token=str(data["token"]),
            expires_at=float(data["expires_at"]),
            server=str(data.get("server", "")),
            ca_file=str(data.get("ca_file", "")),
        )
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise LoginFileUnsafe(f"the stored login {path} cannot be read: {exc}") from exc
    if login.cluster_id != cluster_id:
        raise LoginFileUnsafe(
            f"the stored login {path} is for cluster {login.cluster_id!r}, not {cluster_id!r}"
        )
    return login


def delete_login(cluster_id: str) -> bool:
    try:
        login_path(cluster_id).unlink()
    except FileNotFoundError:
        return False
    return True
