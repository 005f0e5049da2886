"""Table procedures and SQL queries, walked with a :class:`~hostgate.session.navigator.Navigator`.

A procedure walks its path from ``navigation.home`` (the runtime navigates there first): on each step's
entity it fills attributes (templates over the inputs and the model variables), reads outputs (attributes, or
every record of every page of a recordset), then runs the step's operation with parameters bound from inputs
of the same name. Attribute outputs give one row, recordset outputs one row per record (attribute outputs
read on the way are copied into each). ``filters`` then keep rows whose column equals the value.

``query`` maps the SQL to a procedure call with :func:`hostgate.models.plan_query` (as VHI's connectors do)
and returns only the selected columns.
"""

from __future__ import annotations

from collections.abc import Mapping

from hostgate.errors import InvalidValue, ModelItemNotFound, UnexpectedEntity
from hostgate.messages import Records
from hostgate.models import Procedure, Record, Table, Value, ValueType, plan_query, render_template
from hostgate.session.navigator import Navigator
from hostgate.session.values import to_text, typed

__all__ = ["perform_table_procedure", "query"]


def _procedure(session: Navigator, table: str, procedure: str) -> tuple[Table, Procedure]:
    model = session.model
    found = model.table(table)
    if found is None:
        listed = ", ".join(t.name for t in model.tables) or "none"
        raise ModelItemNotFound(f"model {model.name!r} has no table {table!r} (tables: {listed})")
    procs = model.procedures_of(found.name)
    proc = next((p for p in procs if p.name.lower() == procedure.lower()), None)
    if proc is None:
        listed = ", ".join(p.name for p in procs) or "none"
        raise ModelItemNotFound(f"table {found.name!r} has no procedure {procedure!r} (procedures: {listed})")
    return found, proc


def _column(table: Table, name: str) -> str:
    column = table.column(name)
    if column is None:
        listed = ", ".join(c.name for c in table.columns)
        raise InvalidValue(f"table {table.name!r} has no column {name!r} (columns: {listed})")
    return column.name


async def perform_table_procedure(
    session: Navigator,
    table: str,
    procedure: str,
    inputs: Mapping[str, object] | None = None,
    filters: Mapping[str, object] | None = None,
) -> Records[Value]:
    """Run ``table.procedure`` with ``inputs`` (column -> value) and keep the rows matching ``filters``."""
    tbl, proc = _procedure(session, table, procedure)
    given: dict[str, str] = {}
    for name, value in (inputs or {}).items():
        column = _column(tbl, name)
        if proc.input(column) is None:
            listed = ", ".join(i.column for i in proc.inputs) or "none"
            raise InvalidValue(
                f"column {column!r} is not an input of procedure {proc.name} (inputs: {listed})"
            )
        text = to_text(value, f"input {column!r}")
        col = tbl.column(column)
        if col is not None and col.type is not ValueType.STRING and text.strip():
            typed(text, col.type, f"input {column!r}")  # refused whole before anything reaches the host
        given[column] = text
    missing = sorted(proc.required_inputs - given.keys())
    if missing:
        raise InvalidValue(f"procedure {proc.name} needs input(s) {', '.join(missing)}")
    wanted: dict[str, Value] = {}
    for name, value in (filters or {}).items():
        column = _column(tbl, name)
        if column not in proc.outputs:
            raise InvalidValue(
                f"cannot filter on {column!r}: procedure {proc.name} does not return it "
                f"(outputs: {', '.join(proc.outputs) or 'none'})"
            )
        col = tbl.column(column)
        assert col is not None
        wanted[column] = typed(value, col.type, f"filter {column!r}")
    context = {**session.variables, **{i.column: "" for i in proc.inputs}, **given}

    single: dict[str, Value] = {}
    many: list[Record] | None = None
    await session.set_current_entity(proc.steps[0].entity)
    for number, step in enumerate(proc.steps, start=1):
        screen, current = await session.screen_entity()
        if current.name != step.entity:
            raise UnexpectedEntity(
                f"procedure {tbl.name}.{proc.name}, step {number}: expected {step.entity}, "
                f"the host shows {current.name}"
            )
        for fill in step.fill:
            attribute = session.attribute_of(current, fill.attribute)
            await session.write(current, attribute, render_template(fill.value, context))
        if step.outputs and step.recordset is not None:
            found = await session.fetch_records(step.recordset)
            rows = [{out.column: rec.get(out.source) for out in step.outputs} for rec in found.rows]
            many = [*(many or []), *rows]
        elif step.outputs:
            if step.fill:
                screen, current = await session.screen_entity()
            for out in step.outputs:
                single[out.column] = session.read(session.attribute_of(current, out.source), screen, current)
        if step.operation is not None:
            operation = session.operation_of(current, step.operation)
            await session.run_operation(current, operation, {p: context[p] for p in operation.parameters})
    if many is None:
        rows_out: list[Record] = [single] if proc.outputs else []
    else:
        rows_out = [{**single, **row} for row in many]
    ordered = [{c: row.get(c) for c in proc.outputs} for row in rows_out]
    kept = [row for row in ordered if all(row.get(c) == v for c, v in wanted.items())]
    return Records(proc.outputs, tuple(kept))


async def query(session: Navigator, sql: str) -> Records[Value]:
    """Answer ``sql`` (hostgate's SQL subset, docs/models.md) with the procedure it maps to."""
    plan = plan_query(session.model, sql)
    found = await perform_table_procedure(
        session, plan.procedure.table, plan.procedure.name, plan.inputs, plan.filters
    )
    return Records(plan.columns, tuple({c: row.get(c) for c in plan.columns} for row in found.rows))
