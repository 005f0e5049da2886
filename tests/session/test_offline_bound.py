"""The security switch and the offline bound of a session server, in process with a ManualClock (issue #17).

Security off: a request without a token is the user ``anonymous`` (a token that is presented is still checked
whole); on: refused. Offline bound: a token valid but for its expiry is accepted only while no management
member has answered for longer than the heartbeat failure threshold (1.5 intervals) and the token expired at
most ``grace`` seconds ago, with one WARNING; past the bound HG-3220 says why; while
management answers, the usual "the token has expired". The same rules with real processes:
tests/integration/test_security_switch.py.
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import jwt
import pytest

from hostgate import tokens
from hostgate.errors import (
    AuthenticationFailed,
    ManagementSessionError,
    NotAuthorized,
    OfflineBoundExceeded,
)
from hostgate.models.library import ModelLibrary, deploy_model
from hostgate.session.offline import ManagementContact, OfflineBound
from hostgate.session.registry import ANONYMOUS, SessionRegistry
from tests.helpers._clock import ManualClock
from tests.session.test_registry import CLUSTER, MODEL, Hosts

INTERVAL = 1.0  # heartbeat interval: the failure threshold is 1.5 s
GRACE = 300.0


@dataclass(frozen=True)
class Key:
    kid: str
    private_pem: str

    @classmethod
    def new(cls) -> Key:
        kid, private_pem, _ = tokens.generate_key()
        return cls(kid, private_pem)


@dataclass
class Lab:
    registry: SessionRegistry
    key: Key
    clock: ManualClock
    contact: ManagementContact

    def token(self, *, verified_ago: float, lifetime: float, user: str = "ada") -> str:
        """A token issued ``verified_ago`` seconds ago (by the ManualClock) that lives ``lifetime`` seconds."""
        issued = self.clock.wall() - verified_ago
        return _mint(self.key, user, issued, issued + lifetime)


def _mint(key: Key, user: str, issued: float, expires: float) -> str:
    """A token as a member mints it, with chosen times (``Signer.mint`` stamps ``iat`` with the system clock)."""
    payload = {
        "typ": "session", "cid": CLUSTER, "srv": "s1", "sub": user, "mdl": "mini", "dom": "",
        "jti": f"{user}-{issued}", "iat": int(issued), "exp": int(expires),
    }  # fmt: skip
    return jwt.encode(payload, key.private_pem, algorithm="EdDSA", headers={"kid": key.kid})


@pytest.fixture
async def lab(tmp_path: Path) -> AsyncIterator[Lab]:
    source = tmp_path / "mini.yaml"
    source.write_text(MODEL)
    deploy_model(source, tmp_path / "models")
    kid, private_pem, public_b64 = tokens.generate_key()
    key = Key(kid, private_pem)
    clock = ManualClock(now=float(int(time.time())))  # whole seconds, as a token's iat and exp are
    keys = tokens.KeySet([tokens.PublicKey(kid, public_b64)], clock=clock.wall)
    contact = ManagementContact(INTERVAL, clock)
    registry = SessionRegistry(
        "s1",
        CLUSTER,
        keys,
        4,
        ModelLibrary(tmp_path / "models"),
        host_factory=Hosts(),
        offline=OfflineBound(contact, GRACE),
    )
    try:
        yield Lab(registry, key, clock, contact)
    finally:
        await registry.close_all()


# --- the switch ------------------------------------------------------------------------------------------------


async def test_security_off_opens_a_session_without_a_token_as_anonymous(lab: Lab) -> None:
    lab.registry.security = False
    who = lab.registry.claims(None)
    assert who.user == ANONYMOUS
    session = await lab.registry.open(who, "mini")
    assert session.user == ANONYMOUS
    # A token that is presented still names its user, and is still checked whole.
    assert lab.registry.claims(lab.token(verified_ago=1, lifetime=60)).user == "ada"
    with pytest.raises(ManagementSessionError):
        lab.registry.claims(_mint(Key.new(), "eve", lab.clock.wall(), lab.clock.wall() + 60))


async def test_security_on_refuses_a_request_without_a_token(lab: Lab) -> None:
    assert lab.registry.security  # the default
    with pytest.raises(AuthenticationFailed, match="needs the token"):
        lab.registry.claims(None)
    lab.registry.security = False
    lab.registry.claims(None)
    lab.registry.security = True  # switched on again: refused again
    with pytest.raises(AuthenticationFailed):
        lab.registry.claims(None)


async def test_token_less_sessions_are_apart_from_an_account_named_anonymous(lab: Lab) -> None:
    lab.registry.security = False
    bare = await lab.registry.open(lab.registry.claims(None), "mini")
    named = lab.registry.claims(lab.token(verified_ago=1, lifetime=60, user=ANONYMOUS))
    own = await lab.registry.open(named, "mini")
    with pytest.raises(NotAuthorized):
        lab.registry.get(named, bare.id)
    with pytest.raises(NotAuthorized):
        lab.registry.get(lab.registry.claims(None), own.id)
    assert lab.registry.get(lab.registry.claims(None), bare.id) is bare


async def test_switched_on_the_token_less_sessions_are_signed_off_and_the_others_kept(lab: Lab) -> None:
    lab.registry.security = False
    bare = [await lab.registry.open(lab.registry.claims(None), "mini") for _ in range(2)]
    ada = lab.registry.claims(lab.token(verified_ago=1, lifetime=60))
    kept = await lab.registry.open(ada, "mini")
    assert lab.registry.set_security(False) is None  # nothing to close while off
    closing = lab.registry.set_security(True)
    assert closing is not None and lab.registry.security
    await closing
    assert set(lab.registry.sessions) == {kept.id}
    assert all(not s.runtime.connected for s in bare)
    assert lab.registry.set_security(True) is None


# --- the offline bound -----------------------------------------------------------------------------------------


async def test_while_management_answers_an_expired_token_is_refused_as_before(lab: Lab) -> None:
    token = lab.token(verified_ago=100, lifetime=10)  # expired 90 s ago (past the 60 s skew)
    lab.contact.heard()
    with pytest.raises(AuthenticationFailed, match="has expired") as caught:
        lab.registry.claims(token)
    assert not isinstance(caught.value, OfflineBoundExceeded)


async def test_cut_off_a_user_verified_within_the_bound_is_accepted_once_logged(
    lab: Lab, caplog: pytest.LogCaptureFixture
) -> None:
    lab.contact.heard()
    lab.clock.advance(2.0)  # no member answered for longer than the threshold (1.5 s)
    token = lab.token(
        verified_ago=10, lifetime=-70
    )  # verified 10 s ago, already past its expiry and the skew
    with caplog.at_level(logging.WARNING, logger="hostgate.session"):
        assert lab.registry.claims(token).user == "ada"
        assert lab.registry.claims(token).user == "ada"
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1, warnings  # once per token, not once per call
    assert "accepting user ada" in warnings[0] and "verified 10 s ago" in warnings[0]
    assert "offline bound 300 s" in warnings[0]


async def test_cut_off_past_the_bound_is_refused_with_hg_3220_saying_why(lab: Lab) -> None:
    lab.contact.heard()
    token = lab.token(verified_ago=GRACE + 25, lifetime=30)  # verified 325 s ago, expired 295 s ago
    lab.clock.advance(2.0)
    assert lab.registry.claims(token).user == "ada"  # expired 297 s ago: within the bound
    lab.clock.advance(5)  # 302 s: past it
    with pytest.raises(OfflineBoundExceeded) as caught:
        lab.registry.claims(token)
    message = caught.value.message
    assert caught.value.code == "HG-3220"
    assert "management unreachable since" in message and "UTC" in message
    assert "verified 332 s ago" in message and "expired 302 s ago" in message
    assert "offline bound of 300 s" in message
    # Management answers again: the usual expiry (the client gets a new token there), not the bound.
    lab.contact.heard()
    with pytest.raises(AuthenticationFailed) as again:
        lab.registry.claims(token)
    assert not isinstance(again.value, OfflineBoundExceeded)


async def test_a_server_that_never_reached_management_counts_silence_from_its_start(lab: Lab) -> None:
    # The contact was created with the registry and has heard nothing: a restart while every member is down.
    token = lab.token(verified_ago=20, lifetime=-70)
    lab.clock.advance(1.0)  # within the threshold of the start: not cut off yet
    with pytest.raises(AuthenticationFailed, match="has expired"):
        lab.registry.claims(token)
    lab.clock.advance(1.0)
    assert lab.registry.claims(token).user == "ada"
    assert "this server's start" in lab.contact.since_text()


async def test_the_bound_never_relaxes_the_binding_checks(lab: Lab) -> None:
    lab.clock.advance(10)  # cut off
    forged = _mint(Key.new(), "eve", lab.clock.wall() - 5, lab.clock.wall() - 70)
    with pytest.raises(ManagementSessionError):
        lab.registry.claims(forged)


async def test_with_the_default_bound_a_token_that_just_expired_gets_in(lab: Lab) -> None:
    """The bound counts from the expiry (found at merge: counted from the issue, the default 300 s bound was
    shorter than the 15-minute token lifetime, so no expired token could ever be within it)."""
    assert GRACE == 300
    lab.contact.heard()
    lab.clock.advance(2.0)  # cut off
    token = lab.token(verified_ago=17 * 60, lifetime=15 * 60)  # a full-lifetime token, expired 2 min ago
    assert lab.registry.claims(token).user == "ada"
