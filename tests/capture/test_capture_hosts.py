"""Capture the demo application from scratch on the real 3270, 5250 and VT test hosts, then check that the
captured model is a real model: it loads, recognises every captured screen as its entity, carries no
password, runs the samples' table procedures with the same answers as the hand-written samples, and replays
cleanly — and that replay detects a changed host application."""

from __future__ import annotations

import dataclasses
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from hostgate.capture.engine import CaptureRecorder
from hostgate.capture.replay import format_report, replay
from hostgate.errors import CaptureRulesClash, KeyNotSupported, SignOnFailed
from hostgate.hosts import open_session
from hostgate.messages import Records
from hostgate.models import Key, Model, Value, load_model
from hostgate.session.model_session import ModelSession
from tests.capture.script import capture_demo, fixed_clock
from tests.helpers.hosts import SAMPLES, HostProcess, sample_model

KINDS = ["3270", "5250", "vt"]
PASSWORD = "LOVELACE"
_CAPTURED: dict[str, str] = {}  # kind -> YAML, captured once per kind for the tests of this module


async def _captured(kind: str, host: HostProcess) -> str:
    if kind not in _CAPTURED:
        spec = dataclasses.replace(sample_model(f"demo{kind}").host, address="127.0.0.1", port=host.port)
        recorder = await capture_demo(spec, name=f"captured{kind}")
        try:
            _CAPTURED[kind] = recorder.model_yaml()
            drafts = {d.name: d.screen for d in recorder.entities}
        finally:
            await recorder.close()
        model = load_model(_CAPTURED[kind])
        for name, screen in drafts.items():
            found = model.recognize(screen)
            assert found is not None and found.name == name, f"{name}'s screen is seen as {found}"
    return _CAPTURED[kind]


def _with_sample_tables(text: str, kind: str) -> Model:
    sample: dict[str, Any] = yaml.safe_load((SAMPLES / f"demo{kind}.yaml").read_text())
    return load_model(text + yaml.safe_dump({"tables": sample["tables"]}, sort_keys=False))


async def _answers(model: Model) -> tuple[Records[Value], Records[Value], Records[Value]]:
    session = ModelSession(model, open_session(model.host, keyboard_timeout=5.0), {"password": PASSWORD})
    await session.open()
    try:
        everyone = await session.perform_table_procedure("customers", "list_customers")
        some = await session.query("SELECT number, name FROM customers WHERE city = 'CITY1'")
        added = await session.perform_table_procedure(
            "customers", "add_customer", {"number": 42, "name": "ADA", "city": "LONDON"}
        )
        return everyone, some, added
    finally:
        await session.close()


@pytest.mark.parametrize("kind", KINDS)
async def test_captured_model_loads_and_keeps_no_password(
    kind: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    text = await _captured(kind, request.getfixturevalue(f"host_{kind}"))
    assert PASSWORD not in text
    path = tmp_path / "captured.yaml"
    path.write_text(text)
    check = subprocess.run(
        [sys.executable, "-m", "hostgate.cli.main", "model", "check", str(path)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert check.returncode == 0, check.stdout + check.stderr
    model = load_model(text)
    assert [e.name for e in model.entities] == ["SignOn", "Menu", "CustomerForm", "CustomerList"]
    password = model.variable("password")
    assert password is not None and password.hidden and password.default == ""
    nav = model.navigation
    assert (nav.start, nav.home) == ("SignOn", "Menu")
    assert [str(r) for r in nav.sign_on] == ["SignOn.signon"]
    assert [str(r) for r in nav.sign_off] == ["Menu.signoff"]
    signon = model.entity("SignOn")
    assert signon is not None and signon.operations[0].destinations == ("Menu", "SignOn")
    assert "# captured 2026-01-02 03:04:05 UTC from the screen: HGTEST" in text


@pytest.mark.parametrize("kind", KINDS)
async def test_captured_model_answers_as_the_sample(kind: str, request: pytest.FixtureRequest) -> None:
    host: HostProcess = request.getfixturevalue(f"host_{kind}")
    captured = _with_sample_tables(await _captured(kind, host), kind)
    sample = sample_model(f"demo{kind}")
    sample = dataclasses.replace(
        sample, host=dataclasses.replace(sample.host, address="127.0.0.1", port=host.port)
    )
    got, want = await _answers(captured), await _answers(sample)
    assert len(want[0].rows) == 40
    for mine, theirs in zip(got, want, strict=True):
        assert mine.columns == theirs.columns
        assert list(mine.rows) == list(theirs.rows)


@pytest.mark.parametrize("kind", KINDS)
async def test_replay_of_the_captured_model_passes(kind: str, request: pytest.FixtureRequest) -> None:
    text = await _captured(kind, request.getfixturevalue(f"host_{kind}"))
    model = load_model(text)
    report = await replay(model, values={"password": PASSWORD}, timeout=5)
    assert report.ok, format_report(report)
    every = {(e.name, op.name) for e in model.entities for op in e.operations}
    assert set(report.walked) == every


@pytest.mark.parametrize("changed_host", KINDS, indirect=True)
async def test_replay_detects_a_changed_screen(
    changed_host: HostProcess, request: pytest.FixtureRequest
) -> None:
    kind = request.node.callspec.params["changed_host"]
    model = load_model(await _captured(kind, request.getfixturevalue(f"host_{kind}")))
    moved = dataclasses.replace(model, host=dataclasses.replace(model.host, port=changed_host.port))
    report = await replay(moved, values={"password": PASSWORD}, timeout=3)
    assert not report.ok
    first = report.findings[0]
    assert (first.entity, first.operation, first.expected) == ("Menu", "open_list", ("CustomerList",))
    assert first.landed_on is None
    assert first.screen is not None and "CLIENT LIST" in first.screen.text
    text = format_report(report, "captured")
    assert "Menu.open_list: expected CustomerList, landed on no entity" in text
    # Everything else still works, and was still checked.
    others = {(f.entity, f.operation) for f in report.findings} - {("Menu", "open_list")}
    assert others == {("CustomerList", "back")}, text
    assert ("CustomerForm", "save") in report.walked


async def test_marking_a_captured_screen_again_is_refused(host_3270: HostProcess) -> None:
    spec = dataclasses.replace(sample_model("demo3270").host, address="127.0.0.1", port=host_3270.port)
    recorder = CaptureRecorder(spec, name="again")
    await recorder.start()
    try:
        recorder.add_entity(recorder.propose_entity("SignOn"))
        await recorder.type_text("ADA")
        await recorder.press(Key.TAB)
        await recorder.type_text(PASSWORD)
        await recorder.press(Key.ENTER)
        recorder.add_entity(recorder.propose_entity("Menu"), recorder.propose_operation("signon", "Menu"))
        assert recorder.recognize() == "Menu"
        with pytest.raises(KeyNotSupported):
            await recorder.press(Key.ESCAPE)  # no such key on a 3270: refused, and nothing recorded
        assert recorder.pending == ()
        again = recorder.propose_entity("Again")
        assert recorder.check_rules(again.rules, name="Again").also_matches == ("Menu",)
        with pytest.raises(CaptureRulesClash, match="the rules of Again also match the screen of Menu"):
            recorder.add_entity(again)
        assert [e.name for e in recorder.entities] == ["SignOn", "Menu"]
        assert PASSWORD not in recorder.model_yaml()
    finally:
        await recorder.close()


async def test_resume_adds_to_a_captured_model_on_the_live_host(
    host_3270: HostProcess, tmp_path: Path
) -> None:
    spec = dataclasses.replace(sample_model("demo3270").host, address="127.0.0.1", port=host_3270.port)
    first = CaptureRecorder(spec, name="resumed", clock=fixed_clock)
    await first.start()
    try:
        first.add_entity(first.propose_entity("SignOn"))
        await first.type_text("ADA")
        await first.press(Key.TAB)
        await first.type_text(PASSWORD)
        await first.press(Key.ENTER)
        first.add_entity(first.propose_entity("Menu"), first.propose_operation("signon", "Menu"))
        path = tmp_path / "resumed.yaml"
        path.write_text(first.model_yaml())
    finally:
        await first.close()

    again = CaptureRecorder(spec, resume=path)
    await again.start()
    try:
        assert [e.name for e in again.entities] == ["SignOn", "Menu"]
        assert again.current == "SignOn"  # the first screen is an entity of the resumed model
        await again.type_text("ADA")
        await again.press(Key.TAB)
        await again.type_text(PASSWORD)
        await again.press(Key.ENTER)
        again.discard_pending()  # signing on again is no new operation: the next inputs start from here
        assert again.current == "Menu"
        await again.type_text("1")
        await again.press(Key.ENTER)
        again.add_entity(
            again.propose_entity("CustomerForm"), again.propose_operation("open_form", "CustomerForm")
        )
        text = again.model_yaml()
    finally:
        await again.close()
    model = load_model(text)
    assert [e.name for e in model.entities] == ["SignOn", "Menu", "CustomerForm"]
    menu = model.entity("Menu")
    assert menu is not None and [op.name for op in menu.operations] == ["open_form"]
    assert (
        "# captured 2026-01-02 03:04:05 UTC from the screen: HGTEST  MAIN MENU" in text
    )  # kept from the file
    assert [str(r) for r in model.navigation.sign_on] == ["SignOn.signon"]
    assert PASSWORD not in text


async def test_a_refused_sign_on_is_sign_on_failed(host_3270: HostProcess) -> None:
    model = load_model(await _captured("3270", host_3270))
    session = ModelSession(model, open_session(model.host, keyboard_timeout=5.0), {"password": "WRONG"})
    with pytest.raises(SignOnFailed, match="USER ID OR PASSWORD IS INCORRECT"):
        await session.open()
