"""The model itself: typed, frozen values built by :func:`hostgate.models.load_model` and never by hand-rolled
dicts. Names (entities, attributes, operations, columns, ...) are identifiers, unique in their scope.

Screen positions are 1-based (row 1, column 1 is the top-left cell), as in VHI's Design Tool.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from enum import StrEnum

from hostgate.models.host import HostSpec
from hostgate.models.keys import Key
from hostgate.models.rules import Rule, ScreenLike, all_match

__all__ = [
    "Access",
    "Attribute",
    "Column",
    "Entity",
    "FillStep",
    "KeyStep",
    "Model",
    "Navigation",
    "Operation",
    "OperationRef",
    "OutputMap",
    "Procedure",
    "ProcedureInput",
    "ProcedureStep",
    "ProcedureType",
    "Record",
    "RecordField",
    "Recordset",
    "Step",
    "Table",
    "TypeStep",
    "Value",
    "ValueType",
    "Variable",
    "convert_value",
    "render_template",
    "template_names",
]

Value = str | int | Decimal | None
Record = Mapping[str, Value]

_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}|\$\$")


def template_names(template: str) -> tuple[str, ...]:
    """The ``${name}`` references in a value template, in order (``$$`` is a literal ``$``)."""
    return tuple(m.group(1) for m in _REF.finditer(template) if m.group(1))


def render_template(template: str, values: Mapping[str, str]) -> str:
    """Substitute ``${name}`` from ``values`` (KeyError for a missing name; the validator prevents that)."""
    return _REF.sub(lambda m: values[m.group(1)] if m.group(1) else "$", template)


class ValueType(StrEnum):
    STRING = "string"
    INTEGER = "integer"
    DECIMAL = "decimal"


def convert_value(text: str, type_: ValueType) -> Value:
    """Screen text as a typed value: stripped; blank is ``None`` for numbers; unreadable numbers raise
    ValueError (the session runtime reports it against the attribute)."""
    stripped = text.strip()
    if type_ is ValueType.STRING:
        return stripped
    if not stripped:
        return None
    cleaned = stripped.replace(",", "")
    if type_ is ValueType.INTEGER:
        return int(cleaned)
    try:
        return Decimal(cleaned)
    except InvalidOperation as exc:
        raise ValueError(f"{stripped!r} is not a decimal number") from exc


class Access(StrEnum):
    READ = "read"
    WRITE = "write"
    READ_WRITE = "readwrite"

    @property
    def writable(self) -> bool:
        return self is not Access.READ

    @property
    def readable(self) -> bool:
        return self is not Access.WRITE


@dataclass(frozen=True, slots=True)
class Variable:
    """A model variable: a named value with a default, usable as ``${name}`` in fills (user id, ...)."""

    name: str
    default: str = ""
    hidden: bool = False
    description: str = ""


@dataclass(frozen=True, slots=True)
class Attribute:
    """A field of an entity at a fixed position. ``hidden`` values (passwords) never appear in logs,
    snapshots or read results."""

    name: str
    row: int
    col: int
    length: int
    access: Access = Access.READ
    type: ValueType = ValueType.STRING
    hidden: bool = False
    description: str = ""

    @property
    def end_col(self) -> int:
        return self.col + self.length - 1

    def text(self, screen: ScreenLike) -> str:
        line = screen.lines[self.row - 1] if self.row <= len(screen.lines) else ""
        return line[self.col - 1 : self.end_col].ljust(self.length)

    def read(self, screen: ScreenLike) -> Value:
        return convert_value(self.text(screen), self.type)


@dataclass(frozen=True, slots=True)
class FillStep:
    """Write ``value`` (a template: ``${variable}``/``${parameter}``) into the entity's ``attribute``."""

    attribute: str
    value: str


@dataclass(frozen=True, slots=True)
class TypeStep:
    """Type ``text`` (a template) at the cursor."""

    text: str


@dataclass(frozen=True, slots=True)
class KeyStep:
    key: Key


Step = FillStep | TypeStep | KeyStep


@dataclass(frozen=True, slots=True)
class Operation:
    """Steps done on one entity, ending with a key; the host must then show one of ``destinations``
    within ``timeout`` seconds."""

    name: str
    steps: tuple[Step, ...]
    destinations: tuple[str, ...]
    timeout: float = 10.0
    parameters: tuple[str, ...] = ()
    description: str = ""


@dataclass(frozen=True, slots=True)
class RecordField:
    name: str
    col: int
    length: int
    type: ValueType = ValueType.STRING

    def read(self, line: str) -> Value:
        return convert_value(line[self.col - 1 : self.col - 1 + self.length], self.type)


@dataclass(frozen=True, slots=True)
class Recordset:
    """Rows ``top``..``bottom`` hold one record each; ``scroll_forward``/``scroll_back`` page; the page that
    satisfies every ``end_of_data`` rule is the last."""

    name: str
    top: int
    bottom: int
    fields: tuple[RecordField, ...]
    scroll_forward: Key | None = None
    scroll_back: Key | None = None
    end_of_data: tuple[Rule, ...] = ()
    skip_blank: bool = True

    def field(self, name: str) -> RecordField | None:
        return next((f for f in self.fields if f.name == name), None)

    def read_page(self, screen: ScreenLike) -> tuple[Record, ...]:
        """The records shown on this page, in screen order (blank rows skipped when ``skip_blank``)."""
        records: list[Record] = []
        for row in range(self.top, self.bottom + 1):
            line = screen.lines[row - 1] if row <= len(screen.lines) else ""
            raw = [line[f.col - 1 : f.col - 1 + f.length] for f in self.fields]
            if self.skip_blank and not any(part.strip() for part in raw):
                continue
            records.append({f.name: f.read(line) for f in self.fields})
        return tuple(records)

    def at_end(self, screen: ScreenLike) -> bool:
        """True on the last page (always, for a recordset that cannot scroll)."""
        return self.scroll_forward is None or all_match(self.end_of_data, screen)


@dataclass(frozen=True, slots=True)
class Entity:
    """A screen of the host application, recognised when every rule matches."""

    name: str
    rules: tuple[Rule, ...]
    attributes: tuple[Attribute, ...] = ()
    operations: tuple[Operation, ...] = ()
    recordsets: tuple[Recordset, ...] = ()
    description: str = ""

    def matches(self, screen: ScreenLike) -> bool:
        return all_match(self.rules, screen)

    def attribute(self, name: str) -> Attribute | None:
        return next((a for a in self.attributes if a.name == name), None)

    def operation(self, name: str) -> Operation | None:
        return next((o for o in self.operations if o.name == name), None)

    def recordset(self, name: str) -> Recordset | None:
        return next((r for r in self.recordsets if r.name == name), None)


@dataclass(frozen=True, slots=True)
class OperationRef:
    entity: str
    operation: str

    def __str__(self) -> str:
        return f"{self.entity}.{self.operation}"


@dataclass(frozen=True, slots=True)
class Navigation:
    """How a session starts and ends: the first screen after connect, the home entity procedures start
    from, and the operations that sign on (from ``start``) and off (from ``home``)."""

    start: str
    home: str | None = None
    sign_on: tuple[OperationRef, ...] = ()
    sign_off: tuple[OperationRef, ...] = ()


@dataclass(frozen=True, slots=True)
class Column:
    name: str
    type: ValueType = ValueType.STRING
    description: str = ""


class ProcedureType(StrEnum):
    SELECT = "select"
    INSERT = "insert"
    UPDATE = "update"
    DELETE = "delete"


@dataclass(frozen=True, slots=True)
class ProcedureInput:
    """A column the procedure sends to the host (a "filter" in VHI); required ones must be given."""

    column: str
    required: bool = False


@dataclass(frozen=True, slots=True)
class OutputMap:
    """Table ``column`` comes from ``source``: an attribute of the step's entity, or a field of the step's
    recordset."""

    column: str
    source: str


@dataclass(frozen=True, slots=True)
class ProcedureStep:
    """One stop on the procedure's path: on ``entity``, fill attributes (templates over the procedure's
    inputs and the model variables), then read ``outputs`` (attributes, or recordset fields when
    ``recordset`` is set: every record on every page), then run ``operation`` (if any) to move on."""

    entity: str
    fill: tuple[FillStep, ...] = ()
    recordset: str | None = None
    outputs: tuple[OutputMap, ...] = ()
    operation: str | None = None


@dataclass(frozen=True, slots=True)
class Procedure:
    name: str
    table: str
    type: ProcedureType
    steps: tuple[ProcedureStep, ...]
    inputs: tuple[ProcedureInput, ...] = ()
    outputs: tuple[str, ...] = ()
    description: str = ""

    def input(self, column: str) -> ProcedureInput | None:
        return next((i for i in self.inputs if i.column == column), None)

    @property
    def required_inputs(self) -> frozenset[str]:
        return frozenset(i.column for i in self.inputs if i.required)


@dataclass(frozen=True, slots=True)
class Table:
    name: str
    columns: tuple[Column, ...]
    description: str = ""

    def column(self, name: str) -> Column | None:
        return next((c for c in self.columns if c.name.lower() == name.lower()), None)


@dataclass(frozen=True, slots=True)
class Model:
    """A whole, validated model. Build it with :func:`hostgate.models.load_model`."""

    format_version: int
    name: str
    host: HostSpec
    navigation: Navigation
    entities: tuple[Entity, ...]
    variables: tuple[Variable, ...] = ()
    tables: tuple[Table, ...] = ()
    procedures: tuple[Procedure, ...] = ()
    description: str = ""

    def entity(self, name: str) -> Entity | None:
        return next((e for e in self.entities if e.name == name), None)

    def variable(self, name: str) -> Variable | None:
        return next((v for v in self.variables if v.name == name), None)

    def table(self, name: str) -> Table | None:
        return next((t for t in self.tables if t.name.lower() == name.lower()), None)

    def procedures_of(self, table: str) -> tuple[Procedure, ...]:
        return tuple(p for p in self.procedures if p.table.lower() == table.lower())

    def recognize(self, screen: ScreenLike) -> Entity | None:
        """The first entity (in model order) whose rules all match, or None for an unknown screen."""
        return next((e for e in self.entities if e.matches(screen)), None)

    def variable_defaults(self) -> dict[str, str]:
        return {v.name: v.default for v in self.variables}
