"""DomainService, in process over a real SqliteStore and ConfigCache, with a manual clock for liveness.

What it guarantees: Administrators only for changes, bad input refused whole with nothing written, a change
shown by this member's next read, heartbeats authenticated by the registered certificate alone, and routing
by the VHI 7.x rules (lowest priority tier with a live server, then weight) that reads only memory, takes a
server out only on a report by a user who was routed there, and changes nothing when the request fails.
"""

from __future__ import annotations

import random
import time
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from hostgate import pki, tokens
from hostgate.errors import (
    AuthenticationFailed,
    Conflict,
    DomainNotFound,
    HostgateError,
    InvalidField,
    NoServerAvailable,
    NotAuthorized,
    ServerCertificateRefused,
    SessionServerNotFound,
    UsageError,
)
from hostgate.management.domains import SESSION_TOKEN_TTL, DomainService
from hostgate.management.records import PREFIX
from hostgate.management.routing import Heartbeat, Router
from hostgate.management.security import Principal
from tests.helpers._clock import ManualClock
from tests.helpers.inprocess import ADMIN, CLUSTER_ID, OPERATOR, InProcessMember, start_member

NOBODY = Principal("nobody", ())  # an account with no role at all


@dataclass
class Domains:
    member: InProcessMember
    service: DomainService
    clock: ManualClock
    certs: dict[str, str]  # session server name -> its certificate (PEM), as registration granted it

    async def register(self, name: str, address: str = "127.0.0.1", port: int = 9000) -> str:
        csr, _key = pki.make_csr(name)
        grant = await self.service.register_server(
            ADMIN,
            name=name,
            address=address,
            port=port,
            advertised_address="",
            advertised_port=0,
            csr_pem=csr.decode(),
        )
        self.certs[name] = grant.cert_pem
        return grant.cert_pem

    def beat(self, *names: str, interval: float = 2.0, active: int = 0, capacity: int = 10) -> None:
        for name in names:
            self.service.heartbeat(name, self.certs[name], Heartbeat(name, active, capacity, interval))

    async def snapshot(self) -> list[tuple[str, bytes]]:
        kvs, _ = await self.member.store.get_prefix(PREFIX)
        return [(kv.key, kv.value) for kv in kvs]


@pytest.fixture
async def d(tmp_path: Path) -> AsyncIterator[Domains]:
    member = await start_member(tmp_path / "m1")
    clock = ManualClock()
    service = DomainService(member.store, member.cache, Router(clock=clock, rng=random.Random(7)))
    try:
        yield Domains(member, service, clock, {})
    finally:
        await member.close()


# --- changes: who, what is refused, and read-your-writes ----------------------------------------------------


async def test_only_an_administrator_changes_anything_and_a_refusal_writes_nothing(d: Domains) -> None:
    await d.register("s1")
    await d.service.create_domain(ADMIN, "prod")
    before = await d.snapshot()
    csr, _ = pki.make_csr("s2")
    attempts = [
        d.service.create_domain(OPERATOR, "test"),
        d.service.delete_domain(OPERATOR, "prod"),
        d.service.add_server(OPERATOR, "prod", "s1", 1, 1),
        d.service.remove_server(OPERATOR, "s1"),
        d.service.register_server(
            OPERATOR, name="s2", address="127.0.0.1", port=1, advertised_address="", advertised_port=0,
            csr_pem=csr.decode(),
        ),
    ]  # fmt: skip
    for attempt in attempts:
        with pytest.raises(NotAuthorized):
            await attempt
    assert await d.snapshot() == before


@pytest.mark.parametrize(
    ("weight", "priority"), [(0, 1), (1001, 1), (1, 0), (1, 101), (-5, 1)], ids=lambda v: str(v)
)
async def test_weights_and_priorities_outside_their_ranges_are_refused_whole(
    d: Domains, weight: int, priority: int
) -> None:
    await d.register("s1")
    await d.service.create_domain(ADMIN, "prod")
    before = await d.snapshot()
    with pytest.raises(UsageError) as refused:
        await d.service.add_server(ADMIN, "prod", "s1", weight, priority)
    assert refused.value.hint  # says what the range means, not only that it is wrong
    assert await d.snapshot() == before


async def test_bad_names_and_unknown_things_are_coded_refusals(d: Domains) -> None:
    await d.service.create_domain(ADMIN, "prod")
    for bad in ("", "-lead", "a b", "x" * 65, "ü"):
        with pytest.raises(UsageError):
            await d.service.create_domain(ADMIN, bad)
    with pytest.raises(Conflict, match="already exists"):
        await d.service.create_domain(ADMIN, "prod")
    with pytest.raises(SessionServerNotFound):
        await d.service.add_server(ADMIN, "prod", "never-registered", 1, 1)
    with pytest.raises(DomainNotFound):
        await d.service.delete_domain(ADMIN, "nope")
    with pytest.raises(DomainNotFound):
        d.service.domain("nope")
    with pytest.raises(SessionServerNotFound):
        await d.service.remove_server_from_domain(ADMIN, "prod", "s9")
    with pytest.raises(SessionServerNotFound):
        await d.service.remove_server(ADMIN, "s9")
    assert [r.name for r in d.service.domains()] == ["prod"]


async def test_every_change_is_shown_by_the_next_read_of_this_member(d: Domains) -> None:
    await d.register("s1")
    assert "s1" in d.service.servers()  # no wait between the write and the read
    await d.service.create_domain(ADMIN, "prod")
    assert d.service.domain("prod").members == ()
    await d.service.add_server(ADMIN, "prod", "s1", 5, 2)
    (m,) = d.service.domain("prod").members
    assert (m.server, m.weight, m.priority) == ("s1", 5, 2)
    await d.service.delete_domain(ADMIN, "prod")
    with pytest.raises(DomainNotFound):
        d.service.domain("prod")


async def test_adding_a_server_again_replaces_its_membership_and_members_stay_sorted(d: Domains) -> None:
    for name in ("s3", "s1", "s2"):
        await d.register(name)
    await d.service.create_domain(ADMIN, "prod")
    for name in ("s3", "s1", "s2"):
        await d.service.add_server(ADMIN, "prod", name, 1, 1)
    await d.service.add_server(ADMIN, "prod", "s3", 7, 3)
    members = d.service.domain("prod").members
    assert [(m.server, m.weight, m.priority) for m in members] == [("s1", 1, 1), ("s2", 1, 1), ("s3", 7, 3)]


async def test_a_second_registration_of_a_name_is_refused_and_the_first_certificate_still_counts(
    d: Domains,
) -> None:
    first = await d.register("s1")
    with pytest.raises(Conflict, match="already registered"):
        await d.register("s1")
    assert d.service.authenticate_server("s1", first).name == "s1"


async def test_registration_checks_addresses_and_ports_before_signing(d: Domains) -> None:
    csr, _ = pki.make_csr("s1")
    for address, port in (("not-an-ip", 9000), ("127.0.0.1", 0), ("127.0.0.1", 70000)):
        with pytest.raises(HostgateError):
            await d.service.register_server(
                ADMIN, name="s1", address=address, port=port, advertised_address="", advertised_port=0,
                csr_pem=csr.decode(),
            )  # fmt: skip
    assert d.service.servers() == {}


# --- heartbeats ---------------------------------------------------------------------------------------------


async def test_a_heartbeat_counts_only_with_the_registered_certificate(d: Domains) -> None:
    cert = await d.register("s1")
    other = await d.register("s2")
    with pytest.raises(AuthenticationFailed):
        d.service.heartbeat("s1", None, Heartbeat("s1", 0, 10, 2.0))
    with pytest.raises(ServerCertificateRefused):
        d.service.heartbeat("s1", other, Heartbeat("s1", 0, 10, 2.0))  # another server's, same CA
    with pytest.raises(SessionServerNotFound):
        d.service.heartbeat("s9", cert, Heartbeat("s9", 0, 10, 2.0))
    assert not d.service.router.is_live("s1")
    assert d.service.heartbeat("s1", cert, Heartbeat("s1", 3, 10, 2.0)) == d.service.token_keys.version()
    assert d.service.router.is_live("s1")
    assert d.service.server_by_certificate(cert) is not None
    assert d.service.server_by_certificate(None) is None


@pytest.mark.parametrize(
    "beat",
    [
        Heartbeat("s1", -1, 10, 2.0),
        Heartbeat("s1", 0, 10_000_000, 2.0),
        Heartbeat("s1", 0, 10, 0.0),
        Heartbeat("s1", 0, 10, float("nan")),
        Heartbeat("s1", 0, 10, 1e300),
    ],
    ids=["negative-sessions", "huge-capacity", "zero-interval", "nan-interval", "huge-interval"],
)
async def test_a_heartbeat_with_impossible_figures_is_refused_and_changes_nothing(
    d: Domains, beat: Heartbeat
) -> None:
    cert = await d.register("s1")
    with pytest.raises(InvalidField):
        d.service.heartbeat("s1", cert, beat)
    assert d.service.router.state("s1") is None


async def test_a_removed_server_leaves_every_domain_and_its_certificate_stops_at_once(d: Domains) -> None:
    cert = await d.register("s1")
    await d.register("s2")
    for domain in ("prod", "test"):
        await d.service.create_domain(ADMIN, domain)
        await d.service.add_server(ADMIN, domain, "s1", 1, 1)
        await d.service.add_server(ADMIN, domain, "s2", 1, 1)
    d.beat("s1", "s2")
    await d.service.remove_server(ADMIN, "s1")
    for domain in ("prod", "test"):
        assert [m.server for m in d.service.domain(domain).members] == ["s2"]
    with pytest.raises(SessionServerNotFound):
        d.service.heartbeat("s1", cert, Heartbeat("s1", 0, 10, 2.0))
    assert d.service.router.state("s1") is None
    assert [v.name for v in d.service.server_views()] == ["s2"]


async def test_server_views_show_liveness_load_and_memberships(d: Domains) -> None:
    await d.register("s1")
    await d.register("s2")
    await d.service.create_domain(ADMIN, "prod")
    await d.service.add_server(ADMIN, "prod", "s1", 1, 1)
    d.beat("s1", interval=2.0, active=4, capacity=50)
    d.clock.advance(1.25)
    s1, s2 = d.service.server_views()
    assert (s1.live, s1.active_sessions, s1.capacity, s1.domains) == (True, 4, 50, ("prod",))
    assert s1.seconds_since_heartbeat == 1.25
    assert (s2.live, s2.seconds_since_heartbeat, s2.domains) == (False, None, ())
    d.clock.advance(2.0)  # past 1.5 heartbeat intervals
    assert not d.service.server_views()[0].live


# --- routing --------------------------------------------------------------------------------------------------


@pytest.fixture
async def routed(d: Domains) -> Domains:
    """Domain prod: s1 (weight 1) and s2 (weight 3) in tier 1, s3 in tier 2; all three live."""
    for name in ("s1", "s2", "s3"):
        await d.register(name)
    await d.service.create_domain(ADMIN, "prod")
    await d.service.add_server(ADMIN, "prod", "s1", 1, 1)
    await d.service.add_server(ADMIN, "prod", "s2", 3, 1)
    await d.service.add_server(ADMIN, "prod", "s3", 1, 2)
    d.beat("s1", "s2", "s3")
    await d.member.grant("user", "operator")  # routing needs the User profile (issue #17)
    return d


async def test_routing_uses_the_lowest_live_tier_by_weight(routed: Domains) -> None:
    counts = Counter(routed.service.route(OPERATOR, "prod", "", [], []).server for _ in range(2000))
    assert set(counts) == {"s1", "s2"}
    assert 2.5 < counts["s2"] / counts["s1"] < 3.5
    routed.clock.advance(3.5)  # past 1.5 intervals of 2 s
    routed.beat("s3")  # s1 and s2 missed their heartbeats: tier 2 takes over
    assert {routed.service.route(OPERATOR, "prod", "", [], []).server for _ in range(20)} == {"s3"}


async def test_the_answer_is_a_token_bound_to_the_server_user_model_and_domain(routed: Domains) -> None:
    before = time.time()
    answer = routed.service.route(OPERATOR, "prod", "orders", [], [])
    keys = tokens.KeySet(list(routed.service.token_keys.public()))
    claims = keys.verify(answer.token, kind="session", cluster_id=CLUSTER_ID, server=answer.server)
    assert (claims.user, claims.model, claims.domain, claims.server) == (
        "operator",
        "orders",
        "prod",
        answer.server,
    )
    assert before + SESSION_TOKEN_TTL <= answer.expires_at <= time.time() + SESSION_TOKEN_TTL
    other = next(s for s in ("s1", "s2") if s != answer.server)
    with pytest.raises(HostgateError):  # not valid on any other session server
        keys.verify(answer.token, kind="session", cluster_id=CLUSTER_ID, server=other)


async def test_excluded_servers_are_skipped_and_when_none_is_left_the_refusal_lists_them(
    routed: Domains,
) -> None:
    assert routed.service.route(OPERATOR, "prod", "", ["s1", "s2"], []).server == "s3"
    with pytest.raises(NoServerAvailable) as none:
        routed.service.route(OPERATOR, "prod", "", ["s1", "s2", "s3"], [])
    assert none.value.code == "HG-4101" and "excluded: s1, s2, s3" in str(none.value)


async def test_a_report_counts_only_from_a_user_who_was_routed_there(routed: Domains) -> None:
    # Never routed to s1: the report only keeps s1 out of this one answer.
    assert routed.service.route(OPERATOR, "prod", "", ["s2"], ["s1"]).server == "s3"
    assert routed.service.router.is_live("s1")
    # Routed there, then reporting it: s1 is out for everyone until its next heartbeat.
    while routed.service.route(OPERATOR, "prod", "", ["s2"], []).server != "s1":
        pass
    routed.service.route(OPERATOR, "prod", "", [], ["s1"])
    assert not routed.service.router.is_live("s1")
    assert {routed.service.route(ADMIN, "prod", "", [], []).server for _ in range(20)} == {"s2"}
    routed.beat("s1")
    assert routed.service.router.is_live("s1")


async def test_a_failed_route_request_changes_nothing(routed: Domains) -> None:
    while routed.service.route(OPERATOR, "prod", "", ["s2"], []).server != "s1":
        pass
    with pytest.raises(DomainNotFound):
        routed.service.route(OPERATOR, "no-such-domain", "", [], ["s1"])
    assert routed.service.router.is_live("s1")
    with pytest.raises(NotAuthorized):  # an account with no role gets no token, and reports nothing
        routed.service.route(NOBODY, "prod", "", [], ["s1"])
    assert routed.service.router.is_live("s1")
    # The report that operator may still make is intact.
    routed.service.route(OPERATOR, "prod", "", [], ["s1"])
    assert not routed.service.router.is_live("s1")


async def test_a_direct_grant_names_the_server_and_no_domain(routed: Domains) -> None:
    answer = routed.service.grant_direct(OPERATOR, "s3", "m")
    keys = tokens.KeySet(list(routed.service.token_keys.public()))
    claims = keys.verify(answer.token, kind="session", cluster_id=CLUSTER_ID, server="s3")
    assert (answer.server, claims.domain, claims.model) == ("s3", "", "m")
    with pytest.raises(SessionServerNotFound):
        routed.service.grant_direct(OPERATOR, "s9", "m")
    with pytest.raises(NotAuthorized):
        routed.service.grant_direct(NOBODY, "s3", "m")


async def test_routing_never_reads_the_store(routed: Domains) -> None:
    await routed.member.store.close()  # a member whose store is gone still routes (reads survive)
    assert routed.service.route(OPERATOR, "prod", "", [], []).server in {"s1", "s2"}
    assert [v.name for v in routed.service.server_views()] == ["s1", "s2", "s3"]


async def test_a_server_cannot_send_a_heartbeat_for_another(d: Domains) -> None:
    """Found writing these tests: ``heartbeat`` authenticated the server named by the caller but recorded the
    beat under the name inside it, so s1's certificate could keep s2 live (the HTTP face happened to pass the
    same name twice; the service function itself did not hold the guarantee)."""
    cert = await d.register("s1")
    await d.register("s2")
    with pytest.raises(ServerCertificateRefused):
        d.service.heartbeat("s1", cert, Heartbeat("s2", 0, 10, 2.0))
    assert d.service.router.state("s2") is None and d.service.router.state("s1") is None
