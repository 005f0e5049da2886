"""The state of a data directory: who runs on it (lock), and whether its member was removed (retired).

One ``hostgate server`` per data directory: an exclusive ``flock`` on ``DATA_DIR/server.lock``.

The lock is taken before anything else starts (etcd member, store, ports), so a second server on the same data
directory is refused with ``DataDirError`` naming the PID that holds it, instead of starting a second etcd on
the same etcd data (which etcd's own flock refuses only later) and dying on a port already in use. The kernel
drops the lock when the process dies, even on ``kill -9``, so a stale lock file never blocks a restart.

A member that was removed from its cluster retires its data directory (``DATA_DIR/removed``): ``hostgate
server`` refuses it with ``MemberRemoved`` rather than start an etcd member its cluster no longer knows.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import time
from pathlib import Path

from hostgate.config.settings import Settings
from hostgate.errors import DataDirError, MemberRemoved

__all__ = ["LOCK_FILE", "REMOVED_FILE", "DataDirLock", "check_not_removed", "lock_holder", "mark_removed"]

LOCK_FILE = "server.lock"
# Written when this member learns it was removed from its cluster; `hostgate server` then refuses to start.
REMOVED_FILE = "removed"


def _read_pid(path: Path) -> str:
    try:
        return path.read_text().strip() or "unknown"
    except OSError:
        return "unknown"


class DataDirLock:
    """Holds the data directory's lock for the life of this object (or the process)."""

    def __init__(self, data_dir: Path) -> None:
        self.path = data_dir / LOCK_FILE
        self._fd: int | None = None

    def acquire(self) -> None:
        try:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        except OSError as exc:
            raise DataDirError(f"cannot open the lock file {self.path}: {exc.strerror}") from exc
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise DataDirError(
                f"the data directory {self.path.parent} is in use by another hostgate server "
                f"(pid {_read_pid(self.path)})",
                hint="Stop that server first, or start this one with another --data-dir.",
            ) from None
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        self._fd = fd

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing the descriptor drops the flock
            self._fd = None


def lock_holder(data_dir: Path) -> str | None:
    """The PID (as written) of the server holding ``data_dir``'s lock, or ``None`` when none holds it."""
    path = data_dir / LOCK_FILE
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except FileNotFoundError:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return _read_pid(path)
    finally:
        os.close(fd)
    return None


def mark_removed(settings: Settings, reason: str) -> None:
    """Retire the data directory of a removed member: ``hostgate server`` refuses it from now on."""
    path = settings.data_dir / REMOVED_FILE
    with contextlib.suppress(OSError):
        path.write_text(f"{time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime())} {reason}\n")


def check_not_removed(settings: Settings) -> None:
    """``MemberRemoved`` when this data directory's member was removed from its cluster."""
    path = settings.data_dir / REMOVED_FILE
    if not path.exists():
        return
    try:
        why = path.read_text().strip()
    except OSError:
        why = ""
    raise MemberRemoved(
        f"member {settings.server.member_name} was removed from its cluster ({why or 'see ' + str(path)}); "
        f"the data directory {settings.data_dir} is retired"
    )
