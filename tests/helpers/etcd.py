"""Real etcd clusters on loopback (127.0.0.1, .2, .3 ...) with free ports and certificates from hostgate.pki.

The processes are plain ``subprocess.Popen`` children (so a session-scoped cluster does not belong to any one
test's event loop), started with the command line ``EtcdMember`` builds, and signalled only by their PID.
Readiness is polled with a deadline over TLS.

    cluster = EtcdCluster(tmp_path, size=3)
    cluster.start()               # returns when every member answers and one leads
    store = cluster.store()       # an EtcdStore on all members, the first one preferred
    cluster.nodes[1].freeze()     # SIGSTOP, .thaw() SIGCONT, .kill() SIGKILL
    cluster.close()
"""

from __future__ import annotations

import asyncio
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import grpc
import pytest
from aetcd import rpc

from hostgate import pki
from hostgate.config.settings import EtcdSettings, ServerSettings, Settings, StoreBackend
from hostgate.errors import QuorumLost, StoreUnavailable
from hostgate.store.etcd import EtcdStore, EtcdTls, grpc_target
from hostgate.store.etcd_member import EtcdMember, die_with_parent
from tests.helpers.ports import free_port

__all__ = [
    "ETCD",
    "LOADED",
    "EtcdCluster",
    "EtcdNode",
    "put_eventually",
    "requires_etcd",
    "write_member_files",
]

ETCD = shutil.which("etcd")
requires_etcd = pytest.mark.skipif(
    ETCD is None, reason="needs the etcd binary (Debian etcd-server; `make sysdeps` installs it)"
)

# Deadline for anything that waits on etcd elections or start-up in tests. On an idle machine an election takes
# 1-2 s (election timeout 1000 ms, randomised up to 2x, plus a pre-vote round); with the 2 cores shared by other
# jobs, etcd's timers fire late and rounds split, and a leader kill once took more than the store's 5 s write
# timeout (#14.9). Generous, because these are upper bounds of polls, not waits.
LOADED = 60.0


async def put_eventually(store: EtcdStore, key: str, value: bytes, timeout: float = LOADED) -> int:
    """``store.put`` until it succeeds, for a write right after a fault (a kill, a restart, a freeze).

    Safe to repeat: a put of the same value is idempotent, and ``EtcdStore.put`` is at-least-once across a
    leader failure anyway. ``QuorumLost`` (no leader yet, or none for longer than ``election_grace``) and
    ``StoreUnavailable`` (the channel is moving to another member) mean "not yet" here.
    """
    loop = asyncio.get_running_loop()
    stop_at = loop.time() + timeout
    while True:
        try:
            return await store.put(key, value)
        except (QuorumLost, StoreUnavailable):
            if loop.time() >= stop_at:
                raise
        await asyncio.sleep(0.05)  # retry interval, bounded by the deadline


def write_member_files(data_dir: Path, ca: pki.CertPair, name: str, address: str) -> None:
    """ca.pem, member.pem and member-key.pem as ``hostgate install`` lays them out, and the etcd files
    (etcd-ca.pem, etcd.pem, etcd-key.pem); here ``ca`` plays both CAs, which the store tests cannot tell."""
    data_dir.mkdir(parents=True, exist_ok=True)
    member = pki.issue_member_cert(ca, name, [address])
    for ca_name, cert_name, key_name in (
        ("ca.pem", "member.pem", "member-key.pem"),
        ("etcd-ca.pem", "etcd.pem", "etcd-key.pem"),
    ):
        (data_dir / ca_name).write_bytes(ca.cert_pem)
        (data_dir / cert_name).write_bytes(member.cert_pem)
        key = data_dir / key_name
        key.write_bytes(member.key_pem)
        key.chmod(0o600)


@dataclass
class EtcdNode:
    settings: Settings
    proc: subprocess.Popen[bytes] | None = None

    @property
    def name(self) -> str:
        return self.settings.server.member_name

    @property
    def client_url(self) -> str:
        return self.settings.etcd_client_url

    @property
    def peer_url(self) -> str:
        return self.settings.etcd_peer_url

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def start(self) -> None:
        member = EtcdMember(self.settings)
        log_path = member.log_path
        log_path.parent.mkdir(parents=True, exist_ok=True)
        with log_path.open("ab") as out:
            self.proc = subprocess.Popen(
                member.command(),
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                env=member.environment(),
                preexec_fn=die_with_parent(),
                process_group=0,
            )

    def _signal(self, sig: signal.Signals) -> None:
        assert self.proc is not None and self.proc.poll() is None, f"{self.name} is not running"
        self.proc.send_signal(sig)  # our own child, by PID

    def freeze(self) -> None:
        self._signal(signal.SIGSTOP)

    def thaw(self) -> None:
        self._signal(signal.SIGCONT)

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)

    def log_tail(self, lines: int = 30) -> str:
        path = self.settings.data_dir / "logs" / "etcd.log"
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:]) if path.exists() else ""


@dataclass
class EtcdCluster:
    root: Path
    size: int = 3
    cluster_id: str = "test-cluster"
    nodes: list[EtcdNode] = field(default_factory=list)

    def __post_init__(self) -> None:
        assert ETCD is not None, "etcd binary missing"
        self.ca = pki.create_ca(self.cluster_id)
        specs = []
        for i in range(self.size):
            address = f"127.0.0.{i + 1}"
            specs.append((f"m{i + 1}", address, free_port(address), free_port(address)))
        initial = ",".join(f"{n}=https://{a}:{peer}" for n, a, _, peer in specs)
        for name, address, client, peer in specs:
            self.nodes.append(EtcdNode(self._settings(name, address, client, peer, initial, "new")))

    def _settings(
        self, name: str, address: str, client: int, peer: int, initial_cluster: str, state: str
    ) -> Settings:
        data_dir = self.root / name
        write_member_files(data_dir, self.ca, name, address)
        return Settings(
            data_dir=data_dir,
            server=ServerSettings(member_name=name, address=address, cluster_id=self.cluster_id),
            store=StoreBackend.ETCD,
            etcd=EtcdSettings(
                client_port=client,
                peer_port=peer,
                initial_cluster=initial_cluster,
                initial_cluster_state=state,
                binary=ETCD or "etcd",
            ),
        )

    def joiner(self, name: str, address: str, members: Sequence[tuple[str, str]]) -> EtcdNode:
        """Settings for a new member joining the running cluster (``members``: every (name, peer URL))."""
        client, peer = free_port(address), free_port(address)
        initial = ",".join([*(f"{n}={u}" for n, u in members), f"{name}=https://{address}:{peer}"])
        node = EtcdNode(self._settings(name, address, client, peer, initial, "existing"))
        self.nodes.append(node)
        return node

    @property
    def endpoints(self) -> list[str]:
        return [n.client_url for n in self.nodes]

    @property
    def tls(self) -> EtcdTls:
        return EtcdTls.from_settings(self.nodes[0].settings)

    def store(self, first: int = 0, *, write_timeout: float = 5.0, election_grace: float = 3.0) -> EtcdStore:
        """An EtcdStore dialling every member, ``nodes[first]`` preferred."""
        order = [self.nodes[first], *(n for i, n in enumerate(self.nodes) if i != first)]
        return EtcdStore(
            [n.client_url for n in order],
            self.tls,
            write_timeout=write_timeout,
            election_grace=election_grace,
        )

    def status(self, node: EtcdNode, timeout: float = 1.0) -> rpc.StatusResponse | None:
        """The member's Maintenance Status over a blocking channel, or None if it does not answer."""
        tls = self.tls
        with grpc.secure_channel(
            grpc_target([node.client_url]), tls.credentials(), options=tls.channel_options()
        ) as channel:
            try:
                return rpc.MaintenanceStub(channel).Status(rpc.StatusRequest(), timeout=timeout)
            except grpc.RpcError:
                return None

    def wait_healthy(
        self, nodes: Sequence[EtcdNode] | None = None, timeout: float = LOADED, *, not_leader: int = 0
    ) -> int:
        """Poll until every given member answers and they agree on a leader (other than ``not_leader``).

        Returns the leader's member id.
        """
        nodes = list(nodes if nodes is not None else self.nodes)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for node in nodes:
                if node.proc is not None and node.proc.poll() is not None:
                    raise AssertionError(
                        f"etcd {node.name} exited with {node.proc.returncode}:\n{node.log_tail()}"
                    )
            answers = [self.status(n) for n in nodes]
            leaders = {a.leader for a in answers if a is not None}
            if all(a is not None for a in answers) and len(leaders) == 1 and not leaders & {0, not_leader}:
                return leaders.pop()
            time.sleep(0.05)  # poll interval, bounded by the deadline
        tails = "\n".join(f"--- {n.name}\n{n.log_tail(10)}" for n in nodes)
        raise AssertionError(f"etcd cluster not healthy within {timeout} s\n{tails}")

    def leader_node(self) -> EtcdNode:
        leader = self.wait_healthy([n for n in self.nodes if n.running])
        for node in self.nodes:
            answer = self.status(node) if node.running else None
            if answer is not None and answer.header.member_id == leader:
                return node
        raise AssertionError("no member claims to be the leader")

    def start(self, nodes: Sequence[EtcdNode] | None = None, timeout: float = LOADED) -> None:
        """Start the given members (default: all) and wait until they answer and agree on a leader."""
        nodes = list(nodes if nodes is not None else self.nodes)
        for node in nodes:
            if not node.running:
                node.start()
        self.wait_healthy(nodes, timeout=timeout)

    def close(self) -> None:
        for node in self.nodes:
            node.kill()  # SIGKILL ends frozen members too


# --- fixtures (registered for every test by tests/conftest.py) ------------------------------------------


@pytest.fixture(scope="session")
def etcd_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EtcdCluster]:
    """One healthy 3-member cluster for the whole run (one per pytest-xdist worker under ``make test``); tests
    share it and use their own key prefixes.

    Tests that stop, freeze or reconfigure members use ``etcd_cluster_fn`` instead.
    """
    if ETCD is None:
        pytest.skip("needs the etcd binary (Debian etcd-server; `make sysdeps` installs it)")
    cluster = EtcdCluster(tmp_path_factory.mktemp("etcd"))
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.close()


@pytest.fixture
def etcd_cluster_fn(tmp_path: Path) -> Iterator[EtcdCluster]:
    """A 3-member cluster of this test's own, for destructive tests."""
    if ETCD is None:
        pytest.skip("needs the etcd binary (Debian etcd-server; `make sysdeps` installs it)")
    cluster = EtcdCluster(tmp_path / "etcd")
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.close()
