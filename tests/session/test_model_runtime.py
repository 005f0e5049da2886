"""The model runtime drives real hosts through their sample models: 3270 (tnz → mainframe-mocker), 5250
(ibm5250 → mainframe-mocker) and VT (telnetlib3 + pyte → a curses program), in process, without HTTP."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from hostgate.errors import (
    AttributeNotWritable,
    EntityNotRecognized,
    HostDisconnected,
    HostUnreachable,
    InvalidValue,
    ModelItemNotFound,
    NoPathToEntity,
    SignOnFailed,
    UnexpectedEntity,
)
from hostgate.hosts import open_session
from hostgate.models import Model, load_model
from hostgate.session.model_session import ModelSession
from hostgate.session.values import MASK
from tests.helpers.hosts import HostProcess
from tests.helpers.models import FAULTS, model_text
from tests.helpers.ports import free_port

KINDS = ["3270", "5250", "vt"]
BLOCK = ["3270", "5250"]


def _model(kind: str, port: int, extra: Callable[[dict[str, Any]], None] | None = None) -> Model:
    return load_model(model_text(f"demo{kind}", port, extra=extra))


def _orphan(doc: dict[str, Any]) -> None:
    FAULTS(doc)
    doc["entities"]["Orphan"] = {"rules": [{"text": "NO SUCH SCREEN", "row": 1}]}


@pytest.fixture(params=KINDS)
async def session(request: pytest.FixtureRequest) -> AsyncIterator[ModelSession]:
    host: HostProcess = request.getfixturevalue(f"host_{request.param}")
    model = _model(request.param, host.port)
    opened = ModelSession(model, open_session(model.host, keyboard_timeout=3.0))
    await opened.open()
    try:
        yield opened
    finally:
        await opened.close()


@pytest.fixture(params=BLOCK)
async def faulty(request: pytest.FixtureRequest) -> AsyncIterator[ModelSession]:
    host: HostProcess = request.getfixturevalue(f"host_{request.param}")
    model = _model(request.param, host.port, _orphan)
    opened = ModelSession(model, open_session(model.host, keyboard_timeout=3.0))
    await opened.open()
    try:
        yield opened
    finally:
        await opened.close()


async def test_signs_on_navigates_reads_and_pages(session: ModelSession) -> None:
    assert (await session.current_entity()).name == "Menu"
    assert (await session.set_current_entity("CustomerList")).name == "CustomerList"
    every = await session.fetch_records("customers")
    assert every.columns == ("number", "name", "city")
    assert [r["number"] for r in every.rows] == list(range(1, 41))  # 3 pages of 17, 17, 6
    assert every.rows[0] == {"number": 1, "name": "CUSTOMER 01", "city": "CITY1"}
    await session.set_current_entity("Menu")
    await session.set_current_entity("CustomerList")
    some = await session.fetch_records("customers", max_records=20, filters={"city": "CITY2"})
    assert [r["number"] for r in some.rows] == [2, 7, 12, 17, 22, 27, 32, 37]
    first = await session.fetch_records("customers", max_records=3)
    assert len(first) == 3


async def test_hidden_attributes_read_masked_and_sign_on_by_hand(session: ModelSession) -> None:
    assert (await session.set_current_entity("SignOn")).name == "SignOn"  # Menu.signoff
    await session.set_attributes({"userid": "ADA", "password": "LOVELACE"})
    values = await session.get_attributes()
    assert values["userid"] == "ADA"
    assert values["password"] == MASK
    assert (await session.get_attributes(["password"])) == {"password": MASK}
    assert (await session.perform_entity_operation("signon")).name == "Menu"


async def test_procedures_and_sql(session: ModelSession) -> None:
    found = await session.query("SELECT number, name FROM customers WHERE city = 'CITY1'")
    assert found.columns == ("number", "name")
    assert [r["number"] for r in found.rows] == [1, 6, 11, 16, 21, 26, 31, 36]
    assert (await session.current_entity()).name == "Menu"  # the procedure's path ends at home
    added = await session.perform_table_procedure(
        "customers", "add_customer", {"number": 41, "name": "GRACE", "city": "ARLINGTON"}
    )
    assert added.columns == ("result",)
    assert added.rows[0]["result"] == "SAVED 41 GRACE OF ARLINGTON"


async def test_calls_that_do_not_fit_the_model_are_coded(session: ModelSession) -> None:
    with pytest.raises(AttributeNotWritable):
        await session.set_attributes({"message": "x"})
    with pytest.raises(InvalidValue):
        await session.set_attributes({"option": "toolong"})
    with pytest.raises(ModelItemNotFound, match="operations: open_form, open_list, signoff"):
        await session.perform_entity_operation("save")
    with pytest.raises(InvalidValue, match="needs input"):
        await session.perform_table_procedure("customers", "add_customer", {"city": "X"})
    # An input is typed by its column: "12x" is no integer (it reached the host as "12X" before).
    with pytest.raises(InvalidValue, match=r"input 'number'.*'12x' is not integer"):
        await session.perform_table_procedure(
            "customers", "add_customer", {"number": "12x", "name": "ADA", "city": "X"}
        )
    assert (await session.current_entity()).name == "Menu"  # nothing was sent to the host


@pytest.mark.parametrize("kind", BLOCK)
async def test_wrong_password_is_sign_on_failed_quoting_the_host(
    kind: str, request: pytest.FixtureRequest
) -> None:
    host: HostProcess = request.getfixturevalue(f"host_{kind}")
    model = _model(kind, host.port)
    session = ModelSession(model, open_session(model.host), {"password": "WRONG"})
    with pytest.raises(SignOnFailed, match="USER ID OR PASSWORD IS INCORRECT"):
        await session.open()
    assert not session.connected


async def test_host_down_at_connect_is_unreachable() -> None:
    model = _model("3270", free_port())
    session = ModelSession(model, open_session(model.host))
    with pytest.raises(HostUnreachable):
        await session.open()
    with pytest.raises(ModelItemNotFound, match="variables: userid, password"):
        ModelSession(model, open_session(model.host), {"user": "ADA"})


async def test_an_operation_landing_elsewhere_names_the_entity_seen(faulty: ModelSession) -> None:
    started = time.monotonic()
    with pytest.raises(UnexpectedEntity, match="shows CustomerForm, not CustomerList") as caught:
        await faulty.perform_entity_operation("open_form_as_list")
    assert caught.value.code == "HG-6102"
    assert time.monotonic() - started < 3  # not the operation's whole timeout
    assert (await faulty.current_entity()).name == "CustomerForm"


async def test_an_unrecognised_screen_is_quoted(faulty: ModelSession) -> None:
    with pytest.raises(EntityNotRecognized, match="SLOW SCREEN") as caught:
        await faulty.perform_entity_operation("open_slow")
    assert caught.value.code == "HG-6101"
    with pytest.raises(EntityNotRecognized, match="no entity of model"):
        await faulty.current_entity()


async def test_no_path_to_an_entity(faulty: ModelSession) -> None:
    with pytest.raises(NoPathToEntity, match="from Menu to Orphan"):
        await faulty.set_current_entity("Orphan")
    with pytest.raises(ModelItemNotFound):
        await faulty.set_current_entity("Nowhere")


async def test_host_dropping_mid_operation_disconnects_the_session(faulty: ModelSession) -> None:
    assert (await faulty.set_current_entity("Drop")).name == "Drop"
    with pytest.raises(HostDisconnected) as caught:
        await faulty.perform_entity_operation("press")
    assert caught.value.code == "HG-7002"
    assert not faulty.connected
