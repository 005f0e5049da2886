"""``hostgate --version``: the version, the Python running it, the etcd found, and a data directory's store.

``hostgate --version`` is answered from here before click is loaded (``cli/main.py``), so it costs little more
than the interpreter's own start (bench/cli_startup.py; goal <= 4 x ``python -c pass``). That budget is why
this module imports only ``os``, ``sys`` and ``shutil`` at its head: ``platform``, ``re``, ``subprocess``,
``dataclasses`` and ``hostgate.errors`` each cost a measurable share of it, so etcd is run with
``os.posix_spawn`` and the error tree is loaded only for ``--data-dir``.
"""

from __future__ import annotations

import os
import shutil
import sys

from hostgate import __version__

# Not typing's: importing typing is a measurable share of --version (mypy honours the name).
TYPE_CHECKING = False

if TYPE_CHECKING:
    from pathlib import Path

__all__ = ["EtcdFound", "find_etcd", "print_version", "quick_version", "version_lines"]

_VERSION_PREFIX = "etcd Version:"


class EtcdFound:
    """The etcd binary a server would start: its path and ``etcd --version``, or why there is none.

    A plain slotted class, read-only by convention: a frozen dataclass would import ``dataclasses`` (see the
    module's docstring)."""

    __slots__ = ("binary", "path", "problem", "version")

    def __init__(self, binary: str, path: str | None, version: str | None, problem: str = "") -> None:
        self.binary, self.path, self.version, self.problem = binary, path, version, problem

    def __repr__(self) -> str:
        return f"EtcdFound({self.binary!r}, {self.path!r}, {self.version!r}, {self.problem!r})"


def _run_version(path: str) -> str:
    """The stdout of ``path --version`` (etcd prints a few short lines, well below a pipe's buffer)."""
    read_fd, write_fd = os.pipe()
    try:
        pid = os.posix_spawn(
            path,
            [path, "--version"],
            os.environ,
            file_actions=[
                (os.POSIX_SPAWN_DUP2, write_fd, 1),
                (os.POSIX_SPAWN_OPEN, 2, os.devnull, os.O_WRONLY, 0),
                (os.POSIX_SPAWN_CLOSE, read_fd),
            ],
        )
    finally:
        os.close(write_fd)
    try:
        chunks = []
        while chunk := os.read(read_fd, 65536):
            chunks.append(chunk)
    finally:
        os.close(read_fd)
        os.waitpid(pid, 0)
    return b"".join(chunks).decode("utf-8", "replace")


def find_etcd(binary: str = "etcd") -> EtcdFound:
    path = shutil.which(binary)
    if path is None:
        return EtcdFound(binary, None, None, f"{binary!r} not found on PATH")
    try:
        out = _run_version(path)
    except OSError as exc:
        return EtcdFound(binary, path, None, f"cannot run {path} --version: {exc.strerror}")
    for line in out.splitlines():
        if line.startswith(_VERSION_PREFIX):
            return EtcdFound(binary, path, line.removeprefix(_VERSION_PREFIX).strip())
    return EtcdFound(binary, path, None, f"{path} --version printed no version")


def _etcd_line(found: EtcdFound) -> str:
    if found.version is not None:
        return f"etcd {found.version} ({found.path})"
    return (
        f"etcd: none ({found.problem}); a lone server (SQLite) needs none, a cluster member does: "
        "install Debian's etcd-server, or set etcd.binary"
    )


def _data_dir_lines(data_dir: Path) -> list[str]:
    # Loaded only here: the settings module pulls in the naming sources (dnspython), which plain --version
    # does not need.
    from hostgate.config.datadir import REMOVED_FILE, lock_holder
    from hostgate.config.settings import StoreBackend, load_settings

    s = load_settings(data_dir)
    roles = " and ".join(s.server.roles)
    lines = [f"data dir {s.data_dir}: {roles} server {s.server.member_name} of cluster {s.server.cluster_id}"]
    if not s.is_management:
        lines.append("  store: none (a session server keeps no cluster data; its cluster's members do)")
    elif s.store is StoreBackend.SQLITE:
        lines.append(f"  store: sqlite ({s.sqlite_path}): a lone server; a cluster needs etcd")
    elif s.etcd.endpoints:
        lines.append(f"  store: etcd, external endpoints {', '.join(s.etcd.endpoints)}")
    else:
        lines.append(
            f"  store: etcd, this host's own member ({s.etcd_data_dir}, client port {s.etcd.client_port})"
        )
    holder = lock_holder(s.data_dir)
    if (s.data_dir / REMOVED_FILE).exists():
        lines.append("  retired: this member was removed from its cluster")
    lines.append(f"  server: running (pid {holder})" if holder is not None else "  server: not running")
    return lines


def version_lines(data_dir: Path | None, etcd: EtcdFound | None = None) -> list[str]:
    """What ``hostgate --version [--data-dir D]`` prints, one line each (``HostgateError`` for a bad D)."""
    binary = "etcd"
    extra: list[str] = []
    if data_dir is not None:
        extra = _data_dir_lines(data_dir)
        from hostgate.config.settings import load_settings

        binary = load_settings(data_dir).etcd.binary
    found = etcd if etcd is not None else find_etcd(binary)
    v = sys.version_info
    python = f"Python {v.major}.{v.minor}.{v.micro} ({sys.executable})"
    return [f"hostgate {__version__}", python, _etcd_line(found), *extra]


def print_version(data_dir: Path | None) -> None:
    if data_dir is None:
        lines = version_lines(None)
    else:
        from hostgate.errors import HostgateError

        try:
            lines = version_lines(data_dir)
        except HostgateError as exc:
            from hostgate.cli.output import fail

            fail(exc)
    sys.stdout.write("\n".join(lines) + "\n")
    sys.stdout.flush()


def quick_version(args: list[str]) -> bool:
    """Answer ``--version`` given with ``args`` after it, without click; ``False`` when they are not ones
    ``--version`` takes (click then reports them)."""
    given: str | None
    if not args:
        given = None
    elif len(args) == 2 and args[0] == "--data-dir":
        given = args[1]
    elif len(args) == 1 and args[0].startswith("--data-dir="):
        given = args[0].removeprefix("--data-dir=")
    else:
        return False
    if given == "":
        return False  # Path("") would be "."; click reports the empty value
    if given is None:
        print_version(None)
    else:
        from pathlib import Path  # pathlib (with urllib.parse, ipaddress) is a tenth of plain --version

        print_version(Path(given))
    return True
