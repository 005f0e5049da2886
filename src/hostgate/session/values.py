"""Values at the session's edge: rows read from the host, caller values as text to type, screens quoted.

Plain functions of :mod:`hostgate.models` values, shared by the navigator (``navigator.py``) and the table
procedures (``procedures.py``), so neither imports the other for them.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

from hostgate.errors import InvalidValue
from hostgate.hosts import Screen
from hostgate.models import Attribute, Value, ValueType, convert_value

__all__ = ["MASK", "describe_screen", "to_text", "typed", "typed_text"]

MASK = "********"
"""What a hidden attribute reads as: never its value, not even its length."""


def describe_screen(screen: Screen) -> str:
    """A short quote of a screen for error messages: its first and last two non-blank rows."""
    shown = [(i, line.strip()) for i, line in enumerate(screen.lines, start=1) if line.strip()]
    if not shown:
        return "a blank screen"
    picked = [shown[0], *[s for s in shown[-2:] if s != shown[0]]]
    return "; ".join(f"row {row}: {text[:80]!r}" for row, text in picked)


def to_text(value: object, what: str) -> str:
    """A value given by a caller (JSON: text, whole or decimal number, null) as the text to type."""
    if value is None:
        return ""
    if isinstance(value, bool) or not isinstance(value, str | int | float | Decimal):
        raise InvalidValue(f"{what}: expected text or a number, got {type(value).__name__}")
    return str(value)


def typed_text(attribute: Attribute, value: object) -> str:
    """The text to type into ``attribute`` for ``value``, checked against its type and length."""
    what = f"attribute {attribute.name!r}"
    text = to_text(value, what)
    if attribute.type is not ValueType.STRING and text.strip():
        try:
            number = convert_value(text, attribute.type)
        except (ValueError, InvalidOperation):
            raise InvalidValue(f"{what} is {attribute.type.value}: {text!r} is not one") from None
        text = str(number)
    if len(text) > attribute.length:
        raise InvalidValue(f"{what} holds {attribute.length} characters; {text!r} has {len(text)}")
    return text


def typed(value: object, type_: ValueType, what: str) -> Value:
    """A caller's value (filter, input) as the typed value rows carry, for comparison."""
    text = to_text(value, what)
    try:
        return convert_value(text, type_)
    except (ValueError, InvalidOperation):
        raise InvalidValue(f"{what}: {text!r} is not {type_.value}") from None
