"""The session face's catalog (#19): ``GET /api/v1/models`` and ``GET /api/v1/models/{name}/catalog``.

In process (no sockets): the real ``create_session_app`` over a real registry and models directory. Nothing
here touches a host: a catalog is the model's description, not a session.
"""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import pytest

from hostgate import tokens
from hostgate.messages import SESSION, decode_answer
from hostgate.models import ModelLibrary, deploy_model
from hostgate.models.library import text_digest
from hostgate.session.registry import SessionRegistry
from hostgate.session.server import create_session_app
from tests.helpers.models import write_model

_KID, _PRIVATE_PEM, _PUBLIC_B64 = tokens.generate_key()
SIGNER = tokens.Signer(_KID, _PRIVATE_PEM)
KEYS = tokens.KeySet([tokens.PublicKey(_KID, _PUBLIC_B64)])
CLUSTER = "c-test"


def _token(model: str = "", server: str = "s1") -> str:
    return SIGNER.mint(
        tokens.TokenClaims("session", CLUSTER, server, user="alice", model=model, expires_at=time.time() + 60)
    )


def _face(tmp_path: Path, *, security: bool = True) -> tuple[httpx.AsyncClient, Path]:
    models = tmp_path / "models"
    models.mkdir()
    for name in ("orders", "pay"):
        deploy_model(write_model(tmp_path, "demo3270", 1, name=name), models)
    (models / "broken.yaml").write_text("name: broken\n")  # never validates: not served, not listed
    registry = SessionRegistry("s1", CLUSTER, KEYS, 4, ModelLibrary(models), security=security)
    client = httpx.AsyncClient(
        transport=httpx.ASGITransport(create_session_app(registry)), base_url="http://s1"
    )
    return client, models


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def test_the_list_names_each_served_model_with_its_digest(tmp_path: Path) -> None:
    client, models = _face(tmp_path)
    async with client:
        resp = await client.get("/api/v1/models", headers=_bearer(_token()))
    assert resp.status_code == 200, resp.text
    served = decode_answer(resp.content, SESSION.models.reply, "test")
    digest = text_digest((models / "orders.yaml").read_text())
    assert [(m.name, m.digest) for m in served] == [("orders", digest), ("pay", served[1].digest)]


async def test_a_catalog_is_the_models_procedures_typed_from_its_tables(tmp_path: Path) -> None:
    client, models = _face(tmp_path)
    async with client:
        resp = await client.get("/api/v1/models/orders/catalog", headers=_bearer(_token("orders")))
    assert resp.status_code == 200, resp.text
    catalog = decode_answer(resp.content, SESSION.catalog.reply, "test")
    assert catalog.model == "orders" and catalog.digest == text_digest((models / "orders.yaml").read_text())
    add = catalog.procedure("add_customer")
    assert add is not None and add.type == "insert"
    assert [(i.column, i.type, i.required) for i in add.inputs] == [
        ("number", "integer", True),
        ("name", "string", True),
        ("city", "string", False),
    ]
    listed = catalog.procedure("list_customers")
    assert listed is not None and [c.name for c in listed.outputs] == ["number", "name", "city"]


async def test_a_token_for_one_model_reads_that_model_only(tmp_path: Path) -> None:
    client, _ = _face(tmp_path)
    async with client:
        other = await client.get("/api/v1/models/pay/catalog", headers=_bearer(_token("orders")))
        listing = await client.get("/api/v1/models", headers=_bearer(_token("orders")))
    assert other.status_code == 403 and other.json()["code"] == "HG-3002"
    assert [m["name"] for m in listing.json()] == ["orders"]


@pytest.mark.parametrize("path", ["/api/v1/models", "/api/v1/models/orders/catalog"])
async def test_without_a_token_or_with_another_servers_it_is_refused_while_security_is_on(
    tmp_path: Path, path: str
) -> None:
    client, _ = _face(tmp_path)
    async with client:
        none = await client.get(path)
        elsewhere = await client.get(path, headers=_bearer(_token(server="s2")))
    assert none.status_code == 401 and none.json()["code"] == "HG-3001"
    assert elsewhere.status_code in (401, 403) and elsewhere.json()["code"] == "HG-3852"


async def test_with_security_off_any_caller_reads_the_catalog(tmp_path: Path) -> None:
    client, _ = _face(tmp_path, security=False)
    async with client:
        listing = await client.get("/api/v1/models")
        catalog = await client.get("/api/v1/models/pay/catalog")
    assert [m["name"] for m in listing.json()] == ["orders", "pay"]
    assert catalog.status_code == 200 and catalog.json()["model"] == "pay"


async def test_an_unknown_model_is_a_coded_404(tmp_path: Path) -> None:
    client, _ = _face(tmp_path)
    async with client:
        resp = await client.get("/api/v1/models/nothing/catalog", headers=_bearer(_token()))
    assert resp.status_code == 404 and resp.json()["code"] == "HG-6108"
