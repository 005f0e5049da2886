"""The capture engine: :class:`CaptureRecorder`, a :class:`~hostgate.capture.Recorder` over a live host session.

The faces (the terminal UI, the web console, tests) drive it as a terminal emulator that records:

    recorder = CaptureRecorder(spec, name="orders")
    await recorder.start()                                    # the sign-on screen
    recorder.add_entity(recorder.propose_entity("SignOn"))
    await recorder.type_text("ADA")                           # into the field at the cursor
    await recorder.press(Key.TAB)
    await recorder.type_text("LOVELACE")                      # a hidden field: recorded as a secret
    await recorder.press(Key.ENTER)                           # waits for the host's answer
    op = recorder.propose_operation("signon", "Menu")         # the password is already a hidden variable
    recorder.add_entity(recorder.propose_entity("Menu"), op)
    Path("orders.yaml").write_text(recorder.model_yaml())

How typing is recorded. Block-mode hosts (3270, 5250): text goes into the input field at the cursor (the
host's, or where :meth:`move_cursor` put it) through the driver's ``fill_field``, and is recorded as a
:class:`Typed` at the *field's* start, which is what a fill step names through the attribute there; more
typing in the same field extends that one value. A field the host flags non-display is secret: its
``Typed`` keeps no text. VT hosts: text goes where the host puts the cursor; the ``Typed`` carries the cursor
position where typing started, and a value the host does not echo (a password prompt) is secret.

A key pressed on an entity with a recordset that leaves the host on the same entity with other rows is that
recordset's paging key, not an input of the next operation.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path

from hostgate.capture import (
    AttributeDraft,
    EntityDraft,
    OperationDraft,
    RecordedInput,
    RecordsetDraft,
    RuleProposal,
    Typed,
    ValueChoice,
    ValueKind,
)
from hostgate.capture.builder import ModelBuilder
from hostgate.capture.proposals import (
    attribute_candidates,
    column_candidates,
    default_paging,
    identifier,
    label_before,
    page_counter_rule,
    propose_rules,
)
from hostgate.capture.writer import Resumed
from hostgate.capture.writer import resume as read_model_file
from hostgate.errors import (
    CaptureError,
    CaptureNothingToRecord,
    CaptureRegionInvalid,
    CaptureResumeRefused,
    FieldNotWritable,
    HostTimeout,
    ModelError,
)
from hostgate.hosts import HostSession, Screen, open_session
from hostgate.models import (
    HOST_KEYS,
    HostSpec,
    HostType,
    Key,
    Model,
    Navigation,
    OperationRef,
    Rule,
    load_model,
)

__all__ = ["CaptureRecorder"]


def _now() -> datetime:
    return datetime.now(UTC)


class CaptureRecorder:
    """A :class:`~hostgate.capture.Recorder` over ``open_session(spec)`` (or ``session``, for a face that
    opened its own). ``name``: the model's name; ``resume``: a model file (or one already read) to add to —
    its entities come first and are kept as they are. ``answer_timeout``: how long an attention key may
    wait for the host's answer. ``clock``: the capture time written in each entity's comment."""

    def __init__(
        self,
        spec: HostSpec,
        *,
        name: str = "captured",
        resume: Path | Resumed | None = None,
        session: HostSession | None = None,
        keyboard_timeout: float = 5.0,
        answer_timeout: float = 30.0,
        clock: Callable[[], datetime] = _now,
    ) -> None:
        resumed = read_model_file(resume) if isinstance(resume, Path) else resume
        if resumed is not None:
            _check_resumable(resumed.model, spec)
        self.spec = spec
        self._builder = ModelBuilder(spec, name, resumed=resumed)
        self._host = session if session is not None else open_session(spec, keyboard_timeout=keyboard_timeout)
        self._answer_timeout = answer_timeout
        self._keyboard_timeout = keyboard_timeout
        self._clock = clock
        self._block = spec.type is not HostType.VT
        self._screen: Screen | None = None
        self._cursor: tuple[int, int] | None = None  # block mode: where the next typing goes (move_cursor)
        self._typing_end: tuple[int, int] | None = None  # where the last typed text ended
        self._pending: list[RecordedInput] = []
        self._current: str | None = None
        self._closed = False

    # -- what a face shows --------------------------------------------------------------------------------
    @property
    def screen(self) -> Screen:
        if self._screen is None:
            raise CaptureNothingToRecord("the capture has not started: call start() first")
        if self._cursor is not None:
            return dataclasses.replace(self._screen, cursor=self._cursor)
        return self._screen

    @property
    def entities(self) -> Sequence[EntityDraft]:
        return self._builder.drafts

    @property
    def pending(self) -> Sequence[RecordedInput]:
        return tuple(self._pending)

    @property
    def current(self) -> str | None:
        """The entity the recorded inputs start from: the last one marked or arrived at (added for the
        faces)."""
        return self._current

    @property
    def host_type(self) -> HostType:
        return self.spec.type

    def recognize(self) -> str | None:
        """The captured entity the current screen is, as the model would recognise it (added for the
        faces: a screen already captured is arrived at with :meth:`add_operation`, not marked again)."""
        return self._builder.recognize(self.screen)

    # -- driving the host ---------------------------------------------------------------------------------
    async def start(self) -> Screen:
        await self._host.connect()
        try:
            self._screen = await self._settled(self._answer_timeout)
        except BaseException:
            # Connected but no first screen (the host closed, a cancel): the caller holds no recorder it could
            # close yet (start() failed), so the host connection must not outlive this call.
            await self.close()
            raise
        # Resuming: the first screen is usually an entity of the model already, and inputs start from it.
        self._current = self._builder.recognize(self._screen)
        return self.screen

    async def _settled(self, timeout: float) -> Screen:
        try:
            return await self._host.wait_ready(timeout)
        except HostTimeout:
            return await self._host.snapshot()

    async def refresh(self) -> Screen:
        self._screen = await self._settled(self._keyboard_timeout)
        return self.screen

    async def move_cursor(self, row: int, col: int) -> Screen:
        screen = self.screen
        if not (1 <= row <= screen.rows and 1 <= col <= screen.cols):
            raise CaptureRegionInvalid(
                f"row {row}, column {col} is outside the {screen.rows}x{screen.cols} screen"
            )
        if self._block:
            self._cursor = (row, col)
        # VT: the host decides where typing goes (keys move its cursor); nothing to do here.
        return self.screen

    async def type_text(self, text: str) -> Screen:
        if not text:
            return self.screen
        if self._block:
            await self._type_block(text)
        else:
            await self._type_vt(text)
        return self.screen

    async def _type_block(self, text: str) -> None:
        screen = self.screen
        row, col = screen.cursor
        field = screen.field_at(row, col)
        if field is None or field.protected:
            raise FieldNotWritable(
                f"row {row}, column {col} is not in an input field: move the cursor into one"
            )
        offset = (row - field.row) * screen.cols + col - field.col
        room = field.length - offset
        if len(text) > room:
            raise FieldNotWritable(
                f"{len(text)} characters do not fit the {room} left in the field at row {field.row}, column {field.col}"
            )
        await self._host.fill_field(row, col, text)
        self._screen = await self._host.snapshot()
        end = offset + len(text)
        at = (field.row - 1) * screen.cols + field.col - 1 + min(end, field.length - 1)
        self._cursor = (at // screen.cols + 1, at % screen.cols + 1)
        last = self._last_typed()
        if last is not None and (last.row, last.col) == (field.row, field.col):
            self._pending[-1] = _overlay(last, offset, text, field.hidden)
        else:
            # Typing that starts inside a field keeps what the field showed before it (5250 keeps it too).
            prefix = field.text[:offset].replace("_", " ").rstrip().ljust(offset)
            value = "" if field.hidden else prefix + text
            self._pending.append(Typed(field.row, field.col, value, field.hidden))
        self._typing_end = self._cursor

    async def _type_vt(self, text: str) -> None:
        row, col = self.screen.cursor
        await self._host.type_text(text)
        self._screen = await self._settled(self._keyboard_timeout)
        shown = self._screen.at(row, col, len(text))
        # A VT host that does not echo what was typed (a password prompt) shows nothing there: a secret.
        secret = bool(text.strip()) and shown.strip().upper() != text.strip().upper()
        last = self._last_typed()
        if last is not None and self._typing_end == (row, col):
            merged = Typed(
                last.row, last.col, "" if secret or last.secret else last.text + text, secret or last.secret
            )
            self._pending[-1] = merged
        else:
            self._pending.append(Typed(row, col, "" if secret else text, secret))
        self._typing_end = self._screen.cursor

    def _last_typed(self) -> Typed | None:
        last = self._pending[-1] if self._pending else None
        return last if isinstance(last, Typed) else None

    async def press(self, key: Key) -> Screen:
        if self._block and key is Key.BACKSPACE and await self._erase_typed():
            return self.screen
        before = self.screen
        await self._host.send_key(key)  # a key the host refuses (KeyNotSupported, ...) is not recorded
        self._pending.append(key)
        self._cursor = None
        self._typing_end = None
        if key.is_attention or not self._block:
            self._screen = await self._settled(self._answer_timeout)
        else:
            self._screen = await self._host.snapshot()
        self._paging(key, before)
        return self.screen

    async def _erase_typed(self) -> bool:
        """Backspace right after typing on a block-mode host edits the recorded value (and the field)."""
        last = self._last_typed()
        if last is None or last.secret or not last.text or self._typing_end != self.screen.cursor:
            return False
        text = last.text[:-1]
        await self._host.fill_field(last.row, last.col, text)
        self._screen = await self._host.snapshot()
        self._pending[-1] = dataclasses.replace(last, text=text)
        cols = self._screen.cols
        at = (last.row - 1) * cols + last.col - 1 + len(text)
        self._cursor = self._typing_end = (at // cols + 1, at % cols + 1)
        return True

    def _paging(self, key: Key, before: Screen) -> None:
        """A key that keeps the host on the current entity, showing other rows of its recordset, pages it."""
        if not key.is_attention or self._current is None or self._pending != [key]:
            return
        entity = self._builder.entity(self._current)
        if not entity.recordsets or not entity.matches(self.screen):
            return
        draft = self._builder.draft(self._current)
        for rs in draft.recordsets:
            rows = slice(rs.top - 1, rs.bottom)
            if before.lines[rows] == self.screen.lines[rows]:
                continue
            self._pending.clear()
            if key in (rs.next_page, rs.previous_page):
                return
            if rs.next_page is None:
                rs = dataclasses.replace(rs, next_page=key)
            elif rs.previous_page is None:
                rs = dataclasses.replace(rs, previous_page=key)
            self._builder.update_recordset(self._current, rs)
            return

    def discard_pending(self) -> None:
        """Forget the inputs recorded since the last mark (added for the faces: "start this operation over").
        The next inputs start from the entity shown now when it is a captured one (navigating without
        recording), else from the last marked one."""
        self._pending.clear()
        self._typing_end = None
        self._current = self._builder.recognize(self.screen) or self._current

    # -- proposals ----------------------------------------------------------------------------------------
    def propose_entity(self, name: str) -> EntityDraft:
        screen = self.screen
        others = [d.screen for d in self._builder.drafts if d.name != name]
        rules = propose_rules(screen, others)
        attributes = attribute_candidates(screen) if self._block else ()
        return EntityDraft(name, screen, rules, attributes)

    def check_rules(self, rules: Sequence[Rule], *, name: str) -> RuleProposal:
        return RuleProposal(tuple(rules), self._builder.also_matches(rules, name))

    def propose_recordset(self, name: str, top: int, bottom: int) -> RecordsetDraft:
        screen = self.screen
        if not (1 <= top <= bottom <= screen.rows):
            raise CaptureRegionInvalid(f"rows {top}..{bottom} are not within 1..{screen.rows}, top first")
        columns = column_candidates(screen, top, bottom)
        forward, back = default_paging(HOST_KEYS[self.spec.type])
        outside = [r for r in range(1, screen.rows + 1) if not top <= r <= bottom]
        end = page_counter_rule(screen, outside, end_only=True)
        return RecordsetDraft(name, top, bottom, columns, forward, back, (end,) if end is not None else ())

    def propose_attribute(self, name: str, row: int, col: int, length: int) -> AttributeDraft:
        """An attribute over a region the user marked (VT: how attributes are made; block mode: outputs
        such as a result line). Writable and hidden when the region is an input field (added for the
        faces)."""
        screen = self.screen
        if not (1 <= row <= screen.rows and 1 <= col <= screen.cols and 1 <= length <= screen.cols - col + 1):
            raise CaptureRegionInvalid(
                f"row {row}, column {col}, length {length} does not fit the {screen.rows}x{screen.cols} screen"
            )
        field = screen.field_at(row, col)
        writable = field is not None and not field.protected
        return AttributeDraft(
            name, row, col, length, writable, hidden=writable and field is not None and field.hidden
        )

    def propose_operation(self, name: str, destination: str) -> OperationDraft:
        source = self._current
        if source is None:
            raise CaptureNothingToRecord(
                "no entity has been marked yet: mark the screen the inputs start from as an entity first"
            )
        if not self._pending:
            raise CaptureNothingToRecord(f"nothing was typed or pressed on {source} since it was marked")
        entity = self._builder.entity(source)
        screen = self._builder.draft(source).screen
        choices: list[ValueChoice] = []
        for item in self._pending:
            if not isinstance(item, Typed):
                continue
            attribute = next((a for a in entity.attributes if (a.row, a.col) == (item.row, item.col)), None)
            suggested = (
                attribute.name
                if attribute is not None
                else identifier(label_before(screen, item.row, item.col), f"field_r{item.row}c{item.col}")
            )
            kind = ValueKind.HIDDEN_VARIABLE if item.secret else ValueKind.LITERAL
            choices.append(ValueChoice(kind, suggested))
        return OperationDraft(source, name, tuple(self._pending), destination, tuple(choices))

    # -- accepting ----------------------------------------------------------------------------------------
    def add_entity(self, draft: EntityDraft, operation: OperationDraft | None = None) -> None:
        self._builder.add_entity(draft, operation, self._clock())
        self._arrived(draft.name)

    def add_operation(self, operation: OperationDraft) -> None:
        """Keep an operation whose destination was captured before (added for the faces); clears
        :attr:`pending` and makes the destination current."""
        self._builder.add_operation(operation)
        self._arrived(operation.destination)

    def _arrived(self, name: str) -> None:
        self._current = name
        self._pending.clear()
        self._typing_end = None

    def add_attribute(self, entity: str, draft: AttributeDraft) -> None:
        """Add an attribute to a captured entity (added for the faces)."""
        self._builder.add_attribute(entity, draft)

    def add_recordset(self, entity: str, draft: RecordsetDraft) -> None:
        """Add a recordset to a captured entity (added for the faces)."""
        self._builder.add_recordset(entity, draft)

    def set_navigation(
        self,
        *,
        start: str,
        home: str | None = None,
        sign_on: Sequence[str] = (),
        sign_off: Sequence[str] = (),
    ) -> None:
        """Override the proposed navigation (``Entity.operation`` references; added for the faces)."""

        def refs(items: Sequence[str]) -> tuple[OperationRef, ...]:
            found: list[OperationRef] = []
            for item in items:
                entity, _, operation = item.partition(".")
                found.append(OperationRef(entity, operation))
            return tuple(found)

        self._builder.set_navigation(Navigation(start, home, refs(sign_on), refs(sign_off)))

    def model(self) -> Model:
        """The model so far, as values (added for the faces and for replay)."""
        return self._builder.model()

    def model_yaml(self) -> str:
        spec = self.spec
        header = (
            f"hostgate model captured from the {spec.type.value} host {spec.address}:{spec.port} "
            "(hostgate model capture).\nFormat: docs/models.md. Positions are 1-based (row 1, column 1 = top left)."
        )
        text = self._builder.yaml(header)
        try:
            load_model(text)
        except ModelError as exc:  # a bug of the engine: it must only ever write models that load
            raise CaptureError(f"the captured model does not load: {exc.message}") from exc
        return text

    async def close(self) -> None:
        if not self._closed:
            self._closed = True
            await self._host.disconnect()


def _overlay(last: Typed, offset: int, text: str, hidden: bool) -> Typed:
    if hidden or last.secret:
        return Typed(last.row, last.col, "", True)
    before = last.text[:offset].ljust(offset)
    return Typed(last.row, last.col, before + text)


def _check_resumable(model: Model, spec: HostSpec) -> None:
    mine, theirs = spec, model.host
    if mine.type is not theirs.type:
        raise CaptureResumeRefused(
            f"model {model.name!r} is for a {theirs.type.value} host, and this capture is of a {mine.type.value} host"
        )
    if (mine.terminal.rows, mine.terminal.cols) != (theirs.terminal.rows, theirs.terminal.cols):
        raise CaptureResumeRefused(
            f"model {model.name!r} is for a {theirs.terminal.rows}x{theirs.terminal.cols} screen, this capture's "
            f"terminal is {mine.terminal.rows}x{mine.terminal.cols}"
        )
