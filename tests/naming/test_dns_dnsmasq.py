"""DNS against a real dnsmasq on loopback: A + AAAA, NXDOMAIN, NODATA, timeouts, and a changed alias
followed at the next resolve with no restart of anything (KB 7021563: DNS caching disabled)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from hostgate.errors import ResolutionFailed
from hostgate.naming import AliasResolver, DnsAnswer, DnsClient, SourceStatus

if TYPE_CHECKING:
    from .conftest import Dnsmasq, MakeDnsmasq

BOUND = 5.0
CLUSTER = "127.0.0.11 workhorse01 vhi-test\n127.0.0.12 workhorse02 vhi-test\n::1 workhorse01 vhi-test\n"


async def test_a_and_aaaa_records_come_back_ipv4_first(dnsmasq: Dnsmasq) -> None:
    dnsmasq.set_records(CLUSTER)
    answer = await DnsClient([dnsmasq.server], timeout=2.0).lookup("vhi-test")
    assert answer.error is None
    assert sorted(answer.addresses[:2]) == ["127.0.0.11", "127.0.0.12"]  # dnsmasq rotates them
    assert answer.addresses[2:] == ("::1",)


async def test_names_are_asked_without_regard_to_case_or_a_trailing_dot(dnsmasq: Dnsmasq) -> None:
    dnsmasq.set_records("127.0.0.11 workhorse01 vhi-test\n")
    client = DnsClient([dnsmasq.server], timeout=2.0)
    assert (await client.lookup("VHI-Test.")).addresses == ("127.0.0.11",)


async def test_an_unknown_name_is_nxdomain_not_a_failure(dnsmasq: Dnsmasq) -> None:
    answer = await DnsClient([dnsmasq.server], timeout=2.0).lookup("vhi-nowhere")
    assert answer == DnsAnswer((), f"NXDOMAIN: {dnsmasq.server} says vhi-nowhere does not exist")


async def test_a_name_without_address_records_is_not_found(make_dnsmasq: MakeDnsmasq) -> None:
    server = make_dnsmasq(extra_args=["--txt-record=txt-only,hello"])
    answer = await DnsClient([server.server], timeout=2.0).lookup("txt-only")
    assert answer == DnsAnswer((), f"{server.server} has no A or AAAA record for txt-only")


async def test_a_cname_is_followed_to_its_addresses(make_dnsmasq: MakeDnsmasq) -> None:
    server = make_dnsmasq("127.0.0.11 workhorse01\n", extra_args=["--cname=vhi-cname,workhorse01"])
    answer = await DnsClient([server.server], timeout=2.0).lookup("vhi-cname")
    assert answer.addresses == ("127.0.0.11",)


async def test_a_name_server_on_ipv6_loopback_with_a_port(make_dnsmasq: MakeDnsmasq) -> None:
    server = make_dnsmasq("127.0.0.11 workhorse01 vhi-test\n", listen="::1")
    assert server.server.startswith("[::1]:")
    answer = await DnsClient([server.server], timeout=2.0).lookup("vhi-test")
    assert answer.addresses == ("127.0.0.11",)


async def test_a_dead_name_server_is_a_failure_with_the_reason(silent_dns: str) -> None:
    async with asyncio.timeout(BOUND):
        answer = await DnsClient([silent_dns], timeout=0.3).lookup("vhi-test")
    assert answer.failed
    assert answer.addresses == ()
    assert (
        answer.error
        == f"A: no answer from {silent_dns} within 0.3 s; AAAA: no answer from {silent_dns} within 0.3 s"
    )


async def test_a_dead_first_name_server_leaves_time_to_ask_the_second(
    silent_dns: str, dnsmasq: Dnsmasq
) -> None:
    dnsmasq.set_records("127.0.0.11 workhorse01 vhi-test\n")
    async with asyncio.timeout(BOUND):
        answer = await DnsClient([silent_dns, dnsmasq.server], timeout=1.0).lookup("vhi-test")
    assert answer.addresses == ("127.0.0.11",)


async def test_the_resolver_follows_a_changed_alias_at_the_next_resolve(dnsmasq: Dnsmasq) -> None:
    resolver = AliasResolver(system_hosts=None, dns_servers=[dnsmasq.server], sources=["dns"], timeout=2.0)
    dnsmasq.set_records("127.0.0.11 workhorse01 vhi-test\n127.0.0.12 workhorse02 vhi-test\n")
    first = await resolver.resolve("vhi-test")
    assert sorted(first.addresses) == ["127.0.0.11", "127.0.0.12"]
    pid = dnsmasq.pid

    dnsmasq.set_records("127.0.0.13 workhorse03 vhi-test\n")  # a member replaced; SIGHUP, no restart
    second = await resolver.resolve("vhi-test")
    assert second.addresses == ("127.0.0.13",)
    assert second.answered_by == "dns"
    assert dnsmasq.pid == pid

    dnsmasq.set_records("")  # the alias removed
    with pytest.raises(ResolutionFailed, match=r"dns: NXDOMAIN: .* says vhi-test does not exist"):
        await resolver.resolve("vhi-test")


async def test_hosts_file_first_then_dns_each_answer_kept(dnsmasq: Dnsmasq, tmp_path: Path) -> None:
    dnsmasq.set_records("127.0.0.21 dns-member vhi-test\n127.0.0.31 dns-only\n")
    own = tmp_path / "hosts"
    own.write_text("127.0.0.11 workhorse01 vhi-test\n")
    resolver = AliasResolver(
        hosts_file=own, system_hosts=None, dns_servers=[dnsmasq.server], sources=["hosts_file", "dns"]
    )
    resolution = await resolver.resolve("vhi-test", consult_all=True)
    assert resolution.addresses == ("127.0.0.11",)
    assert [(s.name, s.status, s.addresses) for s in resolution.sources] == [
        ("hosts_file", SourceStatus.ANSWERED, ("127.0.0.11",)),
        ("dns", SourceStatus.ANSWERED, ("127.0.0.21",)),
    ]
    assert (await resolver.resolve("dns-only")).addresses == ("127.0.0.31",)


async def test_a_dead_dns_server_is_reported_and_resolution_fails_with_it(silent_dns: str) -> None:
    resolver = AliasResolver(system_hosts=None, dns_servers=[silent_dns], sources=["dns"], timeout=0.2)
    async with asyncio.timeout(BOUND):
        with pytest.raises(ResolutionFailed) as caught:
            await resolver.resolve("vhi-test")
    assert f"dns: A: no answer from {silent_dns} within 0.2 s" in caught.value.message
