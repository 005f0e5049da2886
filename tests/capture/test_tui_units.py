"""The capture TUI's pure parts: key meanings, the drawn screen (hidden fields masked), the layout's size, and
the dialogs driven by a scripted prompter over a small fake Recorder (no curses, no host). The real engine and
real hosts are in test_tui_capture.py."""

from __future__ import annotations

import curses
import dataclasses
from collections.abc import Sequence
from pathlib import Path

import pytest

from hostgate.capture import (
    AttributeDraft,
    ColumnDraft,
    EntityDraft,
    OperationDraft,
    RecordedInput,
    RecordsetDraft,
    RuleProposal,
    Typed,
    ValueChoice,
    ValueKind,
)
from hostgate.capture._tui_flows import (
    CaptureState,
    mark_entity,
    mark_recordset,
    name_operation,
    parse_rule,
    rule_text,
)
from hostgate.capture._tui_view import (
    Command,
    HostKey,
    Move,
    Style,
    TypeChars,
    decode_key,
    help_line,
    key_from_name,
    needed_size,
    render_screen,
    status_line,
    too_small_lines,
)
from hostgate.cli.capture_cmd import parse_host, terminal_for, write_model
from hostgate.errors import CaptureRulesClash, CaptureWriteFailed, HostAddressInvalid, UsageError
from hostgate.hosts.base import Field, Screen
from hostgate.models import HostType, Key, Rule
from hostgate.models.host import Terminal
from hostgate.models.rules import RegexRule, TextRule, all_match


def _screen(title: str, *, fields: tuple[Field, ...] = ()) -> Screen:
    lines = [" " * 80 for _ in range(24)]
    lines[0] = title.center(80)
    lines[9] = " USER ID . . :".ljust(80)
    lines[11] = " PASSWORD  . :".ljust(80)
    return Screen(24, 80, tuple(lines), (10, 34), fields)


SIGNON_FIELDS = (
    Field(1, 2, 78, protected=True),
    Field(10, 34, 8, protected=False),
    Field(12, 34, 8, protected=False, hidden=True),
)


class FakeRecorder:
    """Just enough of the Recorder contract for the dialogs: proposes the title (row 1) as the rule."""

    def __init__(self) -> None:
        self.screen = _screen("SIGN ON", fields=SIGNON_FIELDS)
        self.entities: list[EntityDraft] = []
        self.pending: list[RecordedInput] = []
        self.added: list[tuple[EntityDraft, OperationDraft | None]] = []
        self.current: str | None = None

    def recognize(self) -> str | None:
        return next((e.name for e in self.entities if all_match(e.rules, self.screen)), None)

    def add_operation(self, operation: OperationDraft) -> None:
        self.added.append(
            (self.entities[[e.name for e in self.entities].index(operation.destination)], operation)
        )
        self.current = operation.destination
        self.pending.clear()

    def propose_attribute(self, name: str, row: int, col: int, length: int) -> AttributeDraft:
        return AttributeDraft(name, row, col, length, writable=False)

    def add_attribute(self, entity: str, draft: AttributeDraft) -> None:
        raise NotImplementedError

    def add_recordset(self, entity: str, draft: RecordsetDraft) -> None:
        raise NotImplementedError

    def discard_pending(self) -> None:
        self.pending.clear()

    def propose_entity(self, name: str) -> EntityDraft:
        attrs = (AttributeDraft("userid", 10, 34, 8, writable=True),)
        return EntityDraft(name, self.screen, (TextRule(self.screen.lines[0].strip(), 1),), attrs)

    def check_rules(self, rules: Sequence[Rule], *, name: str) -> RuleProposal:
        also = tuple(e.name for e in self.entities if e.name != name and all_match(rules, e.screen))
        return RuleProposal(tuple(rules), also)

    def propose_recordset(self, name: str, top: int, bottom: int) -> RecordsetDraft:
        return RecordsetDraft(name, top, bottom, (ColumnDraft("number", 2, 4),), Key.PF8, Key.PF7)

    def propose_operation(self, name: str, destination: str) -> OperationDraft:
        choices = tuple(
            ValueChoice(ValueKind.HIDDEN_VARIABLE, "password")
            if t.secret
            else ValueChoice(ValueKind.VARIABLE, "userid")
            for t in self.pending
            if isinstance(t, Typed)
        )
        assert self.current is not None
        return OperationDraft(self.current, name, tuple(self.pending), destination, choices)

    def add_entity(self, draft: EntityDraft, operation: OperationDraft | None = None) -> None:
        if self.check_rules(draft.rules, name=draft.name).also_matches:
            raise CaptureRulesClash("rules match another entity")
        self.entities.append(draft)
        self.added.append((draft, operation))
        self.current = draft.name
        self.pending.clear()


class Script:
    """A prompter answering from a list; records what it was shown."""

    def __init__(self, *answers: str | None) -> None:
        self.answers = list(answers)
        self.asked: list[str] = []
        self.panels: list[list[str]] = []

    def ask(self, question: str, default: str = "") -> str | None:
        self.asked.append(question)
        answer = self.answers.pop(0)
        return default if answer == "=" else answer

    def show(self, title: str, lines: Sequence[str], keys: str) -> str:
        self.panels.append(list(lines))
        answer = self.answers.pop(0)
        assert answer is not None and (answer == "" or answer in keys), (answer, keys)
        return answer


def test_keys_block_mode_and_vt() -> None:
    assert decode_key(curses.KEY_F0 + 3, block_mode=True) == HostKey(Key.PF3)
    assert decode_key(curses.KEY_F0 + 13, block_mode=True) == HostKey(Key.PF13)  # Shift-F1
    assert decode_key(curses.KEY_F0 + 60, block_mode=True) == HostKey(Key.PF24)  # Alt-F12
    assert decode_key("\n", block_mode=True) == HostKey(Key.ENTER)
    assert decode_key("\t", block_mode=True) == HostKey(Key.TAB)
    assert decode_key(curses.KEY_BTAB, block_mode=True) == HostKey(Key.BACKTAB)
    assert decode_key(curses.KEY_UP, block_mode=True) == Move(-1, 0)
    assert decode_key(curses.KEY_UP, block_mode=False) == HostKey(Key.UP)
    assert decode_key("\x05", block_mode=True) is Command.MARK_ENTITY
    assert decode_key("\x11", block_mode=True) is Command.QUIT
    assert decode_key("2", block_mode=True, after_escape=True) == HostKey(Key.PA2)
    assert decode_key("é", block_mode=True) == TypeChars("é")
    assert decode_key("\x01", block_mode=True) is None
    assert key_from_name("13") is Key.PF13
    assert key_from_name("pa3") is Key.PA3
    assert key_from_name("Clear") is Key.CLEAR
    assert key_from_name("attn") is Key.ATTN
    assert key_from_name("PF25") is None


def test_hidden_field_is_masked_and_fields_styled() -> None:
    screen = _screen("SIGN ON", fields=SIGNON_FIELDS)
    screen = dataclasses.replace(
        screen, lines=(*screen.lines[:11], screen.lines[11][:33] + "LOVELACE".ljust(47), *screen.lines[12:])
    )
    rows = render_screen(screen, {(12, 34): 3})
    row12 = "".join(run.text for run in rows[11])
    assert "LOVELACE" not in row12
    assert row12[33:41] == "***     "
    hidden = [run for run in rows[11] if run.style is Style.HIDDEN]
    assert hidden and hidden[0].col == 34
    assert any(run.style is Style.INPUT and run.col == 34 for run in rows[9])
    assert rows[0][0].style is Style.PLAIN and rows[0][1].style is Style.PROTECTED


def test_layout_fits_host_plus_three_lines() -> None:
    assert needed_size(24, 80) == (27, 80)
    notice = " ".join(too_small_lines((20, 70), (27, 80), 70))
    assert "70x20" in notice and "80x27" in notice
    assert len(help_line(80)) == 80 and "^G help" in help_line(80) and "^P key" in help_line(80)
    assert "PF13-24" in help_line(160)
    line = status_line(
        host="127.0.0.1:3270",
        terminal="IBM-3278-2",
        screen=_screen("X"),
        entities=2,
        pending=3,
        recognised="Menu",
        width=80,
    )
    assert len(line) == 80 and " 10,34 " in line and "entities:2" in line


def test_rule_text_round_trip() -> None:
    for rule in (TextRule("SIGN ON", 1, 37), TextRule("USER ID . . :", 10), RegexRule(r"PAGE \d+ OF \d+")):
        assert parse_rule(rule_text(rule), 24, 80) == rule
    with pytest.raises(ValueError, match="row must be"):
        parse_rule("{text: X, row: 30}", 24, 80)
    with pytest.raises(ValueError, match="regex"):
        parse_rule("{regex: '('}", 24, 80)


def test_mark_entity_then_operation_with_a_secret() -> None:
    rec = FakeRecorder()
    state = CaptureState()
    assert mark_entity(rec, Script("SignOn", "\n"), state) == "entity SignOn captured"
    rec.pending[:] = [Typed(10, 34, "ADA"), Key.TAB, Typed(12, 34, "", secret=True), Key.ENTER]
    rec.screen = _screen("MAIN MENU")
    # name, operation name, kind for ADA (p), its name, the hidden one's name, accept
    script = Script("Menu", "signon", "p", "user", "=", "\n")
    assert "operation SignOn.signon" in mark_entity(rec, script, state)
    _, op = rec.added[-1]
    assert op is not None and op.destination == "Menu"
    assert op.choices == (
        ValueChoice(ValueKind.PARAMETER, "user"),
        ValueChoice(ValueKind.HIDDEN_VARIABLE, "password"),
    )
    assert any("****" in line for line in script.panels[-1])


def test_clashing_rules_are_shown_and_fixed_before_accepting() -> None:
    rec = FakeRecorder()
    state = CaptureState()
    mark_entity(rec, Script("SignOn", "\n"), state)
    # Another screen whose proposed rule (the title) would also match SignOn: accepting is refused, the panel
    # says why, then the user edits the rule.
    rec.screen = _screen("SIGN")
    rec.screen = dataclasses.replace(
        rec.screen, lines=(*rec.screen.lines[:1], "SECOND".center(80), *rec.screen.lines[2:])
    )
    script = Script("Other", "\n", "e", "1", "{text: SECOND, row: 2}", "\n")
    message = mark_entity(rec, script, state)
    assert message == "entity Other captured"
    assert any("also match: SignOn" in line for line in script.panels[0])
    assert any("HG-6601" in line for line in script.panels[1])
    assert rec.entities[-1].rules == (TextRule("SECOND", 2),)


def test_a_captured_screen_is_not_marked_again_but_arrived_at() -> None:
    rec = FakeRecorder()
    state = CaptureState()
    mark_entity(rec, Script("SignOn", "\n"), state)
    rec.screen = _screen("MAIN MENU")
    mark_entity(rec, Script("Menu", "\n"), state)
    rec.pending[:] = [Key.PF3]
    rec.screen = _screen("SIGN ON", fields=SIGNON_FIELDS)
    assert "entity SignOn already" in mark_entity(rec, Script(), state)
    assert name_operation(rec, Script("signoff"), state) == "operation Menu.signoff -> SignOn recorded"
    assert rec.current == "SignOn" and rec.pending == []


def test_cancel_changes_nothing() -> None:
    rec = FakeRecorder()
    state = CaptureState()
    assert mark_entity(rec, Script(None), state) == "entity not marked"
    assert mark_entity(rec, Script("SignOn", ""), state) == "entity not marked"
    assert rec.entities == [] and not state.dirty


def test_recordset_joins_the_next_entity() -> None:
    rec = FakeRecorder()
    state = CaptureState()
    assert "marked" in mark_recordset(rec, Script("customers", "6", "22", "=", "-", "\n"), state)
    mark_entity(rec, Script("List", "\n"), state)
    (rs,) = rec.entities[-1].recordsets
    assert (rs.top, rs.bottom, rs.next_page, rs.previous_page) == (6, 22, Key.PF8, None)
    assert state.recordsets == []


def test_name_operation_waits_for_the_next_entity() -> None:
    rec = FakeRecorder()
    state = CaptureState()
    assert "first entity" in name_operation(rec, Script(), state)
    mark_entity(rec, Script("SignOn", "\n"), state)
    rec.pending[:] = [Typed(10, 34, "ADA"), Key.ENTER]
    rec.screen = _screen("MAIN MENU")
    assert "named" in name_operation(rec, Script("logon", "l"), state)
    # Ctrl-E later asks no operation questions: the answers of Ctrl-O are used.
    mark_entity(rec, Script("Menu", "\n"), state)
    _, op = rec.added[-1]
    assert op is not None and op.name == "logon" and op.choices == (ValueChoice(ValueKind.LITERAL),)


def test_host_and_terminal_options() -> None:
    assert parse_host("127.0.0.1:3270") == ("127.0.0.1", 3270)
    assert parse_host("[::1]:23") == ("::1", 23)
    assert parse_host("host.example:992") == ("host.example", 992)
    for bad in ("3270", ":23", "h:0", "h:65536", "::1:23", "[zz]:23", "h:x"):
        with pytest.raises(HostAddressInvalid):
            parse_host(bad)
    assert terminal_for(HostType.TN3270, None, None) == Terminal("IBM-3278-2", 24, 80)
    assert terminal_for(HostType.TN3270, "IBM-3278-5", None) == Terminal("IBM-3278-5", 27, 132)
    assert terminal_for(HostType.VT, "xterm", "30x100") == Terminal("xterm", 30, 100)
    with pytest.raises(UsageError, match="not a 5250 terminal"):
        terminal_for(HostType.TN5250, "IBM-3278-2", None)
    with pytest.raises(UsageError, match="--size is for VT"):
        terminal_for(HostType.TN3270, None, "24x80")
    with pytest.raises(UsageError, match="ROWSxCOLS"):
        terminal_for(HostType.VT, None, "big")


def test_write_model_is_whole_or_nothing(tmp_path: Path) -> None:
    out = tmp_path / "m.yaml"
    out.write_text("before\n")
    assert write_model(out, "after\n") == f"wrote {out}"
    assert out.read_text() == "after\n"
    with pytest.raises(CaptureWriteFailed, match="cannot write"):
        write_model(tmp_path / "gone" / "m.yaml", "x")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.yaml"]  # no temporary file left behind
