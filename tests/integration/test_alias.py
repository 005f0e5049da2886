"""Acceptance: the cluster alias of KB 7021563, with real processes on 127.0.0.x.

Given three members (hostgate + etcd) named by one alias, in a real dnsmasq or in a hosts file of the KB's
format: when the member a client tries first hangs (SIGSTOP) or dies (kill -9), `hostgate cluster status` and
the `ClusterClient` still answer, from another member, without waiting for the hung member's deadline; when
the DNS records change, the next connection follows them with nothing restarted; and `hostgate doctor` names
what is wrong with an alias (a missing member, addresses that are no members, a server of another cluster, a
down member, reverse names, sources that disagree) and is clean on a healthy setup.

Hermetic naming: every CLI run names its source (``--hosts-file``, or ``--dns-server`` with the test's own
dnsmasq; ``doctor`` with ``--source``) and runs through a launcher that refuses OS-resolver lookups of names;
the test process refuses them too (autouse ``_no_os_resolver``). Nothing here asks the system's DNS.
"""

from __future__ import annotations

import asyncio
import gc
import ipaddress
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest

from hostgate import pki
from hostgate.cli.lab import Installation, Member, installation, start_cluster
from hostgate.connector.cluster import Answer, ClusterClient
from hostgate.connector.diagnosis import Check
from hostgate.errors import WrongCluster
from hostgate.naming import AttemptDelay
from tests.helpers.dnsmasq import Dnsmasq, dnsmasq_binary

pytestmark = [
    pytest.mark.slow,
    pytest.mark.etcd,
    pytest.mark.skipif(
        shutil.which("etcd") is None, reason="needs Debian etcd-server (make test installs it)"
    ),
]

# What a VHI-style sequential client waits on a silent address before it tries the next one.
SEQUENTIAL_TIMEOUT = 5.0
DOCS = Path(__file__).resolve().parents[2] / "docs" / "errors.md"

_LAUNCHER = """
import ipaddress, os, socket, sys

_real = socket.getaddrinfo


def _refuse_names(host, *args, **kwargs):
    # Addresses pass; a name would go to the OS resolver (and maybe the network): record it and refuse.
    if host is not None:
        name = host.decode() if isinstance(host, bytes) else str(host)
        try:
            ipaddress.ip_address(name)
        except ValueError:
            with open(os.environ["ALIAS_TEST_OS_LOOKUPS"], "a") as log:
                log.write(name + "\\n")
            raise socket.gaierror(socket.EAI_NONAME, "the test refuses OS resolver lookups")
    return _real(host, *args, **kwargs)


socket.getaddrinfo = _refuse_names
from hostgate.cli.main import cli

cli(prog_name="hostgate")
"""


def _is_address(host: object) -> bool:
    try:
        ipaddress.ip_address(host.decode() if isinstance(host, bytes) else str(host))
    except ValueError:
        return False
    return True


@pytest.fixture(autouse=True)
def _no_os_resolver(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """In this process, a name lookup through the OS resolver fails the test (addresses pass)."""
    asked: list[str] = []
    real = socket.getaddrinfo

    def refuse(host: Any, *args: Any, **kwargs: Any) -> Any:
        if host is not None and not _is_address(host):
            asked.append(str(host))
            raise socket.gaierror(socket.EAI_NONAME, "the test refuses OS resolver lookups")
        return real(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    yield
    assert not asked, f"the test process asked the OS resolver for {asked}"


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Installation]:
    with installation(tmp_path_factory.mktemp("alias")) as inst:
        start_cluster(inst, 3)
        yield inst


@pytest.fixture(scope="module")
def dns(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Dnsmasq]:
    if dnsmasq_binary() is None:
        message = "dnsmasq is not installed (Debian dnsmasq-base; `make sysdeps`)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    with Dnsmasq(tmp_path_factory.mktemp("dns")) as server:
        yield server


class Cli:
    """Runs ``hostgate`` as a user would, through the launcher that refuses OS-resolver lookups."""

    def __init__(self, root: Path) -> None:
        self.launcher = root / "hostgate-no-os-resolver.py"
        self.launcher.write_text(_LAUNCHER)
        self.lookups = root / "os-lookups"

    def __call__(
        self, *args: str | Path, rc: int = 0, os_lookups: Sequence[str] = ()
    ) -> subprocess.CompletedProcess[str]:
        self.lookups.write_text("")
        env = {k: v for k, v in os.environ.items() if not k.startswith("HOSTGATE_")}
        env.update(COLUMNS="200", ALIAS_TEST_OS_LOOKUPS=str(self.lookups))
        proc = subprocess.run(
            [sys.executable, str(self.launcher), *map(str, args)],
            capture_output=True,
            text=True,
            timeout=60,
            env=env,
        )
        assert proc.returncode == rc, (
            f"hostgate {' '.join(map(str, args))} -> {proc.returncode}:\n{proc.stdout}\n{proc.stderr}"
        )
        assert "Traceback" not in proc.stderr, proc.stderr
        assert self.lookups.read_text().split() == list(os_lookups), "unexpected OS resolver lookups"
        return proc


@pytest.fixture
def hostgate(tmp_path: Path) -> Cli:
    return Cli(tmp_path)


def kb_lines(members: Sequence[Member], alias: str, *, alias_first: Sequence[Member] = ()) -> str:
    """Hosts-file lines in the KB's format (``IP unique-name alias``); ``alias_first`` members get it wrong."""
    lines = [f"# {alias} is the common name for the management cluster"]
    for m in members:
        lines.append(f"{m.address} {alias} {m.name}" if m in alias_first else f"{m.address} {m.name} {alias}")
    return "\n".join(lines) + "\n"


def credentials(lab: Installation) -> list[str]:
    return ["--ca-file", str(lab.ca_file), "--password-file", str(lab.password_file)]


def via_dns(lab: Installation, dns: Dnsmasq, alias: str) -> list[str]:
    return ["--server", f"{alias}:{lab.api_port}", "--dns-server", dns.server, *credentials(lab)]


def member_named(lab: Installation, name: str) -> Member:
    return next(m for m in lab.members if m.name == name)


def accept_queue(member: Member) -> int:
    """Connections waiting in the member's listen queue (Linux /proc/net/tcp).

    A frozen member accepts nothing, so each connection a client opened to it stays queued, even after the
    client gave up: the count says whether a client tried the frozen member.
    """
    wanted = f"{socket.inet_aton(member.address)[::-1].hex().upper()}:{member.port:04X}"
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        if fields[1] == wanted and fields[3] == "0A":  # 0A: LISTEN
            return int(fields[4].split(":")[1], 16)
    raise AssertionError(f"nothing listens on {member.target}")


def health(lab: Installation, alias: str, **naming: Any) -> tuple[Answer, float]:
    """One call through the alias from this process (a new client each time: nothing remembered before)."""
    client = ClusterClient(f"{alias}:{lab.api_port}", ca_file=lab.ca_file, **naming)
    started = time.monotonic()
    answer = client.request_sync("GET", "/api/v1/health", auth=False)
    return answer, time.monotonic() - started


def doctor(hostgate: Cli, lab: Installation, alias: str, *args: str | Path, rc: int) -> dict[str, Any]:
    out = hostgate("doctor", f"{alias}:{lab.api_port}", "--json", *credentials(lab), *args, rc=rc).stdout
    return dict(json.loads(out))


def codes(report: dict[str, Any]) -> list[tuple[str, str | None, str | None]]:
    """(code, address, member) of every finding, sorted."""
    found = [(f["code"], f["address"], f["member"]) for f in report["findings"]]
    return sorted(found, key=lambda f: (f[0], f[1] or "", f[2] or ""))


# --- failover through the alias ------------------------------------------------------------------------------


def test_a_hung_first_member_is_passed_over_through_a_dns_alias(
    lab: Installation, dns: Dnsmasq, hostgate: Cli
) -> None:
    alias = "vhi-hung"
    dns.set_records(kb_lines(lab.members, alias))
    # The member that answered last is the one this process tries first next time (the dialer's LastGood).
    first = member_named(lab, health(lab, alias, dns_servers=[dns.server])[0].member)
    first.stop()
    try:
        queued = accept_queue(first)
        answer, took = health(lab, alias, dns_servers=[dns.server])
        assert accept_queue(first) > queued, "the client did not try the hung member first"
        assert answer.member != first.name and answer.payload["member"] == answer.member
        assert took < SEQUENTIAL_TIMEOUT, f"{took:.2f} s: the client waited on the hung member"
        # A new process follows the DNS order, which dnsmasq rotates at every query: over one rotation
        # every member comes first once, the hung one included.
        for _ in lab.members:
            # A member down: the cluster is degraded, which `cluster status` says with exit code 3. A CLI that
            # waited on the hung member would spend its whole deadline there and fail instead of answering
            # (no wall-clock bound here: a new process's start-up on a busy machine is not the dialer's cost;
            # bench/failover.py measures that cost).
            status = json.loads(
                hostgate("cluster", "status", "--json", *via_dns(lab, dns, alias), rc=1).stdout
            )
            assert status["answered_by"] != first.name
            assert {m["name"]: m["healthy"] for m in status["members"]}[first.name] is False
        assert accept_queue(first) > queued + 1, "no CLI run tried the hung member"
    finally:
        first.cont()
        gc.collect()


def test_a_killed_first_member_is_passed_over_and_the_doctor_says_refused(
    lab: Installation, dns: Dnsmasq, hostgate: Cli
) -> None:
    alias = "vhi-killed"
    dns.set_records(kb_lines(lab.members, alias))
    first = member_named(lab, health(lab, alias, dns_servers=[dns.server])[0].member)
    first.kill9()
    try:
        answer, took = health(lab, alias, dns_servers=[dns.server])
        assert answer.member != first.name
        assert took < SEQUENTIAL_TIMEOUT
        for _ in lab.members:  # one DNS rotation: the dead member comes first once
            status = json.loads(
                hostgate("cluster", "status", "--json", *via_dns(lab, dns, alias), rc=1).stdout
            )
            assert status["answered_by"] != first.name

        report = doctor(hostgate, lab, alias, "--dns-server", dns.server, "--source", "dns", rc=1)
        assert codes(report) == [(Check.REFUSED.code, first.address, first.name)]
        state = {a["address"]: a["state"] for a in report["addresses"]}
        assert state == {m.address: "refused" if m is first else "member" for m in lab.members}
    finally:
        first.start()
        first.wait_healthy()


def test_a_connectors_kept_member_connections_pass_over_a_killed_member_and_refuse_another_ca(
    lab: Installation, tmp_path: Path
) -> None:
    """The kept connections of an AsyncConnector's cluster client (``wire=True``: the connector's own HTTP/1.1
    client, issue #18) fail over like httpx's: a member killed under a kept connection is passed over (the
    dead connection is not reused, the new one is refused), and a member whose certificate another CA
    signed is reported as another cluster."""
    alias = "vhi-kept"
    hosts = tmp_path / "hosts"
    hosts.write_text(kb_lines(lab.members, alias))
    target = f"{alias}:{lab.api_port}"

    async def run() -> None:
        client = ClusterClient(target, ca_file=lab.ca_file, hosts_file=hosts, keep_alive=True, wire=True)
        try:
            first = member_named(lab, (await client.request("GET", "/api/v1/health", auth=False)).member)
            assert set(client._wires) == {first.address}
            first.kill9()
            try:
                again = await client.request("GET", "/api/v1/health", auth=False)
                assert again.member != first.name and again.payload["member"] == again.member
                assert first.address not in client._wires  # the dead member's wire was dropped
            finally:
                first.start()
        finally:
            await client.aclose()
        first.wait_healthy()
        other_ca = tmp_path / "other-ca.pem"
        other_ca.write_bytes(pki.create_ca("elsewhere").cert_pem)
        stranger = ClusterClient(
            target, ca_file=other_ca, hosts_file=hosts, keep_alive=True, wire=True, deadline=5
        )
        try:
            with pytest.raises(WrongCluster, match="not signed by this cluster's CA"):
                await stranger.request("GET", "/api/v1/health", auth=False)
        finally:
            await stranger.aclose()

    asyncio.run(run())


def test_changed_dns_records_are_followed_at_the_next_connection(
    lab: Installation, dns: Dnsmasq, hostgate: Cli
) -> None:
    alias = "vhi-moved"
    dns.set_records(kb_lines(lab.members, alias))
    client = ClusterClient(f"{alias}:{lab.api_port}", ca_file=lab.ca_file, dns_servers=[dns.server])
    client.request_sync("GET", "/api/v1/health", auth=False)
    _, two, three = lab.members
    dns.set_records(kb_lines([three], alias))
    assert client.request_sync("GET", "/api/v1/health", auth=False).member == three.name
    dns.set_records(kb_lines([two], alias))
    assert client.request_sync("GET", "/api/v1/health", auth=False).member == two.name
    status = json.loads(hostgate("cluster", "status", "--json", *via_dns(lab, dns, alias)).stdout)
    assert status["answered_by"] == two.name


def test_a_hosts_file_in_the_kb_format_works_the_same(lab: Installation, hostgate: Cli) -> None:
    hosts = lab.write_hosts_file("vhi-prod-sea")
    assert hosts.read_text().startswith("#")  # comments, then `IP unique-name alias` lines, as in the KB
    via_hosts = ["--server", f"vhi-prod-sea:{lab.api_port}", "--hosts-file", str(hosts), *credentials(lab)]
    one, two, three = lab.members
    # The first line's member is tried first; on a busy machine a later line may still answer first when the
    # first takes longer than one stagger (a hedge), so the order is checked through the hung member below.
    answered = json.loads(hostgate("cluster", "status", "--json", *via_hosts).stdout)["answered_by"]
    assert answered in {one.name, two.name, three.name}
    one.stop()
    try:
        queued = accept_queue(one)
        status = json.loads(hostgate("cluster", "status", "--json", *via_hosts, rc=1).stdout)  # degraded
        assert accept_queue(one) > queued, "the CLI did not try the first line's member"
        assert status["answered_by"] != one.name
        queued = accept_queue(one)
        answer, took = health(lab, "vhi-prod-sea", hosts_file=hosts)
        assert accept_queue(one) > queued
        # The next line of the file one stagger later (or the line after it, when the machine is so busy that
        # the second member took longer than a stagger to answer).
        assert answer.member in {two.name, three.name}
        assert took < SEQUENTIAL_TIMEOUT
    finally:
        one.cont()
        gc.collect()


def test_a_hung_member_costs_the_learned_stagger_not_the_default(lab: Installation) -> None:
    """The adaptive stagger (naming/stagger.py) with a cap of 60 s: a call that waited out the cap instead
    of the stagger learned from the healthy calls before it would blow the test's 20 s bound."""
    alias = "vhi-adaptive"
    hosts = lab.write_hosts_file(alias)
    pacer = AttemptDelay(cap=60.0)
    client = ClusterClient(f"{alias}:{lab.api_port}", ca_file=lab.ca_file, hosts_file=hosts, delay=pacer)
    for _ in range(20):  # a client that has been working: MIN_SAMPLES (16) answers and a few more
        last = client.request_sync("GET", "/api/v1/health", auth=False).member
    # The member that answered last is the one the client tries first (LastGood): that one hangs.
    one = member_named(lab, last)
    learned = pacer.delay(alias)
    assert learned < 60.0, "20 answers should have given the pacer a stagger of its own"
    before = pacer.stats
    one.stop()
    try:
        queued = accept_queue(one)
        started = time.monotonic()
        answer = client.request_sync("GET", "/api/v1/health", auth=False)
        took = time.monotonic() - started
        assert accept_queue(one) > queued, "the client did not try the hung member first"
        assert answer.member != one.name
        assert learned <= took < learned + 20.0, f"{took:.2f} s with a learned stagger of {learned:.3f} s"
        assert pacer.stats.hedges == before.hedges + 1  # exactly one extra request: to the next member
    finally:
        one.cont()
        gc.collect()


def test_an_alias_unknown_to_the_hosts_file_does_not_leak_to_the_system_resolver(
    lab: Installation, hostgate: Cli
) -> None:
    hosts = lab.write_hosts_file("vhi-prod-sea")
    unknown = f"vhi-nowhere:{lab.api_port}"
    # `cluster status` ends at the OS resolver, the last source: the launcher refused it, so the lookup
    # never left this machine, and the alias is reported unresolved.
    proc = hostgate(
        "cluster", "status", "--server", unknown, "--hosts-file", hosts, *credentials(lab),
        rc=3, os_lookups=["vhi-nowhere"],  # cluster status: could not tell (issue #21's exit codes)
    )  # fmt: skip
    assert "HG-5002" in proc.stderr and "vhi-nowhere is not in" in proc.stderr
    # The doctor asks only the sources it is given.
    report = doctor(hostgate, lab, "vhi-nowhere", "--hosts-file", hosts, "--source", "hosts_file", rc=1)
    assert codes(report) == [(Check.UNRESOLVED.code, None, None)]
    said = report["findings"][0]["message"]
    assert said == f"vhi-nowhere resolved to no address (hosts_file: vhi-nowhere is not in {hosts})"


# --- the doctor ----------------------------------------------------------------------------------------------


def test_the_doctor_is_clean_on_a_healthy_alias(
    lab: Installation, dns: Dnsmasq, hostgate: Cli, tmp_path: Path
) -> None:
    alias = "vhi-prod-sea"
    hosts = tmp_path / "hosts"
    hosts.write_text(kb_lines(lab.members, alias))
    dns.set_records(kb_lines(lab.members, alias))
    naming = [
        "--hosts-file", str(hosts), "--dns-server", dns.server, "--source", "hosts_file", "--source", "dns",
    ]  # fmt: skip
    report = doctor(hostgate, lab, alias, *naming, rc=0)
    assert report["findings"] == [] and report["ok"] is True
    assert [(a["address"], a["state"], a["member"], a["reverse"]) for a in report["addresses"]] == [
        (m.address, "member", m.name, {"hosts_file": m.name, "dns": m.name}) for m in lab.members
    ]
    assert [(m["name"], m["in_alias"]) for m in report["members"]] == [(m.name, True) for m in lab.members]
    text = hostgate("doctor", f"{alias}:{lab.api_port}", *credentials(lab), *naming).stdout
    assert "No problems found." in text
    assert all(m.name in text for m in lab.members)


def test_the_doctor_finds_a_missing_member_a_dead_address_and_another_cluster(
    lab: Installation, hostgate: Cli, tmp_path: Path
) -> None:
    one, two, three = lab.members
    with installation(tmp_path / "other") as other:
        # A lone server of another cluster (SQLite) on 127.0.0.9, same port; nothing at all on 127.0.0.8.
        other.api_port = lab.api_port
        stranger = other._new_member(8, "127.0.0.9")
        other.hostgate(
            "install", "--data-dir", str(stranger.data_dir), "--address", stranger.address,
            "--port", str(stranger.port), "--member-name", "stranger", "--name", "vhi-prod-nyc",
            "--store", "sqlite", "--admin-password-file", str(other.password_file),
        )  # fmt: skip
        other.members.append(stranger)
        stranger.start()
        stranger.wait_healthy()
        hosts = tmp_path / "hosts"
        hosts.write_text(
            f"{one.address} {one.name} vhi-prod-sea\n{two.address} {two.name} vhi-prod-sea\n"
            "127.0.0.8 spare08 vhi-prod-sea\n127.0.0.9 stranger vhi-prod-sea\n"
        )
        report = doctor(hostgate, lab, "vhi-prod-sea", "--hosts-file", hosts, "--source", "hosts_file", rc=1)
        assert codes(report) == [
            (Check.MEMBER_MISSING.code, three.address, three.name),
            (Check.NOT_A_MEMBER.code, "127.0.0.8", None),
            (Check.OTHER_CLUSTER.code, "127.0.0.9", "stranger"),
        ]
        by_code = {f["code"]: f for f in report["findings"]}
        assert "refused" in by_code[Check.NOT_A_MEMBER.code]["message"]
        assert "not signed by this cluster's CA" in by_code[Check.OTHER_CLUSTER.code]["message"]
        assert f"{three.address} {three.name} vhi-prod-sea" in by_code[Check.MEMBER_MISSING.code]["fix"]
        text = hostgate(
            "doctor", f"vhi-prod-sea:{lab.api_port}", "--hosts-file", hosts, "--source", "hosts_file",
            *credentials(lab), rc=1,
        ).stdout  # fmt: skip
        for code in (Check.MEMBER_MISSING, Check.NOT_A_MEMBER, Check.OTHER_CLUSTER):
            assert f"{code.code} error" in text
        assert text.count("fix: ") == 3


def test_the_doctor_tells_a_hung_member_from_a_refused_address(
    lab: Installation, hostgate: Cli, tmp_path: Path
) -> None:
    _, two, _ = lab.members
    hosts = tmp_path / "hosts"
    hosts.write_text(kb_lines(lab.members, "vhi-prod-sea") + "127.0.0.8 spare08 vhi-prod-sea\n")
    two.stop()
    try:
        # Without credentials the doctor cannot know whether 127.0.0.8 should be a member: it is "down".
        out = hostgate(
            "doctor", f"vhi-prod-sea:{lab.api_port}", "--json", "--ca-file", lab.ca_file,
            "--hosts-file", hosts, "--source", "hosts_file", rc=1,
        ).stdout  # fmt: skip
        report = json.loads(out)
        assert codes(report) == [
            (Check.HUNG.code, two.address, None),
            (Check.REFUSED.code, "127.0.0.8", None),
            (Check.NOT_CHECKED.code, None, None),
        ]
        # With them, the member list names the hung member and 127.0.0.8 is no member at all.
        report = doctor(hostgate, lab, "vhi-prod-sea", "--hosts-file", hosts, "--source", "hosts_file", rc=1)
        assert codes(report) == [
            (Check.NOT_A_MEMBER.code, "127.0.0.8", None),
            (Check.HUNG.code, two.address, two.name),
        ]
    finally:
        two.cont()


def test_the_doctor_reports_reverse_names_and_sources_that_disagree(
    lab: Installation, dns: Dnsmasq, hostgate: Cli, tmp_path: Path
) -> None:
    one, two, three = lab.members
    alias = "vhi-prod-sea"
    hosts = tmp_path / "hosts"
    hosts.write_text(kb_lines(lab.members, alias, alias_first=[two]))
    dns.set_records(kb_lines([one, two], alias, alias_first=[one]))
    report = doctor(
        hostgate, lab, alias, "--hosts-file", hosts, "--dns-server", dns.server,
        "--source", "hosts_file", "--source", "dns", rc=1,
    )  # fmt: skip
    assert codes(report) == [
        (Check.MEMBER_MISSING.code, three.address, three.name),  # from DNS
        (Check.REVERSE.code, one.address, one.name),  # PTR names the alias
        (Check.REVERSE.code, two.address, two.name),  # the hosts file lists the alias first
        (Check.DISAGREE.code, None, None),
    ]
    reverse = {
        (f["address"], tuple(f["sources"])) for f in report["findings"] if f["code"] == Check.REVERSE.code
    }
    assert reverse == {(one.address, ("dns",)), (two.address, ("hosts_file",))}
    disagree = next(f for f in report["findings"] if f["code"] == Check.DISAGREE.code)
    assert f"only in hosts_file: {three.address}" in disagree["message"]
    assert next(m for m in report["members"] if m["name"] == three.name)["missing_from"] == ["dns"]


def test_a_bad_hosts_file_and_a_wrong_password_are_findings(
    lab: Installation, dns: Dnsmasq, hostgate: Cli, tmp_path: Path
) -> None:
    hosts = tmp_path / "hosts"
    hosts.write_text(kb_lines(lab.members, "vhi-prod-sea") + "127.0.0.8 10.0.0.8 vhi-prod-sea\n")
    dns.set_records(kb_lines(lab.members, "vhi-prod-sea"))
    wrong = tmp_path / "wrong.pw"
    wrong.write_text("not-the-password\n")
    out = hostgate(
        "doctor", f"vhi-prod-sea:{lab.api_port}", "--json", "--ca-file", lab.ca_file, "--password-file", wrong,
        "--hosts-file", hosts, "--dns-server", dns.server, "--source", "hosts_file", "--source", "dns", rc=1,
    ).stdout  # fmt: skip
    report = json.loads(out)
    assert codes(report) == [(Check.HOSTS_FILE_BAD.code, None, None), (Check.NO_MEMBER_LIST.code, None, None)]
    assert f"{hosts}:5" in report["findings"][0]["message"]
    assert "HG-3001" in report["findings"][1]["message"]
    assert [a["state"] for a in report["addresses"]] == ["member"] * 3  # DNS still gave the alias


def test_every_doctor_code_is_in_the_catalogue() -> None:
    text = DOCS.read_text()
    section = text[text.index("## Doctor findings") :]
    listed = re.findall(r"^\| (HG-D\d\d) \| (\w+) \|", section, flags=re.MULTILINE)
    assert listed == [(c.code, c.severity.value) for c in Check]
