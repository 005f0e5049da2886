"""Acceptance: a hedged write never overwrites a later acknowledged write (issue #14, defect 1).

Given three real members behind an alias whose hosts file lists member 2 first, and member 2's etcd child
frozen (SIGSTOP): a rename sent through the real client and staggered dialer is hedged, so member 2 holds one
attempt (stuck in its store) while member 1 acknowledges it; a second client then renames the cluster again
(acknowledged). When member 2's etcd resumes (SIGCONT), its stuck attempt must not apply the stale name: it
finds the call's idempotency record and answers with the first answer instead.
"""

from __future__ import annotations

import asyncio
import base64
import os
import shutil
import signal
import ssl
import time
from pathlib import Path

import httpx
import pytest

from hostgate.cli.lab import Installation, Member, installation, poll, start_cluster
from hostgate.connector.cluster import ClusterClient

pytestmark = [
    pytest.mark.slow,
    pytest.mark.etcd,
    pytest.mark.skipif(
        shutil.which("etcd") is None, reason="needs Debian etcd-server (make test installs it)"
    ),
]

ALIAS = "vhi-hedge"  # an alias of its own: no other test's last-good member is remembered for it


def etcd_child(member: Member) -> int:
    """The PID of the etcd process the member's hostgate server started (its child, by /proc)."""
    for task in Path(f"/proc/{member.pid}/task").iterdir():
        for child in (task / "children").read_text().split():
            if Path(f"/proc/{child}/comm").read_text().strip() == "etcd":
                return int(child)
    raise AssertionError(f"{member.name} has no etcd child yet")


def names(inst: Installation) -> dict[str, str]:
    """The cluster name as each member's copy has it."""
    ctx = ssl.create_default_context(cafile=str(inst.ca_file))
    auth = "Basic " + base64.b64encode(f"admin:{inst.password}".encode()).decode()
    seen = {}
    for m in inst.members:
        resp = httpx.get(f"{m.url}/api/v1/cluster", verify=ctx, timeout=5.0, headers={"Authorization": auth})
        seen[m.name] = resp.json()["name"]
    return seen


def test_a_stale_hedged_rename_does_not_overwrite_a_later_one(tmp_path: Path) -> None:
    with installation(tmp_path / "inst") as inst:
        m1, m2, m3 = start_cluster(inst, 3)
        hosts = inst.write_hosts_file(ALIAS, order=[m2, m1, m3])
        poll("every member to see three healthy members", lambda: len(inst.status()["members"]) == 3, 60)

        def client() -> ClusterClient:
            return ClusterClient(
                f"{ALIAS}:{inst.api_port}",
                ca_file=inst.ca_file,
                user="admin",
                password=inst.password,
                hosts_file=hosts,
                # Generous: member 2's stuck attempt must still be within its deadline when etcd resumes on a
                # busy machine, so that it reaches the point where it finds the call applied.
                deadline=30.0,
            )

        # Every member verifies the password once now (argon2, then remembered): otherwise member 2's first
        # login can outlast the stagger on a busy machine, the dialer drops that attempt before member 2 has
        # read its body, and the stale attempt this test is about never happens.
        assert len(names(inst)) == 3
        frozen = poll(f"{m2.name}'s etcd child", lambda: etcd_child(m2), 30)
        os.kill(frozen, signal.SIGSTOP)
        try:
            # Member 2 is tried first; its API takes the request and then waits on its frozen etcd member, so
            # after the 0.25 s stagger the dialer sends the same request to member 1, which acknowledges it.
            first = asyncio.run(client().request("PUT", "/api/v1/cluster/name", {"name": "hedge-B"}))
            assert first.member != m2.name and first.payload["name"] == "hedge-B"
            second = asyncio.run(client().request("PUT", "/api/v1/cluster/name", {"name": "vhi-prod-sea"}))
            assert second.member != m2.name and second.payload["name"] == "vhi-prod-sea"
        finally:
            os.kill(frozen, signal.SIGCONT)

        # Before the fix, member 2's stuck attempt read the newest revision about 1 s after SIGCONT and
        # compared-and-set "hedge-B" over the acknowledged "vhi-prod-sea".
        stop_at = time.monotonic() + 8.0
        while time.monotonic() < stop_at:
            seen = names(inst)
            assert set(seen.values()) <= {"vhi-prod-sea"}, f"a stale hedged write won: {seen}"
            time.sleep(0.2)  # poll interval over the observation window
        # Member 2 did handle its attempt: it found the call applied and answered with the first answer.
        poll(
            f"{m2.name} to answer its stale attempt with the first answer",
            lambda: "answers with its answer" in m2.log_tail(200),
            30,
        )
        assert len(names(inst)) == 3
