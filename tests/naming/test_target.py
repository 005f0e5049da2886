"""``host[:port]`` parsing shared by every client, and DNS server addresses."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hostgate.config.settings import ServerSettings, Settings
from hostgate.errors import UsageError
from hostgate.management.records import MemberRecord, SessionServerRecord
from hostgate.naming import (
    NameServer,
    format_target,
    is_ip_literal,
    parse_name_server,
    parse_target,
    url_host,
)


@pytest.mark.parametrize(
    ("target", "expected"),
    [
        ("vhi-prod-sea", ("vhi-prod-sea", 9440)),
        ("vhi-prod-sea:9441", ("vhi-prod-sea", 9441)),
        ("  vhi-prod-sea:1 ", ("vhi-prod-sea", 1)),
        ("10.0.0.1", ("10.0.0.1", 9440)),
        ("10.0.0.1:65535", ("10.0.0.1", 65535)),
        ("::1", ("::1", 9440)),
        ("2001:db8::1", ("2001:db8::1", 9440)),
        ("[::1]", ("::1", 9440)),
        ("[::1]:5353", ("::1", 5353)),
        ("[fe80::1%eth0]:9440", ("fe80::1%eth0", 9440)),
        ("fe80::1%eth0", ("fe80::1%eth0", 9440)),
        ("docker_name:80", ("docker_name", 80)),
    ],
)
def test_parse_target(target: str, expected: tuple[str, int]) -> None:
    assert parse_target(target, 9440) == expected


@pytest.mark.parametrize(
    ("target", "problem"),
    [
        ("", "empty address"),
        ("   ", "empty address"),
        ("vhi:", "port '' is not a number"),
        ("vhi:http", "port 'http' is not a number"),
        ("vhi:0", "port 0 is outside 1-65535"),
        ("vhi:65536", "port 65536 is outside 1-65535"),
        ("vhi:-1", "port '-1' is not a number"),
        ("vhi:٣", "port '٣' is not a number"),
        (":9440", "no host before the port"),
        ("[::1", "unbalanced brackets"),
        ("::1]:80", "unbalanced brackets"),
        ("[::1]x", "unbalanced brackets"),
        ("[vhi]:9440", "only an IPv6 address goes inside [brackets]"),
        ("[10.0.0.1]:9440", "only an IPv6 address goes inside [brackets]"),
        ("[]:9440", "only an IPv6 address goes inside [brackets]"),
        ("[::1]:", "port '' is not a number"),
        ("2001:db8::1:99999x", "write an IPv6 address with a port as [address]:port"),
        ("vhi:1:2", "write an IPv6 address with a port as [address]:port"),
        ("vhi prod:1", "cannot contain spaces"),
    ],
)
def test_parse_target_refuses_with_the_reason(target: str, problem: str) -> None:
    with pytest.raises(UsageError) as caught:
        parse_target(target, 9440)
    assert problem in caught.value.message
    assert "[IPv6]:PORT" in caught.value.hint


@given(
    st.one_of(
        st.ip_addresses().map(str),
        st.from_regex(r"[a-z][a-z0-9-]{0,20}(\.[a-z][a-z0-9-]{0,20}){0,2}", fullmatch=True),
    ),
    st.integers(min_value=1, max_value=65535),
)
def test_format_then_parse_is_the_identity(host: str, port: int) -> None:
    assert parse_target(format_target(host, port), 1) == (host, port)


def test_is_ip_literal() -> None:
    assert is_ip_literal("10.0.0.1")
    assert is_ip_literal("fe80::1%eth0")
    assert not is_ip_literal("vhi-prod-sea")
    assert not is_ip_literal("[::1]")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("127.0.0.1", NameServer("127.0.0.1", 53)),
        ("127.0.0.1:5353", NameServer("127.0.0.1", 5353)),
        ("::1", NameServer("::1", 53)),
        ("[::1]:5353", NameServer("::1", 5353)),
    ],
)
def test_parse_name_server(text: str, expected: NameServer) -> None:
    assert parse_name_server(text) == expected


def test_name_server_prints_as_written() -> None:
    assert str(NameServer("::1", 5353)) == "[::1]:5353"
    assert str(NameServer("127.0.0.1")) == "127.0.0.1:53"


@pytest.mark.parametrize("text", ["dns.example.com", "dns.example.com:53", "127.0.0.1:0", "[::1]:x"])
def test_parse_name_server_wants_an_ip_and_a_valid_port(text: str) -> None:
    with pytest.raises(UsageError):
        parse_name_server(text)


@pytest.mark.parametrize(
    ("host", "in_url"),
    [
        ("fe80::1%eth0", "[fe80::1%eth0]"),  # scoped: the zone stays raw (getaddrinfo takes it so)
        ("::1", "[::1]"),
        ("2001:db8::7", "[2001:db8::7]"),
        ("10.0.0.1", "10.0.0.1"),
        ("vhi-prod-sea", "vhi-prod-sea"),
        ("workhorse01.example.com", "workhorse01.example.com"),
    ],
)
def test_url_host_brackets_ipv6_only_and_round_trips(host: str, in_url: str) -> None:
    assert url_host(host) == in_url
    assert format_target(host, 9440) == f"{in_url}:9440"
    assert parse_target(format_target(host, 9440), 1) == (host, 9440)


def test_every_url_of_a_scoped_member_is_bracketed_once() -> None:
    """Settings, member and session-server records all build their URLs with url_host."""
    settings = Settings(Path("/srv/hg"), ServerSettings(member_name="w1", address="fe80::1%eth0", port=9440))
    assert settings.url == "https://[fe80::1%eth0]:9440"
    assert settings.etcd_client_url.startswith("https://[fe80::1%eth0]:")
    assert settings.etcd_peer_url.startswith("https://[fe80::1%eth0]:")
    member = MemberRecord("w1", "fe80::1%eth0", 9440, "", "", 0.0)
    assert member.url == "https://[fe80::1%eth0]:9440"
    server = SessionServerRecord("s1", "10.0.0.1", 9450, "fe80::2%eth1", 9451, "", 0.0)
    assert server.url == "https://[fe80::2%eth1]:9451"
    assert MemberRecord("w2", "10.0.0.2", 9440, "", "", 0.0).url == "https://10.0.0.2:9440"
