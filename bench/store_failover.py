"""Time from a store-leader kill -9 to the next acknowledged write: hostgate next to etcd itself.

Three hostgate members (each with its etcd member) run on 127.0.0.1-3. In each trial two writers run at once:

- **hostgate**: a client changing the cluster name through the alias (hosts file), i.e. HTTPS to a management
  member, which compare-and-sets the record in etcd;
- **etcd direct**: a raw gRPC client putting a key into the etcd members (TLS, member cert), each put with
  a 0.25 s deadline and retried at once, as a tuned etcd client would.

The member whose etcd leads is killed with kill -9 (its etcd dies with it); each writer's time from the kill
to its first acknowledged write after it is recorded. The member is restarted and the cluster healed before
the next trial. Printed: median and max of both, and their ratio (goal: hostgate <= 1.1x etcd's own).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

# Before grpc is imported: this process forks members (lab.Member.start) while its own gRPC writer runs, and
# grpc's fork handlers would run in the child between fork and exec and abort it ("Check failed ... KICKED").
os.environ.setdefault("GRPC_ENABLE_FORK_SUPPORT", "0")

import grpc
from aetcd import rpc

from hostgate.cli.lab import Installation, Member, installation, poll, start_cluster
from hostgate.connector.cluster import ClusterClient
from hostgate.errors import HostgateError


class _Writer:
    """Writes in a loop on its own thread; records the wall time of every acknowledged write."""

    def __init__(self) -> None:
        self.acks: list[tuple[float, float]] = []  # (write started, write acknowledged)
        self.stop = threading.Event()
        self.thread = threading.Thread(target=lambda: asyncio.run(self._run()), daemon=True)

    async def write(self, i: int) -> None:
        raise NotImplementedError

    async def _run(self) -> None:
        i = 0
        while not self.stop.is_set() and i < 1_000_000:
            i += 1
            started = time.monotonic()
            try:
                await self.write(i)
            except (HostgateError, grpc.RpcError, OSError):
                await asyncio.sleep(0.005)  # a failed write is retried at once, as a real client would
                continue
            self.acks.append((started, time.monotonic()))

    def first_after(self, t: float) -> float | None:
        """Acknowledgement of the first write *started* after ``t`` (one in flight at ``t`` proves nothing)."""
        return next((ack for started, ack in self.acks if started > t), None)


class HostgateWriter(_Writer):
    def __init__(self, inst: Installation, hosts: Path) -> None:
        super().__init__()
        self.client = ClusterClient(
            f"vhi-prod-sea:{inst.api_port}",
            ca_file=inst.ca_file,
            user="admin",
            password=inst.password,
            hosts_file=hosts,
            deadline=10.0,
        )

    async def write(self, i: int) -> None:
        await self.client.request("PUT", "/api/v1/cluster/name", {"name": f"bench-{i}"})


class EtcdWriter(_Writer):
    """A plain etcd client: every surviving member's client URL, pick_first, as etcd's own clients do."""

    def __init__(self, members: list[Member]) -> None:
        super().__init__()
        d = members[0].data_dir
        self.creds = grpc.ssl_channel_credentials(
            (d / "etcd-ca.pem").read_bytes(), (d / "etcd-key.pem").read_bytes(), (d / "etcd.pem").read_bytes()
        )
        self.target = "ipv4:" + ",".join(f"{m.address}:{m.etcd_client_port}" for m in members)
        self.stub: object | None = None

    async def write(self, i: int) -> None:
        if self.stub is None:
            channel = grpc.aio.secure_channel(
                self.target, self.creds, options=[("grpc.ssl_target_name_override", "hostgate-cluster")]
            )
            self.stub = rpc.KVStub(channel)
        await self.stub.Put(rpc.PutRequest(key=b"/bench/direct", value=str(i).encode()), timeout=0.25)  # type: ignore[attr-defined]


def _leader(inst: Installation) -> Member:
    status = inst.status()
    name = next(m["name"] for m in status["members"] if m["leader"])
    return next(m for m in inst.members if m.name == name)


def _healed(inst: Installation) -> bool:
    status = inst.status()
    return len(status["members"]) == 3 and all(m["healthy"] for m in status["members"]) and status["quorum"]


def run(trials: int, keep: bool) -> int:
    tmp = tempfile.mkdtemp(prefix="hostgate-bench-")
    try:
        return _run(trials, Path(tmp))
    finally:
        if keep:
            print(f"data directories and logs kept in {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)


def _run(trials: int, tmp: Path) -> int:
    with installation(tmp) as inst:
        print(f"starting 3 members on 127.0.0.1-3 ({trials} trials) ...", flush=True)
        start_cluster(inst, 3)
        hosts = inst.write_hosts_file()
        hg, raw = HostgateWriter(inst, hosts), EtcdWriter(inst.members)
        hg.thread.start()
        raw.thread.start()
        hg_times: list[float] = []
        raw_times: list[float] = []
        try:
            for trial in range(1, trials + 1):
                poll("a healed cluster", lambda: _healed(inst), 60)
                leader = _leader(inst)
                poll(
                    "both writers acknowledging",
                    lambda: (
                        hg.acks and raw.acks and time.monotonic() - min(hg.acks[-1][1], raw.acks[-1][1]) < 0.5
                    ),
                    30,
                )
                killed_at = time.monotonic()
                leader.kill9()
                poll(
                    "both writers to write again",
                    lambda t=killed_at: hg.first_after(t) and raw.first_after(t),
                    60,
                )
                h = hg.first_after(killed_at)
                r = raw.first_after(killed_at)
                assert h is not None and r is not None
                hg_times.append(h - killed_at)
                raw_times.append(r - killed_at)
                print(
                    f"  trial {trial:2d}: killed {leader.name}; hostgate {h - killed_at:.3f} s, etcd direct {r - killed_at:.3f} s",
                    flush=True,
                )
                leader.start()
                leader.wait_healthy()
        finally:
            hg.stop.set()
            raw.stop.set()
            hg.thread.join(30)
            raw.thread.join(30)
    med_h, med_r = statistics.median(hg_times), statistics.median(raw_times)
    print()
    print("store failover: time from leader kill -9 to the next acknowledged write")
    print(f"{'client':<28}{'median':>10}{'max':>10}")
    print(f"{'hostgate (alias, HTTPS)':<28}{med_h:>9.3f}s{max(hg_times):>9.3f}s")
    print(f"{'etcd direct (gRPC)':<28}{med_r:>9.3f}s{max(raw_times):>9.3f}s")
    print(f"ratio of medians hostgate/etcd: {med_h / med_r:.2f}x (goal <= 1.10x)")
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=10)
    parser.add_argument("--keep", action="store_true", help="keep the data directories and logs")
    args = parser.parse_args()
    return run(args.trials, args.keep)


if __name__ == "__main__":
    sys.exit(main())
