"""The hosts-file format of KB 7021563: the KB's own example, edge cases, strict and lenient modes."""

from __future__ import annotations

import ipaddress
import logging
from collections.abc import Callable
from pathlib import Path

import pytest

from hostgate.errors import HostsFileError
from hostgate.naming import HostsEntry, check_name, parse_hosts, read_hosts_file


def ips(*texts: str) -> list[ipaddress.IPv4Address | ipaddress.IPv6Address]:
    return [ipaddress.ip_address(t) for t in texts]


# --- the KB's example --------------------------------------------------------------------------------


def test_kb_example_maps_the_cluster_alias_to_every_server_in_file_order(kb_hosts: Path) -> None:
    hosts = read_hosts_file(kb_hosts, strict=True)
    assert hosts.lookup("vhi-prod-sea") == ips("10.0.0.1", "10.0.0.2", "10.0.0.3")


def test_kb_example_entries_keep_line_numbers_and_unique_names(kb_hosts: Path) -> None:
    hosts = read_hosts_file(kb_hosts, strict=True)
    assert hosts.entries == (
        HostsEntry(10, ipaddress.IPv4Address("10.0.0.1"), ("workhorse01", "vhi-prod-sea")),
        HostsEntry(11, ipaddress.IPv4Address("10.0.0.2"), ("workhorse02", "vhi-prod-sea")),
        HostsEntry(12, ipaddress.IPv4Address("10.0.0.3"), ("workhorse03", "vhi-prod-sea")),
    )
    assert [e.unique_name for e in hosts.entries] == ["workhorse01", "workhorse02", "workhorse03"]
    assert hosts.entries[0].aliases == ("vhi-prod-sea",)
    assert hosts.skipped == ()
    assert hosts.source == str(kb_hosts)


def test_kb_example_unique_names_resolve_to_their_own_server(kb_hosts: Path) -> None:
    hosts = read_hosts_file(kb_hosts, strict=True)
    assert hosts.lookup("workhorse02") == ips("10.0.0.2")
    assert hosts.names() == ["workhorse01", "vhi-prod-sea", "workhorse02", "workhorse03"]


def test_kb_example_matches_names_without_regard_to_case(kb_hosts: Path) -> None:
    hosts = read_hosts_file(kb_hosts, strict=True)
    assert hosts.lookup("VHI-Prod-SEA") == hosts.lookup("vhi-prod-sea")
    assert hosts.lookup("vhi-prod-sea.") == hosts.lookup("vhi-prod-sea")


def test_a_name_not_in_the_file_has_no_address(kb_hosts: Path) -> None:
    hosts = read_hosts_file(kb_hosts, strict=True)
    assert hosts.lookup("vhi-prod-nyc") == []
    assert hosts.lookup("not a name!") == []


# --- the format's rules ------------------------------------------------------------------------------


def test_fields_are_split_by_any_run_of_spaces_and_tabs() -> None:
    hosts = parse_hosts("10.0.0.1\t \tworkhorse01  \t vhi-prod-sea \t\n")
    assert hosts.entries[0].names == ("workhorse01", "vhi-prod-sea")


def test_a_comment_runs_from_any_hash_to_the_end_of_the_line() -> None:
    text = "# full line\n10.0.0.1 workhorse01 vhi-prod-sea# glued comment\n   # indented\n10.0.0.2 w2#c vhi\n"
    hosts = parse_hosts(text)
    assert [e.names for e in hosts.entries] == [("workhorse01", "vhi-prod-sea"), ("w2",)]


def test_crlf_line_ends_and_a_bom_are_accepted_and_line_numbers_match_an_editor() -> None:
    data = "\ufeff# windows\r\n\r\n10.0.0.1 w1 vhi\r\n10.0.0.2 w2 vhi\r\n".encode()
    hosts = parse_hosts(data)
    assert [e.line for e in hosts.entries] == [3, 4]
    assert hosts.lookup("vhi") == ips("10.0.0.1", "10.0.0.2")


def test_only_spaces_and_tabs_separate_fields() -> None:
    with pytest.raises(HostsFileError, match=r"<hosts>:1: name 'w1\\x0bvhi' may hold only"):
        parse_hosts("10.0.0.1 w1\x0bvhi\n")


def test_an_alias_on_several_lines_maps_to_all_their_addresses_in_file_order() -> None:
    text = "10.0.0.3 w3 vhi\n10.0.0.1 w1 other\n10.0.0.1 w1 vhi\n10.0.0.2 w2 VHI\n"
    assert parse_hosts(text).lookup("vhi") == ips("10.0.0.3", "10.0.0.1", "10.0.0.2")


def test_several_lines_for_several_interfaces_of_one_server() -> None:
    text = "10.0.0.1 w1 vhi\n192.168.7.1 w1 vhi\n2001:db8::1 w1 vhi\n"
    hosts = parse_hosts(text)
    assert hosts.lookup("w1") == ips("10.0.0.1", "192.168.7.1", "2001:db8::1")
    assert hosts.lookup("vhi") == hosts.lookup("w1")


def test_a_repeated_address_is_kept_once_at_its_first_place() -> None:
    text = "10.0.0.2 w2 vhi\n10.0.0.1 w1 vhi\n10.0.0.2 w2 vhi\n"
    assert parse_hosts(text).lookup("vhi") == ips("10.0.0.2", "10.0.0.1")


def test_ipv6_addresses_are_read() -> None:
    hosts = parse_hosts("::1 localhost6 vhi\n2001:db8::a:1 w1 vhi\n::ffff:10.0.0.1 mapped\n")
    assert hosts.lookup("vhi") == ips("::1", "2001:db8::a:1")
    assert hosts.lookup("mapped") == ips("::ffff:a00:1")


def test_a_scoped_link_local_address_keeps_its_zone() -> None:
    hosts = parse_hosts("fe80::1%eth0 w1 vhi\n")
    [address] = hosts.lookup("vhi")
    assert str(address) == "fe80::1%eth0"


def test_a_link_local_address_without_a_zone_is_refused() -> None:
    with pytest.raises(HostsFileError, match=r"<hosts>:1: link-local address fe80::1 needs a zone"):
        parse_hosts("fe80::1 w1 vhi\n")


@pytest.mark.parametrize(
    ("line", "problem"),
    [
        ("10.0.0.256 w1 vhi", "'10.0.0.256' is not an IPv4 or IPv6 address"),
        ("010.0.0.1 w1 vhi", "'010.0.0.1' is not an IPv4 or IPv6 address"),
        ("10.1 w1 vhi", "'10.1' is not an IPv4 or IPv6 address"),
        ("10.0.0.1%eth0 w1", "'10.0.0.1%eth0' is not an IPv4 or IPv6 address"),
        ("workhorse01 vhi-prod-sea", "'workhorse01' is not an IP address (a line starts with the address"),
        ("10.0.0.1", "address 10.0.0.1 has no name after it"),
        ("10.0.0.1   # name forgotten", "address 10.0.0.1 has no name after it"),
        ("10.0.0.1 10.0.0.2 vhi", "'10.0.0.2' is an address where a name belongs"),
        ("10.0.0.1 w1 vhi_prod", "name 'vhi_prod' may hold only ASCII letters, digits, hyphens and dots"),
        ("10.0.0.1 w1 vhí", "name 'vhí' may hold only ASCII letters"),
        ("10.0.0.1 -w1 vhi", "name '-w1' has a label that starts or ends with a hyphen"),
        ("10.0.0.1 w1 vhi-.sea", "name 'vhi-.sea' has a label that starts or ends with a hyphen"),
        ("10.0.0.1 w1 vhi..sea", "name 'vhi..sea' has an empty label"),
        ("10.0.0.1 w1 vhi.", "name 'vhi.' has an empty label"),
        ("10.0.0.1 w1 " + "a" * 64, "has a label longer than 63 characters"),
        ("10.0.0.1 w1 " + ".".join(["a" * 63] * 4), "is longer than 253 characters"),
        ("10.0.0.1 w1 vhi.123", "name 'vhi.123' ends in an all-digit label"),
    ],
)
def test_strict_mode_names_file_line_and_what_is_wrong(
    line: str, problem: str, write_file: Callable[[str, str], Path]
) -> None:
    path = write_file("hosts", f"# hostgate hosts\n10.0.0.9 good vhi\n{line}\n")
    with pytest.raises(HostsFileError) as caught:
        read_hosts_file(path, strict=True)
    assert caught.value.message.startswith(f"{path}:3: ")
    assert problem in caught.value.message
    assert caught.value.code == "HG-5001"


def test_strict_mode_counts_the_other_bad_lines() -> None:
    text = "10.0.0.1 w1 vhi\nbad1 x\n10.0.0.2 w2 vhi\nbad2 x\n10.0.0.3\n"
    with pytest.raises(HostsFileError, match=r"^\[HG-5001\] f:2: .* \(and 2 more bad lines: 4, 5\)$"):
        parse_hosts(text, source="f", strict=True)


def test_labels_of_63_characters_and_names_of_253_are_accepted() -> None:
    longest = ".".join(["a" * 63, "b" * 63, "c" * 63, "d" * 61])
    assert len(longest) == 253
    hosts = parse_hosts(f"10.0.0.1 {'x' * 63} {longest}\n")
    assert hosts.lookup(longest.upper()) == ips("10.0.0.1")


@pytest.mark.parametrize("name", ["a", "A-1", "1host", "vhi-prod-sea", "h.example.com", "x--y", "0a.b"])
def test_valid_names(name: str) -> None:
    assert check_name(name) is None


def test_a_missing_file_is_a_hosts_file_error_naming_it(tmp_path: Path) -> None:
    missing = tmp_path / "no-such-hosts"
    with pytest.raises(HostsFileError, match=r"cannot read hosts file .*no-such-hosts: No such file"):
        read_hosts_file(missing, strict=True)


def test_an_empty_or_comment_only_file_has_no_entries() -> None:
    assert parse_hosts("").entries == ()
    assert parse_hosts("# nothing\n\n  \t \n").entries == ()


def test_bytes_that_are_not_utf8_fail_their_line_and_only_it() -> None:
    data = b"10.0.0.1 w1 vhi\n10.0.0.2 w\xff2 vhi\n"
    with pytest.raises(HostsFileError, match="<hosts>:2: name 'w\ufffd2' may hold only"):
        parse_hosts(data, strict=True)
    assert parse_hosts(data, strict=False).lookup("vhi") == ips("10.0.0.1")


# --- lenient mode ------------------------------------------------------------------------------------


def test_lenient_mode_skips_bad_lines_and_keeps_the_rest(
    write_file: Callable[[str, str], Path], caplog: pytest.LogCaptureFixture
) -> None:
    path = write_file(
        "etc-hosts", "127.0.0.1 localhost\n10.0.0.1 my_box vhi\n10.0.0.256 x\n10.0.0.2 w2 vhi\n"
    )
    with caplog.at_level(logging.WARNING, logger="hostgate.naming"):
        hosts = read_hosts_file(path, strict=False)
    assert hosts.lookup("vhi") == ips("10.0.0.2")
    assert hosts.lookup("localhost") == ips("127.0.0.1")
    assert [(s.line, s.text) for s in hosts.skipped] == [(2, "10.0.0.1 my_box vhi"), (3, "10.0.0.256 x")]
    warned = [r.getMessage() for r in caplog.records]
    assert warned == [
        f"{path}:2: skipped: name 'my_box' may hold only ASCII letters, digits, hyphens and dots",
        f"{path}:3: skipped: '10.0.0.256' is not an IPv4 or IPv6 address",
    ]


def test_lenient_mode_warns_once_per_bad_line_across_rereads(
    write_file: Callable[[str, str], Path], caplog: pytest.LogCaptureFixture
) -> None:
    path = write_file("etc-hosts-again", "10.0.0.256 x\n")
    with caplog.at_level(logging.WARNING, logger="hostgate.naming"):
        for _ in range(3):
            assert len(read_hosts_file(path, strict=False).skipped) == 1
    assert len(caplog.records) == 1


def test_debian_default_etc_hosts_reads_without_skipping() -> None:
    text = (
        "127.0.0.1\tlocalhost\n127.0.1.1\tdebian.example.org\tdebian\n\n"
        "# The following lines are desirable for IPv6 capable hosts\n"
        "::1     localhost ip6-localhost ip6-loopback\nff02::1 ip6-allnodes\nff02::2 ip6-allrouters\n"
    )
    hosts = parse_hosts(text, strict=False)
    assert hosts.skipped == ()
    assert hosts.lookup("localhost") == ips("127.0.0.1", "::1")
