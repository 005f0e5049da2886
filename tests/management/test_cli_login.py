"""CLI login tokens and password changes through the real app, in process (issue #17, `hostgate login`/`passwd`).

The real ``ManagementService`` over a real SQLite member; the HTTP face through ``httpx.ASGITransport``. The login
guard's lockout is checked with its real clock and a short lockout, polled until it ends.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from hostgate.api.app import create_app
from hostgate.config.settings import SecuritySettings
from hostgate.errors import AuthenticationFailed, LoginNotOffered, PasswordNotLocal
from hostgate.management.cli_tokens import CliTokens
from hostgate.management.login_guard import LoginGuard
from hostgate.management.passwords import change_password
from hostgate.management.security import Principal
from hostgate.management.service import ManagementService
from hostgate.messages import PasswordChange
from hostgate.tokens import KeySet, TokenClaims
from tests.helpers.inprocess import ADMIN, CLUSTER_ID, OPERATOR, PASSWORD, InProcessMember, start_member

NEW = "a-new-password-42"


@pytest.fixture
async def member(tmp_path: Path) -> AsyncIterator[InProcessMember]:
    m = await start_member(tmp_path / "m1")
    try:
        yield m
    finally:
        await m.close()


def _bearer(m: InProcessMember, token: str) -> httpx.AsyncClient:
    client = m.http("")
    client.headers["Authorization"] = f"Bearer {token}"
    return client


async def _login(m: InProcessMember, user: str = "operator", password: str = PASSWORD, **body: object) -> str:
    async with m.http(user, password) as api:
        resp = await api.post("/api/v1/login", json=body)
    assert resp.status_code == 200, resp.text
    answer = resp.json()
    assert answer["user"] == user and answer["cluster_id"] == CLUSTER_ID
    if not body:  # the default lifetime: an hour
        assert 3500 < answer["expires_at"] - time.time() <= 3600
    return str(answer["token"])


def _refused(resp: httpx.Response, status: int, code: str, words: str = "") -> None:
    assert resp.status_code == status, resp.text
    assert resp.json()["code"] == code, resp.text
    assert words in resp.json()["message"], resp.text


async def test_a_login_token_authenticates_like_the_password(member: InProcessMember) -> None:
    token = await _login(member)
    assert token.startswith("hgcli_")
    async with _bearer(member, token) as api:
        me = (await api.get("/api/v1/whoami")).json()
        assert (me["name"], me["roles"]) == ("operator", ["user"])
        _refused(await api.get("/api/v1/users"), 403, "HG-3002")  # the same principal: not an Administrator
    admin_token = await _login(member, "admin")
    async with _bearer(member, admin_token) as api:
        resp = await api.post("/api/v1/domains", json={"name": "prod"})
        assert resp.status_code == 201, resp.text


async def test_a_login_needs_the_password_and_a_ttl_in_range(member: InProcessMember) -> None:
    token = await _login(member)
    async with _bearer(member, token) as api:
        _refused(await api.post("/api/v1/login", json={}), 403, "HG-3242", "cannot renew itself")
    async with member.http("operator") as api:
        _refused(await api.post("/api/v1/login", json={"ttl": 5}), 400, "HG-1011", "field 'ttl'")
        _refused(await api.post("/api/v1/login", json={"ttl": 1e9}), 400, "HG-1011", "field 'ttl'")
        resp = await api.post("/api/v1/login", json={"ttl": 120})
    assert resp.status_code == 200 and resp.json()["expires_at"] - time.time() <= 120


async def test_an_expired_login_is_refused_with_its_code(member: InProcessMember) -> None:
    keys = member.service.domains.token_keys
    an_hour_and_more_ago = CliTokens(
        keys, member.cache, CLUSTER_ID, member.service.auth.principal, clock=lambda: time.time() - 3600 - 120
    )
    token, _ = an_hour_and_more_ago.mint(OPERATOR, 3600)
    async with _bearer(member, token) as api:
        resp = await api.get("/api/v1/whoami")
    _refused(resp, 401, "HG-3240", "your login expired at ")
    assert "run `hostgate login`" in resp.json()["message"]


async def test_a_login_of_another_cluster_is_refused(member: InProcessMember, tmp_path: Path) -> None:
    keys = member.service.domains.token_keys
    named_other, _ = CliTokens(keys, member.cache, "another-cluster", member.service.auth.principal).mint(
        OPERATOR
    )
    other = await start_member(tmp_path / "other")  # other keys (the same test cluster id)
    try:
        signed_elsewhere, _ = CliTokens(
            other.service.domains.token_keys, other.cache, CLUSTER_ID, other.service.auth.principal
        ).mint(OPERATOR)
    finally:
        await other.close()
    async with _bearer(member, named_other) as api:
        _refused(await api.get("/api/v1/whoami"), 401, "HG-3241", "for cluster 'another-cluster'")
    async with _bearer(member, signed_elsewhere) as api:
        _refused(
            await api.get("/api/v1/whoami"), 401, "HG-3241", "not signed by a current key of this cluster"
        )
    async with _bearer(member, "hgcli_not.a.token") as api:
        _refused(await api.get("/api/v1/whoami"), 401, "HG-3241", "malformed")


async def test_a_bad_login_token_is_refused_before_the_body_is_read(member: InProcessMember) -> None:
    # A body far over the 1 MiB cap, announced by Content-Length: the gate answers 401 before reading it (a
    # route reading it would answer 413).
    async with _bearer(member, "hgcli_forged") as api:
        resp = await api.post(
            "/api/v1/domains", content=b"x" * (2 << 20), headers={"Content-Type": "application/json"}
        )
    _refused(resp, 401, "HG-3241")


async def test_a_session_token_is_not_a_login(member: InProcessMember) -> None:
    signer = member.service.domains.token_keys.signer()
    session_token = signer.mint(
        TokenClaims("session", CLUSTER_ID, "s1", "admin", "m", "d", time.time() + 600)
    )
    async with _bearer(member, session_token) as api:
        _refused(await api.get("/api/v1/whoami"), 401, "HG-3001")  # not the gate's: no principal, no Basic
    async with _bearer(member, "hgcli_" + session_token) as api:
        _refused(await api.get("/api/v1/whoami"), 401, "HG-3241")


async def test_changing_the_password_ends_the_login_and_the_old_password(member: InProcessMember) -> None:
    token = await _login(member)
    async with member.http("operator") as api:
        assert (await api.get("/api/v1/whoami")).status_code == 200  # the old password is now remembered
    async with _bearer(member, token) as api:
        resp = await api.put(
            "/api/v1/users/operator/password", json={"new_password": NEW, "current_password": PASSWORD}
        )
        assert resp.status_code == 200, resp.text
        assert resp.json() == {"name": "operator", "changed_by": "operator"}
        _refused(await api.get("/api/v1/whoami"), 401, "HG-3241", "password of user 'operator' has changed")
    async with member.http("operator", PASSWORD) as api:
        _refused(await api.get("/api/v1/whoami"), 401, "HG-3001")
    async with member.http("operator", NEW) as api:
        assert (await api.get("/api/v1/whoami")).status_code == 200


async def test_removing_the_user_ends_the_login(member: InProcessMember) -> None:
    token = await _login(member)
    await member.service.remove_user(ADMIN, "operator")
    async with _bearer(member, token) as api:
        _refused(await api.get("/api/v1/whoami"), 401, "HG-3241", "no longer exists")


async def test_own_password_needs_the_right_current_one_and_changes_nothing_otherwise(
    member: InProcessMember,
) -> None:
    async with member.http("operator") as api:
        path = "/api/v1/users/operator/password"
        _refused(await api.put(path, json={"new_password": NEW}), 400, "HG-1011", "field 'current_password'")
        _refused(
            await api.put(path, json={"new_password": NEW, "current_password": "wrong-password"}),
            403, "HG-3244", "current password is wrong",
        )  # fmt: skip
        _refused(
            await api.put(path, json={"new_password": "short", "current_password": PASSWORD}),
            400, "HG-1011", "field 'new_password'",
        )  # fmt: skip
        _refused(
            await api.put(path, json={"new_password": PASSWORD, "current_password": PASSWORD}),
            400, "HG-1011", "same as the current",
        )  # fmt: skip
        _refused(await api.put(path, json={"new_password": 42}), 400, "HG-1011", "new_password")
        assert (await api.get("/api/v1/whoami")).status_code == 200  # the password is unchanged


async def test_an_administrator_resets_another_account_without_its_password(member: InProcessMember) -> None:
    async with member.http("operator") as api:
        _refused(await api.put("/api/v1/users/admin/password", json={"new_password": NEW}), 403, "HG-3002")
    async with member.http("admin") as api:
        resp = await api.put("/api/v1/users/operator/password", json={"new_password": NEW})
        assert resp.json() == {"name": "operator", "changed_by": "admin"}, resp.text
        _refused(await api.put("/api/v1/users/nobody/password", json={"new_password": NEW}), 404, "HG-1042")
    async with member.http("operator", NEW) as api:
        assert (await api.get("/api/v1/whoami")).status_code == 200


async def test_directory_accounts_get_no_login_and_no_password_change(member: InProcessMember) -> None:
    directory_user = Principal("dora", ("user",), groups=("staff",))
    with pytest.raises(LoginNotOffered, match="directory account"):
        CliTokens(
            member.service.domains.token_keys, member.cache, CLUSTER_ID, member.service.auth.principal
        ).mint(directory_user)
    guard = LoginGuard(member.service.auth, member.settings.security)
    try:
        with pytest.raises(PasswordNotLocal, match="managed by the directory"):
            await change_password(
                member.service, guard, directory_user, "dora", PasswordChange(NEW, "whatever-it-is"), "test"
            )
    finally:
        guard.close()


async def test_login_goes_through_the_lockout(member: InProcessMember) -> None:
    policy = SecuritySettings(
        login_fail_delay=0.0, login_free_failures=100, lockout_failures=3, lockout_seconds=3.0
    )
    service = ManagementService(
        dataclasses.replace(member.settings, security=policy), member.store, member.cache
    )
    app = create_app(service)

    def client(password: str) -> httpx.AsyncClient:
        return httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="https://m1", auth=("operator", password)
        )

    async with client("wrong-password") as api:
        for _ in range(3):
            _refused(await api.post("/api/v1/login", json={}), 401, "HG-3001")
        locked = await api.post("/api/v1/login", json={})
    _refused(locked, 429, "HG-3003")
    assert 1 <= int(locked.headers["retry-after"]) <= 3
    async with client(PASSWORD) as api:
        right = await api.post("/api/v1/login", json={})
        _refused(right, 429, "HG-3003")  # the right password too, until the lockout ends
        deadline = time.monotonic() + 30
        while (resp := await api.post("/api/v1/login", json={})).status_code == 429:
            assert time.monotonic() < deadline, "the lockout did not end"
            await _pause()
    assert resp.status_code == 200, resp.text
    assert resp.json()["token"].startswith("hgcli_")


async def _pause() -> None:
    await asyncio.sleep(0.1)  # polling interval, not synchronisation


async def test_wrong_current_passwords_sent_with_a_login_token_lock_out_with_retry_after(
    member: InProcessMember,
) -> None:
    # A stolen login token is no password oracle: wrong current passwords count as failed logins, and the
    # lockout's 429 says when to retry, even though it comes from inside a guarded write.
    policy = SecuritySettings(
        login_fail_delay=0.0, login_free_failures=100, lockout_failures=2, lockout_seconds=60
    )
    service = ManagementService(
        dataclasses.replace(member.settings, security=policy), member.store, member.cache
    )
    app = create_app(service)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="https://m1", auth=("operator", PASSWORD)
    ) as api:
        token = (await api.post("/api/v1/login", json={})).json()["token"]
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app),
        base_url="https://m1",
        headers={"Authorization": f"Bearer {token}"},
    ) as api:
        wrong = {"new_password": NEW, "current_password": "wrong-password"}
        for _ in range(2):
            _refused(await api.put("/api/v1/users/operator/password", json=wrong), 403, "HG-3244")
        locked = await api.put(
            "/api/v1/users/operator/password", json={**wrong, "current_password": PASSWORD}
        )
    _refused(locked, 429, "HG-3003")
    assert 1 <= int(locked.headers["retry-after"]) <= 60


async def test_an_idempotency_key_replays_only_to_the_same_login(member: InProcessMember) -> None:
    await member.service.add_user(ADMIN, "ada", PASSWORD, True)
    key = {"Idempotency-Key": "same-key-for-two-callers"}
    async with _bearer(member, await _login(member, "admin")) as api:
        assert (await api.post("/api/v1/domains", json={"name": "dup"}, headers=key)).status_code == 201
    async with _bearer(member, await _login(member, "ada")) as api:
        resp = await api.post("/api/v1/domains", json={"name": "dup"}, headers=key)
    # Another account's request under the same key is refused, not answered with the first one's answer.
    _refused(resp, 400, "HG-1003", "already used for another request")


async def test_a_session_server_refuses_a_login_token(member: InProcessMember) -> None:
    # Session servers check session tokens with the public keys (tokens.KeySet): a login token, signed by the
    # same key, is no session token there.
    token = (await _login(member, "admin")).removeprefix("hgcli_")
    keys = KeySet(member.service.domains.token_keys.public())
    with pytest.raises(AuthenticationFailed):
        keys.verify(token, kind="session", cluster_id=CLUSTER_ID, server=None)


async def test_a_login_token_follows_the_grants_of_now(member: InProcessMember) -> None:
    """A login token carries no profile: its holder has what the grants give at each call (merge of the
    login and grants work: the token path built its Principal from the account's stored role and missed an
    Administrator grant, and would have kept a revoked one)."""
    token = await _login(member)
    grant = {"profile": "administrator", "subject_kind": "user", "subject": "operator"}
    async with _bearer(member, token) as api:
        assert (await api.get("/api/v1/users")).status_code == 403
    async with member.http("admin", PASSWORD) as admin:
        assert (await admin.post("/api/v1/grants", json=grant)).status_code == 201
    async with _bearer(member, token) as api:
        assert (await api.get("/api/v1/users")).status_code == 200
    async with member.http("admin", PASSWORD) as admin:
        resp = await admin.request("DELETE", "/api/v1/grants", json=grant)
        assert resp.status_code == 200, resp.text
    async with _bearer(member, token) as api:
        assert (await api.get("/api/v1/users")).status_code == 403
