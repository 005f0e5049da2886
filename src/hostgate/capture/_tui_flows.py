"""The capture TUI's dialogs (mark an entity, a recordset, a region; name an operation), written against a
:class:`Prompter` so that they run the same over curses (``tui.py``) and under a scripted prompter in the
unit tests. They talk to the engine only through the :class:`~hostgate.capture.Recorder` contract.

Every dialog can be cancelled (Esc) and then changes nothing; an engine refusal (a coded HostgateError, e.g.
rules that match another entity) is shown and the dialog stays open so the user can fix the draft.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Protocol

from hostgate.capture import (
    EntityDraft,
    OperationDraft,
    Typed,
    ValueChoice,
    ValueKind,
)
from hostgate.capture.faces import (
    NAME,
    CaptureState,
    FaceRecorder,
    PreparedOperation,
    key_from_name,
    parse_rule,
    recognised,
    rule_text,
)
from hostgate.errors import HostgateError
from hostgate.models import Key

__all__ = [
    "CaptureState",
    "FaceRecorder",
    "Prompter",
    "mark_entity",
    "mark_recordset",
    "mark_region",
    "name_operation",
    "parse_rule",
    "recognised",
    "rule_text",
]


class Prompter(Protocol):
    def ask(self, question: str, default: str = "") -> str | None:
        """A line of text (``default`` pre-filled); None when the user cancelled (Esc)."""

    def show(self, title: str, lines: Sequence[str], keys: str) -> str:
        """Show a panel over the host screen and wait for one of ``keys`` (returns it; "" for Esc)."""


# ---- entity ---------------------------------------------------------------------------------------------


def _entity_lines(draft: EntityDraft, also: Sequence[str], operation: OperationDraft | None) -> list[str]:
    lines = ["Rules (all must hold):"]
    lines += [f"  {i}. {rule_text(r)}" for i, r in enumerate(draft.rules, start=1)] or ["  (none)"]
    if also:
        lines.append(f"  !! these rules also match: {', '.join(also)} - edit them (e, d, n)")
    else:
        lines.append("  no other captured entity matches them")
    lines.append("Attributes:")
    for i, a in enumerate(draft.attributes, start=1):
        access = "hidden write" if a.hidden else ("readwrite" if a.writable else "read")
        lines.append(f"  {i}. {a.name}: row {a.row}, col {a.col}, length {a.length}, {access}")
    if not draft.attributes:
        lines.append("  (none)")
    for rs in draft.recordsets:
        cols = ", ".join(f"{c.name}@{c.col}+{c.length}" for c in rs.columns)
        lines.append(f"Recordset {rs.name}: rows {rs.top}-{rs.bottom}, {cols}; next {rs.next_page or '-'}")
    if operation is not None:
        lines.append(
            f"Operation {operation.source}.{operation.name} -> {operation.destination}: "
            f"{_inputs_text(operation)}"
        )
    lines.append("")
    lines.append(
        "Enter accept | e N edit rule | d N drop rule | n new rule | r N rename attr | x N drop attr | Esc"
    )
    return lines


def _inputs_text(op: OperationDraft) -> str:
    parts: list[str] = []
    typed = 0
    for step in op.inputs:
        if isinstance(step, Typed):
            choice = op.choices[typed] if typed < len(op.choices) else ValueChoice(ValueKind.LITERAL)
            typed += 1
            shown = "****" if step.secret else repr(step.text)
            parts.append(f"{shown}->{choice.kind.value}{':' + choice.name if choice.name else ''}")
        else:
            parts.append(str(step.value if isinstance(step, Key) else step))
    return " ".join(parts) or "(no inputs)"


def _pick(prompter: Prompter, what: str, count: int) -> int | None:
    answer = prompter.ask(f"{what} number (1-{count})")
    if answer is None or not answer.strip().isdigit() or not 1 <= int(answer) <= count:
        return None
    return int(answer) - 1


def _edit_entity(
    prompter: Prompter, draft: EntityDraft, key: str, screen_size: tuple[int, int]
) -> EntityDraft:
    rules, attrs = list(draft.rules), list(draft.attributes)
    if key in "ed" and rules:
        at = _pick(prompter, "Rule", len(rules))
        if at is None:
            return draft
        if key == "d":
            del rules[at]
        else:
            text = prompter.ask("Rule", rule_text(rules[at]))
            if text is None:
                return draft
            rules[at] = parse_rule(text, *screen_size)
    elif key == "n":
        text = prompter.ask("New rule", "{text: , row: 1}")
        if text is None:
            return draft
        rules.append(parse_rule(text, *screen_size))
    elif key in "rx" and attrs:
        at = _pick(prompter, "Attribute", len(attrs))
        if at is None:
            return draft
        if key == "x":
            del attrs[at]
        else:
            name = prompter.ask("Attribute name", attrs[at].name)
            if name is None:
                return draft
            if not NAME.match(name):
                raise ValueError(f"{name!r} is not a name (letters, digits, _; not starting with a digit)")
            attrs[at] = dataclasses.replace(attrs[at], name=name)
    return dataclasses.replace(draft, rules=tuple(rules), attributes=tuple(attrs))


def ask_name(prompter: Prompter, question: str, default: str = "") -> str | None:
    while True:
        name = prompter.ask(question, default)
        if name is None:
            return None
        name = name.strip()
        if NAME.match(name):
            return name
        question = f"{name!r} is not a name (letters, digits, _). {question.split('. ')[-1]}"
        default = ""


def mark_entity(recorder: FaceRecorder, prompter: Prompter, state: CaptureState) -> str:
    """Ctrl-E. Returns the message for the status line."""
    here = recognised(recorder)
    if here is not None:
        # Two entities never share rules: a screen already captured is arrived at, not marked again.
        return f"this screen is entity {here} already: Ctrl-O records the operation that led here"
    name = ask_name(prompter, "Entity name")
    if name is None:
        return "entity not marked"
    operation: OperationDraft | None = None
    if recorder.pending and recorder.current is not None:
        operation = _operation_for(recorder, prompter, state, destination=name)
        if operation is None:
            return "entity not marked (operation cancelled)"
    draft = recorder.propose_entity(name)
    draft = dataclasses.replace(
        draft,
        attributes=draft.attributes + tuple(state.regions),
        recordsets=draft.recordsets + tuple(state.recordsets),
    )
    screen = recorder.screen
    error = ""
    while True:
        also = recorder.check_rules(draft.rules, name=name).also_matches
        lines = _entity_lines(draft, also, operation)
        if error:
            lines.append(f"!! {error}")
        key = prompter.show(f"New entity {name}", lines, "\nederxn")
        error = ""
        if key == "":
            return "entity not marked"
        if key == "\n":
            try:
                recorder.add_entity(draft, operation)
            except HostgateError as exc:
                error = f"{exc.code}: {exc.message}"
                continue
            state.clear_marks()
            state.dirty = True
            via = f" (operation {operation.source}.{operation.name})" if operation else ""
            return f"entity {name} captured{via}"
        try:
            draft = _edit_entity(prompter, draft, key, (screen.rows, screen.cols))
        except ValueError as exc:
            error = str(exc)


# ---- operation ------------------------------------------------------------------------------------------


_KINDS = {
    "l": ValueKind.LITERAL,
    "p": ValueKind.PARAMETER,
    "v": ValueKind.VARIABLE,
    "h": ValueKind.HIDDEN_VARIABLE,
}


def _choose_values(prompter: Prompter, draft: OperationDraft) -> tuple[ValueChoice, ...] | None:
    typed = [step for step in draft.inputs if isinstance(step, Typed)]
    proposed = list(draft.choices) + [ValueChoice(ValueKind.LITERAL)] * (len(typed) - len(draft.choices))
    chosen: list[ValueChoice] = []
    for step, choice in zip(typed, proposed, strict=True):
        if step.secret:
            # Typed into a non-display field: the text was never kept, so only a hidden variable can carry it.
            name = ask_name(
                prompter, f"Hidden value at {step.row},{step.col}: hidden variable name", choice.name
            )
            if name is None:
                return None
            chosen.append(ValueChoice(ValueKind.HIDDEN_VARIABLE, name))
            continue
        default = next(k for k, v in _KINDS.items() if v is choice.kind)
        while True:
            kind = prompter.ask(
                f"{step.text!r} at {step.row},{step.col}: l=literal p=parameter v=variable h=hidden", default
            )
            if kind is None:
                return None
            if kind.strip().lower()[:1] in _KINDS:
                break
        value_kind = _KINDS[kind.strip().lower()[:1]]
        if value_kind is ValueKind.LITERAL:
            chosen.append(ValueChoice(ValueKind.LITERAL))
            continue
        name = ask_name(prompter, f"{value_kind.value} name for {step.text!r}", choice.name)
        if name is None:
            return None
        chosen.append(ValueChoice(value_kind, name))
    return tuple(chosen)


def _ask_operation(
    recorder: FaceRecorder, prompter: Prompter, destination: str, default_name: str
) -> tuple[str, tuple[ValueChoice, ...]] | None:
    source = recorder.current or "?"
    name = ask_name(prompter, f"Operation of {source} that led here (-> {destination}): name", default_name)
    if name is None:
        return None
    draft = recorder.propose_operation(name, destination)
    choices = _choose_values(prompter, draft)
    if choices is None:
        return None
    return name, choices


def _operation_for(
    recorder: FaceRecorder, prompter: Prompter, state: CaptureState, destination: str
) -> OperationDraft | None:
    prepared = state.operation
    if prepared is None or prepared.inputs != len(recorder.pending):
        answer = _ask_operation(recorder, prompter, destination, f"to_{destination.lower()}")
        if answer is None:
            return None
        prepared = PreparedOperation(answer[0], answer[1], len(recorder.pending))
    draft = recorder.propose_operation(prepared.name, destination)
    return dataclasses.replace(draft, choices=prepared.choices)


def name_operation(recorder: FaceRecorder, prompter: Prompter, state: CaptureState) -> str:
    """Ctrl-O: name the operation the pending inputs make, and choose what each typed value becomes. On a
    screen that is already a captured entity (navigating back, say) this records the operation now, with that
    entity as its destination; otherwise the answers wait for the next Ctrl-E."""
    if recorder.current is None:
        return "mark the first entity (Ctrl-E) before naming operations"
    if not recorder.pending:
        return "no inputs since the last entity: nothing to name"
    here = recognised(recorder)
    if here is None:
        answer = _ask_operation(recorder, prompter, "the next entity", "next")
        if answer is None:
            return "operation not named"
        state.operation = PreparedOperation(answer[0], answer[1], len(recorder.pending))
        return f"operation {answer[0]} named; mark this screen (Ctrl-E) to record it"
    answer = _ask_operation(recorder, prompter, here, f"to_{here.lower()}")
    if answer is None:
        return "operation not named"
    name, choices = answer
    draft = dataclasses.replace(recorder.propose_operation(name, here), choices=choices)
    recorder.add_operation(draft)
    state.operation = None
    state.dirty = True
    return f"operation {draft.source}.{name} -> {here} recorded"


# ---- recordset, region ----------------------------------------------------------------------------------


def _row(prompter: Prompter, question: str, default: int, rows: int) -> int | None:
    while True:
        answer = prompter.ask(f"{question} (1-{rows})", str(default))
        if answer is None:
            return None
        if answer.strip().isdigit() and 1 <= int(answer) <= rows:
            return int(answer)
        question = f"{answer!r} is not a row number. {question.split('. ')[-1]}"


def _key(prompter: Prompter, question: str, default: str) -> Key | bool | None:
    """A key name, None for "none", False when cancelled."""
    while True:
        answer = prompter.ask(question, default)
        if answer is None:
            return False
        if answer.strip().lower() in ("", "none", "-"):
            return None
        key = key_from_name(answer)
        if key is not None:
            return key
        question = f"{answer!r} is not a key. {question.split('. ')[-1]}"


def mark_recordset(recorder: FaceRecorder, prompter: Prompter, state: CaptureState) -> str:
    """Ctrl-R: rows top..bottom of this screen repeat. On a captured entity the recordset is added to it;
    otherwise it joins the next entity marked here."""
    screen = recorder.screen
    name = ask_name(prompter, "Recordset name", "rows")
    if name is None:
        return "recordset not marked"
    top = _row(prompter, "Top row", screen.cursor[0], screen.rows)
    if top is None:
        return "recordset not marked"
    bottom = _row(prompter, "Bottom row", max(top, screen.rows - 2), screen.rows)
    if bottom is None or bottom < top:
        return "recordset not marked" if bottom is None else "bottom row above top row: not marked"
    draft = recorder.propose_recordset(name, top, bottom)
    next_page = _key(prompter, "Key that pages forward (none: -)", draft.next_page or "-")
    if next_page is False:
        return "recordset not marked"
    previous = _key(prompter, "Key that pages back (none: -)", draft.previous_page or "-")
    if previous is False:
        return "recordset not marked"
    draft = dataclasses.replace(
        draft,
        next_page=next_page if isinstance(next_page, Key) else None,
        previous_page=previous if isinstance(previous, Key) else None,
    )
    lines = [f"rows {top}-{bottom}, next page {draft.next_page or '-'}, back {draft.previous_page or '-'}"]
    lines += [f"  {c.name}: col {c.col}, length {c.length}, {c.type.value}" for c in draft.columns]
    lines += [f"  last page when: {rule_text(r)}" for r in draft.end_of_data]
    lines += ["", "Enter accept | Esc drop"]
    if prompter.show(f"Recordset {name}", lines, "\n") != "\n":
        return "recordset not marked"
    here = recognised(recorder)
    if here is not None:
        recorder.add_recordset(here, draft)
        state.dirty = True
        return f"recordset {name} added to {here}"
    state.recordsets.append(draft)
    return f"recordset {name} marked: it joins the next entity (Ctrl-E)"


def mark_region(recorder: FaceRecorder, prompter: Prompter, state: CaptureState) -> str:
    """Ctrl-T: a region of the screen (VT hosts have no field map) becomes an attribute: of the captured
    entity this screen is, or of the next entity marked here."""
    screen = recorder.screen
    row, col = screen.cursor
    name = ask_name(prompter, "Attribute name (region)")
    if name is None:
        return "region not marked"
    r = _row(prompter, "Row", row, screen.rows)
    if r is None:
        return "region not marked"
    answer = prompter.ask(f"Column (1-{screen.cols})", str(col))
    if answer is None or not answer.strip().isdigit() or not 1 <= int(answer) <= screen.cols:
        return "region not marked"
    c = int(answer)
    words = screen.lines[r - 1][c - 1 :].split("  ")[0].rstrip()
    room = screen.cols - c + 1
    answer = prompter.ask(f"Length (1-{room})", str(max(1, min(len(words), room))))
    if answer is None or not answer.strip().isdigit() or not 1 <= int(answer) <= room:
        return "region not marked"
    draft = recorder.propose_attribute(name, r, c, int(answer))
    if not screen.fields:
        # No field map (VT): only the user knows whether the host takes input there.
        writable = prompter.ask("Writable (y/n)", "n")
        if writable is None:
            return "region not marked"
        draft = dataclasses.replace(draft, writable=writable.strip().lower().startswith("y"))
    here = recognised(recorder)
    if here is not None:
        recorder.add_attribute(here, draft)
        state.dirty = True
        return f"attribute {name} added to {here}"
    state.regions.append(draft)
    return f"region {name} marked: it joins the next entity (Ctrl-E)"
