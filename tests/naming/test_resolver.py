"""AliasResolver without DNS: source order, first-source-wins, no caching, what each source said."""

from __future__ import annotations

import asyncio
import socket
import subprocess
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

import pytest

from hostgate.config import NamingSettings
from hostgate.config.naming import alias_resolver
from hostgate.errors import ConfigError, HostsFileError, ResolutionFailed, UsageError
from hostgate.naming import AliasResolver, Source, SourceAnswer, SourceStatus

WriteFile = Callable[[str, str], Path]


class FakeSystem:
    """Stands in for getaddrinfo: a table of names, or an error; records every name asked."""

    def __init__(self, table: dict[str, list[str]] | None = None, error: BaseException | None = None) -> None:
        self.table = table or {}
        self.error = error
        self.asked: list[str] = []

    async def __call__(self, name: str) -> Sequence[str]:
        self.asked.append(name)
        if self.error is not None:
            raise self.error
        if name not in self.table:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return self.table[name]


@pytest.fixture
def own(write_file: WriteFile) -> Path:
    return write_file(
        "hostgate-hosts", "10.0.0.1 workhorse01 vhi-prod-sea\n10.0.0.2 workhorse02 vhi-prod-sea\n"
    )


@pytest.fixture
def system_hosts(write_file: WriteFile) -> Path:
    return write_file(
        "etc-hosts", "127.0.0.1 localhost\n192.0.2.9 old-box vhi-prod-sea\n192.0.2.7 only-here\n"
    )


async def test_an_ip_literal_resolves_to_itself_without_asking_any_source(own: Path) -> None:
    system = FakeSystem()
    resolver = AliasResolver(hosts_file=own, system_hosts=None, system_lookup=system)
    for literal, expected in [("10.9.9.9", "10.9.9.9"), ("::0001", "::1"), ("fe80::1%eth0", "fe80::1%eth0")]:
        resolution = await resolver.resolve(literal)
        assert resolution.addresses == (expected,)
        assert resolution.sources == (SourceAnswer("literal", SourceStatus.ANSWERED, (expected,)),)
    assert system.asked == []


async def test_the_first_source_that_knows_the_alias_gives_all_its_addresses(
    own: Path, system_hosts: Path
) -> None:
    system = FakeSystem({"vhi-prod-sea": ["203.0.113.1"]})
    resolver = AliasResolver(hosts_file=own, system_hosts=system_hosts, system_lookup=system)
    resolution = await resolver.resolve("vhi-prod-sea")
    assert resolution.addresses == ("10.0.0.1", "10.0.0.2")
    assert resolution.answered_by == "hosts_file"
    assert resolution.sources == (
        SourceAnswer("hosts_file", SourceStatus.ANSWERED, ("10.0.0.1", "10.0.0.2")),
        SourceAnswer("system_hosts", SourceStatus.SKIPPED, error="not consulted: hosts_file answered first"),
        SourceAnswer("dns", SourceStatus.SKIPPED, error="not consulted: hosts_file answered first"),
        SourceAnswer("system", SourceStatus.SKIPPED, error="not consulted: hosts_file answered first"),
    )
    assert system.asked == []


async def test_consult_all_asks_every_source_and_keeps_each_answer(own: Path, system_hosts: Path) -> None:
    system = FakeSystem({"vhi-prod-sea": ["203.0.113.1"]})
    resolver = AliasResolver(hosts_file=own, system_hosts=system_hosts, system_lookup=system)
    resolution = await resolver.resolve("vhi-prod-sea", consult_all=True)
    assert resolution.addresses == ("10.0.0.1", "10.0.0.2")
    assert [(s.name, s.status, s.addresses) for s in resolution.sources] == [
        ("hosts_file", SourceStatus.ANSWERED, ("10.0.0.1", "10.0.0.2")),
        ("system_hosts", SourceStatus.ANSWERED, ("192.0.2.9",)),
        ("dns", SourceStatus.SKIPPED, ()),
        ("system", SourceStatus.ANSWERED, ("203.0.113.1",)),
    ]
    assert system.asked == ["vhi-prod-sea"]


async def test_the_order_of_sources_is_configurable(own: Path, system_hosts: Path) -> None:
    resolver = AliasResolver(
        hosts_file=own,
        system_hosts=system_hosts,
        sources=["system_hosts", "hosts_file"],
        system_lookup=FakeSystem(),
    )
    resolution = await resolver.resolve("vhi-prod-sea")
    assert resolution.addresses == ("192.0.2.9",)
    assert [s.name for s in resolution.sources] == ["system_hosts", "hosts_file"]


async def test_a_source_that_does_not_know_the_alias_passes_to_the_next(
    own: Path, system_hosts: Path
) -> None:
    system = FakeSystem({"elsewhere": ["198.51.100.4", "198.51.100.4", "2001:db8::4"]})
    resolver = AliasResolver(hosts_file=own, system_hosts=system_hosts, system_lookup=system)
    assert (await resolver.resolve("only-here")).addresses == ("192.0.2.7",)
    resolution = await resolver.resolve("elsewhere")
    assert resolution.addresses == ("198.51.100.4", "2001:db8::4")
    assert resolution.sources[:2] == (
        SourceAnswer("hosts_file", SourceStatus.NOT_FOUND, error=f"elsewhere is not in {own}"),
        SourceAnswer("system_hosts", SourceStatus.NOT_FOUND, error=f"elsewhere is not in {system_hosts}"),
    )


async def test_every_resolve_rereads_the_hosts_file(own: Path, write_file: WriteFile) -> None:
    resolver = AliasResolver(hosts_file=own, system_hosts=None, sources=["hosts_file"])
    assert (await resolver.resolve("vhi-prod-sea")).addresses == ("10.0.0.1", "10.0.0.2")
    write_file(own.name, "10.0.0.3 workhorse03 vhi-prod-sea\n10.0.0.1 workhorse01 vhi-prod-sea\n")
    assert (await resolver.resolve("vhi-prod-sea")).addresses == ("10.0.0.3", "10.0.0.1")
    write_file(own.name, "# the cluster was retired\n")
    with pytest.raises(ResolutionFailed):
        await resolver.resolve("vhi-prod-sea")


async def test_every_resolve_rereads_the_system_hosts_file(system_hosts: Path, write_file: WriteFile) -> None:
    resolver = AliasResolver(system_hosts=system_hosts, sources=["system_hosts"])
    assert (await resolver.resolve("only-here")).addresses == ("192.0.2.7",)
    write_file(system_hosts.name, "192.0.2.8 only-here\n")
    assert (await resolver.resolve("only-here")).addresses == ("192.0.2.8",)


async def test_a_bad_line_in_hostgates_own_hosts_file_fails_every_resolve_until_fixed(
    own: Path, system_hosts: Path, write_file: WriteFile
) -> None:
    resolver = AliasResolver(hosts_file=own, system_hosts=system_hosts, system_lookup=FakeSystem())
    write_file(own.name, "10.0.0.1 workhorse01 vhi-prod-sea\n10.0.0.2 workhorse_02 vhi-prod-sea\n")
    with pytest.raises(HostsFileError, match=rf"{own}:2: name 'workhorse_02'"):
        await resolver.resolve("vhi-prod-sea")
    with pytest.raises(HostsFileError):
        await resolver.resolve("only-here")  # a broken own file is not silently stepped over
    write_file(own.name, "10.0.0.1 workhorse01 vhi-prod-sea\n")
    assert (await resolver.resolve("vhi-prod-sea")).addresses == ("10.0.0.1",)


async def test_a_missing_own_hosts_file_is_an_error(tmp_path: Path) -> None:
    resolver = AliasResolver(hosts_file=tmp_path / "absent", system_hosts=None, sources=["hosts_file"])
    with pytest.raises(HostsFileError, match="cannot read hosts file"):
        await resolver.resolve("vhi-prod-sea")


async def test_a_missing_system_hosts_file_is_skipped(tmp_path: Path) -> None:
    system = FakeSystem({"vhi-prod-sea": ["203.0.113.1"]})
    resolver = AliasResolver(system_hosts=tmp_path / "absent", system_lookup=system)
    resolution = await resolver.resolve("vhi-prod-sea")
    assert resolution.addresses == ("203.0.113.1",)
    assert resolution.sources[1] == SourceAnswer(
        "system_hosts", SourceStatus.SKIPPED, error=f"{tmp_path / 'absent'} does not exist"
    )


async def test_an_unreadable_system_hosts_path_is_a_failed_source(tmp_path: Path) -> None:
    resolver = AliasResolver(system_hosts=tmp_path, sources=["system_hosts"])
    with pytest.raises(ResolutionFailed, match=r"system_hosts: cannot read hosts file"):
        await resolver.resolve("vhi-prod-sea")


async def test_when_no_source_knows_the_alias_the_error_lists_what_each_said(
    own: Path, system_hosts: Path
) -> None:
    resolver = AliasResolver(hosts_file=own, system_hosts=system_hosts, system_lookup=FakeSystem())
    with pytest.raises(ResolutionFailed) as caught:
        await resolver.resolve("vhi-prod-nyc")
    assert caught.value.code == "HG-5002"
    assert caught.value.message == (
        f"vhi-prod-nyc resolved to no address (hosts_file: vhi-prod-nyc is not in {own}; "
        f"system_hosts: vhi-prod-nyc is not in {system_hosts}; "
        "dns: no DNS server configured (naming.dns_servers or --dns-server); "
        "the system source asks the OS resolver; "
        "system: the OS resolver: Name or service not known)"
    )


async def test_sources_not_configured_are_skipped_with_the_reason() -> None:
    resolver = AliasResolver(system_hosts=None, system_lookup=FakeSystem({"vhi": ["192.0.2.1"]}))
    resolution = await resolver.resolve("vhi")
    assert [(s.name, s.status, s.error) for s in resolution.sources[:3]] == [
        ("hosts_file", SourceStatus.SKIPPED, "no hostgate hosts file configured"),
        ("system_hosts", SourceStatus.SKIPPED, "no system hosts file configured"),
        (
            "dns",
            SourceStatus.SKIPPED,
            "no DNS server configured (naming.dns_servers or --dns-server); "
            "the system source asks the OS resolver",
        ),
    ]


@pytest.mark.parametrize(
    ("error", "status", "said"),
    [
        (socket.gaierror(socket.EAI_NONAME, "Name or service not known"), SourceStatus.NOT_FOUND, "Name or"),
        (
            socket.gaierror(socket.EAI_AGAIN, "Temporary failure in name resolution"),
            SourceStatus.FAILED,
            "Temp",
        ),
        (UnicodeError("label too long"), SourceStatus.FAILED, "label too long"),
    ],
)
async def test_the_system_resolvers_errors_are_told_apart(
    error: BaseException, status: SourceStatus, said: str, write_file: WriteFile
) -> None:
    fallback = write_file("fallback-hosts", "192.0.2.1 vhi\n")
    resolver = AliasResolver(
        system_hosts=fallback, sources=["system", "system_hosts"], system_lookup=FakeSystem(error=error)
    )
    resolution = await resolver.resolve("vhi")
    assert resolution.answered_by == "system_hosts"
    assert resolution.sources[0].status is status
    assert resolution.sources[0].error is not None
    assert resolution.sources[0].error.startswith(f"the OS resolver: {said}")


async def test_a_hung_system_resolver_is_given_up_after_the_timeout() -> None:
    async def hang(name: str) -> Sequence[str]:
        await asyncio.Event().wait()
        return []

    resolver = AliasResolver(system_hosts=None, sources=["system"], timeout=0.05, system_lookup=hang)
    async with asyncio.timeout(5):
        with pytest.raises(ResolutionFailed, match=r"system: no answer from the OS resolver within 0.05 s"):
            await resolver.resolve("vhi")


async def test_the_real_system_resolver_knows_localhost() -> None:
    resolver = AliasResolver(system_hosts=None, sources=["system"])
    resolution = await resolver.resolve("localhost")
    assert set(resolution.addresses) & {"127.0.0.1", "::1"}
    assert resolution.answered_by == "system"


@pytest.mark.parametrize(
    ("sources", "problem"),
    [
        (["hosts_file", "nis"], "unknown name source 'nis'"),
        (["dns", "dns"], "name source 'dns' is listed twice"),
        ([], "no name source given"),
    ],
)
def test_bad_source_lists_are_refused(sources: list[str], problem: str) -> None:
    with pytest.raises(UsageError, match=problem):
        AliasResolver(sources=sources)


async def test_the_config_side_reads_the_naming_section(tmp_path: Path, write_file: WriteFile) -> None:
    write_file("hosts", "10.0.0.7 w7 vhi\n")
    naming = NamingSettings(
        hosts_file="hosts", dns_servers=("127.0.0.1:5353",), sources=("hosts_file", "dns")
    )
    resolver = alias_resolver(naming, base_dir=tmp_path, system_hosts=None)
    assert resolver.hosts_file == tmp_path / "hosts"
    assert resolver.sources == (Source.HOSTS_FILE, Source.DNS)
    assert resolver.dns is not None and [str(s) for s in resolver.dns.servers] == ["127.0.0.1:5353"]
    assert (await resolver.resolve("vhi")).addresses == ("10.0.0.7",)


@pytest.mark.parametrize(
    ("naming", "field"),
    [
        (NamingSettings(dns_servers=("dns.example.com",)), "naming.dns_servers"),
        (NamingSettings(dns_servers=("127.0.0.1:99999",)), "naming.dns_servers"),
        (NamingSettings(sources=("hosts_file", "ldap")), "naming.sources"),
    ],
)
def test_the_config_side_turns_bad_values_into_config_errors_naming_the_field(
    naming: NamingSettings, field: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        alias_resolver(naming)
    assert caught.value.message.startswith(f"{field}: ")


def test_the_connector_and_naming_load_no_config() -> None:
    """A client application has no hostgate.toml: resolving and dialing must not drag hostgate.config in."""
    code = (
        "import sys, hostgate.connector, hostgate.naming; "
        "print(sorted(m for m in sys.modules if m.startswith('hostgate.config')))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60)
    assert out.stdout.strip() == "[]"


async def test_an_empty_alias_is_a_usage_error() -> None:
    with pytest.raises(UsageError):
        await AliasResolver(system_hosts=None).resolve("  ")
