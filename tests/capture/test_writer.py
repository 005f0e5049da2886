"""The model writer and --resume: deterministic text that loads back to the same model, no secret ever
written, a resumed model's entities, tables and entity comments kept (no sockets)."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime
from pathlib import Path

import pytest

from hostgate.capture import EntityDraft
from hostgate.capture.builder import ModelBuilder
from hostgate.capture.engine import CaptureRecorder
from hostgate.capture.proposals import propose_rules
from hostgate.capture.writer import dump_model, entity_notes, resume
from hostgate.cli import capture_cmd
from hostgate.errors import CaptureResumeRefused, CaptureRulesClash
from hostgate.hosts import Screen
from hostgate.models import HostType, load_model
from tests.helpers.hosts import SAMPLES

SAMPLE_NAMES = ["demo3270", "demo5250", "demovt"]
WHEN = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)


@pytest.mark.parametrize("name", SAMPLE_NAMES)
def test_samples_round_trip_without_their_secret(name: str) -> None:
    model = load_model(SAMPLES / f"{name}.yaml")
    text = dump_model(model)
    assert text == dump_model(load_model(text))  # deterministic, and stable once written
    assert "LOVELACE" not in text  # the sample's hidden variable had a default: a secret, never written
    back = load_model(text)
    variables = tuple(dataclasses.replace(v, default="") if v.hidden else v for v in model.variables)
    assert back == dataclasses.replace(model, variables=variables)


def test_entity_notes_are_the_comments_right_above_each_entity() -> None:
    text = "entities:\n\n  # first line\n  # second\n  A:\n    rules: []\n  B:  # trailing\n    x: 1\n"
    assert entity_notes(text, ["A", "B"]) == {"A": "first line\nsecond"}


def _list_screen(title: str, row10: str = "") -> Screen:
    lines = [" " * 80 for _ in range(24)]
    lines[0] = title.center(80)
    lines[9] = row10.ljust(80)
    return Screen(24, 80, tuple(lines), (1, 1))


def test_resume_keeps_entities_tables_and_comments(tmp_path: Path) -> None:
    original = load_model(SAMPLES / "demo3270.yaml")
    path = tmp_path / "model.yaml"
    path.write_text(dump_model(original, notes={"Menu": "the main menu\nhand-written"}))
    resumed = resume(path)
    assert resumed.notes == {"Menu": "the main menu\nhand-written"}
    builder = ModelBuilder(original.host, "ignored", resumed=resumed)
    extra = _list_screen("ORDER LIST")
    builder.add_entity(EntityDraft("OrderList", extra, propose_rules(extra)), None, WHEN)
    text = builder.yaml()
    model = load_model(text)
    assert [e.name for e in model.entities] == [*(e.name for e in original.entities), "OrderList"]
    assert model.tables == original.tables and model.procedures == original.procedures
    assert model.navigation == original.navigation
    assert model.name == "demo3270"
    assert "  # the main menu\n  # hand-written\n  Menu:\n" in text
    assert "# captured 2026-01-02 03:04:05 UTC from the screen: ORDER LIST" in text
    # A resumed entity's rules still guard against a screen it would recognise.
    menu_like = _list_screen("MAIN MENU", "   SELECTION ===> __")
    with pytest.raises(CaptureRulesClash, match="the rules of Menu match this screen too"):
        builder.add_entity(EntityDraft("Menu2", menu_like, propose_rules(menu_like)), None, WHEN)


def test_resume_refuses_a_model_of_another_host_type() -> None:
    vt = load_model(SAMPLES / "demovt.yaml").host
    assert vt.type is HostType.VT
    with pytest.raises(CaptureResumeRefused, match="for a 3270 host"):
        CaptureRecorder(vt, resume=SAMPLES / "demo3270.yaml")


def test_a_refused_resume_leaves_no_event_loop_open(tmp_path: Path) -> None:
    # `hostgate model capture --resume` made its event loop before the recorder, whose refusal of the model then
    # left the loop unclosed (the garbage collector's ResourceWarning fails this test's teardown; tests/conftest.py).
    vt = load_model(SAMPLES / "demovt.yaml").host
    with pytest.raises(CaptureResumeRefused, match="for a 3270 host"):
        capture_cmd._capture(vt, tmp_path / "out.yaml", SAMPLES / "demo3270.yaml", "out")
