"""The doctor's diagnosis called directly (no CLI): typed findings from real sockets on loopback.

``hostgate.connector.diagnosis`` is what the console will show; these tests hold its typed face (code,
severity, message, fix as frozen values) without going through ``hostgate doctor``'s printing.
"""

from __future__ import annotations

import asyncio
import dataclasses
from pathlib import Path

import pytest

from hostgate import pki
from hostgate.connector.diagnosis import Check, Finding, Inputs, Severity, State, diagnose
from hostgate.naming import Source
from tests.helpers.ports import free_port


@pytest.fixture
def ca_file(tmp_path: Path) -> Path:
    path = tmp_path / "ca.pem"
    path.write_bytes(pki.create_ca("c-diag").cert_pem)
    return path


async def test_a_refused_and_a_hung_address_are_typed_findings(tmp_path: Path, ca_file: Path) -> None:
    port = free_port("127.0.0.1")

    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read()  # accepts, never answers (a SIGSTOP'd member looks like this)
        writer.close()

    # One port for both addresses (the alias has one port): 127.0.0.2 listens and never answers,
    # 127.0.0.3 has nothing listening on it.
    server = await asyncio.start_server(silent, "127.0.0.2", port)
    hosts = tmp_path / "hosts"
    hosts.write_text("127.0.0.2 m2 vhi-diag\n127.0.0.3 m3 vhi-diag\n")
    inputs = Inputs(
        alias="vhi-diag",
        port=port,
        ca_file=ca_file,
        hosts_file=hosts,
        sources=(Source.HOSTS_FILE,),
        timeout=1.0,
    )
    try:
        report = await diagnose(inputs)
    finally:
        server.close()
        await server.wait_closed()
    assert report.cluster_id == "c-diag" and not report.ok
    states = {a.probe.address: a.probe.state for a in report.addresses}
    assert states == {"127.0.0.2": State.HUNG, "127.0.0.3": State.REFUSED}
    by_code = {f.code: f for f in report.findings}
    assert sorted(by_code) == ["HG-D07", "HG-D08", "HG-D12"]
    hung, refused = by_code["HG-D07"], by_code["HG-D08"]
    assert isinstance(hung, Finding) and hung.check is Check.HUNG and hung.severity is Severity.ERROR
    assert hung.address == "127.0.0.2" and "no answer" in hung.message and "restart it" in hung.fix
    assert (
        refused.address == "127.0.0.3" and "refused" in refused.message and "hostgate server" in refused.fix
    )
    assert by_code["HG-D12"].severity is Severity.INFO  # no credentials: membership not checked
    # Errors first, then by code: what a console lists top down.
    assert [f.code for f in report.findings] == ["HG-D07", "HG-D08", "HG-D12"]
    with pytest.raises(dataclasses.FrozenInstanceError):
        hung.message = "changed"  # type: ignore[misc]


async def test_an_alias_no_source_knows_is_one_error_finding(tmp_path: Path, ca_file: Path) -> None:
    hosts = tmp_path / "hosts"
    hosts.write_text("127.0.0.2 m2 vhi-other\n")
    inputs = Inputs(
        alias="vhi-none", port=free_port(), ca_file=ca_file, hosts_file=hosts, sources=(Source.HOSTS_FILE,)
    )
    report = await diagnose(inputs)
    assert [(f.code, f.severity) for f in report.findings] == [("HG-D01", Severity.ERROR)]
    assert report.addresses == () and report.to_json()["ok"] is False
    assert "vhi-none" in report.findings[0].fix
