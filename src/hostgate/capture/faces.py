"""What every face of the capture (the terminal UI, ``capture/tui.py``; the web console,
``console/capture_page.py``) shares, without curses or HTTP: the engine's face-facing protocol, the marks a
user made on a screen not yet captured, rules as one editable line each, key names, host addresses and
terminal types. Moved here from the TUI's modules so that the two faces parse and show the same things the
same way (issue #22: one engine, two faces).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Protocol

import yaml

from hostgate._hostport import parse_host
from hostgate.capture import AttributeDraft, OperationDraft, Recorder, RecordsetDraft, ValueChoice
from hostgate.errors import UsageError
from hostgate.models import HostType, Key, Rule
from hostgate.models.host import DEFAULT_TERMINALS, KNOWN_TERMINALS, Terminal
from hostgate.models.rules import CursorRule, RegexRule, Region, TextRule

__all__ = [
    "NAME",
    "CaptureState",
    "FaceRecorder",
    "PreparedOperation",
    "is_name",
    "key_from_name",
    "parse_host",
    "parse_rule",
    "recognised",
    "rule_text",
    "terminal_for",
]

NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
"""An entity, attribute, operation, parameter or variable name (the model's identifiers)."""


def is_name(text: str) -> bool:
    return NAME.match(text) is not None


class FaceRecorder(Recorder, Protocol):
    """The :class:`~hostgate.capture.Recorder` plus what capture/engine.py added for the faces: where the
    recorded inputs start from, which captured entity the screen is, and adding to a captured entity."""

    @property
    def current(self) -> str | None:
        """The entity the recorded inputs start from (the last one marked or arrived at)."""

    def recognize(self) -> str | None:
        """The captured entity the current screen is, as the model would recognise it."""

    def add_operation(self, operation: OperationDraft) -> None:
        """Keep an operation whose destination was captured before; clears pending, destination current."""

    def propose_attribute(self, name: str, row: int, col: int, length: int) -> AttributeDraft:
        """An attribute over a region the user marked."""

    def add_attribute(self, entity: str, draft: AttributeDraft) -> None: ...

    def add_recordset(self, entity: str, draft: RecordsetDraft) -> None: ...

    def discard_pending(self) -> None:
        """Forget the inputs recorded since the last mark."""


@dataclass
class PreparedOperation:
    """Ctrl-O's answers, kept until the next entity is marked (the destination is known then)."""

    name: str
    choices: tuple[ValueChoice, ...]
    inputs: int  # how many inputs were pending when asked: typing more afterwards asks again


@dataclass
class CaptureState:
    """What the user marked on the current screen and has not yet put into an entity (mutable: the TUI's)."""

    recordsets: list[RecordsetDraft] = field(default_factory=list)
    regions: list[AttributeDraft] = field(default_factory=list)
    operation: PreparedOperation | None = None
    dirty: bool = False

    def clear_marks(self) -> None:
        self.recordsets.clear()
        self.regions.clear()
        self.operation = None


def recognised(recorder: FaceRecorder) -> str | None:
    """The captured entity the current screen is (the engine asks the model built so far)."""
    return recorder.recognize() if recorder.entities else None


# ---- rules as one editable line each ---------------------------------------------------------------


def rule_text(rule: Rule) -> str:
    """A rule as the model's YAML flow mapping (what the user edits; the same syntax as docs/models.md)."""
    data: dict[str, object]
    if isinstance(rule, TextRule):
        data = {"text": rule.text}
        data.update({k: v for k, v in (("row", rule.row), ("col", rule.col)) if v is not None})
        region = rule.region
    elif isinstance(rule, RegexRule):
        data = {"regex": rule.regex}
        region = rule.region
    else:
        return f"{{cursor: {{row: {rule.row}, col: {rule.col}}}}}"
    if region is not None:
        data["region"] = {
            "top": region.top,
            "bottom": region.bottom,
            "left": region.left,
            "right": region.right,
        }
    if getattr(rule, "absent", False):
        data["absent"] = True
    dumped = yaml.safe_dump(data, default_flow_style=True, width=10_000, sort_keys=False).strip()
    return dumped


def parse_rule(text: str, rows: int, cols: int) -> Rule:
    """One rule from the line the user edited. ValueError with a message the dialog shows."""
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ValueError(f"not a YAML mapping: {exc.__class__.__name__}") from None
    if not isinstance(data, dict):
        raise ValueError("write a mapping, e.g. {text: MAIN MENU, row: 1} or {regex: 'PAGE \\d+'}")

    def number(key: str, m: dict[str, object], limit: int) -> int | None:
        value = m.get(key)
        if value is None:
            return None
        if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= limit:
            raise ValueError(f"{key} must be a whole number 1-{limit}")
        return value

    region = None
    raw_region = data.get("region")
    if raw_region is not None:
        if not isinstance(raw_region, dict):
            raise ValueError("region is a mapping {top, bottom, left, right}")
        region = Region(
            number("top", raw_region, rows) or 1,
            number("left", raw_region, cols) or 1,
            number("bottom", raw_region, rows) or rows,
            number("right", raw_region, cols) or cols,
        )
    absent = bool(data.get("absent", False))
    if "text" in data:
        return TextRule(
            str(data["text"]), number("row", data, rows), number("col", data, cols), region, absent=absent
        )
    if "regex" in data:
        try:
            re.compile(str(data["regex"]))
        except re.error as exc:
            raise ValueError(f"the regex does not compile: {exc}") from None
        return RegexRule(str(data["regex"]), region, absent=absent)
    cursor = data.get("cursor")
    if isinstance(cursor, dict):
        return CursorRule(number("row", cursor, rows) or 1, number("col", cursor, cols) or 1)
    raise ValueError("a rule has text:, regex: or cursor:")


# ---- keys, hosts, terminals ----------------------------------------------------------------------------


_KEY_NAMES = {k.value.lower(): k for k in Key}


def key_from_name(text: str) -> Key | None:
    """The key the Ctrl-P prompt names: ``13`` (PF13), ``PF13``, ``pa2``, ``clear``, ``attn``..."""
    name = text.strip().lower().replace(" ", "")
    if name.isdigit() and 1 <= int(name) <= 24:
        return Key(f"PF{int(name)}")
    if name.startswith("f") and name[1:].isdigit() and 1 <= int(name[1:]) <= 24:
        return Key(f"PF{int(name[1:])}")
    return _KEY_NAMES.get(name)


def terminal_for(kind: HostType, name: str | None, size: str | None) -> Terminal:
    """The terminal to claim: a block-mode type fixes its size; a VT type takes --size ROWSxCOLS (24x80)."""
    if name is None and size is None:
        return DEFAULT_TERMINALS[kind]
    name = name or DEFAULT_TERMINALS[kind].type
    if kind is HostType.VT:
        rows, cols = 24, 80
        if size is not None:
            r, _, c = size.lower().partition("x")
            if not (r.isdigit() and c.isdigit() and 1 <= int(r) <= 255 and 1 <= int(c) <= 255):
                raise UsageError(f"--size {size!r} is not ROWSxCOLS (e.g. 24x80)")
            rows, cols = int(r), int(c)
        return Terminal(name, rows, cols)
    if size is not None:
        raise UsageError("--size is for VT hosts: a 3270/5250 terminal type fixes the screen size")
    known = KNOWN_TERMINALS[kind]
    if name not in known:
        raise UsageError(
            f"--terminal {name!r} is not a {kind.value} terminal type hostgate knows",
            hint=f"Use one of: {', '.join(sorted(known))}.",
        )
    return Terminal(name, *known[name])
