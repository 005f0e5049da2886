"""Network namespaces joined by veth pairs, so a member can be cut off (and healed) for real.

Layout (every name starts with a unique per-run prefix, so concurrent runs and leftovers never collide):

    PREFIX-hub   the clients, the session servers and a bridge ``br0`` (127.77.0.1/16, session servers .11+)
    PREFIX-m0    member 0 on ``eth0`` = 127.77.0.2/16, its peer ``m0`` enslaved to ``br0`` in the hub
    PREFIX-m1    member 1 on 127.77.0.3/16 ...

Only loopback addresses are used, on the veths: ``net.ipv4.conf.*.route_localnet=1`` in every namespace lets
127/8 travel on a non-loopback link (Linux ``ip-sysctl.txt``: "route_localnet - Do not consider loopback
addresses as martian source or destination while routing"). ``lo`` must be up (the kernel delivers traffic
to a namespace's own addresses through it), but its usual ``127.0.0.1/8`` installs ``local 127.0.0.0/8 dev lo``,
which would swallow the other members' 127.77 addresses: it is replaced by ``127.0.0.1/32``. Nothing leaves
the namespaces this module creates; the root namespace is not touched.

A partition is ``ip link set m<i> down`` on the hub side: packets to and from the member are dropped (no RST),
as a pulled cable or a dead switch port would.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import signal
import subprocess
from dataclasses import dataclass, field

__all__ = ["SUBNET", "Netns", "netns_unavailable_reason"]

SUBNET = "127.77"
_IP = shutil.which("ip") or "/sbin/ip"


def _ip(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run([_IP, *args], capture_output=True, text=True, timeout=30)
    if check and proc.returncode != 0:
        raise RuntimeError(f"ip {' '.join(args)} failed: {proc.stderr.strip()}")
    return proc


def netns_unavailable_reason() -> str | None:
    """``None`` if this process can create network namespaces (as root), else why not."""
    if os.geteuid() != 0:
        return "network namespaces need root (ip netns add)"
    if not os.path.exists(_IP):
        return "the ip command (iproute2) is not installed"
    probe = f"hgprobe{secrets.token_hex(3)}"
    proc = _ip("netns", "add", probe, check=False)
    if proc.returncode != 0:
        return f"ip netns add failed: {proc.stderr.strip()}"
    _ip("netns", "del", probe, check=False)
    return None


@dataclass
class Netns:
    members: int
    sessions: int = 2
    prefix: str = field(default_factory=lambda: f"hgc{secrets.token_hex(3)}")
    created: list[str] = field(default_factory=list)

    @property
    def hub(self) -> str:
        return f"{self.prefix}-hub"

    def member_ns(self, index: int) -> str:
        return f"{self.prefix}-m{index}"

    @staticmethod
    def member_address(index: int) -> str:
        return f"{SUBNET}.0.{index + 2}"

    @staticmethod
    def session_address(index: int) -> str:
        return f"{SUBNET}.0.{index + 11}"

    @staticmethod
    def hub_address() -> str:
        return f"{SUBNET}.0.1"

    def exec_prefix(self, ns: str) -> list[str]:
        return [_IP, "netns", "exec", ns]

    def _localnet(self, ns: str, *interfaces: str) -> None:
        keys = ["all", "default", *interfaces]
        args = [f"net.ipv4.conf.{k}.route_localnet=1" for k in keys]
        proc = subprocess.run(
            [*self.exec_prefix(ns), "sysctl", "-qw", *args], capture_output=True, text=True, timeout=30
        )
        if proc.returncode != 0:
            raise RuntimeError(f"sysctl route_localnet in {ns} failed: {proc.stderr.strip()}")

    def _loopback(self, ns: str) -> None:
        _ip("-n", ns, "link", "set", "lo", "up")
        _ip("-n", ns, "addr", "del", "127.0.0.1/8", "dev", "lo")
        _ip("-n", ns, "addr", "add", "127.0.0.1/32", "dev", "lo")

    def create(self) -> None:
        _ip("netns", "add", self.hub)
        self.created.append(self.hub)
        self._loopback(self.hub)
        _ip("-n", self.hub, "link", "add", "br0", "type", "bridge")
        _ip("-n", self.hub, "link", "set", "br0", "up")
        self._localnet(self.hub, "br0")
        _ip("-n", self.hub, "addr", "add", f"{self.hub_address()}/16", "dev", "br0")
        for s in range(self.sessions):
            _ip("-n", self.hub, "addr", "add", f"{self.session_address(s)}/16", "dev", "br0")
        for i in range(self.members):
            ns = self.member_ns(i)
            _ip("netns", "add", ns)
            self.created.append(ns)
            self._loopback(ns)
            hub_side = f"m{i}"
            _ip(
                "link",
                "add",
                hub_side,
                "netns",
                self.hub,
                "type",
                "veth",
                "peer",
                "name",
                "eth0",
                "netns",
                ns,
            )
            _ip("-n", self.hub, "link", "set", hub_side, "master", "br0")
            self._localnet(self.hub, hub_side)
            self._localnet(ns, "eth0")
            _ip("-n", ns, "addr", "add", f"{self.member_address(i)}/16", "dev", "eth0")
            _ip("-n", self.hub, "link", "set", hub_side, "up")
            _ip("-n", ns, "link", "set", "eth0", "up")

    def cut(self, index: int) -> None:
        """Cut member ``index`` off from everyone (peers and clients): its hub-side link goes down."""
        _ip("-n", self.hub, "link", "set", f"m{index}", "down")

    def heal(self, index: int) -> None:
        _ip("-n", self.hub, "link", "set", f"m{index}", "up")

    def destroy(self) -> None:
        """Kill what still runs inside our namespaces (ours by construction), then delete them."""
        for ns in reversed(self.created):
            proc = _ip("netns", "pids", ns, check=False)
            for pid in proc.stdout.split():
                with contextlib.suppress(ProcessLookupError, ValueError):
                    os.kill(int(pid), signal.SIGKILL)
        for ns in reversed(self.created):
            _ip("netns", "del", ns, check=False)
        self.created.clear()
