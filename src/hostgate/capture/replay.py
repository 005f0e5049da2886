"""Replay: walk every operation of a model against its host and report the ones that no longer land where the
model says (``hostgate model capture --replay model.yaml``): a regression check for when the host application
changes.

The walk starts where a session starts (``navigation.start`` after connect) and visits the entities in
breadth-first order of the operations' destinations; before each operation it navigates to the operation's
entity through operations already seen to work (any operation, parameters included: their values come from
``values``, else the model's variable defaults, else blank). After each operation it waits for the host's
answer and recognises the screen as the model would (first entity whose rules all match). An operation whose
screen is not one of its destinations is a :class:`~hostgate.capture.ReplayFinding` naming what the host
showed instead; after a screen no entity recognises, or a host error, the walk reconnects and goes on, so one
change is reported once and the rest of the model is still checked.

This module drives hosts itself (the capture layer may not import the session server); the few rules it
shares with the session runtime (VT cursor placement before a fill) are restated here.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path

from hostgate.capture import ReplayFinding, ReplayReport
from hostgate.errors import HostgateError, HostTimeout
from hostgate.hosts import HostSession, Screen, open_session
from hostgate.models import (
    Entity,
    FillStep,
    HostSpec,
    HostType,
    Key,
    KeyStep,
    Model,
    Operation,
    TypeStep,
    load_model,
    render_template,
)

__all__ = ["format_report", "replay", "run_replay"]

# How long an operation that landed on another entity may still take to reach a destination (an intermediate
# screen), as the session runtime allows.
UNEXPECTED_GRACE = 0.5


@dataclass
class _Walk:
    model: Model
    values: Mapping[str, str]
    open_host: Callable[[HostSpec], HostSession]
    timeout: float | None
    host: HostSession | None = None
    here: str | None = None
    walked: list[tuple[str, str]] = field(default_factory=list)
    findings: list[ReplayFinding] = field(default_factory=list)
    broken: set[tuple[str, str]] = field(default_factory=set)

    # -- the host -----------------------------------------------------------------------------------------
    async def connect(self) -> None:
        await self.disconnect()
        self.host = self.open_host(self.model.host)
        await self.host.connect()
        screen = await self.settled(self.model.host.connect_timeout)
        found = self.model.recognize(screen)
        self.here = found.name if found is not None else None

    async def disconnect(self) -> None:
        host, self.host = self.host, None
        if host is not None:
            await host.disconnect()

    async def settled(self, timeout: float) -> Screen:
        assert self.host is not None
        try:
            return await self.host.wait_ready(timeout)
        except HostTimeout:
            return await self.host.snapshot()

    # -- one operation ------------------------------------------------------------------------------------
    def _limit(self, op: Operation) -> float:
        return op.timeout if self.timeout is None else min(op.timeout, self.timeout)

    async def perform(self, entity: Entity, op: Operation) -> tuple[str | None, Screen | None, str]:
        """Run ``op`` on ``entity``; (entity landed on, screen, problem) — problem "" when it arrived."""
        assert self.host is not None
        host = self.host
        context = {**self.model.variable_defaults(), **{p: "" for p in op.parameters}, **self.values}
        try:
            for step in op.steps:
                if isinstance(step, FillStep):
                    attribute = entity.attribute(step.attribute)
                    assert attribute is not None  # the loader checked fills against attributes
                    text = render_template(step.value, context)
                    if self.model.host.type is HostType.VT:
                        await self._vt_cursor_to(entity, attribute.row, attribute.col, attribute.end_col)
                    await host.fill_field(attribute.row, attribute.col, text)
                elif isinstance(step, TypeStep):
                    await host.type_text(render_template(step.text, context))
                elif isinstance(step, KeyStep):
                    await host.send_key(step.key)
            screen = await host.wait_until(lambda s: self.model.recognize(s) is not None, self._limit(op))
        except HostTimeout:
            screen = await host.snapshot()
            found = self.model.recognize(screen)
            if found is None:
                return None, screen, "the host shows a screen no entity of the model recognises"
        except HostgateError as exc:
            return None, None, f"could not be driven: {exc}"
        first = self.model.recognize(screen)
        assert first is not None
        if first.name in op.destinations:
            return first.name, screen, ""
        try:
            screen = await host.wait_until(
                lambda s: (e := self.model.recognize(s)) is not None and e.name in op.destinations,
                UNEXPECTED_GRACE,
            )
        except HostTimeout:
            return first.name, screen, f"the host shows {first.name}"
        arrived = self.model.recognize(screen)
        return (arrived.name if arrived is not None else None), screen, ""

    async def _vt_cursor_to(self, entity: Entity, row: int, col: int, end_col: int) -> None:
        """A VT host types where its cursor is: erase back to the field start, or Tab until it is there."""
        assert self.host is not None
        writable = sum(1 for a in entity.attributes if a.access.writable)
        for _ in range(writable + 3):
            screen = await self.settled(self.host.keyboard_timeout)
            here_row, here_col = screen.cursor
            if (here_row, here_col) == (row, col):
                return
            if here_row == row and col < here_col <= end_col + 1:
                for _ in range(here_col - col):
                    await self.host.send_key(Key.BACKSPACE)
            else:
                await self.host.send_key(Key.TAB)

    # -- planning -----------------------------------------------------------------------------------------
    def path(self, start: str, goal: str) -> list[tuple[Entity, Operation]] | None:
        """Operations (not known broken) of a shortest way from ``start`` to ``goal``; None: there is none."""
        came: dict[str, tuple[str, Entity, Operation] | None] = {start: None}
        queue = deque([start])
        while queue:
            name = queue.popleft()
            if name == goal:
                ops: list[tuple[Entity, Operation]] = []
                while (step := came[name]) is not None:
                    name, entity, op = step
                    ops.append((entity, op))
                return ops[::-1]
            here = self.model.entity(name)
            for op in here.operations if here is not None else ():
                if (name, op.name) in self.broken:
                    continue
                for dest in op.destinations:
                    if dest not in came and here is not None:
                        came[dest] = (name, here, op)
                        queue.append(dest)
        return None

    def order(self) -> list[tuple[Entity, Operation]]:
        """Every operation, entity by entity in breadth-first order from ``navigation.start`` (then entities no
        operation leads to, in model order)."""
        seen: list[str] = []
        queue = deque([self.model.navigation.start])
        while queue:
            name = queue.popleft()
            entity = self.model.entity(name)
            if name in seen or entity is None:
                continue
            seen.append(name)
            for op in entity.operations:
                queue.extend(op.destinations)
        seen += [e.name for e in self.model.entities if e.name not in seen]
        return [(e, op) for name in seen if (e := self.model.entity(name)) is not None for op in e.operations]

    # -- the walk -----------------------------------------------------------------------------------------
    def find(
        self, entity: str, op: Operation, landed: str | None, detail: str, screen: Screen | None
    ) -> None:
        self.broken.add((entity, op.name))
        if not any((f.entity, f.operation) == (entity, op.name) for f in self.findings):
            self.findings.append(ReplayFinding(entity, op.name, op.destinations, landed, detail, screen))

    async def reach(self, goal: str) -> str:
        """Navigate to ``goal``; "" when there, else why not."""
        for _ in range(2 * len(self.model.entities) + 2):
            if self.host is None or not self.host.connected or self.here is None:
                await self.connect()
                if self.here is None:
                    return f"after connecting, the host shows a screen no entity recognises (expected {self.model.navigation.start})"
            if self.here == goal:
                return ""
            route = self.path(self.here, goal)
            if route is None:
                return f"no working operation leads from {self.here} to {goal}"
            entity, op = route[0]
            landed, screen, problem = await self.perform(entity, op)
            if problem:
                self.find(entity.name, op, landed, f"while navigating to {goal}: {problem}", screen)
            self.here = landed
        return f"navigating to {goal}, the host kept leading elsewhere"

    async def run(self) -> ReplayReport:
        try:
            for entity, op in self.order():
                if (entity.name, op.name) in self.broken:
                    continue
                why = await self.reach(entity.name)
                if why:
                    self.find(entity.name, op, None, f"not replayed: {why}", None)
                    continue
                self.walked.append((entity.name, op.name))
                landed, screen, problem = await self.perform(entity, op)
                if problem:
                    self.find(entity.name, op, landed, problem, screen)
                self.here = landed
        finally:
            await self.disconnect()
        return ReplayReport(tuple(self.walked), tuple(self.findings))


async def replay(
    model: Model,
    *,
    values: Mapping[str, str] | None = None,
    timeout: float | None = None,
    open_host: Callable[[HostSpec], HostSession] = open_session,
) -> ReplayReport:
    """Walk every operation of ``model`` against its host (see the module docstring). ``values``: parameter
    and variable values (a hidden variable such as the password has no default in a captured model: give it
    here); ``timeout`` caps each operation's own timeout (a screen no entity recognises is waited out).

    Host failures while connecting (HostUnreachable HG-7001, ...) are raised: there is nothing to walk."""
    walk = _Walk(model, dict(values or {}), open_host, timeout)
    await walk.connect()
    return await walk.run()


async def run_replay(
    path: Path,
    *,
    values: Mapping[str, str] | None = None,
    address: str | tuple[str, int] | None = None,
    port: int | None = None,
    timeout: float | None = None,
    ask: Callable[[str], str] | None = None,
) -> ReplayReport:
    """``hostgate model capture --replay PATH``: load the model (ModelError HG-6001 as ``model check``), point
    it at ``address`` (an address, or ``(address, port)``) / ``port`` when given, and :func:`replay` it.

    A captured model keeps no secret: each hidden variable without a default that ``values`` lacks is asked
    for with ``ask(name)`` (the CLI prompts without echo); without ``ask`` it is blank, and the sign-on
    operation is then reported as not landing where the model says."""
    model = load_model(path)
    host = model.host
    if isinstance(address, tuple):
        port = address[1] if port is None else port
        address = address[0]
    if address is not None:
        host = replace(host, address=address)
    if port is not None:
        host = replace(host, port=port)
    given = dict(values or {})
    if ask is not None:
        for v in model.variables:
            if v.hidden and not v.default and v.name not in given:
                given[v.name] = ask(v.name)
    return await replay(replace(model, host=host), values=given, timeout=timeout)


def format_report(report: ReplayReport, model: str = "the model") -> str:
    """The report as plain lines for a terminal or a log (no width assumed)."""
    lines = [f"replayed {len(report.walked)} operation(s) of {model}: "]
    if report.ok:
        lines[0] += "every operation landed where the model says"
        return "\n".join(lines)
    lines[0] += f"{len(report.findings)} no longer do"
    for f in report.findings:
        expected = " or ".join(f.expected)
        landed = f.landed_on or "no entity"
        lines.append(f"- {f.entity}.{f.operation}: expected {expected}, landed on {landed}: {f.detail}")
        if f.screen is not None:
            shown = [line.rstrip() for line in f.screen.lines if line.strip()]
            lines.extend(f"    | {line}" for line in shown[:6])
    return "\n".join(lines)
