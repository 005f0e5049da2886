"""Model-runtime rules that need no host: navigation planning, value checks, screen quotes."""

from __future__ import annotations

from decimal import Decimal

import pytest

from hostgate.errors import InvalidValue, ModelItemNotFound
from hostgate.hosts import Screen, open_session
from hostgate.models import Attribute, ValueType
from hostgate.session.model_session import ModelSession
from hostgate.session.values import describe_screen, to_text, typed, typed_text
from tests.helpers.hosts import sample_model


def _session(**variables: object) -> ModelSession:
    model = sample_model("demo3270")
    return ModelSession(model, open_session(model.host), variables)  # never connected


@pytest.mark.parametrize(
    ("start", "goal", "ops"),
    [
        ("Menu", "CustomerList", ["open_list"]),
        ("CustomerForm", "CustomerList", ["back", "open_list"]),
        ("CustomerList", "SignOn", ["back", "signoff"]),
        ("SignOn", "CustomerForm", ["signon", "open_form"]),
        ("Menu", "Menu", []),
    ],
)
def test_navigation_takes_a_shortest_path_of_parameterless_operations(
    start: str, goal: str, ops: list[str]
) -> None:
    assert [op.name for op in _session()._path(start, goal)] == ops


def test_operations_with_parameters_are_not_used_to_navigate() -> None:
    session = _session()
    assert all(not op.parameters for edges in session._edges.values() for op, _ in edges)
    assert "save" not in {op.name for op, _ in session._edges["CustomerForm"]}


def test_variables_override_defaults_and_unknown_ones_are_refused() -> None:
    assert _session(userid="GRACE").variables == {"userid": "GRACE", "password": "LOVELACE"}
    with pytest.raises(ModelItemNotFound, match="no variable 'pin'"):
        _session(pin=1234)


def test_values_are_checked_against_type_and_length() -> None:
    count = Attribute("count", 1, 1, 4, type=ValueType.INTEGER)
    assert typed_text(count, 42) == "42" and typed_text(count, " 7") == "7" and typed_text(count, None) == ""
    with pytest.raises(InvalidValue, match="is integer"):
        typed_text(count, "seven")
    with pytest.raises(InvalidValue, match="holds 4 characters"):
        typed_text(count, 123456)
    with pytest.raises(InvalidValue):
        to_text(True, "flag")
    assert typed("2.50", ValueType.DECIMAL, "price") == Decimal("2.50")
    assert typed(3, ValueType.STRING, "city") == "3"


def test_a_screen_is_quoted_by_its_first_and_last_rows() -> None:
    lines = tuple(["  TITLE".ljust(20), *[" " * 20] * 5, "MESSAGE".ljust(20), "PF3=Exit".ljust(20)])
    screen = Screen(8, 20, lines, (1, 1))
    assert describe_screen(screen) == "row 1: 'TITLE'; row 7: 'MESSAGE'; row 8: 'PF3=Exit'"
    assert describe_screen(Screen(2, 5, (" " * 5, " " * 5), (1, 1))) == "a blank screen"
