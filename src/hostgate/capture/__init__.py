"""Model capture from a live host (``hostgate model capture``): the contract between the engine and its faces.

In VHI nobody writes a model by hand: the Design Tool connects, the developer navigates, and each screen
becomes an entity. Here the same work is split in two so that the terminal UI (``capture/tui.py``), the web
console and the tests all drive one engine:

- the **engine** (``capture/engine.py``, :class:`Recorder`) holds a live :class:`~hostgate.hosts.HostSession`,
  records every input between two marked screens, proposes rules and attributes from what a screen shows,
  and writes a normal model file (``capture/writer.py``) that ``hostgate model check`` accepts;
- **replay** (``capture/replay.py``) walks every operation of a model against a host and reports the ones that
  no longer land where the model says.

Every value here is a frozen dataclass, so a face can show a proposal, let the user edit it (``replace``), and
hand it back. Positions are 1-based like the model. Nothing typed into a hidden field is ever kept in clear:
the recorder stores a :class:`Typed` with ``secret=True`` and no text, and the writer turns it into a hidden
model variable with no default.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Protocol

from hostgate.hosts.base import Screen
from hostgate.models import Key, Rule, ValueType

__all__ = [
    "AttributeDraft",
    "ColumnDraft",
    "EntityDraft",
    "OperationDraft",
    "Recorder",
    "RecordsetDraft",
    "ReplayFinding",
    "ReplayReport",
    "RuleProposal",
    "Typed",
    "ValueChoice",
    "ValueKind",
]


@dataclass(frozen=True, slots=True)
class Typed:
    """A value the user typed (into the field at ``row``/``col`` on a block-mode host; at the cursor on VT).
    ``secret`` values (typed into a hidden field) carry no ``text``."""

    row: int
    col: int
    text: str
    secret: bool = False


RecordedInput = Typed | Key
"""One recorded input, in the order the user gave them."""


class ValueKind(StrEnum):
    """What a typed value becomes in the model (the user chooses; VHI's Design Tool asks the same)."""

    LITERAL = "literal"  # kept as typed in the step
    PARAMETER = "parameter"  # an operation parameter: ${name}
    VARIABLE = "variable"  # a model variable with the typed value as default
    HIDDEN_VARIABLE = "hidden"  # a hidden model variable, no default written (passwords; forced for secrets)


@dataclass(frozen=True, slots=True)
class ValueChoice:
    """The user's choice for one typed value of an operation."""

    kind: ValueKind
    name: str = ""  # parameter or variable name; empty for LITERAL


@dataclass(frozen=True, slots=True)
class RuleProposal:
    """Recognition rules proposed for a screen, and the already-captured entities they would also match
    (the engine refuses to add an entity whose rules match another one: HG code in the engine's range)."""

    rules: tuple[Rule, ...]
    also_matches: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class AttributeDraft:
    """A candidate attribute: on block-mode hosts every unprotected field (its name from the protected label
    before it), on VT a region the user marked."""

    name: str
    row: int
    col: int
    length: int
    writable: bool
    hidden: bool = False


@dataclass(frozen=True, slots=True)
class ColumnDraft:
    """A field of a recordset's rows; ``type`` (added for the engine) is INTEGER when every value shown is
    digits."""

    name: str
    col: int
    length: int
    type: ValueType = ValueType.STRING


@dataclass(frozen=True, slots=True)
class RecordsetDraft:
    """A repeating region: rows ``top``..``bottom``, its columns, and the key that pages forward."""

    name: str
    top: int
    bottom: int
    columns: tuple[ColumnDraft, ...]
    next_page: Key | None = None
    previous_page: Key | None = None
    # Added for the engine: the rules (all must match) that recognise the last page; a model requires them
    # when ``next_page`` is set (proposed from a page counter such as "PAGE 3 OF 3").
    end_of_data: tuple[Rule, ...] = ()


@dataclass(frozen=True, slots=True)
class EntityDraft:
    """A screen marked as an entity: what the writer turns into ``entities.NAME``."""

    name: str
    screen: Screen
    rules: tuple[Rule, ...]
    attributes: tuple[AttributeDraft, ...] = ()
    recordsets: tuple[RecordsetDraft, ...] = ()
    note: str = ""  # the comment written above the entity: which screen it came from


@dataclass(frozen=True, slots=True)
class OperationDraft:
    """The inputs typed between two marked entities: an operation of ``source`` landing on ``destination``.
    ``choices[i]`` says what the i-th :class:`Typed` of ``inputs`` becomes."""

    source: str
    name: str
    inputs: tuple[RecordedInput, ...]
    destination: str
    choices: tuple[ValueChoice, ...] = field(default=())


@dataclass(frozen=True, slots=True)
class ReplayFinding:
    """One operation that no longer lands where the model says (or could not be driven at all)."""

    entity: str
    operation: str
    expected: tuple[str, ...]
    landed_on: str | None  # the entity recognised after the operation, None when no entity matched
    detail: str
    screen: Screen | None = None


@dataclass(frozen=True, slots=True)
class ReplayReport:
    walked: tuple[tuple[str, str], ...]  # (entity, operation) in the order they were tried
    findings: tuple[ReplayFinding, ...]

    @property
    def ok(self) -> bool:
        return not self.findings


class Recorder(Protocol):
    """What a face drives; ``capture/engine.py`` implements it over a live host session."""

    @property
    def screen(self) -> Screen:
        """The host screen as last seen."""

    @property
    def entities(self) -> Sequence[EntityDraft]:
        """The entities captured so far (with those of a resumed model first)."""

    @property
    def pending(self) -> Sequence[RecordedInput]:
        """Inputs recorded since the last marked entity (what the next mark turns into an operation)."""

    async def start(self) -> Screen:
        """Connect to the host and return its first screen."""

    async def type_text(self, text: str) -> Screen:
        """Type at the cursor (recorded); returns the screen after."""

    async def move_cursor(self, row: int, col: int) -> Screen:
        """Move the cursor (block-mode: Tab/Home-free positioning for the next typed text; not recorded as
        a step of its own, since the next :class:`Typed` carries its position)."""

    async def press(self, key: Key) -> Screen:
        """Press a key (recorded); an attention key waits for the host's answer before returning."""

    async def refresh(self) -> Screen:
        """Read the screen again (a VT host may still be drawing)."""

    def propose_entity(self, name: str) -> EntityDraft:
        """A draft of the current screen as entity ``name``: proposed rules (stable text at a position; a
        regex where a part varies), candidate attributes, no recordsets."""

    def check_rules(self, rules: Sequence[Rule], *, name: str) -> RuleProposal:
        """``rules`` with the captured entities (other than ``name``) they would also match."""

    def propose_recordset(self, name: str, top: int, bottom: int) -> RecordsetDraft:
        """A recordset over rows ``top``..``bottom``: columns from the screen's layout there."""

    def propose_operation(self, name: str, destination: str) -> OperationDraft:
        """The pending inputs as an operation of the last marked entity; secrets already HIDDEN_VARIABLE."""

    def add_entity(self, draft: EntityDraft, operation: OperationDraft | None = None) -> None:
        """Keep ``draft`` (refused whole, with a coded error, if its rules match another entity or its name
        is taken) and, if given, the operation that led to it; clears :attr:`pending`."""

    def model_yaml(self) -> str:
        """The model so far as YAML that ``hostgate model check`` accepts; no secret is ever in it."""

    async def close(self) -> None:
        """Disconnect (idempotent)."""
