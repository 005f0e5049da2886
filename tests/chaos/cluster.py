"""A 3-member etcd-backed hostgate cluster and 2 session servers for the nemesis, as real processes.

It reuses ``hostgate.cli.lab`` (``Member``: start, health, kill -9; the CLI as a user runs it) and adds what
the nemesis needs: each process may run inside a network namespace (``ip netns exec NS`` keeps the PID, since
``ip`` execs the command), SIGSTOP of a member's etcd child alone, and a linearizable read of the store
straight from etcd (``etcdctl get``, linearizable by default) for the end of a trial.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import shutil
import signal
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from hostgate.cli.lab import PYTHON, Member, _die_with_parent, poll
from tests.helpers.ports import common_free_port, free_port

__all__ = ["ChaosCluster", "NsMember"]

ALIAS = "vhi-chaos"
PASSWORD = "correct-horse-battery"


@dataclass
class NsMember(Member):
    """A lab member whose processes run under ``prefix`` (``ip netns exec NS``, or nothing)."""

    prefix: list[str] = field(default_factory=list)
    index: int = 0

    def start(self) -> None:
        assert self.proc is None or self.proc.poll() is not None, f"{self.name} is already running"
        with (self.data_dir.parent / f"{self.name}.server.log").open("ab") as log:
            self.proc = subprocess.Popen(
                [*self.prefix, PYTHON, "-m", "hostgate.cli.main", "server", "--data-dir", str(self.data_dir)],
                stdout=log,
                stderr=subprocess.STDOUT,
                preexec_fn=_die_with_parent,
                start_new_session=True,  # its own process group: kill -9 takes its etcd child too
                env={**os.environ, "PYTHONFAULTHANDLER": "1"},
            )
        self.stopped = False

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def children(self) -> list[int]:
        """PIDs whose parent is this member's server process (its etcd child)."""
        if not self.running:
            return []
        pids = []
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            # Field 4 (ppid) follows the parenthesised command name, which may itself hold spaces.
            fields = stat[stat.rindex(")") + 2 :].split()
            if int(fields[1]) == self.pid:
                pids.append(int(entry))
        return pids

    def signal_group(self, sig: signal.Signals) -> None:
        os.killpg(self.pid, sig)

    def kill9(self) -> None:
        assert self.proc is not None
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.pid, signal.SIGCONT)  # a stopped group must run to die promptly
            os.killpg(self.pid, signal.SIGKILL)
        self.proc.wait(15)
        self.stopped = False


@dataclass
class ChaosCluster:
    root: Path
    member_address: list[str]
    session_address: list[str]
    member_prefix: list[list[str]]
    session_prefix: list[str] = field(default_factory=list)
    members: list[NsMember] = field(default_factory=list)
    sessions: list[NsMember] = field(default_factory=list)
    # Where to ask the kernel for free ports: ``None`` = each process's own address (one namespace for all);
    # inside namespaces every port of a fresh namespace is free, so the hub's address stands in.
    probe_address: str | None = None
    api_port: int = 0
    heartbeat: float = 0.5

    def __post_init__(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        if not self.api_port:
            probe = [self.probe_address] if self.probe_address else self.member_address
            self.api_port = common_free_port(probe)

    def _port(self, address: str) -> int:
        return free_port(self.probe_address or address)

    # --- files a client needs --------------------------------------------------------------------------

    @property
    def ca_file(self) -> Path:
        return self.members[0].data_dir / "ca.pem"

    @property
    def password_file(self) -> Path:
        path = self.root / "admin.pw"
        if not path.exists():
            path.write_text(PASSWORD + "\n")
        return path

    @property
    def hosts_file(self) -> Path:
        return self.root / "hosts"

    @property
    def target(self) -> str:
        return f"{ALIAS}:{self.api_port}"

    def write_hosts_file(self, members: list[NsMember] | None = None) -> Path:
        lines = ["# hostgate nemesis installation (tests/chaos)", f'# "{ALIAS}" names the management cluster']
        lines += [f"{m.address} {m.name} {ALIAS}" for m in (self.members if members is None else members)]
        # Replaced in one rename: running clients re-read it at every call and must never see it half-written.
        tmp = self.hosts_file.with_suffix(".tmp")
        tmp.write_text("\n".join(lines) + "\n")
        os.replace(tmp, self.hosts_file)
        return self.hosts_file

    # --- install ---------------------------------------------------------------------------------------

    def _cli(self, prefix: list[str], *args: str, timeout: float = 120.0) -> str:
        env = {k: v for k, v in os.environ.items() if not k.startswith("HOSTGATE_")}
        env["COLUMNS"] = "200"
        proc = subprocess.run(
            [*prefix, PYTHON, "-m", "hostgate.cli.main", *args],
            capture_output=True,
            text=True,
            timeout=timeout,
            env=env,
        )
        if proc.returncode != 0:
            raise AssertionError(
                f"hostgate {' '.join(args)} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}"
            )
        return proc.stdout

    def _member(self, index: int) -> NsMember:
        address = self.member_address[index]
        name = f"workhorse{index + 1:02d}"
        return NsMember(
            name=name,
            address=address,
            data_dir=self.root / name,
            port=self.api_port,
            etcd_client_port=self._port(address),
            etcd_peer_port=self._port(address),
            prefix=self.member_prefix[index],
            index=index,
        )

    def install(self, size: int = 3, sessions: int = 2) -> None:
        """First member, then joins one at a time (the README's order), then session servers via the alias."""
        for i in range(size):
            m = self._member(i)
            args = [
                "install",
                "--data-dir", str(m.data_dir),
                "--address", m.address,
                "--port", str(m.port),
                "--member-name", m.name,
                "--etcd-client-port", str(m.etcd_client_port),
                "--etcd-peer-port", str(m.etcd_peer_port),
                "--admin-password-file", str(self.password_file),
            ]  # fmt: skip
            if i == 0:
                args += ["--name", ALIAS, "--store", "etcd"]
            else:
                args += ["--join", self.members[0].target, "--ca-file", str(self.ca_file)]
            self._cli(m.prefix, *args)
            self.members.append(m)
            m.start()
            m.wait_healthy(90)
        # Session servers register through an alias naming only the first member, so setup cannot trip over
        # a hedged registration (issue #14: the second attempt answers "already registered"; seen at install
        # under load). The alias is re-read at every call (KB 7021563), so their heartbeats reach all three
        # members once the full hosts file is in place.
        self.write_hosts_file(self.members[:1])
        for s in range(sessions):
            self.add_session_server(s)
        self.write_hosts_file()

    def add_session_server(self, index: int) -> NsMember:
        address = self.session_address[index]
        m = NsMember(
            name=f"session{index + 1:02d}",
            address=address,
            data_dir=self.root / f"session{index + 1:02d}",
            port=self._port(address),
            etcd_client_port=0,
            etcd_peer_port=0,
            prefix=self.session_prefix,
            index=index,
        )
        self._cli(
            self.session_prefix,
            "install", "--role", "session",
            "--data-dir", str(m.data_dir),
            "--address", m.address,
            "--port", str(m.port),
            "--member-name", m.name,
            "--management", self.target,
            "--hosts-file", str(self.hosts_file),
            "--heartbeat-interval", str(self.heartbeat),
            "--ca-file", str(self.ca_file),
            "--admin-password-file", str(self.password_file),
        )  # fmt: skip
        self.sessions.append(m)
        m.start()
        m.wait_healthy(60)
        return m

    # --- the truth, straight from etcd ------------------------------------------------------------------

    def etcd_read(self, prefix: str = "/hostgate/", deadline: float = 60.0) -> dict[str, bytes]:
        """A linearizable range read of ``prefix`` from any member's etcd (etcdctl's default consistency)."""
        etcdctl = shutil.which("etcdctl") or "etcdctl"

        def attempt() -> dict[str, bytes] | None:
            for m in self.members:
                if not m.running:
                    continue
                d = m.data_dir
                proc = subprocess.run(
                    [
                        *m.prefix, etcdctl,
                        f"--endpoints=https://{m.address}:{m.etcd_client_port}",
                        f"--cacert={d / 'etcd-ca.pem'}", f"--cert={d / 'etcd.pem'}", f"--key={d / 'etcd-key.pem'}",
                        "--command-timeout=5s", "get", prefix, "--prefix", "-w", "json",
                    ],
                    capture_output=True, text=True, timeout=30, env={**os.environ, "ETCDCTL_API": "3"},
                )  # fmt: skip
                if proc.returncode == 0:
                    kvs = json.loads(proc.stdout).get("kvs", [])
                    return {base64.b64decode(kv["key"]).decode(): base64.b64decode(kv["value"]) for kv in kvs}
            return None

        result: dict[str, bytes] = poll("a linearizable read from etcd", attempt, deadline, 0.2)
        return result

    def stop_all(self) -> None:
        for m in [*self.sessions, *self.members]:
            with contextlib.suppress(Exception):
                if m.running:
                    os.killpg(m.pid, signal.SIGCONT)
                m.terminate()
