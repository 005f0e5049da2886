"""Recognition rules, attributes and recordsets read a ScreenLike: no host needed."""

from __future__ import annotations

from decimal import Decimal

import pytest

from hostgate.hosts import Screen
from hostgate.models import (
    Attribute,
    CursorRule,
    Key,
    RecordField,
    Recordset,
    RegexRule,
    Region,
    TextRule,
    ValueType,
    convert_value,
    parse_key,
    render_template,
    template_names,
)
from tests.helpers.hosts import sample_model


def screen(*rows: str, cursor: tuple[int, int] = (1, 1)) -> Screen:
    lines = tuple(r.ljust(20)[:20] for r in rows) + tuple(" " * 20 for _ in range(5 - len(rows)))
    return Screen(5, 20, lines, cursor)


S = screen(" SIGN ON   PAGE 2", "USER ID: ADA", "", "  0007  1,234.50", cursor=(2, 10))


@pytest.mark.parametrize(
    ("rule", "matches"),
    [
        (TextRule("SIGN ON", 1, 2), True),
        (TextRule("SIGN ON", 1, 3), False),
        (TextRule("SIGN ON", 1), True),
        (TextRule("SIGN ON", 2), False),
        (TextRule("sign on", case_sensitive=False), True),
        (TextRule("sign on"), False),
        (TextRule("ADA", region=Region(2, 9, 2, 12)), True),
        (TextRule("ADA", region=Region(2, 1, 2, 9)), False),
        (TextRule("LOGOFF", absent=True), True),
        (RegexRule(r"PAGE \d"), True),
        (RegexRule(r"^USER", region=Region(2, 1, 2, 20)), True),
        (RegexRule(r"PAGE", region=Region(2, 1, 5, 20)), False),
        (RegexRule(r"PAGE", absent=True), False),
        (CursorRule(2, 10), True),
        (CursorRule(1, 1), False),
    ],
)
def test_rules(rule: TextRule | RegexRule | CursorRule, matches: bool) -> None:
    assert rule.matches(S) is matches


def test_attributes_read_typed_values() -> None:
    assert Attribute("user", 2, 10, 3).read(S) == "ADA"
    assert Attribute("n", 4, 3, 4, type=ValueType.INTEGER).read(S) == 7
    assert Attribute("amount", 4, 9, 8, type=ValueType.DECIMAL).read(S) == Decimal("1234.50")
    assert Attribute("blank", 3, 1, 5, type=ValueType.INTEGER).read(S) is None
    with pytest.raises(ValueError):
        convert_value("ABC", ValueType.INTEGER)


def test_recordset_reads_rows_skipping_blank_ones() -> None:
    rs = Recordset("r", 3, 4, (RecordField("n", 3, 4, ValueType.INTEGER), RecordField("v", 9, 8)))
    assert rs.read_page(S) == ({"n": 7, "v": "1,234.50"},)
    assert rs.at_end(S)  # cannot scroll: one page
    paged = Recordset("r", 3, 4, rs.fields, Key.PF8, None, (RegexRule(r"PAGE (\d) OF \1"),))
    assert not paged.at_end(S)


def test_templates() -> None:
    assert template_names("${a}-$${b}-${c}") == ("a", "c")
    assert render_template("${a}-$$-${c}", {"a": "1", "c": "2"}) == "1-$-2"


@pytest.mark.parametrize(
    ("name", "key"),
    [
        ("enter", Key.ENTER),
        ("F8", Key.PF8),
        ("pf24", Key.PF24),
        ("RollUp", Key.PAGE_DOWN),
        ("erase_eof", Key.ERASE_EOF),
    ],
)
def test_key_names(name: str, key: Key) -> None:
    assert parse_key(name) is key
    assert parse_key("PF25") is None


def test_model_recognizes_the_first_matching_entity() -> None:
    model = sample_model("demo3270")
    blank = Screen(24, 80, tuple(" " * 80 for _ in range(24)), (1, 1))
    assert model.recognize(blank) is None
    rows = list(blank.lines)
    rows[0] = " HGTEST                          CUSTOMER LIST".ljust(80)
    assert model.recognize(Screen(24, 80, tuple(rows), (1, 1))) == model.entity("CustomerList")
