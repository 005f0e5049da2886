"""The nemesis: one fault at a time, chosen by a seeded random generator, held, then healed.

Kinds (each a real signal or a real link, never a mock):

- ``kill-member``: kill -9 a member's process group (hostgate and its etcd child at once), then restart it;
  the current etcd leader is chosen more often than the others (``leader_bias``).
- ``stop-member``: SIGSTOP the whole member (hostgate and etcd), later SIGCONT.
- ``stop-etcd``: SIGSTOP only the member's etcd child (the API still accepts requests and cannot finish them).
- ``stop-api``: SIGSTOP only the hostgate process (its etcd keeps voting).
- ``kill-session``: kill -9 a session server, then restart it.
- ``partition``: cut a member off (its veth down: peers and clients lose it), then heal.

Faults are applied from the main thread while the clients' event loop runs on another; every window is
recorded with monotonic start and end times for the availability figures.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import subprocess
import threading
import time
from dataclasses import dataclass, field

from tests.chaos.cluster import ChaosCluster, NsMember
from tests.chaos.netns import Netns

__all__ = ["ALL_KINDS", "Fault", "Nemesis"]

ALL_KINDS = ("kill-member", "stop-member", "stop-etcd", "stop-api", "kill-session", "partition")
_WEIGHTS = {
    "kill-member": 3,
    "stop-member": 2,
    "stop-etcd": 1,
    "stop-api": 1,
    "kill-session": 1,
    "partition": 2,
}


@dataclass
class Fault:
    kind: str
    target: str
    start: float
    end: float = 0.0
    leader: bool = False
    problem: str = ""  # a heal that did not work (a finding in itself)


@dataclass
class Nemesis:
    cluster: ChaosCluster
    rng: random.Random
    kinds: tuple[str, ...]
    netns: Netns | None = None
    hold: tuple[float, float] = (1.0, 3.0)
    gap: tuple[float, float] = (0.5, 1.5)
    leader_bias: float = 0.6
    faults: list[Fault] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)

    def run(self, stop_at: float, done: threading.Event) -> None:
        """Inject faults until ``stop_at`` or until ``done`` is set (the clients finished early).

        Runs on the main thread on purpose: processes it restarts die with the *thread* that started them
        (PR_SET_PDEATHSIG fires when the creating thread exits, prctl(2)), so they must not be started from a
        short-lived thread.
        """
        # A bounded loop: at most one fault per (gap + hold), and never past stop_at.
        for _ in range(1000):
            if done.is_set() or time.monotonic() + self.hold[0] >= stop_at:
                return
            if done.wait(self.rng.uniform(*self.gap)):
                return
            kind = self.rng.choices(self.kinds, [_WEIGHTS[k] for k in self.kinds])[0]
            self._stop = done
            self._inject(kind, stop_at)

    def _hold(self, stop_at: float) -> None:
        self._stop.wait(min(self.rng.uniform(*self.hold), max(0.0, stop_at - time.monotonic())))

    def _pick_member(self) -> tuple[NsMember, bool]:
        leader = self.leader()
        if leader is not None and self.rng.random() < self.leader_bias:
            return leader, True
        m = self.rng.choice(self.cluster.members)
        return m, m is leader

    def _inject(self, kind: str, stop_at: float) -> None:
        if kind == "kill-session":
            s = self.rng.choice(self.cluster.sessions)
            fault = Fault(kind, s.name, time.monotonic())
            self.faults.append(fault)
            s.kill9()
            self._hold(stop_at)
            fault.problem = _restart(s, 60)
            fault.end = time.monotonic()
            return
        m, is_leader = self._pick_member()
        fault = Fault(kind, m.name, time.monotonic(), leader=is_leader)
        self.faults.append(fault)
        if kind == "kill-member":
            m.kill9()
            self._hold(stop_at)
            fault.problem = _restart(m, 90)
        elif kind in ("stop-member", "stop-etcd", "stop-api"):
            pids = {"stop-member": [-m.pid], "stop-etcd": m.children(), "stop-api": [m.pid]}[kind]
            _signal(pids, signal.SIGSTOP)
            m.stopped = True
            self._hold(stop_at)
            _signal(pids, signal.SIGCONT)
            m.stopped = False
        elif kind == "partition":
            assert self.netns is not None, "partitions need network namespaces"
            self.netns.cut(m.index)
            self._hold(stop_at)
            self.netns.heal(m.index)
        else:
            raise ValueError(f"unknown fault kind {kind!r}")
        fault.end = time.monotonic()

    def leader(self) -> NsMember | None:
        """The member whose etcd leads now (etcdctl endpoint status), or ``None`` if none answers in time."""
        etcdctl = shutil.which("etcdctl") or "etcdctl"
        live = [m for m in self.cluster.members if m.running and not m.stopped]
        if not live:
            return None
        d = live[0].data_dir
        endpoints = ",".join(f"https://{m.address}:{m.etcd_client_port}" for m in live)
        try:
            proc = subprocess.run(
                [
                    etcdctl, f"--endpoints={endpoints}", f"--cacert={d / 'etcd-ca.pem'}", f"--cert={d / 'etcd.pem'}",
                    f"--key={d / 'etcd-key.pem'}", "--command-timeout=1s", "endpoint", "status", "-w", "json",
                ],
                capture_output=True, text=True, timeout=10, env={**os.environ, "ETCDCTL_API": "3"},
            )  # fmt: skip
            rows = json.loads(proc.stdout or "[]")
        except (subprocess.TimeoutExpired, ValueError):
            return None
        by_endpoint = {f"https://{m.address}:{m.etcd_client_port}": m for m in live}
        for row in rows:
            status = row.get("Status", {})
            if status.get("leader") and status.get("leader") == status.get("header", {}).get("member_id"):
                return by_endpoint.get(row.get("Endpoint", ""))
        return None

    def heal_all(self) -> list[str]:
        """Undo anything still in force (after a failed trial too): links up, processes running and started."""
        problems = []
        if self.netns is not None:
            for m in self.cluster.members:
                self.netns.heal(m.index)
        for m in [*self.cluster.members, *self.cluster.sessions]:
            if m.running:
                _signal([-m.pid], signal.SIGCONT)
                m.stopped = False
            else:
                problem = _restart(m, 90)
                if problem:
                    problems.append(problem)
        return problems


def _signal(pids: list[int], sig: signal.Signals) -> None:
    for pid in pids:
        try:
            if pid < 0:
                os.killpg(-pid, sig)
            else:
                os.kill(pid, sig)
        except ProcessLookupError:
            pass


def _restart(m: NsMember, deadline: float) -> str:
    """Start ``m`` again and wait until it answers; the problem as text if it does not."""
    try:
        m.start()
        m.wait_healthy(deadline)
    except AssertionError as exc:
        return f"{m.name} did not come back: {str(exc)[-600:]}"
    return ""
