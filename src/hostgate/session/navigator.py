"""The navigator: a live host session driven through a model (VHI's session, without the HTTP face).

:class:`Navigator` (and :class:`~hostgate.session.model_session.ModelSession`, which adds tables and SQL) connects to the model's host, signs on (``navigation.sign_on``, model variables with
per-session overrides), and then answers VHI's session calls: the current entity, navigation to an entity,
attributes, entity operations and recordsets; ``close`` signs off (best effort)
and disconnects.

How "the host answered" is known: after an attention key, a block-mode driver (3270, 5250) shows no screen
until the host has unlocked the keyboard, and the VT driver none until the host has answered and gone quiet
(``HostSession`` contract). So the first screen a wait sees after an operation is the host's answer: if it is
one of the operation's destinations the operation is done; if it is another entity, the runtime waits a short
grace for a destination and then reports ``UnexpectedEntity`` naming it; a screen no entity recognises is
waited out until the operation's timeout, then reported as ``EntityNotRecognized`` quoting the screen.

Errors keep their families: host failures stay HG-7xxx (``HostDisconnected`` when the host dropped: the
session is then unusable, ``connected`` is False); model/host disagreements and calls that do not fit the
model are HG-61xx. A session is not safe for concurrent calls: the session server serialises them.

    host = open_session(model.host)
    session = ModelSession(model, host, {"userid": "ADA", "password": "LOVELACE"})
    await session.open()                              # connected and signed on: on navigation.home
    await session.set_current_entity("CustomerList")
    customers = await session.fetch_records("customers", max_records=20)
    await session.close()
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from decimal import InvalidOperation

from hostgate.errors import (
    AttributeNotReadable,
    AttributeNotWritable,
    EntityNotRecognized,
    HostgateError,
    HostTimeout,
    InvalidValue,
    ModelItemNotFound,
    NoPathToEntity,
    SignOnFailed,
    UnexpectedEntity,
)
from hostgate.hosts import Fill, HostSession, Input, Screen, TypeText
from hostgate.messages import Records  # the one Records class (sent as is by the session server)
from hostgate.models import (
    Attribute,
    Entity,
    FillStep,
    HostType,
    Key,
    KeyStep,
    Model,
    Operation,
    Record,
    TypeStep,
    Value,
    render_template,
)
from hostgate.session.values import MASK, describe_screen, to_text, typed, typed_text

__all__ = ["Navigator"]

log = logging.getLogger("hostgate.session.navigator")

# How long an operation that landed on another entity may still take to reach a destination (a host that
# shows an intermediate screen). Only failing operations pay it.
UNEXPECTED_GRACE = 0.5
CLOSE_TIMEOUT = 10.0


class Navigator:
    """One host session driven through ``model`` (see the module docstring for the rules it keeps); tables
    and SQL are added by :class:`~hostgate.session.model_session.ModelSession`.

    ``variables`` override the model's variable defaults for this session (user id, password, ...);
    ``timeout`` bounds waits the model gives no timeout for (paging a recordset); ``ready_timeout`` bounds
    the wait for a settled screen before each call.
    """

    def __init__(
        self,
        model: Model,
        host: HostSession,
        variables: Mapping[str, object] | None = None,
        *,
        timeout: float = 10.0,
        ready_timeout: float = 5.0,
    ) -> None:
        self.model = model
        self.host = host
        self.timeout = timeout
        self.ready_timeout = ready_timeout
        self.variables = self._variables(variables or {})
        self.entity: Entity | None = None  # the entity the host showed last
        self._edges = {
            e.name: [(op, d) for op in e.operations if not op.parameters for d in op.destinations]
            for e in model.entities
        }

    # -- lifecycle -----------------------------------------------------------------------------------------
    @property
    def connected(self) -> bool:
        return self.host.connected

    @property
    def where(self) -> str:
        spec = self.model.host
        return f"{spec.type.value} host {spec.address}:{spec.port}"

    async def open(self) -> Entity:
        """Connect and run the sign-on navigation; returns the entity reached (``navigation.home``).

        On any failure the host connection is closed again and the error raised (HostUnreachable HG-7001,
        SignOnFailed HG-6109, ...)."""
        try:
            await self.host.connect()
            nav = self.model.navigation
            current = await self._arrive(
                [self._entity(nav.start)], self.model.host.connect_timeout, "connect"
            )
            for ref in nav.sign_on:
                if current.name != ref.entity:
                    break
                current = await self.run_operation(current, self.operation_of(current, ref.operation), {})
            if nav.sign_on and nav.home is not None and current.name != nav.home:
                screen = await self.host.snapshot()
                raise SignOnFailed(
                    f"signing on to {self.where} ended on {current.name}, not on {nav.home}: "
                    f"{describe_screen(screen)}"
                )
            return current
        except BaseException:
            await self.host.disconnect()
            raise

    async def close(self) -> None:
        """Run the sign-off navigation (best effort: from wherever the session is, home first), then
        disconnect. Never raises for a host that is already gone."""
        try:
            if self.host.connected and self.model.navigation.sign_off:
                async with asyncio.timeout(CLOSE_TIMEOUT):
                    await self._sign_off()
        except (HostgateError, TimeoutError) as exc:
            log.info("sign-off from %s skipped: %s", self.where, exc)
        finally:
            await self.host.disconnect()

    async def _sign_off(self) -> None:
        chain = self.model.navigation.sign_off
        current = await self.set_current_entity(chain[0].entity)
        for ref in chain:
            if current.name != ref.entity:
                return
            current = await self.run_operation(current, self.operation_of(current, ref.operation), {})

    # -- where the host is ---------------------------------------------------------------------------------
    async def current_entity(self) -> Entity:
        """The entity the host shows now; EntityNotRecognized (HG-6101) quoting the screen if none."""
        return (await self.screen_entity())[1]

    async def screen_entity(self) -> tuple[Screen, Entity]:
        """The settled screen and the entity it is (EntityNotRecognized HG-6101 if none)."""
        screen = await self.host.wait_ready(self.ready_timeout)
        found = self.model.recognize(screen)
        if found is None:
            raise EntityNotRecognized(
                f"{self.where} shows a screen no entity of model {self.model.name!r} recognises: "
                f"{describe_screen(screen)}"
            )
        self.entity = found
        return screen, found

    async def set_current_entity(self, name: str) -> Entity:
        """Navigate to entity ``name`` by operations without parameters (shortest path first, planned
        again after each step). NoPathToEntity (HG-6103) when none leads there."""
        target = self._entity(name)
        for _ in range(2 * len(self.model.entities) + 2):
            current = await self.current_entity()
            if current.name == target.name:
                return current
            path = self._path(current.name, target.name)
            if not path:
                raise NoPathToEntity(
                    f"no operation without parameters leads from {current.name} to {target.name} "
                    f"in model {self.model.name!r}"
                )
            await self.run_operation(current, path[0], {})
        raise NoPathToEntity(
            f"navigating to {target.name}, the host kept leading elsewhere (now {self.entity.name if self.entity else '?'})"
        )

    def _path(self, start: str, goal: str) -> list[Operation]:
        """Breadth-first: the operations of a shortest path from ``start`` to ``goal`` (empty: none)."""
        came: dict[str, tuple[str, Operation] | None] = {start: None}
        queue = deque([start])
        while queue:
            here = queue.popleft()
            if here == goal:
                ops: list[Operation] = []
                while (step := came[here]) is not None:
                    here, op = step
                    ops.append(op)
                return ops[::-1]
            for op, dest in self._edges.get(here, ()):
                if dest not in came:
                    came[dest] = (here, op)
                    queue.append(dest)
        return []

    # -- attributes ----------------------------------------------------------------------------------------
    async def get_attributes(self, names: Sequence[str] | None = None) -> dict[str, Value]:
        """Attribute values of the current entity (typed; hidden ones read as :data:`MASK`). ``None``: every
        readable or hidden attribute; naming a write-only one is AttributeNotReadable (HG-6105)."""
        screen, current = await self.screen_entity()
        if names is None:
            chosen = [a for a in current.attributes if a.access.readable or a.hidden]
        else:
            chosen = [self.attribute_of(current, n) for n in names]
            for attribute in chosen:
                if not attribute.access.readable and not attribute.hidden:
                    raise AttributeNotReadable(
                        f"attribute {attribute.name!r} of {current.name} is write-only (access: write)"
                    )
        return {a.name: self.read(a, screen, current) for a in chosen}

    def read(self, attribute: Attribute, screen: Screen, entity: Entity) -> Value:
        if attribute.hidden:
            return MASK
        try:
            return attribute.read(screen)
        except (ValueError, InvalidOperation):
            raise InvalidValue(
                f"attribute {attribute.name!r} of {entity.name} shows {attribute.text(screen).strip()!r}, "
                f"which is not {attribute.type.value}"
            ) from None

    async def set_attributes(self, values: Mapping[str, object]) -> Entity:
        """Write attributes of the current entity, in the given order (typed: an integer attribute takes a
        whole number). Every value is checked before the first is typed."""
        _, current = await self.screen_entity()
        planned: list[tuple[Attribute, str]] = []
        for name, value in values.items():
            attribute = self.attribute_of(current, name)
            if not attribute.access.writable:
                raise AttributeNotWritable(
                    f"attribute {name!r} of {current.name} is read-only (access: {attribute.access.value})"
                )
            planned.append((attribute, typed_text(attribute, value)))
        for attribute, text in planned:
            await self.write(current, attribute, text)
        return current

    async def write(self, entity: Entity, attribute: Attribute, text: str) -> None:
        """Type ``text`` into ``attribute`` (replacing what it holds).

        On a VT host typing goes where the host puts the cursor, so the runtime first moves it there: it waits
        until the host has answered the last input (a Tab step of the operation, say); with the cursor inside
        the attribute (after text typed earlier) it erases back to the attribute's start with Backspace,
        elsewhere it presses Tab (at most once per writable attribute of the entity, plus one)."""
        if self.model.host.type is HostType.VT:
            await self._vt_cursor_to(entity, attribute)
        await self.host.fill_field(attribute.row, attribute.col, text)

    async def _vt_cursor_to(self, entity: Entity, attribute: Attribute) -> None:
        # A full field keeps the cursor on its last cell, so erasing may take a second round.
        writable = sum(1 for a in entity.attributes if a.access.writable)
        for _ in range(writable + 3):
            screen = await self.host.wait_ready(self.ready_timeout)
            row, col = screen.cursor
            if (row, col) == (attribute.row, attribute.col):
                return
            if row == attribute.row and attribute.col < col <= attribute.end_col + 1:
                for _ in range(col - attribute.col):
                    await self.host.send_key(Key.BACKSPACE)
            else:
                await self.host.send_key(Key.TAB)

    # -- operations ----------------------------------------------------------------------------------------
    async def perform_entity_operation(
        self, name: str, parameters: Mapping[str, object] | None = None
    ) -> Entity:
        """Run operation ``name`` of the current entity; returns the destination entity reached."""
        _, current = await self.screen_entity()
        operation = self.operation_of(current, name)
        given = dict(parameters or {})
        unknown = sorted(set(given) - set(operation.parameters))
        if unknown:
            listed = ", ".join(operation.parameters) or "none"
            raise InvalidValue(
                f"operation {current.name}.{name} has no parameter {', '.join(map(repr, unknown))} "
                f"(parameters: {listed})"
            )
        missing = [p for p in operation.parameters if p not in given]
        if missing:
            raise InvalidValue(f"operation {current.name}.{name} needs parameter(s) {', '.join(missing)}")
        values = {p: to_text(v, f"parameter {p!r}") for p, v in given.items()}
        return await self.run_operation(current, operation, values)

    async def run_operation(self, entity: Entity, operation: Operation, values: Mapping[str, str]) -> Entity:
        """Do ``operation``'s steps on ``entity`` (fills typed as the steps say) and wait for a destination."""
        context = {**self.variables, **values}
        destinations = [self._entity(d) for d in operation.destinations]
        after = f"{entity.name}.{operation.name}"
        if self.model.host.type is not HostType.VT:
            # Block-mode hosts: every input is known up front, so the driver does them and the wait in one
            # trip to its thread (HostSession.perform); each is checked before the first is typed.
            return await self._arrive(
                destinations, operation.timeout, after, self._inputs(entity, operation, context)
            )
        for step in operation.steps:
            if isinstance(step, FillStep):
                attribute = self.attribute_of(entity, step.attribute)
                text = render_template(step.value, context)
                if len(text) > attribute.length:
                    raise InvalidValue(
                        f"{entity.name}.{operation.name}: {len(text)} characters do not fit attribute "
                        f"{attribute.name!r} ({attribute.length})"
                    )
                await self.write(entity, attribute, text)
            elif isinstance(step, TypeStep):
                await self.host.type_text(render_template(step.text, context))
            elif isinstance(step, KeyStep):
                await self.host.send_key(step.key)
        return await self._arrive(destinations, operation.timeout, after)

    def _inputs(self, entity: Entity, operation: Operation, context: Mapping[str, str]) -> list[Input]:
        inputs: list[Input] = []
        for step in operation.steps:
            if isinstance(step, FillStep):
                attribute = self.attribute_of(entity, step.attribute)
                text = render_template(step.value, context)
                if len(text) > attribute.length:
                    raise InvalidValue(
                        f"{entity.name}.{operation.name}: {len(text)} characters do not fit attribute "
                        f"{attribute.name!r} ({attribute.length})"
                    )
                inputs.append(Fill(attribute.row, attribute.col, text))
            elif isinstance(step, TypeStep):
                inputs.append(TypeText(render_template(step.text, context)))
            elif isinstance(step, KeyStep):
                inputs.append(step.key)
        return inputs

    async def _arrive(
        self, destinations: Sequence[Entity], timeout: float, after: str, inputs: Sequence[Input] = ()
    ) -> Entity:
        """Send ``inputs`` and wait for one of ``destinations`` (see the module docstring); the coded error
        names what was seen."""
        wanted = {d.name for d in destinations}
        expected = " or ".join(sorted(wanted))
        loop = asyncio.get_running_loop()
        give_up = loop.time() + timeout
        try:
            screen = await self.host.perform(inputs, lambda s: self.model.recognize(s) is not None, timeout)
        except HostTimeout as exc:
            raise await self._not_arrived(expected, after, timeout, exc) from exc
        found = self.model.recognize(screen)
        assert found is not None
        if found.name not in wanted:
            grace = min(UNEXPECTED_GRACE, give_up - loop.time())
            try:
                if grace <= 0:
                    raise HostTimeout("no time left")
                screen = await self.host.wait_until(lambda s: self._is(s, wanted), grace)
            except HostTimeout:
                self.entity = found
                raise UnexpectedEntity(
                    f"after {after} the host shows {found.name}, not {expected}: {describe_screen(screen)}"
                ) from None
            found = self.model.recognize(screen)
            assert found is not None
        self.entity = found
        return found

    def _is(self, screen: Screen, wanted: set[str]) -> bool:
        found = self.model.recognize(screen)
        return found is not None and found.name in wanted

    async def _not_arrived(
        self, expected: str, after: str, timeout: float, exc: HostTimeout
    ) -> HostgateError:
        screen = await self.host.snapshot()
        if screen.keyboard_locked:
            return HostTimeout(
                f"after {after} the host kept the keyboard locked for {timeout:g} s (waiting for {expected}): "
                f"{describe_screen(screen)}"
            )
        found = self.model.recognize(screen)
        if found is not None:
            self.entity = found
            return UnexpectedEntity(
                f"after {after} the host shows {found.name}, not {expected}: {describe_screen(screen)}"
            )
        return EntityNotRecognized(
            f"after {after} the host shows a screen no entity recognises (waited {timeout:g} s for "
            f"{expected}): {describe_screen(screen)}"
        )

    # -- recordsets ----------------------------------------------------------------------------------------
    async def fetch_records(
        self,
        recordset: str,
        max_records: int | None = None,
        filters: Mapping[str, object] | None = None,
    ) -> Records[Value]:
        """Records of ``recordset`` on the current entity, from the page shown on, scrolling forward until
        the end of data or ``max_records`` matching records. ``filters`` keep records whose field equals the
        value (typed like the field)."""
        if max_records is not None and (isinstance(max_records, bool) or max_records < 1):
            raise InvalidValue(f"max_records must be a whole number >= 1, not {max_records!r}")
        screen, current = await self.screen_entity()
        rs = current.recordset(recordset)
        if rs is None:
            listed = ", ".join(r.name for r in current.recordsets) or "none"
            raise ModelItemNotFound(
                f"entity {current.name} has no recordset {recordset!r} (recordsets: {listed})"
            )
        wanted: dict[str, Value] = {}
        for name, value in (filters or {}).items():
            field = rs.field(name)
            if field is None:
                raise InvalidValue(
                    f"recordset {rs.name!r} has no field {name!r} (fields: {', '.join(f.name for f in rs.fields)})"
                )
            wanted[name] = typed(value, field.type, f"filter {name!r}")
        rows: list[Record] = []
        while True:
            rows.extend(r for r in rs.read_page(screen) if all(r.get(k) == v for k, v in wanted.items()))
            if (max_records is not None and len(rows) >= max_records) or rs.at_end(screen):
                break
            assert rs.scroll_forward is not None  # at_end holds for a recordset that cannot scroll
            await self.host.send_key(rs.scroll_forward)
            try:
                screen = await self.host.wait_until(_next_page(screen, current), self.timeout)
            except HostTimeout as exc:
                raise HostTimeout(
                    f"recordset {rs.name!r}: {rs.scroll_forward.value} showed no next page of {current.name} "
                    f"within {self.timeout:g} s (does end_of_data recognise the last page?)"
                ) from exc
        kept = rows if max_records is None else rows[:max_records]
        return Records(tuple(f.name for f in rs.fields), tuple(kept))

    # -- lookups -------------------------------------------------------------------------------------------
    def _entity(self, name: str) -> Entity:
        found = self.model.entity(name)
        if found is None:
            listed = ", ".join(e.name for e in self.model.entities)
            raise ModelItemNotFound(f"model {self.model.name!r} has no entity {name!r} (entities: {listed})")
        return found

    @staticmethod
    def attribute_of(entity: Entity, name: str) -> Attribute:
        found = entity.attribute(name)
        if found is None:
            listed = ", ".join(a.name for a in entity.attributes) or "none"
            raise ModelItemNotFound(f"entity {entity.name} has no attribute {name!r} (attributes: {listed})")
        return found

    @staticmethod
    def operation_of(entity: Entity, name: str) -> Operation:
        found = entity.operation(name)
        if found is None:
            listed = ", ".join(o.name for o in entity.operations) or "none"
            raise ModelItemNotFound(f"entity {entity.name} has no operation {name!r} (operations: {listed})")
        return found

    def _variables(self, given: Mapping[str, object]) -> dict[str, str]:
        values = self.model.variable_defaults()
        for name, value in given.items():
            if name not in values:
                listed = ", ".join(values) or "none"
                raise ModelItemNotFound(
                    f"model {self.model.name!r} has no variable {name!r} (variables: {listed})"
                )
            values[name] = to_text(value, f"variable {name!r}")
        return values


def _next_page(shown: Screen, entity: Entity) -> Callable[[Screen], bool]:
    """A new page of the same entity (a VT host may redraw the old page before the new one)."""
    return lambda screen: screen.lines != shown.lines and entity.matches(screen)
