"""Issue #21 against 3 real members (hostgate + etcd processes): `cluster move-leader` hands the store leadership
over (etcd MoveLeader, sent to the leader), `cluster status` exits 1 while a member is down, and `cluster
hosts-file` lists every member."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator

import pytest

from hostgate.cli.lab import Installation, installation, poll, start_cluster

pytestmark = [
    pytest.mark.slow,
    pytest.mark.etcd,
    pytest.mark.skipif(
        shutil.which("etcd") is None, reason="needs Debian etcd-server (make test installs it)"
    ),
]


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Installation]:
    with installation(tmp_path_factory.mktemp("move-leader")) as inst:
        start_cluster(inst, 3)
        yield inst


def _leader(inst: Installation) -> str:
    status = inst.status()
    leaders = [m["name"] for m in status["members"] if m["leader"]]
    assert len(leaders) == 1, status
    return str(leaders[0])


def test_move_leader_hands_the_store_leadership_to_the_member(cluster: Installation) -> None:
    before = _leader(cluster)
    target = next(m.name for m in cluster.members if m.name != before)
    done = cluster.hostgate("cluster", "move-leader", target, *cluster.client_args())
    assert f"Store leadership moved from {before} to {target}." in done.stdout
    assert poll("every member to see the new leader", lambda: _leader(cluster) == target, 30)
    again = cluster.hostgate("cluster", "move-leader", target, *cluster.client_args())
    assert f"Member {target} already leads the store" in again.stdout
    # Writes go on under the new leader.
    cluster.hostgate("domain", "create", "after-move", *cluster.client_args())


def test_move_leader_to_no_member_is_refused(cluster: Installation) -> None:
    done = cluster.hostgate("cluster", "move-leader", "nobody", *cluster.client_args(), check=False)
    assert done.returncode == 1 and "error HG-4003" in done.stderr and "workhorse01" in done.stderr


def test_hosts_file_lists_every_member(cluster: Installation) -> None:
    done = cluster.hostgate("cluster", "hosts-file", *cluster.client_args())
    rows = [line.split() for line in done.stdout.splitlines() if line and not line.startswith("#")]
    assert rows == [[m.address, m.name, "vhi-prod-sea"] for m in cluster.members]


def test_status_exits_1_while_a_member_is_down(cluster: Installation) -> None:
    # Last: stops a member. Take the leadership off it first, as an operator would.
    victim = cluster.members[2]
    keeper = cluster.members[0]
    cluster.hostgate("cluster", "move-leader", keeper.name, *cluster.client_args())
    victim.kill9()
    done = poll(
        "status to see the member down",
        lambda: (
            (p := cluster.hostgate("cluster", "status", *cluster.client_args(), check=False)).returncode == 1
            and p
        ),
        60,
    )
    assert "Degraded" in done.stdout
    watch = cluster.hostgate("cluster", "status", "--json", *cluster.client_args(), check=False)
    assert watch.returncode == 1 and json.loads(watch.stdout)["degraded"] is True
