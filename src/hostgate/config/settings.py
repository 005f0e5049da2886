"""Typed, frozen configuration of one hostgate server, loaded from ``DATA_DIR/hostgate.toml``.

Environment variables ``HOSTGATE_<SECTION>_<KEY>`` override the file (``HOSTGATE_SERVER_PORT=9441``).
Every field is checked when loading; a bad value raises ``ConfigError`` naming ``section.key`` and the file,
and nothing is started.
"""

from __future__ import annotations

import ipaddress
import math
import os
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from enum import StrEnum
from pathlib import Path
from typing import Any

import tomli_w

from hostgate._hostport import parse_host
from hostgate.errors import ConfigError, DataDirError, HostAddressInvalid, UnsafeAddress
from hostgate.naming.target import url_host

__all__ = [
    "CONFIG_FILE",
    "DEFAULT_PORT",
    "LOG_FORMATS",
    "LOG_LEVELS",
    "AuditSettings",
    "ConsoleSettings",
    "EtcdSettings",
    "LogSettings",
    "MetricsSettings",
    "NamingSettings",
    "SecuritySettings",
    "ServerSettings",
    "SessionSettings",
    "Settings",
    "StoreBackend",
    "TlsSettings",
    "load_settings",
    "write_settings",
]

CONFIG_FILE = "hostgate.toml"
DEFAULT_PORT = 9440
MAX_CONNECT_DELAY = 2.0  # seconds: RFC 8305 section 8, Maximum Connection Attempt Delay
_NAME_RE = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?$")


class StoreBackend(StrEnum):
    SQLITE = "sqlite"
    ETCD = "etcd"


@dataclass(frozen=True, slots=True)
class ServerSettings:
    member_name: str
    address: str
    port: int = DEFAULT_PORT
    cluster_id: str = ""
    roles: tuple[str, ...] = ("management",)
    # The HTTP faces' server stack (issue #16): uvicorn's httptools parser on uvloop roughly doubles the request
    # rate of h11 on asyncio here; "h11"/"asyncio" remain as pure-Python fallbacks (and the bench's baseline).
    http: str = "httptools"
    loop: str = "uvloop"


@dataclass(frozen=True, slots=True)
class EtcdSettings:
    """This host's etcd member, started and supervised by ``hostgate server``."""

    client_port: int = 2379
    peer_port: int = 2380
    # Used only when the member's data directory is still empty (first start).
    initial_cluster: str = ""
    initial_cluster_state: str = "new"
    # External etcd endpoints (``https://host:port``): when set, hostgate starts no member of its own.
    endpoints: tuple[str, ...] = ()
    binary: str = "etcd"
    write_timeout: float = 5.0


@dataclass(frozen=True, slots=True)
class TlsSettings:
    ca_file: str = "ca.pem"
    cert_file: str = "member.pem"
    key_file: str = "member-key.pem"
    # The member-only etcd CA and this member's certificate from it: the only identity etcd's client and peer
    # ports accept (session servers' certificates come from the cluster CA, which etcd does not trust).
    etcd_ca_file: str = "etcd-ca.pem"
    etcd_cert_file: str = "etcd.pem"
    etcd_key_file: str = "etcd-key.pem"


@dataclass(frozen=True, slots=True)
class NamingSettings:
    hosts_file: str = ""
    dns_servers: tuple[str, ...] = ()
    sources: tuple[str, ...] = ("hosts_file", "system_hosts", "dns", "system")
    connect_delay: float = 0.25
    deadline: float = 10.0


@dataclass(frozen=True, slots=True)
class SessionSettings:
    """The session-server role: where it listens, what it advertises, and which cluster it reports to."""

    management: str = ""  # the management cluster's alias[:port] (never one member)
    port: int = 9450
    advertised_address: str = ""  # what clients dial; default: server.address (set it behind NAT)
    advertised_port: int = 0  # default: port
    heartbeat_interval: float = 2.0
    capacity: int = 100
    secrets_file: str = "session-secrets.json"
    models_dir: str = "models"  # deployed models (``hostgate model deploy``), relative to the data directory
    # Session pools of this server (session/pool_config.py), relative to the data directory; no file: no pools.
    # Interim: pool definitions move into the cluster with `hostgate pool ...` (issue #18).
    pools_file: str = "pools.yaml"
    # The session server's own certificate (its HTTPS face and its identity in heartbeats); empty: tls.cert_file.
    # Set when one host runs both roles, so the session role never presents the member's certificate.
    cert_file: str = ""
    key_file: str = ""
    # While every management member is silent (past 1.5 heartbeat intervals), an expired session token is still
    # accepted if the user was verified (the token issued) at most this many seconds ago (session/offline.py).
    offline_grace: float = 300.0
    # The session face's HTTP/1.1 (issue #18): "lean" is hostgate's own protocol (runtime/lean_http.py: a pooled
    # acquire's round trip about a third shorter); "uvicorn" serves it with uvicorn's, as [server] http says.
    http: str = "lean"


@dataclass(frozen=True, slots=True)
class SecuritySettings:
    """Login throttling and request-body limits of the HTTP faces (docs/configuration.md, [security]).

    The failure counters live in each member's memory (not replicated): an attacker spreading guesses over
    the members of a cluster gets ``lockout_failures`` tries per member.
    """

    login_workers: int = 1  # argon2 checks at once (each takes 64 MiB and a core for ~0.1 s)
    login_queue: int = 32  # checks allowed to wait for a worker; beyond that, 429 at once
    login_free_failures: int = 3  # failures (per user, per source address) before backoff starts
    login_backoff: float = 1.0  # the first delay; it doubles with each further failure
    login_backoff_max: float = 30.0
    login_fail_delay: float = 0.5  # seconds before a refused login (401/429) is answered
    lockout_failures: int = 10  # consecutive failures of one user name that lock it ...
    lockout_seconds: float = 300.0  # ... for this long (even with the right password)
    max_body: int = 1_048_576  # bytes of a request body (JSON API and session server)
    heartbeat_max_body: int = 16_384
    # Slow clients (issue #15, finding 8): seconds for a request line + headers (runtime/tls_scope.py), and open
    # connections per HTTP face. Keep-alive stays 15 s (longer than a heartbeat interval). A member holds one kept
    # connection per session server that heartbeats to it plus its clients': 1,000 servers were refused at the old
    # cap of 1,000 (bench/routing.py). The open-file limit is raised at start to reach it (runtime/limits.py).
    header_timeout: float = 10.0
    max_connections: int = 4096


@dataclass(frozen=True, slots=True)
class AuditSettings:
    """The audit trail kept in the store (docs/configuration.md, [audit]; management/audit.py)."""

    retention_days: float = 90.0  # entries older than this are pruned
    max_entries: int = 100_000  # and the oldest beyond this many
    queue: int = 10_000  # entries a member holds while the store cannot take them; beyond: counted, dropped
    prune_interval: float = 3600.0  # seconds between two prunes by this member (any member may prune)


LOG_LEVELS = ("debug", "info", "warning", "error")
LOG_FORMATS = ("text", "json")


@dataclass(frozen=True, slots=True)
class LogSettings:
    """Where and how ``hostgate server`` logs (docs/operations.md, "Logs"); ``--log-level``/``--log-format`` win."""

    level: str = "info"  # debug, info, warning, error
    format: str = "text"  # text, or json: one object per line (time, level, logger, message, request_id)
    # Also written to this file (relative to the data directory), never rotated by hostgate; "": stderr only,
    # which is what a systemd unit wants (journald keeps, rotates and ships stderr).
    file: str = "logs/hostgate.log"


@dataclass(frozen=True, slots=True)
class MetricsSettings:
    """``GET /metrics`` on every HTTP face of the server (docs/metrics.md)."""

    # The scrape token (``Authorization: Bearer``), relative to the data directory; made (0600, random) at the
    # first start when missing. "": /metrics is not served at all.
    token_file: str = "metrics-token"
    # Seconds between two samples of the etcd leader (hostgate_store_leader_changes_total).
    leader_interval: float = 5.0


@dataclass(frozen=True, slots=True)
class ConsoleSettings:
    """The web console at ``/console`` (docs/configuration.md, [console]; console/sessions.py)."""

    # Seconds without activity (a page or a change; not the status bar's or a live page's polling) after which
    # a console login ends on every member. Sliding: each activity starts it again. 0: no idle timeout (the
    # 8-hour absolute limit still applies).
    idle_timeout: float = 1800.0


@dataclass(frozen=True, slots=True)
class CaptureSettings:
    """Model capture from the web console (issue #22; docs/configuration.md, [capture]; console/capture.py)."""

    # The terminal hosts (ADDRESS:PORT) this member may dial for a console capture; the user picks one of these
    # and its type. Empty (the default): capture from the console is off on this member (HG-3381). A console
    # user can never make the member dial anything else (no server-side request forgery).
    hosts: tuple[str, ...] = ()
    # Captures this member holds at once (each a live host connection); one more is refused (HG-3384).
    max_sessions: int = 4
    # Seconds without a request after which a capture is closed (its host connection with it).
    idle_timeout: float = 900.0


@dataclass(frozen=True, slots=True)
class Settings:
    """The whole configuration of one server: a frozen value, read once at start (restart to change it).

    ``load_settings`` (the file and ``HOSTGATE_*`` variables) and ``settings_from_mapping`` check every field
    and raise one ``ConfigError`` naming ``section.key`` and its source; constructing it directly (tests,
    ``install``) checks nothing. File names in it are relative to ``data_dir`` unless absolute (``path()``);
    URLs bracket IPv6 addresses. Holds no secrets itself: keys and passwords are files it names.
    """

    data_dir: Path
    server: ServerSettings
    store: StoreBackend = StoreBackend.SQLITE
    etcd: EtcdSettings = field(default_factory=EtcdSettings)
    tls: TlsSettings = field(default_factory=TlsSettings)
    naming: NamingSettings = field(default_factory=NamingSettings)
    session: SessionSettings = field(default_factory=SessionSettings)
    security: SecuritySettings = field(default_factory=SecuritySettings)
    audit: AuditSettings = field(default_factory=AuditSettings)
    log: LogSettings = field(default_factory=LogSettings)
    metrics: MetricsSettings = field(default_factory=MetricsSettings)
    console: ConsoleSettings = field(default_factory=ConsoleSettings)
    capture: CaptureSettings = field(default_factory=CaptureSettings)

    @property
    def is_management(self) -> bool:
        return "management" in self.server.roles

    @property
    def is_session(self) -> bool:
        return "session" in self.server.roles

    def path(self, name: str) -> Path:
        """A file named in the config, relative to the data directory unless absolute."""
        p = Path(name)
        return p if p.is_absolute() else self.data_dir / p

    @property
    def etcd_data_dir(self) -> Path:
        return self.data_dir / "etcd"

    @property
    def sqlite_path(self) -> Path:
        return self.data_dir / "store.sqlite3"

    @property
    def url(self) -> str:
        return f"https://{url_host(self.server.address)}:{self.server.port}"

    @property
    def etcd_client_url(self) -> str:
        return f"https://{url_host(self.server.address)}:{self.etcd.client_port}"

    @property
    def etcd_peer_url(self) -> str:
        return f"https://{url_host(self.server.address)}:{self.etcd.peer_port}"


# --- loading -------------------------------------------------------------------------------------------

_SECTIONS: dict[str, type[Any]] = {
    "server": ServerSettings,
    "etcd": EtcdSettings,
    "tls": TlsSettings,
    "naming": NamingSettings,
    "session": SessionSettings,
    "security": SecuritySettings,
    "audit": AuditSettings,
    "log": LogSettings,
    "metrics": MetricsSettings,
    "console": ConsoleSettings,
    "capture": CaptureSettings,
}


def _coerce(section: str, name: str, value: object, annotation: str, source: str) -> object:
    where = f"{section}.{name} in {source}"
    if annotation == "int":
        # str.isdigit() accepts '²' and other digits int() refuses: match ASCII digits only.
        if isinstance(value, str) and re.fullmatch(r"\s*-?[0-9]+\s*", value):
            value = int(value)
        if not isinstance(value, int) or isinstance(value, bool):
            raise ConfigError(f"{where}: expected a whole number, got {value!r}")
        return value
    if annotation == "float":
        if isinstance(value, str):
            try:
                value = float(value)
            except ValueError:
                raise ConfigError(f"{where}: expected a number, got {value!r}") from None
        if not isinstance(value, int | float) or isinstance(value, bool):
            raise ConfigError(f"{where}: expected a number, got {value!r}")
        if not math.isfinite(value):
            raise ConfigError(f"{where}: expected a finite number, got {value!r}")
        return float(value)
    if annotation == "str":
        if not isinstance(value, str):
            raise ConfigError(f"{where}: expected a string, got {value!r}")
        return value
    if annotation.startswith("tuple[str"):
        if isinstance(value, str):
            value = [v.strip() for v in value.split(",") if v.strip()]
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise ConfigError(f"{where}: expected a list of strings, got {value!r}")
        return tuple(value)
    raise AssertionError(f"unhandled annotation {annotation}")  # pragma: no cover


def _section(
    section: str, cls: type[Any], raw: Mapping[str, object], env: Mapping[str, str], source: str
) -> Any:
    known = {f.name: f for f in fields(cls)}
    unknown = sorted(set(raw) - set(known))
    if unknown:
        raise ConfigError(f"{section}.{unknown[0]} in {source}: unknown setting (known: {', '.join(known)})")
    values: dict[str, object] = {}
    for name, f in known.items():
        env_key = f"HOSTGATE_{section.upper()}_{name.upper()}"
        if env_key in env:
            values[name] = _coerce(section, name, env[env_key], str(f.type), f"environment {env_key}")
        elif name in raw:
            values[name] = _coerce(section, name, raw[name], str(f.type), source)
    try:
        return cls(**values)
    except TypeError:
        missing = [n for n, f in known.items() if n not in values and f.default is f.default_factory]
        raise ConfigError(f"{section}.{missing[0] if missing else '?'} in {source}: required") from None


def _check_port(section: str, name: str, port: int, source: str) -> None:
    if not 0 < port < 65536:
        raise ConfigError(f"{section}.{name} in {source}: port {port} is outside 1-65535")


def load_settings(data_dir: Path, env: Mapping[str, str] | None = None) -> Settings:
    """Read and check ``data_dir/hostgate.toml``; raise ``ConfigError``/``DataDirError`` naming the field."""
    env = os.environ if env is None else env
    data_dir = data_dir.resolve()
    path = data_dir / CONFIG_FILE
    source = str(path)
    if not path.is_file():
        raise DataDirError(
            f"{data_dir} is not a hostgate data directory (no {CONFIG_FILE})",
            hint="Create one with `hostgate install --data-dir DIR --address IP`.",
        )
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{source}: not valid TOML: {exc}") from exc
    except RecursionError:
        raise ConfigError(f"{source}: not valid TOML: nested too deeply") from None
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{source}: not UTF-8 text (byte {exc.start}); TOML files are UTF-8") from None
    except OSError as exc:
        raise DataDirError(f"cannot read {source}: {exc.strerror}") from exc
    return settings_from_mapping(raw, data_dir, env, source)


def settings_from_mapping(
    raw: Mapping[str, object], data_dir: Path, env: Mapping[str, str], source: str
) -> Settings:
    allowed = {*_SECTIONS, "store"}
    for key in raw:
        if key not in allowed:
            raise ConfigError(f"{key} in {source}: unknown section (known: {', '.join(sorted(allowed))})")
    parts: dict[str, Any] = {}
    for section, cls in _SECTIONS.items():
        sub = raw.get(section, {})
        if not isinstance(sub, dict):
            raise ConfigError(f"{section} in {source}: expected a table [{section}]")
        parts[section] = _section(section, cls, sub, env, source)
    store_raw = env.get("HOSTGATE_STORE", raw.get("store", {}))
    backend_raw = store_raw.get("backend", "sqlite") if isinstance(store_raw, dict) else store_raw
    try:
        backend = StoreBackend(str(backend_raw))
    except ValueError:
        raise ConfigError(f"store.backend in {source}: {backend_raw!r} is not one of sqlite, etcd") from None

    server: ServerSettings = parts["server"]
    if not _NAME_RE.match(server.member_name):
        raise ConfigError(
            f"server.member_name in {source}: {server.member_name!r} must be letters, digits and hyphens"
        )
    try:
        ip = ipaddress.ip_address(server.address)
    except ValueError:
        raise ConfigError(f"server.address in {source}: {server.address!r} is not an IP address") from None
    if ip.is_unspecified:
        # 0.0.0.0 / :: would serve the API (and etcd) on every interface, and the member certificate and the
        # cluster's member records need the one address peers and clients dial (issue #15, finding 8).
        raise UnsafeAddress(
            f"server.address in {source}: {server.address} means every interface; give this server's own address"
        )
    _check_port("server", "port", server.port, source)
    etcd: EtcdSettings = parts["etcd"]
    _check_port("etcd", "client_port", etcd.client_port, source)
    _check_port("etcd", "peer_port", etcd.peer_port, source)
    if etcd.initial_cluster_state not in ("new", "existing"):
        raise ConfigError(f"etcd.initial_cluster_state in {source}: must be 'new' or 'existing'")
    naming: NamingSettings = parts["naming"]
    if naming.connect_delay <= 0 or naming.deadline <= 0:
        raise ConfigError(f"naming.connect_delay/deadline in {source}: must be positive")
    if naming.connect_delay > MAX_CONNECT_DELAY:
        # RFC 8305 section 8 puts the Maximum Connection Attempt Delay at 2 s: a longer stagger would make
        # every call that meets a hung member wait longer than a failover is meant to take.
        raise ConfigError(
            f"naming.connect_delay in {source}: {naming.connect_delay} s is more than {MAX_CONNECT_DELAY} s "
            "(RFC 8305's maximum connection attempt delay)"
        )
    session: SessionSettings = parts["session"]
    if server.http not in ("httptools", "h11"):
        raise ConfigError(f"server.http in {source}: {server.http!r} is not one of httptools, h11")
    if session.http not in ("lean", "uvicorn"):
        raise ConfigError(f"session.http in {source}: {session.http!r} is not one of lean, uvicorn")
    if server.loop not in ("uvloop", "asyncio"):
        raise ConfigError(f"server.loop in {source}: {server.loop!r} is not one of uvloop, asyncio")
    for role in server.roles:
        if role not in ("management", "session"):
            raise ConfigError(f"server.roles in {source}: {role!r} is not one of management, session")
    if not server.roles:
        raise ConfigError(f"server.roles in {source}: at least one role is needed")
    if "session" in server.roles:
        if not session.management:
            raise ConfigError(f"session.management in {source}: the management cluster's alias is required")
        _check_port("session", "port", session.port, source)
        if session.heartbeat_interval <= 0 or session.capacity < 0:
            raise ConfigError(f"session.heartbeat_interval/capacity in {source}: must be positive")
        if not 0 <= session.offline_grace <= 86_400:  # `not` also refuses NaN
            raise ConfigError(
                f"session.offline_grace in {source}: {session.offline_grace!r} is outside 0-86400"
            )
    security: SecuritySettings = parts["security"]
    _check_security(security, source)
    audit: AuditSettings = parts["audit"]
    _check_audit(audit, source)
    log_settings: LogSettings = parts["log"]
    if log_settings.level.lower() not in LOG_LEVELS:
        raise ConfigError(
            f"log.level in {source}: {log_settings.level!r} is not one of {', '.join(LOG_LEVELS)}"
        )
    if log_settings.format not in LOG_FORMATS:
        raise ConfigError(
            f"log.format in {source}: {log_settings.format!r} is not one of {', '.join(LOG_FORMATS)}"
        )
    metrics: MetricsSettings = parts["metrics"]
    if not 0.1 <= metrics.leader_interval <= 3600:
        raise ConfigError(
            f"metrics.leader_interval in {source}: {metrics.leader_interval!r} is outside 0.1-3600"
        )
    console: ConsoleSettings = parts["console"]
    if not 0 <= console.idle_timeout <= 8 * 3600:  # `not` also refuses NaN; 8 h: the absolute session limit
        raise ConfigError(
            f"console.idle_timeout in {source}: {console.idle_timeout!r} is outside 0-28800 (seconds)"
        )
    capture: CaptureSettings = parts["capture"]
    _check_capture(capture, source)
    return Settings(
        data_dir=data_dir,
        server=server,
        store=backend,
        etcd=etcd,
        tls=parts["tls"],
        naming=naming,
        session=session,
        security=security,
        audit=audit,
        log=log_settings,
        metrics=metrics,
        console=console,
        capture=capture,
    )


def _check_capture(capture: CaptureSettings, source: str) -> None:
    seen: set[tuple[str, int]] = set()
    for i, host in enumerate(capture.hosts):
        try:
            address, port = parse_host(host)
        except HostAddressInvalid:
            raise ConfigError(
                f"capture.hosts[{i}] in {source}: {host[:80]!r} is not ADDRESS:PORT (port 1-65535)"
            ) from None
        if (address.lower(), port) in seen:
            raise ConfigError(f"capture.hosts[{i}] in {source}: {host!r} is listed twice")
        seen.add((address.lower(), port))
        try:
            if ipaddress.ip_address(address).is_unspecified:
                raise ConfigError(f"capture.hosts[{i}] in {source}: {host!r} is no host to dial")
        except ValueError:
            pass  # a host name: dialled as given
    if not 1 <= capture.max_sessions <= 256:
        raise ConfigError(f"capture.max_sessions in {source}: {capture.max_sessions!r} is outside 1-256")
    if not 1 <= capture.idle_timeout <= 86_400:  # `not` also refuses NaN
        raise ConfigError(
            f"capture.idle_timeout in {source}: {capture.idle_timeout!r} is outside 1-86400 (seconds)"
        )


def _check_audit(audit: AuditSettings, source: str) -> None:
    bounds: dict[str, tuple[float, float]] = {
        "retention_days": (0.001, 36_500),
        "max_entries": (1, 100_000_000),
        "queue": (1, 1_000_000),
        "prune_interval": (1, 86_400 * 7),
    }
    for name, (low, high) in bounds.items():
        value = getattr(audit, name)
        if not low <= value <= high:  # also refuses NaN
            raise ConfigError(f"audit.{name} in {source}: {value!r} is outside {low:g}-{high:g}")


def _check_security(sec: SecuritySettings, source: str) -> None:
    bounds: dict[str, tuple[float, float]] = {
        "login_workers": (1, 64),
        "login_queue": (0, 100_000),
        "login_free_failures": (0, 1000),
        "login_backoff": (0.01, 3600),
        "login_backoff_max": (0.01, 86_400),
        "login_fail_delay": (0, 10),
        "lockout_failures": (1, 100_000),
        "lockout_seconds": (0, 86_400 * 7),
        "max_body": (1024, 1 << 30),
        "heartbeat_max_body": (1024, 1 << 20),
        "header_timeout": (0.1, 300),
        "max_connections": (1, 100_000),
    }
    for name, (low, high) in bounds.items():
        value = getattr(sec, name)
        # `not low <= value` also refuses NaN (every comparison with NaN is false).
        if not low <= value <= high:
            raise ConfigError(f"security.{name} in {source}: {value!r} is outside {low:g}-{high:g}")


def write_settings(settings: Settings) -> Path:
    """Write ``hostgate.toml`` atomically (temp file + rename) and return its path."""
    doc: dict[str, Any] = {"store": {"backend": str(settings.store)}}
    for section in _SECTIONS:
        obj = getattr(settings, section)
        doc[section] = {f.name: _plain(getattr(obj, f.name)) for f in fields(obj)}
    path = settings.data_dir / CONFIG_FILE
    tmp = path.with_suffix(".toml.tmp")
    tmp.write_text(
        "# hostgate server configuration; see docs/configuration.md\n" + tomli_w.dumps(doc), encoding="utf-8"
    )
    tmp.replace(path)
    return path


def _plain(value: object) -> object:
    return list(value) if isinstance(value, tuple) else value
