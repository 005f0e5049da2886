"""Recognition rules: how a screen is recognised as an entity, and what every rule can see of a screen.

A rule looks at a :class:`ScreenLike` (rows of text and a cursor, 1-based like VHI's Design Tool), so the
model needs no host driver: ``hostgate.hosts.Screen`` is one, and tests can build others.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

__all__ = ["CursorRule", "RegexRule", "Region", "Rule", "ScreenLike", "TextRule", "all_match"]


class ScreenLike(Protocol):
    """What rules, attributes and recordsets read: ``lines[r - 1][c - 1]`` is row r, column c."""

    @property
    def rows(self) -> int: ...

    @property
    def cols(self) -> int: ...

    @property
    def lines(self) -> tuple[str, ...]: ...

    @property
    def cursor(self) -> tuple[int, int]: ...


@dataclass(frozen=True, slots=True)
class Region:
    """A rectangle of the screen, 1-based and inclusive."""

    top: int
    left: int
    bottom: int
    right: int

    def text(self, screen: ScreenLike) -> str:
        """The region's rows, each cut to the region's columns, joined by newlines."""
        rows = screen.lines[self.top - 1 : self.bottom]
        return "\n".join(row[self.left - 1 : self.right].ljust(self.right - self.left + 1) for row in rows)


def _whole(screen: ScreenLike) -> Region:
    return Region(1, 1, screen.rows, screen.cols)


@dataclass(frozen=True, slots=True)
class TextRule:
    """``text`` at (``row``, ``col``) exactly; or anywhere in ``row``; or anywhere in ``region`` (default: the
    whole screen). ``absent`` inverts the rule (the text must not be there)."""

    text: str
    row: int | None = None
    col: int | None = None
    region: Region | None = None
    case_sensitive: bool = True
    absent: bool = False

    def matches(self, screen: ScreenLike) -> bool:
        want = self.text if self.case_sensitive else self.text.lower()
        if self.row is not None and self.col is not None:
            line = screen.lines[self.row - 1] if self.row <= len(screen.lines) else ""
            got = line[self.col - 1 : self.col - 1 + len(self.text)]
            found = (got if self.case_sensitive else got.lower()) == want
        else:
            region = self.region or (
                Region(self.row, 1, self.row, screen.cols) if self.row is not None else _whole(screen)
            )
            text = region.text(screen)
            found = want in (text if self.case_sensitive else text.lower())
        return found != self.absent


@dataclass(frozen=True, slots=True)
class RegexRule:
    """A regular expression (Python syntax) searched in ``region`` (default: the whole screen, rows joined
    by newlines)."""

    regex: str
    region: Region | None = None
    absent: bool = False

    def matches(self, screen: ScreenLike) -> bool:
        # re caches compiled patterns; the loader has already compiled this one once to validate it.
        found = re.search(self.regex, (self.region or _whole(screen)).text(screen)) is not None
        return found != self.absent


@dataclass(frozen=True, slots=True)
class CursorRule:
    """The cursor is at (``row``, ``col``)."""

    row: int
    col: int

    def matches(self, screen: ScreenLike) -> bool:
        return screen.cursor == (self.row, self.col)


Rule = TextRule | RegexRule | CursorRule


def all_match(rules: Sequence[Rule], screen: ScreenLike) -> bool:
    """VHI's rule: an entity (or end-of-data condition) is recognised when every one of its rules holds."""
    return all(rule.matches(screen) for rule in rules)
