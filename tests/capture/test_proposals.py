"""The capture engine's proposals and model building on synthetic screens (no host, no sockets)."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime

import pytest

from hostgate.capture import (
    AttributeDraft,
    EntityDraft,
    OperationDraft,
    Typed,
    ValueChoice,
    ValueKind,
)
from hostgate.capture.builder import ModelBuilder
from hostgate.capture.proposals import (
    attribute_candidates,
    column_candidates,
    identifier,
    label_before,
    page_counter_rule,
    propose_rules,
)
from hostgate.errors import (
    CaptureNameInvalid,
    CaptureNothingToRecord,
    CaptureRulesClash,
    CaptureUnknownEntity,
)
from hostgate.hosts import Field, Screen
from hostgate.models import HostSpec, HostType, Key, RegexRule, Terminal, TextRule, ValueType, load_model

WHEN = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
SPEC = HostSpec(HostType.TN3270, "127.0.0.1", 3270, Terminal("IBM-3278-2", 24, 80))


def screen(rows: dict[int, str], fields: tuple[Field, ...] = (), cursor: tuple[int, int] = (1, 1)) -> Screen:
    lines = []
    for r in range(1, 25):
        text = rows.get(r, "")
        lines.append(text.ljust(80)[:80])
    return Screen(24, 80, tuple(lines), cursor, fields)


def _at(col: int, text: str) -> str:
    return " " * (col - 1) + text


MENU = screen({1: " HGTEST" + _at(29, "MAIN MENU") + _at(21, "02/01/26"), 5: _at(5, "1  Customer form")})
SIGNON = screen(
    {
        1: " HGTEST" + _at(30, "SIGN ON"),
        10: _at(20, "USER ID . . : ________"),
        12: _at(20, "PASSWORD  . :"),
    },
    fields=(
        Field(10, 20, 13, protected=True, text="USER ID . . :"),
        Field(10, 34, 8, protected=False, text="________"),
        Field(12, 20, 13, protected=True, text="PASSWORD  . :"),
        Field(12, 34, 8, protected=False, hidden=True),
        Field(12, 43, 30, protected=True),
    ),
)


def test_identifiers_from_labels() -> None:
    assert identifier("USER ID . . :", "x") == "userid"
    assert identifier("CUSTOMER NO . :", "x") == "customerno"
    assert identifier("2ND LINE", "x") == "f_2ndline"
    assert identifier(". . :", "fallback") == "fallback"
    assert label_before(SIGNON, 12, 34) == "PASSWORD . :"  # leader dots alone name nothing


def test_rules_title_nearest_the_centre_and_a_body_anchor() -> None:
    rules = propose_rules(MENU)
    assert rules[0] == TextRule("MAIN MENU", row=1, col=36)
    assert rules[1] == TextRule("Customer form", row=5, col=8)  # "1" has a digit: never an exact anchor


def test_rules_skip_texts_other_entities_show_at_the_same_place() -> None:
    other = screen({1: _at(36, "MAIN MENU"), 5: _at(8, "Customer form")})
    rules = propose_rules(MENU, [other])
    assert TextRule("MAIN MENU", row=1, col=36) not in rules


def test_attribute_candidates_from_unprotected_fields() -> None:
    assert attribute_candidates(SIGNON) == (
        AttributeDraft("userid", 10, 34, 8, writable=True),
        AttributeDraft("password", 12, 34, 8, writable=True, hidden=True),
    )


def test_recordset_columns_and_page_counter() -> None:
    rows = {3: _at(60, "PAGE 1 OF 3"), 4: " NO.   NAME          CITY", 5: " " + "-" * 24}
    rows |= {5 + i: f" {i:04d}  CUSTOMER {i:02d}   CITY{i % 5}" for i in range(1, 18)}
    shown = screen(rows)
    columns = column_candidates(shown, 6, 22)
    assert [(c.name, c.col, c.type) for c in columns] == [
        ("no", 2, ValueType.INTEGER),
        ("name", 8, ValueType.STRING),
        ("city", 22, ValueType.STRING),
    ]
    end = page_counter_rule(shown, [3], end_only=True)
    assert isinstance(end, RegexRule)
    assert not end.matches(shown)
    last = dataclasses.replace(
        shown, lines=(*shown.lines[:2], _at(60, "PAGE 3 OF 3").ljust(80), *shown.lines[3:])
    )
    assert end.matches(last)
    assert RegexRule(r"PAGE\s*\d+\s*OF\s*\d+", end.region) in propose_rules(shown)


def _builder_with_menu() -> ModelBuilder:
    b = ModelBuilder(SPEC, "demo")
    b.add_entity(EntityDraft("Menu", MENU, propose_rules(MENU)), None, WHEN)
    return b


def test_clashing_rules_are_refused_with_each_clash_listed() -> None:
    b = _builder_with_menu()
    copy = EntityDraft("Menu2", MENU, (TextRule("MAIN MENU", row=1),))
    assert b.also_matches(copy.rules, "Menu2") == ("Menu",)
    with pytest.raises(CaptureRulesClash) as caught:
        b.add_entity(copy, None, WHEN)
    assert "the rules of Menu2 also match the screen of Menu" in caught.value.message
    assert "the rules of Menu match this screen too" in caught.value.message
    assert [d.name for d in b.drafts] == ["Menu"]  # refused whole
    # Rules that only the other screen satisfies are accepted.
    b.add_entity(EntityDraft("SignOn", SIGNON, propose_rules(SIGNON)), None, WHEN)


def test_an_entity_whose_operation_is_bad_is_refused_whole() -> None:
    b = _builder_with_menu()
    op = OperationDraft("Menu", "go", (Typed(10, 19, "1"),), "SignOn")  # no key at the end
    with pytest.raises(CaptureNothingToRecord):
        b.add_entity(EntityDraft("SignOn", SIGNON, propose_rules(SIGNON)), op, WHEN)
    assert [d.name for d in b.drafts] == ["Menu"]
    with pytest.raises(CaptureUnknownEntity):
        b.add_operation(OperationDraft("Menu", "go", (Key.ENTER,), "Nowhere"))
    with pytest.raises(CaptureNameInvalid):
        b.add_entity(EntityDraft("no good", SIGNON, propose_rules(SIGNON)), None, WHEN)


def test_a_secret_is_a_hidden_variable_whatever_the_choice_and_never_written() -> None:
    b = ModelBuilder(SPEC, "demo")
    b.add_entity(
        EntityDraft("SignOn", SIGNON, propose_rules(SIGNON), attribute_candidates(SIGNON)), None, WHEN
    )
    b.add_entity(EntityDraft("Menu", MENU, propose_rules(MENU)), None, WHEN)
    # A face that (wrongly) kept the text of a secret and chose "literal": still a hidden variable, no default.
    inputs = (Typed(10, 34, "ADA"), Key.TAB, Typed(12, 34, "SWORDFISH", secret=True), Key.ENTER)
    choices = (ValueChoice(ValueKind.LITERAL), ValueChoice(ValueKind.LITERAL, "pw"))
    b.add_operation(OperationDraft("SignOn", "signon", inputs, "Menu", choices))
    text = b.yaml()
    assert "SWORDFISH" not in text
    model = load_model(text)
    pw = model.variable("pw")
    assert pw is not None and pw.hidden and pw.default == ""
    assert model.navigation.sign_on[0].operation == "signon"
    assert model.navigation.home == "Menu"


def test_typing_into_an_unlabelled_field_creates_an_attribute() -> None:
    b = _builder_with_menu()
    b.add_operation(OperationDraft("Menu", "pick", (Typed(7, 50, "X"), Key.ENTER), "Menu"))
    model = load_model(b.yaml())
    menu = model.entity("Menu")
    assert menu is not None
    created = [a for a in menu.attributes if (a.row, a.col) == (7, 50)]
    assert len(created) == 1 and created[0].name == "field_r7c50" and created[0].access.writable
