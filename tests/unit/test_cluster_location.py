"""ClusterLocation: where the cluster is, one frozen value (issue #16), and the connect functions' two forms."""

from __future__ import annotations

import dataclasses
import inspect
from pathlib import Path

import pytest

from hostgate import pki
from hostgate.connector import (
    ClusterClient,
    ClusterLocation,
    Session,
    connect_direct,
    connect_to_model,
    connect_to_model_via_domain,
    connect_via_domain,
)
from hostgate.errors import UsageError


def test_a_location_is_frozen_normalised_and_parsed_once() -> None:
    where = ClusterLocation("vhi-prod-sea:9441", "ca.pem", hosts_file="hosts", dns_servers=["127.0.0.1:53"])  # type: ignore[arg-type]
    assert (where.host, where.port) == ("vhi-prod-sea", 9441)
    assert where.ca_file == Path("ca.pem") and where.hosts_file == Path("hosts")
    assert where.dns_servers == ("127.0.0.1:53",)
    assert ClusterLocation("[fe80::1%eth0]", Path("ca.pem")).port == 9440
    with pytest.raises(dataclasses.FrozenInstanceError):
        where.alias = "elsewhere"  # type: ignore[misc]
    assert hash(where) == hash(
        ClusterLocation("vhi-prod-sea:9441", Path("ca.pem"), Path("hosts"), ("127.0.0.1:53",))
    )


def test_a_bad_alias_is_refused_when_the_location_is_built() -> None:
    with pytest.raises(UsageError):
        ClusterLocation("vhi-prod-sea:99999", Path("ca.pem"))


def test_of_keeps_a_location_and_builds_one_from_the_long_form() -> None:
    where = ClusterLocation("vhi", Path("ca.pem"), deadline=3.0)
    assert ClusterLocation.of(where, ca_file=None) is where
    built = ClusterLocation.of("vhi", ca_file=Path("ca.pem"), hosts_file=Path("h"), dns_servers=["::1"])
    assert built == ClusterLocation("vhi", Path("ca.pem"), Path("h"), ("::1",))
    with pytest.raises(UsageError, match="no cluster CA"):
        ClusterLocation.of("vhi", ca_file=None)


def test_a_client_at_a_location_carries_all_of_it(tmp_path: Path) -> None:
    ca = tmp_path / "ca.pem"
    ca.write_bytes(pki.create_ca("prod-1").cert_pem)
    where = ClusterLocation("vhi:9441", ca, hosts_file=tmp_path / "hosts", dns_servers=("::1",), deadline=4.0)
    client = ClusterClient.at(where, user="admin", password="pw")
    assert (client.target, client.ca_file, client.hosts_file) == ("vhi:9441", ca, tmp_path / "hosts")
    assert (tuple(client.dns_servers), client.deadline, client.delay, client.user) == (
        ("::1",),
        4.0,
        None,
        "admin",
    )
    assert client.cluster_id == "prod-1"


def test_the_sync_functions_have_the_async_ones_parameters_and_return_a_session() -> None:
    for blocking, core in (
        (connect_to_model_via_domain, connect_via_domain),
        (connect_to_model, connect_direct),
    ):
        sync_sig, async_sig = inspect.signature(blocking), inspect.signature(core)
        assert sync_sig.parameters == async_sig.parameters
        assert sync_sig.return_annotation is Session
        assert blocking.__module__ == "hostgate.connector.sync" and blocking.__doc__
