"""Runs a model's operations on a host session: just enough of a runtime to test drivers and models
together (the session runtime proper lives in hostgate.session)."""

from __future__ import annotations

from collections.abc import Mapping

from hostgate.hosts import HostSession, Screen
from hostgate.models import Entity, FillStep, KeyStep, Model, Record, TypeStep, render_template


def entity(model: Model, name: str) -> Entity:
    found = model.entity(name)
    assert found is not None, name
    return found


async def run(
    session: HostSession,
    model: Model,
    entity_name: str,
    operation: str,
    values: Mapping[str, str] | None = None,
) -> Screen:
    """Do ``entity.operation`` and return the destination screen (asserting it is one of the destinations)."""
    ent = entity(model, entity_name)
    op = ent.operation(operation)
    assert op is not None, operation
    context = {**model.variable_defaults(), **(values or {})}
    for step in op.steps:
        if isinstance(step, FillStep):
            attr = ent.attribute(step.attribute)
            assert attr is not None
            await session.fill_field(attr.row, attr.col, render_template(step.value, context))
        elif isinstance(step, TypeStep):
            await session.type_text(render_template(step.text, context))
        elif isinstance(step, KeyStep):
            await session.send_key(step.key)
    destinations = [entity(model, d) for d in op.destinations]
    return await session.wait_until(lambda s: any(d.matches(s) for d in destinations), op.timeout)


async def sign_on(session: HostSession, model: Model) -> Screen:
    await session.connect()
    screen = await session.wait_until(entity(model, "SignOn").matches, 10)
    for ref in model.navigation.sign_on:
        screen = await run(session, model, ref.entity, ref.operation)
    assert model.recognize(screen) == model.entity("Menu"), screen.text
    return screen


async def read_all(
    session: HostSession, model: Model, entity_name: str, recordset: str
) -> tuple[list[Record], int]:
    """Every record of a recordset, paging forward until end of data; returns (records, pages)."""
    rs = entity(model, entity_name).recordset(recordset)
    assert rs is not None and rs.scroll_forward is not None
    screen = await session.wait_until(entity(model, entity_name).matches, 5)
    records: list[Record] = list(rs.read_page(screen))
    pages = 1
    while not rs.at_end(screen):
        before = screen.lines
        await session.send_key(rs.scroll_forward)
        screen = await session.wait_until(lambda s, before=before: s.lines != before, 5)
        records.extend(rs.read_page(screen))
        pages += 1
    return records, pages
