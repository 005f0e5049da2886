"""``hostgate resolve`` through click's runner. Every test names its sources: the OS resolver is never
asked."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from click.testing import CliRunner

from hostgate.cli.resolve_cmd import resolve_cmd

if TYPE_CHECKING:
    from .conftest import Dnsmasq

WriteFile = Callable[[str, str], Path]
FILES_ONLY = ["--source", "hosts_file", "--source", "system_hosts"]


def run(*args: str | Path, env: dict[str, str] | None = None) -> tuple[int, str, str]:
    result = CliRunner().invoke(resolve_cmd, [str(a) for a in args], env=env, catch_exceptions=False)
    return result.exit_code, result.stdout, result.stderr


def test_json_lists_each_source_and_the_addresses(kb_hosts: Path, tmp_path: Path) -> None:
    absent = tmp_path / "no-etc-hosts"
    code, out, err = run(
        "vhi-prod-sea", "--hosts-file", kb_hosts, "--system-hosts", absent, *FILES_ONLY, "--json"
    )
    assert (code, err) == (0, "")
    assert json.loads(out) == {
        "alias": "vhi-prod-sea",
        "addresses": ["10.0.0.1", "10.0.0.2", "10.0.0.3"],
        "sources": [
            {"name": "hosts_file", "addresses": ["10.0.0.1", "10.0.0.2", "10.0.0.3"], "error": None},
            {"name": "system_hosts", "addresses": [], "error": f"{absent} does not exist"},
        ],
    }


def test_every_source_is_shown_even_after_one_has_answered(kb_hosts: Path, write_file: WriteFile) -> None:
    etc = write_file("etc-hosts", "192.0.2.9 stale vhi-prod-sea\n")
    code, out, _ = run("vhi-prod-sea", "--hosts-file", kb_hosts, "--system-hosts", etc, *FILES_ONLY, "--json")
    assert code == 0
    doc = json.loads(out)
    assert doc["addresses"] == ["10.0.0.1", "10.0.0.2", "10.0.0.3"]
    assert doc["sources"][1] == {"name": "system_hosts", "addresses": ["192.0.2.9"], "error": None}


def test_the_table_shows_sources_and_the_try_order_with_the_port(kb_hosts: Path, tmp_path: Path) -> None:
    code, out, _ = run(
        "vhi-prod-sea:9441", "--hosts-file", kb_hosts, "--system-hosts", tmp_path / "x", *FILES_ONLY
    )
    assert code == 0
    assert "Name sources for vhi-prod-sea" in out
    assert "hosts_file" in out and "answered" in out and "system_hosts" in out and "skipped" in out
    assert out.index("Try order (from hosts_file):") < out.index("1. 10.0.0.1:9441")
    assert out.index("1. 10.0.0.1:9441") < out.index("2. 10.0.0.2:9441") < out.index("3. 10.0.0.3:9441")


def test_without_a_port_the_try_order_is_bare_addresses(kb_hosts: Path, tmp_path: Path) -> None:
    code, out, _ = run(
        "VHI-PROD-SEA", "--hosts-file", kb_hosts, "--system-hosts", tmp_path / "x", *FILES_ONLY
    )
    assert code == 0
    assert "  1. 10.0.0.1\n" in out


def test_an_unknown_alias_prints_code_message_and_hint_and_exits_1(kb_hosts: Path, tmp_path: Path) -> None:
    code, out, err = run(
        "vhi-prod-nyc", "--hosts-file", kb_hosts, "--system-hosts", tmp_path / "x", *FILES_ONLY, "--json"
    )
    assert (code, out) == (1, "")
    assert err == (
        f"error HG-5002: vhi-prod-nyc resolved to no address (hosts_file: vhi-prod-nyc is not in {kb_hosts}; "
        f"system_hosts: {tmp_path / 'x'} does not exist)\n"
        "hint: Check the alias in DNS or in the hosts file (`hostgate resolve ALIAS` shows every source).\n"
    )


def test_a_bad_hosts_file_names_the_line(write_file: WriteFile, tmp_path: Path) -> None:
    bad = write_file("hosts", "10.0.0.1 workhorse01 vhi-prod-sea\n10.0.0.2\n")
    code, _, err = run("vhi-prod-sea", "--hosts-file", bad, "--system-hosts", tmp_path / "x", *FILES_ONLY)
    assert code == 1
    assert err.startswith(
        f"error HG-5001: {bad}:2: address 10.0.0.2 has no name after it\nhint: Each line is"
    )


def test_a_bad_dns_server_is_a_usage_error() -> None:
    code, _, err = run("vhi", "--dns-server", "dns.example.com", "--source", "dns")
    assert code == 2
    assert err.startswith("error HG-1003: DNS server 'dns.example.com' must be an IP address")


def test_environment_variables_name_the_hosts_file_and_dns_servers(
    kb_hosts: Path, dnsmasq: Dnsmasq, silent_dns: str, tmp_path: Path
) -> None:
    dnsmasq.set_records("127.0.0.21 dns-member vhi-dns\n")
    env = {"HOSTGATE_HOSTS_FILE": str(kb_hosts), "HOSTGATE_DNS_SERVER": f"{silent_dns}, {dnsmasq.server}"}
    code, out, _ = run(
        "vhi-dns", "--system-hosts", tmp_path / "x", "--source", "hosts_file", "--source", "dns",
        "--timeout", "0.4", "--json", env=env,
    )  # fmt: skip
    assert code == 0
    doc = json.loads(out)
    assert doc["addresses"] == ["127.0.0.21"]
    assert doc["sources"][0] == {
        "name": "hosts_file",
        "addresses": [],
        "error": f"vhi-dns is not in {kb_hosts}",
    }


def test_repeated_dns_server_options_are_all_asked(dnsmasq: Dnsmasq, silent_dns: str) -> None:
    dnsmasq.set_records("127.0.0.21 dns-member vhi-dns\n")
    code, out, _ = run(
        "vhi-dns", "--dns-server", silent_dns, "--dns-server", dnsmasq.server, "--source", "dns",
        "--timeout", "0.4", "--json",
    )  # fmt: skip
    assert code == 0
    assert json.loads(out)["sources"] == [{"name": "dns", "addresses": ["127.0.0.21"], "error": None}]
