"""A lab installation: real hostgate servers as processes on 127.0.0.x, driven through the CLI as a user would.

``hostgate demo``, the integration tests and the benchmarks all use it. Every server gets free ports on its own
loopback address; readiness is polled with a deadline; faults are real (kill -9, SIGSTOP). Only processes
this module started are signalled, by PID.
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import random
import re
import signal
import socket
import ssl
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from hostgate._package_data import host_app, sample_models

PYTHON = sys.executable
_LIBC = ctypes.CDLL("libc.so.6", use_errno=True)
_PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:
    _LIBC.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)


_EPHEMERAL_RANGE = Path("/proc/sys/net/ipv4/ip_local_port_range")
_LAB_FLOOR = 10000  # lab ports start here: below it sit the ports services habitually listen on
# Slice 0: a process outside pytest-xdist (the demo, a bench, a plain pytest); worker gwN: slice 1 + N % 15.
_LAB_SLICES = 16


def _lab_ports() -> range:
    """The ports this process hands out: its own slice of the ports the kernel never picks for a connection.

    Every outgoing connection on a loopback address takes a port from the kernel's ephemeral range as its source
    on 127.0.0.1, and holds it for as long as it lives. A port picked from that range (binding to 0) and bound by
    a server a moment later can meanwhile have become another connection's source: the server's bind then fails
    (EADDRINUSE, SO_REUSEADDR or not), and a supervised etcd restarts into the same wall for as long as that
    connection lives. So lab ports come from below the ephemeral range, where only explicit binds go, and each
    pytest-xdist worker has a slice of its own, so two workers never hand out the same port.
    """
    try:
        low, high = (int(x) for x in _EPHEMERAL_RANGE.read_text().split())
    except (OSError, ValueError):
        low, high = 32768, 60999  # Linux's default
    if low - _LAB_FLOOR >= 2048:
        start, stop = _LAB_FLOOR, low
    elif 65536 - (high + 1) >= 2048:
        start, stop = high + 1, 65536
    else:  # no room outside the ephemeral range: the whole range, sliced all the same
        start, stop = 1024, 65536
    worker = os.environ.get("PYTEST_XDIST_WORKER", "")
    index = 1 + int(worker[2:]) % (_LAB_SLICES - 1) if worker.startswith("gw") and worker[2:].isdigit() else 0
    size = (stop - start) // _LAB_SLICES
    return range(start + index * size, start + (index + 1) * size)


class _PortCursor:
    """Walks this process's slice from a random start (two runs side by side rarely meet), never handing out the
    same port twice until the slice wraps around."""

    def __init__(self) -> None:
        self.ports = _lab_ports()
        self.pid = os.getpid()
        self.next = self.ports.start + random.randrange(len(self.ports))

    def take(self) -> int:
        port = self.next
        self.next = port + 1 if port + 1 < self.ports.stop else self.ports.start
        return port


_cursor: _PortCursor | None = None


def _bindable(address: str, port: int) -> bool:
    """Can a listener bind ``address:port`` now? Without SO_REUSEADDR: a port in TIME_WAIT counts as taken."""
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as s:
        try:
            s.bind((address, port))
        except OSError:
            return False
    return True


def free_port(address: str = "127.0.0.1") -> int:
    """A TCP port free on ``address`` right now, from this process's slice of lab ports: never a fixed port,
    never one the kernel could give an outgoing connection meanwhile (see ``_lab_ports``).

    The one free-port helper of the lab, the tests (``tests/helpers/ports.py`` re-exports it) and the benches.
    """
    global _cursor
    if _cursor is None or _cursor.pid != os.getpid():  # a forked child walks a fresh cursor
        _cursor = _PortCursor()
    for _ in range(len(_cursor.ports)):
        port = _cursor.take()
        if _bindable(address, port):
            return port
    raise AssertionError(f"no free port on {address} in {_cursor.ports}")


def common_free_port(addresses: list[str]) -> int:
    """A port free on every one of ``addresses`` (members behind one alias share the API port)."""
    for _ in range(200):
        port = free_port(addresses[0])
        if all(_bindable(address, port) for address in addresses[1:]):
            return port
    raise AssertionError("no port free on all of " + ", ".join(addresses))


def poll(what: str, check: Callable[[], Any], deadline: float = 30.0, interval: float = 0.05) -> Any:
    """Call ``check`` until it returns a truthy value or ``deadline`` passes (then fail, saying ``what``)."""
    stop_at = time.monotonic() + deadline
    last: Any = None
    while True:
        try:
            last = check()
            if last:
                return last
        except Exception as exc:  # a check that raises is "not yet"
            last = exc
        if time.monotonic() > stop_at:
            raise AssertionError(f"timed out after {deadline:.0f} s waiting for {what}; last: {last!r}")
        time.sleep(interval)  # polling interval, not synchronisation


@dataclass
class Member:
    name: str
    address: str
    data_dir: Path
    port: int
    etcd_client_port: int
    etcd_peer_port: int
    proc: subprocess.Popen[bytes] | None = None
    stopped: bool = False

    @property
    def url(self) -> str:
        return f"https://{self.address}:{self.port}"

    @property
    def target(self) -> str:
        return f"{self.address}:{self.port}"

    def start(self) -> None:
        assert self.proc is None or self.proc.poll() is not None, f"{self.name} is already running"
        with (self.data_dir.parent / f"{self.name}.server.log").open("ab") as log:
            self.proc = subprocess.Popen(
                [PYTHON, "-m", "hostgate.cli.main", "server", "--data-dir", str(self.data_dir)],
                stdout=log,
                stderr=subprocess.STDOUT,
                preexec_fn=_die_with_parent,
                start_new_session=True,  # its own process group: kill -9 takes its etcd member too
                env={**os.environ, "PYTHONFAULTHANDLER": "1"},  # a crash leaves its Python stacks in the log
            )
        self.stopped = False

    def health(self, timeout: float = 1.0) -> dict[str, Any] | None:
        ctx = ssl.create_default_context(cafile=str(self.data_dir / "ca.pem"))
        try:
            resp = httpx.get(f"{self.url}/api/v1/health", verify=ctx, timeout=timeout)
        except httpx.HTTPError:
            return None
        return resp.json() if resp.status_code == 200 else None

    def wait_healthy(self, deadline: float = 60.0) -> None:
        def check() -> bool:
            if self.proc is not None and self.proc.poll() is not None:
                raise AssertionError(f"{self.name} exited with {self.proc.returncode}: {self.log_tail()}")
            return self.health() is not None

        try:
            poll(f"member {self.name} to answer /health", check, deadline)
        except AssertionError as exc:
            etcd_log = self.data_dir / "logs" / "etcd.log"
            etcd_tail = etcd_log.read_text(errors="replace").splitlines()[-5:] if etcd_log.exists() else []
            raise AssertionError(
                f"{exc}\n--- {self.name}'s log, last lines:\n{self.log_tail()}"
                + ("\n--- its etcd log, last lines:\n" + "\n".join(etcd_tail) if etcd_tail else "")
            ) from None

    def log_tail(self, lines: int = 30) -> str:
        path = self.data_dir.parent / f"{self.name}.server.log"
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:]) if path.exists() else ""

    def kill9(self) -> None:
        assert self.proc is not None
        if self.stopped:
            self.cont()
        # The whole member at once, as a host crash would: hostgate and its etcd child, same instant.
        os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(10)

    def stop(self) -> None:
        os.kill(self.pid, signal.SIGSTOP)
        self.stopped = True

    def cont(self) -> None:
        os.kill(self.pid, signal.SIGCONT)
        self.stopped = False

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def terminate(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        if self.stopped:
            self.cont()
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)


@dataclass
class Installation:
    """A set of hostgate members installed under ``root``, plus the CLI a user would run against them."""

    root: Path
    members: list[Member] = field(default_factory=list)
    session_servers: list[Member] = field(default_factory=list)
    password: str = "correct-horse-battery"
    # Where members and session servers listen, in order (``hostgate demo --addresses``); empty: the members on
    # 127.0.0.1, .2, ... and the session servers on 127.0.0.11, .12, ...
    member_addresses: tuple[str, ...] = ()
    session_addresses: tuple[str, ...] = ()
    api_port: int = 0  # 0: a port free on every member address (members behind one alias share it)
    # Told every hostgate command line before it runs (``hostgate demo`` prints them, copyable as they are).
    echo: Callable[[tuple[str, ...]], None] | None = None

    def __post_init__(self) -> None:
        if self.api_port == 0:
            self.api_port = common_free_port(
                list(self.member_addresses) or [f"127.0.0.{i}" for i in range(1, 10)]
            )

    @property
    def ca_file(self) -> Path:
        return self.members[0].data_dir / "ca.pem"

    @property
    def password_file(self) -> Path:
        path = self.root / "admin.pw"
        if not path.exists():
            path.write_text(self.password + "\n")
        return path

    def hostgate(
        self, *args: str, check: bool = True, timeout: float = 60.0
    ) -> subprocess.CompletedProcess[str]:
        if self.echo is not None:
            self.echo(args)
        env = {k: v for k, v in os.environ.items() if not k.startswith("HOSTGATE_")}
        env["COLUMNS"] = "200"
        # `hostgate login` keeps its token under XDG_STATE_HOME: this installation's own, never the user's.
        env["XDG_STATE_HOME"] = str(self.root / "state")
        proc = subprocess.run(
            [PYTHON, "-m", "hostgate.cli.main", *args],
            capture_output=True,
            text=True,
            timeout=timeout,
            env=env,
        )
        if check and proc.returncode != 0:
            raise AssertionError(
                f"hostgate {' '.join(args)} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}"
            )
        return proc

    def client_args(self, server: str | None = None) -> list[str]:
        return [
            "--server",
            server or self.members[0].target,
            "--ca-file",
            str(self.ca_file),
            "--password-file",
            str(self.password_file),
        ]

    def _new_member(self, index: int, address: str | None) -> Member:
        if address is None:
            given = self.member_addresses
            address = given[index] if index < len(given) else f"127.0.0.{index + 1}"
        name = f"workhorse{index + 1:02d}"
        return Member(
            name=name,
            address=address,
            data_dir=self.root / name,
            port=self.api_port,
            etcd_client_port=free_port(address),
            etcd_peer_port=free_port(address),
        )

    def install_first(self, store: str = "etcd", cluster_name: str = "vhi-prod-sea") -> Member:
        m = self._new_member(len(self.members), None)
        self.hostgate(
            "install",
            "--data-dir", str(m.data_dir),
            "--address", m.address,
            "--port", str(m.port),
            "--member-name", m.name,
            "--name", cluster_name,
            "--store", store,
            "--etcd-client-port", str(m.etcd_client_port),
            "--etcd-peer-port", str(m.etcd_peer_port),
            "--admin-password-file", str(self.password_file),
        )  # fmt: skip
        self.members.append(m)
        return m

    def join(self, via: Member, address: str | None = None) -> Member:
        m = self._new_member(len(self.members), address)
        self.hostgate(
            "install",
            "--data-dir", str(m.data_dir),
            "--address", m.address,
            "--port", str(m.port),
            "--member-name", m.name,
            "--etcd-client-port", str(m.etcd_client_port),
            "--etcd-peer-port", str(m.etcd_peer_port),
            "--join", via.target,
            "--ca-file", str(self.ca_file),
            "--admin-password-file", str(self.password_file),
        )  # fmt: skip
        self.members.append(m)
        return m

    def write_hosts_file(self, alias: str = "vhi-prod-sea", order: list[Member] | None = None) -> Path:
        """A hosts file in the KB's format naming every member under ``alias``."""
        lines = ["# hostgate test installation", f'# "{alias}" is the common name for the management cluster']
        lines += [f"{m.address} {m.name} {alias}" for m in (order or self.members)]
        path = self.root / "hosts"
        path.write_text("\n".join(lines) + "\n")
        return path

    def add_session_server(self, index: int, alias: str = "vhi-prod-sea", interval: float = 1.0) -> Member:
        """Install and start session server ``sessionNN`` on 127.0.0.(10+index) (or ``session_addresses[index-1]``),
        registered through the alias."""
        given = self.session_addresses
        address = given[index - 1] if index <= len(given) else f"127.0.0.{10 + index}"
        m = Member(
            name=f"session{index:02d}",
            address=address,
            data_dir=self.root / f"session{index:02d}",
            port=free_port(address),
            etcd_client_port=0,
            etcd_peer_port=0,
        )
        hosts = self.root / "hosts"
        if not hosts.exists():
            self.write_hosts_file(alias)
        self.hostgate(
            "install", "--role", "session",
            "--data-dir", str(m.data_dir),
            "--address", m.address,
            "--port", str(m.port),
            "--member-name", m.name,
            "--management", f"{alias}:{self.api_port}",
            "--hosts-file", str(hosts),
            "--heartbeat-interval", str(interval),
            "--ca-file", str(self.ca_file),
            "--admin-password-file", str(self.password_file),
        )  # fmt: skip
        self.session_servers.append(m)
        m.start()
        m.wait_healthy()
        return m

    def deploy_model(self, server: Member, model_file: Path) -> None:
        """``hostgate model deploy`` onto a session server (the running server picks it up by itself)."""
        self.hostgate("model", "deploy", str(model_file), "--data-dir", str(server.data_dir))

    def status(self, server: Member | str | None = None) -> dict[str, Any]:
        """``cluster status --json``; a degraded cluster (exit 1) or one without a majority (exit 2) still
        answers with its detail."""
        target = server.target if isinstance(server, Member) else server
        proc = self.hostgate("cluster", "status", "--json", *self.client_args(target), check=False)
        if proc.returncode not in (0, 1, 2) or not proc.stdout.strip():
            raise AssertionError(
                f"hostgate cluster status failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}"
            )
        return dict(json.loads(proc.stdout))

    def stop_all(self) -> None:
        for m in [*self.session_servers, *self.members]:
            with contextlib.suppress(Exception):
                m.terminate()


# Package data, not the source checkout: `hostgate demo` runs from an installed wheel too (issue #21).
VT_APP = host_app("vthost.py")
SAMPLE_MODELS = sample_models()


class VtTestHost:
    """The VT test host shipped in the package (a curses program under ``telnetlib3-server --pty-exec``) on
    ``address`` (127.0.0.1 unless told) and a free port, for the demo. Only this process is signalled, by PID."""

    def __init__(self, log_file: Path, address: str = "127.0.0.1") -> None:
        self.log_file = log_file
        self.address = address
        self.port = 0
        self.proc: subprocess.Popen[bytes] | None = None

    @staticmethod
    def available() -> bool:
        return VT_APP.is_file() and (SAMPLE_MODELS / "demovt.yaml").is_file()

    def start(self) -> VtTestHost:
        server = Path(PYTHON).parent / "telnetlib3-server"
        self.port = free_port(self.address)
        with self.log_file.open("ab") as log:
            self.proc = subprocess.Popen(
                [str(server), self.address, str(self.port), "--loglevel", "warning",
                 "--pty-exec", PYTHON, "--", str(VT_APP)],
                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, preexec_fn=_die_with_parent,
                env={**os.environ, "ESCDELAY": "25"},
            )  # fmt: skip

        def accepting() -> bool:
            assert self.proc is not None
            if self.proc.poll() is not None:
                raise AssertionError(f"the VT test host exited with {self.proc.returncode}")
            with socket.create_connection((self.address, self.port), timeout=0.5):
                return True

        poll("the VT test host to accept connections", accepting, 20)
        return self

    def model_file(self, directory: Path, name: str) -> Path:
        """The packaged sample demovt.yaml renamed ``name`` and pointed at this host's address and port."""
        text = (SAMPLE_MODELS / "demovt.yaml").read_text()
        text = re.sub(r"(?m)^name: .*$", f"name: {name}", text)
        text = re.sub(r"(?m)^(  address: ).*$", rf"\g<1>{self.address}", text)
        text = re.sub(r"(?m)^(  port: )\d+$", rf"\g<1>{self.port}", text)
        path = directory / f"{name}.yaml"
        path.write_text(text)
        return path

    def stop(self) -> None:
        proc, self.proc = self.proc, None
        if proc is not None and proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)


@contextlib.contextmanager
def installation(
    root: Path, member_addresses: tuple[str, ...] = (), session_addresses: tuple[str, ...] = ()
) -> Iterator[Installation]:
    root.mkdir(parents=True, exist_ok=True)
    inst = Installation(root, member_addresses=member_addresses, session_addresses=session_addresses)
    try:
        yield inst
    finally:
        inst.stop_all()


def start_cluster(inst: Installation, size: int = 3, store: str = "etcd") -> list[Member]:
    """Install and start ``size`` members the way the README says: first, then join one at a time."""
    first = inst.install_first(store=store)
    first.start()
    first.wait_healthy()
    for _ in range(size - 1):
        m = inst.join(first)
        m.start()
        m.wait_healthy()
    return inst.members
