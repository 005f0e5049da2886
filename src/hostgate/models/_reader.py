"""Typed reading of one YAML mapping with every problem recorded against its path (and line), never raised.

The loader builds the model in one pass over the document; each getter returns the value, or ``None`` after
recording an issue, so one run reports every mistake instead of the first.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from enum import StrEnum
from typing import Any, TypeVar

from hostgate.errors import ModelIssue
from hostgate.models._yaml import YMap, YSeq

__all__ = ["NAME", "Issues", "describe"]

NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
E = TypeVar("E", bound=StrEnum)


def describe(value: object) -> str:
    """How a YAML value is named in messages (YAML 1.1 turns ``no`` into a boolean: say so)."""
    if value is None:
        return "nothing (null)"
    if isinstance(value, bool):
        return f"the boolean {str(value).lower()} (quote it to make it text)"
    if isinstance(value, int | float):
        return f"the number {value}"
    if isinstance(value, str):
        return f"the text {value!r}"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    return type(value).__name__


def _line_of(parent: object, key: object) -> int | None:
    if isinstance(parent, YMap):
        return parent.lines.get(key, parent.line)
    if isinstance(parent, YSeq) and isinstance(key, int) and 0 <= key < len(parent.lines):
        return parent.lines[key]
    return getattr(parent, "line", None)


class Issues:
    """Collects :class:`ModelIssue`; the getters read ``parent[key]`` and report against ``path``."""

    def __init__(self) -> None:
        self.items: list[ModelIssue] = []

    def add(self, path: str, message: str, line: int | None = None) -> None:
        self.items.append(ModelIssue(path, message, line))

    def at(self, parent: object, key: object, path: str, message: str) -> None:
        self.add(path, message, _line_of(parent, key))

    # -- shapes ----------------------------------------------------------------------------------------
    def mapping(self, value: object, path: str, parent: object = None, key: object = None) -> YMap | None:
        if isinstance(value, YMap):
            for dup, line in value.duplicates:
                self.add(f"{path}.{dup}", "is given twice (the second would silently win)", line)
            return value
        self.at(parent, key, path, f"must be a mapping, not {describe(value)}")
        return None

    def sequence(self, value: object, path: str, parent: object = None, key: object = None) -> YSeq | None:
        if isinstance(value, YSeq):
            return value
        self.at(parent, key, path, f"must be a list, not {describe(value)}")
        return None

    def keys(self, m: YMap, path: str, required: Iterable[str] = (), optional: Iterable[str] = ()) -> None:
        """Report missing required keys and unknown keys (a typo must not be silently ignored)."""
        required = tuple(required)
        known = set(required) | set(optional)
        for key in required:
            if key not in m:
                self.add(f"{path}.{key}" if path else key, "is required", m.line)
        for key in m:
            if key not in known:
                where = f"{path}.{key}" if path else str(key)
                self.add(
                    where, f"is not a known key here (known: {', '.join(sorted(known))})", m.lines.get(key)
                )

    def names(self, m: YMap, path: str, what: str) -> None:
        for key in m:
            if not isinstance(key, str) or not NAME.match(key):
                self.at(
                    m,
                    key,
                    f"{path}.{key}",
                    f"{what} names must be identifiers (letters, digits, _; not starting with a digit)",
                )

    # -- scalars ---------------------------------------------------------------------------------------
    def text(
        self, m: YMap, key: str, path: str, default: str | None = None, *, empty: bool = True
    ) -> str | None:
        if key not in m:
            return default
        value = m[key]
        if not isinstance(value, str):
            self.at(m, key, f"{path}.{key}", f"must be text, not {describe(value)}")
            return None
        if not empty and not value:
            self.at(m, key, f"{path}.{key}", "must not be empty")
            return None
        return value

    def integer(
        self,
        m: YMap,
        key: str,
        path: str,
        default: int | None = None,
        *,
        low: int | None = None,
        high: int | None = None,
    ) -> int | None:
        if key not in m:
            return default
        value = m[key]
        if isinstance(value, bool) or not isinstance(value, int):
            self.at(m, key, f"{path}.{key}", f"must be a whole number, not {describe(value)}")
            return None
        if (low is not None and value < low) or (high is not None and value > high):
            bounds = f"{low}..{high}" if high is not None else f">= {low}"
            self.at(m, key, f"{path}.{key}", f"{value} is out of range ({bounds})")
            return None
        return value

    def number(self, m: YMap, key: str, path: str, default: float, *, positive: bool = True) -> float | None:
        if key not in m:
            return default
        value = m[key]
        if isinstance(value, bool) or not isinstance(value, int | float):
            self.at(m, key, f"{path}.{key}", f"must be a number, not {describe(value)}")
            return None
        if positive and value <= 0:
            self.at(m, key, f"{path}.{key}", f"must be greater than 0, not {value}")
            return None
        return float(value)

    def boolean(self, m: YMap, key: str, path: str, default: bool) -> bool | None:
        if key not in m:
            return default
        value = m[key]
        if not isinstance(value, bool):
            self.at(m, key, f"{path}.{key}", f"must be true or false, not {describe(value)}")
            return None
        return value

    def choice(self, m: YMap, key: str, path: str, enum: type[E], default: E | None = None) -> E | None:
        if key not in m:
            return default
        value: Any = m[key]
        if isinstance(value, int) and not isinstance(value, bool):
            value = str(value)  # host type 3270 written without quotes
        if isinstance(value, str):
            for member in enum:
                if member.value == value.lower():
                    return member
        choices = ", ".join(member.value for member in enum)
        self.at(m, key, f"{path}.{key}", f"must be one of {choices}, not {describe(m[key])}")
        return None
