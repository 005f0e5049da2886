"""A model's services as a :class:`~hostgate.messages.catalog.ModelCatalog` (what web services publish)."""

from __future__ import annotations

from hostgate.messages.catalog import ColumnInfo, InputInfo, ModelCatalog, ProcedureInfo, TableInfo
from hostgate.models.spec import Model, Table

__all__ = ["describe"]


def describe(model: Model, *, digest: str = "") -> ModelCatalog:
    """The tables and procedures of ``model``, typed from its tables. A procedure's outputs are its declared
    ``outputs`` when it names them, else every column of its table (what a select returns in VHI)."""
    tables = {t.name: t for t in model.tables}
    return ModelCatalog(
        model=model.name,
        tables=tuple(_table(t) for t in model.tables),
        procedures=tuple(
            ProcedureInfo(
                name=p.name,
                table=p.table,
                type=p.type.value,
                inputs=tuple(
                    InputInfo(
                        column=i.column, type=_type_of(tables.get(p.table), i.column), required=i.required
                    )
                    for i in p.inputs
                ),
                outputs=tuple(_outputs(tables.get(p.table), p.outputs)),
                description=p.description,
            )
            for p in model.procedures
        ),
        description=model.description,
        digest=digest,
    )


def _table(table: Table) -> TableInfo:
    return TableInfo(
        name=table.name,
        columns=tuple(ColumnInfo(c.name, c.type.value, c.description) for c in table.columns),
        description=table.description,
    )


def _type_of(table: Table | None, column: str) -> str:
    found = table.column(column) if table is not None else None
    return found.type.value if found is not None else "string"


def _outputs(table: Table | None, names: tuple[str, ...]) -> list[ColumnInfo]:
    if table is None:
        return [ColumnInfo(n, "string") for n in names]
    if not names:
        return [ColumnInfo(c.name, c.type.value, c.description) for c in table.columns]
    out = []
    for name in names:
        column = table.column(name)
        out.append(
            ColumnInfo(name, column.type.value, column.description) if column else ColumnInfo(name, "string")
        )
    return out
