"""From capture drafts to a model: entities, the operations recorded between them, variables, navigation.

The builder keeps everything as model values (:class:`~hostgate.models.Entity`, ...) as soon as a draft is
accepted, so what the writer serialises is exactly what was checked here, and a resumed model (``--resume``)
is just a builder that starts with that model's entities. Each acceptance is checked whole before anything
changes (a refused entity or operation leaves the builder as it was).
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterable, Sequence
from datetime import datetime

from hostgate.capture import (
    AttributeDraft,
    ColumnDraft,
    EntityDraft,
    OperationDraft,
    RecordsetDraft,
    Typed,
    ValueChoice,
    ValueKind,
)
from hostgate.capture.proposals import check_rules, clashes, identifier, label_before, unique_name
from hostgate.capture.writer import Resumed, dump_model
from hostgate.errors import (
    CaptureNameInvalid,
    CaptureNothingToRecord,
    CaptureRegionInvalid,
    CaptureRulesClash,
    CaptureUnknownEntity,
)
from hostgate.hosts import Screen
from hostgate.models import (
    Access,
    Attribute,
    Entity,
    FillStep,
    HostSpec,
    Key,
    KeyStep,
    Model,
    Navigation,
    Operation,
    OperationRef,
    RecordField,
    Recordset,
    Rule,
    Step,
    Variable,
)

__all__ = ["ModelBuilder", "blank_screen", "entity_note"]

_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def _check_name(name: str, what: str) -> None:
    if not _IDENTIFIER.fullmatch(name):
        raise CaptureNameInvalid(f"{what} name {name!r} is not an identifier ([A-Za-z_][A-Za-z0-9_]*)")


def blank_screen(rows: int, cols: int) -> Screen:
    """The stand-in screen of an entity resumed from a file (its screen was not captured this time)."""
    return Screen(rows, cols, tuple(" " * cols for _ in range(rows)), (1, 1))


def entity_note(screen: Screen, when: datetime) -> str:
    """The comment written above a captured entity: its first non-blank row and the capture time."""
    first = next((line.strip() for line in screen.lines if line.strip()), "(blank screen)")
    first = re.sub(r"\s{2,}", "  ", first)
    return f"captured {when.strftime('%Y-%m-%d %H:%M:%S %Z').strip()} from the screen: {first}"


def _access(draft: AttributeDraft) -> Access:
    if draft.hidden:
        return Access.WRITE
    return Access.READ_WRITE if draft.writable else Access.READ


def _attribute(draft: AttributeDraft) -> Attribute:
    return Attribute(draft.name, draft.row, draft.col, draft.length, _access(draft), hidden=draft.hidden)


def _recordset(draft: RecordsetDraft) -> Recordset:
    fields = tuple(RecordField(c.name, c.col, c.length, c.type) for c in draft.columns)
    # A model requires end-of-data rules with a forward scroll key (docs/models.md): without them the
    # recorded key is left out rather than written into a model that does not load.
    forward = draft.next_page if draft.end_of_data else None
    back = draft.previous_page if forward is not None else None
    return Recordset(draft.name, draft.top, draft.bottom, fields, forward, back, draft.end_of_data)


def _attribute_draft(a: Attribute) -> AttributeDraft:
    return AttributeDraft(a.name, a.row, a.col, a.length, a.access.writable, a.hidden)


def _recordset_draft(r: Recordset) -> RecordsetDraft:
    columns = tuple(ColumnDraft(f.name, f.col, f.length, f.type) for f in r.fields)
    return RecordsetDraft(r.name, r.top, r.bottom, columns, r.scroll_forward, r.scroll_back, r.end_of_data)


class ModelBuilder:
    """The model under construction. ``resumed``: a model loaded from a file to add to."""

    def __init__(self, spec: HostSpec, name: str, *, resumed: Resumed | None = None) -> None:
        _check_name_loose(name)
        self.spec = spec
        self.name = name
        self.description = ""
        self._entities: dict[str, Entity] = {}
        self._drafts: dict[str, EntityDraft] = {}
        self._notes: dict[str, str] = {}
        self._blank: set[str] = set()
        self._variables: dict[str, Variable] = {}
        self._navigation: Navigation | None = None
        self._base: Model | None = None
        if resumed is not None:
            base = resumed.model
            self._base = base
            self.name = base.name
            self.description = base.description
            screen = blank_screen(spec.terminal.rows, spec.terminal.cols)
            for e in base.entities:
                self._entities[e.name] = e
                self._drafts[e.name] = EntityDraft(
                    e.name,
                    screen,
                    e.rules,
                    tuple(_attribute_draft(a) for a in e.attributes),
                    tuple(_recordset_draft(r) for r in e.recordsets),
                    resumed.notes.get(e.name, ""),
                )
                self._blank.add(e.name)
            self._notes.update(resumed.notes)
            self._variables = {v.name: v for v in base.variables}
            self._navigation = base.navigation

    # -- what there is ------------------------------------------------------------------------------------
    @property
    def drafts(self) -> tuple[EntityDraft, ...]:
        return tuple(self._drafts.values())

    def entity(self, name: str) -> Entity:
        found = self._entities.get(name)
        if found is None:
            listed = ", ".join(self._entities) or "none yet"
            raise CaptureUnknownEntity(f"no entity {name!r} has been captured (entities: {listed})")
        return found

    def draft(self, name: str) -> EntityDraft:
        self.entity(name)
        return self._drafts[name]

    def recognize(self, screen: Screen) -> str | None:
        """The first entity (in model order) whose rules match ``screen``, as the model would see it."""
        return next((e.name for e in self._entities.values() if e.matches(screen)), None)

    def also_matches(self, rules: Sequence[Rule], name: str) -> tuple[str, ...]:
        """The captured entities (other than ``name``) whose screens ``rules`` match; entities resumed from a
        file have no screen to try."""
        others = [d for d in self._drafts.values() if d.name != name and d.name not in self._blank]
        return check_rules(rules, others)

    # -- accepting drafts ---------------------------------------------------------------------------------
    def add_entity(self, draft: EntityDraft, operation: OperationDraft | None, when: datetime) -> None:
        """Keep ``draft`` (and the operation that led to it); checked whole first."""
        _check_name(draft.name, "entity")
        if draft.name in self._entities:
            raise CaptureNameInvalid(f"an entity named {draft.name!r} has already been captured")
        if not draft.rules:
            raise CaptureRulesClash(
                f"entity {draft.name!r} has no recognition rule: it would match every screen"
            )
        found = clashes(draft, self._drafts.values(), self._blank)
        if found:
            raise CaptureRulesClash(f"entity {draft.name!r} was not added: " + "; ".join(found))
        entity = self._entity_of(draft)
        note = draft.note or entity_note(draft.screen, when)
        draft = dataclasses.replace(draft, note=note)
        if operation is not None:
            if operation.destination != draft.name and operation.destination not in self._entities:
                self.entity(operation.destination)
            planned = self._plan_operation(operation, extra={draft.name})
        self._entities[draft.name] = entity
        self._drafts[draft.name] = draft
        self._notes[draft.name] = note
        if operation is not None:
            self._apply(planned)

    def _entity_of(self, draft: EntityDraft) -> Entity:
        names: set[str] = set()
        for a in draft.attributes:
            _check_name(a.name, "attribute")
            if a.name in names:
                raise CaptureNameInvalid(f"entity {draft.name!r} names two attributes {a.name!r}")
            names.add(a.name)
            self._check_region(a.row, a.col, a.length, f"attribute {a.name!r}")
        for r in draft.recordsets:
            self._check_recordset(r)
        return Entity(
            draft.name,
            draft.rules,
            tuple(_attribute(a) for a in draft.attributes),
            (),
            tuple(_recordset(r) for r in draft.recordsets),
        )

    def _check_region(self, row: int, col: int, length: int, what: str) -> None:
        rows, cols = self.spec.terminal.rows, self.spec.terminal.cols
        if not (1 <= row <= rows and 1 <= col <= cols and length >= 1 and col + length - 1 <= cols):
            raise CaptureRegionInvalid(
                f"{what} at row {row}, column {col}, length {length} does not fit the {rows}x{cols} screen"
            )

    def _check_recordset(self, r: RecordsetDraft) -> None:
        _check_name(r.name, "recordset")
        rows = self.spec.terminal.rows
        if not (1 <= r.top <= r.bottom <= rows):
            raise CaptureRegionInvalid(
                f"recordset {r.name!r}: rows {r.top}..{r.bottom} are not within 1..{rows}"
            )
        if not r.columns:
            raise CaptureRegionInvalid(
                f"recordset {r.name!r} has no columns (rows {r.top}..{r.bottom} are blank)"
            )
        seen: set[str] = set()
        for c in r.columns:
            _check_name(c.name, "recordset field")
            if c.name in seen:
                raise CaptureNameInvalid(f"recordset {r.name!r} names two fields {c.name!r}")
            seen.add(c.name)
            self._check_region(r.top, c.col, c.length, f"recordset field {c.name!r}")

    def add_attribute(self, entity: str, draft: AttributeDraft) -> None:
        current = self.entity(entity)
        _check_name(draft.name, "attribute")
        if current.attribute(draft.name) is not None:
            raise CaptureNameInvalid(f"entity {entity!r} already has an attribute {draft.name!r}")
        self._check_region(draft.row, draft.col, draft.length, f"attribute {draft.name!r}")
        self._entities[entity] = dataclasses.replace(
            current, attributes=(*current.attributes, _attribute(draft))
        )
        d = self._drafts[entity]
        self._drafts[entity] = dataclasses.replace(d, attributes=(*d.attributes, draft))

    def add_recordset(self, entity: str, draft: RecordsetDraft) -> None:
        current = self.entity(entity)
        self._check_recordset(draft)
        if current.recordset(draft.name) is not None:
            raise CaptureNameInvalid(f"entity {entity!r} already has a recordset {draft.name!r}")
        self._entities[entity] = dataclasses.replace(
            current, recordsets=(*current.recordsets, _recordset(draft))
        )
        d = self._drafts[entity]
        self._drafts[entity] = dataclasses.replace(d, recordsets=(*d.recordsets, draft))

    def update_recordset(self, entity: str, draft: RecordsetDraft) -> None:
        """Replace recordset ``draft.name`` of ``entity`` (a paging key recorded after it was marked)."""
        current = self.entity(entity)
        self._check_recordset(draft)
        self._entities[entity] = dataclasses.replace(
            current,
            recordsets=tuple(_recordset(draft) if r.name == draft.name else r for r in current.recordsets),
        )
        d = self._drafts[entity]
        self._drafts[entity] = dataclasses.replace(
            d, recordsets=tuple(draft if r.name == draft.name else r for r in d.recordsets)
        )

    def add_operation(self, operation: OperationDraft) -> None:
        """An operation whose destination was captured already (back to the menu, a form that stays)."""
        self.entity(operation.destination)
        self._apply(self._plan_operation(operation, extra=set()))

    def set_navigation(self, navigation: Navigation) -> None:
        for name in (navigation.start, navigation.home):
            if name is not None:
                self.entity(name)
        for ref in (*navigation.sign_on, *navigation.sign_off):
            if self.entity(ref.entity).operation(ref.operation) is None:
                raise CaptureUnknownEntity(f"entity {ref.entity!r} has no operation {ref.operation!r}")
        self._navigation = navigation

    # -- operations ---------------------------------------------------------------------------------------
    def _plan_operation(
        self, draft: OperationDraft, extra: set[str]
    ) -> tuple[str, Operation, list[AttributeDraft], list[Variable]]:
        """The operation ``draft`` makes, the attributes it needs created and the variables it declares;
        nothing is changed yet."""
        source = self.entity(draft.source)
        _check_name(draft.name, "operation")
        if source.operation(draft.name) is not None:
            raise CaptureNameInvalid(f"entity {draft.source!r} already has an operation {draft.name!r}")
        if draft.destination not in self._entities and draft.destination not in extra:
            self.entity(draft.destination)
        if not draft.inputs or not isinstance(draft.inputs[-1], Key):
            raise CaptureNothingToRecord(
                f"operation {draft.source}.{draft.name} must end with a key (Enter, a PF key): an operation is "
                "the inputs up to the key that sends them"
            )
        typed = [i for i in draft.inputs if isinstance(i, Typed)]
        if len(draft.choices) not in (0, len(typed)):
            raise CaptureNothingToRecord(
                f"operation {draft.source}.{draft.name}: {len(draft.choices)} value choices for {len(typed)} typed values"
            )
        choices = list(draft.choices) or [ValueChoice(ValueKind.LITERAL) for _ in typed]
        screen = self._drafts[draft.source].screen
        attributes = list(source.attributes)
        created: list[AttributeDraft] = []
        variables: list[Variable] = []
        parameters: list[str] = []
        steps: list[Step] = []
        n = 0
        for item in draft.inputs:
            if isinstance(item, Key):
                steps.append(KeyStep(item))
                continue
            choice = choices[n]
            n += 1
            attribute = self._attribute_for(item, screen, attributes)
            if attribute not in attributes:
                attributes.append(attribute)
                created.append(_attribute_draft(attribute))
            value, declared = self._value(item, choice, attribute, draft)
            if declared is not None:
                if declared.name in parameters:
                    raise CaptureNameInvalid(f"{declared.name!r} is both a parameter and a variable")
                variables.append(declared)
            elif choice.kind is ValueKind.PARAMETER and choice.name not in parameters:
                parameters.append(choice.name)
            steps.append(FillStep(attribute.name, value))
        operation = Operation(draft.name, tuple(steps), (draft.destination,), parameters=tuple(parameters))
        return draft.source, operation, created, variables

    def _value(
        self, item: Typed, choice: ValueChoice, attribute: Attribute, draft: OperationDraft
    ) -> tuple[str, Variable | None]:
        kind = ValueKind.HIDDEN_VARIABLE if item.secret else choice.kind
        if kind is ValueKind.LITERAL:
            return item.text.replace("$", "$$"), None
        name = choice.name or attribute.name
        _check_name(name, kind.value)
        if kind is ValueKind.PARAMETER:
            return f"${{{name}}}", None
        existing = self._variables.get(name)
        if kind is ValueKind.HIDDEN_VARIABLE:
            if existing is not None and not existing.hidden:
                raise CaptureNameInvalid(f"variable {name!r} exists and is not hidden: choose another name")
            return f"${{{name}}}", Variable(name, "", hidden=True)
        if existing is not None and existing.hidden:
            raise CaptureNameInvalid(f"variable {name!r} is a hidden variable: choose another name")
        return f"${{{name}}}", Variable(name, existing.default if existing else item.text)

    def _attribute_for(self, item: Typed, screen: Screen, attributes: list[Attribute]) -> Attribute:
        """The attribute a typed value goes into: the one starting where it was typed, else a new one from
        the field there (block mode) or from the blank run there (VT), named from its label."""
        for a in attributes:
            if (a.row, a.col) == (item.row, item.col) and a.access.writable:
                return a
        taken = [a.name for a in attributes]
        label = label_before(screen, item.row, item.col)
        name = unique_name(identifier(label, f"field_r{item.row}c{item.col}"), taken)
        field = screen.field_at(item.row, item.col)
        cols = screen.cols
        if field is not None and not field.protected:
            length = min(
                field.length - _offset(field.row, field.col, item.row, item.col, cols), cols - item.col + 1
            )
            hidden = field.hidden or item.secret
        else:
            length = _vt_length(screen, item, attributes)
            hidden = item.secret
        length = max(length, len(item.text), 1)
        length = min(length, cols - item.col + 1)
        return Attribute(
            name, item.row, item.col, length, Access.WRITE if hidden else Access.READ_WRITE, hidden=hidden
        )

    def _apply(self, planned: tuple[str, Operation, list[AttributeDraft], list[Variable]]) -> None:
        source, operation, created, variables = planned
        for attribute in created:
            self.add_attribute(source, attribute)
        current = self._entities[source]
        self._entities[source] = dataclasses.replace(current, operations=(*current.operations, operation))
        for v in variables:
            self._variables.setdefault(v.name, v)

    # -- the model ----------------------------------------------------------------------------------------
    def navigation(self) -> Navigation:
        """What was set (or resumed), else the usual shape: start on the first entity; sign on with its
        operation that fills a hidden attribute; home where that leads; sign off with home's operation back
        to start."""
        if self._navigation is not None:
            return self._navigation
        if not self._entities:
            raise CaptureNothingToRecord("nothing has been captured yet: mark the first screen as an entity")
        start = next(iter(self._entities.values()))
        sign_on = next((op for op in start.operations if _fills_hidden(start, op)), None)
        home = sign_on.destinations[0] if sign_on is not None else start.name
        home_entity = self._entities[home]
        sign_off = None
        if home != start.name:
            sign_off = next((op for op in home_entity.operations if start.name in op.destinations), None)
        return Navigation(
            start.name,
            home,
            (OperationRef(start.name, sign_on.name),) if sign_on else (),
            (OperationRef(home, sign_off.name),) if sign_off else (),
        )

    def model(self) -> Model:
        base = self._base
        navigation = self.navigation()
        entities = dict(self._entities)
        if self._navigation is None:
            # A refused sign-on stays on its screen: with it among the destinations the session runtime
            # reports SignOnFailed (HG-6109) quoting the host's message, as the samples do, rather than
            # UnexpectedEntity. Only for a proposed navigation; one that was set or resumed is kept as it is.
            for ref in navigation.sign_on:
                entity = entities[ref.entity]
                entities[ref.entity] = dataclasses.replace(
                    entity,
                    operations=tuple(
                        dataclasses.replace(op, destinations=(*op.destinations, ref.entity))
                        if op.name == ref.operation and ref.entity not in op.destinations
                        else op
                        for op in entity.operations
                    ),
                )
        return Model(
            1,
            self.name,
            self.spec if base is None else base.host,
            navigation,
            tuple(entities.values()),
            tuple(self._variables.values()),
            base.tables if base is not None else (),
            base.procedures if base is not None else (),
            self.description,
        )

    def yaml(self, header: str = "") -> str:
        return dump_model(self.model(), notes=self._notes, header=header)


def _check_name_loose(name: str) -> None:
    if not re.fullmatch(r"[A-Za-z0-9_.-]+", name):
        raise CaptureNameInvalid(f"model name {name!r}: use letters, digits, '_', '.' or '-'")


def _offset(frow: int, fcol: int, row: int, col: int, cols: int) -> int:
    return (row - frow) * cols + col - fcol


def _fills_hidden(entity: Entity, op: Operation) -> bool:
    for step in op.steps:
        if isinstance(step, FillStep):
            attribute = entity.attribute(step.attribute)
            if attribute is not None and attribute.hidden:
                return True
    return False


def _vt_length(screen: Screen, item: Typed, attributes: Iterable[Attribute]) -> int:
    """A VT field has no length on screen: the blank run from where typing started to the next text on the
    row (the screen as captured, before anything was typed), cut before another writable attribute."""
    line = screen.lines[item.row - 1]
    end = item.col - 1
    while end < len(line) and line[end] == " ":
        end += 1
    length = end - (item.col - 1)
    for a in attributes:
        if a.row == item.row and a.col > item.col and a.access.writable:
            length = min(length, a.col - item.col - 1)
    return length if length > 0 else len(item.text)
