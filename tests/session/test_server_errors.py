"""The session server's HTTP face turns a bug below it into one coded 500 and one log record (#15.5).

In process (no sockets): the real ``create_session_app`` over a real ``SessionRegistry`` and models directory,
with a terminal driver that fails with an exception no one meant to raise (the registry's ``host_factory``
seam, the same one the server fills with the real drivers).
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

import httpx
import pytest

from hostgate import tokens
from hostgate.hosts import HostSession
from hostgate.models import HostSpec, ModelLibrary, deploy_model
from hostgate.session.registry import SessionRegistry
from hostgate.session.server import create_session_app
from tests.helpers.models import write_model

_KID, _PRIVATE_PEM, _PUBLIC_B64 = tokens.generate_key()
SIGNER = tokens.Signer(_KID, _PRIVATE_PEM)
KEYS = tokens.KeySet([tokens.PublicKey(_KID, _PUBLIC_B64)])
CLUSTER = "c-test"


def _broken_driver(spec: HostSpec) -> HostSession:
    raise KeyError("a driver bug")


def _app(tmp_path: Path) -> httpx.AsyncClient:
    models = tmp_path / "models"
    models.mkdir()
    deploy_model(write_model(tmp_path, "demo3270", 1, name="m"), models)
    registry = SessionRegistry("s1", CLUSTER, KEYS, 4, ModelLibrary(models), host_factory=_broken_driver)
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(create_session_app(registry)), base_url="http://s1"
    )


def _token() -> str:
    claims = tokens.TokenClaims(
        "session", CLUSTER, "s1", user="alice", model="m", expires_at=time.time() + 60
    )
    return SIGNER.mint(claims)


async def test_an_unexpected_exception_is_hg_1000_with_a_request_id_logged_once(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    async with _app(tmp_path) as http:
        resp = await http.post(
            "/api/v1/sessions", json={"model": "m"}, headers={"Authorization": f"Bearer {_token()}"}
        )
    assert resp.status_code == 500
    body = resp.json()
    request_id = resp.headers["x-request-id"]
    assert body["code"] == "HG-1000" and body["request_id"] == request_id and request_id in body["message"]
    assert "Traceback" not in resp.text and "a driver bug" not in resp.text
    assert (
        resp.headers["x-hostgate-cluster-id"] == CLUSTER and resp.headers["x-hostgate-session-server"] == "s1"
    )
    with_traceback = [r for r in caplog.records if r.exc_info is not None]
    assert len(with_traceback) == 1, [r.getMessage() for r in with_traceback]
    assert request_id in with_traceback[0].getMessage()
    assert isinstance(with_traceback[0].exc_info[1], KeyError)  # type: ignore[index]
    assert [r for r in caplog.records if request_id in r.getMessage()] == with_traceback


async def test_a_coded_error_carries_the_request_id_and_is_not_logged_as_a_bug(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    async with _app(tmp_path) as http:
        resp = await http.get("/api/v1/sessions/nope", headers={"Authorization": f"Bearer {_token()}"})
    assert resp.status_code == 404
    assert resp.json()["code"] == "HG-4202" and resp.json()["request_id"] == resp.headers["x-request-id"]
    assert not [r for r in caplog.records if r.exc_info is not None]


async def test_routing_answers_unknown_paths_and_methods_coded_with_allow_and_head_as_get(
    tmp_path: Path,
) -> None:
    # session/_face.py dispatches without Starlette's router (issue #16): what that router answered on its
    # own is answered the same way, inside the error boundary.
    async with _app(tmp_path) as http:
        missing = await http.get("/api/v1/sessions/x/nothing")
        wrong = await http.delete("/api/v1/sessions/x/operations/back")
        head = await http.head("/api/v1/sessions/x", headers={"Authorization": f"Bearer {_token()}"})
    assert missing.status_code == 404 and missing.json()["code"] == "HG-1040"
    assert wrong.status_code == 405 and wrong.json()["code"] == "HG-1041"
    assert wrong.headers["allow"] == "POST"
    assert head.status_code == 404  # the GET route ran: no such session (HG-4202), not a 405
    for resp in (missing, wrong, head):
        assert resp.headers["x-hostgate-cluster-id"] == CLUSTER
        assert resp.headers["x-request-id"]
    assert missing.json()["request_id"] == missing.headers["x-request-id"]
