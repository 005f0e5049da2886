"""``hostgate systemd-unit``: a systemd service unit that runs ``hostgate server`` for one data directory.

The unit restarts the server when it fails (not when it was stopped), gives it the time its drain needs
(SIGTERM: in-flight requests up to 5 s, sessions sign off, then the etcd member), logs to the journal (stderr,
JSON lines, no log file of its own: journald keeps and rotates), and runs it sandboxed: a read-only system
(``ProtectSystem=strict``) with the data directory the only writable place, no new privileges, no
capabilities (unless the API port is below 1024), private /tmp and devices, the system-service call filter.
The figures and the options are systemd's own (systemd.exec(5), systemd.service(5)); ``systemd-analyze
security hostgate`` scores the result.
"""

from __future__ import annotations

import shlex
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path

import click

from hostgate.cli.output import console, handle_errors
from hostgate.config.settings import Settings, load_settings
from hostgate.errors import UsageError

__all__ = ["UnitPlan", "render_unit", "systemd_unit"]


@dataclass(frozen=True, slots=True)
class UnitPlan:
    """What the unit names: whose server, where, run as whom, with which program."""

    settings: Settings
    user: str
    group: str
    command: tuple[str, ...]  # the program and its leading arguments (before ``server``)
    log_format: str = "json"


def _writable(settings: Settings) -> list[Path]:
    """The data directory, and any configured file or directory outside it that the server writes."""
    paths = [settings.data_dir]
    for name in (settings.session.models_dir, settings.log.file):
        if name and Path(name).is_absolute():
            path = Path(name) if name == settings.session.models_dir else Path(name).parent
            if not path.is_relative_to(settings.data_dir):
                paths.append(path)
    return paths


def _quote(path: Path | str) -> str:
    # systemd's own quoting: double quotes around a word with spaces (systemd.syntax(7)); paths with
    # quotes or backslashes are refused before this.
    text = str(path)
    return f'"{text}"' if any(c.isspace() for c in text) else text


def render_unit(plan: UnitPlan) -> str:
    """The unit file's text."""
    s = plan.settings
    for path in (s.data_dir, *plan.command):
        if any(c in str(path) for c in "\"'\\$%\n"):
            raise UsageError(f"{path}: a path with quotes, backslashes, $ or % cannot go into a unit file")
    roles = " and ".join(s.server.roles)
    ports = [s.server.port] if s.is_management else []
    ports += [s.session.port] if s.is_session else []
    low_port = any(p < 1024 for p in ports)
    home = s.data_dir.is_relative_to("/home") or s.data_dir.is_relative_to("/root")
    exec_start = " ".join(
        [
            *(_quote(c) for c in plan.command),
            "server",
            "--data-dir",
            _quote(s.data_dir),
            "--log-format",
            plan.log_format,
        ]
    )
    lines = [
        "# Written by `hostgate systemd-unit`; see docs/operations.md.",
        "[Unit]",
        f"Description=hostgate server {s.server.member_name} ({roles}) of cluster {s.server.cluster_id}",
        "Documentation=https://github.com/hostgate/hostgate/blob/main/docs/operations.md",
        "After=network-online.target",
        "Wants=network-online.target",
        # A server that keeps failing (a bad hostgate.toml, a removed member: HG-4010) stops being restarted.
        "StartLimitIntervalSec=300",
        "StartLimitBurst=5",
        "",
        "[Service]",
        "Type=exec",
        f"User={plan.user}",
        f"Group={plan.group}",
        f"ExecStart={exec_start}",
        # stderr only: journald keeps, rotates and ships it; hostgate writes no log file of its own here.
        "Environment=HOSTGATE_LOG_FILE=",
        "Environment=PYTHONUNBUFFERED=1",
        f"WorkingDirectory={_quote(s.data_dir)}",
        "Restart=on-failure",
        "RestartSec=2",
        # SIGTERM drains: no new connections, in-flight requests up to 5 s, sessions sign off, etcd stops (up to
        # 10 s); SIGKILL after this.
        "KillSignal=SIGTERM",
        "KillMode=mixed",
        "TimeoutStopSec=45",
        # One descriptor per connection: [security] max_connections (4096 by default) per face, plus etcd's.
        "LimitNOFILE=65536",
        "UMask=0077",
        "",
        "# Sandbox (systemd.exec(5)): the data directory is the only place it writes.",
        "NoNewPrivileges=yes",
        "ProtectSystem=strict",
        *(f"ReadWritePaths={_quote(p)}" for p in _writable(s)),
        f"ProtectHome={'read-only' if home else 'yes'}",
        "PrivateTmp=yes",
        "PrivateDevices=yes",
        "ProtectKernelTunables=yes",
        "ProtectKernelModules=yes",
        "ProtectKernelLogs=yes",
        "ProtectControlGroups=yes",
        "ProtectClock=yes",
        "ProtectHostname=yes",
        "ProtectProc=invisible",
        "RestrictSUIDSGID=yes",
        "RestrictRealtime=yes",
        "RestrictNamespaces=yes",
        "LockPersonality=yes",
        "RemoveIPC=yes",
        # AF_NETLINK: getaddrinfo asks the kernel for the host's addresses (AI_ADDRCONFIG).
        "RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX AF_NETLINK",
        "SystemCallArchitectures=native",
        "SystemCallFilter=@system-service",
        "SystemCallErrorNumber=EPERM",
        # No MemoryDenyWriteExecute: cffi (argon2) may need writable+executable memory for its callbacks.
        *(
            ["CapabilityBoundingSet=CAP_NET_BIND_SERVICE", "AmbientCapabilities=CAP_NET_BIND_SERVICE"]
            if low_port
            else ["CapabilityBoundingSet=", "AmbientCapabilities="]
        ),
        "",
        "[Install]",
        "WantedBy=multi-user.target",
        "",
    ]
    return "\n".join(lines)


def _default_command() -> tuple[str, ...]:
    """This installation's ``hostgate``: the script beside the running interpreter, else ``python -m``."""
    beside = Path(sys.executable).parent / "hostgate"
    if beside.is_file():
        return (str(beside),)
    found = shutil.which("hostgate")
    if found:
        return (str(Path(found).resolve()),)
    return (sys.executable, "-m", "hostgate.cli.main")


@click.command("systemd-unit")
@click.option(
    "--data-dir",
    required=True,
    type=click.Path(file_okay=False, exists=True, path_type=Path),
    help="The server's data directory (hostgate install made it).",
)
@click.option(
    "--user", default="hostgate", show_default=True, help="The account the server runs as (owns DATA_DIR)."
)
@click.option("--group", help="Its group (default: the same as --user).")
@click.option(
    "--output",
    "-o",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write the unit here (e.g. /etc/systemd/system/hostgate.service); default: print it.",
)
@click.option("--force", is_flag=True, help="With --output: replace an existing file.")
@handle_errors
def systemd_unit(data_dir: Path, user: str, group: str | None, output: Path | None, force: bool) -> None:
    """Write a systemd unit that runs `hostgate server --data-dir DATA_DIR` (restart on failure, sandboxed).

    Then: `systemctl daemon-reload && systemctl enable --now hostgate` (logs: `journalctl -u hostgate`).
    The data directory must belong to --user (`chown -R USER: DATA_DIR`). One unit per data directory: name
    each file after its server when one host runs several (hostgate-workhorse01.service).
    """
    settings = load_settings(data_dir)
    for name in (user, group or user):
        if not name or any(c.isspace() or c in "\"'\\$%" for c in name):
            raise UsageError(f"{name!r} is not a user or group name a unit can hold")
    text = render_unit(UnitPlan(settings, user, group or user, _default_command()))
    if output is None:
        click.echo(text, nl=False)
        return
    if output.exists() and not force:
        raise UsageError(f"{output} exists; pass --force to replace it")
    tmp = output.with_name(output.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.chmod(0o644)  # systemd reads units as root; 0644 is what units in /etc/systemd/system have
    tmp.replace(output)
    console.print(
        f"Wrote {output}. Next: systemctl daemon-reload && systemctl enable --now {shlex.quote(output.stem)}"
    )
